"""Reader for ToxiChat-style thread JSONL (format ``toxichat``): one line, one whole thread.

Each line holds ``reddit_thread``, a list of turns in which every turn replies to the one
before; turn 1 is the post, whose text starts with " Title: …" (that line becomes the thread
title, and the post keeps its full text because its label covers the title too). The bot
replies a ToxiChat line carries (``final_dgpt_response``, ``final_gpt3_response``) become rows
by the authors ``dgpt`` and ``gpt3`` replying to the last human turn.

The rows follow the conventions of the derived ``toxichat_turns_train_dev.csv`` in ../shared:
thread ``<file stem>-<0-based line index, 4 digits>``, bot turns ``N-dgpt``/``N-gpt3``, targets
joined with ``|``, stance towards every earlier turn as JSON, and the labels as input columns.
Human turns have no author name (the dump has none; one shared name would make every human
turn look like the same person to the author features).

A stream reader: frames are cut at line boundaries only, so a thread is never split.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from moderation import config
from moderation.ingest.base import RESERVED_COLUMNS, ReadOptions, ReadReport, input_name, register
from moderation.ingest.rejects import RejectsSink
from moderation.ingest.tabular import iter_json_lines
from moderation.normalize import normalize_text

__all__ = ["read_toxichat"]

_TITLE = re.compile(r"^\s*Title:\s*(.*?)\s*(?:\n|$)")
_STANCE = re.compile(r"^stance_label_towards_turn_(\d+)$")
#: Turn fields turned into the derived file's columns; any other field is kept as it is.
_KNOWN = frozenset({"turn_id", "text", "offense_label", "offense_targets", "coherence", "chatbot_model"})


def _sniff_toxichat(head: bytes, path: Path) -> int:
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    first = stripped.split(b"\n", 1)[0]
    # Above the generic jsonl reader's best (80): a thread list under this key is ToxiChat's.
    return 95 if stripped[:1] == b"{" and b'"reddit_thread"' in first else 0


def _turn_columns(turn: dict, *, turn_id: str, parent_turn: str, author_type: str) -> dict:
    """The derived file's label columns for one turn, plus any field it does not know."""
    stances = {}
    for key, value in turn.items():
        match = _STANCE.match(str(key))
        if match:
            stances[f"turn_{match.group(1)}"] = value
    label = turn.get("offense_label")
    targets = turn.get("offense_targets") or []
    columns = {
        "turn_id": turn_id,
        "parent_turn_id": parent_turn,
        "author_type": author_type,
        "is_thread_root": parent_turn == "",
        "offense_label": "" if label is None else str(label),
        "offensive": int(label == "Offensive"),
        "offense_targets": "|".join(map(str, targets)) if isinstance(targets, list) else str(targets),
        "stance_towards_parent": str(stances.get(f"turn_{parent_turn}", "")) if parent_turn else "",
        "stance_labels_json": json.dumps(stances) if stances else "",
        "coherence": str(turn.get("coherence") or ""),
    }
    taken = set(columns) | {str(key) for key in turn if key not in RESERVED_COLUMNS}
    for key, value in turn.items():
        if key in _KNOWN or _STANCE.match(str(key)):
            continue
        clashes = key in RESERVED_COLUMNS or key in columns
        name = input_name(key, taken) if clashes else str(key)
        columns[name] = json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else value
    return columns


def _thread_rows(record: dict, *, path: Path, line_number: int) -> list[dict] | str:
    """The rows of one thread line, or the reason the line cannot be read."""
    turns = record.get("reddit_thread")
    if not isinstance(turns, list) or not turns:
        return "no 'reddit_thread' list of turns"
    for position, turn in enumerate(turns, start=1):
        if not isinstance(turn, dict):
            return f"turn {position} is a JSON {type(turn).__name__}, not an object"
    thread_id = f"{path.name.split('.')[0]}-{line_number - 1:04d}"
    first_text = turns[0].get("text")
    title = _TITLE.match(first_text) if isinstance(first_text, str) else None
    thread_title = normalize_text(title.group(1)) if title else ""
    rows: list[dict] = []
    parent_turn = ""
    last_number = 0
    where = {"thread_id": thread_id, "thread_title": thread_title, "path": path, "line_number": line_number}
    for position, turn in enumerate(turns, start=1):
        turn_id = str(turn.get("turn_id", position))
        rows.append(_row(turn, turn_id=turn_id, parent_turn=parent_turn, author_type="reddit", **where))
        parent_turn = turn_id
        last_number = int(turn_id) if turn_id.isdigit() else position
    for key, bot in config.TOXICHAT_BOT_RESPONSES.items():
        reply = record.get(key)
        if isinstance(reply, dict):
            number = str(reply.get("turn_id", last_number + 1))
            turn_id = f"{number}-{bot}"
            rows.append(_row(reply, turn_id=turn_id, parent_turn=parent_turn, author_type=bot, **where))
    return rows


def _row(
    turn: dict,
    *,
    thread_id: str,
    turn_id: str,
    parent_turn: str,
    author_type: str,
    thread_title: str,
    path: Path,
    line_number: int,
) -> dict:
    author = "" if author_type == "reddit" else author_type
    raw = turn.get("text")
    text = "" if raw is None else str(raw)
    return {
        "comment_id": f"{thread_id}:{turn_id}",
        "thread_id": thread_id,
        "parent_id": f"{thread_id}:{parent_turn}" if parent_turn else "",
        "author": author,
        "text": normalize_text(text),
        "thread_title": thread_title,
        "status": "",
        "source": str(path),
        "record": line_number,
        "text_original": text,
        **_turn_columns(turn, turn_id=turn_id, parent_turn=parent_turn, author_type=author_type),
    }


@register(
    "toxichat",
    kind="stream",
    sniff=_sniff_toxichat,
    description="ToxiChat-style thread JSONL (one thread of turns per line)",
)
def read_toxichat(
    path: Path, options: ReadOptions, rejects: RejectsSink, report: ReadReport
) -> Iterator[pd.DataFrame]:
    rows: list[dict] = []

    def flush() -> pd.DataFrame:
        frame = pd.DataFrame(rows)
        frame.attrs["threaded"] = True
        return frame

    for line_number, record in iter_json_lines(path, options, rejects):
        thread = _thread_rows(record, path=path, line_number=line_number)
        if isinstance(thread, str):
            rejects.add(source=path, record=line_number, reason=thread, raw=record)
            continue
        rows.extend(thread)
        if len(rows) >= options.chunk_rows:  # only between lines: a thread stays in one frame
            yield flush()
            rows = []
    if rows:
        yield flush()
