"""Writing frames of comment rows to CSV, JSONL or Parquet, chosen by the output's extension.

Writers stream: frames are appended as they come, so memory stays flat. Comment text is
hostile input, so every CSV cell that a spreadsheet would run as a formula (it begins with
``=``, ``+``, ``-``, ``@``, a tab or a carriage return, and is not a plain number such as
``-5``) is prefixed with ``'``, in every column that is not numbers or dates (text,
categories, bytes, lists, ...). Reading such a CSV back (``written_rows``, for --resume)
takes that ``'`` off again: a cell that begins with ``'`` and then a formula character is
taken to be guarded. That is ambiguous for a value that
itself began with ``'=`` (or ``'+``, ...): it reads back without its quote. Such values are
rare, and the guard is left as it is rather than changing what every spreadsheet user sees.
The columns are fixed by the first frame; a column that first appears later (JSON records
vary) is folded into ``extra_fields`` as JSON, so no value is lost.

With ``checkpoint=True`` the writer records after every frame how much it has durably
written (``.OUT.resume.json``), so an interrupted run (even by SIGKILL) can be continued with
``resume``: the partial output is cut back to the last checkpoint and writing goes on from
there. Parquet output is then written as one part per frame and joined at the end, because a
Parquet file without its footer cannot be appended to.
"""

from __future__ import annotations

import csv
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from moderation.errors import OutputError

if TYPE_CHECKING:
    import pyarrow.parquet as pq

__all__ = [
    "FrameWriter",
    "as_output_error",
    "check_output_paths",
    "neutralize_formula",
    "output_kind",
    "restore_formula",
]

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# A cell the guard prefixed: a quote, then a formula character (the quote is what is removed).
_GUARDED_CELL = "^'(?=[" + re.escape("".join(_FORMULA_STARTS)) + "])"
# A plain number such as -5, +3 or -1.5e3 starts with a formula character but is no formula:
# a spreadsheet reads it as the number, so it is written as it is.
_PLAIN_NUMBER = r"^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$"
_PLAIN_NUMBER_RE = re.compile(_PLAIN_NUMBER)
_FORMULA_BYTES = np.frombuffer("".join(_FORMULA_STARTS).encode(), dtype=np.uint8)
# What makes Python's csv writer (QUOTE_MINIMAL, "\r\n" line ends) quote a cell: the delimiter,
# the quote character and the line-end characters.
_CSV_NEEDS_QUOTES = '[,"\r\n]'
_CSV_SPECIAL_BYTES = (b",", b'"', b"\r", b"\n")
# Object cells the CSV fast path turns into text as the csv module does (str()); anything else
# (bytes, Timestamps, lists, ...) sends the frame through pandas' to_csv.
_PLAIN_CELL_TYPES = (int, float, bool)
_QUOTE, _GUARD, _COMMA, _CRLF, _NOTHING = (
    pa.scalar(text, pa.large_string()) for text in ('"', "'", ",", "\r\n", "")
)
_INTEGER_COLUMNS = {"depth", "record"}
_FLOAT_COLUMNS = {"insult_score", "troll_score"}
_EXTENSIONS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}


def neutralize_formula(value: object) -> object:
    """Prefix a string that a spreadsheet would evaluate as a formula with a quote."""
    if isinstance(value, str) and _is_formula(value):
        return "'" + value
    return value


def _is_formula(text: str) -> bool:
    return text.startswith(_FORMULA_STARTS) and not _PLAIN_NUMBER_RE.match(text)


def restore_formula(value: object) -> object:
    """Undo :func:`neutralize_formula` on a cell read back from our CSV output.

    Only a ``'`` followed by a formula character is taken off, since only such cells are
    ever guarded (a value that really began with ``'=`` reads back as ``=``: see the module
    docstring)."""
    if isinstance(value, str) and value.startswith("'") and value[1:].startswith(_FORMULA_STARTS):
        return value[1:]
    return value


def _unguard_column(values: pd.Series) -> pd.Series:
    """A column of text read back from CSV with :func:`restore_formula` applied to each cell."""
    if values.dtype != object and not pd.api.types.is_string_dtype(values.dtype):
        return values
    return values.str.replace(_GUARDED_CELL, "", regex=True)


def _oserror_hint(error: OSError) -> str:
    if isinstance(error, IsADirectoryError):
        return "a folder has that name: remove or rename it, or choose another file name"
    if isinstance(error, NotADirectoryError):
        return "a part of the path is a file, not a folder: choose a path inside an existing folder"
    if isinstance(error, PermissionError):
        return "choose a folder you are allowed to write to"
    return "choose a path in an existing folder you can write to"


@contextmanager
def as_output_error(path: Path, *, what: str = "output") -> Iterator[None]:
    """An OSError while opening or writing ``path`` (a folder in the way, no permission, a full
    disk, ...) as an OutputError naming the path and the fix."""
    try:
        yield
    except OSError as error:
        raise OutputError(
            f"cannot write the {what} {path}: {error.strerror or error}", hint=_oserror_hint(error)
        ) from error


def _probe_writable(path: Path, *, what: str) -> None:
    """Fail now, before a long run, if ``path`` cannot be opened for writing."""
    existed = path.exists() or path.is_symlink()
    with as_output_error(path, what=what), open(path, "a"):
        pass
    if not existed:
        path.unlink(missing_ok=True)


def check_output_paths(
    inputs: Iterable[str | Path], outputs: Mapping[str, str | Path | None]
) -> None:
    """Refuse, before anything is written, outputs that are an input or each other.

    ``outputs`` maps what each file is ("output", "--threads file", ...) to its path (None:
    not asked for). Paths are compared resolved, so ``./a.csv`` and ``a.csv`` clash, and so
    do two names for one file (a symlink). Each output is also checked to be writable."""
    seen: dict[Path, str] = {}
    for path in inputs:
        seen.setdefault(Path(path).resolve(), f"input {path}")
    for what, path in outputs.items():
        if path is None:
            continue
        resolved = Path(path).resolve()
        if resolved in seen:
            other = seen[resolved]
            raise OutputError(
                f"the {what} {path} is the same file as the {other}; writing it would destroy that file",
                hint=f"give the {what} another name",
            )
        seen[resolved] = f"{what} {path}"
        _probe_writable(Path(path), what=what)


def output_kind(path: str | Path) -> str:
    """'csv', 'jsonl' or 'parquet' from the extension, or an OutputError with the fix."""
    suffix = Path(path).suffix.lower()
    if suffix not in _EXTENSIONS:
        raise OutputError(
            f"cannot tell the output format of {path}",
            hint="name the output .csv, .jsonl or .parquet",
        )
    return _EXTENSIONS[suffix]


def _plain(value: Any) -> Any:
    if value is None or (isinstance(value, float) and value != value):
        return None
    if hasattr(value, "item"):
        return value.item()
    return value


def _write_csv_with_pandas(handle: Any, frame: pd.DataFrame, *, header: bool) -> None:
    """The reference CSV writer: the formula guard, then pandas' to_csv (any column type)."""
    safe = frame.copy()
    safe.columns = [neutralize_formula(str(c)) for c in safe.columns]
    for position in range(safe.shape[1]):
        guarded = _guarded_column(safe.iloc[:, position])
        if guarded is not None:
            safe.isetitem(position, guarded)
    safe.to_csv(handle, header=header, index=False, lineterminator="\r\n")


def _holds_only_numbers_or_dates(dtype: Any) -> bool:
    if isinstance(dtype, pd.CategoricalDtype):
        dtype = dtype.categories.dtype
    return (
        pd.api.types.is_numeric_dtype(dtype)  # bool too
        or pd.api.types.is_datetime64_any_dtype(dtype)
        or pd.api.types.is_timedelta64_dtype(dtype)
    )


def _guarded_column(values: pd.Series) -> pd.Series | None:
    """The column with its formula cells guarded, or None when none needs it.

    Every column that is not numbers or dates is checked (text, categories, bytes, Arrow
    types, lists ...), by the text to_csv writes for a cell: ``str()`` of its value. Only the
    risky cells change, so every other cell is written exactly as before."""
    if _holds_only_numbers_or_dates(values.dtype):
        return None
    cells = values.astype(object)
    text = [None if cell is None else str(cell) for cell in cells.tolist()]
    risky = np.array([t is not None and _is_formula(t) for t in text], dtype=bool)
    if not risky.any():
        return None
    guarded = cells.copy()
    guarded[risky] = ["'" + t for t, r in zip(text, risky, strict=True) if r]
    return guarded


def _csv_cells(values: pd.Series) -> pa.Array | None:
    """One column's cells as the text pandas' to_csv writes for them (None: not handled here)."""
    dtype = values.dtype
    if isinstance(dtype, pd.StringDtype):
        cells = pa.array(values, type=pa.large_string()).fill_null("")
        return cells.combine_chunks() if isinstance(cells, pa.ChunkedArray) else cells
    if not isinstance(dtype, np.dtype):
        return None
    if dtype.kind == "O":
        cells = []
        for value in values.tolist():
            kind = type(value)
            if kind is str:
                cells.append(value)
            elif value is None or (kind is float and value != value):
                cells.append("")
            elif kind in _PLAIN_CELL_TYPES:
                cells.append(str(value))
            else:
                return None
        return pa.array(cells, type=pa.large_string())
    if dtype.kind in "iu":
        return pc.cast(pa.array(values.to_numpy()), pa.large_string())
    if dtype.kind == "b":
        return pa.array(np.where(values.to_numpy(), "True", "False"), type=pa.large_string())
    if dtype.kind == "f":
        return _float_cells(values.to_numpy())
    return None


def _float_cells(numbers: np.ndarray) -> pa.Array:
    """Floats as pandas writes them: numpy's str(), the shortest round-trip form ('' for NaN).

    Arrow's cast writes the same digits, 20 times faster, but switches to an exponent at other
    magnitudes and drops the ".0" of whole numbers: only a number from 1e-4 up to 1e16 that it
    wrote with a point and no exponent keeps Arrow's text; the rest are written by numpy."""
    text = pc.cast(pa.array(numbers, type=pa.float64()), pa.large_string())
    magnitude = np.abs(numbers)
    with np.errstate(invalid="ignore"):
        in_range = (magnitude >= 1e-4) & (magnitude < 1e16)  # False for NaN
    arrow_form = pc.and_(
        pa.array(in_range), pc.and_not(pc.match_substring(text, "."), pc.match_substring(text, "e"))
    )
    if pc.all(arrow_form).as_py():
        return text
    numpy_form = pc.invert(arrow_form)
    others = numbers[np.asarray(numpy_form)]
    written = others.astype(str).astype(object)
    written[np.isnan(others)] = ""
    return pc.replace_with_mask(text, numpy_form, pa.array(written, type=pa.large_string()))


def _csv_columns(frame: pd.DataFrame) -> list[pa.Array] | None:
    """Every column of ``frame`` as finished CSV cells (formula guard, then quoting), the same
    text ``_write_csv_with_pandas`` writes but built a column at a time in Arrow; None when a
    column holds values whose text only pandas knows how to write (dates, categories, ...)."""
    columns = []
    for _, values in frame.items():
        cells = _csv_cells(values)
        if cells is None:
            return None
        if values.dtype == object or isinstance(values.dtype, pd.StringDtype):
            # Only the cells that need it are guarded and quoted, then put back in their place.
            offsets, data = _string_buffers(cells)
            risky = _starts_with_formula(offsets, data)
            if risky.any():
                risky[risky] = ~pc.match_substring_regex(pc.filter(cells, risky), _PLAIN_NUMBER).to_numpy(
                    zero_copy_only=False
                )
            if risky.any():
                risky = pa.array(risky)
                guarded = pc.binary_join_element_wise(_GUARD, pc.filter(cells, risky), _NOTHING)
                cells = pc.replace_with_mask(cells, risky, guarded)
            if any(special in data for special in _CSV_SPECIAL_BYTES):
                cells = _quoted(cells)
        columns.append(cells)
    return columns


def _quoted(cells: pa.Array) -> pa.Array:
    """The cells with each one that holds a comma, a quote or a line break quoted as csv does."""
    needs_quotes = pc.match_substring_regex(cells, _CSV_NEEDS_QUOTES)
    if not pc.any(needs_quotes).as_py():
        return cells
    doubled = pc.replace_substring(pc.filter(cells, needs_quotes), '"', '""')
    quoted = pc.binary_join_element_wise(_QUOTE, doubled, _QUOTE, _NOTHING)
    return pc.replace_with_mask(cells, needs_quotes, quoted)


def _string_buffers(cells: pa.Array) -> tuple[np.ndarray, bytes]:
    """A large_string array's cell offsets and the bytes of its cells, end to end."""
    _, offsets_buffer, data_buffer = cells.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=np.int64)[cells.offset : cells.offset + len(cells) + 1]
    if data_buffer is None or not len(cells):
        return offsets, b""
    return offsets, memoryview(data_buffer)[offsets[0] : offsets[-1]].tobytes()


def _starts_with_formula(offsets: np.ndarray, data: bytes) -> np.ndarray:
    """Which cells begin with a formula character; all of them are ASCII, so one byte tells."""
    starts = offsets[:-1] - offsets[0]
    filled = offsets[1:] > offsets[:-1]
    first = np.zeros(len(starts), dtype=np.uint8)
    first[filled] = np.frombuffer(data, dtype=np.uint8)[starts[filled]]
    return np.isin(first, _FORMULA_BYTES)


def _csv_body(columns: list[pa.Array]) -> memoryview:
    """The UTF-8 bytes of the rows: cells joined by commas, each row ended by CRLF."""
    lines = pc.binary_join_element_wise(pc.binary_join_element_wise(*columns, _COMMA), _NOTHING, _CRLF)
    # The joined rows lie end to end in the array's data buffer: that buffer is the body.
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int64)
    first, last = offsets[lines.offset], offsets[lines.offset + len(lines)]
    return memoryview(lines.buffers()[2])[first:last]


class FrameWriter:
    """Append frames to one output file. Use as a context manager.

    The file is written under a temporary name and renamed into place on success, so a
    failed run never leaves a half-written output that looks complete.
    """

    def __init__(self, path: str | Path, *, checkpoint: bool = False) -> None:
        self.path = Path(path)
        if ".." in self.path.parts:
            # Output paths may come from scripts and configs that hostile data can reach;
            # refusing "..", rather than resolving it, keeps a write inside the folder named.
            raise OutputError(
                f"the output path {path} climbs out of its folder with '..'",
                hint="give a path without '..' (an absolute path is fine)",
            )
        self.kind = output_kind(self.path)
        if self.path.exists() and self.path.is_dir():
            raise OutputError(f"{self.path} is a folder", hint="give a file name for -o")
        parent = self.path.parent
        if not parent.exists():
            raise OutputError(f"the folder {parent} does not exist", hint="create it first")
        if not parent.is_dir():
            raise OutputError(
                f"cannot write {self.path}: {parent} is a file, not a folder",
                hint="choose a path inside an existing folder",
            )
        self.checkpoint = checkpoint
        if checkpoint:
            self._tmp = self.path.with_name(f".{self.path.name}.resume.part")
        else:
            self._tmp = self.path.with_name(f".{self.path.name}.part-{os.getpid()}")
        self._state_path = self.path.with_name(f".{self.path.name}.resume.json")
        self._parts_dir = self.path.with_name(f".{self.path.name}.resume.parts")
        self.columns: list[str] | None = None
        self.rows = 0
        self._parts = 0
        self._header_written = False
        self._handle: Any = None
        self._parquet: pq.ParquetWriter | None = None
        self._schema: pa.Schema | None = None

    def _open(self, mode: str, **options: Any) -> Any:
        with as_output_error(self.path):
            return open(self._tmp, mode, encoding="utf-8", **options)

    def __enter__(self) -> FrameWriter:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self.close(success=exc_type is None)

    def _conform(self, frame: pd.DataFrame) -> pd.DataFrame:
        if self.columns is None:
            self.columns = [str(c) for c in frame.columns]
            if "extra_fields" not in self.columns:
                self.columns.append("extra_fields")
        extra = [c for c in frame.columns if c not in self.columns]
        conformed = frame.reindex(columns=self.columns)
        if extra:
            records = frame[extra].to_dict("records")
            conformed["extra_fields"] = [
                json.dumps({k: _plain(v) for k, v in r.items() if _plain(v) is not None}, default=str)
                for r in records
            ]
        elif "extra_fields" not in frame.columns:
            conformed["extra_fields"] = ""
        return conformed

    def write(self, frame: pd.DataFrame, *, signature: dict | None = None) -> None:
        """Append one frame; with a checkpointing writer, ``signature`` identifies the run."""
        frame = self._conform(frame)
        with as_output_error(self.path):
            if self.kind == "csv":
                self._write_csv(frame)
            elif self.kind == "jsonl":
                self._write_jsonl(frame)
            else:
                self._write_parquet(frame)
            self.rows += len(frame)
            if self.checkpoint:
                self._save_checkpoint(signature or {})

    def _write_csv(self, frame: pd.DataFrame) -> None:
        first = not self._header_written
        self._header_written = True
        if self._handle is None:
            self._handle = self._open("a" if self.rows else "w", newline="")
        # A lone empty cell is a row the csv module writes as "": leave such frames to pandas.
        columns = _csv_columns(frame) if len(frame.columns) > 1 else None
        if columns is None:
            _write_csv_with_pandas(self._handle, frame, header=first)
            return
        if first:
            header = [neutralize_formula(str(c)) for c in frame.columns]
            csv.writer(self._handle, lineterminator="\r\n").writerow(header)
        if len(frame):
            self._handle.flush()  # the header is still in the text layer's buffer
            self._handle.buffer.write(_csv_body(columns))

    def _write_jsonl(self, frame: pd.DataFrame) -> None:
        if self._handle is None:
            self._handle = self._open("a" if self.rows else "w")
        if len(frame):
            # pandas 2.2+ ends the lines with a newline, older pandas does not (and an empty
            # frame gives a lone "\n"): exactly one newline per row, whichever.
            lines = frame.to_json(orient="records", lines=True, force_ascii=False)
            self._handle.write(lines.rstrip("\n") + "\n")

    def _arrow_table(self, frame: pd.DataFrame) -> pa.Table:
        arrays = []
        fields = []
        for column in frame.columns:
            values = frame[column]
            if column in _INTEGER_COLUMNS:
                array = pa.array(pd.to_numeric(values, errors="coerce").fillna(0).astype("int64"))
            elif column in _FLOAT_COLUMNS:
                array = pa.array(pd.to_numeric(values, errors="coerce").astype("float64"))
            elif isinstance(values.dtype, pd.StringDtype):
                # Every cell is a str or missing: the strings and nulls the loop below would make.
                array = pa.array(values, type=pa.string())
            else:
                array = pa.array([None if _plain(v) is None else str(_plain(v)) for v in values], pa.string())
            arrays.append(array)
            fields.append(pa.field(str(column), array.type))
        return pa.Table.from_arrays(arrays, schema=pa.schema(fields))

    def _write_parquet(self, frame: pd.DataFrame) -> None:
        import pyarrow.parquet as pq  # only Parquet output needs it (18 ms to import)

        table = self._arrow_table(frame)
        if self._schema is None:
            self._schema = table.schema
        table = table.cast(self._schema)
        if self.checkpoint:
            self._parts_dir.mkdir(exist_ok=True)
            pq.write_table(table, self._parts_dir / f"{self._parts:08d}.parquet")
            self._parts += 1
            return
        if self._parquet is None:
            self._parquet = pq.ParquetWriter(self._tmp, self._schema)
        self._parquet.write_table(table)

    # --- checkpoints -----------------------------------------------------------------------

    def _save_checkpoint(self, signature: dict) -> None:
        if self._handle is not None:
            self._handle.flush()
            os.fsync(self._handle.fileno())
        state = {
            "signature": signature,
            "rows": self.rows,
            "bytes": self._tmp.stat().st_size if self._tmp.exists() else 0,
            "parts": self._parts,
            "columns": self.columns,
        }
        scratch = self._state_path.with_name(self._state_path.name + ".new")
        scratch.write_text(json.dumps(state))
        os.replace(scratch, self._state_path)

    def discard_checkpoint(self) -> None:
        """Forget any earlier interrupted run of this output (a fresh start)."""
        for stale in (self._state_path, self._tmp):
            stale.unlink(missing_ok=True)
        if self._parts_dir.exists():
            for part in self._parts_dir.glob("*.parquet"):
                part.unlink()
            self._parts_dir.rmdir()

    def resume(self, signature: dict) -> int:
        """Continue an interrupted run; returns how many rows are already written (0: none)."""
        if not self._state_path.exists():
            self.discard_checkpoint()
            return 0
        state = json.loads(self._state_path.read_text())
        if state.get("signature") != signature:
            raise OutputError(
                f"the interrupted run of {self.path} used other inputs, options or model",
                hint="run again without --resume to start over",
            )
        self.rows = int(state["rows"])
        self.columns = state["columns"]
        self._parts = int(state["parts"])
        self._header_written = self.rows > 0 or state["bytes"] > 0
        if self.kind == "parquet":
            import pyarrow.parquet as pq  # only Parquet output needs it (18 ms to import)

            for part in sorted(self._parts_dir.glob("*.parquet"))[self._parts :]:
                part.unlink()  # written after the last checkpoint
            if self._parts:
                self._schema = pq.read_schema(self._parts_dir / f"{0:08d}.parquet")
        else:
            with open(self._tmp, "r+b") as handle:
                handle.truncate(int(state["bytes"]))
        return self.rows

    def written_rows(self) -> pd.DataFrame:
        """Read back what an interrupted run had written (roll-ups need it on resume)."""
        if not self.rows:
            return pd.DataFrame()
        if self.kind == "parquet":
            return pd.concat(
                [pd.read_parquet(p) for p in sorted(self._parts_dir.glob("*.parquet"))], ignore_index=True
            )
        if self._handle is not None:
            self._handle.flush()
        if self.kind == "csv":
            frame = pd.read_csv(self._tmp, dtype=str, keep_default_na=False)
            # Take the formula guard off again, or "'@bob" and "@bob" count as two authors.
            frame.columns = [restore_formula(c) for c in frame.columns]
            frame = frame.apply(_unguard_column)
            for column in ("insult_score", "troll_score"):
                if column in frame:
                    frame[column] = pd.to_numeric(frame[column])
            return frame
        return pd.read_json(self._tmp, lines=True, dtype=False)

    def close(self, *, success: bool = True) -> None:
        with as_output_error(self.path):
            self._close(success=success)

    def _close(self, *, success: bool) -> None:
        if self.kind == "parquet":
            import pyarrow.parquet as pq  # only Parquet output needs it (18 ms to import)
        if self.checkpoint and not success:
            # Keep the partial output and its checkpoint for --resume.
            if self._handle is not None:
                self._handle.close()
                self._handle = None
            return
        if self.checkpoint and self.kind == "parquet" and self._parts and success:
            for part in sorted(self._parts_dir.glob("*.parquet")):
                table = pq.read_table(part)
                if self._parquet is None:
                    self._parquet = pq.ParquetWriter(self._tmp, table.schema)
                self._parquet.write_table(table)
        if self.kind == "parquet" and self._parquet is None and success:
            # No rows at all: still write a valid, empty file with the canonical columns.
            from moderation.schema import READ_COLUMNS

            empty = pd.DataFrame(columns=list(self.columns or READ_COLUMNS))
            pq.write_table(self._arrow_table(empty), self._tmp)
        if self.kind != "parquet" and self._handle is None and success and not self._tmp.exists():
            self._handle = self._open("w", newline="")
            if self.kind == "csv" and self.columns:
                csv.writer(self._handle).writerow([neutralize_formula(c) for c in self.columns])
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        if self._parquet is not None:
            self._parquet.close()
            self._parquet = None
        if success:
            os.replace(self._tmp, self.path)
            if self.checkpoint:
                self.discard_checkpoint()
        elif self._tmp.exists():
            self._tmp.unlink()
