"""Label issues: the likely mislabels among the moderators' labels and the public corpora.

Sits beside training, upstream of the review queue:

    labelled rows (moderators' labels + corpora) ──grouped K folds of the text model──▶
    out-of-fold probabilities ──cleanlab find_label_issues──▶ ranked suspects ──▶
    ``label_issues`` table (store) ──▶ dashboard "Label issues" queue / ``moderation label-issues`` CSV

A suspect is a row whose given label the model, trained without that row (nor any row of its
thread or duplicate text), finds unlikely: cleanlab's confident learning flags it, and ranks
flagged rows by self-confidence, the out-of-fold probability of the given label (lowest first).
For a binary label the suggested label is the other one. The table is derived data: each run
replaces the previous run's rows for the labels it checked.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from moderation import config
from moderation.errors import ModerationError
from moderation.store import Store, comments, label_issues, utc_now

__all__ = [
    "MODERATORS",
    "SUSPECT_COLUMNS",
    "find_suspects",
    "out_of_fold_proba",
    "resolve_labels",
    "store_label_issues",
    "stored_label_issues",
]

#: Columns of a suspects frame, in order (``comment_id`` and ``thread_id`` are "" for corpus rows).
SUSPECT_COLUMNS = (
    "rank",
    "label",
    "given",
    "suggested",
    "self_confidence",
    "corpus",
    "comment_id",
    "thread_id",
    "text",
)

#: The corpus name of the moderators' labels (``moderation.review.moderator_labels``); only
#: these rows are comments of the store (corpus rows may carry ids of their own source).
MODERATORS = "moderators"

#: How a 0/1 label reads in the queue and the CSV: the moderators' own words.
_LABEL_WORDS = {0: "no", 1: "yes"}


def resolve_labels(label: str) -> tuple[str, ...]:
    """``insult``, ``troll`` or ``both`` as the labels to check, or an error with the fix."""
    if label == "both":
        return tuple(config.LABELS)
    if label in config.LABELS:
        return (label,)
    raise ModerationError(
        f"unknown label {label!r}", hint="use --label insult, --label troll or --label both"
    )


# --- out-of-fold probabilities -------------------------------------------------------------------


def out_of_fold_proba(
    texts: Sequence[str],
    y: Sequence[int] | np.ndarray,
    groups: Sequence[str] | np.ndarray,
    *,
    folds: int = config.LABEL_ISSUE_FOLDS,
    seed: int = config.SEED,
    sample_weight: Sequence[float] | np.ndarray | None = None,
    C: float = config.LABEL_ISSUE_C,
) -> np.ndarray:
    """Probabilities (n, 2) of labels 0 and 1 for every row, each from a model that never saw it.

    Grouped, stratified K folds: every group (a thread, or one folded text and its duplicates)
    sits on one side, so a row cannot be vouched for by its own copy. The model is the shipped
    insult head's linear part: ``HashedTextFeatures`` and a liblinear logistic regression. The
    features' idf is fitted once on all texts; it reads no label, so no held-out label leaks.
    """
    texts = ["" if t is None else str(t) for t in texts]
    y = np.asarray(y)
    groups = np.asarray(groups, dtype=object)
    if not (len(texts) == len(y) == len(groups)):
        raise ValueError(f"texts, y and groups differ in length: {len(texts)}, {len(y)}, {len(groups)}")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("y must hold only 0 and 1")
    weight = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, dtype=float)
    if weight.shape != y.shape:
        raise ValueError(f"sample_weight has {weight.shape[0]} values for {len(y)} rows")
    return _compute_out_of_fold(texts, y.astype(int), groups, weight, folds=folds, seed=seed, C=C)


def _splits(y: np.ndarray, groups: np.ndarray, folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    from sklearn.model_selection import StratifiedGroupKFold

    # Each class needs a row in every fold, and every fold a group of its own.
    per_class_groups = min(len(set(groups[y == value])) for value in (0, 1))
    n_splits = min(folds, per_class_groups)
    if n_splits < 2:
        raise ModerationError(
            f"too few labelled rows to check: {int((y == 1).sum())} yes and {int((y == 0).sum())} no "
            "(each needs at least 2 threads or distinct texts)",
            hint="label more comments, or judge them against public corpora with --data default",
        )
    splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(y)), y, groups))


def _compute_out_of_fold(
    texts: list[str],
    y: np.ndarray,
    groups: np.ndarray,
    weight: np.ndarray,
    *,
    folds: int,
    seed: int,
    C: float,
) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    from moderation.features import HashedTextFeatures

    proba = np.zeros((len(y), 2))
    # One BLAS/OpenMP thread, as in training: the same data gives the same suspects.
    with threadpool_limits(limits=1):
        X = HashedTextFeatures().fit(texts).transform(texts)
        for train, held_out in _splits(y, groups, folds, seed):
            model = LogisticRegression(C=C, solver="liblinear", max_iter=2000, random_state=seed)
            model.fit(X[train], y[train], sample_weight=weight[train])
            proba[held_out] = model.predict_proba(X[held_out])
    return proba


# --- suspects ------------------------------------------------------------------------------------


def find_suspects(
    frame: pd.DataFrame,
    label: str,
    *,
    folds: int = config.LABEL_ISSUE_FOLDS,
    seed: int = config.SEED,
    top: int | None = None,
) -> pd.DataFrame:
    """The rows of ``frame`` whose ``label`` is likely wrong, most likely first (``SUSPECT_COLUMNS``).

    ``frame`` has the columns of ``moderation.training.CORPUS_COLUMNS`` (at least ``text``,
    ``label`` and ``group``; ``<label>_weight``, ``corpus``, ``comment_id`` and ``thread_id``
    are used when present). Rows whose label is NaN are left out. The index of the result is
    the suspect's index in ``frame``; ``top`` keeps only the first ``top`` suspects.
    """
    if label not in config.LABELS:
        raise ValueError(f"label must be one of {config.LABELS}, not {label!r}")
    missing = [c for c in ("text", label) if c not in frame.columns]
    if missing:
        raise ValueError(f"frame lacks the columns {missing}")
    labelled = frame[frame[label].notna()]
    values = labelled[label].to_numpy(dtype=float)
    if not np.isin(values, (0.0, 1.0)).all():
        raise ValueError(f"the {label} column must hold 0, 1 or NaN")
    return _compute_suspects(labelled, label, values.astype(int), folds=folds, seed=seed, top=top)


def _column(frame: pd.DataFrame, name: str, default: Any) -> pd.Series:
    if name in frame.columns:
        return frame[name]
    return pd.Series(default, index=frame.index)


def _compute_suspects(
    labelled: pd.DataFrame, label: str, y: np.ndarray, *, folds: int, seed: int, top: int | None
) -> pd.DataFrame:
    from cleanlab.filter import find_label_issues

    from moderation.training import text_groups

    texts = labelled["text"].astype(str).tolist()
    given_groups = _column(labelled, "group", "").fillna("").astype(str).to_numpy(dtype=object)
    groups = np.where(given_groups == "", text_groups(texts), given_groups)
    weight = _column(labelled, f"{label}_weight", 1.0).fillna(1.0).to_numpy(dtype=float)
    proba = _compute_out_of_fold(texts, y, groups, weight, folds=folds, seed=seed, C=config.LABEL_ISSUE_C)
    # n_jobs=1: cleanlab would otherwise fork a process per core for a few array operations.
    ranked = find_label_issues(
        labels=y, pred_probs=proba, return_indices_ranked_by="self_confidence", n_jobs=1
    )
    if top is not None:
        ranked = ranked[: max(int(top), 0)]
    given = y[ranked]
    out = pd.DataFrame(
        {
            "rank": np.arange(1, len(ranked) + 1, dtype=np.int64),
            "label": label,
            "given": [_LABEL_WORDS[int(v)] for v in given],
            "suggested": [_LABEL_WORDS[1 - int(v)] for v in given],
            "self_confidence": proba[ranked, given],
            "corpus": _column(labelled, "corpus", "").fillna("").astype(str).to_numpy()[ranked],
            "comment_id": _column(labelled, "comment_id", "").fillna("").astype(str).to_numpy()[ranked],
            "thread_id": _column(labelled, "thread_id", "").fillna("").astype(str).to_numpy()[ranked],
            "text": np.asarray(texts, dtype=object)[ranked],
        },
        index=labelled.index[ranked],
    )
    return out[list(SUSPECT_COLUMNS)]


# --- the store -----------------------------------------------------------------------------------


def _labelled_rows(store: Store, data: str | None, root: Path | None) -> pd.DataFrame:
    from moderation.review import moderator_labels
    from moderation.training import CORPUS_COLUMNS, assemble_corpus, resolve_data_spec

    moderators = moderator_labels(store)
    if data is None or data.strip() == "none":
        return moderators
    corpus = assemble_corpus(resolve_data_spec(data), root=root)
    # The moderators' label of a text overrides a corpus label of the same text, as in training.
    corpus = corpus[~corpus["text"].isin(set(moderators["text"]))]
    return pd.concat([moderators, corpus[list(CORPUS_COLUMNS)]], ignore_index=True)


def store_label_issues(
    store: Store,
    *,
    label: str = "both",
    data: str | None = None,
    folds: int = config.LABEL_ISSUE_FOLDS,
    seed: int = config.SEED,
    root: Path | None = None,
) -> pd.DataFrame:
    """Find the suspects among the moderators' labels (judged together with the corpora named by
    ``data``, see ``moderation.training.resolve_data_spec``; ``None`` or ``"none"``: the
    moderators' labels alone) and store them in ``label_issues``, replacing the previous run's
    rows for the labels checked. Returns the stored rows (``SUSPECT_COLUMNS`` plus ``run_id``
    and ``created_at``), moderators' labels first, then by rank.
    """
    labels = resolve_labels(label)
    rows = _labelled_rows(store, data, root)
    checked = [name for name in labels if rows[name].notna().any()]
    if not checked:
        raise ModerationError(
            f"nothing is labelled {' or '.join(labels)} among the moderators' labels"
            + ("" if data in (None, "none") else f" or the corpora of --data {data}"),
            hint="label comments on the dashboard, or add public corpora with --data default",
        )
    found = [find_suspects(rows, name, folds=folds, seed=seed) for name in checked]
    suspects = pd.concat(found, ignore_index=True)
    run_id = f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{uuid.uuid4().hex[:8]}"
    created_at = utc_now()
    records = [
        {
            "run_id": run_id,
            "created_at": created_at,
            "label": record["label"],
            "rank": int(record["rank"]),
            "comment_id": (record["comment_id"] or None) if record["corpus"] == MODERATORS else None,
            "corpus": record["corpus"],
            "text": record["text"],
            "given": record["given"],
            "suggested": record["suggested"],
            "self_confidence": float(record["self_confidence"]),
        }
        for record in suspects.to_dict("records")
    ]
    with store.transaction() as conn:
        conn.execute(sa.delete(label_issues).where(label_issues.c.label.in_(checked)))
        if records:
            conn.execute(sa.insert(label_issues), records)
    return stored_label_issues(store, label=label)


def stored_label_issues(
    store: Store,
    *,
    label: str = "both",
    moderators_only: bool = False,
    limit: int | None = None,
    offset: int = 0,
) -> pd.DataFrame:
    """The stored suspects: moderators' labels first, then by label and rank.

    Columns: ``SUSPECT_COLUMNS``, ``run_id``, ``created_at``, and for the moderators' labels the
    comment's current state (``insult_label``, ``troll_label``, ``version``; empty for corpus
    rows), so the queue can show a suspect that has been relabelled since the run.
    """
    labels = resolve_labels(label)
    from_store = label_issues.c.comment_id.is_not(None)
    query = (
        sa.select(
            label_issues.c.rank,
            label_issues.c.label,
            label_issues.c.given,
            label_issues.c.suggested,
            label_issues.c.self_confidence,
            label_issues.c.corpus,
            sa.func.coalesce(label_issues.c.comment_id, "").label("comment_id"),
            sa.func.coalesce(comments.c.thread_id, "").label("thread_id"),
            label_issues.c.text,
            label_issues.c.run_id,
            label_issues.c.created_at,
            sa.func.coalesce(comments.c.insult_label, "").label("insult_label"),
            sa.func.coalesce(comments.c.troll_label, "").label("troll_label"),
            sa.func.coalesce(comments.c.version, 0).label("version"),
        )
        .select_from(label_issues.outerjoin(comments, label_issues.c.comment_id == comments.c.comment_id))
        .where(label_issues.c.label.in_(labels))
        .order_by(
            sa.case((from_store, 0), else_=1),
            label_issues.c.rank,
            label_issues.c.label,
        )
        .offset(max(int(offset), 0))
    )
    if moderators_only:
        query = query.where(from_store)
    if limit is not None:
        query = query.limit(min(max(int(limit), 0), config.MAX_PAGE_SIZE))
    frame = store.read(query)
    frame["rank"] = frame["rank"].astype("int64")
    frame["version"] = frame["version"].astype("int64")
    return frame
