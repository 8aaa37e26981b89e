"""Explanations: why a comment scored high, as readable terms and as character spans.

Sits beside ``moderation.classifier``: both heads are linear before calibration, so a score is
a sum of contributions (feature value x weight). Word n-grams read as themselves ("you are");
character n-grams are credited to the word they fall in; lexical and context signals get a
short readable name ("called a troll by replies"). ``reasons_for`` fills the ``reasons``
column (vectorised over a frame); ``explain_spans`` gives the dashboard the characters of
the original text to highlight.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from moderation import config
from moderation.kernel import (  # not moderation.features: scoring explains without scikit-learn
    CONTEXT_FEATURES,
    Contributions,
    HashedLinearScoring,
    distinct_in_order,
    fold_texts,
    lexical_feature_names,
    word_hashes,
)

if TYPE_CHECKING:
    from moderation.classifier import ModerationModel

__all__ = ["explain_spans", "reasons_for", "reasons_from_contributions", "token_contributions"]

_READABLE = {
    "second_person": "second-person targeting",
    "targeted_insult": "name-calling aimed at someone",
    "insult_words": "demeaning words",
    "profanity": "profanity",
    "caps_ratio": "shouting (caps)",
    "caps_words": "shouting (caps)",
    "repeated_punct": "repeated punctuation",
    "elongation": "elongated words",
    "exclamations": "exclamation marks",
    "urls": "links",
    "emoji": "emoji",
    "obfuscation": "obfuscated profanity",
    "length": "",
    "semantic_insult": "",  # credited to the words (their meaning), not shown as a signal
    "semantic_troll": "",
    "has_context": "",
    "reply_depth": "deep in a reply chain",
    "is_reply": "",
    "hostility_to_parent": "hostile reply",
    "parent_hostility": "answers a hostile comment",
    "called_troll": "called a troll by replies",
    "author_share": "author dominates the thread",
    "author_exchanges": "keeps an exchange going",
    "repetition": "repeats itself",
    "title_distance": "off topic",
}

# Words too common to be a reason on their own ("you", "a"); phrases holding them still are.
_NOT_A_REASON = [
    "a",
    "an",
    "the",
    "and",
    "or",
    "but",
    "of",
    "to",
    "in",
    "on",
    "at",
    "for",
    "with",
    "is",
    "are",
    "was",
    "were",
    "be",
    "been",
    "am",
    "i",
    "me",
    "my",
    "we",
    "our",
    "it",
    "its",
    "this",
    "that",
    "these",
    "those",
    "you",
    "your",
    "he",
    "she",
    "they",
    "them",
    "his",
    "her",
    "their",
    "as",
    "so",
    "if",
    "not",
    "no",
    "do",
    "does",
    "did",
    "just",
    "all",
    "can",
    "will",
    "would",
]

# A word of the original text, or letters spelled out one by one ("i d i o t", "f.u.c.k").
_ORIGINAL_TOKEN = re.compile(
    r"(?<!\w)\w(?:[ .\-_*·]\w(?!\w)){3,}|(?<!\w)\w(?:[.\-_*·]\w(?!\w)){2,}|[@$]?\w[\w@$*!|'’]*\w|\w"
)
_KIND_WORD, _KIND_PAIR, _KIND_SIGNAL = 0, 1, 2


@functools.cache
def _stopword_hashes() -> np.ndarray:
    return np.unique(word_hashes(_NOT_A_REASON))


def _candidates(
    contributions, head: int, wanted: np.ndarray, signals: list[tuple[str, np.ndarray]]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(doc, value, kind, index) of every term that pushed head ``head`` up, for wanted docs."""
    c = contributions
    docs, values, kinds, indices = [], [], [], []
    # Words: the same word twice in a comment is one term (values summed).
    stop = np.isin(c.word_hash, _stopword_hashes())
    usable = ~stop & ((c.word_end - c.word_start) > 1) & wanted[c.word_doc]
    if usable.any():
        word_index = np.flatnonzero(usable)
        keys = (
            c.word_doc[word_index].astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15) ^ c.word_hash[word_index]
        )
        # In the order the words first appear, so that ties rank the same whatever else is in
        # the batch (a sorted order of the keys would depend on the doc numbers).
        inverse, first = distinct_in_order(keys)
        summed = np.bincount(inverse, weights=c.word_values[word_index, head], minlength=len(first))
        docs.append(c.word_doc[word_index[first]])
        values.append(summed)
        kinds.append(np.full(len(first), _KIND_WORD))
        indices.append(word_index[first])
    if len(c.pair_values):
        pair_docs = c.word_doc[:-1]
        ok = wanted[pair_docs] & (c.pair_values[:, head] != 0)
        docs.append(pair_docs[ok])
        values.append(c.pair_values[ok, head])
        kinds.append(np.full(int(ok.sum()), _KIND_PAIR))
        indices.append(np.flatnonzero(ok))
    for number, (_, column_values) in enumerate(signals):
        ok = np.flatnonzero(wanted & (column_values != 0))
        docs.append(ok)
        values.append(column_values[ok])
        kinds.append(np.full(len(ok), _KIND_SIGNAL))
        indices.append(np.full(len(ok), number))
    if not docs:
        empty = np.zeros(0, dtype=np.int64)
        return empty, np.zeros(0), empty, empty
    return (
        np.concatenate(docs).astype(np.int64),
        np.concatenate(values),
        np.concatenate(kinds),
        np.concatenate(indices).astype(np.int64),
    )


def _word_strings(contributions, index: np.ndarray) -> np.ndarray:
    """The folded words ``index`` as an object array; each distinct word is sliced out once."""
    c = contributions
    out = np.empty(len(index), dtype=object)
    if len(index) == 0:
        return out
    inverse, first = distinct_in_order(c.word_hash[index])
    words = np.empty(len(first), dtype=object)
    words[:] = c.word_strings(index[first])
    out[:] = words[inverse]
    return out


def _by_doc_then_value(docs: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The order of ``np.lexsort((-values, docs))``: by doc, then by value, highest first.

    Two stable sorts, as lexsort does, but the second on 16-bit doc numbers when they fit,
    which numpy sorts by radix: about twice as fast on a frame's candidates.
    """
    if len(docs) == 0 or docs.max() >= 1 << 16:
        return np.lexsort((-values, docs))
    by_value = np.argsort(-values, kind="stable")
    return by_value[np.argsort(docs[by_value].astype(np.uint16), kind="stable")]


def _top_terms(
    contributions, head: int, wanted: np.ndarray, signals: list[tuple[str, np.ndarray]], n_docs: int
) -> np.ndarray:
    """Per doc, its top terms for head ``head`` joined by ", " (an object array; "" for none)."""
    docs, values, kinds, indices = _candidates(contributions, head, wanted, signals)
    positive = values > 0
    docs, values, kinds, indices = docs[positive], values[positive], kinds[positive], indices[positive]
    order = _by_doc_then_value(docs, values)
    docs, kinds, indices = docs[order], kinds[order], indices[order]
    group_start = np.r_[0, np.flatnonzero(np.diff(docs)) + 1]
    rank = np.arange(len(docs)) - np.repeat(group_start, np.diff(np.r_[group_start, len(docs)]))
    keep = rank < config.REASON_TERMS
    docs, kinds, indices = docs[keep], kinds[keep], indices[keep]
    terms = np.empty(len(docs), dtype=object)
    is_word, is_pair = kinds == _KIND_WORD, kinds == _KIND_PAIR
    terms[is_word] = _word_strings(contributions, indices[is_word])
    if is_pair.any():
        pairs = indices[is_pair]
        terms[is_pair] = _word_strings(contributions, pairs) + " " + _word_strings(contributions, pairs + 1)
    is_signal = ~(is_word | is_pair)
    if is_signal.any():
        names = np.asarray([name for name, _ in signals], dtype=object)
        terms[is_signal] = names[indices[is_signal]]
    joined = np.full(n_docs, "", dtype=object)
    if len(docs) == 0:
        return joined
    # The same term twice in a comment (a word that is also a signal's name) is listed once.
    term_codes, distinct_terms = pd.factorize(terms)
    _, first = distinct_in_order(docs.astype(np.int64) * len(distinct_terms) + term_codes)
    unique = np.zeros(len(docs), dtype=bool)
    unique[first] = True
    docs, terms = docs[unique], terms[unique].tolist()
    bounds = np.r_[0, np.flatnonzero(np.diff(docs)) + 1, len(docs)]
    starts, ends = bounds[:-1].tolist(), bounds[1:].tolist()
    joined[docs[bounds[:-1]]] = [", ".join(terms[a:b]) for a, b in zip(starts, ends, strict=True)]
    return joined


def reasons_for(
    model: ModerationModel,
    texts: Sequence[str],
    insult: np.ndarray,
    troll: np.ndarray,
    context: np.ndarray | None = None,
) -> np.ndarray:
    """The ``reasons`` of the rows ``texts``, given their scores and context signals.

    Reads like "insult: idiot, you are | troll: called a troll by replies". A label gets
    reasons when its score reaches ``config.REASON_MIN_SCORE`` or the model's threshold,
    whichever is lower (a low score has no reason worth a moderator's time); each lists up
    to ``config.REASON_TERMS`` terms that pushed it up.
    """
    texts = [t if isinstance(t, str) else "" for t in texts]
    if not isinstance(model.text_features, HashedLinearScoring):
        raise TypeError(
            "reasons need a model built on HashedTextFeatures; retrain it with 'moderation train'"
        )
    contributions = model.text_features.contributions(texts, model.linear_table())
    return reasons_from_contributions(model, contributions, insult, troll, context)


def reasons_from_contributions(
    model: ModerationModel,
    contributions: Contributions,
    insult: np.ndarray,
    troll: np.ndarray,
    context: np.ndarray | None = None,
) -> np.ndarray:
    """``reasons_for`` on contributions already computed while scoring (no second pass)."""
    n = len(insult)
    reasons = np.full(n, "", dtype=object)
    if n == 0:
        return reasons
    for head, (label, scores) in enumerate((("insult", insult), ("troll", troll))):
        wanted = np.asarray(scores) >= min(config.REASON_MIN_SCORE, model.thresholds[label])
        if not wanted.any():
            continue
        signals: dict[str, np.ndarray] = {}
        for j, name in enumerate(lexical_feature_names(model.text_features.lexicon_version)):
            readable = _READABLE[name]
            if readable:
                signals[readable] = signals.get(readable, 0.0) + contributions.lexical_values[:, j, head]
        if head == 1 and context is not None and model.context is not None:
            coef = model.context_coef()
            for j, name in enumerate(CONTEXT_FEATURES):
                readable = _READABLE[name]
                if readable:
                    signals[readable] = signals.get(readable, 0.0) + context[:, j] * coef[j]
        terms = _top_terms(contributions, head, wanted, list(signals.items()), n)
        has = (terms != "") & wanted
        part = np.full(n, "", dtype=object)
        part[has] = f"{label}: " + terms[has]
        both = has & (reasons != "")
        reasons[both] = reasons[both] + " | " + part[both]
        alone = has & ~both
        reasons[alone] = part[alone]
    return reasons


def token_contributions(
    model: ModerationModel, texts: Sequence[str], *, label: str = "insult"
) -> list[list[tuple[int, int, float]]]:
    """(start, end, contribution) for every word of each text, under the text part of a head.

    Offsets index each text as given. A word's contribution is what its folded form adds to
    the head's log-odds in that comment (its unigram and the character n-grams inside it).
    """
    if label not in config.LABELS:
        raise ValueError(f"label must be one of {config.LABELS}, not {label!r}")
    texts = [t if isinstance(t, str) else "" for t in texts]
    head = config.LABELS.index(label)
    contributions = model.text_features.contributions(texts, model.linear_table())
    c = contributions
    # What each folded word adds in its comment (the largest, when it occurs twice).
    per_doc: list[dict[str, float]] = [{} for _ in texts]
    for doc, start, end, value in zip(
        c.word_doc.tolist(),
        c.word_start.tolist(),
        c.word_end.tolist(),
        c.word_values[:, head].tolist(),
        strict=True,
    ):
        word = c.folded[start:end]
        per_doc[doc][word] = max(value, per_doc[doc].get(word, value))
    matches = [list(_ORIGINAL_TOKEN.finditer(text)) for text in texts]
    # Each token folded on its own, as the model's version folds it in its comment.
    folded_tokens = fold_texts(
        [m.group(0) for found in matches for m in found], version=model.text_features.fold_version
    )
    out: list[list[tuple[int, int, float]]] = []
    position = 0
    for doc, found in enumerate(matches):
        spans = []
        for match in found:
            words = re.findall(r"[^\W_][\w'’]*", folded_tokens[position])
            position += 1
            value = sum(per_doc[doc].get(w, 0.0) for w in words)
            spans.append((match.start(), match.end(), value))
        out.append(spans)
    return out


def explain_spans(
    model: ModerationModel,
    texts: Sequence[str],
    *,
    label: str = "insult",
    min_contribution: float | None = None,
    only_scored: bool = True,
) -> list[list[tuple[int, int, str]]]:
    """Character spans to highlight in each text: (start, end, label), end exclusive.

    A word is highlighted when it is among what drove the ``label`` head most in its comment:
    its contribution reaches ``config.SPAN_RELATIVE`` of the comment's largest and at least
    ``min_contribution`` (default ``config.SPAN_MIN_CONTRIBUTION``). English function words
    ("you", "are", "the") are never highlighted, whatever they add: the word that offends is
    the one a moderator needs to see. With ``only_scored`` (the default, what the dashboard
    shows) only a comment whose score reaches the reasons floor (the lower of
    ``config.REASON_MIN_SCORE`` and the model's threshold) gets spans; without it every
    comment is treated as offensive and its worst words are found (the SemEval toxic-spans
    setting). Offsets index the text exactly as given, so they survive obfuscation ("id10t"
    is one span).
    """
    floor = config.SPAN_MIN_CONTRIBUTION if min_contribution is None else min_contribution
    texts = [t if isinstance(t, str) else "" for t in texts]
    wanted = np.ones(len(texts), dtype=bool)
    if only_scored and texts:
        scores = model.score_texts(texts)[f"{label}_score"].to_numpy()
        wanted = scores >= min(config.REASON_MIN_SCORE, model.thresholds[label])
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS  # spans are for the dashboard

    out: list[list[tuple[int, int, str]]] = []
    for text, spans, keep in zip(texts, token_contributions(model, texts, label=label), wanted, strict=True):
        content = [s for s in spans if _letters(text[s[0] : s[1]]) not in ENGLISH_STOP_WORDS] if keep else []
        if not content:
            out.append([])
            continue
        cut = max(floor, config.SPAN_RELATIVE * max(value for _, _, value in content))
        out.append([(start, end, label) for start, end, value in content if value >= cut])
    return out


def _letters(token: str) -> str:
    return "".join(c for c in token.lower() if c.isalpha() or c == "'")
