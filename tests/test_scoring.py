"""Batch scoring end to end with the shipped default model: order, --jobs, --resume, Dask."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from moderation import config
from moderation.errors import OutputError
from moderation.scoring import score_files

DEMO = config.DEMO_DATA_DIR / "demo_comments.jsonl"


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "moderation.cli", *args], capture_output=True, text=True, timeout=600
    )


def _sentences(rows: int) -> Path:
    """A synthetic dump with varied wording (no corpus needed) and stable ids."""
    words = [
        "you",
        "are",
        "a",
        "great",
        "idiot",
        "thanks",
        "for",
        "sharing",
        "the",
        "budget",
        "moron",
        "nice",
    ]
    lines = []
    for i in range(rows):
        text = " ".join(words[(i * k + k) % len(words)] for k in range(1, 4 + i % 9))
        lines.append(json.dumps({"id": f"c{i}", "text": f"{text} #{i % 97}", "thread_id": f"t{i // 25}"}))
    return "\n".join(lines) + "\n"


def _kill_after_checkpoint(command: list[str], state: Path, rows: int) -> None:
    """Run ``moderation`` with ``command`` and SIGKILL it once its checkpoint ``state`` holds
    ``rows`` rows (or after two minutes)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "moderation.cli", *command],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if state.exists() and json.loads(state.read_text() or "{}").get("rows", 0) >= rows:
            break
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()


def test_score_keeps_rows_in_order_and_adds_the_score_columns(tmp_path: Path) -> None:
    out = tmp_path / "scored.csv"
    result = run_cli("score", str(DEMO), "-o", str(out))
    assert result.returncode == 0, result.stderr
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("read 30 rows, scored 30, rejected 0; model ")
    frame = pd.read_csv(out, keep_default_na=False)
    source = pd.read_json(DEMO, lines=True, dtype=False)
    assert frame["comment_id"].tolist() == source["id"].tolist()
    for column in ("insult_score", "troll_score", "flag", "reasons", "model_version"):
        assert column in frame.columns
    assert frame["insult_score"].between(0, 1).all() and frame["troll_score"].between(0, 1).all()
    assert set(frame["flag"]) <= {"", "insult", "troll", "insult,troll"}


def test_jobs_2_output_is_byte_identical_to_jobs_1(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text(_sentences(6_000))
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    assert run_cli("score", str(src), "-o", str(one), "--chunk-rows", "500").returncode == 0
    result = run_cli("score", str(src), "-o", str(two), "--chunk-rows", "500", "--jobs", "2")
    assert result.returncode == 0, result.stderr
    assert one.read_bytes() == two.read_bytes()


def test_resume_after_sigkill_writes_every_row_exactly_once(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text(_sentences(30_000))
    reference = tmp_path / "reference.csv"
    assert run_cli("score", str(src), "-o", str(reference), "--chunk-rows", "1000").returncode == 0

    out = tmp_path / "out.csv"
    state = tmp_path / ".out.csv.resume.json"
    _kill_after_checkpoint(["score", str(src), "-o", str(out), "--chunk-rows", "1000"], state, 8_000)
    assert not out.exists(), "the run finished before it could be killed"
    assert json.loads(state.read_text())["rows"] < 30_000

    result = run_cli("score", str(src), "-o", str(out), "--chunk-rows", "1000", "--resume")
    assert result.returncode == 0, result.stderr
    frame = pd.read_csv(out, keep_default_na=False)
    assert len(frame) == 30_000
    assert frame["comment_id"].is_unique
    assert frame["comment_id"].tolist() == [f"c{i}" for i in range(30_000)]
    assert out.read_bytes() == reference.read_bytes()
    assert not state.exists()


def test_resume_refuses_a_checkpoint_from_other_inputs(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text(_sentences(100))
    out = tmp_path / "out.jsonl"
    (tmp_path / ".out.jsonl.resume.json").write_text(json.dumps({"signature": {"inputs": []}, "rows": 5}))
    result = run_cli("score", str(src), "-o", str(out), "--resume")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "without --resume" in result.stderr


def test_score_files_is_callable_from_python(tmp_path: Path) -> None:
    summary = score_files([DEMO], output=tmp_path / "s.parquet")
    assert summary.rows_scored == 30 and summary.rows_rejected == 0
    frame = pd.read_parquet(tmp_path / "s.parquet")
    assert frame["insult_score"].dtype == "float64"


@pytest.mark.slow
def test_dask_engine_on_a_local_cluster_matches_the_local_engine(tmp_path: Path) -> None:
    src = tmp_path / "in.parquet"
    rows = pd.read_json(pd.io.common.StringIO(_sentences(3_000)), lines=True, dtype=False)
    rows.to_parquet(src, row_group_size=700)
    local = tmp_path / "local.parquet"
    assert run_cli("score", str(src), "-o", str(local)).returncode == 0
    parts = tmp_path / "parts"
    result = run_cli("score", str(src), "-o", str(parts), "--engine", "dask", "--jobs", "2")
    assert result.returncode == 0, result.stderr
    assert "scored 3,000 rows" in result.stdout
    expected = pd.read_parquet(local)
    got = pd.read_parquet(parts).sort_values("record").reset_index(drop=True)
    assert len(list(parts.glob("*.parquet"))) > 1
    for column in ("comment_id", "thread_id", "text", "flag", "reasons", "model_version", "record"):
        assert got[column].astype(str).tolist() == expected[column].astype(str).tolist(), column
    for column in ("insult_score", "troll_score"):
        assert (got[column] - expected[column]).abs().max() == 0.0, column


@pytest.mark.shared
def test_example_page_insults_outrank_the_friendly_comments_and_its_troll_leads_the_authors(
    example_page: Path, tmp_path: Path
) -> None:
    # Issue 4 on the scraped article page: the plain insults score above every friendly or
    # neutral comment named there, and the author of the most inflammatory posts (the "public
    # service announcement" calling the forum psychopaths and trolls, "the Muslim infestation
    # of London") has the highest author troll risk.
    out, authors = tmp_path / "page.csv", tmp_path / "authors.csv"
    result = run_cli("score", str(example_page), "-o", str(out), "--authors", str(authors))
    assert result.returncode == 0, result.stderr
    scored = pd.read_csv(out, keep_default_na=False)

    def insult(start: str) -> float:
        [score] = scored.loc[scored["text"].str.startswith(start), "insult_score"].tolist()
        return score

    insults = [
        "Miss Cornhole, you are a MI6 troll",
        "Don’t forget sociopaths like yourself",
        "I say you’re more than vacant",
    ]
    friendly = [
        "That brings back memories Di, lol.",
        "Hell yeah, classic Russian-Turkish",
        "Let me guess, both of them",
    ]
    assert min(insult(t) for t in insults) > max(insult(t) for t in friendly)
    risk = pd.read_csv(authors, keep_default_na=False)
    assert risk.loc[risk["troll_risk"].idxmax(), "author"] == "Diana Cornwell"
    assert "Diana Cornwell" in set(
        scored.loc[scored["text"].str.contains("public service announcement"), "author"]
    )


_FRAME_FAULTS = """
import resource, sys
import numpy as np
from moderation.scoring import keep_freed_memory
took = keep_freed_memory() if sys.argv[1] == "keep" else None
def frame():
    arrays = [np.ones(4_000_000) for _ in range(4)]  # 128 MB, as a frame's arrays
    del arrays
frame()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
frame()
print(took, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(sys.platform != "linux", reason="glibc's malloc settings exist on Linux only")
def test_keep_freed_memory_spares_the_next_frame_its_page_faults() -> None:
    def second_frame_faults(mode: str) -> tuple[str, int]:
        run = subprocess.run([sys.executable, "-c", _FRAME_FAULTS, mode], capture_output=True, text=True)
        took, faults = run.stdout.split()
        return took, int(faults)

    took, kept = second_frame_faults("keep")
    _, default = second_frame_faults("default")
    assert took == "True"
    assert kept * 10 < default, (kept, default)


def test_resume_gives_the_author_and_thread_rollups_of_an_uninterrupted_run(tmp_path: Path) -> None:
    # Names that begin with a formula character are written guarded ("'@bob1"); the rows read
    # back on resume must be grouped with the ones scored after it, not as other authors.
    lines = []
    for i, line in enumerate(_sentences(20_000).splitlines()):
        row = json.loads(line)
        row["author"] = ["@bob1", "=eve", "-dash", "plain", "'quoted"][i % 5]
        row["thread_id"] = f"+t{i // 500}"
        lines.append(json.dumps(row))
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(lines) + "\n")
    options = ["--chunk-rows", "1000"]
    reference = ["-o", str(tmp_path / "ref.csv"), "--authors", str(tmp_path / "ref_authors.csv")]
    reference += ["--threads", str(tmp_path / "ref_threads.csv")]
    assert run_cli("score", str(src), *reference, *options).returncode == 0

    out = tmp_path / "out.csv"
    command = ["score", str(src), "-o", str(out), *options]
    command += ["--authors", str(tmp_path / "authors.csv"), "--threads", str(tmp_path / "threads.csv")]
    state = tmp_path / ".out.csv.resume.json"
    _kill_after_checkpoint(command, state, 6_000)
    assert not out.exists(), "the run finished before it could be killed"

    result = run_cli(*command, "--resume")
    assert result.returncode == 0, result.stderr
    assert out.read_bytes() == (tmp_path / "ref.csv").read_bytes()
    authors = pd.read_csv(tmp_path / "authors.csv", keep_default_na=False)
    assert sorted(authors["author"]) == ["'-dash", "'=eve", "'@bob1", "'quoted", "plain"]
    assert (tmp_path / "authors.csv").read_bytes() == (tmp_path / "ref_authors.csv").read_bytes()
    assert (tmp_path / "threads.csv").read_bytes() == (tmp_path / "ref_threads.csv").read_bytes()


def _tiny_csv(path: Path) -> Path:
    path.write_text("text,author\nhello there,@bob\nthanks,x\n")
    return path


@pytest.mark.parametrize(
    ("extra", "clash"),
    [
        (["--threads", "{src}"], "the --threads file"),
        (["--authors", "{src}"], "the --authors file"),
        (["--threads", "{out}"], "the --threads file"),
        (["--authors", "{threads}", "--threads", "{threads}"], "file"),
        (["--threads", "{out}.rejects.jsonl"], "rejects file"),
    ],
)
def test_score_refuses_outputs_that_are_an_input_or_each_other(
    tmp_path: Path, extra: list[str], clash: str
) -> None:
    src = _tiny_csv(tmp_path / "in.csv")
    before = src.read_bytes()
    names = {"src": str(src), "out": str(tmp_path / "s.csv"), "threads": str(tmp_path / "t.csv")}
    result = run_cli("score", str(src), "-o", names["out"], *[e.format(**names) for e in extra])
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "is the same file as" in result.stderr and clash in result.stderr
    assert "another name" in result.stderr
    assert src.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]


def test_score_refuses_an_output_that_is_its_input_by_another_name(tmp_path: Path) -> None:
    src = _tiny_csv(tmp_path / "in.csv")
    with pytest.raises(OutputError, match="same file as the input"):
        score_files([src], output=Path(f"{tmp_path}/./in.csv"))


def test_an_unwritable_rollup_path_fails_before_any_scoring(tmp_path: Path) -> None:
    src = _tiny_csv(tmp_path / "in.csv")
    for option in ("--threads", "--authors"):
        result = run_cli("score", str(src), "-o", str(tmp_path / "s.csv"), option, "/proc/t.csv")
        assert result.returncode == 1 and "Traceback" not in result.stderr
        assert "cannot write" in result.stderr and "/proc/t.csv" in result.stderr
        assert not (tmp_path / "s.csv").exists()


def test_a_folder_where_the_rejects_file_goes_is_a_clear_error(tmp_path: Path) -> None:
    src = _tiny_csv(tmp_path / "in.csv")
    (tmp_path / "s.csv.rejects.jsonl").mkdir()
    result = run_cli("score", str(src), "-o", str(tmp_path / "s.csv"))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "rejects file" in result.stderr and "folder" in result.stderr
