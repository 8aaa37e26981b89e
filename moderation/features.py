"""Features: canonical comment rows in, the matrices the classifier heads read out.

Sits between ``moderation.ingest`` (canonical rows) and ``moderation.classifier`` (heads):

    text ──fold_text──▶ folded text ──n-grams──┐
    text ──LexicalSignals──────────────────────┼──▶ one sparse matrix shared by both heads
    thread rows ──ContextSignals───────────────┘   (context only feeds the troll head)

``fold_text`` undoes the obfuscation people use to slip past filters (homoglyphs, fullwidth
letters, zero-width characters, leetspeak, "i d i o t", "f*ck", elongation) so that the n-gram
features see "idiot" in all of them. Every transformer follows the scikit-learn estimator
contract, so they plug into Pipeline, clone, GridSearchCV and joblib.

The numpy work itself (folding, hashing, the lexical and context signals, the linear pass)
lives in ``moderation.kernel``, which scoring uses without scikit-learn; its public names are
re-exported here.
"""

from __future__ import annotations

import itertools
import re

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.utils.validation import _check_feature_names_in, check_is_fitted, validate_data

from moderation.kernel import (  # the numpy core the estimators are built on
    _SALT_WORD,
    _WORD,
    CONTEXT_FEATURES,
    CONTEXT_STATE_DEFAULTS,
    CONTEXT_VERSION,
    FOLD_VERSION,
    HASHED_LEXICAL_FEATURES,
    HASHED_STATE_DEFAULTS,
    LEXICON_VERSION,
    SEMANTIC_FEATURES,
    ContextScoring,
    HashedLinearScoring,
    Tokens,
    context_matrix,
    fold_codepoints,
    fold_text,
    fold_texts,
    lexical_feature_names,
    lexical_matrix,
    ngram_occurrences,
    tokenize,
)
from moderation.lexicon import INSULT_WORDS, PROFANITY, SECOND_PERSON_PATTERNS

__all__ = [
    "CONTEXT_FEATURES",
    "HASHED_LEXICAL_FEATURES",
    "LEXICAL_FEATURES",
    "SEMANTIC_FEATURES",
    "ContextSignals",
    "HashedTextFeatures",
    "LexicalSignals",
    "TextFeatures",
    "context_matrix",
    "fold_text",
    "fold_texts",
]


# --- lexical signals ---------------------------------------------------------------------------

_URL = re.compile(r"https?://|www\.|\b[a-z0-9-]+\.(?:com|org|net|ru|co|io|info)\b", re.IGNORECASE)
_EMOJI = re.compile("[\U0001f300-\U0001faff\u2600-\u27bf\U0001f000-\U0001f2ff]")
_REPEATED_PUNCT = re.compile(r"[!?]{2,}|\.{4,}")
_ELONGATED = re.compile(r"([a-zA-Z])\1{2,}")
_WHITESPACE = re.compile(r"\s+")
_ELONGATION = re.compile(r"([^\W\d_])\1{2,}")
_CAPS_WORD = re.compile(r"\b[A-Z]{3,}\b")
_LETTER = re.compile(r"[^\W\d_]")
_UPPER = re.compile(r"[A-Z\u00c0-\u00de\u0391-\u03a9\u0410-\u042f]")
_SECOND_PERSON = re.compile("|".join(SECOND_PERSON_PATTERNS))
_INSULT_ALT = "|".join(sorted(INSULT_WORDS | PROFANITY, key=len, reverse=True))
# "you idiot", "you're a fucking moron", "such a loser": a demeaning word aimed at someone.
_TARGETED_INSULT = re.compile(
    r"\b(?:you|u|ur|your|you're|youre|yourself|such an?|what an?|this|these)\b"
    rf"(?:\W+\w+){{0,3}}?\W+(?:{_INSULT_ALT})\b"
)

#: Names of the lexical signals, in column order.
LEXICAL_FEATURES = (
    "second_person",
    "targeted_insult",
    "insult_words",
    "profanity",
    "caps_ratio",
    "caps_words",
    "repeated_punct",
    "elongation",
    "exclamations",
    "urls",
    "emoji",
    "obfuscation",
    "length",
)


def _lexical_row(text: str, folded: str) -> list[float]:
    letters = len(_LETTER.findall(text)) if len(text) < 5000 else sum(c.isalpha() for c in text)
    upper = len(_UPPER.findall(text))
    words = _WORD.findall(folded)
    n_words = max(len(words), 1)
    insult_hits = sum(w in INSULT_WORDS for w in words)
    profanity_hits = sum(w in PROFANITY for w in words)
    # Obfuscation: folded text that differs from plain lower-casing beyond whitespace/elongation.
    plain = _ELONGATION.sub(r"\1", _WHITESPACE.sub(" ", text.lower()).strip())
    return [
        np.log1p(len(_SECOND_PERSON.findall(folded))),
        np.log1p(len(_TARGETED_INSULT.findall(folded))),
        np.log1p(insult_hits),
        np.log1p(profanity_hits),
        upper / letters if letters >= 8 else 0.0,
        np.log1p(len(_CAPS_WORD.findall(text))) if letters >= 8 else 0.0,
        np.log1p(len(_REPEATED_PUNCT.findall(text))),
        np.log1p(len(_ELONGATED.findall(text))),
        np.log1p(text.count("!")),
        np.log1p(len(_URL.findall(text))),
        np.log1p(len(_EMOJI.findall(text))),
        float(plain != folded and (insult_hits + profanity_hits) > 0),
        np.log1p(n_words) / 5.0,
    ]


def _is_missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _as_texts(X: object) -> list[str]:
    """Texts from a list, a Series or a 1-D array of strings (missing values become "")."""
    values = X.tolist() if isinstance(X, (pd.Series, np.ndarray)) else list(X)  # type: ignore[arg-type]
    return ["" if _is_missing(v) else str(v) for v in values]


def _text_input(estimator: BaseEstimator, X: object, *, reset: bool) -> list[str]:
    """The texts of ``X`` for a text transformer, with scikit-learn's input checks.

    A list, Series or 1-D array of strings is a batch of comment texts; a frame with a
    ``text`` column is a batch of canonical rows. Any other 2-D input is validated like any
    scikit-learn input (finite, consistent width) and each row's values, joined by spaces,
    are its text: this is what makes the transformers pass the estimator checks.
    """
    if isinstance(X, pd.DataFrame) and "text" in X.columns:
        X = X["text"]
    one_d = isinstance(X, (list, tuple, pd.Series)) or (isinstance(X, np.ndarray) and X.ndim == 1)
    if one_d:
        values = X.tolist() if isinstance(X, (pd.Series, np.ndarray)) else list(X)
        if all(isinstance(v, str) or _is_missing(v) for v in values):
            if reset:
                estimator.n_features_in_ = 1
            return ["" if _is_missing(v) else v for v in values]
    # Anything else must be a 2-D array-like; a 1-D array of numbers is refused here with
    # scikit-learn's own "Reshape your data" message.
    array = validate_data(estimator, X, reset=reset, dtype=None)
    return [" ".join(map(str, row)) for row in array]


class LexicalSignals(TransformerMixin, BaseEstimator):
    """Hand-made signals of one text: second-person targeting, name-calling, caps, punctuation.

    Input: texts (a list, a Series, or a one-column array). Output: a sparse matrix with one
    column for each name in ``LEXICAL_FEATURES``; counts are log1p-scaled so that one long
    rant does not dominate. ``scale`` multiplies every column, which sets how loudly these
    few dense columns speak next to thousands of n-gram columns in a shared linear model.
    """

    def __init__(self, *, scale: float = 1.0) -> None:
        self.scale = scale

    def fit(self, X: object, y: object = None) -> LexicalSignals:
        texts = _text_input(self, X, reset=True)
        if not texts:
            raise ValueError("LexicalSignals needs at least one text to fit")
        self.n_output_features_ = len(LEXICAL_FEATURES)
        return self

    def transform(self, X: object) -> sparse.csr_matrix:
        check_is_fitted(self, "n_output_features_")
        texts = _text_input(self, X, reset=False)
        rows = [_lexical_row(t, fold_text(t)) for t in texts]
        matrix = np.asarray(rows, dtype=np.float64).reshape(len(texts), len(LEXICAL_FEATURES))
        return sparse.csr_matrix(matrix * self.scale)

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        check_is_fitted(self, "n_output_features_")
        _check_feature_names_in(self, input_features)
        return np.asarray([f"lex__{name}" for name in LEXICAL_FEATURES], dtype=object)

    def __sklearn_tags__(self):  # type: ignore[no-untyped-def]
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.transformer_tags.preserves_dtype = []  # texts in, float32 counts out
        return tags


# --- n-grams ----------------------------------------------------------------------------------


class TextFeatures(TransformerMixin, BaseEstimator):
    """Word and character n-grams of the folded text plus the lexical signals, in one matrix.

    Both heads read this one sparse matrix, so a text is featurised once however many labels
    are scored. Character n-grams (``char_wb``: inside word boundaries) catch spellings the
    folding misses ("idiiot", "moronz"); word n-grams catch phrases ("you are a").

    ``token_feature_indices`` tells explanations which columns one word produces, so scores
    can be attributed back to the words of the comment.
    """

    def __init__(
        self,
        *,
        word_ngram_range: tuple[int, int] = (1, 2),
        char_ngram_range: tuple[int, int] = (2, 5),
        min_df: int = 2,
        max_word_features: int | None = 200_000,
        max_char_features: int | None = 300_000,
        lexical_scale: float = 1.0,
    ) -> None:
        self.word_ngram_range = word_ngram_range
        self.char_ngram_range = char_ngram_range
        self.min_df = min_df
        self.max_word_features = max_word_features
        self.max_char_features = max_char_features
        self.lexical_scale = lexical_scale

    def fit(self, X: object, y: object = None) -> TextFeatures:
        folded = fold_texts(_text_input(self, X, reset=True))
        if not folded:
            raise ValueError("TextFeatures needs at least one text to fit")
        min_df = self.min_df if len(folded) >= 10 * self.min_df else 1
        self.word_ = TfidfVectorizer(
            lowercase=False,
            token_pattern=r"(?u)\b\w[\w']*\b|[!?]{2,}",  # noqa: S106 - a regex, not a password
            ngram_range=self.word_ngram_range,
            min_df=min_df,
            max_features=self.max_word_features,
            sublinear_tf=True,
            dtype=np.float32,
        ).fit(folded)
        self.char_ = TfidfVectorizer(
            lowercase=False,
            analyzer="char_wb",
            ngram_range=self.char_ngram_range,
            min_df=min_df,
            max_features=self.max_char_features,
            sublinear_tf=True,
            dtype=np.float32,
        ).fit(folded)
        self.lexical_ = LexicalSignals(scale=self.lexical_scale).fit(["fit"])
        self.n_word_ = len(self.word_.vocabulary_)
        self.n_char_ = len(self.char_.vocabulary_)
        return self

    def transform(self, X: object) -> sparse.csr_matrix:
        check_is_fitted(self, "word_")
        texts = _text_input(self, X, reset=False)
        folded = fold_texts(texts)
        return sparse.hstack(
            [self.word_.transform(folded), self.char_.transform(folded), self.lexical_.transform(texts)],
            format="csr",
            dtype=np.float32,
        )

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        check_is_fitted(self, "word_")
        _check_feature_names_in(self, input_features)
        return np.concatenate(
            [
                np.asarray([f"word__{n}" for n in self.word_.get_feature_names_out()], dtype=object),
                np.asarray([f"char__{n}" for n in self.char_.get_feature_names_out()], dtype=object),
                self.lexical_.get_feature_names_out(),
            ]
        )

    def token_feature_indices(self, folded_token: str) -> np.ndarray:
        """Columns produced by one folded word on its own: its unigram and its char n-grams."""
        check_is_fitted(self, "word_")
        columns = []
        word_index = self.word_.vocabulary_.get(folded_token)
        if word_index is not None:
            columns.append(word_index)
        analyzer = self.char_.build_analyzer()
        vocabulary = self.char_.vocabulary_
        columns.extend(self.n_word_ + vocabulary[g] for g in set(analyzer(folded_token)) if g in vocabulary)
        return np.asarray(sorted(columns), dtype=np.int64)

    def phrase_columns(self, words: list[str]) -> list[tuple[str, int]]:
        """(phrase, column) of the word bigrams of ``words`` that are in the vocabulary."""
        check_is_fitted(self, "word_")
        vocabulary = self.word_.vocabulary_
        pairs = (f"{a} {b}" for a, b in itertools.pairwise(words))
        return [(p, vocabulary[p]) for p in pairs if p in vocabulary]

    def __sklearn_tags__(self):  # type: ignore[no-untyped-def]
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.transformer_tags.preserves_dtype = []  # texts in, float32 counts out
        return tags



class HashedTextFeatures(HashedLinearScoring, TransformerMixin, BaseEstimator):
    """Word and character n-grams hashed into one column space, with the lexical signals.

    The fast featuriser: folding, tokenising, n-gram hashing and the lexical signals all run
    vectorised over a whole batch (numpy, no per-comment Python), so a frame of comments is
    featurised in a few array passes. Columns:

    - ``2**bits`` hashed n-gram columns: word n-grams (``word_ngram_range``) and character
      n-grams (``char_ngram_range``) of the folded text, each text padded with one space;
      values are idf-weighted counts, L2-normalised per block (words, characters) so neither
      block drowns the other. ``char_windows="text"`` takes every character window of the
      text; ``"chunks"`` only those inside one space-separated chunk padded with a space (as
      scikit-learn's ``char_wb``): then a chunk's n-grams depend on the chunk alone, and
      ``linear_scores`` hashes each distinct chunk of a batch once;
    - the lexical columns of ``lexicon_version`` (``kernel.lexical_feature_names``), times
      ``lexical_scale``.

    ``lexicon_version`` and ``fold_version`` pick the lexical signals and the folding
    (``moderation.kernel.LEXICON_VERSION``, ``FOLD_VERSION``); a fitted model keeps its own.

    ``fit`` learns the idf of every column; columns seen in fewer than ``min_df`` training
    texts get idf 0 (they carry no weight, and the model stays small). ``linear_scores`` gives
    linear models the dot products without building the sparse matrix at all.
    """

    def __init__(
        self,
        *,
        bits: int = 21,
        word_ngram_range: tuple[int, int] = (1, 2),
        char_ngram_range: tuple[int, int] = (2, 5),
        min_df: int = 2,
        lexical_scale: float = 1.0,
        char_windows: str = "text",
        lexicon_version: int = LEXICON_VERSION,
        fold_version: int = FOLD_VERSION,
    ) -> None:
        self.bits = bits
        self.word_ngram_range = word_ngram_range
        self.char_ngram_range = char_ngram_range
        self.min_df = min_df
        self.lexical_scale = lexical_scale
        self.char_windows = char_windows
        self.lexicon_version = lexicon_version
        self.fold_version = fold_version

    def __setstate__(self, state: dict) -> None:
        # Artifacts saved before these parameters existed score as they did when trained.
        super().__setstate__({**HASHED_STATE_DEFAULTS, **state})

    def _check_fitted(self) -> None:
        check_is_fitted(self, "idf_")

    def _validate_params_(self) -> None:
        if not (10 <= self.bits <= 26):
            raise ValueError(f"bits must be between 10 and 26, not {self.bits}")
        for name in ("word_ngram_range", "char_ngram_range"):
            low, high = getattr(self, name)
            if low < 1 or high < low:
                raise ValueError(f"{name} must be (low, high) with 1 <= low <= high, not {(low, high)}")
        if self.word_ngram_range[1] > len(_SALT_WORD):
            raise ValueError(f"word n-grams go up to {len(_SALT_WORD)}")
        if self.char_windows not in ("text", "chunks"):
            raise ValueError(f"char_windows must be 'text' or 'chunks', not {self.char_windows!r}")
        if self.lexicon_version not in (1, 2, 3):
            raise ValueError(f"lexicon_version must be 1, 2 or 3, not {self.lexicon_version!r}")
        if self.fold_version not in (1, 2):
            raise ValueError(f"fold_version must be 1 or 2, not {self.fold_version!r}")

    def _occurrences(self, texts: list[str]) -> tuple[Tokens, np.ndarray, np.ndarray, np.ndarray]:
        codes, starts = fold_codepoints(texts, version=self.fold_version)
        tokens = tokenize(codes, starts)
        docs, columns, blocks = ngram_occurrences(
            tokens,
            word_ngram_range=tuple(self.word_ngram_range),
            char_ngram_range=tuple(self.char_ngram_range),
            bits=self.bits,
            char_windows=self.char_windows,
        )
        return tokens, docs, columns, blocks

    def fit(self, X: object, y: object = None) -> HashedTextFeatures:
        self._validate_params_()
        texts = _text_input(self, X, reset=True)
        if not texts:
            raise ValueError("HashedTextFeatures needs at least one text to fit")
        _, docs, columns, _ = self._occurrences(texts)
        n_columns = 1 << self.bits
        pairs = np.unique(docs * n_columns + columns)
        df = np.bincount(pairs % n_columns, minlength=n_columns)
        min_df = self.min_df if len(texts) >= 10 * self.min_df else 1
        idf = np.log((1.0 + len(texts)) / (1.0 + df)) + 1.0
        idf[df < min_df] = 0.0
        self.idf_ = idf.astype(np.float32)
        self.n_hashed_ = n_columns
        self.n_output_features_ = n_columns + len(lexical_feature_names(self.lexicon_version))
        return self

    def _values(self, docs: np.ndarray, columns: np.ndarray, blocks: np.ndarray, n_docs: int) -> np.ndarray:
        weight = self.idf_[columns].astype(np.float64)
        key = docs * 2 + blocks
        norm = np.sqrt(np.bincount(key, weights=weight * weight, minlength=2 * n_docs))
        return weight / np.where(norm[key] > 0, norm[key], 1.0)

    def transform(self, X: object) -> sparse.csr_matrix:
        check_is_fitted(self, "idf_")
        texts = _text_input(self, X, reset=False)
        tokens, docs, columns, blocks = self._occurrences(texts)
        values = self._values(docs, columns, blocks, len(texts))
        keep = values != 0
        hashed = sparse.csr_matrix(
            (values[keep], (docs[keep], columns[keep])), shape=(len(texts), self.n_hashed_), dtype=np.float64
        )
        hashed.sum_duplicates()
        lexical = sparse.csr_matrix(
            lexical_matrix(texts, tokens, version=self.lexicon_version) * self.lexical_scale
        )
        return sparse.hstack([hashed, lexical], format="csr", dtype=np.float32)

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        check_is_fitted(self, "idf_")
        _check_feature_names_in(self, input_features)
        hashed = np.char.add("hash__", np.arange(self.n_hashed_).astype(str)).astype(object)
        names = lexical_feature_names(self.lexicon_version)
        lexical = np.asarray([f"lex__{name}" for name in names], dtype=object)
        return np.concatenate([hashed, lexical])

    def __sklearn_tags__(self):  # type: ignore[no-untyped-def]
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.transformer_tags.preserves_dtype = []  # texts in, float32 counts out
        return tags


class ContextSignals(ContextScoring, TransformerMixin, BaseEstimator):
    """Signals of a comment's place in its thread, for the troll head.

    Input: a frame of canonical rows (``thread_id``, ``parent_id``, ``author``, ``depth``,
    ``thread_title``, ``text``, ``comment_id``) and optionally a ``hostility`` column holding
    each row's text-only insult probability. Output: one column per name in
    ``CONTEXT_FEATURES``. The signals only use rows present in the same frame (readers keep a
    whole document's thread together), and are all zero when the thread is unknown; any
    other input (a plain array) has no thread, so its signals are all zero.
    """

    def __init__(self, *, scale: float = 1.0, version: int = CONTEXT_VERSION) -> None:
        self.scale = scale
        self.version = version

    def __setstate__(self, state: dict) -> None:
        # Artifacts saved before the parameter existed read the first context signals.
        super().__setstate__({**CONTEXT_STATE_DEFAULTS, **state})

    def fit(self, X: pd.DataFrame, y: object = None) -> ContextSignals:
        frame = self._as_frame(X, reset=True)
        if len(frame) == 0:
            raise ValueError("ContextSignals needs at least one row to fit")
        self.n_output_features_ = len(CONTEXT_FEATURES)
        return self

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "n_output_features_")
        return self.signals(self._as_frame(X, reset=False))

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        check_is_fitted(self, "n_output_features_")
        _check_feature_names_in(self, input_features)
        return np.asarray([f"ctx__{name}" for name in CONTEXT_FEATURES], dtype=object)

    def _as_frame(self, X: object, *, reset: bool) -> pd.DataFrame:
        if isinstance(X, pd.DataFrame) and "text" in X.columns:
            if reset:
                self.n_features_in_ = X.shape[1]
            return X
        return pd.DataFrame({"text": _text_input(self, X, reset=reset)})

    def __sklearn_tags__(self):  # type: ignore[no-untyped-def]
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.transformer_tags.preserves_dtype = []
        return tags
