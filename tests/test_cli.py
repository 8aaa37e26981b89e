"""The ``moderation`` command end to end: outputs, summaries, errors without tracebacks."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from moderation import config
from moderation.cli import app


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "moderation.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


def test_read_writes_canonical_rows_and_a_summary(tmp_path: Path) -> None:
    out = tmp_path / "demo.csv"
    result = run_cli("read", str(config.DEMO_DATA_DIR / "demo_comments.jsonl"), "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1].startswith("read 30 rows from 1 file(s)")
    frame = pd.read_csv(out, keep_default_na=False)
    assert list(frame.columns[:6]) == ["comment_id", "thread_id", "parent_id", "author", "created_at", "text"]
    heated = frame[frame["thread_id"] == "stadium-vote"]
    assert heated.set_index("comment_id").loc["s5", "depth"] == 4
    assert not (tmp_path / "demo.csv.rejects.jsonl").exists()


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_read_writes_jsonl_and_parquet(tmp_path: Path, suffix: str) -> None:
    out = tmp_path / f"demo{suffix}"
    result = run_cli("read", str(config.DEMO_DATA_DIR / "demo_comments.jsonl"), "-o", str(out))
    assert result.returncode == 0, result.stderr
    frame = pd.read_parquet(out) if suffix == ".parquet" else pd.read_json(out, lines=True)
    assert len(frame) == 30
    assert frame["text"].str.len().min() > 0


def test_rejects_file_names_source_record_and_reason(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text('{"text": "ok"}\n{broken\n')
    out = tmp_path / "out.csv"
    result = run_cli("read", str(src), "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert "read 1 rows" in result.stdout and "rejected 1" in result.stdout
    rejects = [json.loads(line) for line in (tmp_path / "out.csv.rejects.jsonl").read_text().splitlines()]
    assert rejects[0]["source"] == str(src) and rejects[0]["record"] == 2
    assert rejects[0]["reason"].startswith("invalid JSON")
    assert rejects[0]["raw"] == "{broken\n"


@pytest.mark.parametrize(
    ("content", "name", "expected"),
    [
        (b"", "empty.csv", "empty"),
        (b"id,body2\n1,x\n", "cols.csv", "no text column found; columns are id, body2"),
        (b"\x1f\x8b\x08\x00garbage", "cut.jsonl.gz", "truncated or corrupt"),
        (b"<disqus><post>", "broken.xml", ""),
        (b"\x00\x01\x02\x03" * 100, "binary.bin", ""),
    ],
)
def test_bad_input_exits_1_with_a_hint_and_no_traceback(
    tmp_path: Path, content: bytes, name: str, expected: str
) -> None:
    src = tmp_path / name
    src.write_bytes(content)
    result = run_cli("read", str(src), "-o", str(tmp_path / "out.csv"))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: ") and name in result.stderr
    assert expected in result.stderr
    assert not (tmp_path / "out.csv").exists()  # no half-written output


def test_unknown_output_extension_is_a_clear_error(tmp_path: Path) -> None:
    demo = str(config.DEMO_DATA_DIR / "demo_comments.jsonl")
    result = run_cli("read", demo, "-o", str(tmp_path / "x.xlsx"))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert ".csv, .jsonl or .parquet" in result.stderr


def test_formula_cells_are_neutralised_in_csv_output(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"text": "=HYPERLINK(\"http://x\")", "author": "@evil"}) + "\n")
    out = tmp_path / "out.csv"
    assert run_cli("read", str(src), "-o", str(out)).returncode == 0
    frame = pd.read_csv(out, keep_default_na=False)
    assert frame.loc[0, "text"].startswith("'=")
    assert frame.loc[0, "author"] == "'@evil"


def test_every_command_and_option_appears_in_the_readme() -> None:
    readme = (config.PROJECT_ROOT / "README.md").read_text()
    import typer.main

    group = typer.main.get_command(app)
    for name, command in group.commands.items():
        assert f"moderation {name}" in readme, f"README does not show `moderation {name}`"
        for param in command.params:
            for option in param.opts:
                if option.startswith("--"):
                    assert re.search(re.escape(option) + r"\b", readme), f"README lacks {option} of {name}"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["audit"], "No such command 'audit'"),
        (["score", "--no-such-option"], "No such option: --no-such-option"),
    ],
)
def test_a_mistyped_command_or_option_is_a_usage_message_not_a_traceback(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from moderation.cli import main

    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_read_refuses_to_write_over_its_input(tmp_path: Path) -> None:
    src = tmp_path / "same.csv"
    src.write_text("text\nhello\n")
    for output in (src, tmp_path / "." / "same.csv"):
        result = run_cli("read", str(src), "-o", str(output))
        assert result.returncode == 1 and "Traceback" not in result.stderr
        assert "same file as the input" in result.stderr and "another name" in result.stderr
        assert src.read_text() == "text\nhello\n"


@pytest.mark.parametrize("command", ["read", "score"])
def test_unwritable_output_paths_are_clear_errors(tmp_path: Path, command: str) -> None:
    src = tmp_path / "t.csv"
    src.write_text("text\nhello\n")
    (tmp_path / "ok.csv.rejects.jsonl").mkdir()
    for output, reason in (
        (src / "x.csv", "not a folder"),
        ("/proc/x.csv", "cannot write"),
        (tmp_path / "ok.csv", "a folder has that name"),
    ):
        result = run_cli(command, str(src), "-o", str(output))
        assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
        assert str(output) in result.stderr or "rejects" in result.stderr
        assert reason in result.stderr


def test_jsonl_output_has_one_line_per_row_and_no_blank_lines(tmp_path: Path) -> None:
    demo = str(config.DEMO_DATA_DIR / "demo_comments.jsonl")
    out = tmp_path / "out.jsonl"
    assert run_cli("read", demo, "-o", str(out)).returncode == 0
    lines = out.read_text().split("\n")
    assert lines[-1] == "" and all(lines[:-1])
    assert len(lines) - 1 == len(pd.read_json(out, lines=True)) == 30


def test_dictionary_encoded_parquet_columns_are_neutralised_in_csv(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    src = tmp_path / "dict.parquet"
    note = pa.array(['=HYPERLINK("http://evil","x")', "b"]).dictionary_encode()
    pq.write_table(pa.table({"text": ["hi", "there"], "note": note}), src)
    out = tmp_path / "dict.csv"
    assert run_cli("read", str(src), "-o", str(out)).returncode == 0
    frame = pd.read_csv(out, keep_default_na=False)
    assert frame["note"].tolist() == ["'=HYPERLINK(\"http://evil\",\"x\")", "b"]
