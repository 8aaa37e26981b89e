"""Reading comment dumps: every format becomes frames of canonical comment rows.

``read_comments`` is the one entry point the CLI, the store and the tests use. It picks a
reader per file (``--format auto`` sniffs the content), rebuilds threads, sends unreadable
rows to the rejects sink, and yields frames of bounded size so memory stays flat.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import pandas as pd

from moderation.errors import EmptyInputError, InputError, UnknownFormatError
from moderation.ingest import tabular  # noqa: F401 - registers csv, tsv, jsonl, parquet
from moderation.ingest.base import READERS, Reader, ReadOptions, ReadReport
from moderation.ingest.rejects import RejectsSink, rejects_path_for
from moderation.ingest.source import decoded_head
from moderation.ingest.threads import ThreadTracker, rebuild_threads
from moderation.schema import canonical_frame

# Readers that register themselves on import; a module that is not written yet is skipped.
for _module in ("xmlfeeds", "reddit", "toxichat", "page"):
    try:
        __import__(f"moderation.ingest.{_module}")
    except ModuleNotFoundError as _missing:
        if _missing.name != f"moderation.ingest.{_module}":
            raise

__all__ = [
    "READERS",
    "ReadOptions",
    "ReadReport",
    "RejectsSink",
    "detect_format",
    "read_comments",
    "rejects_path_for",
]


def detect_format(path: str | Path) -> str:
    """The format name whose sniffer is most confident about this file's content."""
    path = Path(path)
    head = decoded_head(path)
    if not head.strip(b" \t\r\n\x00"):
        raise EmptyInputError("the file is empty", path=path, hint="check that the export finished")
    scores = {name: reader.sniff(head, path) for name, reader in READERS.items()}
    best = max(scores, key=lambda name: scores[name])
    if scores[best] <= 0:
        raise UnknownFormatError(
            "cannot tell what format this file is",
            path=path,
            hint="pass --format with one of " + ", ".join(sorted(READERS)),
        )
    return best


def _reader_for(path: Path, format: str) -> Reader:
    name = detect_format(path) if format == "auto" else format
    if name not in READERS:
        raise UnknownFormatError(
            f"unknown format {name!r}",
            path=path,
            hint="use one of auto, " + ", ".join(sorted(READERS)),
        )
    return READERS[name]


def _thread_chunks(frame: pd.DataFrame, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """Cut a whole document into frames without splitting a thread across two of them
    (context features see the whole thread), unless one thread alone exceeds the bound."""
    if len(frame) <= chunk_rows:
        yield frame
        return
    start = 0
    threads = frame["thread_id"].to_numpy()
    while start < len(frame):
        end = min(start + chunk_rows, len(frame))
        if end < len(frame):
            cut = end
            while cut > start and threads[cut] == threads[cut - 1]:
                cut -= 1
            end = cut if cut > start else end
        yield frame.iloc[start:end]
        start = end


def read_comments(
    paths: Iterable[str | Path],
    *,
    format: str = "auto",
    text_column: str | None = None,
    encoding: str | None = None,
    chunk_rows: int | None = None,
    include_pingbacks: bool = False,
    rejects: RejectsSink | None = None,
    report: ReadReport | None = None,
) -> Iterator[pd.DataFrame]:
    """Yield frames of canonical comment rows from every file in ``paths``, in file order.

    Unreadable rows go to ``rejects`` (a throwaway sink when None); counts and warnings go
    to ``report``. A file that cannot be read at all raises an :class:`InputError`.
    """
    options = ReadOptions(text_column=text_column, encoding=encoding, include_pingbacks=include_pingbacks)
    if chunk_rows is not None:
        if chunk_rows < 1:
            raise InputError("chunk_rows must be at least 1", hint="pass a positive number")
        options = ReadOptions(
            text_column=text_column,
            encoding=encoding,
            chunk_rows=chunk_rows,
            include_pingbacks=include_pingbacks,
        )
    rejects = rejects if rejects is not None else RejectsSink()
    report = report if report is not None else ReadReport()
    for raw_path in paths:
        path = Path(raw_path)
        reader = _reader_for(path, format)
        rejected_before = rejects.count
        rows_before = report.rows
        report.files += 1
        if reader.kind == "document":
            document = reader.read(path, options, rejects, report)
            document, threads = rebuild_threads(canonical_frame(document))
            report.orphans += threads.orphans
            report.cycles_broken += threads.cycles_broken
            frames: Iterator[pd.DataFrame] = _thread_chunks(document, options.chunk_rows)
        else:
            tracker = ThreadTracker()
            frames = (tracker.assign(canonical_frame(f)) for f in reader.read(path, options, rejects, report))
        for frame in frames:
            if len(frame):
                report.rows += len(frame)
                yield frame.reset_index(drop=True)
        if reader.kind != "document":
            report.orphans += tracker.report.orphans
        report.rejected += rejects.count - rejected_before
        if report.rows == rows_before and rejects.count == rejected_before:
            raise EmptyInputError(
                "holds no comments", path=path, hint="check the --format and that the export finished"
            )
    if report.orphans:
        report.warn(
            f"{report.orphans:,} replies point to a parent that is not in the input; "
            "they are kept at the top level"
        )
    if report.cycles_broken:
        report.warn(
            f"{report.cycles_broken:,} reply cycles were broken (the earliest comment became top-level)"
        )
