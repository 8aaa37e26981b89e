"""Distillation: a teacher's insult probabilities as soft training targets for the insult head.

Sits inside training (``moderation.training.train_model``), between assembling the corpora and
fitting the heads. The teacher (``scripts/build_teacher_table.py``) blends the n-gram model with
a sentence encoder (all-MiniLM-L6-v2): fine-tuned on the insult labels in ``teacher_v2``, a
logistic regression over its frozen embeddings in ``teacher_v1``. It is more accurate on new
text than the n-grams alone, and far too slow to score with (about 200 comments a second on
two cores). Its probabilities are kept in a table by text group (``text_groups``):
out-of-fold ones for the insult-labelled training texts, plain ones for texts no corpus labels
for insult. ``soft_targets`` turns them into the insult head's targets:

- an insult-labelled corpus row keeps ``label_share`` of its own label and takes the rest from
  the teacher (``0.5 * label + 0.5 * teacher``); rows we wrote (identity balance) and the
  moderators' labels keep their label whole;
- a row no corpus labels for insult (TRAC and cyber-trolls; the Davidson tweets, not a default
  corpus) that the teacher scored gets the teacher's probability as its target, at
  ``unlabelled_weight``.

A target ``t`` between 0 and 1 trains as two rows of the same text and group (``expand_soft``):
insult 1 at weight ``w * t`` and insult 0 at weight ``w * (1 - t)``, which is the cross-entropy
against ``t``. Thresholds are still chosen on hard labels only.
"""

from __future__ import annotations

import functools
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from moderation.errors import ModelError
from moderation.kernel import read_pinned

__all__ = ["TEACHER_TABLES", "expand_soft", "group_keys", "read_table", "soft_targets", "teacher_table"]

#: The teacher tables a training run may read: file beside this module, and its sha256 (a table
#: is read only if it is the one pinned here).
TEACHER_TABLES = {
    "teacher_v1": ("teacher_v1.npz", "b64ba3527d45678ea5781b34e47aab8afd7a2a174ef2708bae061ec5c709d9a0"),
    "teacher_v2": ("teacher_v2.npz", "59e83ef396f731cd4db0a543349df2e24f3dc77fbd6fc567888a9d013c58a6fb"),
}

#: Corpora whose insult labels the teacher never softens: sentences we wrote to balance identity
#: terms (their label is the point), and the moderators' own decisions.
HARD_LABEL_CORPORA = ("identity_balance", "moderators")


def group_keys(groups: Any) -> np.ndarray:
    """The teacher table's key of each text group ``t:<16 hex digits>`` (``text_groups``) as
    uint64; 0 for a group of another kind (a thread), which no table holds."""
    values = pd.Series(np.asarray(groups, dtype=object)).astype(str)
    hexes = values.str.extract(r"^t:([0-9a-f]{16})$")[0]
    keys = np.zeros(len(values), dtype=np.uint64)
    found = hexes.notna().to_numpy()
    keys[found] = np.asarray([int(h, 16) for h in hexes[found]], dtype=np.uint64)
    return keys


@functools.cache
def teacher_table(name: str) -> tuple[pd.Series, dict[str, Any]]:
    """The teacher's insult probability by text-group key (``group_keys``), and the table's
    metadata (how it was built). Raises ``ModelError`` unless the file is the pinned one."""
    if name not in TEACHER_TABLES:
        raise ModelError(
            f"unknown teacher table {name!r}",
            hint="use one of: " + ", ".join(TEACHER_TABLES) + ", or distillation=None in the parameters",
        )
    filename, expected = TEACHER_TABLES[name]
    return read_table(Path(__file__).with_name(filename), expected)


def read_table(path: Path, expected_sha256: str) -> tuple[pd.Series, dict[str, Any]]:
    """A teacher table file, read only if its sha256 is ``expected_sha256``."""
    payload = read_pinned(
        Path(path),
        expected_sha256,
        what="the teacher table",
        pinned_as="the pinned one (its sha256 differs)",
        hint=f"restore it from the release (git checkout moderation/{Path(path).name}), or rebuild "
        "it with scripts/build_teacher_table.py and pin its sha256 in distill.TEACHER_TABLES",
    )
    with np.load(io.BytesIO(payload), allow_pickle=False) as stored:
        probabilities = pd.Series(stored["insult"].astype(np.float64), index=stored["keys"])
        metadata = json.loads(stored["metadata"].tobytes().decode("utf-8"))
    if not probabilities.index.is_unique:
        raise ModelError(f"{path}: a text group appears twice", hint="rebuild it with the script")
    return probabilities, metadata


def soft_targets(
    train: pd.DataFrame,
    text_groups: np.ndarray,
    *,
    teacher: str,
    label_share: float,
    unlabelled_weight: float,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """The insult head's target and weight for every row of ``train`` (NaN target: not an
    insult row), and what the teacher changed (for the model card). ``text_groups`` is each
    row's ``training.text_groups`` (the table's keys are texts, not threads). See the module
    docstring."""
    if not 0.0 <= label_share <= 1.0:
        raise ValueError(f"label_share must be within [0, 1], not {label_share}")
    if unlabelled_weight < 0.0:
        raise ValueError(f"unlabelled_weight must not be negative, not {unlabelled_weight}")
    if len(text_groups) != len(train):
        raise ValueError(f"{len(text_groups)} text groups for {len(train)} rows")
    probabilities, metadata = teacher_table(teacher)
    hard = train["corpus"].isin(HARD_LABEL_CORPORA).to_numpy()
    target, weight, softened, filled = _compute_soft_targets(
        label=train["insult"].to_numpy(dtype=float),
        weight=train["insult_weight"].to_numpy(dtype=float),
        taught=probabilities.reindex(group_keys(text_groups)).to_numpy(),
        hard=hard,
        label_share=label_share,
        unlabelled_weight=unlabelled_weight,
    )
    corpus = train["corpus"].to_numpy()
    by_corpus = {
        name: {"softened": int(softened[corpus == name].sum()), "filled": int(filled[corpus == name].sum())}
        for name in pd.unique(corpus)
    }
    stats = {
        "teacher": teacher,
        "file": f"moderation/{TEACHER_TABLES[teacher][0]}",
        "sha256": TEACHER_TABLES[teacher][1],
        "label_share": label_share,
        "unlabelled_weight": unlabelled_weight,
        "softened_rows": int(softened.sum()),
        "filled_rows": int(filled.sum()),
        "by_corpus": {name: n for name, n in by_corpus.items() if n["softened"] or n["filled"]},
        "thresholds": "chosen on the hard labels only; the taught texts choose nothing",
        "teacher_card": metadata,
    }
    return target, weight, stats


def _compute_soft_targets(
    *,
    label: np.ndarray,
    weight: np.ndarray,
    taught: np.ndarray,
    hard: np.ndarray,
    label_share: float,
    unlabelled_weight: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    known = ~np.isnan(taught)
    softened = known & ~np.isnan(label) & ~hard
    filled = known & np.isnan(label) & ~hard & (unlabelled_weight > 0)
    target, weight = label.copy(), weight.copy()
    target[softened] = label_share * label[softened] + (1.0 - label_share) * taught[softened]
    target[filled] = taught[filled]
    weight[filled] = unlabelled_weight
    return target, weight, softened, filled


def expand_soft(
    target: np.ndarray, weight: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each row of a soft ``target`` (in [0, 1]) as up to two rows: insult 1 at ``weight * t``
    and insult 0 at ``weight * (1 - t)``; a hard target (0 or 1) stays one row. Returns the
    hard labels, their weights, and each new row's index into the inputs (in input order)."""
    target = np.asarray(target, dtype=float)
    weight = np.asarray(weight, dtype=float)
    if np.isnan(target).any() or (target < 0).any() or (target > 1).any():
        raise ValueError("soft targets must be within [0, 1]")
    positive, negative = target > 0, target < 1
    # Interleaved (row i's positive copy, then its negative one), so hard rows keep their order.
    origin = np.repeat(np.arange(len(target)), 2)
    labels = np.tile([1, 0], len(target))
    weights = np.column_stack([weight * target, weight * (1 - target)]).ravel()
    keep = np.column_stack([positive, negative]).ravel()
    return labels[keep], weights[keep], origin[keep]
