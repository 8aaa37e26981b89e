"""The review workflow on SQLite and PostgreSQL: queues, relabels and decisions with their history,
conflicts, undo, roles and users, bulk operations (all or none, even under SIGKILL), export, and
8 processes changing the same comments at once.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from moderation import config
from moderation.errors import ConflictError, PermissionDeniedError, StoreError
from moderation.registry import load_model
from moderation.review import (
    Change,
    User,
    add_note,
    add_user,
    apply_changes,
    authenticate,
    author_comments,
    closest_to_threshold,
    comment,
    decide,
    export,
    flagged_threads,
    get_user,
    model_thresholds,
    moderator_labels,
    near_threshold,
    promote_model,
    relabel,
    thread_comments,
    undo,
    unreviewed_comments,
)
from moderation.rollups import thread_risk
from moderation.store import (
    audit_log,
    comments,
    decisions,
    ingest_files,
    labels,
    open_store,
    replay_state,
    rescore,
    users,
)

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo_comments.jsonl"
ALICE = User("alice", "moderator")
BOB = User("bob", "moderator")


def _dump(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def _version(store, comment_id: str) -> int:
    return int(comment(store, comment_id)["version"])


def _state_matches_log(store) -> None:
    replayed = replay_state(store).set_index("comment_id").sort_index()
    stored = (
        store.read(sa.select(comments.c.comment_id, comments.c.insult_label, comments.c.troll_label,
                             comments.c.decision, comments.c.note))
        .set_index("comment_id")
        .loc[replayed.index]
        .sort_index()
    )  # fmt: skip
    pd.testing.assert_frame_equal(replayed, stored, check_dtype=False)


def test_flagged_threads_come_riskiest_first_with_their_worst_comment(store) -> None:
    rows = store.read(sa.select(comments))
    expected = thread_risk(rows)
    expected = expected[expected["n_flagged"] > 0]
    queue = flagged_threads(store)
    assert queue["thread_id"].tolist() == expected["thread_id"].tolist()
    assert queue["risk"].tolist() == pytest.approx(expected["risk"].tolist())
    assert queue["risk"].is_monotonic_decreasing
    top = queue.iloc[0]
    worst = rows.set_index("comment_id").loc[top["worst_comment_id"]]
    assert top["worst_text"] == worst["text"] and top["worst_author"] == worst["author"]
    # Paging: the second page starts where the first ends.
    assert flagged_threads(store, limit=1, offset=1)["thread_id"].tolist() == queue["thread_id"].tolist()[1:2]


def test_queue_filters(store) -> None:
    rows = store.read(sa.select(comments))
    author = rows.loc[rows["flag"] != "", "author"].iloc[0]
    by_author = flagged_threads(store, author=author)
    assert set(by_author["thread_id"]) == set(rows.loc[rows["author"] == author, "thread_id"]) & set(
        flagged_threads(store)["thread_id"]
    )
    insult_threads = set(rows.loc[rows["flag"].str.contains("insult"), "thread_id"])
    assert set(flagged_threads(store, label="insult")["thread_id"]) == insult_threads
    word = "moron"
    assert set(flagged_threads(store, search=word.upper())["thread_id"]) == set(
        rows.loc[rows["text"].str.lower().str.contains(word), "thread_id"]
    ) & set(flagged_threads(store)["thread_id"])
    high = flagged_threads(store, label="insult", min_score=0.9)
    assert set(high["thread_id"]) == set(rows.loc[rows["insult_score"] >= 0.9, "thread_id"]) & insult_threads
    assert flagged_threads(store, status="decided").empty  # nothing is decided yet
    with pytest.raises(StoreError, match="unknown status"):
        flagged_threads(store, status="maybe")
    with pytest.raises(StoreError, match="page size"):
        flagged_threads(store, limit=10**9)


def test_thread_comments_come_in_tree_order(store) -> None:
    thread_id = flagged_threads(store).iloc[0]["thread_id"]
    tree = thread_comments(store, thread_id)
    position = {cid: i for i, cid in enumerate(tree["comment_id"])}
    depth = dict(zip(tree["comment_id"], tree["tree_depth"], strict=True))
    for cid, parent in zip(tree["comment_id"], tree["parent_id"], strict=True):
        if parent:
            assert position[parent] < position[cid]  # a reply comes after its parent
            assert depth[cid] == depth[parent] + 1
        else:
            assert depth[cid] == 0
    assert tree["title"].iloc[0] != ""


def test_relabel_and_decide_record_who_when_before_after_and_the_model(store) -> None:
    target = unreviewed_comments(store).iloc[0]
    cid, version = target["comment_id"], int(target["version"])
    v2 = relabel(
        store, ALICE, cid, label="insult", value="yes", expected_version=version, note="name-calling"
    )
    v3 = decide(store, ALICE, cid, action="reject", expected_version=v2)
    assert (v2, v3) == (version + 1, version + 2)
    row = comment(store, cid)
    assert (row["insult_label"], row["decision"], row["updated_by"]) == ("yes", "rejected", "alice")
    log = store.read(sa.select(audit_log).where(audit_log.c.comment_id == cid).order_by(audit_log.c.event_id))
    assert log[["actor", "action", "field", "before", "after"]].values.tolist() == [
        ["alice", "relabel", "insult_label", "", "yes"],
        ["alice", "decide", "decision", "", "rejected"],
    ]
    assert set(log["model_version"]) == {target["model_version"]}
    assert log["at"].is_monotonic_increasing and log["at"].str.endswith("Z").all()
    assert store.read(sa.select(labels.c.note))["note"].tolist() == ["name-calling"]
    assert store.read(sa.select(decisions.c.action))["action"].tolist() == ["rejected"]
    assert cid not in set(unreviewed_comments(store)["comment_id"])
    _state_matches_log(store)


def test_a_stale_change_is_refused_naming_who_changed_the_comment(store) -> None:
    cid = unreviewed_comments(store).iloc[0]["comment_id"]
    loaded = _version(store, cid)
    decide(store, ALICE, cid, action="approve", expected_version=loaded)
    with pytest.raises(ConflictError, match="changed by alice") as error:
        decide(store, BOB, cid, action="reject", expected_version=loaded)
    assert error.value.changed_by == "alice"
    assert comment(store, cid)["decision"] == "approved"  # alice's decision stands
    conflict = store.read(sa.select(audit_log).where(audit_log.c.action == "conflict"))
    assert conflict[["actor", "comment_id", "after"]].values.tolist() == [["bob", cid, "reject"]]
    _state_matches_log(store)


def test_undo_reverts_the_users_own_last_change(store) -> None:
    cid = unreviewed_comments(store).iloc[0]["comment_id"]
    v = relabel(store, ALICE, cid, label="troll", value="yes", expected_version=_version(store, cid))
    v = decide(store, ALICE, cid, action="reject", expected_version=v)
    v = undo(store, ALICE, cid, expected_version=v)
    assert comment(store, cid)["decision"] == "" and comment(store, cid)["troll_label"] == "yes"
    v = undo(store, ALICE, cid, expected_version=v)
    assert comment(store, cid)["troll_label"] == ""
    assert undo(store, ALICE, cid, expected_version=v) is None  # nothing of alice's is left
    assert undo(store, BOB, cid, expected_version=v) is None  # bob never changed it
    _state_matches_log(store)


def test_only_a_rejected_comment_can_be_restored(store) -> None:
    cid = unreviewed_comments(store).iloc[0]["comment_id"]
    with pytest.raises(StoreError, match="not rejected"):
        decide(store, ALICE, cid, action="restore", expected_version=_version(store, cid))
    v = decide(store, ALICE, cid, action="reject", expected_version=_version(store, cid))
    decide(store, BOB, cid, action="restore", expected_version=v)
    assert comment(store, cid)["decision"] == "restored"
    with pytest.raises(StoreError, match="not a label value"):
        relabel(store, ALICE, cid, label="insult", value="maybe", expected_version=_version(store, cid))


def test_bulk_changes_are_all_or_nothing(store) -> None:
    rows = unreviewed_comments(store, limit=5)
    changes = [Change(r.comment_id, "decision", "reject", int(r.version)) for r in rows.itertuples()]
    # Someone else changes the last one first: the whole bulk action is refused.
    last = rows.iloc[-1]
    add_note(store, BOB, last["comment_id"], note="looking at it", expected_version=int(last["version"]))
    with pytest.raises(ConflictError, match="bob"):
        apply_changes(store, ALICE, changes)
    assert (store.read(sa.select(comments.c.decision))["decision"] == "").all()
    assert store.read(sa.select(decisions)).empty
    fresh = [Change(c.comment_id, c.field, c.value, _version(store, c.comment_id)) for c in changes]
    versions = apply_changes(store, ALICE, fresh)
    assert len(versions) == 5
    assert (store.read(sa.select(comments.c.decision))["decision"] == "rejected").sum() == 5
    assert flagged_threads(store, status="unreviewed")["n_unreviewed"].sum() == len(
        unreviewed_comments(store)
    )


def test_roles_are_enforced_in_the_workflow(store, tmp_path: Path) -> None:
    with pytest.raises(PermissionDeniedError, match="cannot promote a model"):
        promote_model(store, ALICE, "anything", models_dir=tmp_path)
    with pytest.raises(PermissionDeniedError, match="cannot add users"):
        add_user(store, name="eve", password="long enough pw", role="admin", actor=ALICE)
    with pytest.raises(PermissionDeniedError, match="no user 'eve'"):
        get_user(store, "eve")  # the refused add left nothing behind
    with pytest.raises(sa.exc.DatabaseError, match="append-only"), store.transaction() as conn:
        conn.execute(sa.delete(audit_log))  # not even through SQL


def test_users_have_argon2_hashes_and_authenticate(store) -> None:
    add_user(store, name="carol", password="correct horse battery", role="admin")
    add_user(
        store, name="dave", password="another long one", role="moderator", actor=get_user(store, "carol")
    )
    stored = store.read(sa.select(users)).set_index("name")
    assert stored.loc["carol", "password_hash"].startswith("$argon2")
    assert "correct horse" not in stored.to_csv()
    assert authenticate(store, "carol", "correct horse battery") == User("carol", "admin")
    assert authenticate(store, "dave", "another long one") == User("dave", "moderator")
    for name, password in (("carol", "wrong password"), ("nobody", "correct horse battery")):
        with pytest.raises(PermissionDeniedError, match="wrong user name or password"):
            authenticate(store, name, password)
    with pytest.raises(StoreError, match="shorter"):
        add_user(store, name="erin", password="short", role="moderator")
    with pytest.raises(StoreError, match="not a valid user name"):
        add_user(store, name="'; DROP TABLE users; --", password="long enough pw", role="moderator")


def test_an_unknown_user_name_costs_a_password_check_too(store, monkeypatch) -> None:
    # Refusing an unknown name at once would let the response time tell which names exist.
    from argon2 import PasswordHasher

    checked = []
    verify = PasswordHasher.verify
    monkeypatch.setattr(PasswordHasher, "verify", lambda self, h, p: checked.append(h) or verify(self, h, p))
    add_user(store, name="carol", password="correct horse battery", role="admin")
    for name in ("carol", "nobody"):
        with pytest.raises(PermissionDeniedError, match="wrong user name or password"):
            authenticate(store, name, "wrong password")
    assert len(checked) == 2 and all(h.startswith("$argon2") for h in checked)
    # The stand-in hash matches no password, the real one's included.
    with pytest.raises(PermissionDeniedError):
        authenticate(store, "nobody", "correct horse battery")


def test_export_neutralises_formulas_in_csv(store, tmp_path: Path) -> None:
    cid = unreviewed_comments(store).iloc[0]["comment_id"]
    formula = '=HYPERLINK("http://evil.example","click")'
    relabel(
        store, ALICE, cid, label="insult", value="yes", expected_version=_version(store, cid), note=formula
    )
    for what in ("labels", "audit"):
        out = tmp_path / f"{what}.csv"
        assert export(store, what, out) >= 1
        cells = [cell for row in csv.reader(out.open(encoding="utf-8")) for cell in row]
        assert formula not in cells and "'" + formula in cells
    parquet = tmp_path / "labels.parquet"
    export(store, "labels", parquet)
    assert pd.read_parquet(parquet)["note"].tolist() == [formula]  # Parquet keeps the value as it is
    with pytest.raises(StoreError, match="cannot export"):
        export(store, "users", tmp_path / "u.csv")


def test_near_threshold_spreads_across_threads(store) -> None:
    queue = near_threshold(store, limit=100)
    assert queue["distance"].is_monotonic_increasing
    assert queue.groupby("thread_id").size().max() <= config.NEAR_THRESHOLD_PER_THREAD
    assert set(queue["thread_id"]) == set(store.read(sa.select(comments.c.thread_id))["thread_id"])
    one = near_threshold(store, limit=100, per_thread=1)
    assert one["thread_id"].is_unique


def test_near_threshold_takes_the_closest_comments_of_each_thread(store) -> None:
    first, second = unreviewed_comments(store, limit=2)["comment_id"]
    relabel(store, ALICE, first, label="troll", value="no", expected_version=_version(store, first))
    decide(store, ALICE, second, action="approve", expected_version=_version(store, second))
    open_rows = store.read(
        sa.select(comments).where(
            comments.c.decision == "", comments.c.insult_label == "", comments.c.troll_label == ""
        )
    )
    open_rows = open_rows.sort_values("comment_id").reset_index(drop=True)  # ties go by comment_id
    assert len(open_rows) == 28  # the 30 demo comments, less the labelled and the decided one
    thresholds = model_thresholds(store)
    insult = (open_rows["insult_score"] - thresholds["insult"]).abs().to_numpy()
    troll = (open_rows["troll_score"] - thresholds["troll"]).abs().to_numpy()
    # The queue (SQL) is closest_to_threshold (numpy) over the same open rows, two per thread.
    for label, distance in (("insult", insult), ("troll", troll), (None, np.minimum(insult, troll))):
        closest = closest_to_threshold(distance, 0.0, groups=open_rows["thread_id"], size=100, per_group=2)
        queue = near_threshold(store, label=label, limit=100)
        assert queue["comment_id"].tolist() == open_rows["comment_id"].to_numpy()[closest].tolist()
        assert np.allclose(queue["distance"], distance[closest])
        page = near_threshold(store, label=label, limit=3, offset=2)
        assert page["comment_id"].tolist() == queue["comment_id"].tolist()[2:5]


def test_one_thread_of_near_threshold_comments_cannot_fill_the_queue(store) -> None:
    rows = store.read(sa.select(comments.c.comment_id, comments.c.thread_id))
    busiest = rows["thread_id"].value_counts().index[0]
    at_threshold = model_thresholds(store)["insult"]
    with store.transaction() as conn:  # every comment of one thread sits exactly on the threshold
        conn.execute(
            sa.update(comments).where(comments.c.thread_id == busiest).values(insult_score=at_threshold)
        )
    page = near_threshold(store, label="insult", limit=5)
    assert len(page) == 5
    assert page["thread_id"].tolist()[:2] == [busiest, busiest]  # the two closest of all come first
    assert (page["thread_id"] == busiest).sum() == config.NEAR_THRESHOLD_PER_THREAD
    assert page["distance"].iloc[2] > 0
    uncapped = near_threshold(store, label="insult", limit=5, per_thread=100)
    assert (uncapped["thread_id"] == busiest).all()  # without the cap it would have filled the page


def test_the_default_thresholds_are_those_of_the_model_behind_most_current_scores(
    db_url: str, model, tmp_path: Path
) -> None:
    strict = load_model()
    strict.version = "strict-for-test"
    strict.card = {**strict.card, "version": strict.version, "thresholds": {"insult": 0.91, "troll": 0.92}}
    store = open_store(db_url)
    assert model_thresholds(store) == config.DEFAULT_THRESHOLDS  # nothing scored yet
    few = [{"id": f"f{i}", "thread_id": "t1", "text": f"first dump {i}"} for i in range(2)]
    many = [{"id": f"m{i}", "thread_id": "t2", "text": f"second dump {i}"} for i in range(5)]
    ingest_files(store, [_dump(tmp_path / "few.jsonl", few)], model=model, rejects_path=tmp_path / "r")
    assert model_thresholds(store) == {**config.DEFAULT_THRESHOLDS, **model.card["thresholds"]}
    ingest_files(store, [_dump(tmp_path / "many.jsonl", many)], model=strict, rejects_path=tmp_path / "r")
    assert model_thresholds(store) == {"insult": 0.91, "troll": 0.92}  # 5 comments against 2
    assert model_thresholds(store, model.version) == {**config.DEFAULT_THRESHOLDS, **model.card["thresholds"]}
    rescore(store, model=model)
    assert model_thresholds(store) == {**config.DEFAULT_THRESHOLDS, **model.card["thresholds"]}
    store.close()


def test_closest_to_threshold_takes_one_per_group_closest_first() -> None:
    # Binary fractions, so that equal distances are exactly equal.
    scores = [0.125, 0.5, 0.5625, 0.46875, 0.875, 0.4375, 0.515625]
    groups = ["a", "a", "a", "b", "c", "b", "d"]
    assert closest_to_threshold(scores, 0.5, groups=groups, size=3).tolist() == [1, 6, 3]
    assert closest_to_threshold(scores, 0.5, groups=groups, size=10).tolist() == [1, 6, 3, 4]
    two = closest_to_threshold(scores, 0.5, groups=groups, size=10, per_group=2)
    assert two.tolist() == [1, 6, 3, 2, 5, 4]
    # Ties in distance go by position; a missing group is a group of its own.
    assert closest_to_threshold([0.25, 0.75, 0.25], 0.5, groups=[None, "x", None], size=3).tolist() == [0, 1]
    assert closest_to_threshold(scores, 0.5, groups=groups, size=0).tolist() == []
    with pytest.raises(ValueError, match="one length"):
        closest_to_threshold(scores, 0.5, groups=groups[:3], size=2)
    with pytest.raises(ValueError, match="NaN"):
        closest_to_threshold([0.1, float("nan")], 0.5, groups=["a", "b"], size=2)
    with pytest.raises(ValueError, match="per_group"):
        closest_to_threshold(scores, 0.5, groups=groups, size=2, per_group=0)


def test_author_comments_cross_threads(store) -> None:
    rows = store.read(sa.select(comments))
    author = rows["author"].value_counts().index[0]
    mine = author_comments(store, author)
    assert sorted(mine["comment_id"]) == sorted(rows.loc[rows["author"] == author, "comment_id"])
    assert mine["title"].notna().all()


# --- many moderators at once, and a crash in the middle ---------------------------------------------

_WORKER = textwrap.dedent(
    """
    import json, random, sys
    from moderation.errors import ConflictError
    from moderation.review import comment, decide, get_user, relabel
    from moderation.store import open_store

    url, name, n, ids = sys.argv[1], sys.argv[2], int(sys.argv[3]), json.loads(sys.argv[4])
    rng = random.Random(name)
    store = open_store(url)
    user = get_user(store, name)
    landed = conflicts = 0
    for i in range(n):
        cid = rng.choice(ids)
        version = int(comment(store, cid)["version"])
        try:
            if rng.random() < 0.5:
                relabel(store, user, cid, label=rng.choice(["insult", "troll"]),
                        value=rng.choice(["yes", "no", "unsure"]), expected_version=version)
            else:
                decide(store, user, cid, action=rng.choice(["approve", "reject", "escalate"]),
                       expected_version=version)
            landed += 1
        except ConflictError:
            conflicts += 1
    print(json.dumps({"landed": landed, "conflicts": conflicts}))
    """
)


def _many_comments(path: Path, n: int, threads: int) -> Path:
    texts = [
        "You are an idiot.",
        "Thanks for the article.",
        "Nobody cares, troll.",
        "Good point about taxes.",
    ]
    rows = [
        {
            "id": f"c{i}",
            "thread_id": f"t{i % threads}",
            "author": f"u{i % 17}",
            "text": f"{texts[i % 4]} #{i}",
        }
        for i in range(n)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.mark.slow
def test_eight_processes_changing_the_same_comments_lose_nothing(db_url: str, model, tmp_path: Path) -> None:
    workers, per_worker = 8, 500
    store = open_store(db_url)
    ingest_files(
        store, [_many_comments(tmp_path / "d.jsonl", 100, 10)], model=model, rejects_path=tmp_path / "r"
    )
    ids = store.read(sa.select(comments.c.comment_id))["comment_id"].tolist()
    assert len(ids) == 100
    names = [f"mod{i}" for i in range(workers)]
    for name in names:
        add_user(store, name=name, password="a long password", role="moderator")
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, db_url, name, str(per_worker), json.dumps(ids)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in names
    ]
    results = {}
    for name, process in zip(names, processes, strict=True):
        out, err = process.communicate(timeout=600)
        assert process.returncode == 0, err
        results[name] = json.loads(out)
    log = store.read(sa.select(audit_log).where(audit_log.c.actor.in_(names)))
    # Every attempt is in the log: landed as a change, or refused as a conflict.
    assert len(log) == workers * per_worker
    for name in names:
        mine = log[log["actor"] == name]
        assert (mine["action"] != "conflict").sum() == results[name]["landed"]
        assert (mine["action"] == "conflict").sum() == results[name]["conflicts"]
    # No lost update: each comment's landed writes have versions 2, 3, ... with no gap or repeat.
    landed = log[log["action"] != "conflict"]
    final = store.read(sa.select(comments)).set_index("comment_id")
    for cid, events in landed.groupby("comment_id"):
        assert sorted(events["comment_version"]) == list(range(2, int(final.at[cid, "version"]) + 1))
        # The final state is the last successful write of each field.
        for field, by_field in events.sort_values("comment_version").groupby("field"):
            assert final.at[cid, field] == by_field["after"].iloc[-1]
    _state_matches_log(store)
    print(f"landed {len(landed)}, conflicts {len(log) - len(landed)} on {store.dialect}")
    store.close()


_BULK = textwrap.dedent(
    """
    import sys, time
    from moderation.review import Change, apply_changes, get_user
    from moderation.store import open_store
    import sqlalchemy as sa
    from moderation.store import comments

    store, linger = open_store(sys.argv[1]), sys.argv[2] == "linger"
    rows = store.read(sa.select(comments.c.comment_id, comments.c.version))
    changes = [Change(r.comment_id, "decision", "reject", int(r.version)) for r in rows.itertuples()]

    def progress(done):
        if done % 100 == 0:
            print(done, flush=True)
        if linger and done > len(changes) // 2:
            time.sleep(0.01)  # linger mid-way, so the kill lands inside the transaction

    apply_changes(store, get_user(store, "mod"), changes, on_progress=progress)
    print("committed", flush=True)
    """
)


@pytest.mark.slow
def test_a_bulk_action_killed_midway_leaves_all_or_nothing(db_url: str, model, tmp_path: Path) -> None:
    store = open_store(db_url)
    ingest_files(
        store, [_many_comments(tmp_path / "d.jsonl", 2000, 40)], model=model, rejects_path=tmp_path / "r"
    )
    add_user(store, name="mod", password="a long password", role="moderator")
    process = subprocess.Popen(
        [sys.executable, "-c", _BULK, db_url, "linger"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    for line in process.stdout:
        if line.strip().isdigit() and int(line) >= 1200:
            os.kill(process.pid, signal.SIGKILL)
            break
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL
    decided = store.read(sa.select(sa.func.count()).select_from(comments).where(comments.c.decision != ""))
    assert decided.iloc[0, 0] == 0  # killed before the commit: none of it
    assert store.read(sa.select(decisions)).empty
    assert store.read(sa.select(audit_log).where(audit_log.c.actor == "mod")).empty
    # And the same bulk action run to the end lands whole.
    done = subprocess.run(
        [sys.executable, "-c", _BULK, db_url, "straight"], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr
    decided = store.read(sa.select(sa.func.count()).select_from(comments).where(comments.c.decision != ""))
    assert decided.iloc[0, 0] == 2000
    assert len(store.read(sa.select(decisions))) == 2000
    store.close()


def test_moderator_labels_become_weighted_training_rows(store) -> None:
    from moderation.training import CORPUS_COLUMNS

    rows = unreviewed_comments(store, limit=3)
    a, b, c = (r for r in rows.itertuples())
    relabel(store, ALICE, a.comment_id, label="insult", value="yes", expected_version=int(a.version))
    relabel(store, ALICE, b.comment_id, label="troll", value="no", expected_version=int(b.version))
    relabel(store, ALICE, c.comment_id, label="insult", value="unsure", expected_version=int(c.version))
    training = moderator_labels(store, weight=2.5).set_index("comment_id")
    assert set(CORPUS_COLUMNS) <= {*training.columns, "comment_id"}
    assert sorted(training.index) == sorted([a.comment_id, b.comment_id])  # "unsure" teaches nothing
    assert training.loc[a.comment_id, "insult"] == 1.0 and pd.isna(training.loc[a.comment_id, "troll"])
    assert training.loc[b.comment_id, "troll"] == 0.0 and pd.isna(training.loc[b.comment_id, "insult"])
    assert (training["insult_weight"] == 2.5).all()
    assert training.loc[a.comment_id, "group"] == f"thread:{a.thread_id}"
    assert training.loc[a.comment_id, "text"] == a.text
