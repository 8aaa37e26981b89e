"""A throwaway PostgreSQL cluster on a unix socket in a temporary folder (tests and bench/).

Uses Debian's server binaries (/usr/lib/postgresql/*/bin), which scripts/test.sh installs.
As root, the server runs as the ``postgres`` user, since initdb refuses to run as root.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PORT = 5432  # only names the socket file: the server listens on no TCP port


class ClusterError(RuntimeError):
    pass


def postgres_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return found[-1].parent if found else None


def url_for(socket_dir: Path, database: str = "postgres") -> str:
    return f"postgresql+psycopg://postgres@/{database}?host={socket_dir}&port={PORT}"


@contextmanager
def throwaway_cluster(*, fsync: bool = False) -> Iterator[Path]:
    """Start a cluster, yield its socket folder, then stop it and delete everything."""
    bindir = postgres_bin()
    if bindir is None:
        raise ClusterError(
            "PostgreSQL's server binaries are missing (/usr/lib/postgresql/*/bin/initdb); "
            "run scripts/test.sh, which installs Debian's postgresql package"
        )
    base = Path(tempfile.mkdtemp(prefix="modpg-"))  # short: a socket path must fit in 107 bytes
    prefix: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
    data, log = base / "data", base / "server.log"

    def run(*args: str) -> None:
        result = subprocess.run([*prefix, *args], capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            detail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise ClusterError(f"PostgreSQL did not start: {' '.join(args[:2])}: {result.stderr}{detail}")

    try:
        run(
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--no-sync",
        )
        options = f"-k {base} -c listen_addresses='' -p {PORT} -c max_connections=60"
        if not fsync:
            options += " -c fsync=off"
        run(str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(log), "-w", "-t", "60", "start")
        yield base
    finally:
        if data.exists():
            subprocess.run(
                [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                capture_output=True,
                timeout=60,
            )
        shutil.rmtree(base, ignore_errors=True)
