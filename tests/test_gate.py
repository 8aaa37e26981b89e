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
