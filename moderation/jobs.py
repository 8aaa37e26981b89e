"""Background training jobs: ``moderation train`` run as a detached process for the Models page.

``start_training`` (or ``start`` with any command) launches a small supervisor, ``python -m
moderation.jobs STATE``, in its own session. The supervisor runs the command with its output in
the job's log, waits for it, and writes the exit code and the versions it added into the job's
state. The page reads the state (``latest``) and the log (``log_tail``, ``stage``) to show
progress. Files, in ``<models dir>/.jobs/`` (``config.JOBS_DIR``):

    <job_id>.json   the state: command, who started it, pids, started/finished (epoch seconds),
                    exit code, the versions present before and the ones it added
    <job_id>.log    the command's stdout and stderr
    lock            held (``flock``) while a job starts and while a state file is written

One job runs at a time: ``start`` refuses a second with ``JobError``. A job whose supervisor died
without writing an exit code (killed, or the machine restarted) reads as failed; and since
``registry.save_model`` renames a finished folder into place, a command killed mid-training
leaves no version behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from moderation import config
from moderation.errors import JobError

__all__ = [
    "Job",
    "jobs_dir",
    "latest",
    "log_tail",
    "stage",
    "start",
    "start_training",
    "training_command",
]

RUNNING, FINISHED, FAILED = "running", "finished", "failed"

# Supervisors this process started: polling them reaps them, so one that was killed does not
# linger as a zombie that still answers ``os.kill(pid, 0)``.
_CHILDREN: dict[int, subprocess.Popen] = {}


@dataclass
class Job:
    """One background job as its state file records it."""

    job_id: str
    argv: list[str]
    log_path: str
    started_at: float
    started_by: str = ""
    state: str = RUNNING
    pid: int | None = None
    command_pid: int | None = None
    finished_at: float | None = None
    exit_code: int | None = None
    reason: str = ""
    versions_before: list[str] = field(default_factory=list)
    versions: list[str] = field(default_factory=list)

    @property
    def running(self) -> bool:
        return self.state == RUNNING

    @property
    def elapsed_seconds(self) -> float:
        return (self.finished_at or time.time()) - self.started_at

    @property
    def version(self) -> str:
        """The version the job added ("" when none)."""
        return self.versions[-1] if self.versions else ""


def jobs_dir(models_dir: str | Path | None = None) -> Path:
    return Path(config.MODELS_DIR if models_dir is None else models_dir) / config.JOBS_DIR


def training_command(
    db_url: str, *, models_dir: str | Path | None = None
) -> tuple[list[str], dict[str, str]]:
    """The argv of ``moderation train`` on the moderators' labels in ``db_url``, writing into
    ``models_dir``, and the environment it needs: a PostgreSQL password goes in ``PGPASSWORD``
    rather than on a command line that ``ps`` shows and the job's state records."""
    import sqlalchemy as sa

    url = sa.engine.make_url(db_url)
    env = {}
    if url.password and url.get_backend_name() == "postgresql":
        env["PGPASSWORD"] = str(url.password)
        # (``URL.set(password=None)`` would keep it: None means "unchanged" there)
        bare = sa.engine.URL.create(
            url.drivername, url.username, None, url.host, url.port, url.database, url.query
        )
        db_url = bare.render_as_string(hide_password=False)
    folder = Path(config.MODELS_DIR if models_dir is None else models_dir).resolve()
    argv = [sys.executable, "-m", "moderation.cli", "train", "--db", db_url, "--output", str(folder)]
    return argv, env


def start_training(db_url: str, *, models_dir: str | Path | None = None, started_by: str = "") -> Job:
    """Start ``moderation train --db DB_URL --output MODELS_DIR`` in the background."""
    argv, env = training_command(db_url, models_dir=models_dir)
    return start(argv, models_dir=models_dir, started_by=started_by, env=env)


def start(
    argv: Sequence[str],
    *,
    models_dir: str | Path | None = None,
    started_by: str = "",
    env: dict[str, str] | None = None,
) -> Job:
    """Run ``argv`` in the background as a job of ``models_dir``; refuses while one is running."""
    if not argv:
        raise ValueError("a job needs a command")
    folder = jobs_dir(models_dir)
    folder.mkdir(parents=True, exist_ok=True)
    with _locked(folder):
        current = latest(models_dir)
        if current is not None and current.running:
            raise JobError(
                f"a training job is already running: started by {current.started_by or 'someone'} "
                f"{_duration(current.elapsed_seconds)} ago (pid {current.pid})",
                hint=f"wait for it to finish; its log is {current.log_path}",
            )
        job_id = _new_job_id(after="" if current is None else current.job_id)
        job = Job(
            job_id=job_id,
            argv=[str(a) for a in argv],
            log_path=str(folder / f"{job_id}.log"),
            started_at=time.time(),
            started_by=started_by,
            versions_before=_versions(folder.parent),
        )
        state_path = folder / f"{job_id}.json"
        with open(job.log_path, "ab") as log:
            process = subprocess.Popen(  # noqa: S603 (our own interpreter and module)
                [sys.executable, "-m", "moderation.jobs", str(state_path)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # the job outlives the dashboard's run and its signals
                env={**os.environ, **(env or {})},
            )
        _CHILDREN[process.pid] = process
        job.pid = process.pid
        _write(state_path, job)  # the supervisor reads it once it gets the lock
    return job


def _new_job_id(*, after: str) -> str:
    """A job id that sorts after ``after``, the newest job's id (``latest``; "" before the
    first): the UTC second and its nanoseconds, both read off one clock reading (two readings
    can straddle a second and sort a later job first), and never below ``after`` (the clock can
    step back)."""
    now = time.time_ns()
    job_id = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now // 10**9)) + f"-{now % 10**9:09d}"
    if job_id <= after:
        job_id = after + "+"  # later in sort order than ``after``, and still a plain file name
    return job_id


def latest(models_dir: str | Path | None = None) -> Job | None:
    """The most recent job of ``models_dir`` (None before the first), its state up to date."""
    folder = jobs_dir(models_dir)
    paths = sorted(folder.glob("*.json")) if folder.is_dir() else []
    if not paths:
        return None
    job = _read(paths[-1])
    if job.running and job.pid is not None and not _alive(job.pid):
        job = _read(paths[-1])  # it may have written its end just before exiting
        if job.running:
            job.state = FAILED
            job.reason = (
                "the job's process ended without reporting an exit code (killed, or the machine restarted)"
            )
    return job


def log_tail(job: Job, *, lines: int = config.JOB_LOG_TAIL_LINES) -> list[str]:
    """The last ``lines`` lines of the job's log."""
    try:
        text = Path(job.log_path).read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    return text.splitlines()[-lines:] if lines > 0 else []


def stage(job: Job) -> str:
    """The last stage the command announced (``config.STAGE_PREFIX`` lines), "" before the first."""
    found = ""
    for line in log_tail(job, lines=10_000):
        if line.startswith(config.STAGE_PREFIX):
            found = line[len(config.STAGE_PREFIX) :].strip()
    return found


# --- state files -----------------------------------------------------------------------------------


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    with open(folder / "lock", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _read(path: Path) -> Job:
    return Job(**json.loads(path.read_text(encoding="utf-8")))


def _write(path: Path, job: Job) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(asdict(job), indent=2), encoding="utf-8")
    os.replace(tmp, path)  # a reader never sees half a state


def _alive(pid: int) -> bool:
    child = _CHILDREN.get(pid)
    if child is not None:
        return child.poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process now holds the pid
        return True
    return True


def _versions(models_dir: Path) -> list[str]:
    from moderation.registry import list_models

    return sorted(entry["version"] for entry in list_models(models_dir=models_dir))


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


# --- the supervisor ------------------------------------------------------------------------------------


def _supervise(state_path: Path) -> int:
    folder = state_path.parent
    with _locked(folder):  # waits until ``start`` has written the state
        job = _read(state_path)
    with open(job.log_path, "ab") as log:
        command = subprocess.Popen(  # noqa: S603 (the argv ``start`` was given by our own code)
            job.argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},  # the log shows each line as it is printed
        )
    with _locked(folder):
        job = _read(state_path)
        job.command_pid = command.pid
        _write(state_path, job)
    code = command.wait()
    with _locked(folder):
        job = _read(state_path)
        job.exit_code = code
        job.finished_at = time.time()
        job.versions = sorted(set(_versions(folder.parent)) - set(job.versions_before))
        job.state = FINISHED if code == 0 else FAILED
        if code < 0:
            try:
                job.reason = f"killed by signal {signal.Signals(-code).name}"
            except ValueError:
                job.reason = f"killed by signal {-code}"
        elif code:
            job.reason = f"exited with code {code}"
        _write(state_path, job)
    return 0


if __name__ == "__main__":
    sys.exit(_supervise(Path(sys.argv[1])))
