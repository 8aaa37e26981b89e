"""The one text normaliser that every reader calls on every comment.

Dump formats disagree on what a comment's text is: Disqus and WordPress store HTML, the
Kaggle insults data stores Python-style literal escapes (sometimes escaped twice), and
scraped pages carry stray control characters. ``normalize_text`` turns all of them into the
same plain Unicode text (NFC, line breaks kept), which is what features, explanations and
the dashboard see. Readers keep the untouched original in ``text_original``.
"""

from __future__ import annotations

import html
import re
import unicodedata
from html.parser import HTMLParser

__all__ = ["html_to_text", "join_surrogates", "normalize_text", "unescape_literals"]

# Tags that end a line or a block when HTML is reduced to text.
_LINE_TAGS = {"br"}
_BLOCK_TAGS = {
    "p",
    "div",
    "li",
    "ul",
    "ol",
    "blockquote",
    "pre",
    "tr",
    "table",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "section",
    "article",
    "header",
    "footer",
}
_SKIP_TAGS = {"script", "style", "head", "title", "template", "noscript"}

_HTML_HINT = re.compile(
    r"<\s*/?\s*(?:br|p|div|a|b|i|u|em|strong|span|blockquote|ul|ol|li|img|code|pre|h[1-6]|s|strike|"
    r"sup|sub|table|tr|td|font|iframe|script|style)\b[^>]*>|&(?:#\d{1,7}|#x[0-9a-f]{1,6}|[a-z]{2,8});",
    re.IGNORECASE,
)

# A literal escape as the Kaggle data has it: \n, \t, \r, \', \", \xHH, \uHHHH, with any number
# of extra backslashes in front when the text was escaped more than once.
_LITERAL_ESCAPE = re.compile(r"\\+(?:x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[ntr'\"])")
_BYTE_RUN = re.compile(r"(?:\\x[0-9a-fA-F]{2})+")
_UNICODE_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})")
_SIMPLE_ESCAPES = {"\\n": "\n", "\\t": "\t", "\\r": "\n", "\\'": "'", '\\"': '"'}
_SIMPLE_ESCAPE = re.compile(r"\\[ntr'\"]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_EXTRA_BACKSLASHES = re.compile(r"\\{2,}(?=x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[ntr'\"])")

# Invisible characters used to hide words from filters, and bidi controls that can make text
# render in a different order than it reads. ZWJ (U+200D) stays: emoji sequences need it.
_INVISIBLE = re.compile("[\u00ad\u180e\u200b\u200c\u200e\u200f\u2060-\u2064\ufeff\u202a-\u202e\u2066-\u2069]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_NEWLINES = re.compile(r"\r\n?|[\u2028\u2029\x85]")
_MANY_BLANK_LINES = re.compile(r"\n[ \t]*\n(?:[ \t]*\n)+")
_TRAILING_SPACE = re.compile(r"[ \t]+\n")
# In ASCII text, the characters that some step of normalize_text acts on (escapes, HTML, line
# breaks, controls). Most comments hold none of them, and for those every step is the identity.
_NEEDS_WORK = re.compile(r"[\\<&\r\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class _TextExtractor(HTMLParser):
    """Collects the text of an HTML fragment, turning line and block tags into newlines."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in _SKIP_TAGS:
            self._skipping += 1
        elif tag in _LINE_TAGS:
            self.parts.append("\n")
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n\n")

    def handle_startendtag(self, tag: str, attrs: list) -> None:
        if tag in _LINE_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self._skipping = max(0, self._skipping - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def html_to_text(fragment: str) -> str:
    """Reduce an HTML fragment to its visible text, keeping line and paragraph breaks."""
    if "<" not in fragment:
        # No tag at all (entities only, as tweets have them): the parser would hand all of it
        # to handle_data through html.unescape, so do just that.
        text = html.unescape(fragment)
    else:
        parser = _TextExtractor()
        parser.feed(fragment)
        parser.close()
        text = "".join(parser.parts)
    if "\n" in text:  # both patterns need a line break
        text = _TRAILING_SPACE.sub("\n", text)
        text = _MANY_BLANK_LINES.sub("\n\n", text)
    return text.strip("\n")


def _decode_byte_run(match: re.Match) -> str:
    raw = bytes(int(h, 16) for h in match.group(0).split("\\x")[1:])
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        # A lone \xe9 is a Latin-1 code point written as an escape, not a UTF-8 byte.
        return raw.decode("latin-1")


def _decode_unicode(match: re.Match) -> str:
    code = int(match.group(1) or match.group(2), 16)
    return chr(code) if code <= 0x10FFFF else match.group(0)


def unescape_literals(text: str) -> str:
    r"""Undo literal escape sequences (``\n``, ``\xa0``, ``\\n``, ``\u00a0``, ``\\xc3\\xa9``).

    Runs of ``\xHH`` are decoded as UTF-8 where they form valid UTF-8 (the Kaggle data escaped
    UTF-8 bytes) and as Latin-1 code points otherwise. Text without escapes is returned as is.
    """
    if "\\" not in text or not _LITERAL_ESCAPE.search(text):
        return text
    text = _EXTRA_BACKSLASHES.sub("\\\\", text)
    text = _BYTE_RUN.sub(_decode_byte_run, text)
    text = _UNICODE_ESCAPE.sub(_decode_unicode, text)
    text = _SIMPLE_ESCAPE.sub(lambda m: _SIMPLE_ESCAPES[m.group(0)], text)
    # \ud83d\ude00 pairs come out as two surrogates; join them into the real character.
    return join_surrogates(text)


def join_surrogates(text: str) -> str:
    """``text`` with each surrogate pair joined into its character and each lone surrogate
    (which no output can encode) turned into U+FFFD, as an undecodable byte would be."""
    if _SURROGATE.search(text):
        text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


def _strip_wrapping_quotes(text: str) -> str:
    # The Kaggle export wraps every comment in one pair of double quotes.
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"' and '"' not in text[1:-1].replace('\\"', ""):
        return text[1:-1]
    return text


def normalize_text(text: object, *, is_html: bool | None = None) -> str:
    """Return the canonical text of one comment.

    Steps, in order: unescape literal escapes; reduce HTML to text (when ``is_html`` is true,
    or when it is None and the text looks like HTML); turn every line-break form into ``\n``;
    drop control, zero-width and bidi-override characters; put the text into Unicode NFC.
    Missing values (None, NaN) become the empty string.
    """
    if text is None or (isinstance(text, float) and text != text):
        return ""
    text = _strip_wrapping_quotes(str(text))
    if not is_html and text.isascii() and not _NEEDS_WORK.search(text):
        return text.strip()
    return _normalize_steps(text, is_html=is_html)


def _normalize_steps(text: str, *, is_html: bool | None) -> str:
    # Every step, for text that has had its wrapping quotes taken off.
    text = unescape_literals(text)
    if is_html or (is_html is None and ("<" in text or "&" in text) and _HTML_HINT.search(text)):
        text = html_to_text(text)
    elif "&" in text:
        text = html.unescape(text) if re.search(r"&(?:#\d+|#x[0-9a-f]+|[a-z]+);", text, re.I) else text
    ascii_only = text.isascii()
    if "\r" in text or (not ascii_only and _NEWLINES.search(text)):
        text = _NEWLINES.sub("\n", text)
    # Every control, zero-width and bidi character is unprintable: a printable text has none.
    printable = text.isprintable()
    if not printable:
        text = _CONTROL.sub("", text)
    if not ascii_only:
        if not printable:
            text = _INVISIBLE.sub("", text)
        text = unicodedata.normalize("NFC", text)
    return text.strip()
