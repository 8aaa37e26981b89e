"""Explanations: reasons and highlighted spans, on the shipped model and on the SemEval toxic spans."""

from __future__ import annotations

import ast
from pathlib import Path

import pandas as pd
import pytest

from moderation import config
from moderation.explain import explain_spans, reasons_for, token_contributions
from moderation.registry import load_model


@pytest.fixture(scope="module")
def model():
    return load_model()


def test_spans_point_at_the_insulting_words_in_the_original_text(model) -> None:
    text = "Well, you are an ID10T and a m0ron!!"
    spans = explain_spans(model, [text])[0]
    words = {text[start:end] for start, end, _ in spans}
    assert {"ID10T", "m0ron"} <= words
    assert "Well" not in words
    assert all(label == "insult" for *_, label in spans)


def test_spans_survive_spelled_out_and_fullwidth_words(model) -> None:
    for text, word in (("you i d i o t", "i d i o t"), ("you ｉｄｉｏｔ", "ｉｄｉｏｔ")):
        spans = explain_spans(model, [text])[0]
        assert word in {text[s:e] for s, e, _ in spans}


def test_spans_light_the_words_that_drove_the_score_not_function_words(model) -> None:
    text = "You are such a pathetic idiot, you know that"
    [spans] = explain_spans(model, [text])
    lit = {text[start:end].lower() for start, end, _ in spans}
    assert "idiot" in lit
    assert not lit & {"you", "are", "such", "a", "know", "that"}
    # Every lit word adds at least the configured share of the largest word's contribution.
    values = {text[s:e].lower(): v for s, e, v in token_contributions(model, [text])[0]}
    assert min(values[word] for word in lit) >= config.SPAN_RELATIVE * values["idiot"]


def test_a_friendly_comment_has_no_spans(model) -> None:
    assert explain_spans(model, ["Thanks for the lovely photos, see you Sunday"]) == [[]]


def test_token_contributions_cover_every_word(model) -> None:
    [spans] = token_contributions(model, ["you are an idiot"])
    assert [s[:2] for s in spans] == [(0, 3), (4, 7), (8, 10), (11, 16)]
    assert max(spans, key=lambda s: s[2])[:2] == (11, 16)


def test_reasons_for_texts_match_score_frame(model) -> None:
    texts = ["you are a pathetic idiot", "nice"]
    scored = model.score_frame(pd.DataFrame({"text": texts}))
    reasons = reasons_for(model, texts, scored["insult_score"].to_numpy(), scored["troll_score"].to_numpy())
    assert list(reasons) == list(scored["reasons"])


def test_a_phrase_said_three_times_is_one_reason(model) -> None:
    texts = ["shut up shut up shut up you troll", "you are a loser, you are a loser, you are a loser"]
    reasons = model.score_frame(pd.DataFrame({"text": texts}))["reasons"].tolist()
    for text, row in zip(texts, reasons, strict=True):
        for part in row.split(" | "):
            terms = part.split(": ", 1)[1].split(", ")
            assert len(terms) == len(set(terms)), (text, row)
    assert "shut up" in reasons[0] and "you are" in reasons[1]


def test_repeated_rows_get_the_reasons_their_own_context_gives(model) -> None:
    # score_frame explains each distinct (text, context signals) once: every row must still get
    # what explaining it on its own gives, in its own thread.
    from moderation.ingest import read_comments

    demo = pd.concat(read_comments([Path(__file__).resolve().parents[1] / "data" / "demo_comments.jsonl"]))
    copy = demo.assign(
        comment_id="copy-" + demo["comment_id"],
        parent_id=demo["parent_id"].where(demo["parent_id"] == "", "copy-" + demo["parent_id"]),
        thread_id="copy-" + demo["thread_id"],
    )
    alone = demo.assign(
        comment_id="alone-" + demo["comment_id"],
        thread_id="alone-" + demo["comment_id"],
        parent_id="",
        depth=0,
    )
    frame = pd.concat([demo, copy, alone], ignore_index=True)
    scored = model.score_frame(frame)
    insult, troll = scored["insult_score"].to_numpy(), scored["troll_score"].to_numpy()
    context = model.context_matrix(frame, insult)
    # The same texts stand in different contexts here, and some of them are explained.
    contexts_of_text: dict[str, set] = {}
    for text, row, reasons in zip(frame["text"], context.tolist(), scored["reasons"], strict=True):
        if reasons:
            contexts_of_text.setdefault(text, set()).add(tuple(row))
    assert max(len(rows) for rows in contexts_of_text.values()) > 1
    expected = reasons_for(model, frame["text"].tolist(), insult, troll, context)
    read = ~scored["reasons"].str.startswith(config.UNREAD_PREFIX)
    assert scored["reasons"][read].tolist() == pd.Series(expected)[read].tolist()


def _span_f1(predicted: set[int], gold: set[int]) -> float:
    # SemEval-2021 Task 5: F1 over character offsets, 1 when both are empty.
    if not gold and not predicted:
        return 1.0
    if not gold or not predicted:
        return 0.0
    overlap = len(predicted & gold)
    precision, recall = overlap / len(predicted), overlap / len(gold)
    return 2 * precision * recall / (precision + recall) if overlap else 0.0


@pytest.mark.shared
def test_span_f1_on_semeval_toxic_spans(shared_data: Path, model) -> None:
    gold = pd.read_csv(shared_data / "toxic_spans" / "tsd_test.csv")
    # The SemEval setting: every text is known to be toxic; find its toxic words.
    predicted = explain_spans(model, gold["text"].tolist(), only_scored=False)
    scores = []
    for spans, offsets in zip(predicted, gold["spans"], strict=True):
        chars = {i for start, end, _ in spans for i in range(start, end)}
        scores.append(_span_f1(chars, set(ast.literal_eval(offsets))))
    f1 = sum(scores) / len(scores)
    # Highlighting nothing scores about 0.20 here (the rows with empty gold), the whole text 0.14,
    # and every word adding 0.2 or more (the rule until 2026.12) 0.46.
    assert f1 >= 0.49


@pytest.mark.parametrize("n_docs", [50, 70_000])
def test_candidates_are_ordered_as_lexsort_orders_them(n_docs: int) -> None:
    # By doc, then highest value first, ties in their first order; past 16-bit doc numbers
    # the order falls back to lexsort itself.
    import numpy as np

    from moderation.explain import _by_doc_then_value

    rng = np.random.default_rng(0)
    docs = rng.integers(0, n_docs, 5_000)
    values = rng.choice([0.5, 0.25, 1.0, 0.125], 5_000) * rng.choice([1, 1, 2], 5_000)
    assert np.array_equal(_by_doc_then_value(docs, values), np.lexsort((-values, docs)))


def test_every_signal_has_a_readable_name() -> None:
    from moderation.explain import _READABLE
    from moderation.features import CONTEXT_FEATURES, HASHED_LEXICAL_FEATURES, LEXICAL_FEATURES

    assert {*LEXICAL_FEATURES, *HASHED_LEXICAL_FEATURES, *CONTEXT_FEATURES} <= set(_READABLE)

