"""Writing frames of comment rows to CSV, JSONL or Parquet, chosen by the output's extension.

Writers stream: frames are appended as they come, so memory stays flat. Comment text is
hostile input, so every CSV cell that a spreadsheet would run as a formula (it begins with
``=``, ``+``, ``-``, ``@``, a tab or a carriage return) is prefixed with ``'``.
The columns are fixed by the first frame; a column that first appears later (JSON records
vary) is folded into ``extra_fields`` as JSON, so no value is lost.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from moderation.errors import OutputError

__all__ = ["FrameWriter", "neutralize_formula", "output_kind"]

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_INTEGER_COLUMNS = {"depth", "record"}
_FLOAT_COLUMNS = {"insult_score", "troll_score"}
_EXTENSIONS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}


def neutralize_formula(value: object) -> object:
    """Prefix a string that a spreadsheet would evaluate as a formula with a quote."""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


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


class FrameWriter:
    """Append frames to one output file. Use as a context manager.

    The file is written under a temporary name and renamed into place on success, so a
    failed run never leaves a half-written output that looks complete.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.kind = output_kind(self.path)
        if self.path.exists() and self.path.is_dir():
            raise OutputError(f"{self.path} is a folder", hint="give a file name for -o")
        parent = self.path.parent
        if not parent.exists():
            raise OutputError(f"the folder {parent} does not exist", hint="create it first")
        self._tmp = self.path.with_name(f".{self.path.name}.part-{os.getpid()}")
        self.columns: list[str] | None = None
        self.rows = 0
        self._handle: Any = None
        self._parquet: pq.ParquetWriter | None = None
        self._schema: pa.Schema | None = None

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

    def write(self, frame: pd.DataFrame) -> None:
        frame = self._conform(frame)
        if self.kind == "csv":
            self._write_csv(frame)
        elif self.kind == "jsonl":
            self._write_jsonl(frame)
        else:
            self._write_parquet(frame)
        self.rows += len(frame)

    def _write_csv(self, frame: pd.DataFrame) -> None:
        first = self._handle is None
        if first:
            self._handle = open(self._tmp, "w", encoding="utf-8", newline="")  # noqa: SIM115
        safe = frame.copy()
        safe.columns = [neutralize_formula(str(c)) for c in safe.columns]
        for column in safe.columns:
            values = safe[column]
            if values.dtype == object or pd.api.types.is_string_dtype(values.dtype):
                text = values.astype("string")
                risky = text.str.startswith(_FORMULA_STARTS).fillna(False).to_numpy(dtype=bool)
                if risky.any():
                    text = text.copy()
                    text[risky] = "'" + text[risky]
                    safe[column] = text
        safe.to_csv(self._handle, header=first, index=False, lineterminator="\r\n")

    def _write_jsonl(self, frame: pd.DataFrame) -> None:
        if self._handle is None:
            self._handle = open(self._tmp, "w", encoding="utf-8")  # noqa: SIM115
        if len(frame):
            self._handle.write(frame.to_json(orient="records", lines=True, force_ascii=False))
            self._handle.write("\n")

    def _arrow_table(self, frame: pd.DataFrame) -> pa.Table:
        arrays = []
        fields = []
        for column in frame.columns:
            values = frame[column]
            if column in _INTEGER_COLUMNS:
                array = pa.array(pd.to_numeric(values, errors="coerce").fillna(0).astype("int64"))
            elif column in _FLOAT_COLUMNS:
                array = pa.array(pd.to_numeric(values, errors="coerce").astype("float64"))
            else:
                array = pa.array([None if _plain(v) is None else str(_plain(v)) for v in values], pa.string())
            arrays.append(array)
            fields.append(pa.field(str(column), array.type))
        return pa.Table.from_arrays(arrays, schema=pa.schema(fields))

    def _write_parquet(self, frame: pd.DataFrame) -> None:
        table = self._arrow_table(frame)
        if self._parquet is None:
            self._schema = table.schema
            self._parquet = pq.ParquetWriter(self._tmp, self._schema)
        self._parquet.write_table(table.cast(self._schema))

    def close(self, *, success: bool = True) -> None:
        if self.kind == "parquet" and self._parquet is None and success:
            # No rows at all: still write a valid, empty file with the canonical columns.
            from moderation.schema import READ_COLUMNS

            self._write_parquet(pd.DataFrame(columns=list(self.columns or READ_COLUMNS)))
        if self.kind != "parquet" and self._handle is None and success:
            self._handle = open(self._tmp, "w", encoding="utf-8", newline="")  # noqa: SIM115
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
        elif self._tmp.exists():
            self._tmp.unlink()
