"""Evaluation: how good a model's scores are against labelled comments.

Sits after the classifier and before the registry's promotion gate: ``evaluate_model`` scores a
labelled frame and returns ROC AUC, average precision, F1 (with precision and recall) at the
model's threshold, the expected calibration error and the reliability bins behind it.
``moderation evaluate MODEL DATA`` prints the same figures; training writes them into the card.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

from moderation import config
from moderation.errors import InputError, MissingColumnError

__all__ = [
    "POSITIVE_LABEL_VALUES",
    "binary_labels",
    "cumulative_counts",
    "evaluate_files",
    "evaluate_model",
    "evaluate_scores",
    "expected_calibration_error",
    "precision_curve",
    "reliability_bins",
    "threshold_for_precision",
]

#: Text label values read as positive (compared in lower case); numbers above 0.5 are positive.
POSITIVE_LABEL_VALUES = frozenset(
    {"1", "true", "yes", "y", "insult", "troll", "offensive", "off", "tin", "toxic", "cag", "oag", "positive"}
)
NEGATIVE_LABEL_VALUES = frozenset(
    {"0", "false", "no", "n", "none", "not", "safe", "nag", "unt", "neither", "negative", "clean"}
)


def binary_labels(
    values: pd.Series, *, positive: Iterable[str] = (), negative: Iterable[str] = ()
) -> np.ndarray:
    """0/1 labels from a label column: numbers (> 0.5 is positive), booleans or known words.

    ``positive`` and ``negative`` add words of the dump's own (any case): OLID's subtask B
    column holds TIN, UNT and NULL, and NULL (not offensive at all) is a negative for insult.
    Missing values become NaN (left out of every metric).
    """
    extra_positive = {str(v).strip().lower() for v in positive}
    extra_negative = {str(v).strip().lower() for v in negative}
    both = sorted(extra_positive & extra_negative)
    if both:
        raise InputError(
            f"label values {both} are given as both positive and negative", hint="give each value once"
        )
    positives = (POSITIVE_LABEL_VALUES - extra_negative) | extra_positive
    negatives = (NEGATIVE_LABEL_VALUES - extra_positive) | extra_negative
    words = values.astype("string").str.strip().str.lower()
    numeric = pd.to_numeric(values, errors="coerce")
    is_positive = words.isin(list(positives)).to_numpy(dtype=bool)
    is_negative = words.isin(list(negatives)).to_numpy(dtype=bool)
    missing = (words.isna() | (words == "")).to_numpy(dtype=bool)
    is_number = numeric.notna().to_numpy(dtype=bool) & ~is_positive & ~is_negative
    unknown = sorted(set(words[~(is_positive | is_negative | is_number | missing)]))
    if unknown:
        raise InputError(
            f"label values {unknown[:5]} are neither positive nor negative",
            hint="use 0/1, true/false or one of " + ", ".join(sorted(POSITIVE_LABEL_VALUES))
            + "; or name the dump's own values with --positive and --negative (comma-separated)",
        )
    out = np.full(len(values), np.nan)
    out[is_number] = (numeric.to_numpy(dtype=np.float64)[is_number] > 0.5).astype(float)
    out[is_positive] = 1.0
    out[is_negative] = 0.0
    return out


def reliability_bins(
    y: np.ndarray,
    p: np.ndarray,
    *,
    bins: int = config.CALIBRATION_BINS,
    sample_weight: np.ndarray | None = None,
) -> list[dict[str, float]]:
    """Equal-width bins of predicted probability: count, mean prediction, observed rate."""
    w = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, dtype=float)
    index = np.minimum((np.asarray(p) * bins).astype(int), bins - 1)
    out = []
    for b in range(bins):
        mask = index == b
        weight = w[mask].sum()
        out.append(
            {
                "low": b / bins,
                "high": (b + 1) / bins,
                "count": int(mask.sum()),
                "mean_predicted": float((p[mask] * w[mask]).sum() / weight) if weight else None,
                "observed_rate": float((y[mask] * w[mask]).sum() / weight) if weight else None,
            }
        )
    return out


def expected_calibration_error(
    y: np.ndarray,
    p: np.ndarray,
    *,
    bins: int = config.CALIBRATION_BINS,
    sample_weight: np.ndarray | None = None,
) -> float:
    """Weighted mean gap between predicted probability and observed rate over equal-width bins."""
    w = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, dtype=float)
    total = w.sum()
    if total == 0:
        return float("nan")
    ece = 0.0
    for row in reliability_bins(y, p, bins=bins, sample_weight=w):
        if row["mean_predicted"] is None:
            continue
        mask = np.minimum((p * bins).astype(int), bins - 1) == round(row["low"] * bins)
        ece += w[mask].sum() / total * abs(row["mean_predicted"] - row["observed_rate"])
    return float(ece)


def evaluate_scores(
    y: Iterable[float], p: Iterable[float], *, threshold: float, sample_weight: np.ndarray | None = None
) -> dict[str, Any]:
    """Every figure for one label: n, positives, auc, ap, precision/recall/f1 at ``threshold``, ece."""
    y = np.asarray(list(y) if not isinstance(y, np.ndarray) else y, dtype=float)
    p = np.asarray(list(p) if not isinstance(p, np.ndarray) else p, dtype=float)
    if y.shape != p.shape:
        raise ValueError(f"labels and scores differ in length: {len(y)} and {len(p)}")
    keep = ~np.isnan(y)
    y, p = y[keep].astype(int), p[keep]
    w = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, dtype=float)[keep]
    both_classes = len(np.unique(y)) == 2
    predicted = p >= threshold
    tp = float(w[predicted & (y == 1)].sum())
    fp = float(w[predicted & (y == 0)].sum())
    fn = float(w[~predicted & (y == 1)].sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return {
        "n": len(y),
        "positives": int(y.sum()),
        "auc": float(roc_auc_score(y, p, sample_weight=w)) if both_classes else None,
        "ap": float(average_precision_score(y, p, sample_weight=w)) if both_classes else None,
        "threshold": float(threshold),
        "precision": precision,
        "recall": recall,
        "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
        "ece": expected_calibration_error(y, p, sample_weight=w) if len(y) else None,
        "reliability": reliability_bins(y, p, sample_weight=w) if len(y) else [],
    }


def cumulative_counts(
    y: np.ndarray, p: np.ndarray, sample_weight: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The (weighted) true and false positives when flagging every score at or above each
    distinct score: ``(thresholds, tp, fp)``, thresholds descending (cuts fall only between
    distinct scores)."""
    y = np.asarray(y, dtype=int)
    p = np.asarray(p, dtype=float)
    w = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, dtype=float)
    order = np.argsort(-p, kind="stable")
    y, p, w = y[order], p[order], w[order]
    tp = np.cumsum(w * y)
    fp = np.cumsum(w * (1 - y))
    last = np.r_[p[1:] != p[:-1], True]
    return p[last], tp[last], fp[last]


def precision_curve(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision and recall when flagging every score at or above each distinct score.

    Returns ``(thresholds, precision, recall)``, thresholds descending.
    """
    thresholds, tp, fp = cumulative_counts(y, p)
    positives = max(tp[-1] if len(tp) else 0.0, 1.0)
    return thresholds, tp / (tp + fp), tp / positives


def _lowest_reaching(y: np.ndarray, p: np.ndarray, target: float) -> float | None:
    thresholds, precision, _ = precision_curve(y, p)
    reaching = np.flatnonzero(precision >= target)
    # Thresholds descend: the last one reaching the target flags the most (the best recall).
    return float(thresholds[reaching[-1]]) if len(reaching) else None


def _wilson(successes: float, n: float, z: float = 1.96) -> tuple[float, float]:
    if n <= 0:
        return (0.0, 1.0)
    rate = successes / n
    centre = (rate + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(rate * (1 - rate) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (float(max(0.0, centre - half)), float(min(1.0, centre + half)))


def threshold_for_precision(
    y: Iterable[float],
    p: Iterable[float],
    *,
    target: float = config.TARGET_PRECISION,
    resamples: int = config.THRESHOLD_BOOTSTRAP,
    seed: int = config.SEED,
) -> dict[str, Any]:
    """The lowest threshold whose flags reach ``target`` precision on labels ``y`` (the one with
    the best recall among those that do), with the precision and recall there.

    Its uncertainty: ``threshold_low``/``threshold_high`` are the 2.5th and 97.5th percentiles
    of the threshold chosen the same way on ``resamples`` bootstrap resamples of the labels;
    ``precision_low``/``precision_high`` the Wilson 95% interval of the precision at it.
    ``threshold`` is None when no threshold reaches the target (or there are no positives).
    """
    y = np.asarray(list(y) if not isinstance(y, np.ndarray) else y, dtype=float)
    p = np.asarray(list(p) if not isinstance(p, np.ndarray) else p, dtype=float)
    keep = ~np.isnan(y)
    y, p = y[keep].astype(int), p[keep]
    out: dict[str, Any] = {
        "target_precision": float(target),
        "n": len(y),
        "positives": int(y.sum()),
        "threshold": None,
        "threshold_low": None,
        "threshold_high": None,
        "precision": None,
        "precision_low": None,
        "precision_high": None,
        "recall": None,
        "resamples_reaching": 0,
    }
    if not len(y) or not y.sum():
        return out
    threshold = _lowest_reaching(y, p, target)
    if threshold is None:
        return out
    flagged = p >= threshold
    tp = int((flagged & (y == 1)).sum())
    out.update(
        threshold=threshold,
        precision=tp / int(flagged.sum()),
        recall=tp / int(y.sum()),
    )
    out["precision_low"], out["precision_high"] = _wilson(tp, int(flagged.sum()))
    rng = np.random.default_rng(seed)
    found = []
    for _ in range(resamples):
        pick = rng.integers(0, len(y), len(y))
        chosen = _lowest_reaching(y[pick], p[pick], target)
        if chosen is not None:
            found.append(chosen)
    out["resamples_reaching"] = len(found)
    if found:
        out["threshold_low"] = round(float(np.percentile(found, 2.5)), 4)
        out["threshold_high"] = round(float(np.percentile(found, 97.5)), 4)
    return out


def evaluate_model(
    model: Any,
    frame: pd.DataFrame,
    *,
    label_column: str,
    label: str = "insult",
    positive: Iterable[str] = (),
    negative: Iterable[str] = (),
) -> dict[str, Any]:
    """Score ``frame`` with ``model`` and compare ``label`` scores with ``frame[label_column]``.

    Rows whose label is missing are left out. ``label`` picks the head: ``insult`` or ``troll``.
    ``positive`` and ``negative``: the dump's own label words (see ``binary_labels``).
    """
    if label not in config.LABELS:
        raise InputError(f"unknown label {label!r}", hint="use --label insult or --label troll")
    if label_column not in frame.columns:
        raise MissingColumnError(
            f"no label column {label_column!r}; columns are {', '.join(map(str, frame.columns))}",
            hint="pass --label-column with the column holding the 0/1 labels",
        )
    y = binary_labels(frame[label_column], positive=positive, negative=negative)
    scored = model.score_frame(frame, explain=False)
    result = evaluate_scores(y, scored[f"{label}_score"].to_numpy(), threshold=model.thresholds[label])
    result.update({"label": label, "label_column": label_column, "model_version": model.version})
    return result


def evaluate_files(
    model_ref: str | Path | None,
    paths: Iterable[str | Path],
    *,
    label_column: str,
    label: str = "insult",
    text_column: str | None = None,
    format: str = "auto",
    positive: Iterable[str] = (),
    negative: Iterable[str] = (),
) -> dict[str, Any]:
    """``evaluate_model`` over dump files read with ``read_comments`` (whole input in memory)."""
    from moderation.ingest import read_comments
    from moderation.registry import load_model

    model = load_model(model_ref)
    frames = list(read_comments(paths, format=format, text_column=text_column))
    frame = pd.concat(frames, ignore_index=True)
    if label_column not in frame.columns:
        # Readers keep input columns as they were named; match the label column ignoring case.
        matches = [c for c in frame.columns if str(c).lower() == label_column.lower()]
        if matches:
            label_column = matches[0]
    return evaluate_model(
        model, frame, label_column=label_column, label=label, positive=positive, negative=negative
    )
