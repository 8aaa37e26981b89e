"""A real ``moderation dashboard`` server for the browser tests and the first-paint benchmark.

``running_dashboard(url, log)`` starts it on a free port with sign-in on, waits until Streamlit's
health endpoint answers, yields the base address and the seconds that took, and stops the whole
process group afterwards (SIGTERM, then SIGKILL).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from moderation import config


class ServerError(RuntimeError):
    """The dashboard exited early or did not answer in time."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stop(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=20)


@contextmanager
def running_dashboard(url: str, log: Path, *, timeout: float = 120) -> Iterator[tuple[str, float]]:
    """``moderation dashboard --db url`` on a free port (output appended to ``log``); yields
    (its base address, seconds from start to the first healthy answer)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != config.DASHBOARD_AUTH_ENV_VAR}
    started = time.perf_counter()
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "moderation.cli", "dashboard", "--db", url, "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise ServerError(f"the dashboard exited early:\n{log.read_text(errors='replace')}")
            try:
                with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise ServerError(f"the dashboard did not answer within {timeout:g} s; see {log}")
            time.sleep(0.1)
        yield base, time.perf_counter() - started
    finally:
        if process.poll() is None:
            _stop(process)
