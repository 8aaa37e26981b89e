"""Readers for row-per-comment files: CSV, TSV, JSONL/NDJSON (plain, .gz, .zst) and Parquet.

They stream: each yields frames of at most ``chunk_rows`` rows. The text column is found by
name (``config.TEXT_COLUMN_CANDIDATES``) unless ``--text-column`` names it; ``--text-column``
may also be a 1-based position, which reads a file that has no header row (TRAC-1).
Every input column is kept; one whose name clashes with a canonical column is renamed
``input_<name>``.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import pandas as pd
import pyarrow as pa
import pyarrow.json as pa_json

from moderation import config
from moderation.errors import EmptyInputError, InputError, MissingColumnError
from moderation.ingest.base import (
    RESERVED_COLUMNS,
    ReadOptions,
    ReadReport,
    input_name,
    normalized_text_array,
    normalized_texts,
    register,
    stable_comment_id,
    to_iso_utc,
)
from moderation.ingest.rejects import RejectsSink
from moderation.ingest.source import (
    FALLBACK_ERRORS,
    compression_of,
    detect_encoding,
    open_binary,
    open_text,
)
from moderation.normalize import join_surrogates
from moderation.schema import READ_COLUMNS

__all__ = ["ColumnMap", "canonicalize", "map_columns"]

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))

_JSON_DECODER = json.JSONDecoder()


@dataclass(frozen=True)
class ColumnMap:
    """Which input column feeds each canonical column (None: the input has none)."""

    text: str
    comment_id: str | None = None
    parent_id: str | None = None
    thread_id: str | None = None
    author: str | None = None
    created_at: str | None = None
    thread_title: str | None = None


def _find(columns: list[str], candidates: tuple[str, ...], taken: set[str]) -> str | None:
    lowered = {c.lower(): c for c in reversed(columns)}
    for name in candidates:
        match = lowered.get(name)
        if match is not None and match not in taken:
            return match
    return None


def map_columns(columns: list[str], options: ReadOptions, path: Path) -> ColumnMap:
    """Find the text column (or fail listing the columns there are) and the optional ones."""
    columns = [str(c) for c in columns]
    shown = ", ".join(columns[:30]) + (f", … ({len(columns)} in all)" if len(columns) > 30 else "")
    if options.text_column:
        text = options.text_column if options.text_column in columns else None
        if text is None:
            text = _find(columns, (options.text_column.lower(),), set())
        if text is None:
            raise MissingColumnError(
                f"no column named {options.text_column!r}; columns are {shown}",
                path=path,
                hint="pass --text-column with one of those names",
            )
    else:
        text = _find(columns, config.TEXT_COLUMN_CANDIDATES, set())
        if text is None:
            raise MissingColumnError(
                f"no text column found; columns are {shown}",
                path=path,
                hint="pass --text-column NAME",
            )
    taken = {text}
    found: dict[str, str | None] = {}
    for canonical, candidates in (
        ("comment_id", config.ID_COLUMN_CANDIDATES),
        ("parent_id", config.PARENT_COLUMN_CANDIDATES),
        ("thread_id", config.THREAD_COLUMN_CANDIDATES),
        ("author", config.AUTHOR_COLUMN_CANDIDATES),
        ("created_at", config.TIME_COLUMN_CANDIDATES),
        ("thread_title", ("thread_title", "title")),
    ):
        found[canonical] = _find(columns, candidates, taken)
        if found[canonical]:
            taken.add(found[canonical])
    return ColumnMap(text=text, **found)


def unique_names(names: list[str]) -> list[str]:
    """Header names made unique, in order: a blank name becomes ``column_<position>`` and a
    repeated one ``<name>.1``, ``<name>.2``, … (as pandas names them), never a name the
    header already holds elsewhere. Exports do repeat names ("text,," from a spreadsheet's
    trailing commas), and a frame with two columns of one name cannot be written."""
    present = set(names)
    used: set[str] = set()
    out = []
    for position, name in enumerate(names, start=1):
        base = name or f"column_{position}"
        candidate, suffix = base, 0
        while candidate in used or (candidate != name and candidate in present):
            suffix += 1
            candidate = f"{base}.{suffix}"
        used.add(candidate)
        out.append(candidate)
    return out


def _unique_header(path: Path, names: list[str], report: ReadReport) -> list[str]:
    """``unique_names`` of a file's header, with a warning naming each column it renamed."""
    unique = unique_names(names)
    renamed = [f"{b or '(blank)'} -> {a}" for b, a in zip(names, unique, strict=True) if a != b]
    if renamed:
        shown = ", ".join(renamed[:5]) + (f", … ({len(renamed)} in all)" if len(renamed) > 5 else "")
        report.warn(
            f"{path}: blank or repeated column names were renamed ({shown}); rename them in the header"
        )
    return unique


def _as_strings(series: pd.Series) -> list[str]:
    if isinstance(series.dtype, pd.StringDtype):
        return series.fillna("").tolist()  # text already: only the missing cells to fill
    values = series.tolist()
    out = []
    for value in values:
        if value is None or (isinstance(value, float) and value != value):
            out.append("")
        elif isinstance(value, float) and value.is_integer():
            out.append(str(int(value)))  # ids read as floats because of a blank cell
        else:
            out.append(str(value))
    return out


def _string_cells(series: pd.Series) -> pd.api.extensions.ExtensionArray | list[str]:
    """``_as_strings``, except that a text column stays a text array (no Python strings made)."""
    if isinstance(series.dtype, pd.StringDtype):
        return series.fillna("").array
    return _as_strings(series)


def canonicalize(
    chunk: pd.DataFrame, mapping: ColumnMap, *, source: Path, records: list[int]
) -> pd.DataFrame:
    """Turn one chunk of input rows into canonical rows, keeping every input column."""
    originals = _string_cells(chunk[mapping.text])
    out: dict[str, object] = {}

    def strings(column: str | None) -> pd.api.extensions.ExtensionArray | list[str]:
        # A JSON lines chunk may lack a field the first record had: its rows have no value.
        return _string_cells(chunk[column]) if column and column in chunk.columns else [""] * len(chunk)

    ids = strings(mapping.comment_id)
    if isinstance(ids, list) or (ids == "").any():
        ids = [i or stable_comment_id(source, r) for i, r in zip(ids, records, strict=True)]
    out["comment_id"] = ids
    out["thread_id"] = strings(mapping.thread_id)
    out["parent_id"] = strings(mapping.parent_id)
    out["author"] = strings(mapping.author)
    created = mapping.created_at
    out["created_at"] = (
        to_iso_utc(chunk[created]) if created and created in chunk.columns else [""] * len(ids)
    )
    if isinstance(originals, list):
        out["text"] = normalized_texts(originals)
    else:
        texts = pa.array(originals, type=pa.large_string())
        out["text"] = normalized_text_array(texts).to_pandas().array
    out["depth"] = [0] * len(ids)
    out["thread_title"] = strings(mapping.thread_title)
    out["status"] = [""] * len(ids)
    out["source"] = [str(source)] * len(ids)
    out["record"] = records
    out["text_original"] = originals
    frame = pd.DataFrame(out)
    frame.attrs["threaded"] = mapping.parent_id is not None
    mapped = {c for c in mapping.__dict__.values() if c}
    kept: dict[str, str] = {}
    # An input column that clashes with a canonical one keeps its value as input_<name>.
    taken = set(frame.columns) | {str(c) for c in chunk.columns if str(c) not in RESERVED_COLUMNS}
    for column in chunk.columns:
        name = str(column)
        if name in RESERVED_COLUMNS:
            if name in mapped and name in READ_COLUMNS:
                continue  # the canonical value replaces it (text keeps text_original)
            kept[column] = input_name(name, taken)
        else:
            kept[column] = name
    if kept:
        # One concat, not a column insert per input column: a 10,000-column file stays fast.
        extra = chunk[list(kept)].reset_index(drop=True)
        extra.columns = list(kept.values())
        frame = pd.concat([frame, extra], axis=1)
        frame.attrs["threaded"] = mapping.parent_id is not None
    return frame


def _headerless(options: ReadOptions) -> bool:
    return bool(options.text_column) and options.text_column.isdigit()


def _positional_options(options: ReadOptions) -> ReadOptions:
    return ReadOptions(
        text_column=f"column_{int(options.text_column)}",
        encoding=options.encoding,
        chunk_rows=options.chunk_rows,
        include_pingbacks=options.include_pingbacks,
    )


class _RecordTooLong(Exception):
    """A quoted field ran past ``config.MAX_RECORD_LINES`` lines: its quote is taken as unclosed."""


class _LineFeed:
    """The lines of a delimited file, handed to ``csv.reader`` one at a time.

    It keeps the raw lines of the record being read, so that a record can be rejected as it
    was written and, when a quote opened on its first line is never closed, the lines after
    that one can be read again instead of vanishing into one giant field."""

    def __init__(self, handle: Iterator[str]) -> None:
        self._lines = iter(handle)
        self._again: list[str] = []  # lines to read again, last line first
        self.taken: list[str] = []  # the raw lines of the record being read
        self.lines_before = 0  # physical lines before the record being read

    def __iter__(self) -> _LineFeed:
        return self

    def __next__(self) -> str:
        line = self._again.pop() if self._again else next(self._lines)
        self.taken.append(line)
        if len(self.taken) > config.MAX_RECORD_LINES:
            raise _RecordTooLong
        return line

    @property
    def first_line(self) -> int:
        """The physical line number that the record being read starts on."""
        return self.lines_before + 1

    def done(self) -> None:
        """The record being read is settled: the next one starts after its lines."""
        self.lines_before += len(self.taken)
        self.taken.clear()

    def again_after_first(self) -> None:
        """Settle only the record's first line; its other lines are read again."""
        self._again.extend(reversed(self.taken[1:]))
        self.lines_before += 1
        self.taken.clear()


def _unclosed_quote_reason(feed: _LineFeed, problem: str) -> str:
    return (
        f"unclosed quote: a quoted field opened on line {feed.first_line} runs on for "
        f"{len(feed.taken):,} lines ({problem}); the lines after this one were read again as rows "
        '(close the quote, or write a quote inside a field as "")'
    )


def _read_delimited(
    path: Path, options: ReadOptions, rejects: RejectsSink, report: ReadReport, *, delimiter: str
) -> Iterator[pd.DataFrame]:
    with open_text(path, encoding=options.encoding) as (handle, fallback, encoding):
        feed = _LineFeed(handle)
        # strict: a quote that closes where no field ends, or at the end of the file, is an
        # error here, which is how a quote that was never closed is caught (_unclosed_quote_reason).
        reader = csv.reader(feed, delimiter=delimiter, quoting=csv.QUOTE_MINIMAL, strict=True)
        headerless = _headerless(options)
        try:
            first = next(reader)
        except StopIteration:
            raise EmptyInputError(
                "the file is empty", path=path, hint="check that the export finished"
            ) from None
        except (csv.Error, _RecordTooLong) as exc:
            if len(feed.taken) > 1 or isinstance(exc, _RecordTooLong):
                raise InputError(
                    f"line {feed.first_line}: a quote in the first row is never closed",
                    path=path,
                    hint='close the quote, or write a quote inside a field as ""',
                ) from None
            first = _lenient_row(feed.taken, delimiter)
        if headerless:
            header = [f"column_{i + 1}" for i in range(len(first))]
            options = _positional_options(options)
            rows: list[list[str]] = [first]
            records: list[int] = [feed.first_line]
        else:
            header = _unique_header(path, [h.strip() for h in first], report)
            rows, records = [], []
        feed.done()
        mapping = map_columns(header, options, path)
        width = len(header)
        while True:
            try:
                row = next(reader)
            except StopIteration:
                break
            except (csv.Error, _RecordTooLong) as exc:
                if len(feed.taken) > 1 or isinstance(exc, _RecordTooLong):
                    problem = str(exc) or f"more than {config.MAX_RECORD_LINES:,} lines"
                    rejects.add(
                        source=path, record=feed.first_line, reason=_unclosed_quote_reason(feed, problem),
                        raw=feed.taken[0].rstrip("\r\n"),
                    )
                    feed.again_after_first()
                    continue
                # One line with loose quoting, such as a"b"c: read it as written, as Excel does.
                row = _lenient_row(feed.taken, delimiter)
            start_line = feed.first_line
            if not row or (len(row) == 1 and row[0] == "" and width > 1):
                feed.done()
                continue  # a blank line is not a row
            if len(row) != width:
                rejects.add(
                    source=path,
                    record=start_line,
                    reason=f"wrong number of fields: {len(row)} where the header has {width}",
                    raw="".join(feed.taken).rstrip("\r\n"),
                )
                feed.done()
                continue
            feed.done()
            rows.append(row)
            records.append(start_line)
            if len(rows) >= options.chunk_rows:
                yield canonicalize(pd.DataFrame(rows, columns=header), mapping, source=path, records=records)
                rows, records = [], []
        if rows:
            yield canonicalize(pd.DataFrame(rows, columns=header), mapping, source=path, records=records)
        if fallback.bytes:
            report.warn(
                f"{path}: {fallback.bytes:,} bytes were not valid {encoding}; read them as "
                "Windows-1252 (pass --encoding if that is wrong)"
            )
        elif encoding not in ("utf-8", "utf-8-sig", "ascii"):
            report.warn(f"{path}: read as {encoding} (it is not UTF-8)")


def _lenient_row(lines: list[str], delimiter: str) -> list[str]:
    return next(csv.reader(lines, delimiter=delimiter, quoting=csv.QUOTE_MINIMAL, strict=False), [])


def _delimiter_sniff(head: bytes, delimiter: bytes) -> int:
    line = head.split(b"\n", 1)[0]
    if head.lstrip()[:1] in (b"{", b"[", b"<") or b"\x00" in head[:1000]:
        return 0
    count = line.count(delimiter)
    return min(50, 30 + count) if count else 0


@register(
    "csv",
    kind="stream",
    sniff=lambda head, path: _delimiter_sniff(head, b",") + (25 if ".csv" in path.suffixes else 0),
    description="comma-separated values with a header row",
)
def read_csv(
    path: Path, options: ReadOptions, rejects: RejectsSink, report: ReadReport
) -> Iterator[pd.DataFrame]:
    yield from _read_delimited(path, options, rejects, report, delimiter=",")


@register(
    "tsv",
    kind="stream",
    sniff=lambda head, path: _delimiter_sniff(head, b"\t") + (25 if ".tsv" in path.suffixes else 0),
    description="tab-separated values with a header row",
)
def read_tsv(
    path: Path, options: ReadOptions, rejects: RejectsSink, report: ReadReport
) -> Iterator[pd.DataFrame]:
    yield from _read_delimited(path, options, rejects, report, delimiter="\t")


def _json_depth_ok(line: str) -> bool:
    # Stop a deeply nested record before json.loads recurses into it. Counting brackets is
    # done in C and settles almost every line; only a line with many brackets gets the scan.
    if line.count("[") + line.count("{") <= config.MAX_JSON_DEPTH:
        return True
    depth = deepest = 0
    in_string = escaped = False
    for ch in line:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
            if deepest > config.MAX_JSON_DEPTH:
                return False
        elif ch in "]}":
            depth -= 1
    return True


# A JSON "\ud800" escape with no partner decodes to a lone surrogate, which no output can
# encode: such a value's lone surrogates become U+FFFD (``join_surrogates``).
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _without_lone_surrogates(value: object) -> object:
    if isinstance(value, str):
        return join_surrogates(value)
    if isinstance(value, dict):
        return {_without_lone_surrogates(k): _without_lone_surrogates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_lone_surrogates(v) for v in value]
    return value


def _decoded(text: str, value: object) -> object:
    return _without_lone_surrogates(value) if _SURROGATE_ESCAPE.search(text) else value


def _loads_line(line: str) -> object:
    """``json.loads(line)``, without its two layers of Python calls for a line that is one object.

    ``json.loads`` is ``raw_decode`` from the first non-blank character plus a check that only
    JSON whitespace follows; anything else (a bad line too) goes to ``json.loads`` itself, so
    values and error messages are unchanged."""
    if line[:1] == "{":
        try:
            value, end = _JSON_DECODER.raw_decode(line)
        except ValueError:
            return json.loads(line)
        if end == len(line) or not line[end:].strip(" \t\n\r"):
            return value
    return json.loads(line)


def _flatten(record: dict) -> dict:
    return {
        str(k): json.dumps(v, ensure_ascii=False) if isinstance(v, dict | list) else v
        for k, v in record.items()
    }


def _has_nested_values(frame: pd.DataFrame) -> bool:
    # An object or array value can only sit in an object column (text, numbers and booleans
    # get their own dtypes), so the other columns need no look.
    return any(
        values.dtype == object and any(isinstance(v, dict | list) for v in values.tolist())
        for _, values in frame.items()
    )


def _sniff_jsonl(head: bytes, path: Path) -> int:
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped[:1] == b"[":
        return 45
    if stripped[:1] != b"{":
        return 0
    first = stripped.split(b"\n", 1)[0]
    try:
        value = json.loads(first)
    except ValueError:
        return 20
    score = 60 if isinstance(value, dict) else 0
    if any(s in (".jsonl", ".ndjson", ".json") for s in path.suffixes):
        score += 20
    return score


@register("jsonl", kind="stream", sniff=_sniff_jsonl, description="JSON lines / NDJSON (.gz, .zst too)")
def read_jsonl(
    path: Path, options: ReadOptions, rejects: RejectsSink, report: ReadReport
) -> Iterator[pd.DataFrame]:
    yield from _read_json_records(path, options, rejects, report)


def iter_json_lines(path: Path, options: ReadOptions, rejects: RejectsSink) -> Iterator[tuple[int, dict]]:
    """Yield (line number, object) for each well-formed JSON object line; reject the rest."""
    with open_text(path, encoding=options.encoding) as (handle, _fallback, _encoding):
        line_number = 0
        saw_anything = False
        first_char = ""
        for line in handle:
            line_number += 1
            if not line.strip():
                continue
            if not saw_anything:
                saw_anything = True
                first_char = line.lstrip("\ufeff \t")[:1]
                if first_char == "[":
                    yield from _json_array(path, line + handle.read(), rejects)
                    return
            value = _json_line_object(path, line_number, line, rejects)
            if value is not None:
                yield line_number, value
        if not saw_anything:
            raise EmptyInputError("the file is empty", path=path, hint="check that the export finished")


def _json_line_object(path: Path, line_number: int, line: str, rejects: RejectsSink) -> dict | None:
    """The object on one non-blank JSON line, or None once the line is rejected (with why)."""
    if len(line) > config.MAX_LINE_BYTES:
        rejects.add(source=path, record=line_number, reason="line too long", raw=line)
        return None
    if not _json_depth_ok(line):
        rejects.add(
            source=path,
            record=line_number,
            reason=f"JSON nested deeper than {config.MAX_JSON_DEPTH} levels",
            raw=line,
        )
        return None
    try:
        value = _decoded(line, _loads_line(line))
    except ValueError as exc:
        rejects.add(source=path, record=line_number, reason=f"invalid JSON: {exc}", raw=line)
        return None
    if not isinstance(value, dict):
        rejects.add(
            source=path,
            record=line_number,
            reason=f"a JSON {type(value).__name__}, not an object",
            raw=line,
        )
        return None
    return value


def _json_array(path: Path, content: str, rejects: RejectsSink) -> Iterator[tuple[int, dict]]:
    if not _json_depth_ok(content):
        raise InputError(
            f"JSON nested deeper than {config.MAX_JSON_DEPTH} levels",
            path=path,
            hint="write one comment object per line (JSON lines)",
        )
    try:
        values = _decoded(content, json.loads(content))
    except ValueError as exc:
        raise InputError(f"invalid JSON ({exc})", path=path, hint="check the file is complete") from None
    if not isinstance(values, list):
        raise InputError("not a list of comments", path=path, hint="write one object per line")
    for index, value in enumerate(values, start=1):
        if isinstance(value, dict):
            yield index, value
        else:
            rejects.add(source=path, record=index, reason="not a JSON object", raw=value)


def _read_json_records(
    path: Path, options: ReadOptions, rejects: RejectsSink, report: ReadReport
) -> Iterator[pd.DataFrame]:
    mapping: ColumnMap | None = None
    batch: list[dict] = []
    records: list[int] = []

    def flush() -> pd.DataFrame:
        # Most dumps are flat: build the frame from the records as they are, and only when a
        # value is an object or an array rebuild it with those turned into their JSON text.
        frame = pd.DataFrame.from_records(batch)
        if _has_nested_values(frame):
            frame = pd.DataFrame.from_records([_flatten(r) for r in batch])
        return canonicalize(frame, mapping, source=path, records=records)  # type: ignore[arg-type]

    def add(line_number: int, value: dict) -> bool:
        """Queue one record (or reject it); True when the batch is full."""
        nonlocal mapping
        if mapping is None:
            mapping = map_columns(list(value.keys()), options, path)
        if mapping.text not in value:
            rejects.add(
                source=path,
                record=line_number,
                reason=f"record has no {mapping.text!r} field",
                raw=value,
            )
            return False
        batch.append(value)
        records.append(line_number)
        return len(batch) >= options.chunk_rows

    if not _flat_jsonl_candidate(path, options):
        for line_number, value in iter_json_lines(path, options, rejects):
            if add(line_number, value):
                yield flush()
                batch, records = [], []
    else:
        # Whole frames of flat, clean lines are parsed by Arrow; a block that is not clean goes
        # line by line through the same checks as above, so rejects and frames are unchanged.
        # Blocks are sized to fill the pending batch, so frames break where they always did.
        with open_binary(path) as handle:
            blocks = _LineBlocks(handle)
            line_number = 0
            while True:
                block, count = blocks.take(options.chunk_rows - len(batch))
                if not count:
                    break
                frame = None
                if not batch:
                    frame = _flat_json_frame(block, count, mapping and mapping.text)
                if frame is not None:
                    if mapping is None:
                        mapping = map_columns(list(frame.columns), options, path)
                    lines = list(range(line_number + 1, line_number + 1 + count))
                    line_number += count
                    yield canonicalize(frame, mapping, source=path, records=lines)
                    continue
                for line in _decoded_lines(block):
                    line_number += 1
                    if line.strip():
                        value = _json_line_object(path, line_number, line, rejects)
                        if value is not None and add(line_number, value):
                            yield flush()
                            batch, records = [], []
    if batch:
        yield flush()


# --- the Arrow path for flat JSON lines ---------------------------------------------------------

#: Bytes read from the file at a time when it is cut into blocks of whole lines.
_BLOCK_READ_BYTES = 4 * 1024 * 1024
# Python's json gives these types, and Arrow reads them to the same values and pandas dtypes.
_FLAT_JSON_TYPES = {str: pa.string(), bool: pa.bool_(), int: pa.int64()}
_INT64_RANGE = range(-(2**63), 2**63)


def _flat_jsonl_candidate(path: Path, options: ReadOptions) -> bool:
    """Whether the Arrow path may read this file: plain UTF-8 JSON lines, starting with ``{``.

    Compressed files stay on the text path, so that a corrupt one fails at the same point;
    other encodings, a BOM and JSON arrays do too."""
    if options.encoding not in (None, "utf-8") or compression_of(path):
        return False
    with open(path, "rb") as handle:
        head = handle.read(config.SNIFF_BYTES)
    return head[:1] == b"{" and detect_encoding(head) == "utf-8"


class _LineBlocks:
    """A binary stream handed out as blocks of whole lines (each ended by ``\\n``, bar the last)."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._buffer = bytearray()
        self._eof = False

    def take(self, count: int) -> tuple[bytes, int]:
        """The next ``count`` lines (fewer at the end of the stream) and how many there are."""
        buffer = self._buffer
        found = end = 0
        while found < count:
            newline = buffer.find(b"\n", end)
            if newline >= 0:
                found += 1
                end = newline + 1
                continue
            if self._eof:
                if end < len(buffer):
                    found += 1
                    end = len(buffer)
                break
            more = self._stream.read(_BLOCK_READ_BYTES)
            if more:
                buffer += more
            else:
                self._eof = True
        block = bytes(buffer[:end])
        del buffer[:end]
        return block, found


def _decoded_lines(block: bytes) -> list[str]:
    """The text lines of a block exactly as ``open_text`` gives them: UTF-8 with the Windows-1252
    fallback for bad bytes, and a line break at any of ``\\r``, ``\\n`` and ``\\r\\n``."""
    text = block.decode("utf-8", errors=FALLBACK_ERRORS)
    return io.StringIO(text, newline="").readlines()


def _flat_json_frame(block: bytes, count: int, text_column: str | None) -> pd.DataFrame | None:
    """The frame ``pd.DataFrame.from_records`` builds from the ``count`` JSON lines in ``block``,
    parsed by Arrow; None unless every line is one object with the first line's keys, in its
    order, holding strings, booleans and 64-bit integers, with nothing the text path rejects."""
    if (
        block[:1] != b"{"
        or block.count(b"\n{") != count - 1  # every line starts an object: no blank line
        or len(block) > config.MAX_LINE_BYTES
        # A lone CR also ends a line in text mode.
        or (b"\r" in block and block.count(b"\r") != block.count(b"\r\n"))
    ):
        return None
    try:
        block.decode("utf-8")
    except UnicodeDecodeError:
        return None  # bad bytes are decoded as Windows-1252 by the text path
    first = block.split(b"\n", 1)[0]
    try:
        value = json.loads(first)
    except ValueError:
        return None
    if not isinstance(value, dict) or not value or (text_column is not None and text_column not in value):
        return None
    fields = []
    for key, item in value.items():
        kind = _FLAT_JSON_TYPES.get(type(item))
        if kind is None or (kind == pa.int64() and item not in _INT64_RANGE):
            return None
        fields.append(pa.field(key, kind))
    parse = pa_json.ParseOptions(
        explicit_schema=pa.schema(fields), unexpected_field_behavior="error", newlines_in_values=False
    )
    read = pa_json.ReadOptions(use_threads=False, block_size=len(block) + 1)
    try:
        table = pa_json.read_json(pa.BufferReader(block), read_options=read, parse_options=parse)
    except pa.ArrowInvalid:
        return None  # a bad line, a duplicate key, another type, a lone surrogate escape, ...
    # A missing key or a null reads as a null; two objects on one line as one row too many.
    if table.num_rows != count or any(column.null_count for column in table.columns):
        return None
    return table.to_pandas()


def _decoded_bytes(cells: pd.Series, path: Path, column: str, report: ReadReport) -> list:
    """A Parquet binary column as text: UTF-8, with any other byte kept as a ``\\xHH`` escape
    (and a warning), so that nothing is lost and no cell is a bytes object's repr."""
    out, escaped = [], 0
    for value in cells.tolist():
        if isinstance(value, bytes):
            try:
                value = value.decode("utf-8")
            except UnicodeDecodeError:
                value = value.decode("utf-8", errors="backslashreplace")
                escaped += 1
        out.append(value)
    if escaped:
        report.warn(
            f"{path}: column {column!r} holds bytes that are not UTF-8; kept them as \\xHH escapes "
            "(store the column as a UTF-8 string to avoid this)"
        )
    return out


@register(
    "parquet",
    kind="stream",
    sniff=lambda head, path: 100 if head[:4] == b"PAR1" else 0,
    description="Apache Parquet",
)
def read_parquet(
    path: Path, options: ReadOptions, rejects: RejectsSink, report: ReadReport
) -> Iterator[pd.DataFrame]:
    import pyarrow.parquet as pq  # only Parquet input needs it (18 ms to import)

    try:
        with open_binary(path) as handle:
            parquet = pq.ParquetFile(handle)
            names = _unique_header(path, parquet.schema_arrow.names, report)
            mapping = map_columns(names, options, path)
            binary = [
                name
                for name, kind in zip(names, parquet.schema_arrow.types, strict=True)
                if pa.types.is_binary(kind) or pa.types.is_large_binary(kind)
            ]
            record = 1
            for batch in parquet.iter_batches(batch_size=options.chunk_rows):
                chunk = batch.rename_columns(names).to_pandas()
                for name in binary:
                    chunk[name] = _decoded_bytes(chunk[name], path, name, report)
                records = list(range(record, record + len(chunk)))
                record += len(chunk)
                yield canonicalize(chunk, mapping, source=path, records=records)
    except (pa.ArrowInvalid, pa.ArrowIOError, OSError) as exc:
        raise InputError(
            f"not a readable Parquet file ({exc})",
            path=path,
            hint="check the file is complete, or pass the right --format",
        ) from None
