"""The model: ``ModerationModel``, the artifact the registry stores and loads, and how it scores.

Sits after ``moderation.features`` and ``moderation.classifier`` (which fit its parts) and
before scoring, the store and the dashboard:

    canonical rows ──hashed n-grams──▶ text logits ──insult head──▶ insult_score
                  └─context signals(hostility = insult)──┐
                                     text logits + context ──troll head──▶ troll_score
    scores ──thresholds from the card──▶ flag;  contributions ──explain──▶ reasons

Like ``moderation.kernel``, this module imports neither scikit-learn nor scipy: a model loaded
for scoring (``registry.load_model(for_scoring=True)``) holds the scoring-only parts below
(``ScoringHead``, ``ScoringLogistic``) and kernel's, and scores byte for byte as the full one.
"""

from __future__ import annotations

import math
import re
import unicodedata
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from moderation import config
from moderation.errors import ModelError

if TYPE_CHECKING:
    from scipy import sparse

    from moderation.classifier import CalibratedLinearHead
    from moderation.features import ContextSignals, HashedTextFeatures, TextFeatures

__all__ = [
    "LinearHeadScoring",
    "ModerationModel",
    "ScoringHead",
    "ScoringLogistic",
    "SiteCalibration",
    "not_read",
]


def _sigmoid(values: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)) with numpy's exp; below x = -709 exp(-x) is inf and the probability 0,
    without numpy's overflow warning. (``_expit`` matches scikit-learn's bits instead.)"""
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-values))


class LinearHeadScoring:
    """The scoring half of ``classifier.CalibratedLinearHead``: weights, intercept and the
    calibration map, read from the fitted ``linear_``, ``scale_`` and ``calibrator_``."""

    def _check_fitted(self) -> None:
        if not hasattr(self, "linear_"):
            raise AttributeError("the head is not fitted: call fit first")

    def calibrated(self, scores: np.ndarray) -> np.ndarray:
        """Probabilities for raw linear scores (``X @ coef_.T + intercept_``)."""
        self._check_fitted()
        return self._calibrate(np.asarray(scores, dtype=np.float64))

    def _calibrate(self, scores: np.ndarray) -> np.ndarray:
        if self.calibrator_ is None:
            positive = _sigmoid(scores)
        elif not hasattr(self.calibrator_, "predict_proba"):  # isotonic regression
            positive = self.calibrator_.predict(scores)
        else:
            positive = self.calibrator_.predict_proba(scores.reshape(-1, 1))[:, 1]
        return np.clip(positive, 0.0, 1.0)

    @property
    def coef_(self) -> np.ndarray:
        """Weights on the unscaled columns (naive Bayes ratios folded in when used)."""
        self._check_fitted()
        scale = getattr(self, "scale_", None)
        return self.linear_.coef_ if scale is None else self.linear_.coef_ * scale

    @property
    def intercept_(self) -> np.ndarray:
        self._check_fitted()
        return self.linear_.intercept_


class ScoringHead(LinearHeadScoring):
    """A fitted ``classifier.CalibratedLinearHead`` as a model loaded for scoring holds it."""

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)


def _expit(values: np.ndarray) -> np.ndarray:
    # 1 / (1 + exp(-x)) with the C library's exp, as scipy.special.expit computes it (numpy's
    # own exp differs from it in the last bit for about 2% of values).
    # exp(-x) overflows below x = -709, where the probability is 0.
    exponents = np.minimum(-values, 709.0).tolist()
    exps = np.fromiter(map(math.exp, exponents), dtype=np.float64, count=len(values))
    positive = 1.0 / (1.0 + exps)
    positive[values < -709.0] = 0.0
    return positive


class ScoringLogistic:
    """A fitted binary ``sklearn.linear_model.LogisticRegression`` (a head's linear part or its
    Platt calibrator) as a model loaded for scoring holds it: the same decision function and
    probabilities, to the last bit."""

    def __setstate__(self, state: dict[str, Any]) -> None:
        if len(state.get("classes_", ())) != 2:
            raise ModelError("only a binary logistic regression loads for scoring", hint="load it in full")
        self.__dict__.update(state)

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        scores = np.asarray(X) @ self.coef_.T + self.intercept_
        return scores.reshape(-1) if scores.ndim > 1 and scores.shape[1] == 1 else scores

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        positive = _expit(np.asarray(self.decision_function(X), dtype=np.float64))
        return np.stack([1 - positive, positive], axis=1)


def _log_terms(probabilities: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(probabilities, dtype=np.float64), 1e-6, 1.0 - 1e-6)
    return np.column_stack([np.log(p), -np.log1p(-p)])


class SiteCalibration:
    """One site's map from a head's probability to the rate its own moderators label: beta
    calibration (Kull, Silva Filho and Flach 2017), ``sigmoid(a ln p - b ln(1 - p) + c)`` with
    ``a, b >= 0``; ``a = b = 1, c = 0`` leaves ``p`` as it is.

    Corpora disagree about how often a comment "is" an insult (Jigsaw's raters flag less than
    OLID's), so probabilities calibrated on the training corpora are off at a given site. With
    the site's labels, scored out of fold, the map is fitted once per label. Beta calibration
    bends both tails separately, which Platt scaling of the log-odds (one slope) cannot: on the
    public test splits, five-fold cross-fitted, it left every split's ECE at 0.03 or less where
    Platt left ToxiChat at 0.064 and isotonic regression at 0.048 (bench/bench_calibration.py).
    With ``a, b >= 0`` the map is increasing: it moves no comment past another, so every AUC
    stays as it was. It rescales only the scores the model outputs, never the insult
    probability the troll head reads as hostility.
    """

    def __init__(self, *, a: float = 1.0, b: float = 1.0, c: float = 0.0) -> None:
        self.a = float(a)
        self.b = float(b)
        self.c = float(c)

    @classmethod
    def fit(
        cls, probabilities: np.ndarray, y: np.ndarray, *, sample_weight: np.ndarray | None = None
    ) -> SiteCalibration:
        """The map for labels ``y`` of comments the model scored ``probabilities`` without
        having trained on them."""
        y = np.asarray(y, dtype=int)
        if len(np.unique(y)) != 2:
            raise ValueError("a site calibration needs labels of both classes")
        from sklearn.linear_model import LogisticRegression

        terms = _log_terms(probabilities)
        # A negative weight would make the map fall somewhere: as the paper does, drop that
        # term and fit the other alone (its weight then fixed at 0).
        for columns in ([0, 1], [0], [1]):
            platt = LogisticRegression(C=1e6, solver="lbfgs", max_iter=1000)
            platt.fit(terms[:, columns], y, sample_weight=sample_weight)
            weights = dict(zip(columns, platt.coef_[0], strict=True))
            if all(w >= 0 for w in weights.values()) and any(w > 0 for w in weights.values()):
                return cls(a=weights.get(0, 0.0), b=weights.get(1, 0.0), c=float(platt.intercept_[0]))
        raise ValueError("the scores do not rise with these labels: no increasing map fits them")

    def apply(self, probabilities: np.ndarray) -> np.ndarray:
        terms = _log_terms(probabilities)
        return _sigmoid(self.a * terms[:, 0] + self.b * terms[:, 1] + self.c)

    def to_card(self) -> dict[str, float]:
        return {"a": round(self.a, 6), "b": round(self.b, 6), "c": round(self.c, 6)}

    def __repr__(self) -> str:
        return f"SiteCalibration(a={self.a:.4f}, b={self.b:.4f}, c={self.c:.4f})"


def _texts_of(frame: pd.DataFrame) -> list[str]:
    if "text" not in frame.columns:
        raise ModelError(
            "the frame has no 'text' column",
            hint="read the input with moderation.ingest.read_comments, or name the column 'text'",
        )
    limit = config.MAX_COMMENT_CHARS
    # Most comments need nothing done: the test inline spares them a function call each.
    return [
        t if type(t) is str and len(t) <= limit and t.isascii() and t.isprintable() else _model_text(t)
        for t in frame["text"].tolist()
    ]


_NUL_AND_CONTROLS = dict.fromkeys([*range(0, 9), 11, 12, *range(14, 32), 127])
_ANY_NUL_OR_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # the same characters


def _model_text(text: object) -> str:
    """The text as the features expect it, whoever calls: NFC, with no NUL or control characters.

    The readers already hand over such text (``normalize_text``); a direct caller of
    ``score_frame``/``score_texts`` may not, and the features join a batch with NUL, so a NUL
    inside a text would move signals onto its neighbour. NFC makes "é" and "e" + U+0301 equal.
    """
    if not isinstance(text, str):
        return ""
    text = text[: config.MAX_COMMENT_CHARS]
    if not text.isascii():
        text = unicodedata.normalize("NFC", text)
    # str.translate copies the text char by char; first check (in C) that it has something to
    # drop: every control character is unprintable, and a search finds the ones it drops.
    if text.isprintable() or not _ANY_NUL_OR_CONTROL.search(text):
        return text
    return text.translate(_NUL_AND_CONTROLS)


def not_read(scored: pd.DataFrame) -> np.ndarray:
    """Which rows of a ``score_frame`` result went unflagged because the model could not read
    them (their reasons start ``config.UNREAD_PREFIX``)."""
    return scored["reasons"].fillna("").astype(str).str.startswith(config.UNREAD_PREFIX).to_numpy()


class ModerationModel:
    """A trained model: text features, the insult head and the troll head, with its card.

    ``score_frame(frame)`` returns a copy of ``frame`` (same rows, same order, same index) with
    ``insult_score``, ``troll_score``, ``flag``, ``reasons`` and ``model_version`` added. The
    troll head also reads the context of the other rows of the same thread in ``frame``. A row
    whose text the model cannot read (fewer than ``config.MIN_KNOWN_WORD_SHARE`` of its words
    known) keeps its scores but gets no flag, and its reasons start ``config.UNREAD_PREFIX``.
    """

    def __init__(
        self,
        *,
        text_features: HashedTextFeatures | TextFeatures,
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
        self.context_weights: np.ndarray | None = None  # None: the troll head's own (learned) weights
        self.context_weights_source = ""
        #: Per label, the site's recalibration of the output scores (set by training when the
        #: moderators' labels allow it); a label not in it keeps the head's own probabilities.
        self.site_calibration: dict[str, SiteCalibration] = {}

    # --- the matrices each head reads --------------------------------------------------------

    def text_matrix(self, texts: list[str]) -> sparse.csr_matrix:
        return self.text_features.transform(texts)

    def context_matrix(self, frame: pd.DataFrame, insult: np.ndarray) -> np.ndarray | None:
        if self.context is None:
            return None
        return self.context.transform(frame.assign(hostility=insult))

    def troll_matrix(
        self, X: sparse.csr_matrix, frame: pd.DataFrame, insult: np.ndarray
    ) -> sparse.csr_matrix:
        context = self.context_matrix(frame, insult)
        if context is None:
            return X
        from scipy import sparse

        return sparse.hstack([X, sparse.csr_matrix(context)], format="csr", dtype=X.dtype)

    def _text_logits(
        self, texts: list[str], *, explain: bool = False
    ) -> tuple[np.ndarray, Any, tuple[np.ndarray, np.ndarray] | None]:
        """Raw linear scores of the text part of both heads (n x 2, intercepts included), with
        ``explain`` the per-word contributions from the same pass, and each text's words with a
        weight and all its words (None when the features cannot tell)."""
        intercept = np.asarray([self.insult_head.intercept_[0], self.troll_head.intercept_[0]])
        if hasattr(self.text_features, "prepare_linear"):
            # The fast path: both heads from one pass over the n-grams, no matrix built.
            result = self.text_features.linear_pass(texts, self.linear_table(), contributions=explain)
            words = None if result.known_words is None else (result.known_words, result.n_words)
            return result.logits + intercept, result.contributions, words
        n_text = self.text_features.n_output_features_
        coef = np.vstack([self.insult_head.coef_[0][:n_text], self.troll_head.coef_[0][:n_text]])
        return np.asarray(self.text_matrix(texts) @ coef.T) + intercept, None, None

    def context_coef(self) -> np.ndarray:
        """The troll head's weights for the context signals: learned, or the stated prior.

        ``context_weights`` is set by training when the data held too few troll labels with
        thread context to learn them (see ``config.CONTEXT_PRIOR_WEIGHTS``).
        """
        weights = getattr(self, "context_weights", None)
        if weights is not None:
            return np.asarray(weights, dtype=np.float64)
        return self.troll_head.coef_[0][self.text_features.n_output_features_ :]

    def linear_table(self) -> Any:
        """Both heads' text coefficients folded into the hashed columns (built once, cached)."""
        table = getattr(self, "_linear_table", None)
        if table is None:
            n_text = self.text_features.n_output_features_
            coef = np.vstack([self.insult_head.coef_[0][:n_text], self.troll_head.coef_[0][:n_text]])
            table = self.text_features.prepare_linear(coef)
            self._linear_table = table
        return table

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        for cache in ("_linear_table", "_feature_names_cache", "_word_columns_cache"):
            state.pop(cache, None)  # derived at run time; never part of the artifact
        return state

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
        # Repeated texts (spam, copy-paste, empty comments) are featurised once.
        codes, unique_texts = pd.factorize(pd.Series(texts, dtype=object), sort=False)
        explain = explain and hasattr(self.text_features, "prepare_linear")
        unique_logits, contributions, words = self._text_logits(list(unique_texts), explain=explain)
        logits = unique_logits[codes]
        insult = self.insult_head.calibrated(logits[:, 0])
        troll_logit = logits[:, 1]
        context = self.context_matrix(frame, insult)
        if context is not None:
            troll_logit = troll_logit + context @ self.context_coef()
        troll = self.troll_head.calibrated(troll_logit)
        insult, troll = self.site_scores("insult", insult), self.site_scores("troll", troll)
        scored["insult_score"] = insult
        scored["troll_score"] = troll
        flags = self.flags(insult, troll)
        reasons = np.full(len(texts), "", dtype=object)
        unread = np.zeros(len(texts), dtype=bool)
        if words is not None:
            known, n_words = words[0][codes], words[1][codes]
            unread = (n_words > 0) & (known < config.MIN_KNOWN_WORD_SHARE * n_words)
            flags[unread] = ""
            reasons[unread] = [
                f"{config.UNREAD_PREFIX}the model knows {k} of its {n} word{'s' if n > 1 else ''}"
                " (another language?)"
                for k, n in zip(known[unread].astype(int).tolist(), n_words[unread].tolist(), strict=True)
            ]
        scored["flag"] = flags
        if explain:
            from moderation.explain import reasons_from_contributions
            from moderation.kernel import distinct_in_order

            floor = {label: min(config.REASON_MIN_SCORE, self.thresholds[label]) for label in config.LABELS}
            wanted = np.flatnonzero(((insult >= floor["insult"]) | (troll >= floor["troll"])) & ~unread)
            if len(wanted):
                # A row's reasons follow from its text and its context signals alone (its scores
                # do too), so repeated rows are explained once.
                if context is None:
                    inverse, first = distinct_in_order(codes[wanted])
                else:
                    keyed = np.column_stack([codes[wanted].astype(np.float64), context[wanted]])
                    _, first, inverse = np.unique(keyed, axis=0, return_index=True, return_inverse=True)
                rows = wanted[first]
                reasons[wanted] = reasons_from_contributions(
                    self,
                    contributions.select(codes[rows]),
                    insult[rows],
                    troll[rows],
                    None if context is None else context[rows],
                )[np.reshape(inverse, -1)]
        scored["reasons"] = reasons
        scored["model_version"] = self.version
        return scored

    def site_scores(self, label: str, probabilities: np.ndarray) -> np.ndarray:
        """A head's probabilities as this model outputs them: through the site's calibration
        of ``label`` when it has one (models saved before it existed have none)."""
        calibration = getattr(self, "site_calibration", {}).get(label)
        return probabilities if calibration is None else calibration.apply(probabilities)

    def flags(self, insult: np.ndarray, troll: np.ndarray) -> np.ndarray:
        is_insult = insult >= self.thresholds.get("insult", config.DEFAULT_THRESHOLDS["insult"])
        is_troll = troll >= self.thresholds.get("troll", config.DEFAULT_THRESHOLDS["troll"])
        labels = np.array(["", "insult", "troll", "insult,troll"], dtype=object)
        return labels[is_insult.astype(int) + 2 * is_troll.astype(int)]

    def __repr__(self) -> str:
        return f"ModerationModel(version={self.version!r}, thresholds={self.thresholds!r})"
