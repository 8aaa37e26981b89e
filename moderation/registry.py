"""Registry: model versions on disk, their cards, and which one is active.

Sits between training (which produces a ``ModerationModel``) and everything that scores
(``load_model``). Layout::

    models/
      ACTIVE                 the active version's name (replaced atomically: write, then rename)
      ACTIVE.history         versions that were active before, newest last (for rollback)
      <version>/model.joblib the artifact
      <version>/model.json   the card: sources, licences, labels, metrics, thresholds, and
                             the sha256 of every other file in the folder

``load_model`` checks every file's sha256 against the card before joblib reads a byte of it,
so a corrupted or swapped artifact is refused with ``ModelIntegrityError``.

A model is named by a version (a bare name matching ``_VERSION``, only ever a folder directly
under ``models/``) or by a path (a ``Path``, or a string holding a slash such as ``./v1``). A bare
name never means a folder of the current directory: a version read from a store, the history
file or a command line must not load a folder someone left elsewhere (its pickle runs code).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from moderation import config
from moderation.errors import ModelError, ModelIntegrityError

__all__ = [
    "active_version",
    "list_models",
    "load_model",
    "model_dir",
    "promote",
    "read_card",
    "registered_dir",
    "rollback",
    "save_model",
    "version_dir",
]

_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def _models_dir(models_dir: str | Path | None) -> Path:
    return Path(models_dir) if models_dir is not None else config.MODELS_DIR


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_atomic(path: Path, text: str) -> None:
    # Write beside the target and rename over it: readers see the old or the new file, never half.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the pointer is meant to be read
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def active_version(*, models_dir: str | Path | None = None) -> str:
    """The name of the active model version (``models/ACTIVE``)."""
    root = _models_dir(models_dir)
    pointer = root / config.ACTIVE_POINTER
    if not pointer.is_file():
        raise ModelError(
            f"no active model: {pointer} does not exist",
            hint="train one with 'moderation train' or promote one with 'moderation models promote VERSION'",
        )
    try:
        version = pointer.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as error:
        raise ModelError(f"cannot read {pointer}: {error}", hint="promote a version again") from error
    if not _VERSION.fullmatch(version):
        raise ModelError(
            f"{pointer} holds {version!r}, which is not a version name", hint="promote a version again"
        )
    return version


def _names_a_path(version_or_path: str | Path) -> bool:
    """A ``Path``, or a string holding a path separator (``./v1``, ``/srv/models/v1``)."""
    if isinstance(version_or_path, Path):
        return True
    text = str(version_or_path)
    return any(sep and sep in text for sep in ("/", os.sep, os.altsep))


def _known(root: Path) -> str:
    return ", ".join(m["version"] for m in list_models(models_dir=root)) or "none"


def version_dir(version: str, *, models_dir: str | Path | None = None) -> Path:
    """The folder of the registry version ``version``: a version name, directly under ``models/``.

    Never a path, never a folder of the current directory, never a folder (or link) that resolves
    outside ``models/``: use it for any version name that comes from a store, a file or a user.
    """
    root = _models_dir(models_dir)
    if not isinstance(version, str) or not _VERSION.fullmatch(version):
        raise ModelError(
            f"{str(version)!r} is not a version name",
            hint=f"a version is the name of a folder under {root} (letters, digits, '.', '_' and '-'; "
            f"known: {_known(root)})",
        )
    folder = root / version
    if not (folder / config.MODEL_CARD).is_file():
        raise ModelError(
            f"no model {version!r}",
            hint=f"give a version under {root} (known: {_known(root)}) or the path of a model folder "
            f"(with a slash, e.g. ./{version})",
        )
    if folder.resolve().parent != root.resolve():
        raise ModelError(
            f"{folder} resolves outside {root}",
            hint="a version must be a real folder in the models directory, not a link elsewhere; "
            "copy the model folder in",
        )
    return folder


def model_dir(version_or_path: str | Path | None = None, *, models_dir: str | Path | None = None) -> Path:
    """The folder of a model: the active one, a version under ``models/``, or a path.

    A bare name is always a version (``version_dir``), even when the current directory holds a
    folder of that name; a folder is named by a ``Path`` or a string with a slash (``./name``).
    """
    root = _models_dir(models_dir)
    if version_or_path is None:
        return version_dir(active_version(models_dir=root), models_dir=root)
    if not _names_a_path(version_or_path):
        return version_dir(str(version_or_path), models_dir=root)
    candidate = Path(version_or_path)
    if candidate.is_file() and candidate.name in (config.MODEL_CARD, config.MODEL_ARTIFACT):
        return candidate.parent
    if candidate.is_dir() and (candidate / config.MODEL_CARD).is_file():
        return candidate
    raise ModelError(
        f"no model folder {str(version_or_path)!r}",
        hint=f"give the path of a folder holding {config.MODEL_CARD}, or a version under {root} "
        f"(known: {_known(root)})",
    )


def registered_dir(version_or_path: str | Path, *, models_dir: str | Path | None = None) -> Path:
    """The folder under ``models/`` that ``version_or_path`` names; a folder elsewhere is refused.

    Loads nothing: promotion calls it before the gate or the integrity check unpickles a byte.
    """
    root = _models_dir(models_dir)
    folder = model_dir(version_or_path, models_dir=root).resolve()
    if folder.parent != root.resolve():
        raise ModelError(
            f"{folder} is not under {root}", hint="copy the model folder into the models directory first"
        )
    return version_dir(folder.name, models_dir=root)  # a version name, with its card, not a link


def read_card(version_or_path: str | Path | None = None, *, models_dir: str | Path | None = None) -> dict:
    """The model card (JSON) of a model, without loading the artifact."""
    folder = model_dir(version_or_path, models_dir=models_dir)
    try:
        card = json.loads((folder / config.MODEL_CARD).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as error:  # ValueError: bad JSON or not UTF-8
        raise ModelError(
            f"cannot read the card {folder / config.MODEL_CARD}: {error}",
            hint="restore the model folder from a backup or train it again",
        ) from error
    if not isinstance(card, dict) or not isinstance(card.get("files"), dict):
        raise ModelIntegrityError(
            f"the card {folder / config.MODEL_CARD} lists no files with their sha256",
            hint="a model folder must be written by 'moderation train'; train it again",
        )
    return card


def _verify(folder: Path, card: dict) -> None:
    files = card["files"]
    if config.MODEL_ARTIFACT not in files:
        raise ModelIntegrityError(
            f"the card in {folder} does not list {config.MODEL_ARTIFACT}",
            hint="train the model again; only files the card lists are ever loaded",
        )
    for name, expected in files.items():
        path = folder / name
        if Path(name).name != name or not path.is_file():
            raise ModelIntegrityError(
                f"{path} is listed in the card but missing", hint="restore the model folder or train it again"
            )
        wanted = str(expected.get("sha256", "") if isinstance(expected, dict) else expected)
        actual = _sha256(path)
        if actual != wanted:
            raise ModelIntegrityError(
                f"{path} does not match its card (sha256 {actual[:12]}..., card says {wanted[:12]}...)",
                hint="the file was changed or corrupted; it was not loaded. Restore it from the release, "
                "or retrain with 'moderation train'",
            )


def load_model(
    version_or_path: str | Path | None = None,
    *,
    models_dir: str | Path | None = None,
    for_scoring: bool = False,
) -> Any:
    """Load a ``ModerationModel``: None for the active one, a version name, or a folder path.

    Every file's sha256 is checked against the card before joblib opens the artifact. The
    card's version and thresholds are the model's (a site may retune thresholds in the card).

    ``for_scoring=True`` loads the scoring-only form: the artifact's parts become the classes
    of ``moderation.kernel`` and ``moderation.model`` (``_SCORING_CLASSES``), so neither
    scikit-learn nor scipy is imported, which saves about a second of every scoring run's
    start. It scores and explains byte for byte as the full model, but it cannot be refitted
    or turned into feature matrices. An artifact holding any other class loads in full.
    """
    folder = model_dir(version_or_path, models_dir=models_dir)
    card = read_card(folder)
    _verify(folder, card)
    model = _load_artifact(folder / config.MODEL_ARTIFACT, for_scoring=for_scoring)
    if not hasattr(model, "score_frame"):
        raise ModelError(
            f"{folder} does not hold a moderation model", hint="give the folder of a trained model"
        )
    model.card = card
    model.version = str(card.get("version", folder.name))
    thresholds = card.get("thresholds") or {}
    try:
        model.thresholds = {
            label: float(thresholds.get(label, config.DEFAULT_THRESHOLDS[label])) for label in config.LABELS
        }
    except (AttributeError, TypeError, ValueError) as error:
        raise ModelError(
            f"the card in {folder} has unusable thresholds: {error}",
            hint="thresholds must map each label to a number; fix the card or train the model again",
        ) from error
    return model


#: The class a model loaded for scoring holds in place of each class its artifact names.
_SCORING_CLASSES = {
    ("moderation.classifier", "ModerationModel"): ("moderation.model", "ModerationModel"),
    ("moderation.model", "ModerationModel"): ("moderation.model", "ModerationModel"),
    ("moderation.classifier", "SiteCalibration"): ("moderation.model", "SiteCalibration"),
    ("moderation.model", "SiteCalibration"): ("moderation.model", "SiteCalibration"),
    ("moderation.classifier", "CalibratedLinearHead"): ("moderation.model", "ScoringHead"),
    ("moderation.features", "HashedTextFeatures"): ("moderation.kernel", "ScoringHashedFeatures"),
    ("moderation.features", "ContextSignals"): ("moderation.kernel", "ScoringContextSignals"),
    ("sklearn.linear_model._logistic", "LogisticRegression"): ("moderation.model", "ScoringLogistic"),
}
#: Modules whose classes a model loaded for scoring keeps as they are: the arrays. Anything
#: else (even builtins) makes it load in full, as joblib.load would.
_ARRAY_MODULES = ("numpy", "joblib.numpy_pickle")


class _NeedsFullModel(Exception):
    """The artifact names a class that has no scoring-only form: load it in full."""


def _load_artifact(path: Path, *, for_scoring: bool) -> Any:
    import joblib

    if not for_scoring:
        return joblib.load(path)
    try:
        # joblib.load with a find_class of our own; joblib offers no hook for it, so this
        # uses its unpickler directly (tests/test_registry.py fails loudly if joblib changes).
        from joblib.numpy_pickle import NumpyUnpickler
        from joblib.numpy_pickle_utils import _validate_fileobject_and_memmap
    except ImportError:
        return joblib.load(path)

    class ScoringUnpickler(NumpyUnpickler):
        def find_class(self, module: str, name: str) -> Any:
            target = _SCORING_CLASSES.get((module, name))
            if target is not None:
                return super().find_class(*target)
            if module.split(".")[0] == "numpy" or module in _ARRAY_MODULES:
                return super().find_class(module, name)
            raise _NeedsFullModel(f"{module}.{name}")

    try:
        with open(path, "rb") as raw, _validate_fileobject_and_memmap(raw, str(path), None) as (handle, _):
            return ScoringUnpickler(str(path), handle, True).load()
    except (_NeedsFullModel, ModelError):
        return joblib.load(path)


def save_model(model: Any, *, models_dir: str | Path | None = None, compress: int = 3) -> Path:
    """Write ``models/<version>/`` (artifact and card with sha256s); returns the folder.

    The folder is built under a temporary name and renamed into place, so a process killed
    halfway leaves no half-written version behind.
    """
    import joblib

    from moderation.training import card_json

    root = _models_dir(models_dir)
    version = model.version
    if not isinstance(version, str) or not _VERSION.fullmatch(version):
        raise ModelError(
            f"{version!r} is not a usable version name", hint="use letters, digits, '.', '_' and '-'"
        )
    final = root / version
    if final.exists():
        raise ModelError(
            f"{final} already exists", hint="versions are immutable; train with another --version"
        )
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=root, prefix=f".{version}."))
    try:
        card = dict(model.card)
        model.card = {}  # the card lives in model.json, not twice inside the artifact
        try:
            joblib.dump(model, staging / config.MODEL_ARTIFACT, compress=compress)
        finally:
            model.card = card
        artifact = staging / config.MODEL_ARTIFACT
        card["files"] = {
            config.MODEL_ARTIFACT: {"sha256": _sha256(artifact), "bytes": artifact.stat().st_size}
        }
        model.card = card
        (staging / config.MODEL_CARD).write_text(card_json(card), encoding="utf-8")
        staging.chmod(0o755)  # mkdtemp makes it private; a model folder is meant to be read
        os.replace(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return final


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def list_models(*, models_dir: str | Path | None = None) -> list[dict[str, Any]]:
    """Every version under ``models/``, oldest first: version, created_at, active, bytes, metrics.

    A version whose card cannot be read is listed with ``error`` (the message and its fix) and
    empty fields; for every other version ``error`` is "".
    """
    root = _models_dir(models_dir)
    try:
        active = active_version(models_dir=root)
    except ModelError:
        active = ""
    out = []
    for folder in sorted(p for p in root.glob("*") if p.is_dir() and not p.name.startswith(".")):
        if not (folder / config.MODEL_CARD).is_file():
            continue
        try:
            card = read_card(folder)
            error = ""
        except ModelError as unreadable:
            card, error = {}, str(unreadable)
        metrics, files = _dict(card.get("metrics")), _dict(card.get("files"))
        out.append(
            {
                "version": folder.name,
                "created_at": str(card.get("created_at", "")),
                "active": folder.name == active,
                "bytes": int(sum(_number(_dict(f).get("bytes")) or 0 for f in files.values())),
                "training_data": str(_dict(card.get("training_data")).get("spec", "")),
                "kaggle_insults_auc": _number(_dict(metrics.get("kaggle_insults_test")).get("auc")),
                "thresholds": _dict(card.get("thresholds")),
                "error": error,
            }
        )
    return sorted(out, key=lambda m: (m["created_at"], m["version"]))


def promote(version: str, *, models_dir: str | Path | None = None) -> str:
    """Make ``version`` the active model (after verifying it loads); returns the previous one."""
    root = _models_dir(models_dir)
    folder = registered_dir(version, models_dir=root)  # before anything is loaded
    load_model(folder)  # refuses a tampered or broken model before it becomes active
    try:
        previous = active_version(models_dir=root)
    except ModelError:
        previous = ""
    if previous == folder.name:
        return previous
    history = root / config.ACTIVE_HISTORY
    if previous:
        lines = history.read_text(encoding="utf-8").splitlines() if history.is_file() else []
        _write_atomic(history, "\n".join([*lines, previous]) + "\n")
    _write_atomic(root / config.ACTIVE_POINTER, folder.name + "\n")
    return previous


def rollback(*, models_dir: str | Path | None = None) -> str:
    """Make the previously active version active again; returns it."""
    root = _models_dir(models_dir)
    history = root / config.ACTIVE_HISTORY
    lines = (
        [line.strip() for line in history.read_text(encoding="utf-8").splitlines()]
        if history.is_file()
        else []
    )
    lines = [line for line in lines if line]
    if not lines:
        raise ModelError("there is no earlier active model to roll back to", hint="promote a version instead")
    previous = lines[-1]
    try:
        # The history is a file anyone with write access to models/ can edit: only a version
        # under models/ is ever loaded, never a path or a folder of the current directory.
        folder = version_dir(previous, models_dir=root)
    except ModelError as error:
        raise ModelError(
            f"{history} names {previous!r} as the previous model, which is not a version under {root} "
            f"({error.message})",
            hint="remove that line from the history file, or promote a version instead",
        ) from error
    load_model(folder)
    _write_atomic(root / config.ACTIVE_POINTER, previous + "\n")
    _write_atomic(history, "".join(f"{line}\n" for line in lines[:-1]))
    return previous
