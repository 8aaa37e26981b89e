"""Reddit/Pushshift NDJSON: the thread tree from t1_/t3_ parents, .zst dumps, deleted bodies."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import zstandard

from moderation.ingest import ReadReport, detect_format, read_comments


def _read(path: Path) -> tuple[pd.DataFrame, ReadReport]:
    report = ReadReport()
    return pd.concat(list(read_comments([path], report=report)), ignore_index=True), report


def _comment(cid: str, parent: str, body: str = "text") -> str:
    return json.dumps(
        {
            "id": cid,
            "parent_id": parent,
            "link_id": "t3_post",
            "author": "u",
            "body": body,
            "created_utc": 1134000000,
            "score": 3,
            "subreddit": "reddit.com",
        }
    )


def test_pushshift_tree_orphans_and_deleted(tmp_path: Path) -> None:
    lines = [
        _comment("a", "t3_post"),
        _comment("b", "t1_a"),
        _comment("c", "t1_b", "[deleted]"),
        _comment("d", "t1_missing"),
    ]
    payload = ("\n".join(lines) + "\n").encode()
    path = tmp_path / "RC.zst"
    path.write_bytes(zstandard.ZstdCompressor().compress(payload))
    assert detect_format(path) == "reddit"
    frame, report = _read(path)
    assert frame["parent_id"].tolist() == ["", "a", "b", "missing"]
    assert frame["depth"].tolist() == [0, 1, 2, 0]
    assert frame["thread_id"].unique().tolist() == ["t3_post"]
    assert frame["status"].tolist() == ["", "", "deleted", ""]
    assert frame["created_at"].iloc[0] == "2005-12-08T00:00:00Z"
    assert frame["score"].tolist() == [3, 3, 3, 3]
    assert report.orphans == 1


@pytest.mark.shared
@pytest.mark.parametrize("name", ["RC_2005-12.ndjson", "RC_2005-12.zst"])
def test_the_real_pushshift_dump(shared_data: Path, name: str) -> None:
    frame, report = _read(shared_data / "raw_dumps/reddit_pushshift" / name)
    assert len(frame) == 1075
    assert (frame["parent_id"] != "").sum() == 329
    assert frame["thread_id"].nunique() == 396
    assert report.orphans == 15


def _cli(*args: str) -> int:
    from moderation.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    return exit_info.value.code


def test_every_line_is_read_or_rejected_with_its_line_number(tmp_path: Path) -> None:
    from moderation.ingest import RejectsSink

    lines = [
        _comment("a", "t3_post"),
        "{not json",
        json.dumps({"id": "s1", "title": "a submission", "selftext": "no body here"}),
        _comment("b", "t1_a", "[removed]"),
        "",
        _comment("c", "t1_b"),
    ]
    path = tmp_path / "RC_mixed.ndjson"
    path.write_text("\n".join(lines) + "\n")
    rejects, report = RejectsSink(), ReadReport()
    frame = pd.concat(list(read_comments([path], rejects=rejects, report=report)), ignore_index=True)
    assert frame["comment_id"].tolist() == ["a", "b", "c"]
    assert frame["record"].tolist() == [1, 4, 6]
    assert [r["record"] for r in rejects.kept] == [2, 3]
    assert "invalid JSON" in rejects.kept[0]["reason"] and "no 'body'" in rejects.kept[1]["reason"]
    non_blank = sum(1 for line in lines if line.strip())
    assert report.rows + report.rejected == non_blank == 5
    # a removed comment keeps its place in the tree and its original text
    assert frame["status"].tolist() == ["", "deleted", ""]
    assert frame["text"].tolist()[1] == "[removed]"
    assert frame["depth"].tolist() == [0, 1, 2]


def test_deleted_authors_nested_fields_and_clashing_names(tmp_path: Path) -> None:
    record = {
        "id": "x",
        "parent_id": "t3_p",
        "link_id": "t3_p",
        "author": "[deleted]",
        "body": "fine &amp; dandy",
        "created_utc": "1134365188",
        "all_awardings": [{"name": "gold"}],
        "depth": 7,
    }
    path = tmp_path / "one.json"
    path.write_text(json.dumps(record) + "\n")
    frame, _ = _read(path)
    row = frame.iloc[0]
    assert row["author"] == ""  # "[deleted]" is not one person
    assert row["text"] == "fine & dandy" and row["text_original"] == "fine &amp; dandy"
    assert row["created_at"] == "2005-12-12T05:26:28Z"
    assert json.loads(row["all_awardings"]) == [{"name": "gold"}]
    assert row["input_depth"] == 7 and row["depth"] == 0  # the canonical depth is rebuilt
    assert "body" not in frame.columns and "id" not in frame.columns


def test_a_clashing_field_never_overwrites_a_field_of_its_new_name(tmp_path: Path) -> None:
    record = {"id": "c1", "link_id": "t3_x", "parent_id": "t3_x", "body": "hi"}
    record |= {"flag": "A", "input_flag": "B"}
    path = tmp_path / "one.json"
    path.write_text(json.dumps(record) + "\n")
    frame, _ = _read(path)
    assert frame.iloc[0]["input_flag"] == "B" and frame.iloc[0]["input_flag.1"] == "A"


def test_the_reddit_sniffer_beats_generic_json_lines(tmp_path: Path) -> None:
    reddit = tmp_path / "dump.ndjson"
    reddit.write_text(_comment("a", "t3_post") + "\n")
    plain = tmp_path / "plain.ndjson"
    plain.write_text(json.dumps({"id": 1, "body": "no reddit keys"}) + "\n")
    assert detect_format(reddit) == "reddit"
    assert detect_format(plain) == "jsonl"


@pytest.mark.parametrize("compress", ["gzip", "zstd"])
def test_a_truncated_compressed_dump_exits_1_with_one_line(tmp_path: Path, capsys, compress: str) -> None:
    import gzip

    payload = "".join(_comment(f"c{i}", "t3_post", "x" * 50) + "\n" for i in range(3_000)).encode()
    data = gzip.compress(payload) if compress == "gzip" else zstandard.ZstdCompressor().compress(payload)
    path = tmp_path / f"RC_cut.{'gz' if compress == 'gzip' else 'zst'}"
    path.write_bytes(data[: len(data) * 2 // 3])
    out = tmp_path / "out.csv"
    code = _cli("read", str(path), "-o", str(out))
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert path.name in err and "truncated" in err and "fetch it again" in err


def test_an_empty_dump_exits_1(tmp_path: Path, capsys) -> None:
    path = tmp_path / "RC_empty.ndjson"
    path.write_text("")
    assert _cli("read", str(path), "-o", str(tmp_path / "o.csv"), "--format", "reddit") == 1
    assert "empty" in capsys.readouterr().err


@pytest.mark.shared
@pytest.mark.parametrize("name", ["RC_2005-12.ndjson", "RC_2005-12.zst"])
def test_the_real_dump_is_sniffed_and_every_line_accounted_for(shared_data: Path, name: str) -> None:
    from moderation.ingest import RejectsSink

    path = shared_data / "raw_dumps/reddit_pushshift" / name
    assert detect_format(path) == "reddit"
    rejects, report = RejectsSink(), ReadReport()
    frame = pd.concat(list(read_comments([path], rejects=rejects, report=report)), ignore_index=True)
    assert len(frame) + rejects.count == 1075 and rejects.count == 0
    assert frame["comment_id"].is_unique and frame["comment_id"].str.startswith("c").all()
    assert (frame["status"] == "deleted").sum() == 120  # 105 [deleted] + 15 [removed] bodies
    assert frame["created_at"].str.startswith("2005-12").all()
    replies = frame[frame["parent_id"] != ""]
    assert (replies["depth"] > 0).sum() == 329 - 15  # the 15 orphans sit at the top level
    assert {"score", "subreddit", "ups", "retrieved_on"} <= set(frame.columns)
