"""Normalize: a connector's raw rows -> canonical field names, text values, value maps applied.

Everything stays text (or a list of text) here so that validation sees exactly what the feed
sent and can quarantine a bad value with its original spelling.
"""

from __future__ import annotations

import polars as pl

from dashboard.schema import TABLES, Table
from dashboard.settings import Center, Source
from data_sources import ERROR_COLUMN, RAW_TEXT_COLUMN, ROW_COLUMN

RAW_RECORD_COLUMN = "_raw_record"
ISO_UTC = "%Y-%m-%dT%H:%M:%S%.f+00:00"
ISO_NAIVE = "%Y-%m-%dT%H:%M:%S%.f"


def as_text(expression: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """One raw column as text (lists as lists of text), trimmed, empty -> null."""
    if isinstance(dtype, pl.List | pl.Array):
        inner = expression.list.eval(pl.element().cast(pl.String).str.strip_chars())
        return inner.list.eval(pl.element().filter(pl.element().str.len_chars() > 0))
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is not None:
            text = expression.dt.convert_time_zone("UTC").dt.to_string(ISO_UTC)
        else:
            text = expression.dt.to_string(ISO_NAIVE)
    elif isinstance(dtype, pl.Date):
        text = expression.dt.to_string("%Y-%m-%d")
    else:
        text = expression.cast(pl.String).str.strip_chars()
    return pl.when(text.str.len_chars() > 0).then(text)


def normalize(raw: pl.LazyFrame, source: Source, center: Center, *,
              raw_records: bool = True) -> pl.DataFrame:
    """Rename to canonical fields, convert to text, apply value maps and defaults.

    The result has every feed field of the source's table (null where the source lacks it),
    ``center_id``, ``_row``, ``_error`` and ``_raw_record`` (the row as the feed had it, JSON;
    null for every row with ``raw_records=False``: the ingest makes the JSON only for the rows
    it quarantines, with :func:`raw_records_of`).
    """
    table = TABLES[source.table]
    raw_schema = raw.collect_schema()
    raw_columns = [name for name in raw_schema
                   if name not in (ROW_COLUMN, ERROR_COLUMN, RAW_TEXT_COLUMN)]
    feed_fields = {field.name for field in table.feed_fields}
    renames = dict(source.columns)
    for column in raw_columns:
        # A column already named like a canonical field needs no map entry.
        if column in feed_fields and column not in renames and column not in renames.values():
            renames[column] = column

    selected: list[pl.Expr] = [
        pl.col(ROW_COLUMN).cast(pl.Int64),
        (pl.col(ERROR_COLUMN).cast(pl.String) if ERROR_COLUMN in raw_schema
         else pl.lit(None, pl.String)).alias(ERROR_COLUMN),
        (_raw_record(raw_columns, raw_schema, RAW_TEXT_COLUMN in raw_schema) if raw_records
         else pl.lit(None, pl.String).alias(RAW_RECORD_COLUMN)),
    ]
    present: set[str] = set()
    for column, field_name in renames.items():
        if column not in raw_schema:
            continue
        field = table.field(field_name)
        text = as_text(pl.col(column), raw_schema[column])
        if field.type == "text_list" and not isinstance(raw_schema[column], pl.List | pl.Array):
            text = _split_list(text, source.list_delimiter)
        selected.append(text.alias(field_name))
        present.add(field_name)
    for field in table.feed_fields:
        if field.name not in present:
            dtype = pl.List(pl.String) if field.type == "text_list" else pl.String
            selected.append(pl.lit(None, dtype).alias(field.name))

    frame = raw.select(selected).collect()
    frame = frame.with_columns(
        [_map_values(frame, table, name, mapping) for name, mapping in source.values.items()]
    )
    default_tlp = source.default_tlp or center.default_tlp
    return frame.with_columns(
        pl.lit(center.id).alias("center_id"),
        pl.col("tlp").fill_null(pl.lit(default_tlp)),
    )


def raw_records_of(raw: pl.LazyFrame, rows: pl.Series) -> pl.DataFrame:
    """``_row`` and ``_raw_record`` (JSON of the row as the feed had it) of the given rows."""
    raw_schema = raw.collect_schema()
    raw_columns = [name for name in raw_schema
                   if name not in (ROW_COLUMN, ERROR_COLUMN, RAW_TEXT_COLUMN)]
    return raw.filter(pl.col(ROW_COLUMN).cast(pl.Int64).is_in(rows.cast(pl.Int64).implode())
                      ).select(
        pl.col(ROW_COLUMN).cast(pl.Int64),
        _raw_record(raw_columns, raw_schema, RAW_TEXT_COLUMN in raw_schema),
    ).collect()


def _split_list(text: pl.Expr, delimiter: str) -> pl.Expr:
    parts = text.str.split(delimiter).list.eval(pl.element().str.strip_chars())
    return parts.list.eval(pl.element().filter(pl.element().str.len_chars() > 0))


def _map_values(frame: pl.DataFrame, table: Table, field_name: str,
                mapping: dict[str, str]) -> pl.Expr:
    """Apply a source's value map; values not in the map pass through (and are validated)."""
    column = pl.col(field_name)
    if table.field(field_name).type == "text_list":
        return column.list.eval(pl.element().replace(mapping)).alias(field_name)
    return column.replace(mapping).alias(field_name)


def _raw_record(raw_columns: list[str], raw_schema: pl.Schema, has_raw_text: bool) -> pl.Expr:
    if not raw_columns:
        record = pl.lit("{}")
    else:
        fields = [as_text(pl.col(name), raw_schema[name]).alias(name) for name in raw_columns]
        record = pl.struct(fields).struct.json_encode()
    if has_raw_text:
        # An unparsable row keeps its text: {"_raw_text": "..."}.
        text = pl.struct(pl.col(RAW_TEXT_COLUMN)).struct.json_encode()
        record = pl.when(pl.col(RAW_TEXT_COLUMN).is_not_null()).then(text).otherwise(record)
    return record.alias(RAW_RECORD_COLUMN)
