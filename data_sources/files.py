"""File connectors: csv, ndjson, json, parquet, excel."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import ClassVar, Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from data_sources import ERROR_COLUMN, RAW_TEXT_COLUMN, ROW_COLUMN, register


class NoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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


@register
class CsvConnector(FileConnector):
    kind = "csv"
    row_unit = "line"

    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True)
        delimiter: str = Field(",", min_length=1, max_length=1)
        encoding: Literal["utf8", "utf8-lossy"] = "utf8"

    def read(self, location: str, options: BaseModel) -> pl.LazyFrame:
        assert isinstance(options, self.Options)
        # Everything is read as text so a bad value reaches validation instead of failing the
        # whole file; line 1 is the header.
        frame = pl.scan_csv(
            location,
            separator=options.delimiter,
            encoding=options.encoding,
            infer_schema=False,
        )
        # A quoted value may span lines: a record starts after all the lines before it.
        lines = 1 + pl.sum_horizontal(pl.all().str.count_matches("\n").fill_null(0))
        return frame.with_columns(
            (2 + lines.cum_sum() - lines).cast(pl.UInt32).alias(ROW_COLUMN)
        ).select(ROW_COLUMN, pl.exclude(ROW_COLUMN))


def _frame_from_records(records: list[object], first_row: int) -> pl.DataFrame:
    """Rows from parsed JSON objects; anything that is not an object becomes an error row."""
    rows: list[dict[str, object]] = []
    for record in records:
        if isinstance(record, dict):
            rows.append({key: _scalar_text(value) for key, value in record.items()})
        else:
            rows.append({ERROR_COLUMN: f"expected a JSON object, got {type(record).__name__}"})
    # A key that is a list in some records is a list in all: a lone scalar becomes [scalar].
    list_keys = {key for row in rows for key, value in row.items() if isinstance(value, list)}
    for row in rows:
        for key in list_keys & row.keys():
            if row[key] is not None and not isinstance(row[key], list):
                row[key] = [row[key]]
    frame = pl.from_dicts(rows, infer_schema_length=None) if rows else pl.DataFrame()
    return frame.with_row_index(ROW_COLUMN, offset=first_row)


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

    def read(self, location: str, options: BaseModel) -> pl.LazyFrame:
        records: list[object] = []
        with Path(location).open(encoding="utf-8", errors="replace") as handle:
            for text in handle:
                if not text.strip():
                    records.append({ERROR_COLUMN: "blank line"})
                    continue
                try:
                    records.append(json.loads(text))
                except json.JSONDecodeError as error:
                    records.append({ERROR_COLUMN: f"not valid JSON ({error.msg})",
                                    RAW_TEXT_COLUMN: text.rstrip("\r\n")})
        return _frame_from_records(records, first_row=1).lazy()


@register
class JsonConnector(FileConnector):
    kind = "json"

    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True)
        records_path: str = Field("", description="Dotted path to the list of records, e.g. "
                                  "'data.items'; empty when the file is the list.")

    def read(self, location: str, options: BaseModel) -> pl.LazyFrame:
        assert isinstance(options, self.Options)
        with Path(location).open(encoding="utf-8") as handle:
            document = json.load(handle)
        for key in filter(None, options.records_path.split(".")):
            if not isinstance(document, dict) or key not in document:
                raise ValueError(f"{location}: records_path {options.records_path!r}: no key "
                                 f"{key!r}")
            document = document[key]
        if not isinstance(document, list):
            raise ValueError(f"{location}: expected a list of records")
        return _frame_from_records(document, first_row=1).lazy()


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
