"""The canonical comment row that every reader produces and every later step consumes.

Readers (``moderation.ingest``) map each dump format onto these columns; scoring adds the
score columns; the store persists them. Input columns that a reader does not map are
kept beside the canonical ones, so ``moderation score`` never drops what the user had.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

__all__ = [
    "CANONICAL_COLUMNS",
    "READ_COLUMNS",
    "SCORE_COLUMNS",
    "STATUS_VALUES",
    "canonical_frame",
    "order_columns",
]

#: The public columns of ARCHITECTURE.md, in output order.
CANONICAL_COLUMNS = ("comment_id", "thread_id", "parent_id", "author", "created_at", "text")

#: Extra columns every reader fills, kept in ``moderation read`` output.
#: ``depth``: 0 for a top-level comment. ``thread_title``: the article or post title when known.
#: ``status``: ``approved``, ``unapproved``, ``deleted``, ``spam``, ``pingback`` or ``trackback``
#: (empty when the source does not say). ``source`` and ``record``: the file and the 1-based
#: line or record the row came from. ``text_original``: the text exactly as the source had it.
EXTRA_COLUMNS = ("depth", "thread_title", "status", "source", "record", "text_original")

READ_COLUMNS = CANONICAL_COLUMNS + EXTRA_COLUMNS

#: Added by scoring, in output order.
SCORE_COLUMNS = ("insult_score", "troll_score", "flag", "reasons", "model_version")

STATUS_VALUES = ("", "approved", "unapproved", "deleted", "spam", "pingback", "trackback")

_STRING_COLUMNS = (*CANONICAL_COLUMNS, "thread_title", "status", "source", "text_original")


def canonical_frame(rows: Iterable[dict] | pd.DataFrame) -> pd.DataFrame:
    """Return a frame holding every READ column with its canonical type.

    Missing string columns become empty strings (never NaN: a blank author is "", which
    is what a CSV shows and what the store keeps); ``depth`` and ``record`` are integers.
    Columns that are not canonical are kept after the canonical ones.
    """
    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    frame = frame.copy()
    for column in _STRING_COLUMNS:
        if column not in frame.columns:
            frame[column] = ""
        else:
            frame[column] = frame[column].fillna("").astype(str)
    for column in ("depth", "record"):
        if column not in frame.columns:
            frame[column] = 0
        frame[column] = pd.to_numeric(frame[column], errors="coerce").fillna(0).astype("int64")
    return order_columns(frame)


def order_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Canonical columns first, then score columns, then everything the input carried."""
    known = [c for c in (*READ_COLUMNS, *SCORE_COLUMNS) if c in frame.columns]
    rest = [c for c in frame.columns if c not in known]
    return frame[known + rest]
