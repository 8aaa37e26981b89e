"""Properties that must hold for any input hypothesis can think of: reading round-trips texts,
scores are probabilities that depend only on the text, Unicode normal forms and obfuscation
do not change what the model sees."""

from __future__ import annotations

import csv
import json
import tempfile
import unicodedata
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from moderation.classifier import ModerationModel
from moderation.cli import read as read_command
from moderation.ingest import read_comments
from moderation.normalize import normalize_text
from moderation.output import neutralize_formula

# Modest example counts keep the file well under 30 s; no deadline, as the first call of a
# test loads the model.
PROPERTY_SETTINGS = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
    database=None,
)

# Any character a comment can hold except lone surrogates (which no UTF-8 file can carry):
# controls, NUL, CR, BOM, bidi marks, U+2028, quotes, commas and backslashes included.
any_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=60)
# Characters that the writers and readers treat specially, drawn often so that they meet.
tricky = st.sampled_from(
    [
        *",\"'\\\r\n\t\x00\x0b\x1f\x7f\x85\u00a0\u00ad\u200b\u200e\u202e\u2028\u2029\ufeff<>&;=+-@#",
        *("\\n", "\\x41", "\\u00e9", "&amp;", "&#x27;", "<br>", "<p>", "<script>x</script>", "\r\n"),
        *("NA", "null"),
    ]
)
comment_text = st.lists(st.one_of(any_text, tricky), max_size=8).map("".join)
author_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
rows_strategy = st.lists(st.tuples(comment_text, author_text), min_size=1, max_size=12)


def _write_input(folder: Path, kind: str, rows: list[tuple[str, str]]) -> Path:
    path = folder / f"input.{kind}"
    if kind == "csv":
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["comment_id", "text", "author"])
            writer.writerows([f"c{i}", text, author] for i, (text, author) in enumerate(rows))
    else:
        with path.open("w", encoding="utf-8", newline="") as handle:
            for i, (text, author) in enumerate(rows):
                record = {"comment_id": f"c{i}", "text": text, "author": author}
                handle.write(json.dumps(record, ensure_ascii=i % 2 == 0) + "\n")
    return path


# --- (a) reading round-trips the texts -----------------------------------------------------------


@pytest.mark.parametrize("kind", ["csv", "jsonl"])
@PROPERTY_SETTINGS
@given(rows=rows_strategy)
def test_read_comments_round_trips_texts(kind: str, rows: list[tuple[str, str]]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = _write_input(Path(folder), kind, rows)
        frames = list(read_comments([path]))  # --format auto, as the command defaults to
    read_rows = [record for frame in frames for record in frame.to_dict("records")]
    assert [r["comment_id"] for r in read_rows] == [f"c{i}" for i in range(len(rows))]
    assert [r["text_original"] for r in read_rows] == [text for text, _ in rows]
    assert [r["text"] for r in read_rows] == [normalize_text(text) for text, _ in rows]
    assert [r["author"] for r in read_rows] == [author for _, author in rows]


@pytest.mark.parametrize(("kind", "out_suffix"), [("csv", ".jsonl"), ("jsonl", ".csv")])
@PROPERTY_SETTINGS
@given(rows=rows_strategy)
def test_moderation_read_output_holds_the_normalised_texts(
    kind: str, out_suffix: str, rows: list[tuple[str, str]]
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        source = _write_input(Path(folder), kind, rows)
        output = Path(folder) / f"rows{out_suffix}"
        read_command([source], output=output)  # the function behind 'moderation read'
        if out_suffix == ".csv":
            with output.open(encoding="utf-8", newline="") as handle:
                written = list(csv.DictReader(handle))
        else:
            content = output.read_text(encoding="utf-8")
            written = [json.loads(line) for line in content.split("\n") if line]
    expected = [normalize_text(text) for text, _ in rows]
    if out_suffix == ".csv":
        # CSV cells that a spreadsheet would run as a formula are written with a leading quote.
        expected = [neutralize_formula(text) for text in expected]
    assert [record["text"] for record in written] == expected


# --- (b) scores are probabilities that depend on the text alone ----------------------------------


def _check_probabilities_and_determinism(model: ModerationModel, texts: list[str], pick: int) -> None:
    first = model.score_texts(texts).to_numpy()
    assert np.isfinite(first).all() and (first >= 0).all() and (first <= 1).all()
    np.testing.assert_array_equal(first, model.score_texts(texts).to_numpy())
    # The same text scores the same alone, in a batch, and repeated at both ends of a batch (up
    # to the last bit of a float: the batch changes the order in which sums are added up).
    chosen = texts[pick % len(texts)]
    alone = model.score_texts([chosen]).to_numpy()[0]
    repeated = model.score_texts([chosen, *texts, chosen]).to_numpy()
    for in_batch in (first[pick % len(texts)], repeated[0], repeated[-1]):
        np.testing.assert_allclose(in_batch, alone, rtol=0, atol=1e-12)


@PROPERTY_SETTINGS
@given(
    texts=st.lists(comment_text.map(normalize_text), min_size=1, max_size=10),
    pick=st.integers(min_value=0),
)
def test_scores_of_read_texts_are_probabilities_and_deterministic(
    model: ModerationModel, texts: list[str], pick: int
) -> None:
    # Texts as every reader hands them to the model (normalize_text).
    _check_probabilities_and_determinism(model, texts, pick)


@PROPERTY_SETTINGS
@example(texts=["\x00A"], pick=0)
@example(texts=["hello\x00WORLDWIDE SHOUTING", "calm words here", "..."], pick=1)
@given(texts=st.lists(comment_text, min_size=1, max_size=10), pick=st.integers(min_value=0))
def test_scores_of_raw_texts_are_probabilities_and_deterministic(
    model: ModerationModel, texts: list[str], pick: int
) -> None:
    # Any text at all, control characters included, straight into the model.
    _check_probabilities_and_determinism(model, texts, pick)


# --- (c) Unicode normal forms --------------------------------------------------------------------

# Every character that NFD changes (accented Latin, Greek, Cyrillic, Vietnamese, Hangul
# syllables, compatibility singletons such as the Angstrom sign), with combining marks.
_DECOMPOSABLE = [chr(c) for c in range(0x30000) if unicodedata.normalize("NFD", chr(c)) != chr(c)]
accented_text = st.lists(
    st.one_of(
        st.sampled_from(_DECOMPOSABLE),
        st.sampled_from(list(" .,!?'\u0301\u0308\u0327\u030a")),
        st.sampled_from(["idiot ", "you are ", "stupid ", "café ", "naïve ", "résumé ", "señor "]),
        st.characters(exclude_categories=("Cs",)),
    ),
    min_size=1,
    max_size=25,
).map("".join)


@PROPERTY_SETTINGS
@example(text="ÀÀÀ")
@given(text=accented_text)
def test_nfc_and_nfd_forms_score_the_same(model: ModerationModel, text: str) -> None:
    nfc, nfd = unicodedata.normalize("NFC", text), unicodedata.normalize("NFD", text)
    scores = model.score_texts([nfc, nfd]).to_numpy()
    np.testing.assert_allclose(scores[0], scores[1], rtol=0, atol=1e-12)


@PROPERTY_SETTINGS
@given(text=accented_text)
def test_nfc_and_nfd_forms_score_the_same_once_read(model: ModerationModel, text: str) -> None:
    nfc, nfd = unicodedata.normalize("NFC", text), unicodedata.normalize("NFD", text)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "forms.jsonl"
        lines = [
            json.dumps({"comment_id": form, "thread_id": form, "author": form, "text": value})
            for form, value in (("nfc", nfc), ("nfd", nfd))
        ]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        frame = next(iter(read_comments([path])))
    assert frame.loc[0, "text"] == frame.loc[1, "text"] == normalize_text(nfc)
    scores = model.score_frame(frame, explain=False)[["insult_score", "troll_score"]].to_numpy()
    np.testing.assert_array_equal(scores[0], scores[1])


# --- (d) obfuscation barely moves the insult score -----------------------------------------------

OBFUSCATED_FORMS = ("idiot", "id1ot", "1diot", "i.d.i.o.t", "ｉｄｉｏｔ")
INSULT_SENTENCES = (
    "You are an {word}.",
    "What an {word} you are!",
    "Only an {word} would write this.",
    "Stop posting, {word}.",
    "{word}, read the article before you comment.",
    "My neighbour is an {word} and everyone knows it.",
)
FILLER = (
    "",
    "I read the whole piece this morning.",
    "The council meets again on Tuesday.",
    "Thanks for the link.",
    "Seriously?",
    "Anyway, back to the budget.",
)


@PROPERTY_SETTINGS
@given(
    sentence=st.sampled_from(INSULT_SENTENCES),
    before=st.sampled_from(FILLER),
    after=st.sampled_from(FILLER),
)
def test_obfuscated_insults_score_within_0_1_of_the_plain_word(
    model: ModerationModel,
    sentence: str,
    before: str,
    after: str,
) -> None:
    texts = [" ".join(filter(None, [before, sentence.format(word=form), after])) for form in OBFUSCATED_FORMS]
    insult = model.score_texts(texts)["insult_score"].to_numpy()
    spread = float(insult.max() - insult.min())
    assert spread <= 0.1, dict(zip(texts, insult.round(4).tolist(), strict=True))
