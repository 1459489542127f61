"""File connectors: csv, ndjson, json, parquet, excel.

Text formats (csv, ndjson, json) are decoded by this module, not by Polars, so that a line with
bytes that are invalid in the declared encoding, or a CSV line with the wrong number of fields,
becomes one error row (``_error`` naming the problem, ``_raw_text`` the line with the problem
visible) instead of failing the whole file or being silently altered.

A clean CSV or NDJSON file is read by Polars instead (several times faster), but only when
Polars, writing back what it read, gives the very text of the file: then the careful reader
would read the same values (see :func:`read_csv_fast`, :func:`read_ndjson_fast`).
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import gc
import hashlib
import io
import json
import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import ClassVar

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, field_validator

from data_sources import ERROR_COLUMN, RAW_TEXT_COLUMN, ROW_COLUMN, FileScan, register

# The one encoding that is allowed to alter text: undecodable bytes become U+FFFD and the row
# loads (kept for configs that chose it; every other encoding quarantines such a line).
LOSSY_UTF8 = "utf8-lossy"
ENCODING_HELP = (
    "Text encoding of the file: any Python codec name, e.g. 'utf-8' (alias 'utf8', the "
    "default; a leading BOM is dropped), 'utf-8-sig', 'latin-1' (= 'iso-8859-1'), 'cp1252', "
    "'utf-16' (with BOM). A line with bytes invalid in it is quarantined with the bytes named. "
    f"'{LOSSY_UTF8}' replaces such bytes with U+FFFD and loads the row instead."
)
# Why the last record of a CSV is an error row when the file ends inside a quoted field: lines
# appended to such a file continue that record, so they are never read on their own.
OPEN_QUOTE_REASON = "quoted field not closed before the end of the file"
# Longest _raw_text kept for one error row (an unterminated quote can swallow a whole file).
MAX_RAW_TEXT = 10_000

# Bytes the declared encoding cannot decode become lone surrogates U+DC00..U+DCFF (which no
# strict decoder ever yields), so each one can be traced to its line and named afterwards.
_MARK_HANDLER = "threat-picture-mark-invalid"
_MARKS = re.compile("[\udc00-\udcff]+")


def _mark_invalid(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeDecodeError):
        raise error
    bad = error.object[error.start:error.end]
    return "".join(chr(0xDC00 + byte) for byte in bad), error.end


codecs.register_error(_MARK_HANDLER, _mark_invalid)


def _check_encoding(value: str) -> str:
    if value == LOSSY_UTF8:
        return value
    try:
        info = codecs.lookup(value)
    except LookupError:
        raise ValueError(f"unknown encoding {value!r}") from None
    if not getattr(info, "_is_text_encoding", True):
        raise ValueError(f"{value!r} is not a text encoding")
    return value


def decode_text(data: bytes, encoding: str) -> str:
    """The file's text; undecodable bytes marked (see :func:`invalid_bytes`), BOM dropped."""
    if encoding == LOSSY_UTF8:
        text = data.decode("utf-8", errors="replace")
    else:
        text = data.decode(encoding, errors=_MARK_HANDLER)
    return text[1:] if text.startswith("\ufeff") else text


def invalid_bytes(text: str) -> bytes:
    """The undecodable bytes marked in ``text`` (empty when there are none)."""
    return b"".join(bytes(ord(c) - 0xDC00 for c in run) for run in _MARKS.findall(text))


def invalid_bytes_reason(text: str, encoding: str) -> str:
    return f"invalid bytes for encoding {encoding}: {invalid_bytes(text)!r}"


def visible_text(text: str) -> str:
    """A line as text with its problems visible: undecodable bytes as ``\\xff``, NUL as
    ``\\x00``; cut at MAX_RAW_TEXT characters."""
    text = _MARKS.sub(lambda run: "".join(f"\\x{ord(c) - 0xDC00:02x}" for c in run.group()),
                      text).replace("\x00", "\\x00")
    if len(text) > MAX_RAW_TEXT:
        text = text[:MAX_RAW_TEXT] + f"... ({len(text) - MAX_RAW_TEXT} more characters)"
    return text


class NoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TextOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    encoding: str = Field("utf8", description=ENCODING_HELP)

    _valid_encoding = field_validator("encoding")(_check_encoding)


def file_sha256(location: str) -> str:
    digest = hashlib.sha256()
    with Path(location).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class FileConnector:
    row_unit: ClassVar[str] = "row"
    Options: ClassVar[type[BaseModel]] = NoOptions

    def fingerprint(self, location: str, options: BaseModel) -> str | None:
        return file_sha256(location)


# Encodings in which a byte 0x0A is always a line break and never part of a character, so a
# file can be cut after any line break and its two parts decoded on their own.
_LINE_SAFE_ENCODINGS = {"utf-8", "utf-8-sig", "iso8859-1", "cp1252", "ascii"}


def line_safe_encoding(encoding: str) -> bool:
    name = "utf-8" if encoding == LOSSY_UTF8 else codecs.lookup(encoding).name
    return name in _LINE_SAFE_ENCODINGS


def scan_file(location: str, prefix_bytes: int | None) -> FileScan:
    """Hash a file and count its line breaks in one pass; also hash its first
    ``prefix_bytes`` bytes (the file as it was when last read, if it only grew since)."""
    digest = hashlib.sha256()
    prefix_sha256: str | None = None
    size = lines = 0
    last = b""
    with Path(location).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            if prefix_bytes is not None and prefix_sha256 is None \
                    and size + len(block) >= prefix_bytes:
                cut = prefix_bytes - size
                digest.update(block[:cut])
                prefix_sha256 = digest.hexdigest()
                digest.update(block[cut:])
            else:
                digest.update(block)
            size += len(block)
            lines += block.count(b"\n")
            last = block[-1:]
    if prefix_bytes == 0:
        prefix_sha256 = hashlib.sha256(b"").hexdigest()
    return FileScan(sha256=digest.hexdigest(), size=size, prefix_sha256=prefix_sha256,
                    lines=lines if last == b"\n" else None)


def _read_from(location: str, start_byte: int) -> bytes:
    with Path(location).open("rb") as handle:
        handle.seek(start_byte)
        return handle.read()


def _first_line(location: str) -> bytes:
    with Path(location).open("rb") as handle:
        return handle.readline()


def _rows_after(frame: pl.DataFrame, lines_before: int) -> pl.LazyFrame:
    return frame.lazy().with_columns(pl.col(ROW_COLUMN) + lines_before)


class _ErrorRows:
    """Rows a connector could not parse: number, reason, text."""

    def __init__(self) -> None:
        self.rows: list[int] = []
        self.reasons: list[str] = []
        self.texts: list[str | None] = []

    def add(self, row: int, reason: str, text: str | None) -> None:
        self.rows.append(row)
        self.reasons.append(reason)
        self.texts.append(None if text is None else visible_text(text))

    def pop(self) -> None:
        for values in (self.rows, self.reasons, self.texts):
            values.pop()

    def frame(self) -> pl.DataFrame:
        return pl.DataFrame({
            ROW_COLUMN: pl.Series(self.rows, dtype=pl.Int64),
            ERROR_COLUMN: pl.Series(self.reasons, dtype=pl.String),
            RAW_TEXT_COLUMN: pl.Series(self.texts, dtype=pl.String),
        })


def _with_errors(parsed: pl.DataFrame, errors: _ErrorRows) -> pl.DataFrame:
    """Parsed rows and error rows as one frame in source order, ``_row`` first."""
    if not errors.rows:
        parsed = parsed.with_columns(pl.lit(None, pl.String).alias(ERROR_COLUMN),
                                     pl.lit(None, pl.String).alias(RAW_TEXT_COLUMN))
        combined = parsed
    else:
        combined = pl.concat([parsed, errors.frame()], how="diagonal_relaxed").sort(ROW_COLUMN)
    return combined.select(ROW_COLUMN, pl.exclude(ROW_COLUMN))


@register
class CsvConnector(FileConnector):
    kind = "csv"
    row_unit = "line"

    class Options(TextOptions):
        delimiter: str = Field(",", min_length=1, max_length=1)

    def read(self, location: str, options: BaseModel) -> pl.LazyFrame:
        assert isinstance(options, self.Options)
        return self._read_text(Path(location).read_bytes(), options).lazy()

    def _read_text(self, data: bytes, options: CsvConnector.Options) -> pl.DataFrame:
        text = decode_text(data, options.encoding)
        frame = read_csv_fast(text, options.delimiter)
        if frame is None:
            with _no_gc():
                frame = read_csv_text(text, options.delimiter, options.encoding)
        return frame

    def scan(self, location: str, prefix_bytes: int | None) -> FileScan:
        return scan_file(location, prefix_bytes)

    def read_appended(self, location: str, options: BaseModel, start_byte: int,
                      lines_before: int) -> pl.LazyFrame | None:
        """The appended lines read under the file's header (its first line)."""
        assert isinstance(options, self.Options)
        header = _first_line(location)
        # A header with a line break in a quoted name is not its first line alone.
        if (not line_safe_encoding(options.encoding) or not header.strip()
                or header.count(b'"') % 2):
            return None
        # The header is line 1 of what is read, the first appended line lines_before + 1.
        frame = self._read_text(header + _read_from(location, start_byte), options)
        return _rows_after(frame, lines_before - 1)


@contextlib.contextmanager
def _no_gc() -> Iterator[None]:
    """Millions of small lists and strings make no cycles; collecting them all along costs
    more than the parse (a third of the time of a large CSV)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def read_csv_text(text: str, delimiter: str, encoding: str) -> pl.DataFrame:
    """CSV text -> every value as text, ``_row`` the line a record starts on (header = 1).

    A record with more or fewer fields than the header, with undecodable bytes or NUL bytes,
    or with a quote left open at the end of the file is an error row; a blank line is skipped.
    """
    # A quote left open swallows the rest of the file into one field: let it, then report it.
    csv.field_size_limit(max(csv.field_size_limit(), min(sys.maxsize, 2**31 - 1)))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header: list[str] = []
    for record in reader:
        if record:
            header = record
            break
    header_problem = _text_problem(delimiter.join(header), encoding)
    if header_problem:
        raise ValueError(f"line {reader.line_num} (header): {header_problem}")
    names = _column_names(header)
    width = len(names)

    good: list[list[str]] = []
    good_lines: list[int] = []
    # (first line, last line, reason); reason None: the text decides (undecodable/NUL bytes).
    bad: list[tuple[int, int, str | None]] = []
    check_text = bool(_MARKS.search(text)) or "\x00" in text
    previous = reader.line_num
    first = 0
    last_record: list[str] = []
    for record in reader:
        first, previous = previous + 1, reader.line_num
        if len(record) == width and not check_text:
            good.append(record)
            good_lines.append(first)
        elif len(record) == width:
            bad.append((first, previous, None))
        elif record:  # a blank line is no record
            fields = "field" if len(record) == 1 else "fields"
            bad.append((first, previous, f"has {len(record)} {fields}, header has {width}"))
        last_record = record or last_record
    # A quote never closed runs the last record to the end of the file: it ends inside a field.
    open_quote = bool(last_record) and (
        not text.endswith(("\n", "\r")) or last_record[-1].endswith(("\n", "\r")))

    errors = _ErrorRows()
    lines = list(io.StringIO(text, newline="")) if bad or open_quote else []

    def text_of(first: int, last: int) -> str:
        return "".join(lines[first - 1:last]).rstrip("\r\n")

    for start, end, reason in bad:
        problem = reason or _text_problem(text_of(start, end), encoding)
        if problem is None:
            good.append(next(csv.reader([text_of(start, end)], delimiter=delimiter)))
            good_lines.append(start)
        else:
            errors.add(start, problem, text_of(start, end))
    if open_quote and _quote_left_open(text_of(first, previous), delimiter):
        if good_lines and good_lines[-1] == first:
            good.pop()
            good_lines.pop()
        elif errors.rows and errors.rows[-1] == first:
            errors.pop()
        errors.add(first, OPEN_QUOTE_REASON,
                   text_of(first, previous))
    if bad and check_text:
        order = sorted(range(len(good_lines)), key=good_lines.__getitem__)
        good = [good[i] for i in order]
        good_lines = [good_lines[i] for i in order]
    columns: Sequence[Sequence[str]] = list(zip(*good, strict=True)) if good else [()] * width
    parsed = pl.DataFrame(
        [pl.Series(ROW_COLUMN, good_lines, dtype=pl.Int64)]
        + [pl.Series(name, column, dtype=pl.String)
           for name, column in zip(names, columns, strict=True)]
    )
    return _with_errors(_missing_if_empty(parsed), errors)


def _missing_if_empty(frame: pl.DataFrame) -> pl.DataFrame:
    """An empty field is a missing value, as every other reader of a CSV has it."""
    # The text columns by type, not by name: pl.col("*") or pl.col("^id$") is a pattern.
    return frame.with_columns(pl.when(pl.col(pl.String) != "").then(pl.col(pl.String)))


def read_csv_fast(text: str, delimiter: str) -> pl.DataFrame | None:
    """What :func:`read_csv_text` returns, read by Polars; None when that is not certain.

    Polars reads the text and writes back what it read; unless that is the text byte for
    byte (a missing last line break aside), None. When it is, the text is CSV as Polars
    writes it: every record of as many fields as the header, quoted only where needed,
    which the csv module reads back to the same values (a null and "" both as null). What
    else could differ is checked below: records spanning lines, blank lines, NUL bytes.
    """
    if not text or not delimiter.isascii() or delimiter in '"\r\n':
        return None
    newline = "\r\n" if "\r" in text else "\n"
    try:
        data = text.encode()  # fails on the marks of undecodable bytes
        frame = pl.read_csv(data, separator=delimiter, infer_schema=False)
        written = io.BytesIO()
        frame.write_csv(written, separator=delimiter, line_terminator=newline)
    except Exception:  # whatever Polars makes of the text, the careful reader decides
        return None
    whole = data if data.endswith(b"\n") else data + newline.encode()
    lines = frame.height + 1
    names = _column_names(frame.columns)
    if (written.getvalue() != whole
            # A line break in a field (or a CR, which the csv module breaks lines at too)
            # would start the next records a line further down.
            or whole.count(b"\n") != lines
            or (newline == "\r\n" and whole.count(b"\r") != lines)
            # The careful reader skips a blank line, Polars writes a one-column null so.
            or newline.encode() * 2 in whole
            or b"\x00" in whole  # a NUL byte makes its line an error row
            # Names the careful reader makes no frame of: it says so.
            or ROW_COLUMN in names or len(set(names)) < len(names)):
        return None
    frame.columns = names
    parsed = frame.select(pl.int_range(2, lines + 1, dtype=pl.Int64).alias(ROW_COLUMN), pl.all())
    return _with_errors(_missing_if_empty(parsed), _ErrorRows())


def _text_problem(text: str, encoding: str) -> str | None:
    if _MARKS.search(text):
        return invalid_bytes_reason(text, encoding)
    if "\x00" in text:
        return "contains a NUL byte"
    return None


def _quote_left_open(text: str, delimiter: str) -> bool:
    """Whether a record's text ends inside a quoted field (a truncated last record)."""
    strict = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        for _ in strict:
            pass
    except csv.Error as error:
        return "unexpected end of data" in str(error)
    return False


def _column_names(header: list[str]) -> list[str]:
    """Header names; an empty one becomes column_N, a repeated one name_duplicated_K."""
    names: list[str] = []
    seen: dict[str, int] = {}
    for index, name in enumerate(header):
        name = name or f"column_{index + 1}"
        if name in seen:
            seen[name] += 1
            name = f"{name}_duplicated_{seen[name] - 1}"
        else:
            seen[name] = 1
        names.append(name)
    return names


# Rows of a JSON source: (row number, parsed value).
JsonRecords = Iterable[tuple[int, object]]


def _frame_from_records(records: JsonRecords, errors: _ErrorRows, encoding: str,
                        check_marks: bool) -> pl.DataFrame:
    """Columns from parsed JSON objects, built column by column (no list of dicts); anything
    that is not an object, or holds undecodable bytes, becomes an error row."""
    columns: dict[str, list[object]] = {}
    rows: list[int] = []
    for row, record in records:
        if not isinstance(record, dict):
            errors.add(row, f"expected a JSON object, got {type(record).__name__}",
                       json.dumps(record, ensure_ascii=False))
            continue
        if check_marks:
            text = json.dumps(record, ensure_ascii=False)
            if _MARKS.search(text):
                errors.add(row, invalid_bytes_reason(text, encoding), text)
                continue
        count = len(rows)
        rows.append(row)
        for key, value in record.items():
            column = columns.get(key)
            if column is None:
                column = columns[key] = [None] * count
            column.append(_scalar_text(value))
        for column in columns.values():
            if len(column) == count:
                column.append(None)
    series = [pl.Series(ROW_COLUMN, rows, dtype=pl.Int64)]
    for key, values in columns.items():
        # A key that is a list in some records is a list in all: a lone scalar becomes [scalar].
        if any(isinstance(value, list) for value in values):
            values = [value if value is None or isinstance(value, list) else [value]
                      for value in values]
            series.append(pl.Series(key, values, dtype=pl.List(pl.String)))
        else:
            series.append(pl.Series(key, values, dtype=pl.String))
    return pl.DataFrame(series)


def _scalar_text(value: object) -> object:
    # Lists stay lists (topics, counties); nested objects and scalars become text.
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list):
        return [None if v is None else str(v) for v in value]
    if isinstance(value, dict):
        return json.dumps(value)
    return json.dumps(value) if isinstance(value, bool) else str(value)


@register
class NdjsonConnector(FileConnector):
    kind = "ndjson"
    row_unit = "line"
    Options = TextOptions

    def read(self, location: str, options: BaseModel) -> pl.LazyFrame:
        assert isinstance(options, TextOptions)
        return self._read_text(Path(location).read_bytes(), options).lazy()

    def _read_text(self, data: bytes, options: TextOptions) -> pl.DataFrame:
        text = decode_text(data, options.encoding)
        frame = read_ndjson_fast(text)
        if frame is None:
            with _no_gc():
                frame = read_ndjson_text(text, options.encoding)
        return frame

    def scan(self, location: str, prefix_bytes: int | None) -> FileScan:
        return scan_file(location, prefix_bytes)

    def read_appended(self, location: str, options: BaseModel, start_byte: int,
                      lines_before: int) -> pl.LazyFrame | None:
        assert isinstance(options, TextOptions)
        if not line_safe_encoding(options.encoding):
            return None
        return _rows_after(self._read_text(_read_from(location, start_byte), options),
                           lines_before)


def read_ndjson_text(text: str, encoding: str) -> pl.DataFrame:
    """NDJSON text -> a row per line, ``_row`` its number; a line that is blank, not JSON,
    not an object or has undecodable bytes is an error row."""
    errors = _ErrorRows()
    check_marks = bool(_MARKS.search(text))
    records = _ndjson_records(text, errors, encoding, check_marks)
    return _with_errors(_frame_from_records(records, errors, encoding, check_marks=False),
                        errors)


# Rows Polars looks at for the types of a NDJSON file; when a later row disagrees, the file
# does not survive the round trip of read_ndjson_fast and goes to the careful reader.
NDJSON_INFER_ROWS = 10_000


# Polars types of a JSON key whose cast to text gives what _scalar_text gives: integers as
# digits, booleans as JSON has them (true, false; in a list Python's True, so not cast).
_CAST_AS_SCALAR_TEXT: dict[pl.DataType, pl.DataType] = {
    pl.String(): pl.String(), pl.Int64(): pl.String(), pl.Boolean(): pl.String(),
    pl.Null(): pl.String(), pl.List(pl.String()): pl.List(pl.String()),
    pl.List(pl.Int64()): pl.List(pl.String()), pl.List(pl.Null()): pl.List(pl.String()),
}


def read_ndjson_fast(text: str) -> pl.DataFrame | None:
    """What :func:`read_ndjson_text` returns, read by Polars; None when that is not certain.

    Polars reads the text and writes back what it read; unless that is the text byte for
    byte (last line break aside), None. When it is, every line is one JSON object with the
    same keys in the same order, each once, every value of a key of one JSON type (an
    integer written as an integer, a float with a point or exponent, exactly), so json.loads
    would give the values Polars has; they are then rendered as :func:`_scalar_text` does.
    """
    if not text:
        return None
    try:
        data = text.encode()  # fails on the marks of undecodable bytes
        frame = pl.read_ndjson(data, infer_schema_length=NDJSON_INFER_ROWS)
        written = io.BytesIO()
        frame.write_ndjson(written)
    except Exception:  # whatever Polars makes of the text, the careful reader decides
        return None
    whole = data if data.endswith(b"\n") else data + b"\n"
    if written.getvalue() != whole or ROW_COLUMN in frame.columns:  # _row: as for CSV
        return None
    columns = [pl.Series(ROW_COLUMN, range(1, frame.height + 1), dtype=pl.Int64)]
    for column in frame.get_columns():
        if column.dtype == pl.Float64:  # str(float) exactly, which no Polars cast promises
            columns.append(pl.Series(column.name, [None if value is None else str(value)
                                                   for value in column.to_list()], pl.String))
        elif column.dtype in _CAST_AS_SCALAR_TEXT:
            columns.append(column.cast(_CAST_AS_SCALAR_TEXT[column.dtype]))
        else:
            return None  # e.g. nested objects, lists of floats: rendered in Python
    return _with_errors(pl.DataFrame(columns), _ErrorRows())


def _ndjson_records(text: str, errors: _ErrorRows, encoding: str,
                    check_marks: bool) -> JsonRecords:
    """(line number, parsed object) per line, one line at a time; a blank line, a line that
    is not JSON or has undecodable bytes goes to ``errors``."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the newline ending the last line
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            errors.add(number, "blank line", None)
            continue
        if check_marks and _MARKS.search(line):
            errors.add(number, invalid_bytes_reason(line, encoding), line.rstrip("\r"))
            continue
        try:
            yield number, json.loads(line)
        except json.JSONDecodeError as error:
            errors.add(number, f"not valid JSON ({error.msg})", line.rstrip("\r"))


@register
class JsonConnector(FileConnector):
    kind = "json"

    class Options(TextOptions):
        records_path: str = Field("", description="Dotted path to the list of records, e.g. "
                                  "'data.items'; empty when the file is the list.")

    def read(self, location: str, options: BaseModel) -> pl.LazyFrame:
        assert isinstance(options, self.Options)
        text = decode_text(Path(location).read_bytes(), options.encoding)
        try:
            document = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"{location}: line {error.lineno}: not valid JSON "
                             f"({error.msg})") from None
        for key in filter(None, options.records_path.split(".")):
            if not isinstance(document, dict) or key not in document:
                raise ValueError(f"{location}: records_path {options.records_path!r}: no key "
                                 f"{key!r}")
            document = document[key]
        if not isinstance(document, list):
            raise ValueError(f"{location}: expected a list of records")
        errors = _ErrorRows()
        frame = _frame_from_records(enumerate(document, start=1), errors, options.encoding,
                                    check_marks=bool(_MARKS.search(text)))
        return _with_errors(frame, errors).lazy()


@register
class ParquetConnector(FileConnector):
    kind = "parquet"

    def read(self, location: str, options: BaseModel) -> pl.LazyFrame:
        return pl.scan_parquet(location).with_row_index(ROW_COLUMN, offset=1)


@register
class ExcelConnector(FileConnector):
    kind = "excel"

    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True)
        sheet: str | None = Field(None, description="Sheet name; default the first sheet.")

    def read(self, location: str, options: BaseModel) -> pl.LazyFrame:
        assert isinstance(options, self.Options)
        frame = pl.read_excel(
            location,
            sheet_name=options.sheet,
            engine="calamine",
            infer_schema_length=0,
            drop_empty_rows=False,
        )
        # Row 1 of the sheet is the header.
        return frame.with_row_index(ROW_COLUMN, offset=2).lazy()
