"""CSV, TSV, JSONL (plain, .gz, .zst) and Parquet readers, and their bad-input errors."""

from __future__ import annotations

import gzip
import json
import math
import tempfile
from pathlib import Path
from unittest import mock

import pandas as pd
import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from moderation import config
from moderation.errors import EmptyInputError, InputError, MissingColumnError, OutputError
from moderation.ingest import ReadReport, RejectsSink, detect_format, read_comments, tabular
from moderation.ingest.base import ReadOptions


def _read(path: Path, **options) -> tuple[pd.DataFrame, RejectsSink, ReadReport]:
    rejects, report = RejectsSink(), ReadReport()
    frames = list(read_comments([path], rejects=rejects, report=report, **options))
    return pd.concat(frames, ignore_index=True), rejects, report


def test_csv_with_bom_quoted_newlines_and_extra_columns(tmp_path: Path) -> None:
    path = tmp_path / "comments.csv"
    path.write_bytes(
        "\ufeffid,Comment,Score\n1,\"first line\nsecond line\",3\n2,\"a, b\",4\n".encode()
    )
    frame, rejects, report = _read(path)
    assert frame["comment_id"].tolist() == ["1", "2"]
    assert frame["text"].tolist() == ["first line\nsecond line", "a, b"]
    assert frame["Score"].tolist() == ["3", "4"]  # input columns are kept
    assert frame["record"].tolist() == [2, 4]  # the line each row starts on
    assert rejects.count == 0 and report.rows == 2


def test_rows_with_the_wrong_number_of_fields_are_rejected_with_their_line(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("text,author\nfine,ann\nbroken,bob,extra\nalso fine,cy\n")
    frame, rejects, report = _read(path)
    assert frame["text"].tolist() == ["fine", "also fine"]
    assert rejects.count == 1
    assert rejects.kept[0]["record"] == 3
    assert "wrong number of fields" in rejects.kept[0]["reason"]
    assert rejects.kept[0]["raw"] == "broken,bob,extra"
    assert report.rows + report.rejected == 3


def test_an_unclosed_quote_in_the_last_column_rejects_its_line_and_keeps_the_rows_after(
    tmp_path: Path,
) -> None:
    path = tmp_path / "c.csv"
    path.write_text('id,text\n1,fine\n2,"never closed\n3,after\n4,"quoted, properly"\n5,last\n')
    frame, rejects, report = _read(path)
    assert frame["comment_id"].tolist() == ["1", "3", "4", "5"]
    assert frame["text"].tolist() == ["fine", "after", "quoted, properly", "last"]
    assert frame["record"].tolist() == [2, 4, 5, 6]
    assert rejects.count == 1
    reject = rejects.kept[0]
    assert reject["record"] == 3 and reject["raw"] == '2,"never closed'
    assert "unclosed quote" in reject["reason"] and "line 3" in reject["reason"]
    assert '""' in reject["reason"]  # the fix
    assert report.rows + report.rejected == 5


def test_an_unclosed_quote_that_runs_to_the_end_of_the_file_loses_no_row(tmp_path: Path) -> None:
    path = tmp_path / "c.tsv"
    path.write_text('text\tauthor\n"open\tann\nsecond\tbob\nthird\tcy\n')
    frame, rejects, report = _read(path)
    assert frame["text"].tolist() == ["second", "third"]
    assert frame["author"].tolist() == ["bob", "cy"]
    assert [r["record"] for r in rejects.kept] == [2]
    assert "end of data" in rejects.kept[0]["reason"]
    assert report.rows + report.rejected == 3


def test_a_quoted_field_that_spans_lines_and_loose_quotes_on_one_line_are_read_as_written(
    tmp_path: Path,
) -> None:
    path = tmp_path / "c.csv"
    path.write_text('id,text\n1,"two\nlines"\n2,a 5" screen\n3,"a"b\n')
    frame, rejects, _ = _read(path)
    assert frame["text"].tolist() == ["two\nlines", 'a 5" screen', "ab"]
    assert frame["record"].tolist() == [2, 4, 5]
    assert rejects.count == 0


def test_a_quoted_field_longer_than_the_line_bound_is_taken_as_unclosed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(config, "MAX_RECORD_LINES", 4)
    path = tmp_path / "c.csv"
    body = "".join(f"{i},row {i}\n" for i in range(3, 10))
    path.write_text(f'id,text\n1,"three\nline\nfield"\n2,"open\n{body}')
    frame, rejects, report = _read(path)
    assert frame["text"].tolist() == ["three\nline\nfield"] + [f"row {i}" for i in range(3, 10)]
    assert [r["record"] for r in rejects.kept] == [5]
    assert "more than 4 lines" in rejects.kept[0]["reason"]
    assert report.rows + report.rejected == 9


def test_an_unclosed_quote_in_the_header_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text('id,"text\n1,hello\n')
    with pytest.raises(InputError, match="never closed") as caught:
        _read(path)
    assert "c.csv" in str(caught.value) and "line 1" in str(caught.value)


def test_latin1_bytes_fall_back_with_a_warning_and_lose_no_row(tmp_path: Path) -> None:
    path = tmp_path / "mixed.csv"
    path.write_bytes(b"text\n" + "caf\u00e9 ok\n".encode() + b"na\xefve\n")
    frame, _, report = _read(path)
    assert frame["text"].tolist() == ["café ok", "naïve"]
    assert any("Windows-1252" in w for w in report.warnings)


def test_utf16_with_bom_is_read(tmp_path: Path) -> None:
    path = tmp_path / "u16.csv"
    path.write_bytes("text,author\nhello there,ann\n".encode("utf-16"))
    frame, _, _ = _read(path)
    assert frame["text"].tolist() == ["hello there"]
    assert frame["author"].tolist() == ["ann"]


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_utf16_without_a_bom_is_recognised(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "u16.csv"
    path.write_bytes("text,author\nhello there,ann\ncafé au lait,bo\n".encode(encoding))
    frame, rejects, report = _read(path)
    assert frame["text"].tolist() == ["hello there", "café au lait"]
    assert frame["author"].tolist() == ["ann", "bo"]
    assert rejects.count == 0 and any(encoding in w for w in report.warnings)


def test_tsv_and_headerless_positional_text_column(tmp_path: Path) -> None:
    tsv = tmp_path / "c.tsv"
    tsv.write_text("id\ttweet\tlabel\n7\t@USER you are \"great\"\tOFF\n")
    frame, _, _ = _read(tsv)
    assert detect_format(tsv) == "tsv"
    assert frame["text"].tolist() == ['@USER you are "great"']
    headerless = tmp_path / "trac.csv"
    headerless.write_text("fb_1,Well said,NAG\nfb_2,\"go away, troll\",OAG\n")
    frame, _, _ = _read(headerless, text_column="2")
    assert frame["text"].tolist() == ["Well said", "go away, troll"]
    assert frame["column_3"].tolist() == ["NAG", "OAG"]


def test_missing_text_column_lists_the_columns_there_are(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("id,body2,votes\n1,hi,3\n")
    with pytest.raises(MissingColumnError) as error:
        _read(path)
    message = str(error.value)
    assert "c.csv" in message and "id, body2, votes" in message and "--text-column" in message


def test_jsonl_plain_gz_and_zst_give_the_same_rows(tmp_path: Path) -> None:
    lines = [{"id": f"c{i}", "body": f"comment {i}", "parent_id": "c0" if i else ""} for i in range(5)]
    payload = "".join(json.dumps(r) + "\n" for r in lines).encode()
    plain = tmp_path / "c.jsonl"
    plain.write_bytes(payload)
    gz = tmp_path / "c.jsonl.gz"
    gz.write_bytes(gzip.compress(payload))
    zst = tmp_path / "c.data"  # content, not the extension, decides
    zst.write_bytes(zstandard.ZstdCompressor().compress(payload))
    frames = [_read(p, chunk_rows=1)[0] for p in (plain, gz, zst)]
    for frame in frames:
        assert frame["text"].tolist() == [f"comment {i}" for i in range(5)]
        assert frame["depth"].tolist() == [0, 1, 1, 1, 1]  # parent seen in an earlier frame
    assert detect_format(zst) == "jsonl"


def test_bad_json_lines_are_rejected_and_the_rest_is_read(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    deep = "[" * 200 + "]" * 200
    path.write_text(
        '{"text": "good"}\n{not json\n[1, 2]\n{"other": 1}\n'
        + '{"text": "deep", "x": ' + deep + "}\n\n"
        + '{"text": null}\n'
    )
    frame, rejects, report = _read(path)
    assert frame["text"].tolist() == ["good", ""]
    assert sorted(r["record"] for r in rejects.kept) == [2, 3, 4, 5]
    assert report.rows + report.rejected == 6


_json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.text(max_size=6), st.floats(allow_nan=False)
)
_json_values = st.recursive(
    _json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=6,
)
# Fields that no canonical column reads come and go from record to record; the id is always there.
_json_records = st.lists(
    st.tuples(_json_values, st.dictionaries(st.sampled_from(["meta", "tags", "score"]), _json_values)).map(
        lambda parts: {"text": "a comment", "id": parts[0], **parts[1]}
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=120, deadline=None, derandomize=True, database=None)
@given(records=_json_records, chunk_rows=st.integers(min_value=1, max_value=5))
def test_jsonl_frames_are_the_same_whether_or_not_the_flat_shortcut_is_taken(
    records: list[dict], chunk_rows: int
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "comments.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
        shortcut = list(read_comments([path], chunk_rows=chunk_rows))
        with mock.patch.object(tabular, "_has_nested_values", lambda frame: True):
            flattened_always = list(read_comments([path], chunk_rows=chunk_rows))
    assert len(shortcut) == len(flattened_always)
    for got, expected in zip(shortcut, flattened_always, strict=True):
        pd.testing.assert_frame_equal(got, expected)


_flat_lines = st.one_of(
    st.builds(
        lambda i, text, author: json.dumps({"id": i, "text": text, "author": author}, ensure_ascii=False),
        st.one_of(st.integers(-(2**64), 2**64), st.text(max_size=4), st.booleans()),
        st.text(max_size=8),
        st.text(max_size=3),
    ),
    st.builds(lambda i: json.dumps({"text": "reordered", "id": i}), st.integers(0, 9)),
    st.builds(lambda i: json.dumps({"id": i, "text": "t", "extra": None}), st.integers(0, 9)),
)
_hostile_lines = st.sampled_from(
    [
        '{"id": 1, "text": broken',
        "[1, 2]",
        '"a string"',
        "",
        "   ",
        '{"id": 2, "body": "no text field"}',
        '{"id": 3, "text": "a", "text": "duplicate key"}',
        '{"id": 4, "text": "one"}{"id": 5, "text": "two"}',
        '{"id": 6, "text": "raw\ttab"}',
        '{"id": 7, "text": "lone \\ud800 surrogate"}',
        '{"id": 8, "text": "pair \\ud83d\\ude00"}',
        '{"id": 9, "text": NaN}',
        '{"id": 1.5, "text": "float id"}',
        '{"id": 10, "text": "x", "meta": {"a": [1]}}',
        '{"id": 11, "text": "lone"}\r{"id": 12, "text": "cr"}',
        '{"id": 13, "text": "crlf"}\r',
        "[" * 80 + "]" * 80,
    ]
)


@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(
    first=_flat_lines,
    lines=st.lists(st.one_of(_flat_lines, _flat_lines, _hostile_lines), max_size=14),
    bad_bytes=st.booleans(),
    chunk_rows=st.integers(min_value=1, max_value=4),
)
def test_jsonl_arrow_blocks_give_the_frames_and_rejects_of_the_line_by_line_path(
    first: str, lines: list[str], bad_bytes: bool, chunk_rows: int
) -> None:
    payload = ("\n".join([first, *lines]) + "\n").encode()
    if bad_bytes:
        payload = payload.replace(b"t", b"t\xe9", 1)  # a stray Latin-1 byte in a UTF-8 file
    results = []
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "comments.jsonl"
        path.write_bytes(payload)
        arrow_gate = tabular._flat_jsonl_candidate
        assert bad_bytes or arrow_gate(path, ReadOptions())
        for gate in (arrow_gate, lambda *_: False):
            rejects = RejectsSink()
            with mock.patch.object(tabular, "_flat_jsonl_candidate", gate):
                try:
                    frames = list(read_comments([path], chunk_rows=chunk_rows, rejects=rejects))
                    error = None
                except InputError as exc:
                    frames, error = [], str(exc)
            results.append((frames, rejects.kept, error))
    (arrow_frames, arrow_rejects, arrow_error), (line_frames, line_rejects, line_error) = results
    assert arrow_error == line_error and arrow_rejects == line_rejects
    assert [len(f) for f in arrow_frames] == [len(f) for f in line_frames]
    for got, expected in zip(arrow_frames, line_frames, strict=True):
        pd.testing.assert_frame_equal(got, expected, check_exact=True)


def test_clean_jsonl_blocks_are_parsed_by_arrow_and_bad_ones_line_by_line(tmp_path: Path) -> None:
    path = tmp_path / "comments.jsonl"
    lines = [json.dumps({"id": f"c{i}", "text": f"comment {i}", "score": i}) for i in range(12)]
    lines[5] = '{"id": "c5", "text": broken'
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    decoded_blocks = []
    line_by_line = tabular._decoded_lines

    def spy(block: bytes) -> list[str]:
        decoded_blocks.append(block.count(b"\n"))
        return line_by_line(block)

    with mock.patch.object(tabular, "_decoded_lines", spy):
        frame, rejects, _ = _read(path, chunk_rows=4)
    # Lines 1-4 in Arrow; 5-8 hold the bad line, then line 9 refills that frame; 10-12 in Arrow.
    assert decoded_blocks == [4, 1]
    assert [r["record"] for r in rejects.kept] == [6]
    assert frame["record"].tolist() == [1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 12]
    assert frame["score"].tolist() == [0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11]


def test_nested_json_values_are_kept_as_json_text(tmp_path: Path) -> None:
    path = tmp_path / "nested.jsonl"
    rows = [
        {"text": "one", "meta": {"lang": "en", "é": [1, 2]}, "score": 1},
        {"text": "two", "meta": None, "score": 2.5},
        {"text": "three", "meta": "plain", "tags": ["a", "b"]},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    frame, _, _ = _read(path)
    assert frame["meta"].tolist()[0] == '{"lang": "en", "é": [1, 2]}'
    assert pd.isna(frame["meta"].tolist()[1]) and frame["meta"].tolist()[2] == "plain"
    assert frame["tags"].tolist()[2] == '["a", "b"]' and pd.isna(frame["tags"].tolist()[0])
    assert frame["score"].tolist()[:2] == [1.0, 2.5] and math.isnan(frame["score"].tolist()[2])


_any_json_scalar = st.one_of(
    _json_scalars, st.floats(), st.integers(-(2**200), 2**200), st.text(st.characters(), max_size=6)
)
_any_json = st.recursive(
    _any_json_scalar,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=8,
)


def _json_line(value: object, ensure_ascii: bool, cut: int | None, before: str, after: str) -> str:
    text = json.dumps(value, ensure_ascii=ensure_ascii)  # NaN and lone surrogates included
    return before + (text[:cut] if cut is not None else text) + after


_line_ends = st.sampled_from(["", "\n", " \t\r\n", "\x0c\n", "\u00a0\n", ",", "}", "{}", "x"])


@settings(max_examples=400, deadline=None, derandomize=True, database=None)
@given(
    line=st.builds(
        _json_line,
        st.one_of(_any_json, st.dictionaries(st.text(max_size=4), _any_json, max_size=4)),
        st.booleans(),
        st.one_of(st.none(), st.integers(min_value=0, max_value=30)),
        st.sampled_from(["", " ", "\ufeff", "\t"]),
        _line_ends,
    )
)
def test_json_lines_are_read_exactly_as_json_loads_reads_them(line: str) -> None:
    try:
        expected = repr(json.loads(line))
    except ValueError as error:
        with pytest.raises(ValueError) as raised:
            tabular._loads_line(line)
        assert str(raised.value) == str(error)
        return
    assert repr(tabular._loads_line(line)) == expected


def test_truncated_gzip_and_zstd_are_clear_errors(tmp_path: Path) -> None:
    payload = "".join(json.dumps({"text": f"c {i} " * 50}) + "\n" for i in range(2000)).encode()
    gz = tmp_path / "cut.jsonl.gz"
    gz.write_bytes(gzip.compress(payload)[:-200])
    zst = tmp_path / "cut.jsonl.zst"
    zst.write_bytes(zstandard.ZstdCompressor().compress(payload)[:-200])
    for path in (gz, zst):
        with pytest.raises(InputError, match="truncated") as error:
            _read(path)
        assert path.name in str(error.value)


def test_decompression_bombs_are_stopped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Lower the limits so the test stays small; the mechanism is the one real bombs hit.
    monkeypatch.setattr(config, "MIN_DECOMPRESSED_LIMIT", 1024 * 1024)
    payload = b'{"text": "aaaa"}\n' * 400_000  # 6.8 MB, compresses more than 200x
    for path, data in (
        (tmp_path / "bomb.jsonl.gz", gzip.compress(payload, 9)),
        (tmp_path / "bomb.jsonl.zst", zstandard.ZstdCompressor(level=19).compress(payload)),
    ):
        path.write_bytes(data)
        with pytest.raises(InputError, match="decompression bomb") as error:
            _read(path)
        assert path.name in str(error.value)


def test_empty_files_are_clear_errors(tmp_path: Path) -> None:
    for name in ("empty.csv", "empty.jsonl", "empty.txt"):
        path = tmp_path / name
        path.write_bytes(b"")
        with pytest.raises(EmptyInputError, match="empty"):
            _read(path)
    header_only = tmp_path / "header.csv"
    header_only.write_text("text,author\n")
    with pytest.raises(EmptyInputError, match="no comments"):
        _read(header_only)


def test_parquet_round_trip_and_corrupt_parquet(tmp_path: Path) -> None:
    path = tmp_path / "c.parquet"
    pd.DataFrame({"comment_text": ["one", "two"], "toxic": [0, 1]}).to_parquet(path)
    frame, _, _ = _read(path)
    assert frame["text"].tolist() == ["one", "two"]
    assert frame["toxic"].tolist() == [0, 1]
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(path.read_bytes()[:40])
    with pytest.raises(InputError, match="Parquet"):
        _read(broken, format="parquet")


def test_input_columns_that_clash_with_canonical_ones_are_renamed(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("message,flag,depth\nhi,yes,9\n")
    frame, _, _ = _read(path)
    assert frame["input_flag"].tolist() == ["yes"]
    assert frame["input_depth"].tolist() == ["9"]
    assert frame["depth"].tolist() == [0]


def test_a_clashing_column_never_overwrites_an_input_column_of_its_new_name(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("text,flag,input_flag\nhello,a,b\n")
    frame, _, report = _read(path)
    assert not any("renamed" in w for w in report.warnings)  # the header's names are distinct
    assert frame["input_flag"].tolist() == ["b"]  # the input's own column keeps its name
    assert frame["input_flag.1"].tolist() == ["a"]  # and the clashing "flag" is not lost
    assert frame.columns.is_unique


@pytest.mark.parametrize(
    ("header", "row", "expected"),
    [
        ("id,text,text", "1,a,b", {"text": "a", "text.1": "b"}),
        ("text,,", "hello,2,x", {"text": "hello", "column_2": "2", "column_3": "x"}),  # trailing commas
        ("text,foo,foo,foo.1", "t,1,2,3", {"foo": "1", "foo.2": "2", "foo.1": "3"}),
    ],
)
def test_blank_and_repeated_header_names_are_renamed_with_a_warning(
    tmp_path: Path, header: str, row: str, expected: dict
) -> None:
    path = tmp_path / "c.csv"
    path.write_text(f"{header}\n{row}\n")
    frame, rejects, report = _read(path)
    assert frame.columns.is_unique and rejects.count == 0
    for column, value in expected.items():
        assert frame[column].tolist() == [value]
    assert any("renamed" in w and "c.csv" in w for w in report.warnings)


def test_repeated_parquet_column_names_are_renamed(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "d.parquet"
    pq.write_table(pa.Table.from_arrays([pa.array(["a"]), pa.array(["b"])], names=["text", "text"]), path)
    frame, _, report = _read(path)
    assert frame["text"].tolist() == ["a"] and frame["text.1"].tolist() == ["b"]
    assert any("text -> text.1" in w for w in report.warnings)


def test_frames_stay_within_the_chunk_bound(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text("".join(json.dumps({"text": str(i)}) + "\n" for i in range(2500)))
    sizes = [len(f) for f in read_comments([path], chunk_rows=1000)]
    assert sizes == [1000, 1000, 500]


@pytest.mark.shared
@pytest.mark.parametrize(
    ("relative", "rows", "options"),
    [
        ("insults/train.csv", 3947, {}),
        ("insults/test_with_solutions.csv", 2647, {}),
        ("jigsaw/train_sample.csv.gz", 2886, {}),
        ("olid/olid-training-v1.0.tsv", 13240, {}),
        ("olid/olid-test-merged.tsv", 860, {}),
        ("olid/testset-levela.tsv", 860, {}),
        ("cyber_trolls/cyber_trolls.json", 20001, {}),
        ("cyber_trolls/cyber_trolls.csv", 20001, {}),
        ("elf24_trolling/total.tsv", 1189, {}),
        ("elf24_trolling/train.tsv", 875, {}),
        ("elf24_trolling/test.tsv", 50, {}),
        ("trac1_aggression/agr_en_train.csv", 12000, {"text_column": "2"}),
        ("trac1_aggression/agr_en_dev.csv", 3001, {"text_column": "2"}),
        ("davidson_hate_offensive/labeled_data.csv", 24783, {}),
        ("socc_ctc/SFU_constructiveness_toxicity.csv", 1121, {}),
        ("toxic_spans/tsd_train.csv", 7939, {}),
        ("toxic_spans/tsd_trial.csv", 690, {}),
        ("toxic_spans/tsd_test.csv", 2000, {}),
        ("toxichat/toxichat_turns_train_dev.csv", 7319, {}),
    ],
)
def test_every_labelled_set_is_readable(shared_data: Path, relative: str, rows: int, options: dict) -> None:
    frame, rejects, _ = _read(shared_data / relative, **options)
    assert len(frame) == rows
    assert rejects.count == 0
    assert frame["text"].str.len().gt(0).mean() > 0.99


def test_one_unreadable_timestamp_blanks_only_itself(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text(
        "text,created_utc\na,1134365188\nb,1134365200000\nc,unknown\nd,2020-01-01T10:00:00+02:00\n"
        "e,20120618192155Z\nf,\n"
    )
    frame, rejects, _ = _read(path)
    assert frame["created_at"].tolist() == [
        "2005-12-12T05:26:28Z",  # epoch seconds
        "2005-12-12T05:26:40Z",  # epoch milliseconds
        "",  # the typo alone is unknown
        "2020-01-01T08:00:00Z",
        "2012-06-18T19:21:55Z",  # Kaggle's compact form
        "",
    ]
    assert frame["created_utc"].tolist()[2] == "unknown"  # the input's own value is kept
    assert rejects.count == 0


@pytest.mark.parametrize(
    ("encoding", "message"), [("nope", "unknown encoding"), ("rot13", "not a text encoding")]
)
def test_an_encoding_that_cannot_read_text_is_a_clear_error(
    tmp_path: Path, encoding: str, message: str
) -> None:
    path = tmp_path / "t.csv"
    path.write_text("text\nhi\n")
    with pytest.raises(InputError, match=message) as caught:
        _read(path, encoding=encoding)
    assert "utf-8" in caught.value.hint


def test_parquet_binary_columns_are_read_as_text_and_bytes_that_are_not_utf8_are_kept(
    tmp_path: Path,
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "b.parquet"
    pq.write_table(pa.table({"text": [b"hi there", b"caf\xc3\xa9"], "blob": [b"ok", b"\xff\xfe"]}), path)
    frame, rejects, report = _read(path)
    assert frame["text"].tolist() == ["hi there", "café"]  # not "b'hi there'"
    assert frame["blob"].tolist() == ["ok", "\\xff\\xfe"]
    assert rejects.count == 0
    assert any("'blob'" in w and "not UTF-8" in w for w in report.warnings)
    assert not any("'text'" in w for w in report.warnings)


def test_a_rejects_file_that_cannot_be_written_is_a_clear_error(tmp_path: Path) -> None:
    blocked = tmp_path / "rejects.jsonl"
    blocked.mkdir()  # a folder in the way
    sink = RejectsSink(blocked)
    with pytest.raises(OutputError, match="rejects file") as caught:
        sink.add(source="in.csv", record=2, reason="wrong number of fields: 3 where the header has 2")
    assert str(blocked) in str(caught.value) and "folder" in str(caught.value)
