"""Statistics for the dashboard's Stats page: decisions over time and per moderator, score
histograms and flagged share per source, on SQLite and PostgreSQL, against planted decisions
and against the same figures computed from the comments table with pandas; and agreement
(Cohen's kappa between moderators, and between each moderator and the model, with overturn
counts) against labels planted here, with the expected figures computed from those labels.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from sklearn.metrics import cohen_kappa_score

from moderation import review
from moderation.errors import StoreError
from moderation.review import (
    ALL_MODERATORS,
    User,
    add_user,
    decide,
    decisions_over_time,
    decisions_per_moderator,
    disagreements,
    flagged_share_by_source,
    model_agreement,
    moderator_agreement,
    relabel,
    score_histogram,
    undo,
)
from moderation.store import comments, ingest_files, models, open_store

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


# --- agreement: moderators with each other and with the model ---------------------------------------

CAROL = User("carol", "moderator")


def _moderators(store) -> None:
    for user in (ALICE, BOB, CAROL):
        add_user(store, name=user.name, password="correct horse battery", role=user.role)


def _label(store, user: User, labels: dict[str, str], *, label: str = "insult") -> None:
    for comment_id, value in labels.items():
        relabel(
            store, user, comment_id, label=label, value=value, expected_version=_version(store, comment_id)
        )


def _flagged(store, label: str) -> tuple[list[str], list[str]]:
    """(flagged, not flagged) comment ids for ``label`` by the flag ingest stored, by id."""
    rows = store.read(sa.select(comments.c.comment_id, comments.c.flag).order_by(comments.c.comment_id))
    flagged = rows["flag"].str.split(",").map(lambda flags: label in flags)
    return rows.loc[flagged, "comment_id"].tolist(), rows.loc[~flagged, "comment_id"].tolist()


def _pair(frame, label: str, a: str, b: str) -> dict:
    rows = frame[(frame["label"] == label) & (frame["moderator_a"] == a) & (frame["moderator_b"] == b)]
    assert len(rows) == 1, frame
    return rows.iloc[0].to_dict()


def _kappa(first: dict[str, str], second: dict[str, str]) -> tuple[int, float, float]:
    """n, raw agreement and Cohen's kappa over the comments both dicts label."""
    common = sorted(set(first) & set(second))
    a, b = [first[c] for c in common], [second[c] for c in common]
    return len(common), sum(x == y for x, y in zip(a, b, strict=True)) / len(common), cohen_kappa_score(a, b)


def test_agreement_is_empty_without_yes_or_no_labels(store) -> None:
    for frame in (moderator_agreement(store), model_agreement(store), disagreements(store)):
        assert frame.empty
    assert list(moderator_agreement(store).columns) == [
        "label", "moderator_a", "moderator_b", "n", "agreement", "kappa", "note",
    ]  # fmt: skip
    _moderators(store)
    _label(store, ALICE, {"c1": "unsure", "c2": "unsure"})
    _label(store, BOB, {"c1": "unsure"})
    assert moderator_agreement(store).empty  # unsure is no label for agreement
    assert model_agreement(store).empty
    assert disagreements(store).empty


def test_pairs_count_only_the_comments_both_labelled(store) -> None:
    _moderators(store)
    alice = {
        "c1": "yes",
        "c2": "no",
        "c3": "yes",
        "c4": "no",
        "c5": "yes",
        "c6": "no",
        "s1": "yes",
        "s2": "no",
    }
    bob = {"c1": "yes", "c2": "no", "c3": "no", "c4": "no", "c5": "yes", "c6": "yes", "r1": "yes", "r2": "no"}
    carol = {"c1": "no", "c2": "no", "r1": "yes"}
    _label(store, ALICE, alice)
    _label(store, BOB, bob)
    _label(store, CAROL, carol)
    _label(store, BOB, {"c1": "yes", "s1": "no"}, label="troll")  # another label: its own rows

    pairs = moderator_agreement(store)
    assert sorted(zip(pairs["label"], pairs["moderator_a"], pairs["moderator_b"], strict=True)) == [
        ("insult", "alice", "bob"),
        ("insult", "alice", "carol"),
        ("insult", "bob", "carol"),
    ]
    n, agreement, kappa = _kappa(alice, bob)
    alice_bob = _pair(pairs, "insult", "alice", "bob")
    assert (alice_bob["n"], alice_bob["note"]) == (n, "")
    assert n == 6  # s1, s2 (only alice) and r1, r2 (only bob) are not in common
    assert alice_bob["agreement"] == pytest.approx(agreement)
    assert alice_bob["kappa"] == pytest.approx(kappa)
    # By hand: 4 of 6 alike; alice says yes to 3/6, bob to 3/6, so chance agreement is 1/2.
    assert alice_bob["kappa"] == pytest.approx((4 / 6 - 1 / 2) / (1 - 1 / 2))

    alice_carol = _pair(pairs, "insult", "alice", "carol")
    assert alice_carol["n"] == 2 and alice_carol["agreement"] == pytest.approx(0.5)
    assert math.isnan(alice_carol["kappa"]) and "only 2 in common" in alice_carol["note"]
    bob_carol = _pair(pairs, "insult", "bob", "carol")
    assert bob_carol["n"] == 3


def test_a_moderator_who_changes_their_mind_counts_once_with_the_latest_label(store) -> None:
    _moderators(store)
    alice = {"c1": "yes", "c2": "no", "c3": "yes", "c4": "no", "c5": "yes"}
    _label(store, ALICE, {"c1": "no", "c2": "yes", "c3": "no"})  # first thoughts
    _label(store, BOB, {"c1": "yes", "c2": "no", "c3": "no", "c4": "yes", "c5": "yes"})
    _label(store, ALICE, alice)  # after bob: the current column holds alice's values
    _label(store, BOB, {"c5": "no"})  # bob changes his mind on c5
    _label(store, BOB, {"c4": "unsure"})  # and is no longer sure of c4: he drops out of it
    bob = {"c1": "yes", "c2": "no", "c3": "no", "c5": "no"}
    # Alice labels c6 yes, then undoes it: an undone label does not count.
    _label(store, ALICE, {"c6": "yes"})
    undo(store, ALICE, "c6", expected_version=_version(store, "c6"))
    _label(store, BOB, {"c6": "no"})

    pair = _pair(moderator_agreement(store), "insult", "alice", "bob")
    n, agreement, _ = _kappa(alice, bob)
    assert (pair["n"], pair["agreement"]) == (n, pytest.approx(agreement))
    assert n == 4
    per_moderator = model_agreement(store).set_index(["moderator", "label"])
    assert per_moderator.loc[("alice", "insult"), "n"] == len(alice)
    assert per_moderator.loc[("bob", "insult"), "n"] == len(bob) + 1  # c6 too
    assert per_moderator.loc[(ALL_MODERATORS, "insult"), "n"] == len(alice) + len(bob) + 1


def test_model_agreement_counts_overturns_against_the_flag_the_moderator_saw(store) -> None:
    _moderators(store)
    flagged, clean = _flagged(store, "insult")
    assert len(flagged) >= 4 and len(clean) >= 4
    alice = {
        flagged[0]: "yes", flagged[1]: "no", flagged[2]: "no", flagged[3]: "yes",
        clean[0]: "no", clean[1]: "yes", clean[2]: "no", clean[3]: "no",
    }  # fmt: skip
    bob = {flagged[0]: "no", clean[0]: "no"}
    _label(store, ALICE, alice)
    _label(store, BOB, bob)
    model = {cid: "yes" if cid in flagged else "no" for cid in [*alice, *bob]}

    stats = model_agreement(store).set_index(["moderator", "label"])
    assert sorted(stats.index) == [(ALL_MODERATORS, "insult"), ("alice", "insult"), ("bob", "insult")]
    for name, said in (("alice", alice), ("bob", bob)):
        row = stats.loc[(name, "insult")]
        overturned = sum(v == "no" and model[c] == "yes" for c, v in said.items())
        missed = sum(v == "yes" and model[c] == "no" for c, v in said.items())
        assert (row["n"], row["n_flag_overturned"], row["n_flag_missed"]) == (len(said), overturned, missed)
        assert row["overturn_rate"] == pytest.approx((overturned + missed) / len(said))
    assert stats.loc[("alice", "insult"), ["n_flag_overturned", "n_flag_missed"]].tolist() == [2, 1]
    assert stats.loc[("alice", "insult"), "kappa"] == pytest.approx(
        cohen_kappa_score(list(alice.values()), [model[c] for c in alice])
    )
    assert math.isnan(stats.loc[("bob", "insult"), "kappa"])  # two labels: too few
    overall = stats.loc[(ALL_MODERATORS, "insult")]
    assert (overall["n"], overall["n_overturned"]) == (10, 2 + 1 + 1)
    pooled = [*alice.items(), *bob.items()]
    assert overall["kappa"] == pytest.approx(
        cohen_kappa_score([v for _, v in pooled], [model[c] for c, _ in pooled])
    )

    # The flag comes from the threshold in the card of the version that scored the comment:
    # with the insult threshold at 0 that version flags everything, so every "no" overturns it.
    version = str(store.read(sa.select(comments.c.model_version)).iat[0, 0])
    card = json.loads(store.read(sa.select(models.c.card).where(models.c.version == version)).iat[0, 0])
    card["thresholds"] = {**card.get("thresholds", {}), "insult": 0.0}
    with store.transaction() as conn:
        conn.execute(sa.update(models).where(models.c.version == version).values(card=json.dumps(card)))
    row = model_agreement(store).set_index(["moderator", "label"]).loc[("alice", "insult")]
    assert (row["n_flag_overturned"], row["n_flag_missed"]) == (list(alice.values()).count("no"), 0)


def test_a_constant_side_gives_no_kappa_and_says_why(store) -> None:
    _moderators(store)
    ids = ["c1", "c2", "c3", "c4", "c5", "c6"]
    _label(store, ALICE, dict.fromkeys(ids, "no"))
    _label(store, BOB, dict(zip(ids, ["yes", "no", "no", "yes", "no", "no"], strict=True)))
    pair = _pair(moderator_agreement(store), "insult", "alice", "bob")
    assert pair["n"] == 6 and pair["agreement"] == pytest.approx(4 / 6)
    assert math.isnan(pair["kappa"]) and pair["note"] == "alice said no to all 6"


def test_disagreements_list_who_said_yes_and_who_said_no(store) -> None:
    _moderators(store)
    _label(store, ALICE, {"c1": "yes", "c2": "no", "c3": "yes", "c4": "unsure"})
    _label(store, BOB, {"c1": "no", "c2": "no", "c3": "yes", "c4": "yes"})
    _label(store, CAROL, {"c1": "no", "c3": "no"})
    _label(store, ALICE, {"s1": "yes"}, label="troll")
    _label(store, BOB, {"s1": "no"}, label="troll")

    found = disagreements(store)
    assert found[["comment_id", "label", "said_yes", "said_no"]].values.tolist() == [
        ["s1", "troll", "alice", "bob"],  # most recently labelled first
        ["c3", "insult", "alice, bob", "carol"],
        ["c1", "insult", "alice", "bob, carol"],
    ]  # c2: all said no; c4: alice is unsure
    threads = dict(zip(found["comment_id"], found["thread_id"], strict=True))
    stored = store.read(sa.select(comments.c.comment_id, comments.c.thread_id, comments.c.text))
    assert threads == {
        c: t for c, t in zip(stored["comment_id"], stored["thread_id"], strict=True) if c in threads
    }
    assert found.set_index("comment_id").loc["c1", "text"] == stored.set_index("comment_id").loc["c1", "text"]
    assert disagreements(store, limit=1)["comment_id"].tolist() == ["s1"]
    with pytest.raises(StoreError, match="page size"):
        disagreements(store, limit=0)


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
