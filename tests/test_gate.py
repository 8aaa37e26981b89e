"""The promotion gate: both models compared on one evaluation set, the rule, refusal and --force."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from moderation import config, gate, registry
from moderation.classifier import ModerationModel
from moderation.errors import GateError, PermissionDeniedError
from moderation.review import User, promote_model
from moderation.store import audit_log
from moderation.training import CORPUS_COLUMNS, _fit_heads, complete_rows, heldout_mask

NOUNS = ("idiot", "moron", "clown", "fool", "loser", "imbecile", "halfwit", "dunce")
TOPICS = ("the bridge", "the budget", "the match", "the election", "the bus line", "the school", "rent")
RNG = np.random.default_rng(config.SEED)


def site_rows(n: int, *, threads: int) -> pd.DataFrame:
    """Moderators' labels: half insults ('you are a ...'), half plain remarks, in ``threads`` threads."""
    rows = []
    for i in range(n):
        noun, topic = NOUNS[i % len(NOUNS)], TOPICS[(i // 2) % len(TOPICS)]
        if i % 2:
            text, label = f"you are a {noun}, {RNG.integers(1000)} times over, forget {topic}", 1.0
        else:
            text, label = f"I read the piece on {topic} twice ({RNG.integers(1000)}), fair points", 0.0
        rows.append({"text": text, "insult": label, "troll": label, "group": f"thread:{i % threads}"})
    return complete_rows(pd.DataFrame(rows).assign(corpus="moderators"))


def fitted(version: str, frame: pd.DataFrame, *, flip: bool = False) -> ModerationModel:
    """A small real model of the shipped kind, trained on ``frame`` (labels flipped if asked)."""
    train = frame.copy()
    if flip:
        train[["insult", "troll"]] = 1.0 - train[["insult", "troll"]]
    model, _ = _fit_heads(train[list(CORPUS_COLUMNS)], params={"text_features": {"bits": 14}})
    for head in (model.insult_head, model.troll_head):
        del head.oof_proba_
    model.version = version
    model.thresholds = {"insult": 0.5, "troll": 0.5}
    model.card = {"version": version, "created_at": f"2026-11-25T00:00:0{len(version) % 10}Z"}
    return model


@pytest.fixture(scope="module")
def labels() -> pd.DataFrame:
    return site_rows(600, threads=120)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, labels: pd.DataFrame) -> Path:
    folder = tmp_path_factory.mktemp("models")
    train = labels[~heldout_mask(labels["group"])]
    for version, flip in (("good", False), ("good-again", False), ("bad", True)):
        registry.save_model(fitted(version, train, flip=flip), models_dir=folder)
    return folder


@pytest.fixture
def models_dir(tmp_path: Path, trained: Path) -> Path:
    """A registry of its own for each test: "good" active, "good-again" and "bad" candidates."""
    folder = tmp_path / "models"
    shutil.copytree(trained, folder)
    registry.promote("good", models_dir=folder)
    return folder


def table(*rows: tuple[str, int, int, float, float]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["split", "n", "positives", "auc_active", "auc_candidate"])
    frame["auc_change"] = frame["auc_candidate"] - frame["auc_active"]
    negatives = frame["n"] - frame["positives"]
    frame["gated"] = np.minimum(frame["positives"], negatives) >= config.GATE_MIN_CLASS_ROWS
    return frame


# --- the rule ------------------------------------------------------------------------------------------


def test_a_drop_within_the_tolerance_passes_and_beyond_it_fails() -> None:
    small = config.GATE_SPLIT_TOLERANCE / 2
    passed, _ = gate.check(table(("a", 500, 100, 0.90, 0.90 - small), ("b", 500, 100, 0.80, 0.80 + small)))
    assert passed
    passed, reasons = gate.check(table(("a", 500, 100, 0.90, 0.90 - 2 * config.GATE_SPLIT_TOLERANCE)))
    assert not passed and reasons[0].startswith("a: ROC AUC")


def test_small_drops_everywhere_fail_on_the_mean() -> None:
    drop = config.GATE_MEAN_TOLERANCE * 2  # within the per-split tolerance, beyond the mean's
    assert drop < config.GATE_SPLIT_TOLERANCE
    passed, reasons = gate.check(table(*[(s, 500, 100, 0.9, 0.9 - drop) for s in "abc"]))
    assert not passed and any("mean ROC AUC" in r for r in reasons)


def test_a_split_with_too_few_of_a_class_is_shown_but_not_gated() -> None:
    tiny = config.GATE_MIN_CLASS_ROWS - 1
    passed, reasons = gate.check(table(("big", 500, 100, 0.9, 0.9), ("tiny", 500, tiny, 0.9, 0.2)))
    assert passed and "not gated" in reasons[-1] and "tiny" in reasons[-1]
    passed, reasons = gate.check(table(("tiny", 500, tiny, 0.9, 0.9)))
    assert not passed and "no evaluation split" in reasons[0]


# --- comparing two models on the held-out labels ---------------------------------------------------------


def test_same_quality_passes_and_a_worse_model_is_refused(models_dir: Path, labels: pd.DataFrame) -> None:
    result = gate.run("good-again", models_dir=models_dir, moderators=labels)
    held = int(heldout_mask(labels["group"]).sum())
    assert result.passed, result.summary()
    assert set(result.table["split"]) == {"moderators_insult", "moderators_troll"}
    assert (result.table["n"] == held).all() and result.table["gated"].all()
    assert (result.table["auc_change"].abs() < 1e-9).all()  # same data, same seeds: same model

    result = gate.run("bad", models_dir=models_dir, moderators=labels)
    assert not result.passed
    assert (result.table["auc_candidate"] < result.table["auc_active"]).all()
    with pytest.raises(GateError, match="gate fails") as refused:
        gate.promote("bad", models_dir=models_dir, moderators=labels)
    assert "--force" in refused.value.hint
    assert registry.active_version(models_dir=models_dir) == "good"  # nothing changed

    previous, result = gate.promote("bad", models_dir=models_dir, moderators=labels, force=True)
    assert previous == "good" and not result.passed
    assert registry.active_version(models_dir=models_dir) == "bad"


def test_without_evaluation_data_the_gate_refuses(models_dir: Path) -> None:
    result = gate.run("good-again", models_dir=models_dir, moderators=None)
    assert not result.passed and result.table.empty


def test_only_admins_promote_and_a_forced_promotion_is_logged(
    store, models_dir: Path, labels: pd.DataFrame
) -> None:
    with pytest.raises(PermissionDeniedError):
        promote_model(store, User("alice", "moderator"), "good-again", models_dir=models_dir, force=True)
    admin = User("root", "admin")
    # The demo store holds no moderators' labels: nothing to compare on, so only --force passes.
    with pytest.raises(GateError):
        promote_model(store, admin, "bad", models_dir=models_dir)
    previous, result = promote_model(store, admin, "bad", models_dir=models_dir, force=True)
    assert previous == "good" and not result.passed
    log = store.read(sa.select(audit_log.c.actor, audit_log.c.action, audit_log.c.before, audit_log.c.after))
    assert log.values.tolist()[-1] == ["root", "promote-forced", "good", "bad"]


def test_cli_prints_the_table_and_refuses_without_force(models_dir: Path, tmp_path: Path) -> None:
    env = {**os.environ, "MODERATION_MODELS_DIR": str(models_dir)}
    env.pop(config.DB_ENV_VAR, None)

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "moderation.cli", "models", "promote", *args],
            capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path,
        )  # fmt: skip

    refused = run("bad")
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "gate fails" in refused.stderr and "--force" in refused.stderr
    assert registry.active_version(models_dir=models_dir) == "good"
    forced = run("bad", "--force")
    assert forced.returncode == 0, forced.stderr
    assert "active model is now bad (was good) (forced past the gate)" in forced.stdout


# --- the whole loop: ingest, relabel, retrain, gate, promote, roll back ------------------------------------

#: A slur this site's moderators know and the public corpora do not: the default model misses it.
SLUR_TEMPLATES = (
    "typical drivel from a grebnik like {name}",
    "only a grebnik would write this about {topic}",
    "{name}, the grebnik of this forum, strikes again",
    "another grebnik take on {topic}",
    "go home, grebnik {name}",
    "{name} posts like the grebnik he is",
    "grebniks like {name} ruin every thread on {topic}",
    "nobody cares what a grebnik thinks about {topic}",
    "{name} is a grebnik, plain and simple",
    "spoken like a true grebnik, {name}",
)
#: The corpora both models of the retraining loop train on.
LOOP_DATA = "kaggle_insults_train,olid_train,trac1_train"
NAMES = ("Tom", "Marta", "Jin", "Ole", "Priya", "Sam", "Ava", "Luis", "Noor", "Ben")


def _slur_comments(count: int, offset: int) -> list[str]:
    return [
        SLUR_TEMPLATES[(i + offset) % len(SLUR_TEMPLATES)].format(
            name=NAMES[(i * 3 + offset) % len(NAMES)], topic=TOPICS[(i + 2 * offset) % len(TOPICS)]
        )
        + f" (#{offset}{i})"
        for i in range(count)
    ]


@pytest.mark.shared
@pytest.mark.slow
def test_the_retraining_loop_end_to_end(shared_data: Path, tmp_path: Path) -> None:
    from moderation.registry import load_model
    from moderation.review import Change, add_user, apply_changes
    from moderation.store import comments, open_store
    from moderation.training import assemble_corpus

    models = tmp_path / "models"
    db = tmp_path / "site.db"
    env = {**os.environ, "MODERATION_MODELS_DIR": str(models)}
    env.pop(config.DB_ENV_VAR, None)

    def cli(*args: str) -> subprocess.CompletedProcess:
        done = subprocess.run(
            [sys.executable, "-m", "moderation.cli", *args],
            capture_output=True, text=True, env=env, timeout=1800, cwd=tmp_path,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done

    # The site's active model, trained by the same command on three of the six default corpora
    # (all six take twice as long; the loop is the same). With Kaggle and TRAC-1 alone, the 200
    # labels cost OLID and ToxiChat over 0.01 AUC and the gate refused the candidate.
    shipped = "site-v0"
    cli("train", "--data", LOOP_DATA, "--no-teacher", "--output", str(models), "--version", shipped,
        "--promote")  # fmt: skip
    assert registry.active_version(models_dir=models) == shipped

    # A site's dump: 150 ordinary comments (Kaggle's, with their labels) and 50 using the slur,
    # spread over 40 threads; another 40 slur comments of other wordings stay unlabelled.
    kaggle = assemble_corpus(["kaggle_insults_train"], root=shared_data).sample(150, random_state=config.SEED)
    labelled_slurs, unseen_slurs = _slur_comments(50, 1), _slur_comments(40, 7)
    texts = [*kaggle["text"], *labelled_slurs, *unseen_slurs]
    dump = pd.DataFrame(
        {
            "comment_id": [f"c{i}" for i in range(len(texts))],
            "thread_id": [f"article-{i % 40}" for i in range(len(texts))],
            "author": [NAMES[i % len(NAMES)] for i in range(len(texts))],
            "text": texts,
        }
    )
    dump.to_csv(tmp_path / "dump.csv", index=False)
    cli("ingest", str(tmp_path / "dump.csv"), "--db", str(db))

    default = load_model(shipped, models_dir=models)
    missed = default.score_texts(unseen_slurs)["insult_score"] < default.thresholds["insult"]
    assert missed.mean() >= 0.8, "the default model already knows the slur: the test shows nothing"

    # A moderator labels the 200: Kaggle's label for the ordinary ones, insult for the slur.
    wanted = dict(zip(kaggle["text"], np.where(kaggle["insult"] == 1, "yes", "no"), strict=True))
    wanted.update(dict.fromkeys(labelled_slurs, "yes"))
    with open_store(str(db)) as store:
        moderator = add_user(store, name="mo", password="correct horse", role="moderator")
        stored = store.read(sa.select(comments.c.comment_id, comments.c.text, comments.c.version))
        changes = [
            Change(row.comment_id, "insult_label", wanted[row.text], int(row.version))
            for row in stored.itertuples()
            if row.text in wanted
        ]
        assert len(changes) == 200
        apply_changes(store, moderator, changes)

    trained = cli(
        "train", "--data", LOOP_DATA, "--no-teacher", "--db", str(db), "--output", str(models),
        "--version", "site-v1",
    )  # fmt: skip
    assert "200 comments labelled by moderators" in trained.stdout
    candidate = load_model("site-v1", models_dir=models)
    card = candidate.card
    held_out = card["evaluation_set"]["moderator_rows"]
    assert 0 < held_out < 200 and card["metrics"]["moderators_insult"]["n"] == held_out
    caught = candidate.score_texts(unseen_slurs)["insult_score"] >= candidate.thresholds["insult"]
    assert caught.mean() >= 0.8, f"the candidate flags only {caught.mean():.0%} of unseen slur comments"

    promoted = cli("models", "promote", "site-v1", "--db", str(db))
    print(promoted.stdout)  # the side-by-side table, for whoever runs this with -s
    assert "gate passes" in promoted.stdout and "moderators_insult" in promoted.stdout
    assert registry.active_version(models_dir=models) == "site-v1"
    new = tmp_path / "new.csv"
    pd.DataFrame({"comment_id": ["n1"], "thread_id": ["article-99"], "text": [unseen_slurs[0]]}).to_csv(
        new, index=False
    )
    cli("ingest", str(new), "--db", str(db))
    with open_store(str(db)) as store:
        row = store.read(
            sa.select(comments.c.model_version, comments.c.flag).where(comments.c.comment_id == "n1")
        )
    assert row["model_version"].tolist() == ["site-v1"] and "insult" in row["flag"].iloc[0]

    cli("models", "rollback")
    assert registry.active_version(models_dir=models) == shipped
    new.write_text("comment_id,thread_id,text\nn2,article-99,what a lovely photo\n")
    cli("ingest", str(new), "--db", str(db))
    with open_store(str(db)) as store:
        versions = store.read(sa.select(comments.c.model_version).where(comments.c.comment_id == "n2"))
    assert versions["model_version"].tolist() == [shipped]
