"""Classifier: the calibrated heads that ``moderation.training`` fits for ``ModerationModel``.

Sits after ``moderation.features`` and before ``moderation.model`` (which scores with them):

    canonical rows ──TextFeatures──▶ X (shared) ──insult head──▶ insult_score
                  └─ContextSignals(hostility = insult)──┐
                                         X + context ──troll head──▶ troll_score

``CalibratedLinearHead`` is a scikit-learn classifier: a linear model fitted on all rows, and a
calibration map fitted on its out-of-fold scores (grouped, so that no thread or duplicate text
calibrates itself); its scoring half (``model.LinearHeadScoring``) is all a loaded model needs.
``ModerationModel`` and ``SiteCalibration`` live in ``moderation.model`` and are re-exported
here, where artifacts saved before the split name them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from moderation import config
from moderation.model import (  # re-exported: the model and its parts' scoring halves live there
    LinearHeadScoring,
    ModerationModel,
    SiteCalibration,
)

__all__ = ["CalibratedLinearHead", "ModerationModel", "SiteCalibration", "zero_columns"]


def zero_columns(X: Any, columns: np.ndarray | tuple[int, ...]) -> Any:
    """X with ``columns`` set to zero (a linear fit then gives them no weight); X itself when
    there are none."""
    if not len(columns):
        return X
    if sparse.issparse(X):
        keep = np.ones(X.shape[1])
        keep[np.asarray(columns)] = 0.0
        out = (X @ sparse.diags(keep)).tocsr()
        out.eliminate_zeros()
        return out.astype(X.dtype)
    out = np.array(X, copy=True)
    out[:, np.asarray(columns)] = 0.0
    return out


class CalibratedLinearHead(LinearHeadScoring, ClassifierMixin, BaseEstimator):
    """Logistic regression whose probabilities are calibrated on out-of-fold scores.

    ``fit(X, y, sample_weight=None, groups=None)``: the calibration folds keep every group
    (thread or duplicate text) on one side. ``nb_scaling`` scales every column by its naive
    Bayes log-count ratio before the fit (NB-SVM, Wang and Manning 2012); the ratios are put
    into ``coef_``, so scoring costs the same as without them. ``calibration`` is ``"sigmoid"``
    (Platt scaling, smooth, good with little data) or ``"isotonic"``; ``None`` keeps the raw
    probabilities.

    ``stacked`` names columns (indices into X) that the linear fit leaves out and the Platt
    calibration takes in beside the out-of-fold score: their weights are learned on scores no
    row has seen itself. Use it for dense signals of a model learned elsewhere (the semantic
    leanings, ``kernel.SEMANTIC_FEATURES``): fitted with thousands of n-gram columns that
    memorise the training rows, such a signal gets far less weight than it earns on new text.
    The weights are folded into ``linear_`` afterwards, so the head scores as a plain one.

    ``solver`` is scikit-learn's: "liblinear" (its trust-region Newton method), or "lbfgs",
    several times faster on soft targets (``distill.expand_soft``: each text twice, once per
    label), where the Newton steps need many more conjugate-gradient iterations.
    """

    def __init__(
        self,
        *,
        C: float = 4.0,
        class_weight: str | dict | None = None,
        calibration: str | None = "sigmoid",
        nb_scaling: bool = False,
        cv: int = 5,
        max_iter: int = 2000,
        random_state: int = config.SEED,
        stacked: tuple[int, ...] = (),
        solver: str = "liblinear",
    ) -> None:
        self.C = C
        self.class_weight = class_weight
        self.calibration = calibration
        self.nb_scaling = nb_scaling
        self.cv = cv
        self.max_iter = max_iter
        self.random_state = random_state
        self.stacked = stacked
        self.solver = solver

    def _check_fitted(self) -> None:
        check_is_fitted(self, "linear_")

    def _linear(self) -> LogisticRegression:
        return LogisticRegression(
            C=self.C,
            class_weight=self.class_weight,
            max_iter=self.max_iter,
            solver=self.solver,
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
            raise ValueError(
                "Only binary classification is supported. "
                f"CalibratedLinearHead got {len(self.classes_)} classes"
            )
        weight = np.ones(len(encoded)) if sample_weight is None else np.asarray(sample_weight, dtype=float)
        stacked = np.asarray(self.stacked, dtype=np.int64)
        if len(stacked) and self.calibration != "sigmoid":
            raise ValueError("stacked columns need calibration='sigmoid'")
        if len(stacked) and (stacked.min() < 0 or stacked.max() >= X.shape[1]):
            raise ValueError(f"stacked columns must be indices below {X.shape[1]}, not {self.stacked}")
        extra = None
        if len(stacked):
            extra = X[:, stacked].toarray() if sparse.issparse(X) else np.asarray(X)[:, stacked].copy()
            X = zero_columns(X, stacked)
        self.scale_ = self._nb_ratios(X, encoded, weight) if self.nb_scaling else None
        self.linear_ = self._fit_linear(self._scaled(X), encoded, weight)
        self.calibrator_ = None
        if self.calibration is not None:
            oof = self._out_of_fold(X, encoded, weight, groups)
            self.calibrator_ = self._fit_calibrator(oof, encoded, weight, extra)
            if extra is not None:
                # a * score + b . extra + c = a * (score + (b / a) . extra) + c: the extra
                # columns join the linear part, and the calibrator keeps a and c alone.
                slope = float(self.calibrator_.coef_[0, 0])
                share = self.calibrator_.coef_[0, 1:] / slope
                coef = self.linear_.coef_.copy()
                coef[0, stacked] = share if self.scale_ is None else share / self.scale_[stacked]
                self.linear_.coef_ = coef
                self.calibrator_.coef_ = self.calibrator_.coef_[:, :1].copy()
                self.calibrator_.n_features_in_ = 1
                oof = oof + extra @ share
            # Kept for training to choose thresholds on scores no row has seen itself; the
            # trainer deletes it before the model is saved.
            self.oof_proba_ = self._calibrate(oof)
        return self

    def _fit_linear(self, X: Any, y: np.ndarray, weight: np.ndarray) -> LogisticRegression:
        """The linear part fitted on the columns that hold a value in ``X``, its weights then
        spread back over all of them (0 for the rest). With L2 regularisation an empty column's
        weight is 0 at the optimum anyway, and both solvers start it at 0 and never move it; but
        each of their iterations costs time in every column, and the hashed space has two
        million, of which the default corpora fill about a quarter (the default training takes
        half the time: lbfgs fits 4.7 times faster, liblinear 2.3 times)."""
        model = clone(self._linear())
        if not sparse.issparse(X):
            return model.fit(X, y, sample_weight=weight)
        X = X.tocsr()
        used = np.flatnonzero(np.bincount(X.indices, minlength=X.shape[1]))
        if not len(used) and X.shape[1]:
            used = np.zeros(1, dtype=np.int64)  # all empty: the intercept alone, as on the full width
        model.fit(X[:, used], y, sample_weight=weight)
        coef = np.zeros((model.coef_.shape[0], X.shape[1]), dtype=model.coef_.dtype)
        coef[:, used] = model.coef_
        model.coef_ = coef
        model.n_features_in_ = X.shape[1]
        return model

    @staticmethod
    def _nb_ratios(X: Any, y: np.ndarray, weight: np.ndarray) -> np.ndarray:
        # Weighted presence counts of each column in each class, smoothed by 1.
        present = (
            (X != 0).astype(np.float64) if sparse.issparse(X) else (np.asarray(X) != 0).astype(np.float64)
        )
        positive = np.asarray(present.T @ (weight * (y == 1))).ravel() + 1.0
        negative = np.asarray(present.T @ (weight * (y == 0))).ravel() + 1.0
        return np.log((positive / positive.sum()) / (negative / negative.sum()))

    def _scaled(self, X: Any) -> Any:
        scale = getattr(self, "scale_", None)
        if scale is None:
            return X
        return X.multiply(scale).tocsr() if sparse.issparse(X) else np.asarray(X) * scale

    def _out_of_fold(
        self, X: Any, y: np.ndarray, weight: np.ndarray, groups: np.ndarray | None
    ) -> np.ndarray:
        n_splits = int(min(self.cv, np.bincount(y).min()))
        if n_splits < 2:
            return self.linear_.decision_function(self._scaled(X))
        if groups is not None:
            splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=self.random_state)
            splits = splitter.split(X, y, groups)
        else:
            splitter = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=self.random_state)
            splits = splitter.split(X, y)
        oof = np.zeros(len(y))
        for train, test in splits:
            # Naive Bayes ratios come from the fitting folds only: the held-out rows' labels
            # must not leak into the scores that calibrate them.
            scale = self._nb_ratios(X[train], y[train], weight[train]) if self.nb_scaling else None

            def scaled(rows: Any, scale: np.ndarray | None = scale) -> Any:
                if scale is None:
                    return rows
                return rows.multiply(scale).tocsr() if sparse.issparse(rows) else np.asarray(rows) * scale

            model = self._fit_linear(scaled(X[train]), y[train], weight[train])
            oof[test] = model.decision_function(scaled(X[test]))
        return oof

    def _fit_calibrator(
        self, scores: np.ndarray, y: np.ndarray, weight: np.ndarray, extra: np.ndarray | None = None
    ) -> Any:
        if self.calibration == "isotonic":
            return IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(
                scores, y, sample_weight=weight
            )
        platt = LogisticRegression(C=1e6, solver="lbfgs", max_iter=1000)
        inputs = scores.reshape(-1, 1) if extra is None else np.column_stack([scores, extra])
        return platt.fit(inputs, y, sample_weight=weight)

    def raw_scores(self, X: Any) -> np.ndarray:
        """The linear score before calibration (``calibrated`` maps it to a probability)."""
        check_is_fitted(self, "linear_")
        X = validate_data(self, X, accept_sparse="csr", dtype=[np.float64, np.float32], reset=False)
        return self.linear_.decision_function(self._scaled(X))

    def decision_function(self, X: Any) -> np.ndarray:
        """The calibrated log-odds: positive exactly where ``predict`` says the positive class
        (the raw linear score's zero is not the calibrated probability's 0.5)."""
        positive = np.clip(self.predict_proba(X)[:, 1], 1e-12, 1.0 - 1e-12)
        return np.log(positive) - np.log1p(-positive)

    def predict_proba(self, X: Any) -> np.ndarray:
        positive = self._calibrate(self.raw_scores(X))
        return np.column_stack([1.0 - positive, positive])

    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "linear_")
        return self.classes_[(self.predict_proba(X)[:, 1] >= 0.5).astype(int)]

    @property
    def n_iter_(self) -> np.ndarray:
        check_is_fitted(self, "linear_")
        return self.linear_.n_iter_

    def __sklearn_tags__(self):  # type: ignore[no-untyped-def]
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.classifier_tags.multi_class = False  # one head per label, each binary
        return tags


