"""Hostile inputs: every one gives a clear error or correct handling, and loses no row.

The small files live in tests/hostile/; the large ones are generated here at test time.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

HOSTILE = Path(__file__).resolve().parent / "hostile"


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "moderation.cli", *args], capture_output=True, text=True, cwd=cwd, timeout=600
    )


def read_rows(
    src: Path, out: Path, *extra: str
) -> tuple[pd.DataFrame, list[dict], subprocess.CompletedProcess]:
    result = run_cli("read", str(src), "-o", str(out), *extra)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    frame = pd.read_json(out, lines=True, dtype=False) if out.stat().st_size else pd.DataFrame()
    rejects_file = out.with_name(out.name + ".rejects.jsonl")
    rejects = [json.loads(x) for x in rejects_file.read_text().splitlines()] if rejects_file.exists() else []
    return frame, rejects, result


def test_mixed_encodings_lose_no_row_and_warn(tmp_path: Path) -> None:
    frame, rejects, result = read_rows(HOSTILE / "mixed_encoding.csv", tmp_path / "out.jsonl")
    assert len(frame) + len(rejects) == 4
    assert frame["text"].tolist() == [
        "café in UTF-8",
        "naïve in Latin-1",
        "plain",
        "\u201csmart quotes\u201d from cp1252",
    ]
    assert "Windows-1252" in result.stderr


def test_utf16_with_bom_and_nul_bytes(tmp_path: Path) -> None:
    src = tmp_path / "u16.csv"
    src.write_bytes("text,author\nhello\x00 world,ann\nsecond,bob\n".encode("utf-16"))
    frame, rejects, _ = read_rows(src, tmp_path / "out.jsonl")
    assert frame["text"].tolist() == ["hello world", "second"]
    assert not rejects


def test_a_10_mb_comment_is_read_whole(tmp_path: Path) -> None:
    src = tmp_path / "big.jsonl"
    body = ("you are wonderful " * 600_000)[: 10 * 1024 * 1024]
    src.write_text(json.dumps({"text": body}) + "\n" + json.dumps({"text": "small"}) + "\n")
    frame, rejects, _ = read_rows(src, tmp_path / "out.jsonl")
    assert len(frame) == 2 and not rejects
    assert len(frame.loc[0, "text_original"]) == len(body)


def test_100k_empty_comments_are_all_kept(tmp_path: Path) -> None:
    src = tmp_path / "empty.csv"
    src.write_text("id,text\n" + "".join(f"{i},\n" for i in range(100_000)))
    out = tmp_path / "out.csv"
    result = run_cli("read", str(src), "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert "read 100,000 rows" in result.stdout and "rejected 0" in result.stdout
    assert len(pd.read_csv(out, keep_default_na=False)) == 100_000


def test_a_csv_with_10000_columns(tmp_path: Path) -> None:
    src = tmp_path / "wide.csv"
    header = ["text"] + [f"c{i}" for i in range(9_999)]
    src.write_text(",".join(header) + "\n" + ",".join(["hello"] + ["x"] * 9_999) + "\n")
    out = tmp_path / "out.parquet"
    result = run_cli("read", str(src), "-o", str(out))
    assert result.returncode == 0, result.stderr
    frame = pd.read_parquet(out)
    assert frame["text"].tolist() == ["hello"] and "c9998" in frame.columns


@pytest.mark.parametrize("name", ["billion_laughs.xml", "xxe.xml"])
def test_entity_attacks_are_refused_without_expanding_or_fetching(tmp_path: Path, name: str) -> None:
    result = run_cli("read", str(HOSTILE / name), "-o", str(tmp_path / "out.jsonl"))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert name in result.stderr
    assert not (tmp_path / "out.jsonl").exists()
    assert "root:" not in result.stdout + result.stderr  # /etc/passwd was not read


@pytest.mark.parametrize("compress", ["gzip", "zstd"])
def test_compression_bombs_stop_with_a_clear_error(tmp_path: Path, compress: str) -> None:
    import zstandard

    payload = b'{"text": "aaaaaaaa"}\n' * 2_000_000  # 42 MB that compresses far beyond 200x
    data = (
        gzip.compress(payload, 9)
        if compress == "gzip"
        else zstandard.ZstdCompressor(level=19).compress(payload)
    )
    src = tmp_path / "bomb.jsonl"
    src.write_bytes(data)
    env_limit = str(8 * 1024 * 1024)  # lower the absolute cap so the test stays small
    result = subprocess.run(
        [sys.executable, "-m", "moderation.cli", "read", str(src), "-o", str(tmp_path / "out.jsonl")],
        capture_output=True,
        text=True,
        env={**__import__("os").environ, "MODERATION_MAX_DECOMPRESSED_BYTES": env_limit},
        timeout=300,
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "decompression bomb" in result.stderr and "bomb.jsonl" in result.stderr


def test_deeply_nested_json_is_rejected_not_crashed(tmp_path: Path) -> None:
    src = tmp_path / "nested.jsonl"
    src.write_text(
        json.dumps({"text": "fine"}) + "\n" + '{"text": "x", "n": ' + "[" * 100_000 + "]" * 100_000 + "}\n"
    )
    frame, rejects, _ = read_rows(src, tmp_path / "out.jsonl")
    assert frame["text"].tolist() == ["fine"]
    assert len(rejects) == 1 and "nested deeper" in rejects[0]["reason"]
    whole = tmp_path / "nested.json"
    whole.write_text("[" * 100_000 + "]" * 100_000)
    result = run_cli("read", str(whole), "-o", str(tmp_path / "o2.jsonl"), "--format", "jsonl")
    assert result.returncode == 1 and "Traceback" not in result.stderr


def test_an_output_path_climbing_out_with_dotdot_is_refused(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    result = run_cli("read", str(HOSTILE / "spoofing.jsonl"), "-o", "../escaped.csv", cwd=work)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "'..'" in result.stderr
    assert not (tmp_path / "escaped.csv").exists()


def test_spoofing_characters_are_neutralised_and_the_original_kept(tmp_path: Path) -> None:
    frame, rejects, _ = read_rows(HOSTILE / "spoofing.jsonl", tmp_path / "out.jsonl")
    assert not rejects and len(frame) == 10
    text = frame.set_index("comment_id")["text"]
    original = frame.set_index("comment_id")["text_original"]
    assert "\u202e" not in text["rtl"] and "\u202e" in original["rtl"]
    assert text["zw"] == "you are an idiot"
    assert text["nul"] == "nulbyte"
    assert text["script"] == "hello"  # the script element is markup, not comment text


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_a_lone_surrogate_escape_is_replaced_not_crashed(tmp_path: Path, suffix: str) -> None:
    # JSON's "\ud800" with no partner decodes to a code point no output can encode.
    src = tmp_path / "surrogates.jsonl"
    src.write_text(
        '{"id": "a", "text": "fine", "author": "x"}\n'
        '{"id": "b", "text": "half \\ud800 a pair", "author": "\\udfff"}\n'
        '{"id": "c", "text": "a real pair \\ud83d\\ude00", "author": "y"}\n'
    )
    out = tmp_path / f"scored{suffix}"
    result = run_cli("score", str(src), "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    readers = {
        ".csv": lambda: pd.read_csv(out, keep_default_na=False),
        ".jsonl": lambda: pd.read_json(out, lines=True, dtype=False),
        ".parquet": lambda: pd.read_parquet(out),
    }
    frame = readers[suffix]()
    assert frame["comment_id"].tolist() == ["a", "b", "c"]
    assert frame["text"].tolist()[1:] == ["half \ufffd a pair", "a real pair \U0001f600"]
    assert frame["author"].tolist()[1] == "\ufffd"


def test_a_later_chunk_without_a_field_of_the_first_record_is_read(tmp_path: Path) -> None:
    # The columns are mapped from the first record; a later chunk may not have them at all.
    src = tmp_path / "drift.jsonl"
    lines = [json.dumps({"id": f"c{i}", "author": "ann", "text": "hello"}) for i in range(3)]
    lines += [json.dumps({"text": f"no id {i}"}) for i in range(3)]
    src.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out.csv"
    result = run_cli("score", str(src), "-o", str(out), "--chunk-rows", "3")
    assert result.returncode == 0, result.stderr
    frame = pd.read_csv(out, keep_default_na=False)
    assert len(frame) == 6 and frame["comment_id"].is_unique
    assert frame["comment_id"].tolist()[:3] == ["c0", "c1", "c2"]
    assert frame["author"].tolist() == ["ann"] * 3 + [""] * 3
