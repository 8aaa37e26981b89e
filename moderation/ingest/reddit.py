"""Reader for Reddit comment dumps: Pushshift NDJSON, plain or .gz/.zst (format ``reddit``).

A stream reader: each line is one comment, read through ``iter_json_lines`` (which rejects
malformed lines with their line number) and yielded in frames of ``chunk_rows`` rows, so a
monthly dump of any size reads in flat memory. Reddit's own ids become the thread tree:
the submission (``link_id``) is the thread, a ``t1_`` parent is the comment replied to and a
``t3_`` parent means a top-level comment. The streaming thread tracker then places each reply
under its parent; a reply whose parent is not in the dump is counted as an orphan.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from moderation import config
from moderation.ingest.base import (
    RESERVED_COLUMNS,
    ReadOptions,
    ReadReport,
    input_name,
    register,
    stable_comment_id,
    to_iso_utc,
)
from moderation.ingest.rejects import RejectsSink
from moderation.ingest.tabular import iter_json_lines
from moderation.normalize import normalize_text

__all__ = ["read_reddit", "reddit_parent"]

#: Fields that become canonical columns; every other field is kept as an input column.
_MAPPED = frozenset({"id", "name", "parent_id", "link_id", "author", "body", "created_utc"})
_KEYS = (b'"link_id"', b'"parent_id"', b'"body"')


def reddit_parent(parent: object) -> str:
    """The canonical parent of a Reddit comment: ``t1_abc`` -> ``abc``, ``t3_...`` -> ''."""
    if not isinstance(parent, str) or not parent:
        return ""
    if parent.startswith("t3_"):
        return ""  # replies to the submission itself: a top-level comment
    if parent.startswith("t1_"):
        return parent[3:]
    return parent


def _sniff_reddit(head: bytes, path: Path) -> int:
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n[")
    if stripped[:1] != b"{":
        return 0
    first = stripped.split(b"\n", 1)[0]
    # Above the generic jsonl reader's best (80): these three keys together are Reddit's.
    return 95 if all(key in first for key in _KEYS) else 0


def _extra_value(value: object) -> object:
    return json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else value


def _row(record: dict, body: str, path: Path, line_number: int) -> dict:
    comment_id = str(record.get("id") or "") or reddit_parent(record.get("name")) or ""
    parent = reddit_parent(record.get("parent_id"))
    link = record.get("link_id") or ""
    if not link and str(record.get("parent_id") or "").startswith("t3_"):
        link = record["parent_id"]
    author = str(record.get("author") or "")
    # "[deleted]" is not a person: left as one author it would pool every deleted account
    # into a single, very prolific commenter in the author roll-ups.
    if author in config.REDDIT_DELETED_BODIES:
        author = ""
    row = {
        "comment_id": comment_id or stable_comment_id(path, line_number),
        "thread_id": str(link),
        "parent_id": parent,
        "author": author,
        "text": normalize_text(body),
        "status": "deleted" if body.strip() in config.REDDIT_DELETED_BODIES else "",
        "source": str(path),
        "record": line_number,
        "text_original": body,
    }
    taken = set(row) | {str(key) for key in record if key not in RESERVED_COLUMNS}
    for key, value in record.items():
        if key in _MAPPED:
            continue
        row[input_name(key, taken) if key in RESERVED_COLUMNS else str(key)] = _extra_value(value)
    return row


@register(
    "reddit",
    kind="stream",
    sniff=_sniff_reddit,
    description="Reddit/Pushshift comment NDJSON (.gz, .zst too)",
)
def read_reddit(
    path: Path, options: ReadOptions, rejects: RejectsSink, report: ReadReport
) -> Iterator[pd.DataFrame]:
    """Yield frames of canonical rows; ``[deleted]``/``[removed]`` comments are kept, marked."""
    rows: list[dict] = []
    stamps: list[object] = []

    def flush() -> pd.DataFrame:
        frame = pd.DataFrame(rows)
        frame["created_at"] = to_iso_utc(stamps)
        frame.attrs["threaded"] = True  # the tracker must remember ids: replies follow
        return frame

    for line_number, record in iter_json_lines(path, options, rejects):
        body = record.get("body")
        if not isinstance(body, str):
            rejects.add(
                source=path,
                record=line_number,
                reason="no 'body' text: not a Reddit comment (a submission, or another format)",
                raw=record,
            )
            continue
        rows.append(_row(record, body, path, line_number))
        stamps.append(record.get("created_utc"))
        if len(rows) >= options.chunk_rows:
            yield flush()
            rows, stamps = [], []
    if rows:
        yield flush()
