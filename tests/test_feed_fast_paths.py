"""The Polars fast paths for CSV and NDJSON feeds: taken only when the careful reader would give
the very same frame (schema, order, values, row numbers, error rows), and taken on clean files."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from data_sources import ERROR_COLUMN, ROW_COLUMN, connector_for, files

# Characters a hostile feed sends: delimiters, quotes, line breaks, a NUL byte, a BOM, the
# mark of an undecodable byte (see files.decode_text), accents, an emoji, a line separator.
MARK = "\udce9"
HOSTILE = st.sampled_from(list('ab ,;|\t"\'\n\r\\{}[]:\x00\ufeff\udce9é€😀\u2028'))
CLEAN = st.sampled_from(list("ab ,;|\t\"'\\{}[]:é€😀\u2028"))
# Any character a line can hold (\x0b, \x1c, \x85 and the like included).
IN_LINE = st.characters(exclude_characters="\r\n\x00", exclude_categories=["Cs"])
DELIMITERS = st.sampled_from([",", ";", "\t", "|"])
SETTINGS = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def careful_or_error(read: Callable[[], pl.DataFrame]) -> pl.DataFrame | Exception:
    try:
        return read()
    except Exception as error:  # the careful reader refuses e.g. a header with bad bytes
        return error


def assert_same_as_careful(fast: pl.DataFrame | None, careful: pl.DataFrame | Exception) -> None:
    event("fast path" if fast is not None else "careful reader")
    if fast is not None:
        assert not isinstance(careful, Exception), careful
        assert_frame_equal(fast, careful, check_exact=True)


# --- CSV ------------------------------------------------------------------------------------

def csv_text(rows: list[list[str | None]], delimiter: str, writer: str) -> str:
    """Rows (the first the header) as a CSV file, written the way one kind of feed writes."""
    if writer == "polars":  # ragged rows padded or cut to the header
        width = len(rows[0])
        columns = zip(*[(row + [None] * width)[:width] for row in rows], strict=True)
        # Polars takes no undecodable-byte marks: write a stand-in (a character HOSTILE
        # has not) and put the mark back.
        frame = pl.DataFrame([pl.Series(f"c{i}", [v and v.replace(MARK, "\x01") for v in values],
                                        pl.String) for i, values in enumerate(columns)])
        written = frame.write_csv(separator=delimiter, include_header=False)
        has_mark = any(MARK in (value or "") for row in rows for value in row)
        return written.replace("\x01", MARK) if has_mark else written
    if writer == "naive":  # no quoting at all
        return "".join(delimiter.join(v or "" for v in row) + "\n" for row in rows)
    out = io.StringIO()
    quoting = csv.QUOTE_ALL if writer == "quote-all" else csv.QUOTE_MINIMAL
    csv.writer(out, delimiter=delimiter, quoting=quoting).writerows(
        [[v or "" for v in row] for row in rows])
    return out.getvalue()


@st.composite
def hostile_edit(draw: st.DrawFn, text: str, alphabet: st.SearchStrategy[str]) -> str:
    """The text, or one thing a feed gets wrong: a character (or blank line, or line
    ending) inserted, one deleted, the text cut short, or all line breaks made CRLF."""
    if draw(st.booleans()):
        return text
    kind = draw(st.sampled_from(["insert", "delete", "cut", "crlf"]))
    at = draw(st.integers(0, len(text)))
    if kind == "insert":
        return text[:at] + draw(st.one_of(alphabet, st.sampled_from(["\n", "\r\n"]))) + text[at:]
    if kind == "delete":
        return text[:at] + text[at + 1:]
    if kind == "cut":
        return text[:at]
    return text.replace("\n", "\r\n")


def csv_rows(alphabet: st.SearchStrategy[str], ragged: bool) -> st.SearchStrategy[Any]:
    """A header of distinct names (now and then any names at all) and records."""
    cell = st.one_of(st.none(), st.text(alphabet, max_size=6))
    return st.integers(1, 4).flatmap(lambda width: st.tuples(
        st.one_of(st.lists(st.text(alphabet, min_size=1, max_size=4), min_size=width,
                           max_size=width, unique=True),
                  st.lists(cell, min_size=width, max_size=width)),
        st.lists(st.lists(cell, min_size=1 if ragged else width,
                          max_size=width + 1 if ragged else width), max_size=6),
    ).map(lambda header_and_records: [header_and_records[0], *header_and_records[1]]))


@SETTINGS
@given(rows=st.one_of(csv_rows(CLEAN, ragged=True), csv_rows(HOSTILE, ragged=True)),
       delimiter=DELIMITERS, data=st.data(),
       writer=st.sampled_from(["polars", "polars", "csv", "quote-all", "naive"]))
def test_csv_fast_path_equals_the_careful_reader(rows: list[list[str | None]], delimiter: str,
                                                 writer: str, data: st.DataObject) -> None:
    text = data.draw(hostile_edit(csv_text(rows, delimiter, writer), HOSTILE))

    careful = careful_or_error(lambda: files.read_csv_text(text, delimiter, "utf8"))

    assert_same_as_careful(files.read_csv_fast(text, delimiter), careful)


@SETTINGS
@given(rows=st.one_of(csv_rows(CLEAN, ragged=False), csv_rows(IN_LINE, ragged=False)),
       delimiter=DELIMITERS, crlf=st.booleans(), last_line_break=st.booleans())
def test_clean_csv_written_by_polars_takes_the_fast_path(
        rows: list[list[str | None]], delimiter: str, crlf: bool, last_line_break: bool) -> None:
    header, *records = rows
    if len(header) == 1:  # a null in a one-column file is written as a blank line
        records = [[value or "x"] for value, in records]
    # Polars reads a quote in a header name as two (and the round trip then fails).
    header = [(name or f"column {i}").replace('"', "'") for i, name in enumerate(header)]
    assume(len(set(header)) == len(header) and ROW_COLUMN not in header)
    text = csv_text([header, *records], delimiter, "polars")
    text = text.replace("\n", "\r\n") if crlf else text
    text = text if last_line_break else text.removesuffix("\r\n").removesuffix("\n")

    fast = files.read_csv_fast(text, delimiter)

    assert fast is not None
    assert_frame_equal(fast, files.read_csv_text(text, delimiter, "utf8"), check_exact=True)


@pytest.mark.parametrize("text", [
    "a,b\n1,2\n",
    "a,b\r\n1,2\r\n3,\r\n",
    'a,b\n"x, ""y""",\n,""\n',
    "a,b\n1,2",
    "a,b\n",
    "only\nx\n",
    "*,^id$,id\n1,,3\n",  # names that are patterns to pl.col
])
def test_clean_csv_examples_take_the_fast_path(text: str) -> None:
    fast = files.read_csv_fast(text, ",")
    assert fast is not None
    assert_frame_equal(fast, files.read_csv_text(text, ",", "utf8"), check_exact=True)


def test_header_names_that_look_like_polars_patterns_are_just_names() -> None:
    frame = files.read_csv_text("*,^id$,id\n1,,3\n", ",", "utf8")
    assert frame.columns[:4] == [ROW_COLUMN, "*", "^id$", "id"]
    assert frame.row(0)[:4] == (2, "1", None, "3")


@pytest.mark.parametrize("text", [
    "",
    "a,b\n1,2,3\n4,5\n",  # ragged
    "a,b\n1,2\n\n3,4\n",  # blank line
    'a,b\n"two\nlines",2\n3,4\n',  # a record spanning lines
    'a,b\n1,"open\n',  # truncated inside a quote
    "a,b\n1,x\x002\n",  # NUL
    "a,b\n1,caf\udce9\n",  # undecodable byte
    "a,b\r1,2\r",  # old Mac line ends, which the csv module reads and Polars does not
    'a,b\n"1",2\n',  # quoted where Polars would not quote
    "a,a\n1,2\n",  # repeated name
    "\ufeffa,b\n1,2\n",  # a second BOM
    "a,_row\n1,2\n",
    "only\nx\n\ny\n",  # one column with a blank line
])
def test_csv_that_polars_would_read_differently_takes_the_careful_reader(text: str) -> None:
    assert files.read_csv_fast(text, ",") is None


# --- NDJSON ---------------------------------------------------------------------------------

SCALARS: dict[str, st.SearchStrategy[Any]] = {
    "text": st.text(max_size=6),
    "int": st.integers(-(2**63), 2**63 - 1),
    "float": st.floats(allow_nan=False, allow_infinity=False),
    "bool": st.booleans(),
    "texts": st.lists(st.text(CLEAN, max_size=3), min_size=1, max_size=3),
}
JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(),
              st.text(HOSTILE, max_size=5)),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.text(CLEAN, max_size=2), inner, max_size=3)),
    max_leaves=6)
KEYS = st.sampled_from(["id", "name", "lat", "n", "", "_row", "é"])


def polars_ndjson(columns: list[tuple[str, str]], height: int, data: st.DataObject) -> str:
    """A NDJSON file as Polars writes it: every key in every line, one type per key."""
    frame = pl.DataFrame({
        name: data.draw(st.lists(st.one_of(st.none(), SCALARS[kind]), min_size=height,
                                 max_size=height))
        for name, kind in columns}, strict=False)
    return frame.write_ndjson()


def json_dumps_ndjson(records: list[Any], data: st.DataObject) -> str:
    """A NDJSON file as Python's json module writes it, in one of its styles."""
    ascii_only = data.draw(st.booleans())
    separators = data.draw(st.sampled_from([(", ", ": "), (",", ":")]))
    return "".join(json.dumps(record, ensure_ascii=ascii_only, separators=separators) + "\n"
                   for record in records)


@SETTINGS
@given(source=st.sampled_from(["polars", "polars", "json"]), height=st.integers(1, 5),
       data=st.data(),
       columns=st.lists(st.tuples(KEYS, st.sampled_from(list(SCALARS))), min_size=1,
                        max_size=4, unique_by=lambda column: column[0]))
def test_ndjson_fast_path_equals_the_careful_reader(source: str, height: int,
                                                    columns: list[tuple[str, str]],
                                                    data: st.DataObject) -> None:
    if source == "polars":
        text = polars_ndjson(columns, height, data)
    else:
        records = data.draw(st.lists(st.one_of(
            st.dictionaries(KEYS, JSON_VALUES, max_size=4), JSON_VALUES), min_size=1,
            max_size=5))
        text = json_dumps_ndjson(records, data)
    text = data.draw(hostile_edit(text, st.one_of(HOSTILE, st.sampled_from(
        ['{"id": 1, ', '"n": 2, ', "NaN", "1.0", "-0", "1e400", "\\ud800", "\\u00e9"]))))

    careful = careful_or_error(lambda: files.read_ndjson_text(text, "utf8"))

    assert_same_as_careful(files.read_ndjson_fast(text), careful)


@SETTINGS
@given(height=st.integers(1, 5), data=st.data(),
       columns=st.lists(st.tuples(KEYS.filter(lambda key: key != ROW_COLUMN),
                                  st.sampled_from(list(SCALARS))),
                        min_size=1, max_size=4, unique_by=lambda column: column[0]))
def test_clean_ndjson_written_by_polars_takes_the_fast_path(
        height: int, columns: list[tuple[str, str]], data: st.DataObject) -> None:
    text = polars_ndjson(columns, height, data)

    fast = files.read_ndjson_fast(text)

    assert fast is not None
    assert_frame_equal(fast, files.read_ndjson_text(text, "utf8"), check_exact=True)


@pytest.mark.parametrize("text", [
    '{"a":"x","b":1,"c":1.5,"d":true,"e":null,"f":["p",null],"g":[],"h":[1,2]}\n'
    '{"a":null,"b":-7,"c":1e-7,"d":false,"e":null,"f":null,"g":[],"h":null}\n',
    '{"a":"x"}',
    '{"lat":1e+16}\n{"lat":0.1}\n{"lat":-0.0}\n',
])
def test_clean_ndjson_examples_take_the_fast_path(text: str) -> None:
    fast = files.read_ndjson_fast(text)
    assert fast is not None
    assert_frame_equal(fast, files.read_ndjson_text(text, "utf8"), check_exact=True)


@pytest.mark.parametrize("text", [
    "",
    '{"a": "x"}\n',  # Python's spacing: fine, but not what Polars writes back
    '{"a":"x"}\n\n{"a":"y"}\n',  # blank line
    '{"a":"x"}\r\n',
    '{"a":"x","a":"y"}\n',  # repeated key: json.loads keeps the last, Polars the first
    '{"a":"x"}\n{"a":1}\n',  # text and number under one key
    '{"a":1}\n{"a":1.5}\n',  # 1 would become 1.0
    '{"a":"x","b":"y"}\n{"b":"y","a":"x"}\n',  # keys in another order
    '{"a":"x","b":"y"}\n{"a":"x"}\n',  # a key left out
    '{"a":{"b":1}}\n',  # nested object: json.dumps has its own spacing
    '{"a":[true]}\n',  # str(True) in a list
    '{"a":[1.5]}\n',
    '{"a":"\\ud800"}\n',  # lone surrogate
    '{"a":"caf\udce9"}\n',  # undecodable byte
    '["x"]\n', "null\n", "{broken\n", '{"a":NaN}\n',
    '{"_row":1}\n',
])
def test_ndjson_that_polars_would_read_differently_takes_the_careful_reader(text: str) -> None:
    assert files.read_ndjson_fast(text) is None


# --- through the connectors ---------------------------------------------------------------

def spy(monkeypatch: pytest.MonkeyPatch, name: str) -> list[object]:
    """Record the calls of a careful reader of the files module."""
    calls: list[object] = []
    real = getattr(files, name)

    def recording(*args: Any) -> pl.DataFrame:
        calls.append(args)
        return real(*args)

    monkeypatch.setattr(files, name, recording)
    return calls


def read(kind: str, path: Path, **options: Any) -> pl.DataFrame:
    connector = connector_for(kind)
    return connector.read(str(path), connector.Options.model_validate(options)).collect()


CLEAN_CSV = "id,name,county\nA-1,Café,44007\nA-2,,44001\nA-3,\"Smith, Jr\",\n"


@pytest.mark.parametrize("encoding", ["utf8", "utf-8-sig", "latin-1", "utf-16"])
def test_a_clean_csv_file_is_read_by_polars(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            encoding: str) -> None:
    path = tmp_path / "feed.csv"
    path.write_bytes(CLEAN_CSV.encode(encoding))
    calls = spy(monkeypatch, "read_csv_text")

    frame = read("csv", path, encoding=encoding)

    assert calls == []
    assert frame.select(ROW_COLUMN, "id", "name", "county").rows() == [
        (2, "A-1", "Café", "44007"), (3, "A-2", None, "44001"), (4, "A-3", "Smith, Jr", None)]
    assert frame[ERROR_COLUMN].null_count() == frame.height


def test_a_ragged_csv_file_goes_to_the_careful_reader(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "feed.csv"
    path.write_text(CLEAN_CSV + "A-4,Di\n", encoding="utf-8")
    calls = spy(monkeypatch, "read_csv_text")

    frame = read("csv", path)

    assert len(calls) == 1
    assert frame.filter(pl.col(ERROR_COLUMN).is_not_null()).select(ROW_COLUMN, ERROR_COLUMN).rows(
    ) == [(5, "has 2 fields, header has 3")]


CLEAN_NDJSON = ('{"id":"A-1","lat":41.86,"sev":3,"topics":["gangs"]}\n'
                '{"id":"A-2","lat":null,"sev":2,"topics":[]}\n')


def test_a_clean_ndjson_file_is_read_by_polars(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "feed.ndjson"
    path.write_text(CLEAN_NDJSON, encoding="utf-8")
    calls = spy(monkeypatch, "read_ndjson_text")

    frame = read("ndjson", path)

    assert calls == []
    assert frame.select(ROW_COLUMN, "id", "lat", "sev", "topics").rows() == [
        (1, "A-1", "41.86", "3", ["gangs"]), (2, "A-2", None, "2", [])]


def test_a_ndjson_file_with_a_bad_line_goes_to_the_careful_reader(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "feed.ndjson"
    path.write_text(CLEAN_NDJSON + "{broken\n", encoding="utf-8")
    calls = spy(monkeypatch, "read_ndjson_text")

    frame = read("ndjson", path)

    assert len(calls) == 1
    assert frame.filter(pl.col(ERROR_COLUMN).is_not_null())[ROW_COLUMN].to_list() == [3]
