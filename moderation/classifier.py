"""Classifier: the calibrated heads and the ``ModerationModel`` that scores comment frames.

Sits after ``moderation.features`` and before scoring, the store and the dashboard:

    canonical rows ──TextFeatures──▶ X (shared) ──insult head──▶ insult_score
                  └─ContextSignals(hostility = insult)──┐
                                         X + context ──troll head──▶ troll_score
    scores ──thresholds from the card──▶ flag;  contributions ──explain──▶ reasons

``CalibratedLinearHead`` is a scikit-learn classifier: a linear model fitted on all rows, and a
calibration map fitted on its out-of-fold scores (grouped, so that no thread or duplicate text
calibrates itself). ``ModerationModel`` is the artifact the registry stores and loads.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from moderation import config
from moderation.errors import ModelError
from moderation.features import ContextSignals, TextFeatures

__all__ = ["CalibratedLinearHead", "ModerationModel"]


class CalibratedLinearHead(ClassifierMixin, BaseEstimator):
    """Logistic regression whose probabilities are calibrated on out-of-fold scores.

    ``fit(X, y, sample_weight=None, groups=None)``: the calibration folds keep every group
    (thread or duplicate text) on one side. ``calibration`` is ``"sigmoid"`` (Platt scaling,
    smooth, good with little data) or ``"isotonic"``; ``None`` keeps the raw probabilities.
    """

    def __init__(
        self,
        *,
        C: float = 4.0,
        class_weight: str | dict | None = None,
        calibration: str | None = "sigmoid",
        cv: int = 5,
        max_iter: int = 2000,
        random_state: int = config.SEED,
    ) -> None:
        self.C = C
        self.class_weight = class_weight
        self.calibration = calibration
        self.cv = cv
        self.max_iter = max_iter
        self.random_state = random_state

    def _linear(self) -> LogisticRegression:
        return LogisticRegression(
            C=self.C,
            class_weight=self.class_weight,
            max_iter=self.max_iter,
            solver="liblinear",
            random_state=self.random_state,
        )

    def fit(
        self,
        X: Any,
        y: Any,
        sample_weight: np.ndarray | None = None,
        groups: np.ndarray | None = None,
    ) -> CalibratedLinearHead:
        if self.calibration not in ("sigmoid", "isotonic", None):
            raise ValueError(f"calibration must be 'sigmoid', 'isotonic' or None, not {self.calibration!r}")
        X, y = validate_data(self, X, y, accept_sparse="csr", dtype=[np.float64, np.float32])
        check_classification_targets(y)
        self.classes_, encoded = np.unique(y, return_inverse=True)
        if len(self.classes_) != 2:
            raise ValueError(f"CalibratedLinearHead is binary; got {len(self.classes_)} classes")
        weight = np.ones(len(encoded)) if sample_weight is None else np.asarray(sample_weight, dtype=float)
        self.linear_ = clone(self._linear()).fit(X, encoded, sample_weight=weight)
        self.calibrator_ = None
        if self.calibration is not None:
            oof = self._out_of_fold(X, encoded, weight, groups)
            self.calibrator_ = self._fit_calibrator(oof, encoded, weight)
            # Kept for training to choose thresholds on scores no row has seen itself; the
            # trainer deletes it before the model is saved.
            self.oof_proba_ = self._calibrate(oof)
        return self

    def _out_of_fold(
        self, X: Any, y: np.ndarray, weight: np.ndarray, groups: np.ndarray | None
    ) -> np.ndarray:
        n_splits = int(min(self.cv, np.bincount(y).min()))
        if n_splits < 2:
            return self.linear_.decision_function(X)
        if groups is not None:
            splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=self.random_state)
            splits = splitter.split(X, y, groups)
        else:
            splitter = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=self.random_state)
            splits = splitter.split(X, y)
        oof = np.zeros(len(y))
        for train, test in splits:
            model = clone(self._linear()).fit(X[train], y[train], sample_weight=weight[train])
            oof[test] = model.decision_function(X[test])
        return oof

    def _fit_calibrator(self, scores: np.ndarray, y: np.ndarray, weight: np.ndarray) -> Any:
        if self.calibration == "isotonic":
            return IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(
                scores, y, sample_weight=weight
            )
        platt = LogisticRegression(C=1e6, solver="lbfgs", max_iter=1000)
        return platt.fit(scores.reshape(-1, 1), y, sample_weight=weight)

    def decision_function(self, X: Any) -> np.ndarray:
        """The raw linear score (log-odds before calibration)."""
        check_is_fitted(self, "linear_")
        X = validate_data(self, X, accept_sparse="csr", dtype=[np.float64, np.float32], reset=False)
        return self.linear_.decision_function(X)

    def predict_proba(self, X: Any) -> np.ndarray:
        positive = self._calibrate(self.decision_function(X))
        return np.column_stack([1.0 - positive, positive])

    def _calibrate(self, scores: np.ndarray) -> np.ndarray:
        if self.calibrator_ is None:
            positive = 1.0 / (1.0 + np.exp(-scores))
        elif isinstance(self.calibrator_, IsotonicRegression):
            positive = self.calibrator_.predict(scores)
        else:
            positive = self.calibrator_.predict_proba(scores.reshape(-1, 1))[:, 1]
        return np.clip(positive, 0.0, 1.0)

    def predict(self, X: Any) -> np.ndarray:
        return self.classes_[(self.predict_proba(X)[:, 1] >= 0.5).astype(int)]

    @property
    def coef_(self) -> np.ndarray:
        check_is_fitted(self, "linear_")
        return self.linear_.coef_

    def __sklearn_tags__(self):  # type: ignore[no-untyped-def]
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


def _texts_of(frame: pd.DataFrame) -> list[str]:
    if "text" not in frame.columns:
        raise ModelError(
            "the frame has no 'text' column",
            hint="read the input with moderation.ingest.read_comments, or name the column 'text'",
        )
    return ["" if not isinstance(t, str) else t[: config.MAX_COMMENT_CHARS] for t in frame["text"].tolist()]


class ModerationModel:
    """A trained model: text features, the insult head and the troll head, with its card.

    ``score_frame(frame)`` returns a copy of ``frame`` (same rows, same order, same index) with
    ``insult_score``, ``troll_score``, ``flag``, ``reasons`` and ``model_version`` added. The
    troll head also reads the context of the other rows of the same thread in ``frame``.
    """

    def __init__(
        self,
        *,
        text_features: TextFeatures,
        insult_head: CalibratedLinearHead,
        troll_head: CalibratedLinearHead,
        context: ContextSignals | None,
        version: str = "unversioned",
        card: dict | None = None,
        thresholds: dict[str, float] | None = None,
    ) -> None:
        self.text_features = text_features
        self.insult_head = insult_head
        self.troll_head = troll_head
        self.context = context
        self.version = version
        self.card = card if card is not None else {}
        self.thresholds = dict(thresholds if thresholds is not None else config.DEFAULT_THRESHOLDS)

    # --- the matrices each head reads --------------------------------------------------------

    def text_matrix(self, texts: list[str]) -> sparse.csr_matrix:
        return self.text_features.transform(texts)

    def troll_matrix(self, X: sparse.csr_matrix, frame: pd.DataFrame, insult: np.ndarray) -> sparse.csr_matrix:
        if self.context is None:
            return X
        context_frame = frame.assign(hostility=insult)
        context = self.context.transform(context_frame)
        return sparse.hstack([X, sparse.csr_matrix(context)], format="csr", dtype=X.dtype)

    # --- scoring -------------------------------------------------------------------------------

    def score_texts(self, texts: list[str]) -> pd.DataFrame:
        """Scores of bare texts (no thread context): ``insult_score`` and ``troll_score``."""
        scored = self.score_frame(pd.DataFrame({"text": list(texts)}), explain=False)
        return scored[["insult_score", "troll_score"]]

    def score_frame(self, frame: pd.DataFrame, *, explain: bool = True) -> pd.DataFrame:
        """Score every row of ``frame``; see the class docstring for the columns added."""
        texts = _texts_of(frame)
        scored = frame.copy()
        if not texts:
            for column, dtype in (("insult_score", "float64"), ("troll_score", "float64")):
                scored[column] = pd.Series(dtype=dtype)
            for column in ("flag", "reasons", "model_version"):
                scored[column] = pd.Series(dtype=object)
            return scored
        X = self.text_matrix(texts)
        insult = self.insult_head.predict_proba(X)[:, 1]
        X_troll = self.troll_matrix(X, frame, insult)
        troll = self.troll_head.predict_proba(X_troll)[:, 1]
        scored["insult_score"] = insult
        scored["troll_score"] = troll
        scored["flag"] = self.flags(insult, troll)
        if explain:
            from moderation.explain import reasons_for

            scored["reasons"] = reasons_for(self, texts, X, X_troll, insult, troll)
        else:
            scored["reasons"] = ""
        scored["model_version"] = self.version
        return scored

    def flags(self, insult: np.ndarray, troll: np.ndarray) -> np.ndarray:
        is_insult = insult >= self.thresholds.get("insult", config.DEFAULT_THRESHOLDS["insult"])
        is_troll = troll >= self.thresholds.get("troll", config.DEFAULT_THRESHOLDS["troll"])
        labels = np.array(["", "insult", "troll", "insult,troll"], dtype=object)
        return labels[is_insult.astype(int) + 2 * is_troll.astype(int)]

    def __repr__(self) -> str:
        return f"ModerationModel(version={self.version!r}, thresholds={self.thresholds!r})"
