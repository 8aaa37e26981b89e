"""The registry: versions with sha256 cards, integrity checks before loading, promote and rollback."""

from __future__ import annotations

import json
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest

from moderation import config, registry
from moderation.classifier import CalibratedLinearHead, ModerationModel
from moderation.errors import ModelError, ModelIntegrityError
from moderation.features import ContextSignals, HashedTextFeatures

TEXTS = [
    "you are an idiot",
    "what a moron you are",
    "you pathetic loser",
    "shut up stupid",
    "nice article, thanks",
    "see you tomorrow",
    "great game last night",
    "I agree with this",
] * 3


def tiny_model(version: str) -> ModerationModel:
    """A small real model: the same classes as the shipped one, fitted in a second."""
    y = np.asarray([1, 1, 1, 1, 0, 0, 0, 0] * 3)
    features = HashedTextFeatures(bits=12).fit(TEXTS)
    X = features.transform(TEXTS)
    insult = CalibratedLinearHead(cv=3).fit(X, y)
    context = ContextSignals().fit(pd.DataFrame({"text": TEXTS}))
    model = ModerationModel(text_features=features, insult_head=insult, troll_head=insult, context=context)
    X_troll = model.troll_matrix(X, pd.DataFrame({"text": TEXTS}), insult.predict_proba(X)[:, 1])
    model.troll_head = CalibratedLinearHead(cv=3).fit(X_troll, y)
    model.version = version
    model.thresholds = {"insult": 0.5, "troll": 0.6}
    model.card = {
        "version": version,
        "created_at": f"2026-01-01T00:00:0{version[-1]}Z",
        "thresholds": model.thresholds,
    }
    return model


@pytest.fixture
def models_dir(tmp_path: Path) -> Path:
    for version in ("v1", "v2"):
        registry.save_model(tiny_model(version), models_dir=tmp_path)
    return tmp_path


def test_save_writes_artifact_and_card_with_sha256(models_dir: Path) -> None:
    card = json.loads((models_dir / "v1" / config.MODEL_CARD).read_text())
    entry = card["files"][config.MODEL_ARTIFACT]
    assert (
        len(entry["sha256"]) == 64
        and entry["bytes"] == (models_dir / "v1" / config.MODEL_ARTIFACT).stat().st_size
    )
    assert not [p for p in models_dir.iterdir() if p.name.startswith(".")]  # no staging left behind


def test_load_by_version_and_by_path_score_alike(models_dir: Path) -> None:
    by_version = registry.load_model("v1", models_dir=models_dir)
    by_path = registry.load_model(models_dir / "v1")
    assert by_version.version == by_path.version == "v1"
    assert by_version.thresholds == {"insult": 0.5, "troll": 0.6}
    texts = pd.DataFrame({"text": ["you are an idiot", "thanks"]})
    pd.testing.assert_frame_equal(by_version.score_frame(texts), by_path.score_frame(texts))


@pytest.mark.parametrize("for_scoring", [False, True])
def test_tampered_artifact_is_refused_before_joblib_reads_it(
    models_dir: Path, monkeypatch, for_scoring: bool
) -> None:
    artifact = models_dir / "v1" / config.MODEL_ARTIFACT
    artifact.write_bytes(artifact.read_bytes() + b"\x00")

    def never(*args, **kwargs):
        raise AssertionError("the artifact was read although it failed verification")

    monkeypatch.setattr(joblib, "load", never)
    monkeypatch.setattr(registry, "_load_artifact", never)  # the scoring-only unpickler too
    with pytest.raises(ModelIntegrityError, match="does not match its card") as error:
        registry.load_model("v1", models_dir=models_dir, for_scoring=for_scoring)
    assert error.value.hint


def _thread_frame() -> pd.DataFrame:
    texts = ["you are an idiot", "thanks, nice article", "shut up troll", "有邮件回复么？呵呵 是啊", "", "ok"]
    return pd.DataFrame(
        {
            "comment_id": [f"c{i}" for i in range(len(texts))],
            "thread_id": ["t1", "t1", "t1", "t2", "t2", "t3"],
            "parent_id": ["", "c0", "c1", "", "c3", ""],
            "author": ["ann", "bob", "ann", "li", "li", ""],
            "thread_title": ["Council vote", "Council vote", "Council vote", "", "", ""],
            "text": texts,
        }
    )


def test_a_model_loaded_for_scoring_scores_byte_for_byte_as_the_full_one(models_dir: Path) -> None:
    full = registry.load_model("v1", models_dir=models_dir)
    lite = registry.load_model("v1", models_dir=models_dir, for_scoring=True)
    assert type(lite.text_features).__name__ == "ScoringHashedFeatures"
    assert type(lite.insult_head).__name__ == "ScoringHead"
    assert type(lite.insult_head.calibrator_).__name__ == "ScoringLogistic"
    assert (lite.version, lite.thresholds) == (full.version, full.thresholds)
    frame = _thread_frame()
    pd.testing.assert_frame_equal(lite.score_frame(frame), full.score_frame(frame), check_exact=True)
    with pytest.raises(AttributeError):
        lite.text_features.transform(["no matrices from a scoring-only model"])


def test_the_shipped_model_loads_for_scoring_without_scikit_learn_or_scipy(model) -> None:
    import subprocess
    import sys

    code = (
        "import sys, pandas as pd\n"
        "from moderation.registry import load_model\n"
        "m = load_model(for_scoring=True)\n"
        "m.score_frame(pd.DataFrame({'text': ['you are an idiot', 'thanks']}))\n"
        "loaded = {k.split('.')[0] for k in sys.modules}\n"
        "print(type(m.troll_head).__name__, sorted(loaded & {'sklearn', 'scipy'}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["ScoringHead", "[]"]
    lite = registry.load_model(for_scoring=True)
    frame = _thread_frame()
    pd.testing.assert_frame_equal(lite.score_frame(frame), model.score_frame(frame), check_exact=True)


def test_an_artifact_with_no_scoring_only_form_loads_in_full(tmp_path: Path) -> None:
    # An isotonic calibrator has no scoring-only class: the model loads as it was saved.
    model = tiny_model("v1")
    X = model.text_features.transform(TEXTS)
    y = [1, 1, 1, 1, 0, 0, 0, 0] * 3
    model.insult_head = CalibratedLinearHead(cv=3, calibration="isotonic").fit(X, y)
    registry.save_model(model, models_dir=tmp_path)
    lite = registry.load_model("v1", models_dir=tmp_path, for_scoring=True)
    assert type(lite.insult_head) is CalibratedLinearHead
    frame = _thread_frame()
    full = registry.load_model("v1", models_dir=tmp_path)
    pd.testing.assert_frame_equal(lite.score_frame(frame), full.score_frame(frame), check_exact=True)


def test_card_without_file_list_is_refused(models_dir: Path) -> None:
    card_path = models_dir / "v1" / config.MODEL_CARD
    card = json.loads(card_path.read_text())
    del card["files"]
    card_path.write_text(json.dumps(card))
    with pytest.raises(ModelIntegrityError):
        registry.load_model("v1", models_dir=models_dir)


def test_promote_and_rollback_move_the_active_pointer(models_dir: Path) -> None:
    with pytest.raises(ModelError, match="no active model"):
        registry.active_version(models_dir=models_dir)
    assert registry.promote("v1", models_dir=models_dir) == ""
    assert registry.promote("v2", models_dir=models_dir) == "v1"
    assert registry.active_version(models_dir=models_dir) == "v2"
    assert registry.load_model(models_dir=models_dir).version == "v2"
    assert registry.rollback(models_dir=models_dir) == "v1"
    assert registry.active_version(models_dir=models_dir) == "v1"
    with pytest.raises(ModelError, match="roll back"):
        registry.rollback(models_dir=models_dir)
    listed = registry.list_models(models_dir=models_dir)
    assert [m["version"] for m in listed] == ["v1", "v2"]
    assert [m["active"] for m in listed] == [True, False]


def test_promoting_a_tampered_model_leaves_the_active_one(models_dir: Path) -> None:
    registry.promote("v1", models_dir=models_dir)
    artifact = models_dir / "v2" / config.MODEL_ARTIFACT
    artifact.write_bytes(b"not a model")
    with pytest.raises(ModelIntegrityError):
        registry.promote("v2", models_dir=models_dir)
    assert registry.active_version(models_dir=models_dir) == "v1"


def test_unknown_version_and_existing_version_errors_carry_hints(models_dir: Path) -> None:
    with pytest.raises(ModelError, match="no model 'v9'") as error:
        registry.load_model("v9", models_dir=models_dir)
    assert "v1" in error.value.hint
    with pytest.raises(ModelError, match="already exists"):
        registry.save_model(tiny_model("v1"), models_dir=models_dir)


def test_shipped_default_model_loads_and_is_small() -> None:
    model = registry.load_model()
    card = registry.read_card()
    assert model.version == registry.active_version() == card["version"]
    total = sum(f["bytes"] for f in card["files"].values())
    assert total < config.MAX_SHIPPED_MODEL_BYTES
    assert set(card["labels"]) == set(config.LABELS)
    # Licence-clean: nothing non-commercial trained the shipped model.
    assert all(c["derived_model_redistribution"] != "no" for c in card["training_data"]["corpora"])
    for split in (
        "kaggle_insults_public",
        "kaggle_insults_private",
        "elf24_troll",
        "trac1_dev_covert_vs_none",
    ):
        assert split in card["metrics"]


def test_models_commands(models_dir: Path) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "MODERATION_MODELS_DIR": str(models_dir)}
    env.pop(config.DB_ENV_VAR, None)  # and cwd: no ./moderation.db, so no store joins the gate

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "moderation.cli", "models", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            cwd=models_dir,
        )

    assert run("promote", "v1").stdout.strip().endswith("active model is now v1")
    # These tiny models have no evaluation set to compare on: the gate refuses without --force.
    refused = run("promote", "v2")
    assert refused.returncode == 1 and "--force" in refused.stderr
    assert "(was v1) (forced past the gate)" in run("promote", "v2", "--force").stdout
    listed = run("list").stdout.splitlines()
    assert listed[0].startswith("  v1") and listed[1].startswith("* v2")
    assert json.loads(run("show", "v1").stdout)["version"] == "v1"
    assert run("rollback").stdout.strip() == "active model is now v1"
    bad = run("promote", "v9")
    assert bad.returncode == 1 and "no model 'v9'" in bad.stderr


# --- a process killed halfway leaves the registry as it was -----------------------------------------------


def _registry_state(folder: Path) -> tuple[str, list[str], list[dict]]:
    pointer = (folder / config.ACTIVE_POINTER).read_text()
    return (
        pointer,
        sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")),
        (registry.list_models(models_dir=folder)),
    )


def _killed(args: list[str], *, env: dict, wait_for: Path | None = None, after: float = 0.0) -> int:
    """Run ``args`` and SIGKILL it once ``wait_for`` exists (or after ``after`` seconds)."""
    import signal
    import subprocess
    import time

    process = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and process.poll() is None:
        if (wait_for is not None and wait_for.exists()) or (wait_for is None and time.monotonic() > after):
            break
        time.sleep(0.05)
    assert process.poll() is None, f"finished before it could be killed: {process.stderr.read()!r}"
    process.send_signal(signal.SIGKILL)
    return process.wait(timeout=60)


def test_a_save_killed_halfway_leaves_no_version_and_the_active_one(
    models_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    import os
    import sys

    registry.promote("v1", models_dir=models_dir)
    before = _registry_state(models_dir)
    marker = tmp_path_factory.mktemp("marker") / "half-written"  # not in the registry's folder
    # A real process is killed while joblib is writing the artifact (after its first megabyte).
    script = f"""
import os, signal, joblib
from moderation import registry
real_dump = joblib.dump
def dump(value, filename, **kwargs):
    with open(filename, "wb") as handle:
        handle.write(b"x" * (1 << 20))
    open({str(marker)!r}, "w").close()
    signal.pause()  # killed here
joblib.dump = dump
model = registry.load_model("v1", models_dir={str(models_dir)!r})
model.version = "v3"
registry.save_model(model, models_dir={str(models_dir)!r})
"""
    code = _killed([sys.executable, "-c", script], env=dict(os.environ), wait_for=marker)
    assert code == -9
    assert _registry_state(models_dir) == before
    assert not (models_dir / "v3").exists()
    assert registry.load_model(models_dir=models_dir).version == "v1"
    registry.save_model(tiny_model("v3"), models_dir=models_dir)  # the version name is still free
    assert registry.load_model("v3", models_dir=models_dir).version == "v3"


def test_training_killed_halfway_leaves_the_registry_as_it_was(shared_data: Path, models_dir: Path) -> None:
    import os
    import sys

    registry.promote("v2", models_dir=models_dir)
    before = _registry_state(models_dir)
    args = [sys.executable, "-m", "moderation.cli", "train", "--data", "kaggle_insults_train",
            "--output", str(models_dir), "--version", "v3", "--promote"]  # fmt: skip
    code = _killed(args, env={**os.environ, "MODERATION_MODELS_DIR": str(models_dir)}, after=8.0)
    assert code == -9
    assert _registry_state(models_dir) == before
    assert registry.active_version(models_dir=models_dir) == "v2"


@pytest.mark.shared
def test_every_shipped_model_still_scores_as_its_card_says(shared_data: Path) -> None:
    # Feature code moves on (new lexical signals, new n-gram windows); a shipped artifact keeps
    # the behaviour it was trained with, so its card's figures stay true.
    from moderation.evaluate import evaluate_files

    test_split = shared_data / "insults" / "test_with_solutions.csv"
    versions = [entry["version"] for entry in registry.list_models()]
    assert len(versions) >= 2
    for version in versions:
        card = registry.read_card(version)
        recorded = card["metrics"]["kaggle_insults_test"]["auc"]
        measured = evaluate_files(version, [test_split], label_column="Insult")["auc"]
        assert measured == pytest.approx(recorded, abs=1e-4), version


# --- hostile model folders: a pickle that runs code, with a matching sha256 in its card -----------------


class _TouchesAFile:
    """Unpickling this creates ``path``: stands in for any code a hostile pickle runs."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (str(self.path), "w"))


def hostile_copy(source: Path, destination: Path, marker: Path) -> Path:
    """A copy of the model folder ``source`` whose artifact runs code, its card's sha256 updated."""
    import hashlib
    import pickle
    import shutil

    shutil.copytree(source, destination)
    artifact = destination / config.MODEL_ARTIFACT
    artifact.write_bytes(pickle.dumps(_TouchesAFile(marker)))
    card_path = destination / config.MODEL_CARD
    card = json.loads(card_path.read_text())
    card["files"][config.MODEL_ARTIFACT] = {
        "sha256": hashlib.sha256(artifact.read_bytes()).hexdigest(),
        "bytes": artifact.stat().st_size,
    }
    card_path.write_text(json.dumps(card))
    return destination


def test_the_hostile_folder_of_these_tests_runs_code_when_loaded(models_dir: Path, tmp_path: Path) -> None:
    # Proves the tests below would see the code run if the registry loaded the folder.
    marker = tmp_path / "ran"
    folder = hostile_copy(models_dir / "v1", tmp_path / "elsewhere" / "evil", marker)
    with pytest.raises(ModelError):  # it holds no model, but only after the pickle ran
        registry.load_model(folder)
    assert marker.exists()


def test_a_bare_name_is_the_registry_version_not_a_folder_of_the_current_directory(
    models_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "ran"
    cwd = tmp_path / "cwd"
    hostile_copy(models_dir / "v1", cwd / "v1", marker)
    hostile_copy(models_dir / "v1", cwd / "outside", marker)
    monkeypatch.chdir(cwd)
    assert registry.model_dir("v1", models_dir=models_dir) == models_dir / "v1"
    assert registry.load_model("v1", models_dir=models_dir, for_scoring=True).version == "v1"
    with pytest.raises(ModelError, match="no model 'outside'") as error:
        registry.load_model("outside", models_dir=models_dir)
    assert "./outside" in error.value.hint  # an explicit path still names a folder
    assert registry.model_dir("./v1", models_dir=models_dir) == Path("./v1")
    assert not marker.exists()


@pytest.mark.parametrize("name", ["../evil", "v1/../../evil", "v1\n", "", ".", "..", "/etc"])
def test_a_version_name_never_resolves_outside_the_models_dir(models_dir: Path, name: str) -> None:
    with pytest.raises(ModelError) as error:
        registry.version_dir(name, models_dir=models_dir)
    assert error.value.hint


def test_a_version_linked_to_a_folder_elsewhere_is_refused(
    models_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    marker = elsewhere / "ran"
    hostile_copy(models_dir / "v1", elsewhere / "evil", marker)
    (models_dir / "linked").symlink_to(elsewhere / "evil", target_is_directory=True)
    with pytest.raises(ModelError, match="resolves outside"):
        registry.load_model("linked", models_dir=models_dir)
    assert not marker.exists()


@pytest.mark.parametrize("entry", ["../evil", "outside", "ABSOLUTE"])
def test_rollback_refuses_a_history_entry_outside_the_models_dir_before_loading_it(
    models_dir: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch, entry: str
) -> None:
    import shutil

    tmp_path = tmp_path_factory.mktemp("site")
    marker = tmp_path / "ran"
    models = tmp_path / "registry"
    shutil.copytree(models_dir, models)  # so that ../evil is a sibling of the models directory
    hostile_copy(models / "v1", tmp_path / "evil", marker)
    hostile_copy(models / "v1", tmp_path / "outside", marker)
    monkeypatch.chdir(tmp_path)  # a cwd folder named like the entry
    entry = str(tmp_path / "evil") if entry == "ABSOLUTE" else entry
    registry.promote("v1", models_dir=models)
    (models / config.ACTIVE_HISTORY).write_text(f"v2\n{entry}\n")
    with pytest.raises(ModelError, match="not a version under") as error:
        registry.rollback(models_dir=models)
    assert "history" in error.value.hint
    assert not marker.exists()
    assert registry.active_version(models_dir=models) == "v1"


def test_promoting_a_folder_outside_the_models_dir_is_refused_before_the_gate_loads_it(
    models_dir: Path, tmp_path: Path
) -> None:
    from moderation import gate

    marker = tmp_path / "ran"
    folder = hostile_copy(models_dir / "v1", tmp_path / "elsewhere" / "v3", marker)
    registry.promote("v1", models_dir=models_dir)
    for promote in (gate.promote, registry.promote):
        for ref in (str(folder), folder):
            with pytest.raises(ModelError, match="is not under") as error:
                promote(ref, models_dir=models_dir)
            assert "copy the model folder" in error.value.hint
    assert not marker.exists()
    assert registry.active_version(models_dir=models_dir) == "v1"
    # A path that is a version's folder under models/ is still promotable.
    assert registry.promote(str(models_dir / "v2"), models_dir=models_dir) == "v1"


def test_the_cli_loads_no_folder_outside_the_models_dir(models_dir: Path, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    marker = tmp_path / "ran"
    cwd = tmp_path / "cwd"
    hostile_copy(models_dir / "v1", cwd / "v1", marker)
    hostile_copy(models_dir / "v1", cwd / "outside", marker)
    env = {**os.environ, "MODERATION_MODELS_DIR": str(models_dir)}
    env.pop(config.DB_ENV_VAR, None)

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "moderation.cli", *args],
            capture_output=True, text=True, env=env, timeout=120, cwd=cwd,
        )  # fmt: skip

    demo = Path(__file__).resolve().parents[1] / "data" / "demo_comments.jsonl"
    scored = run("score", str(demo), "--output", str(tmp_path / "out.csv"), "--model", "v1")
    assert scored.returncode == 0, scored.stderr
    assert "model v1" in scored.stdout + scored.stderr
    assert run("models", "promote", "v2", "--force").returncode == 0
    refused = run("models", "promote", str(cwd / "outside"), "--force")
    assert refused.returncode == 1 and "is not under" in refused.stderr
    (models_dir / config.ACTIVE_HISTORY).write_text("outside\n")
    rolled = run("models", "rollback")
    assert rolled.returncode == 1 and "not a version under" in rolled.stderr
    assert "Traceback" not in refused.stderr + rolled.stderr
    assert not marker.exists()


# --- malformed cards: listed as unreadable, refused with a hint, never a traceback ------------------------

MALFORMED_CARDS = {
    "a list": b"[1]",
    "files as a list": json.dumps({"version": "v3", "files": ["model.joblib"]}).encode(),
    "not utf-8": b'{"version": "v3\xff\xfe"}',
    "fields of the wrong type": json.dumps(
        {"created_at": 5, "metrics": [1], "training_data": "x", "thresholds": [], "files": {"a": 1}}
    ).encode(),
}


@pytest.mark.parametrize("content", MALFORMED_CARDS.values(), ids=MALFORMED_CARDS.keys())
def test_a_malformed_card_is_listed_as_unreadable_and_refused_with_a_hint(
    models_dir: Path, content: bytes
) -> None:
    import os
    import shutil
    import subprocess
    import sys

    shutil.copytree(models_dir / "v1", models_dir / "v3")
    (models_dir / "v3" / config.MODEL_CARD).write_bytes(content)
    listed = {entry["version"]: entry for entry in registry.list_models(models_dir=models_dir)}
    assert set(listed) == {"v1", "v2", "v3"} and not listed["v1"]["error"]
    if listed["v3"]["error"]:
        with pytest.raises(ModelError) as error:
            registry.read_card("v3", models_dir=models_dir)
        assert error.value.hint and str(error.value) == listed["v3"]["error"]
    with pytest.raises(ModelError) as error:
        registry.load_model("v3", models_dir=models_dir, for_scoring=True)
    assert error.value.hint

    env = {**os.environ, "MODERATION_MODELS_DIR": str(models_dir)}
    for args in (["models", "list"], ["models", "show", "v3"]):
        done = subprocess.run(
            [sys.executable, "-m", "moderation.cli", *args],
            capture_output=True, text=True, env=env, timeout=120, cwd=models_dir,
        )  # fmt: skip
        assert "Traceback" not in done.stderr, done.stderr
        if args[1] == "list":
            assert done.returncode == 0 and "v1" in done.stdout and "v3" in done.stdout
