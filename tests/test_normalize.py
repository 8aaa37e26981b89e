"""The one text normaliser: escapes, HTML, Unicode forms and invisible characters."""

from __future__ import annotations

import html
import re
import unicodedata

import pyarrow as pa
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from moderation import normalize
from moderation.ingest.base import normalized_text_array
from moderation.normalize import (
    _MANY_BLANK_LINES,
    _TRAILING_SPACE,
    _normalize_steps,
    _strip_wrapping_quotes,
    _TextExtractor,
    html_to_text,
    normalize_text,
    unescape_literals,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (r"line one\nline two", "line one\nline two"),
        (r"a\xa0b", "a\u00a0b"),
        (r"a\\nb", "a\nb"),
        (r"a\u00a0b", "a\u00a0b"),
        (r"traducci\\xc3\\xb3n", "traducción"),
        (r"I\\xe2\\x80\\x99ve", "I\u2019ve"),
        (r"don\'t", "don't"),
        ("no escapes here", "no escapes here"),
    ],
)
def test_unescape_literals_handles_the_kaggle_forms(raw: str, expected: str) -> None:
    assert unescape_literals(raw) == expected


def test_normalize_strips_the_kaggle_wrapping_quotes_and_unescapes() -> None:
    assert normalize_text('"You are\\\\n an idiot"') == "You are\n an idiot"
    assert normalize_text('"He said \\"hi\\" to me"') == 'He said "hi" to me'


def test_html_is_reduced_to_text_keeping_line_breaks() -> None:
    assert html_to_text("<p>First</p><p>Second<br>line</p>") == "First\n\nSecond\nline"
    assert normalize_text("<p>Tom &amp; Jerry</p><script>alert(1)</script>") == "Tom & Jerry"


def test_plain_text_with_angle_brackets_is_not_treated_as_html() -> None:
    assert normalize_text("3 < 5 and 7 > 2") == "3 < 5 and 7 > 2"


def test_nfc_and_nfd_normalise_to_the_same_text() -> None:
    word = "café naïve"
    assert normalize_text(unicodedata.normalize("NFD", word)) == normalize_text(word)
    assert normalize_text(unicodedata.normalize("NFD", word)) == unicodedata.normalize("NFC", word)


def test_control_zero_width_and_bidi_characters_are_dropped() -> None:
    assert normalize_text("id\u200biot\x00\x07") == "idiot"
    assert normalize_text("abc\u202edef") == "abcdef"
    assert normalize_text("one\r\ntwo\rthree") == "one\ntwo\nthree"


def test_missing_values_become_empty_text() -> None:
    assert normalize_text(None) == ""
    assert normalize_text(float("nan")) == ""
    assert normalize_text("   ") == ""


# --- the fast path for plain ASCII text -------------------------------------------------------

# Every character some step acts on, next to ones no step touches, so that texts often hold
# exactly one of them: escapes, HTML, line breaks, every control, quotes, whitespace at the ends.
_step_characters = st.sampled_from(
    [
        *(chr(code) for code in range(0x20)),
        *"\x7f\x85\x9f\u00a0\u00ad\u200b\u2028\u2029\u202e\ufeff\u00e9",
        *("e\u0301", "\\", "\\n", "\\\\t", "\\x41", "\\u00e9", '\\"', "&amp;", "&#39;", "&bogus;"),
        *("<", ">", "<br>", "<p>x</p>", "<script>x</script>", '"', "'", " ", "\r\n", "a", "Z", "9", ";"),
    ]
)
_tricky_texts = st.lists(_step_characters, max_size=12).map("".join)


@settings(max_examples=500, deadline=None, derandomize=True, database=None)
@given(text=st.one_of(_tricky_texts, st.text(max_size=40), st.text(st.characters(max_codepoint=127))))
@example(text='"quoted"')
@example(text=' "padded" ')
@example(text='"\\"')
@example(text="\x1cx\x1f")
@example(text="  spaces and\ttabs\n")
@example(text="")
def test_the_plain_ascii_fast_path_gives_what_running_every_step_gives(text: str) -> None:
    for is_html in (None, False):
        every_step = _normalize_steps(_strip_wrapping_quotes(text), is_html=is_html)
        assert normalize_text(text, is_html=is_html) == every_step


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  plain words  ", "plain words"),
        ('"wrapped plain"', "wrapped plain"),
        ("bell\x07 and del\x7f", "bell and del"),
        ("a\rb", "a\nb"),
        ("fish &amp; chips", "fish & chips"),
        ("a\\nb", "a\nb"),
    ],
)
def test_ascii_text_with_something_to_do_still_gets_it_done(raw: str, expected: str) -> None:
    assert normalize_text(raw) == expected


def test_escaped_surrogate_pairs_join_and_lone_ones_are_replaced() -> None:
    joined = unescape_literals(r"smile \ud83d\ude00 and lone \ud800 end")
    assert joined == "smile \U0001f600 and lone \ufffd end"
    assert unescape_literals(r"no surrogate \u00e9") == "no surrogate \u00e9"


def _html_to_text_by_parsing(fragment: str) -> str:
    # html_to_text as it was before fragments without a tag skipped the parser.
    parser = _TextExtractor()
    parser.feed(fragment)
    parser.close()
    text = _TRAILING_SPACE.sub("\n", "".join(parser.parts))
    return _MANY_BLANK_LINES.sub("\n\n", text).strip("\n")


_entity_pieces = st.sampled_from(
    ["&amp;", "&amp", "&#128514;", "&#x27;", "&#0;", "&#xd800;", "&notin;", "&notit;", "&", "&#", ";", "#"]
)


@settings(max_examples=500, deadline=None, derandomize=True, database=None)
@given(
    fragment=st.lists(st.one_of(_entity_pieces, _step_characters.filter(lambda c: "<" not in c)), max_size=12)
    .map("".join)
    .filter(lambda text: "<" not in text)
)
@example(fragment="fish &amp; chips &#8220;quoted&#8221; " + "x" * 40 + " &amp")
def test_html_without_a_tag_reads_as_the_parser_reads_it(fragment: str) -> None:
    assert html_to_text(fragment) == _html_to_text_by_parsing(fragment)


def _every_step_unguarded(text: str) -> str:
    # _normalize_steps as it was before each regex step was skipped when it could not match.
    text = unescape_literals(text)
    if ("<" in text or "&" in text) and normalize._HTML_HINT.search(text):
        text = _html_to_text_by_parsing(text)
    elif "&" in text:
        text = html.unescape(text) if re.search(r"&(?:#\d+|#x[0-9a-f]+|[a-z]+);", text, re.I) else text
    text = normalize._NEWLINES.sub("\n", text)
    text = normalize._CONTROL.sub("", text)
    if not text.isascii():
        text = normalize._INVISIBLE.sub("", text)
        text = unicodedata.normalize("NFC", text)
    return text.strip()


@settings(max_examples=500, deadline=None, derandomize=True, database=None)
@given(text=st.one_of(_tricky_texts, st.text(max_size=40)))
@example(text="a\n \n\t\nb")
@example(text="<p>x</p> \n\n\n<br>y\u2028z\x85")
def test_skipping_the_steps_that_cannot_match_changes_no_text(text: str) -> None:
    assert _normalize_steps(text, is_html=None) == _every_step_unguarded(text)


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(texts=st.lists(st.one_of(_tricky_texts, st.text(max_size=20)), max_size=20))
@example(texts=["  plain  ", '"quoted"', '"', "caf\u00e9", "a\\nb", "\t\n", ""])
def test_a_text_column_is_normalised_as_normalize_text_does_each_text(texts: list[str]) -> None:
    column = normalized_text_array(pa.array(texts, type=pa.large_string()))
    assert column.type == pa.large_string()
    assert column.to_pylist() == [normalize_text(text) for text in texts]
