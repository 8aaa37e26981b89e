"""Features: canonical comment rows in, the matrices the classifier heads read out.

Sits between ``moderation.ingest`` (canonical rows) and ``moderation.classifier`` (heads):

    text ──fold_text──▶ folded text ──n-grams──┐
    text ──LexicalSignals──────────────────────┼──▶ one sparse matrix shared by both heads
    thread rows ──ContextSignals───────────────┘   (context only feeds the troll head)

``fold_text`` undoes the obfuscation people use to slip past filters (homoglyphs, fullwidth
letters, zero-width characters, leetspeak, "i d i o t", "f*ck", elongation) so that the n-gram
features see "idiot" in all of them. Every transformer follows the scikit-learn estimator
contract, so they plug into Pipeline, clone, GridSearchCV and joblib.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.utils.validation import check_is_fitted

from moderation.lexicon import (
    INSULT_WORDS,
    LEET_MAP,
    PROFANITY,
    SECOND_PERSON_PATTERNS,
    TROLL_ACCUSATIONS,
)

__all__ = [
    "CONTEXT_FEATURES",
    "LEXICAL_FEATURES",
    "ContextSignals",
    "LexicalSignals",
    "TextFeatures",
    "fold_text",
    "fold_texts",
]

# --- obfuscation folding ---------------------------------------------------------------------

# Look-alike letters from other scripts that NFKC leaves alone (Cyrillic, Greek, IPA, symbols).
_HOMOGLYPHS = str.maketrans(
    {
        "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x", "і": "i", "ј": "j",
        "ѕ": "s", "к": "k", "м": "m", "т": "t", "в": "b", "н": "h", "ԁ": "d", "ɡ": "g", "ı": "i",
        "ӏ": "l", "ո": "n", "ս": "u", "ք": "q", "α": "a", "β": "b", "ε": "e", "ι": "i", "κ": "k",
        "ν": "v", "ο": "o", "ρ": "p", "τ": "t", "υ": "u", "χ": "x", "γ": "y", "ω": "w", "η": "n",
        "ɑ": "a", "ø": "o", "ß": "ss", "æ": "ae", "œ": "oe", "ð": "d", "þ": "th", "ł": "l",
        "€": "e", "£": "l", "¢": "c", "¡": "i",
    }
)  # fmt: skip

# Characters that hide inside words without being seen (normalize_text removes most already;
# folding must hold on text that did not come through a reader too).
_INVISIBLE = re.compile("[\u00ad\u034f\u180e\u200b-\u200f\u2060-\u2064\ufeff\u202a-\u202e\u2066-\u2069]")
_COMBINING = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
_WHITESPACE = re.compile(r"\s+")
_ELONGATION = re.compile(r"([^\W\d_])\1{2,}")
_LEET_CHARS = "".join(re.escape(c) for c in LEET_MAP) + r"\*"
# A word that mixes letters with leet or mask characters: "id10t", "sh!t", "f*ck", "@ss".
_HAS_LEET = re.compile(rf"[a-z][{_LEET_CHARS}]|[{_LEET_CHARS}][a-z]")
_TOKEN = re.compile(rf"[a-z0-9{_LEET_CHARS}#%]+")
_NUMBERISH = re.compile(r"^\d+(?:st|nd|rd|th|s|k|m|km|kg|am|pm|x|yo|g|mm|cm|h|d|p)?$")
_LEET_TABLE = str.maketrans(LEET_MAP)
# Letters spelled out one by one: "i d i o t", "i.d.i.o.t", "f-u-c-k", "s_t_u_p_i_d".
_SPACED = re.compile(r"(?<![a-z0-9])[a-z](?:(?:[ ]|[ ]?[.\-_*·][ ]?)[a-z](?![a-z0-9])){3,}")
_SPACED_PUNCT = re.compile(r"(?<![a-z0-9])[a-z](?:[.\-_*·][a-z](?![a-z0-9])){2,}")
_MASKABLE = sorted(PROFANITY | INSULT_WORDS, key=len)


def _unmask(core: str) -> str:
    # "f*ck", "sh*t", "a**hole": the masked word is the lexicon word that fits the mask.
    pattern = re.compile("^" + "".join("." if c in "*#%" else re.escape(c) for c in core) + "$")
    for word in _MASKABLE:
        if len(word) == len(core) and pattern.match(word):
            return word
    return core


def _fold_token(match: re.Match) -> str:
    token = match.group(0)
    if not any("a" <= c <= "z" for c in token) or _NUMBERISH.match(token):
        return token
    # Trailing "!" and "$" are punctuation ("idiot!!!"), not leet.
    stripped = token.rstrip("!$|*+")
    tail = token[len(stripped) :]
    lead = ""
    if stripped.startswith("@") and not stripped.startswith("@ss"):
        lead, stripped = "@", stripped[1:]  # @mentions stay mentions
    if any(c in "*#%" for c in stripped):
        stripped = _unmask(stripped)
    return lead + stripped.translate(_LEET_TABLE) + tail


def _join_spaced(match: re.Match) -> str:
    return re.sub(r"[^a-z]", "", match.group(0))


def fold_text(text: str) -> str:
    """Return ``text`` with obfuscation undone, for feature extraction only.

    Steps: NFKC (fullwidth and styled letters become plain), lower case, Latin diacritics and
    combining marks dropped, homoglyphs mapped to Latin, zero-width characters removed,
    letters spelled out one by one joined ("i d i o t" -> "idiot"), masked profanity filled in
    ("f*ck" -> "fuck"), leetspeak read inside words ("id10t" -> "idiot"), runs of three or
    more of one letter cut to one ("stuuupid" -> "stupid"), and whitespace collapsed. NFC and NFD inputs fold to
    the same string.
    """
    if not text:
        return ""
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text)
        text = _COMBINING.sub("", _INVISIBLE.sub("", text))
        text = unicodedata.normalize("NFKC", text)
    text = text.lower()
    if not text.isascii():
        text = text.translate(_HOMOGLYPHS)
    if _HAS_LEET.search(text):
        text = _TOKEN.sub(_fold_token, text)
    text = _SPACED_PUNCT.sub(_join_spaced, text)
    text = _SPACED.sub(_join_spaced, text)
    text = _ELONGATION.sub(r"\1", text)
    return _WHITESPACE.sub(" ", text).strip()


def fold_texts(texts: Iterable[object]) -> list[str]:
    """``fold_text`` over many texts; missing values become the empty string."""
    return [fold_text(t) if isinstance(t, str) else "" for t in texts]


# --- lexical signals ---------------------------------------------------------------------------

_URL = re.compile(r"https?://|www\.|\b[a-z0-9-]+\.(?:com|org|net|ru|co|io|info)\b", re.IGNORECASE)
_EMOJI = re.compile("[\U0001f300-\U0001faff\u2600-\u27bf\U0001f000-\U0001f2ff]")
_REPEATED_PUNCT = re.compile(r"[!?]{2,}|\.{4,}")
_ELONGATED = re.compile(r"([a-zA-Z])\1{2,}")
_CAPS_WORD = re.compile(r"\b[A-Z]{3,}\b")
_LETTER = re.compile(r"[^\W\d_]")
_UPPER = re.compile(r"[A-Z\u00c0-\u00de\u0391-\u03a9\u0410-\u042f]")
_WORD = re.compile(r"[a-z']+")
_SECOND_PERSON = re.compile("|".join(SECOND_PERSON_PATTERNS))
_TROLL_CALL = re.compile("|".join(TROLL_ACCUSATIONS))
_INSULT_ALT = "|".join(sorted(INSULT_WORDS | PROFANITY, key=len, reverse=True))
# "you idiot", "you're a fucking moron", "such a loser": a demeaning word aimed at someone.
_TARGETED_INSULT = re.compile(
    rf"\b(?:you|u|ur|your|you're|youre|yourself|such an?|what an?|this|these)\b(?:\W+\w+){{0,3}}?\W+(?:{_INSULT_ALT})\b"
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


def _as_texts(X: object) -> list[str]:
    # Accept a list of texts, a Series, or a one-column 2-D array (what estimator checks pass).
    if isinstance(X, pd.DataFrame):
        X = X.iloc[:, 0]
    array = np.asarray(X, dtype=object)
    if array.ndim == 2:
        array = array[:, 0]
    return ["" if (v is None or (isinstance(v, float) and v != v)) else str(v) for v in array.ravel()]


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
        texts = _as_texts(X)
        if not texts:
            raise ValueError("LexicalSignals needs at least one text to fit")
        self.n_features_in_ = 1
        self.n_output_features_ = len(LEXICAL_FEATURES)
        return self

    def transform(self, X: object) -> sparse.csr_matrix:
        check_is_fitted(self, "n_output_features_")
        texts = _as_texts(X)
        rows = [_lexical_row(t, fold_text(t)) for t in texts]
        matrix = np.asarray(rows, dtype=np.float64).reshape(len(texts), len(LEXICAL_FEATURES))
        return sparse.csr_matrix(matrix * self.scale)

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        check_is_fitted(self, "n_output_features_")
        return np.asarray([f"lex__{name}" for name in LEXICAL_FEATURES], dtype=object)

    def __sklearn_tags__(self):  # type: ignore[no-untyped-def]
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.two_d_array = False
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
        folded = fold_texts(_as_texts(X))
        if not folded:
            raise ValueError("TextFeatures needs at least one text to fit")
        min_df = self.min_df if len(folded) >= 10 * self.min_df else 1
        self.word_ = TfidfVectorizer(
            lowercase=False,
            token_pattern=r"(?u)\b\w[\w']*\b|[!?]{2,}",
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
        self.n_features_in_ = 1
        self.n_word_ = len(self.word_.vocabulary_)
        self.n_char_ = len(self.char_.vocabulary_)
        return self

    def transform(self, X: object) -> sparse.csr_matrix:
        check_is_fitted(self, "word_")
        texts = _as_texts(X)
        folded = fold_texts(texts)
        return sparse.hstack(
            [self.word_.transform(folded), self.char_.transform(folded), self.lexical_.transform(texts)],
            format="csr",
            dtype=np.float32,
        )

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        check_is_fitted(self, "word_")
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
        columns.extend(
            self.n_word_ + vocabulary[g] for g in set(analyzer(folded_token)) if g in vocabulary
        )
        return np.asarray(sorted(columns), dtype=np.int64)

    def word_ngram_columns(self) -> dict[str, int]:
        """Word n-gram text to column, for phrase-level reasons ("you are")."""
        check_is_fitted(self, "word_")
        return self.word_.vocabulary_

    def __sklearn_tags__(self):  # type: ignore[no-untyped-def]
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.two_d_array = False
        return tags


# --- context signals ---------------------------------------------------------------------------

#: Names of the context signals, in column order. All are 0 when the thread is unknown.
CONTEXT_FEATURES = (
    "has_context",
    "reply_depth",
    "is_reply",
    "hostility_to_parent",
    "parent_hostility",
    "called_troll",
    "author_share",
    "author_exchanges",
    "repetition",
    "title_distance",
)

_CONTEXT_INPUT = ("thread_id", "parent_id", "author", "depth", "thread_title", "text", "comment_id")


def _word_set(folded: str) -> frozenset[str]:
    return frozenset(w for w in _WORD.findall(folded) if len(w) > 3)


def context_matrix(frame: pd.DataFrame, hostility: np.ndarray | None = None) -> np.ndarray:
    """The context signals of every row of ``frame`` (rows of whole threads, in any order).

    ``hostility`` is each row's text-only insult probability (the insult head's output); it
    drives "hostility to the parent" and "the parent's hostility". Rows whose thread is
    unknown (no thread_id, or alone in the frame with no parent and no title) get all zeros,
    so the troll head falls back to the text alone.
    """
    n = len(frame)
    out = np.zeros((n, len(CONTEXT_FEATURES)), dtype=np.float64)
    if n == 0:
        return out

    def column(name: str) -> np.ndarray:
        if name in frame.columns:
            return frame[name].fillna("").astype(str).to_numpy(dtype=object)
        return np.full(n, "", dtype=object)

    thread = column("thread_id")
    parent = column("parent_id")
    author = column("author")
    title = column("thread_title")
    comment_id = column("comment_id")
    texts = column("text")
    depth = (
        pd.to_numeric(frame["depth"], errors="coerce").fillna(0).to_numpy(dtype=np.float64)
        if "depth" in frame.columns
        else np.zeros(n)
    )
    host = np.zeros(n) if hostility is None else np.asarray(hostility, dtype=np.float64)

    thread_sizes = pd.Series(thread).map(pd.Series(thread).value_counts()).to_numpy()
    has_parent = parent != ""
    known = (thread != "") & ((thread_sizes > 1) | has_parent | (title != ""))
    if not known.any():
        return out

    folded = np.asarray(fold_texts(texts), dtype=object)
    index_of = {cid: i for i, cid in enumerate(comment_id) if cid}
    parent_idx = np.asarray([index_of.get(p, -1) if p else -1 for p in parent], dtype=np.int64)
    has_parent_row = parent_idx >= 0

    out[:, 0] = known
    out[:, 1] = np.log1p(np.maximum(depth, has_parent_row.astype(float)))
    out[:, 2] = has_parent_row
    # Hostility to the parent: a hostile text written as a reply is aimed at the parent's author.
    out[:, 3] = np.where(has_parent_row, host, 0.0)
    out[:, 4] = np.where(has_parent_row, host[np.maximum(parent_idx, 0)], 0.0)

    # Replies that call this row's author a troll, shill or bot.
    called = np.zeros(n)
    accuses = np.asarray([bool(_TROLL_CALL.search(f)) for f in folded])
    for child in np.flatnonzero(has_parent_row & accuses):
        called[parent_idx[child]] += 1
    out[:, 5] = np.log1p(called)

    # Author's share of the thread and the exchanges they keep going (replies to someone who
    # replied to them), both only for named authors.
    named = author != ""
    keys = pd.Series([f"{t}\x1f{a}" for t, a in zip(thread, author, strict=True)])
    author_counts = keys.map(keys[named].value_counts()).fillna(0).to_numpy()
    out[:, 6] = np.where(named & known, author_counts / np.maximum(thread_sizes, 1), 0.0)
    parent_author = np.where(has_parent_row, author[np.maximum(parent_idx, 0)], "")
    grand_idx = np.where(has_parent_row, parent_idx[np.maximum(parent_idx, 0)], -1)
    grand_author = np.where(grand_idx >= 0, author[np.maximum(grand_idx, 0)], "")
    back_and_forth = named & (parent_author != "") & (grand_author == author) & (parent_author != author)
    exchange_keys = keys[back_and_forth]
    exchanges = keys.map(exchange_keys.value_counts()).fillna(0).to_numpy()
    out[:, 7] = np.where(named & known, np.log1p(exchanges), 0.0)

    # Repetition: the same author posting the same (folded) text again in the thread.
    text_keys = pd.Series([f"{k}\x1f{f}" for k, f in zip(keys, folded, strict=True)])
    repeats = text_keys.map(text_keys.value_counts()).to_numpy() - 1
    out[:, 8] = np.where(named & known & (folded != ""), np.log1p(repeats), 0.0)

    # Distance from what the thread is about: share of this comment's content words that never
    # appear in the title or in the thread's first post.
    first_post: dict[str, frozenset[str]] = {}
    for i in np.flatnonzero(known):
        if thread[i] not in first_post and not has_parent[i] and depth[i] == 0:
            first_post[thread[i]] = _word_set(folded[i])
    title_words: dict[str, frozenset[str]] = {}
    for i in np.flatnonzero(known):
        if thread[i] not in title_words:
            title_words[thread[i]] = _word_set(fold_text(title[i])) | first_post.get(thread[i], frozenset())
    for i in np.flatnonzero(known):
        about = title_words.get(thread[i], frozenset())
        words = _word_set(folded[i])
        if about and words and not (not has_parent[i] and first_post.get(thread[i]) == words):
            out[i, 9] = len(words - about) / len(words)
    out[~known] = 0.0
    return out


class ContextSignals(TransformerMixin, BaseEstimator):
    """Signals of a comment's place in its thread, for the troll head.

    Input: a frame of canonical rows (``thread_id``, ``parent_id``, ``author``, ``depth``,
    ``thread_title``, ``text``, ``comment_id``) and optionally a ``hostility`` column holding
    each row's text-only insult probability. Output: one column per name in
    ``CONTEXT_FEATURES``. The signals only use rows present in the same frame (readers keep a
    whole document's thread together), and are all zero when the thread is unknown.
    """

    def __init__(self, *, scale: float = 1.0) -> None:
        self.scale = scale

    def fit(self, X: pd.DataFrame, y: object = None) -> ContextSignals:
        frame = self._as_frame(X)
        if len(frame) == 0:
            raise ValueError("ContextSignals needs at least one row to fit")
        self.n_features_in_ = frame.shape[1]
        self.n_output_features_ = len(CONTEXT_FEATURES)
        return self

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "n_output_features_")
        frame = self._as_frame(X)
        hostility = frame["hostility"].to_numpy(dtype=np.float64) if "hostility" in frame.columns else None
        return context_matrix(frame, hostility) * self.scale

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        check_is_fitted(self, "n_output_features_")
        return np.asarray([f"ctx__{name}" for name in CONTEXT_FEATURES], dtype=object)

    @staticmethod
    def _as_frame(X: object) -> pd.DataFrame:
        if isinstance(X, pd.DataFrame):
            return X
        # Estimator checks pass plain arrays: treat them as rows with no thread (all neutral).
        array = validate_data_like(X)
        return pd.DataFrame({"text": [str(v) for v in array[:, 0]]})


def validate_data_like(X: object) -> np.ndarray:
    """A 2-D array view of ``X`` for inputs that are not frames (estimator checks)."""
    array = np.asarray(X, dtype=object)
    if array.ndim == 1:
        array = array.reshape(-1, 1)
    if array.ndim != 2:
        raise ValueError(f"expected 2-D input, got {array.ndim}-D")
    return array

