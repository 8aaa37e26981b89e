"""Background training jobs: a job's life from running to finished or failed, the refusal of a
second job, a killed job, and the command the dashboard's retrain button runs. The commands here
are cheap stand-ins for ``moderation train`` (``python -c``) that print stage lines, add a version
folder, or die; training itself is tested in test_training.py.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from moderation import config, jobs, review
from moderation.errors import JobError, PermissionDeniedError
from moderation.review import User
from moderation.store import open_store

#: A stand-in for ``moderation train`` (also used by test_dashboard): prints two stages, waits for
#: the file ``go`` beside the models, then adds the version ``v-new`` (newer than any other).
WAITS_THEN_ADDS_A_VERSION = """
import json, pathlib, sys, time
root = pathlib.Path(sys.argv[1])
print("stage: reading the corpora")
print("stage: fitting the insult head")
give_up = time.monotonic() + 120  # a failed test never says go: do not linger past it
while not (root / "go").exists() and time.monotonic() < give_up:
    time.sleep(0.05)
(root / "v-new").mkdir()
(root / "v-new" / "model.json").write_text(json.dumps({"created_at": "2030-01-01T00:00:00Z"}))
print("stage: saving")
"""


def wait_for_job(models_dir: Path, until, timeout: float = 60.0) -> jobs.Job:
    """The latest job once ``until(job)`` holds (also used by test_dashboard)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = jobs.latest(models_dir)
        if job is not None and until(job):
            return job
        time.sleep(0.05)
    raise AssertionError(f"the job did not get there in {timeout} s: {jobs.latest(models_dir)}")


def _waiting_job(models_dir: Path, **kwargs) -> jobs.Job:
    argv = [sys.executable, "-c", WAITS_THEN_ADDS_A_VERSION, str(models_dir)]
    jobs.start(argv, models_dir=models_dir, **kwargs)
    return wait_for_job(models_dir, lambda job: jobs.stage(job) == "fitting the insult head")


def test_a_job_runs_refuses_a_second_and_finishes_with_its_new_version(tmp_path: Path) -> None:
    models_dir = tmp_path / "models"
    assert jobs.latest(models_dir) is None
    job = _waiting_job(models_dir, started_by="root")
    assert job.running and job.state == jobs.RUNNING and job.exit_code is None
    assert job.started_by == "root" and job.command_pid and job.pid != job.command_pid
    assert jobs.log_tail(job) == ["stage: reading the corpora", "stage: fitting the insult head"]
    assert jobs.log_tail(job, lines=1) == ["stage: fitting the insult head"]
    with pytest.raises(JobError, match="already running: started by root") as refused:
        jobs.start([sys.executable, "-c", "pass"], models_dir=models_dir)
    assert job.log_path in str(refused.value)
    assert len(list(jobs.jobs_dir(models_dir).glob("*.json"))) == 1  # the refused one left nothing

    (models_dir / "go").touch()
    done = wait_for_job(models_dir, lambda job: not job.running)
    assert (done.job_id, done.state, done.exit_code, done.reason) == (job.job_id, jobs.FINISHED, 0, "")
    assert done.versions == ["v-new"] and done.version == "v-new"
    assert jobs.stage(done) == "saving"
    assert done.finished_at >= done.started_at and done.elapsed_seconds == done.finished_at - done.started_at
    state = json.loads((jobs.jobs_dir(models_dir) / f"{job.job_id}.json").read_text())
    assert state["state"] == "finished" and state["versions"] == ["v-new"]

    again = jobs.start([sys.executable, "-c", "pass"], models_dir=models_dir)  # free again
    assert wait_for_job(models_dir, lambda job: not job.running).job_id == again.job_id


def test_job_ids_sort_in_start_order_across_a_second_and_a_clock_step_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # CI once saw a job started at hh:mm:30.99... get an id that sorted before its predecessor's:
    # the second and its nanoseconds came from two clock readings that straddled a second.
    second = 1_800_000_000 * 10**9
    readings = iter([second - 1, second + 494_897, second - 5 * 10**9])  # late, next second, back
    monkeypatch.setattr(jobs.time, "time_ns", lambda: next(readings))
    ids = [""]
    for _ in range(3):
        ids.append(jobs._new_job_id(after=ids[-1]))
    ids = ids[1:]
    assert ids == sorted(ids) and len(set(ids)) == 3
    assert ids[0].endswith("Z-999999999") and ids[1].endswith("Z-000494897")


def test_a_command_that_fails_leaves_a_failed_job_and_no_version(tmp_path: Path) -> None:
    models_dir = tmp_path / "models"
    argv = [sys.executable, "-c", "import sys; print('stage: reading the corpora'); sys.exit(3)"]
    jobs.start(argv, models_dir=models_dir)
    job = wait_for_job(models_dir, lambda job: not job.running)
    assert (job.state, job.exit_code, job.reason) == (jobs.FAILED, 3, "exited with code 3")
    assert job.versions == [] and job.version == ""
    assert jobs.stage(job) == "reading the corpora"


def test_a_killed_command_shows_as_failed(tmp_path: Path) -> None:
    models_dir = tmp_path / "models"
    job = _waiting_job(models_dir)
    os.kill(job.command_pid, signal.SIGKILL)
    failed = wait_for_job(models_dir, lambda job: not job.running)
    assert (failed.state, failed.exit_code, failed.reason) == (jobs.FAILED, -9, "killed by signal SIGKILL")
    assert failed.versions == [] and not (models_dir / "v-new").exists()


def test_a_job_whose_supervisor_is_killed_shows_as_failed(tmp_path: Path) -> None:
    models_dir = tmp_path / "models"
    job = _waiting_job(models_dir)
    os.killpg(job.pid, signal.SIGKILL)  # the supervisor and the command, as a reboot would
    failed = wait_for_job(models_dir, lambda job: not job.running)
    assert failed.state == jobs.FAILED and failed.exit_code is None
    assert "ended without reporting an exit code" in failed.reason
    state = json.loads((jobs.jobs_dir(models_dir) / f"{job.job_id}.json").read_text())
    assert state["state"] == "running"  # what the file says; ``latest`` knows better
    jobs.start([sys.executable, "-c", "pass"], models_dir=models_dir)  # not refused


def test_the_training_command_trains_on_the_store_into_the_models_dir(tmp_path: Path) -> None:
    argv, env = jobs.training_command("sqlite:///m.db", models_dir=tmp_path)
    output = str(tmp_path.resolve())
    assert argv == [
        sys.executable,
        "-m",
        "moderation.cli",
        "train",
        "--db",
        "sqlite:///m.db",
        "--output",
        output,
    ]
    assert env == {}
    argv, env = jobs.training_command("postgresql+psycopg://mod:s3cret@db.example/moderation")
    assert "s3cret" not in " ".join(argv) and env == {"PGPASSWORD": "s3cret"}
    assert argv[argv.index("--db") + 1] == "postgresql+psycopg://mod@db.example/moderation"
    assert argv[argv.index("--output") + 1] == str(config.MODELS_DIR.resolve())


def test_only_admins_start_retraining(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = []

    def fake_command(db_url: str, *, models_dir=None):
        seen.append(db_url)
        return [sys.executable, "-c", "print('stage: saving')"], {}

    monkeypatch.setattr(jobs, "training_command", fake_command)
    store = open_store(f"sqlite:///{tmp_path / 'm.db'}")
    models_dir = tmp_path / "models"
    with pytest.raises(PermissionDeniedError):
        review.start_retraining(store, User("alice", "moderator"), models_dir=models_dir)
    assert jobs.latest(models_dir) is None
    job = review.start_retraining(store, User("root", "admin"), models_dir=models_dir)
    assert job.started_by == "root" and seen == [f"sqlite:///{tmp_path / 'm.db'}"]
    assert wait_for_job(models_dir, lambda job: not job.running).state == jobs.FINISHED
    store.close()
