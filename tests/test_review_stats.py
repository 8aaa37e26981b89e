"""Statistics for the dashboard's Stats page: decisions over time and per moderator, score
histograms and flagged share per source, on SQLite and PostgreSQL, against planted decisions
and against the same figures computed from the comments table with pandas.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from moderation import review
from moderation.errors import StoreError
from moderation.review import (
    User,
    decide,
    decisions_over_time,
    decisions_per_moderator,
    flagged_share_by_source,
    score_histogram,
)
from moderation.store import comments, ingest_files, open_store

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo_comments.jsonl"
ALICE = User("alice", "moderator")
BOB = User("bob", "moderator")


def _version(store, comment_id: str) -> int:
    return int(store.read(sa.select(comments.c.version).where(comments.c.comment_id == comment_id)).iat[0, 0])


def test_empty_store_has_empty_decision_stats(db_url: str) -> None:
    store = open_store(db_url)
    assert decisions_over_time(store).empty
    assert decisions_per_moderator(store).empty
    assert flagged_share_by_source(store).empty
    assert score_histogram(store)["n"].sum() == 0
    store.close()


def test_decisions_are_counted_per_day_action_and_moderator(store, monkeypatch: pytest.MonkeyPatch) -> None:
    planted = [  # (day, moderator, comment, action)
        ("2026-03-01", ALICE, "s1", "approve"),
        ("2026-03-01", ALICE, "s3", "reject"),
        ("2026-03-01", BOB, "s5", "reject"),
        ("2026-03-02", ALICE, "s7", "escalate"),
        ("2026-03-02", BOB, "s3", "restore"),
        ("2026-03-04", BOB, "t5", "approve"),
    ]
    for day, user, comment_id, action in planted:
        monkeypatch.setattr(review, "utc_now", lambda day=day: f"{day}T12:00:00.000000Z")
        decide(store, user, comment_id, action=action, expected_version=_version(store, comment_id))

    over_time = decisions_over_time(store)
    assert over_time[["day", "action", "n"]].values.tolist() == [
        ["2026-03-01", "approved", 1],
        ["2026-03-01", "rejected", 2],
        ["2026-03-02", "escalated", 1],
        ["2026-03-02", "restored", 1],
        ["2026-03-04", "approved", 1],
    ]
    per_moderator = decisions_per_moderator(store)
    assert per_moderator[["moderator", "action", "n"]].values.tolist() == [
        ["alice", "approved", 1],
        ["alice", "escalated", 1],
        ["alice", "rejected", 1],
        ["bob", "approved", 1],
        ["bob", "rejected", 1],
        ["bob", "restored", 1],
    ]


@pytest.mark.parametrize("bins", [1, 7, 20])
def test_score_histogram_matches_numpy_on_the_stored_scores(store, bins: int) -> None:
    stored = store.read(sa.select(comments.c.insult_score, comments.c.troll_score))
    histogram = score_histogram(store, bins=bins)
    assert len(histogram) == 2 * bins
    edges = np.array([i / bins for i in range(bins + 1)])
    for label in ("insult", "troll"):
        rows = histogram[histogram["label"] == label]
        expected, _ = np.histogram(stored[f"{label}_score"].to_numpy(), bins=edges)
        assert rows["n"].tolist() == expected.tolist()
        assert rows["bin_start"].tolist() == pytest.approx(edges[:-1].tolist())
        assert rows["n"].sum() == len(stored)


def test_score_histogram_refuses_a_silly_bin_count(store) -> None:
    with pytest.raises(StoreError, match="bins"):
        score_histogram(store, bins=0)


def test_flagged_share_by_source_matches_the_comments_table(store, model, tmp_path: Path) -> None:
    calm = tmp_path / "calm.jsonl"
    calm.write_text(
        "".join(
            json.dumps(
                {"id": f"calm{i}", "thread_id": "garden", "text": f"Lovely tomatoes this year, row {i}."}
            )
            + "\n"
            for i in range(4)
        ),
        encoding="utf-8",
    )
    ingest_files(store, [calm], model=model, rejects_path=tmp_path / "r.jsonl")
    shares = flagged_share_by_source(store)
    assert len(shares) == 2
    stored = store.read(sa.select(comments.c.comment_id, comments.c.flag))
    demo_ids = {json.loads(line)["id"] for line in DEMO.read_text().splitlines() if line.strip()}
    demo = stored[stored["comment_id"].isin(demo_ids)]
    by_source = shares.set_index(shares["source"].map(lambda p: Path(p).name))
    assert by_source.loc["demo_comments.jsonl", "n_comments"] == len(demo)
    assert by_source.loc["demo_comments.jsonl", "n_flagged"] == int((demo["flag"] != "").sum())
    assert by_source.loc["calm.jsonl", "n_comments"] == 4
    assert by_source.loc["calm.jsonl", "flagged_share"] == pytest.approx(
        (stored[stored["comment_id"].str.startswith("calm")]["flag"] != "").mean()
    )
    assert shares["flagged_share"].is_monotonic_decreasing


def test_scored_model_versions_lists_the_versions_behind_current_scores(store, model) -> None:
    assert review.scored_model_versions(store) == [model.version]


# --- the threshold slider of the Models page: precision and recall on the moderators' labels ------


def test_threshold_preview_counts_the_moderators_labels_at_a_threshold(store) -> None:
    stored = store.read(sa.select(comments.c.comment_id, comments.c.insult_score))
    ranked = stored.sort_values("insult_score", ascending=False, kind="stable")["comment_id"].tolist()
    score = dict(zip(stored["comment_id"], stored["insult_score"], strict=True))
    planted = {  # rank by insult score -> the moderator's label
        0: "yes",
        1: "no",  # flagged but not an insult: a false positive
        2: "no",
        3: "yes",
        4: "unsure",  # neither yes nor no: not counted
        20: "yes",  # an insult the threshold misses
        25: "no",
        26: "no",
    }
    for rank, value in planted.items():
        comment_id = ranked[rank]
        review.relabel(
            store,
            ALICE,
            comment_id,
            label="insult",
            value=value,
            expected_version=_version(store, comment_id),
        )
    threshold = score[ranked[3]]
    assert score[ranked[20]] < threshold <= score[ranked[2]]  # the demo scores keep the planted order

    labelled = review.labelled_scores(store, label="insult")
    counted = {ranked[rank]: value for rank, value in planted.items() if value != "unsure"}
    assert labelled["comment_id"].tolist() == sorted(counted)
    assert labelled["y"].tolist() == [int(counted[c] == "yes") for c in sorted(counted)]
    assert labelled["score"].tolist() == [score[c] for c in sorted(counted)]
    assert review.labelled_scores(store, label="troll").empty

    preview = review.threshold_preview(store, label="insult", threshold=threshold)
    assert preview["n_labelled"] == 7 and preview["positives"] == 3
    assert (preview["true_positives"], preview["false_positives"]) == (2, 2)
    assert preview["precision"] == pytest.approx(2 / 4)
    assert preview["recall"] == pytest.approx(2 / 3)
    assert preview["would_flag"] == int((stored["insult_score"] >= threshold).sum())

    above_all = review.threshold_preview(store, label="insult", threshold=1.0)
    assert above_all["precision"] is None and above_all["recall"] == 0.0
    assert above_all["would_flag"] == int((stored["insult_score"] >= 1.0).sum())


def test_threshold_preview_without_labels_and_with_bad_input(store) -> None:
    preview = review.threshold_preview(store, label="troll", threshold=0.0)
    assert preview["n_labelled"] == 0
    assert preview["precision"] is None and preview["recall"] is None
    assert preview["would_flag"] == len(store.read(sa.select(comments.c.comment_id)))
    with pytest.raises(StoreError, match="unknown label"):
        review.labelled_scores(store, label="spam")
    with pytest.raises(StoreError, match="not a probability"):
        review.threshold_preview(store, label="insult", threshold=1.5)
