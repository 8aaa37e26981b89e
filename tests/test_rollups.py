"""Thread and author risk on hand-built frames whose answers are worked out by hand."""

from __future__ import annotations

import pandas as pd
import pytest

from moderation import config
from moderation.errors import InputError
from moderation.rollups import AUTHOR_COLUMNS, THREAD_COLUMNS, author_risk, thread_risk


def _rows() -> pd.DataFrame:
    # thread a: one hostile comment among four; thread b: a sustained pile-on of three.
    return pd.DataFrame(
        [
            ("a1", "a", "ann", 0.9, 0.1, "insult"),
            ("a2", "a", "bob", 0.1, 0.2, ""),
            ("a3", "a", "cat", 0.2, 0.1, ""),
            ("a4", "a", "ann", 0.0, 0.0, ""),
            ("b1", "b", "bob", 0.6, 0.7, "insult,troll"),
            ("b2", "b", "bob", 0.3, 0.8, "troll"),
            ("b3", "b", "", 0.7, 0.2, "insult"),
            ("c1", "c", "cat", 0.05, 0.05, ""),
        ],
        columns=["comment_id", "thread_id", "author", "insult_score", "troll_score", "flag"],
    )


def test_thread_figures_match_the_hand_computed_values() -> None:
    threads = thread_risk(_rows()).set_index("thread_id")
    assert list(threads.reset_index().columns) == list(THREAD_COLUMNS)
    a = threads.loc["a"]
    assert (a.n_comments, a.n_flagged, a.n_insult, a.n_troll) == (4, 1, 1, 0)
    assert a.flagged_share == pytest.approx(0.25)
    assert (a.max_insult, a.max_troll) == (pytest.approx(0.9), pytest.approx(0.2))
    assert a.top_insult == pytest.approx((0.9 + 0.2 + 0.1) / 3)
    assert a.top_troll == pytest.approx((0.2 + 0.1 + 0.1) / 3)
    # hostilities 0.9, 0.2, 0.2, 0.0 -> worst 0.9, top-3 mean 1.3 / 3
    assert a.worst == pytest.approx(0.9)
    assert a.top_k == pytest.approx(1.3 / 3)
    assert a.risk == pytest.approx(0.4 * 0.9 + 0.4 * 1.3 / 3 + 0.2 * 0.25)
    assert a.worst_comment_id == "a1"
    b = threads.loc["b"]
    assert (b.n_comments, b.n_flagged, b.n_insult, b.n_troll) == (3, 3, 2, 2)
    assert b.top_k == pytest.approx((0.7 + 0.8 + 0.7) / 3)
    assert b.risk == pytest.approx(0.4 * 0.8 + 0.4 * 2.2 / 3 + 0.2 * 1.0)
    assert b.worst_comment_id == "b2"
    c = threads.loc["c"]
    assert c.top_k == pytest.approx(0.05)  # fewer than k comments: the mean of all of them
    assert c.risk == pytest.approx(0.4 * 0.05 + 0.4 * 0.05)


def test_threads_come_out_riskiest_first_and_ties_keep_input_order() -> None:
    assert thread_risk(_rows())["thread_id"].tolist() == ["b", "a", "c"]
    tie = pd.DataFrame(
        {"thread_id": ["y", "x"], "insult_score": [0.5, 0.5], "troll_score": [0.0, 0.0], "flag": ["", ""]}
    )
    out = thread_risk(tie)
    assert out["thread_id"].tolist() == ["y", "x"]
    assert out["worst_comment_id"].tolist() == ["", ""]  # no comment_id column given


def test_worst_comment_on_a_tie_is_the_first_row() -> None:
    rows = _rows()
    rows.loc[rows.comment_id == "a3", "insult_score"] = 0.9
    assert thread_risk(rows).set_index("thread_id").loc["a", "worst_comment_id"] == "a1"


def test_author_figures_match_the_hand_computed_values() -> None:
    authors = author_risk(_rows()).set_index("author")
    assert list(authors.reset_index().columns) == list(AUTHOR_COLUMNS)
    assert "" not in authors.index  # rows without an author are nobody's
    bob = authors.loc["bob"]
    assert (bob.n_comments, bob.n_threads, bob.n_flagged, bob.n_flagged_threads) == (3, 2, 2, 1)
    assert bob.flagged_share == pytest.approx(2 / 3)
    assert bob.top_troll == pytest.approx((0.8 + 0.7 + 0.2) / 3)
    w = config.AUTHOR_TROLL_WEIGHTS
    expected = w["top_k_troll"] * 1.7 / 3 + w["flagged_share"] * 2 / 3 + w["flagged_threads"] * (1 / 5)
    assert bob.troll_risk == pytest.approx(expected)
    ann = authors.loc["ann"]
    assert (ann.n_comments, ann.n_threads, ann.n_flagged, ann.n_flagged_threads) == (2, 1, 1, 1)
    assert ann.max_insult == pytest.approx(0.9)
    cat = authors.loc["cat"]
    assert (cat.n_comments, cat.n_threads, cat.n_flagged) == (2, 2, 0)
    assert author_risk(_rows())["author"].tolist()[0] == "bob"


def test_flagged_threads_are_capped() -> None:
    rows = pd.DataFrame(
        {
            "thread_id": [f"t{i}" for i in range(8)],
            "author": ["troll"] * 8,
            "insult_score": [0.0] * 8,
            "troll_score": [0.9] * 8,
            "flag": ["troll"] * 8,
        }
    )
    troll = author_risk(rows).iloc[0]
    assert troll.n_flagged_threads == 8
    assert troll.troll_risk == pytest.approx(0.5 * 0.9 + 0.25 * 1.0 + 0.25 * 1.0)


def test_categorical_columns_from_the_batch_scorer_give_the_same_answer() -> None:
    rows = _rows()
    compact = rows.copy()
    for column in ("thread_id", "author", "flag"):
        compact[column] = compact[column].astype("category")
    compact["insult_score"] = compact["insult_score"].astype("float32")
    pd.testing.assert_frame_equal(
        thread_risk(rows), thread_risk(compact), check_dtype=False, check_exact=False, atol=1e-6
    )
    pd.testing.assert_frame_equal(
        author_risk(rows), author_risk(compact), check_dtype=False, check_exact=False, atol=1e-6
    )


def test_empty_input_gives_empty_roll_ups_with_the_columns() -> None:
    empty = _rows().iloc[0:0]
    assert list(thread_risk(empty).columns) == list(THREAD_COLUMNS)
    assert len(author_risk(empty)) == 0


def test_top_k_is_configurable_and_checked() -> None:
    a = thread_risk(_rows(), top_k=1).set_index("thread_id").loc["a"]
    assert a.top_k == pytest.approx(0.9)
    with pytest.raises(InputError, match="top_k"):
        thread_risk(_rows(), top_k=0)


def test_missing_columns_name_what_is_missing() -> None:
    with pytest.raises(InputError, match="troll_score"):
        thread_risk(_rows().drop(columns=["troll_score"]))
    with pytest.raises(InputError, match="author"):
        author_risk(_rows().drop(columns=["author"]))
