"""What every reader shares: options, the reader registry, the read report and row helpers.

A reader is registered under a format name with a content sniffer. Two kinds exist:
- ``document`` readers parse a whole file (XML exports, pages, thread JSONL) and return one
  frame; the framework rebuilds its threads and cuts it into frames at thread boundaries.
- ``stream`` readers yield frames of at most ``chunk_rows`` rows, so memory stays flat.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from moderation import config
from moderation.ingest.rejects import RejectsSink
from moderation.normalize import _NEEDS_WORK as _needs_work
from moderation.normalize import normalize_text
from moderation.schema import READ_COLUMNS, SCORE_COLUMNS

__all__ = [
    "READERS",
    "RESERVED_COLUMNS",
    "ReadOptions",
    "ReadReport",
    "Reader",
    "input_name",
    "register",
    "stable_comment_id",
    "to_iso_utc",
]


@dataclass(frozen=True)
class ReadOptions:
    """Options every reader understands; readers ignore the ones that do not apply."""

    text_column: str | None = None
    encoding: str | None = None
    chunk_rows: int = config.CHUNK_ROWS
    include_pingbacks: bool = False


@dataclass
class ReadReport:
    """Counts and warnings from one read; the CLI prints them."""

    rows: int = 0
    rejected: int = 0
    files: int = 0
    orphans: int = 0
    cycles_broken: int = 0
    warnings: list[str] = field(default_factory=list)

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)


DocumentFn = Callable[[Path, ReadOptions, RejectsSink, ReadReport], pd.DataFrame]
StreamFn = Callable[[Path, ReadOptions, RejectsSink, ReadReport], Iterator[pd.DataFrame]]
SniffFn = Callable[[bytes, Path], int]


@dataclass(frozen=True)
class Reader:
    name: str
    kind: str  # "document" or "stream"
    read: Callable
    sniff: SniffFn
    description: str


#: Format name -> reader. Filled by the reader modules when ``moderation.ingest`` is imported.
READERS: dict[str, Reader] = {}


def register(name: str, *, kind: str, sniff: SniffFn, description: str) -> Callable:
    """Decorator that registers a reader function under a format name."""

    def decorate(function: Callable) -> Callable:
        READERS[name] = Reader(name, kind, function, sniff, description)
        return function

    return decorate


#: The columns a reader or the scorer writes; an input column of one of these names is kept
#: as ``input_<name>`` (see ``input_name``).
RESERVED_COLUMNS = frozenset(READ_COLUMNS) | frozenset(SCORE_COLUMNS)


def input_name(name: str, taken: set[str]) -> str:
    """The name an input column called ``name`` (a reserved name) is kept under:
    ``input_<name>``, or ``input_<name>.1``, … when the row already has that name; it is
    added to ``taken``. Without the suffix an input holding both "flag" and "input_flag"
    lost one of the two."""
    renamed, suffix = f"input_{name}", 0
    while renamed in taken:
        suffix += 1
        renamed = f"input_{name}.{suffix}"
    taken.add(renamed)
    return renamed


def stable_comment_id(source: Path | str, record: int) -> str:
    """A comment id for sources that have none: a hash of the file name and position."""
    digest = hashlib.sha1(f"{Path(source).name}:{record}".encode(), usedforsecurity=False)
    return "h" + digest.hexdigest()[:15]


_COMPACT_STAMP = re.compile(r"^\d{14}Z?$")


def to_iso_utc(values: pd.Series | list) -> list[str]:
    """Timestamps of any common form -> ISO 8601 UTC strings ('' when unknown).

    Accepts epoch seconds or milliseconds, ISO strings with or without offsets, and the
    compact ``20120618192155Z`` form of the Kaggle data. Naive times are taken as UTC.
    """
    series = pd.Series(values, dtype="object").reset_index(drop=True)
    if series.empty:
        return []
    present = series.notna() & (series.astype(str).str.strip() != "")
    if not present.any():
        return [""] * len(series)
    sample = series[present]
    # Each value by its own form: one value that is not a number (a typo, "unknown") must not
    # send the epoch numbers around it through the date parser, which reads none of them.
    numeric = pd.to_numeric(sample, errors="coerce")
    parsed = pd.Series(pd.NaT, index=sample.index, dtype="datetime64[ns, UTC]")
    is_number = numeric.notna()
    in_ms = numeric.abs() > 1e11  # seconds would be after the year 5000
    for unit, which in (("ms", is_number & in_ms), ("s", is_number & ~in_ms)):
        if which.any():
            parsed[which] = pd.to_datetime(numeric[which], unit=unit, utc=True, errors="coerce")
    text = sample[~is_number].astype(str).str.strip()
    if len(text):
        compact = text.str.match(_COMPACT_STAMP)
        if compact.any():
            stamps = text[compact].str.rstrip("Z")
            parsed[compact[compact].index] = pd.to_datetime(
                stamps, format="%Y%m%d%H%M%S", utc=True, errors="coerce"
            )
        if (~compact).any():
            parsed[compact[~compact].index] = pd.to_datetime(
                text[~compact], utc=True, errors="coerce", format="mixed"
            )
    out = np.full(len(series), "", dtype=object)
    formatted = parsed.dt.strftime("%Y-%m-%dT%H:%M:%SZ").fillna("")
    out[np.flatnonzero(present.to_numpy())] = formatted.to_numpy()
    return out.tolist()


def normalized_texts(values: list) -> list[str]:
    """The normalised text of each value (the original stays in ``text_original``)."""
    return [normalize_text(value) for value in values]


# normalize_text's shortcut, a column at a time: an ASCII text with no wrapping quotes and none
# of these characters only loses its outer whitespace (of which ASCII leaves space, tab and LF).
_NEEDS_WORK = _needs_work.pattern
_ASCII_OUTER_SPACE = " \t\n"


def normalized_text_array(texts: pa.Array) -> pa.Array:
    """``normalized_texts`` of a large_string array without nulls, as a large_string array:
    the texts that need no more than a strip are stripped in Arrow, the rest by normalize_text."""
    plain = pc.and_not(
        pc.and_not(pc.string_is_ascii(texts), pc.match_substring_regex(texts, _NEEDS_WORK)),
        pc.and_(pc.starts_with(texts, '"'), pc.ends_with(texts, '"')),
    )
    stripped = pc.utf8_trim(texts, characters=_ASCII_OUTER_SPACE)
    if pc.all(plain).as_py() is not False:
        return stripped
    needs_work = pc.invert(plain)
    worked = [normalize_text(text) for text in pc.filter(texts, needs_work).to_pylist()]
    return pc.replace_with_mask(stripped, needs_work, pa.array(worked, type=pa.large_string()))
