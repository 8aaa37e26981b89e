"""Explanations: why a comment scored high, as readable terms and as character spans.

Sits beside ``moderation.classifier``: both heads are linear, so a score is a sum of column
contributions (feature value x weight). Word n-grams read as themselves ("you are"); character
n-grams are credited to the words that contain them; lexical and context signals get a short
readable name ("called a troll by replies"). ``reasons_for`` fills the ``reasons`` column;
``explain_spans`` gives the dashboard the characters to highlight.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
from scipy import sparse

from moderation import config
from moderation.features import CONTEXT_FEATURES, LEXICAL_FEATURES, fold_text

if TYPE_CHECKING:
    from moderation.classifier import ModerationModel

__all__ = ["explain_spans", "reasons_for", "token_contributions"]

_READABLE = {
    "lex__second_person": "second-person targeting",
    "lex__targeted_insult": "name-calling aimed at someone",
    "lex__insult_words": "demeaning words",
    "lex__profanity": "profanity",
    "lex__caps_ratio": "shouting (caps)",
    "lex__caps_words": "shouting (caps)",
    "lex__repeated_punct": "repeated punctuation",
    "lex__elongation": "elongated words",
    "lex__exclamations": "exclamation marks",
    "lex__urls": "links",
    "lex__emoji": "emoji",
    "lex__obfuscation": "obfuscated profanity",
    "lex__length": "length",
    "ctx__has_context": "",
    "ctx__reply_depth": "deep in a reply chain",
    "ctx__is_reply": "",
    "ctx__hostility_to_parent": "hostile reply",
    "ctx__parent_hostility": "answers a hostile comment",
    "ctx__called_troll": "called a troll by replies",
    "ctx__author_share": "author dominates the thread",
    "ctx__author_exchanges": "keeps an exchange going",
    "ctx__repetition": "repeats itself",
    "ctx__title_distance": "off topic",
}
assert all(f"lex__{n}" in _READABLE for n in LEXICAL_FEATURES)
assert all(f"ctx__{n}" in _READABLE for n in CONTEXT_FEATURES)

# A word of the original text, or letters spelled out one by one ("i d i o t", "f.u.c.k").
_ORIGINAL_TOKEN = re.compile(
    r"(?<!\w)\w(?:[ .\-_*·]\w(?!\w)){3,}|(?<!\w)\w(?:[.\-_*·]\w(?!\w)){2,}|[\w@$*!|]*\w[\w@$*!|']*"
)
_FOLDED_WORD = re.compile(r"[^\W_][\w']*")


def _names(model: ModerationModel) -> np.ndarray:
    names = getattr(model, "_feature_names_cache", None)
    if names is None:
        base = model.text_features.get_feature_names_out()
        context = (
            model.context.get_feature_names_out() if model.context is not None else np.asarray([], dtype=object)
        )
        names = np.concatenate([base, context])
        model._feature_names_cache = names  # type: ignore[attr-defined]
    return names


def _word_columns(model: ModerationModel):  # type: ignore[no-untyped-def]
    cache = getattr(model, "_word_columns_cache", None)
    if cache is None:
        cache = lru_cache(maxsize=200_000)(model.text_features.token_feature_indices)
        model._word_columns_cache = cache  # type: ignore[attr-defined]
    return cache


def _row_contributions(row: sparse.csr_matrix, coef: np.ndarray) -> dict[int, float]:
    return {int(c): float(v) * float(coef[c]) for c, v in zip(row.indices, row.data, strict=True)}


def _terms(model: ModerationModel, folded: str, contributions: dict[int, float]) -> list[tuple[str, float]]:
    """Readable terms with their summed contribution: words, word n-grams and signals."""
    names = _names(model)
    word_columns = _word_columns(model)
    terms: dict[str, float] = {}
    claimed: set[int] = set()
    for word in dict.fromkeys(_FOLDED_WORD.findall(folded)):
        columns = [c for c in word_columns(word) if c in contributions]
        if columns:
            terms[word] = sum(contributions[c] for c in columns)
            claimed.update(columns)
    for column, value in contributions.items():
        if column in claimed:
            continue
        name = names[column]
        if name.startswith("word__"):
            phrase = name[6:]
            if " " in phrase:
                terms[phrase] = terms.get(phrase, 0.0) + value
        elif _READABLE.get(name):
            readable = _READABLE[name]
            terms[readable] = terms.get(readable, 0.0) + value
    return sorted(terms.items(), key=lambda item: (-item[1], item[0]))


def reasons_for(
    model: ModerationModel,
    texts: Sequence[str],
    X: sparse.csr_matrix,
    X_troll: sparse.csr_matrix,
    insult: np.ndarray,
    troll: np.ndarray,
) -> np.ndarray:
    """The ``reasons`` column: "insult: idiot, you are | troll: called a troll by replies".

    Only labels scoring at least ``config.REASON_MIN_SCORE`` get reasons (a low score has no
    reason worth a moderator's time); each lists up to ``config.REASON_TERMS`` terms that
    pushed the score up.
    """
    reasons = np.full(len(texts), "", dtype=object)
    heads = (("insult", model.insult_head, X, insult), ("troll", model.troll_head, X_troll, troll))
    wanted = (insult >= config.REASON_MIN_SCORE) | (troll >= config.REASON_MIN_SCORE)
    for i in np.flatnonzero(wanted):
        folded = fold_text(texts[i])
        parts = []
        for label, head, matrix, scores in heads:
            if scores[i] < config.REASON_MIN_SCORE:
                continue
            contributions = _row_contributions(matrix[i], head.coef_[0])
            terms = [t for t, v in _terms(model, folded, contributions) if v > 0][: config.REASON_TERMS]
            if terms:
                parts.append(f"{label}: " + ", ".join(terms))
        reasons[i] = " | ".join(parts)
    return reasons


def token_contributions(
    model: ModerationModel, text: str, *, label: str = "insult"
) -> list[tuple[int, int, float]]:
    """(start, end, contribution) for every word of ``text`` under the text-only part of a head."""
    head = model.insult_head if label == "insult" else model.troll_head
    coef = head.coef_[0]
    row = model.text_features.transform([text])
    contributions = _row_contributions(row, coef)
    word_columns = _word_columns(model)
    out = []
    for match in _ORIGINAL_TOKEN.finditer(text):
        folded = fold_text(match.group(0))
        total = 0.0
        for word in _FOLDED_WORD.findall(folded):
            total += sum(contributions.get(c, 0.0) for c in word_columns(word))
        out.append((match.start(), match.end(), total))
    return out


def explain_spans(
    model: ModerationModel,
    texts: Sequence[str],
    *,
    label: str = "insult",
    min_contribution: float | None = None,
) -> list[list[tuple[int, int, str]]]:
    """Character spans to highlight in each text: (start, end, label), start inclusive.

    A word is highlighted when its contribution to the ``label`` head reaches
    ``min_contribution`` (default ``config.SPAN_MIN_CONTRIBUTION``). Offsets index the text
    exactly as given, so they survive obfuscation ("id10t" is one span).
    """
    if label not in config.LABELS:
        raise ValueError(f"label must be one of {config.LABELS}, not {label!r}")
    floor = config.SPAN_MIN_CONTRIBUTION if min_contribution is None else min_contribution
    spans: list[list[tuple[int, int, str]]] = []
    for text in texts:
        text = text if isinstance(text, str) else ""
        spans.append(
            [(start, end, label) for start, end, value in token_contributions(model, text, label=label) if value >= floor]
        )
    return spans
