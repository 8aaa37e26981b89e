"""Thread rebuilding: depth, inherited threads, orphans and cycles."""

from __future__ import annotations

import pandas as pd

from moderation.ingest.threads import ThreadTracker, rebuild_threads
from moderation.schema import canonical_frame


def _frame(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    return canonical_frame(
        [{"comment_id": c, "parent_id": p, "thread_id": t, "text": c} for c, p, t in rows]
    )


def test_depth_and_thread_are_filled_from_parents_in_any_order() -> None:
    frame, report = rebuild_threads(
        _frame([("c3", "c2", ""), ("c1", "", "article-1"), ("c2", "c1", ""), ("c4", "", "")])
    )
    by_id = frame.set_index("comment_id")
    assert by_id.loc["c1", "depth"] == 0
    assert by_id.loc["c2", "depth"] == 1
    assert by_id.loc["c3", "depth"] == 2
    assert by_id.loc["c3", "thread_id"] == "article-1"
    assert by_id.loc["c4", "thread_id"] == "c4"
    assert report.orphans == 0 and report.cycles_broken == 0


def test_orphans_stay_at_the_top_level_and_are_counted() -> None:
    frame, report = rebuild_threads(_frame([("c1", "gone", "t"), ("c2", "c1", "t")]))
    by_id = frame.set_index("comment_id")
    assert by_id.loc["c1", "depth"] == 0
    assert by_id.loc["c1", "parent_id"] == "gone"
    assert by_id.loc["c2", "depth"] == 1
    assert report.orphans == 1


def test_cycles_are_broken_at_the_first_comment_in_the_file() -> None:
    frame, report = rebuild_threads(
        _frame([("a", "c", "t"), ("b", "a", "t"), ("c", "b", "t"), ("d", "d", "t"), ("e", "b", "t")])
    )
    by_id = frame.set_index("comment_id")
    assert report.cycles_broken == 1  # a self-reply counts as an orphan, not a cycle
    assert by_id.loc["a", "parent_id"] == "" and by_id.loc["a", "depth"] == 0
    assert by_id.loc["b", "depth"] == 1 and by_id.loc["c", "depth"] == 2
    assert by_id.loc["e", "depth"] == 2
    assert by_id.loc["d", "depth"] == 0


def test_streaming_tracker_uses_parents_seen_in_earlier_frames() -> None:
    tracker = ThreadTracker()
    top = _frame([("p", "", "t1")])
    top.attrs["threaded"] = True  # the source has a parent column, even if this frame has no reply
    first = tracker.assign(top)
    second = tracker.assign(_frame([("r", "p", ""), ("x", "missing", "")]))
    assert first["depth"].tolist() == [0]
    assert second["depth"].tolist() == [1, 0]
    assert second["thread_id"].tolist() == ["t1", "missing"]
    assert tracker.report.orphans == 1
