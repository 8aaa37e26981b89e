"""The writers: the CSV cells built a column at a time in Arrow are the bytes pandas' to_csv
writes, and Parquet text columns hold what the per-cell conversion makes."""

from __future__ import annotations

import csv
import io
import math
import tempfile
from pathlib import Path
from unittest import mock

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from moderation import output
from moderation.errors import OutputError
from moderation.output import FrameWriter

CSV_SETTINGS = settings(max_examples=150, deadline=None, derandomize=True, database=None)

# Cells built from what the formula guard and the quoting look at (numbers like -7.5e3 too,
# which are not guarded), plus any other character a UTF-8 file can hold.
_cell_pieces = st.one_of(
    st.sampled_from(
        [*"=+-@\t\r\n,\"' ;\x00\x0b\x85\u2028\ufeff", "\r\n", '""', "NA", "nan", "a", "é", "7", ".5", "e3"]
    ),
    st.text(st.characters(exclude_categories=("Cs",)), max_size=8),
)
_cells = st.lists(_cell_pieces, max_size=6).map("".join)
_column_names = st.one_of(st.sampled_from(["=sum", "a,b", 'say "hi"', "-x", "plain"]), _cells)


@st.composite
def frames(draw: st.DrawFn) -> pd.DataFrame:
    rows = draw(st.integers(min_value=0, max_value=8))

    def column(values: st.SearchStrategy) -> list:
        return draw(st.lists(values, min_size=rows, max_size=rows))

    floats = st.one_of(
        st.floats(allow_nan=True, allow_infinity=True),
        st.sampled_from([0.0, -0.0, 1.0, 1e-7, 1e16, 123456789012345.0, 0.48879673208264995]),
    )
    plain = st.one_of(st.none(), st.just(math.nan), st.booleans(), st.integers(-(10**20), 10**20), floats)
    columns = {
        "text": pd.Series(column(st.one_of(_cells, st.none())), dtype="str"),
        "mixed": pd.Series(column(st.one_of(_cells, plain)), dtype=object),
        "depth": pd.Series(column(st.integers(-(2**63), 2**63 - 1)), dtype="int64"),
        "score": pd.Series(column(floats), dtype="float64"),
        "edited": pd.Series(column(st.booleans()), dtype="bool"),
    }
    names = draw(st.lists(_column_names, min_size=len(columns), max_size=len(columns), unique=True))
    return pd.DataFrame(dict(zip(names, columns.values(), strict=True)))


def _csv_rows(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode("utf-8"), newline="")))


def _written(frames_in: list[pd.DataFrame], folder: Path, name: str) -> bytes:
    path = folder / name
    with FrameWriter(path) as writer:
        for frame in frames_in:
            writer.write(frame)
    return path.read_bytes()


def _written_both_ways(frames_in: list[pd.DataFrame]) -> tuple[bytes, bytes]:
    with tempfile.TemporaryDirectory() as folder:
        fast = _written(frames_in, Path(folder), "fast.csv")
        with mock.patch.object(output, "_csv_columns", lambda frame: None):
            reference = _written(frames_in, Path(folder), "pandas.csv")
    return fast, reference


@CSV_SETTINGS
@given(frame=frames())
def test_arrow_csv_path_writes_the_bytes_pandas_writes(frame: pd.DataFrame) -> None:
    # Split in two frames: the header is written once and rows are appended.
    half = len(frame) // 2
    fast, reference = _written_both_ways([frame.iloc[:half], frame.iloc[half:]])
    assert fast == reference


@CSV_SETTINGS
@given(frame=frames())
def test_arrow_csv_path_round_trips_through_the_csv_module(frame: pd.DataFrame) -> None:
    fast, _ = _written_both_ways([frame])
    rows = _csv_rows(fast)
    assert len(rows) == len(frame) + 1
    header = [output.neutralize_formula(str(c)) for c in frame.columns] + ["extra_fields"]
    assert rows[0] == header
    text_column = [row[0] for row in rows[1:]]
    expected = ["" if pd.isna(t) else output.neutralize_formula(t) for t in frame.iloc[:, 0]]
    assert text_column == expected


def test_columns_only_pandas_can_write_go_through_pandas() -> None:
    frame = pd.DataFrame(
        {
            "text": ["=1+1", "plain"],
            "seen": pd.to_datetime(["2024-01-02 03:04:05", None], utc=True),
            "kind": pd.Categorical(["a", "b"]),
            "raw": [b"bytes", np.int64(3)],
        }
    )
    for column in ("seen", "kind", "raw"):
        assert output._csv_columns(frame[["text", column]]) is None
    fast, reference = _written_both_ways([frame])
    assert fast == reference
    assert b"'=1+1" in fast


def test_a_later_frame_with_new_columns_folds_them_into_extra_fields() -> None:
    first = pd.DataFrame({"text": ["one"], "author": ["@a"]})
    later = pd.DataFrame({"text": ["two, with a comma"], "author": ["b"], "votes": [-3]})
    fast, reference = _written_both_ways([first, later])
    assert fast == reference
    rows = _csv_rows(fast)
    assert rows == [
        ["text", "author", "extra_fields"],
        ["one", "'@a", ""],
        ["two, with a comma", "b", '{"votes": -3}'],
    ]


def _cell_by_cell_table(frame: pd.DataFrame) -> pa.Table:
    # Every text column through the per-cell loop that object columns take.
    as_objects = frame.astype({c: object for c, v in frame.items() if isinstance(v.dtype, pd.StringDtype)})
    return FrameWriter.__new__(FrameWriter)._arrow_table(as_objects)


@CSV_SETTINGS
@given(frame=frames())
def test_parquet_text_columns_hold_what_the_cell_by_cell_loop_makes(frame: pd.DataFrame) -> None:
    table = FrameWriter.__new__(FrameWriter)._arrow_table(frame)
    assert table.equals(_cell_by_cell_table(frame))
    text = table.column(0).to_pylist()
    assert text == [None if pd.isna(t) else t for t in frame.iloc[:, 0]]


def test_parquet_output_keeps_missing_text_as_null(tmp_path: Path) -> None:
    frame = pd.DataFrame({"text": pd.Series(["one", None, ""], dtype="str"), "depth": [0, 1, 2]})
    path = tmp_path / "rows.parquet"
    with FrameWriter(path) as writer:
        writer.write(frame)
    table = pq.read_table(path)
    assert table.column("text").to_pylist() == ["one", None, ""]
    assert table.schema.field("text").type == pa.string()


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(
    numbers=st.lists(
        st.one_of(
            st.floats(),
            st.floats(min_value=1e-4, max_value=1e16),
            st.floats(min_value=0, max_value=1),
            st.sampled_from([1e-4, 9.99999e-5, 1e16, 9999999999999998.0, 2.0, -0.0, 0.1, 1e21]),
        ),
        max_size=40,
    ),
    start=st.integers(min_value=0, max_value=3),
)
def test_float_cells_are_numpys_text_for_every_magnitude(numbers: list[float], start: int) -> None:
    values = np.array(numbers, dtype="float64")[start:]
    expected = ["" if math.isnan(v) else str(v) for v in values]
    assert output._float_cells(values).to_pylist() == expected


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(cells=st.lists(_cells, max_size=12), start=st.integers(min_value=0, max_value=3))
def test_formula_cells_are_found_from_their_first_byte(cells: list[str], start: int) -> None:
    array = pa.array(cells, type=pa.large_string())[start:]  # a slice: offsets do not start at 0
    offsets, data = output._string_buffers(array)
    assert data == "".join(cells[start:]).encode()
    found = output._starts_with_formula(offsets, data).tolist()
    assert found == [cell.startswith(output._FORMULA_STARTS) for cell in cells[start:]]




def test_every_column_that_is_not_numbers_is_formula_guarded(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "category": pd.Categorical(["=HYPERLINK(1)", "b"]),
            "arrow_dict": pd.Series(
                pa.array(["@SUM(A1)", "c"]).dictionary_encode().to_pandas(), dtype="category"
            ),
            "arrow_text": pd.Series(["+cmd", "d"], dtype=pd.ArrowDtype(pa.string())),
            "arrow_binary": pd.Series([b"x", b"y"], dtype=pd.ArrowDtype(pa.binary())),
            "listed": pd.Series([["=x"], "-1+2"], dtype=object),
            "numbers_as_category": pd.Categorical([-1.5, 2.0]),
            "negative": [-1, 2],
            "numbers_as_text": ["-12.5", "+3e-2"],
            "near_numbers": ["-1-1", "+3e"],
        }
    )
    header, first, second = _csv_rows(_written([frame], tmp_path, "out.csv"))
    cells = dict(zip(header, first, strict=True))
    assert cells["category"] == "'=HYPERLINK(1)"
    assert cells["arrow_dict"] == "'@SUM(A1)"
    assert cells["arrow_text"] == "'+cmd"
    assert cells["arrow_binary"] == "b'x'"  # what to_csv writes: not a formula
    assert cells["listed"] == "['=x']"
    assert dict(zip(header, second, strict=True))["listed"] == "'-1+2"
    assert cells["numbers_as_category"] == "-1.5"  # numbers are left alone
    assert cells["negative"] == "-1"
    later = dict(zip(header, second, strict=True))
    assert (cells["numbers_as_text"], later["numbers_as_text"]) == ("-12.5", "+3e-2")  # no formula
    assert (cells["near_numbers"], later["near_numbers"]) == ("'-1-1", "'+3e")
    assert second[:3] == ["b", "c", "d"]


def test_guarded_cells_read_back_as_they_were_written(tmp_path: Path) -> None:
    texts = ["@bob1", "=x", "'quoted", "'=ambiguous", "", "plain", "-", "+1"]
    frame = pd.DataFrame({"author": texts, "=odd column": texts, "insult_score": [0.5] * len(texts)})
    writer = FrameWriter(tmp_path / "out.csv", checkpoint=True)
    writer.write(frame, signature={})
    back = writer.written_rows()
    writer.close(success=False)
    assert list(back.columns[:2]) == ["author", "=odd column"]
    # Only "'=ambiguous" changes: a value that began with a quote and a formula character
    # cannot be told from a guarded one (see the module docstring).
    expected = [output.restore_formula(output.neutralize_formula(t)) for t in texts]
    assert expected == [*texts[:3], "=ambiguous", *texts[4:]]
    assert back["author"].tolist() == expected
    assert back["=odd column"].tolist() == expected


@pytest.mark.parametrize("rows", [0, 1, 3])
def test_jsonl_has_exactly_one_line_per_row(tmp_path: Path, rows: int) -> None:
    path = tmp_path / "out.jsonl"
    frame = pd.DataFrame({"text": [f"t{i}" for i in range(rows)]})
    with FrameWriter(path) as writer:
        writer.write(frame)
        writer.write(frame.iloc[:0])
        writer.write(frame)
    content = path.read_text()
    assert content.count("\n") == 2 * rows
    assert "\n\n" not in content and not content.startswith("\n")


def test_an_output_that_cannot_be_opened_is_an_output_error(tmp_path: Path) -> None:
    (tmp_path / "file.csv").write_text("")
    with pytest.raises(OutputError, match="is a file, not a folder"):
        FrameWriter(tmp_path / "file.csv" / "x.csv")
    writer = FrameWriter(tmp_path / "out.csv")
    with mock.patch("builtins.open", side_effect=PermissionError(13, "Permission denied")):
        with pytest.raises(OutputError, match=r"cannot write the output .*out.csv: Permission denied"):
            writer.write(pd.DataFrame({"text": ["a"]}))
        with pytest.raises(OutputError, match="folder you are allowed to write to"):
            output.check_output_paths([], {"output": tmp_path / "out.csv"})


def test_check_output_paths_names_the_clash(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_text("text\n")
    with pytest.raises(OutputError, match=r"--threads file .* is the same file as the output"):
        output.check_output_paths([src], {"output": tmp_path / "o.csv", "--threads file": tmp_path / "o.csv"})
    link = tmp_path / "link.csv"
    link.symlink_to(src)
    with pytest.raises(OutputError, match="same file as the input"):
        output.check_output_paths([src], {"output": link})
    output.check_output_paths([src], {"output": tmp_path / "o.csv", "--authors file": None})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "link.csv"]
