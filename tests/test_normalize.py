"""The one text normaliser: escapes, HTML, Unicode forms and invisible characters."""

from __future__ import annotations

import unicodedata

import pytest

from moderation.normalize import html_to_text, normalize_text, unescape_literals


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
