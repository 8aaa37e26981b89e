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
