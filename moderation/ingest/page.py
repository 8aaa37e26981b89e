"""Article pages saved as plain text: the title becomes the thread, each author line a comment.

A scraped page (see ../shared/examples) carries the article, then a comment section whose
structure survives only as line breaks: an author line, one blank line, the comment's
paragraphs separated by single blank lines, and page furniture (donation amounts, "Notify
of", sort links, vote counts, "Reply", footers) in between. This reader:

1. takes the first substantial line that is not furniture as the article title;
2. starts the comment section after the first run of comment-section markers
   ("Notify of", "View all comments", "N Comments", "Leave a reply", sort links, …);
3. drops furniture lines anywhere in the section (``FURNITURE``);
4. walks the remaining lines, deciding for each short, name-shaped line whether it is an
   author (``_author_like``): it is, unless the line right after it is name-shaped too and
   is the better author (a comment's last short line followed by the real author). A name
   that recurs in the section, or that is followed by a timestamp line, is a strong author.

Blank-line rule: after an author line, one blank line leads to the text, while two or more
mean the comment is empty. Inside a comment, paragraphs are separated by one or two blank
lines (pages insert spacer paragraphs); three or more blank lines before a line that is not
an author mean a new comment whose author the page lost. Comments with no author or no text
are kept as they are on the page, in page order.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from moderation.ingest.base import ReadOptions, ReadReport, register, stable_comment_id
from moderation.ingest.rejects import RejectsSink
from moderation.ingest.source import open_text
from moderation.normalize import normalize_text

__all__ = ["FURNITURE", "SECTION_MARKERS", "parse_page"]

_I = re.IGNORECASE

_SORT = "(newest|oldest|most voted|best|top|latest|popular)"

#: Lines that open a comment section.
SECTION_MARKERS = [
    re.compile(p, _I)
    for p in (
        r"^notify of$",
        r"^view all comments$",
        r"^inline feedbacks$",
        r"^\d[\d,]*\s+(comments?|responses?|replies)$",
        r"^(comments?|responses|discussion)(\s*\(\d+\))?$",
        r"^(leave a (reply|comment)|join the (discussion|conversation)|post a comment|add a comment).*$",
        r"^(sort|order) by\b.*$",
        rf"^{_SORT}(\s+{_SORT})+$",
        r"^load (more|all) comments$",
    )
]

_RELATIVE_TIME = re.compile(
    r"^[•·\-\s]*(\d+|an?|one)\s+(second|minute|hour|day|week|month|year)s?\s+ago\b.*$", _I
)
_ABSOLUTE_TIME = re.compile(
    r"^[•·\-\s]*((jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+\d{1,2},?\s+\d{4}"
    r"|\d{1,2}\s+(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+\d{4}"
    r"|\d{4}-\d{2}-\d{2})([\sT,]+(at\s+)?\d{1,2}:\d{2}(:\d{2})?\s*([ap]\.?m\.?)?)?\s*(\S*)$",
    _I,
)

#: Page furniture: never part of a comment, wherever it appears in the section.
FURNITURE = SECTION_MARKERS + [
    re.compile(p, _I)
    for p in (
        r"^[\d.,]+\s*[$€£¥]$",
        r"^[$€£¥]\s*[\d.,]+$",
        r"^support\s+\S+(\s+\S+)?$",
        r"^(donate|subscribe|log ?in|sign ?in|sign ?up|register|reply|share|report|flag|edit|delete|"
        r"like|dislike|upvote|downvote|follow|unfollow|cancel|submit|post|more|less|show more|"
        r"show less|read more|see more|view replies|hide replies|collapse|expand)\s*[›»>]?$",
        r"^(reply|share|report|like)(\s*[•·|]\s*(reply|share|report|like|edit|flag)\s*[›»>]?)+$",
        r"^\d+\s*(likes?|votes?|points?|replies|reply|upvotes?|downvotes?)$",
        r"^[+\-−]?\d{1,6}$",
        r"^powered by\b.*$",
        r"^(©|\(c\)|copyright\b).*$",
        r"^all rights reserved.*$",
        r"^(privacy policy|terms of (service|use)|cookie (policy|settings)|contact us|about us)\b.*$",
        r"^would love your thoughts, please comment\.?x?$",
        r"^(guest|anonymous) ?(says|wrote):?$",
        r"^[x×|•·]$",
    )
]

_NAME_FORBIDDEN = re.compile(r"[=$@#<>{}\[\]|\\/*+]|https?:|www\.", _I)
_NAME_END_PUNCTUATION = ".!?,;:…\"“”'’"


@dataclass
class _Comment:
    author: str
    line: int
    paragraphs: list[str] = field(default_factory=list)
    created_at: str = ""
    awaiting_text: bool = False


def _is_furniture(line: str) -> bool:
    return any(p.match(line) for p in FURNITURE)


def _is_timestamp(line: str) -> bool:
    return bool(_RELATIVE_TIME.match(line) or _ABSOLUTE_TIME.match(line))


def _author_like(line: str) -> bool:
    """Shaped like a display name: short, few words, no sentence punctuation or symbols."""
    if not 1 <= len(line) <= 40 or len(line.split()) > 6:
        return False
    if line[-1] in _NAME_END_PUNCTUATION or _NAME_FORBIDDEN.search(line):
        return False
    if line.endswith(")") and "(" not in line:
        return False
    return any(ch.isalpha() for ch in line) and not _is_timestamp(line)


def _find_title(lines: list[str]) -> str:
    for line in lines:
        if line and not _is_furniture(line) and len(line.split()) >= 3:
            return line
    return ""


def _section_start(lines: list[str]) -> int | None:
    """Index of the first line after the first run of comment-section markers."""
    for i, line in enumerate(lines):
        if any(p.match(line) for p in SECTION_MARKERS):
            j = i
            while j < len(lines) and (not lines[j] or _is_furniture(lines[j])):
                j += 1
            return j
    return None


def parse_page(text: str) -> tuple[str, list[_Comment]]:
    """Split a page's text into its title and its comments (in page order)."""
    lines = [line.strip() for line in text.splitlines()]
    title = _find_title(lines)
    start = _section_start(lines)
    if start is None:
        return title, []

    # (line number, text, blank lines before it); furniture disappears without adding blanks.
    items: list[tuple[int, str, int]] = []
    gap = 0
    for number, line in enumerate(lines[start:], start=start + 1):
        if not line:
            gap += 1
        elif _is_furniture(line):
            continue
        else:
            items.append((number, line, gap))
            gap = 0

    candidates = [line for _, line, _ in items if _author_like(line)]
    recurring = {name for name in candidates if candidates.count(name) > 1}

    def strong(i: int) -> bool:
        line = items[i][1]
        followed_by_time = i + 1 < len(items) and _is_timestamp(items[i + 1][1])
        return _author_like(line) and (line in recurring or followed_by_time)

    def is_author(i: int) -> bool:
        if not _author_like(items[i][1]):
            return False
        if strong(i) or i + 1 >= len(items) or items[i + 1][2] >= 2:
            return True
        # Two name-shaped lines in a row: when the second has real text under it, it is the
        # author and the first is a comment's short last line ("Mark my words" + author).
        nxt = i + 1
        second_has_text = (
            nxt + 1 < len(items) and items[nxt + 1][2] <= 1 and not _author_like(items[nxt + 1][1])
        )
        return not (_author_like(items[nxt][1]) and second_has_text)

    comments: list[_Comment] = []
    current: _Comment | None = None

    def start_comment(i: int) -> _Comment:
        number, line, _ = items[i]
        if is_author(i):
            return _Comment(author=line, line=number, awaiting_text=True)
        return _Comment(author="", line=number, paragraphs=[line])

    for i, (_number, line, blank_before) in enumerate(items):
        if current is None:
            current = start_comment(i)
        elif current.awaiting_text and _is_timestamp(line) and not current.paragraphs:
            current.created_at = line
        elif current.awaiting_text:
            current.awaiting_text = False
            if blank_before <= 1:
                current.paragraphs.append(line)
            else:  # an author line with nothing under it: an empty comment
                comments.append(current)
                current = start_comment(i)
        elif (blank_before >= 1 or strong(i)) and is_author(i):
            comments.append(current)
            current = start_comment(i)
        elif blank_before >= 3:
            comments.append(current)
            current = _Comment(author="", line=_number, paragraphs=[line])
        elif blank_before == 0 and current.paragraphs:
            current.paragraphs[-1] += "\n" + line
        else:
            current.paragraphs.append(line)
    if current is not None:
        comments.append(current)
    return title, comments


def _sniff_page(head: bytes, path: Path) -> int:
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not stripped or stripped[:1] in (b"{", b"[", b"<") or b"\x00" in head[:4096]:
        return 0
    text = head.decode("utf-8", errors="replace")
    lines = text.splitlines()
    score = 15
    if any(any(p.match(line.strip()) for p in SECTION_MARKERS) for line in lines):
        score += 30
    if path.suffix.lower() in (".txt", ".text", ""):
        score += 10
    return score


@register("page", kind="document", sniff=_sniff_page, description="an article page saved as plain text")
def read_page(path: Path, options: ReadOptions, rejects: RejectsSink, report: ReadReport) -> pd.DataFrame:
    with open_text(path, encoding=options.encoding) as (handle, _fallback, _encoding):
        text = handle.read()
    title, comments = parse_page(text)
    if not comments:
        report.warn(f"{path}: found no comment section (no 'Notify of', 'N Comments', … line)")
    thread_id = (
        "page-" + hashlib.sha1(f"{title}|{path.name}".encode(), usedforsecurity=False).hexdigest()[:12]
    )
    rows = []
    for comment in comments:
        original = "\n\n".join(comment.paragraphs)
        rows.append(
            {
                "comment_id": stable_comment_id(path, comment.line),
                "thread_id": thread_id,
                "parent_id": "",
                "author": comment.author,
                "created_at": "",
                "text": normalize_text(original, is_html=False),
                "thread_title": title,
                "status": "",
                "source": str(path),
                "record": comment.line,
                "text_original": original,
                "posted": comment.created_at,
            }
        )
    return pd.DataFrame(rows)
