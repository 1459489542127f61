"""Validate: normalized text rows -> typed canonical rows, and rejected rows with their reasons.

Every check is derived from the field's definition in ``dashboard.schema`` (type, required,
pattern, range, length, vocabulary); the few rules that span fields live in ``ROW_RULES``.
All checks are vectorized: one pass builds an error message per field per row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import polars as pl

from dashboard.ingest.normalize import RAW_RECORD_COLUMN
from dashboard.schema import Field, Table
from dashboard.settings import IngestSettings
from data_sources import ERROR_COLUMN, ROW_COLUMN

# Tried in order when a source names no format; offsets (Z, +02:00) convert to UTC.
AWARE_FORMATS = ("%Y-%m-%dT%H:%M:%S%.f%#z", "%Y-%m-%d %H:%M:%S%.f%#z")
NAIVE_FORMATS = (
    "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M",
    "%Y-%m-%d",
)
TRUE_WORDS = ("true", "t", "yes", "y", "1")
FALSE_WORDS = ("false", "f", "no", "n", "0")

FIELD_COLUMN = "_fields"
REASON_COLUMN = "_reason"
VALUE_COLUMN = "_value"


@dataclass(frozen=True)
class ValidationContext:
    vocabularies: dict[str, frozenset[str]]
    naive_timezone: str
    datetime_formats: dict[str, str]
    rules: IngestSettings
    now: datetime
    row_unit: str = "row"  # how the source counts rows, for messages ("line" in text files)


@dataclass(frozen=True)
class Validated:
    valid: pl.DataFrame  # canonical dtypes, plus _row and _raw_record
    rejected: pl.DataFrame  # _row, _fields, _reason, _value, _raw_record


def _parse_datetime(text: pl.Expr, field: Field, context: ValidationContext) -> pl.Expr:
    explicit = context.datetime_formats.get(field.name)
    candidates: list[pl.Expr] = []
    if explicit is not None:
        formats_aware = [explicit] if "%z" in explicit or "%#z" in explicit else []
        formats_naive = [] if formats_aware else [explicit]
    else:
        formats_aware, formats_naive = list(AWARE_FORMATS), list(NAIVE_FORMATS)
    for fmt in formats_aware:
        parsed = text.str.to_datetime(fmt, strict=False, time_unit="us")
        candidates.append(parsed.dt.convert_time_zone("UTC"))
    for fmt in formats_naive:
        parsed = text.str.to_datetime(fmt, strict=False, time_unit="us")
        local = parsed.dt.replace_time_zone(
            context.naive_timezone, ambiguous="earliest", non_existent="null"
        )
        candidates.append(local.dt.convert_time_zone("UTC"))
    return pl.coalesce(candidates)


def _naive_parsed(text: pl.Expr, field: Field, context: ValidationContext) -> pl.Expr:
    """The value read as a local date/time with no zone (null where it is not one)."""
    explicit = context.datetime_formats.get(field.name)
    if explicit is not None:
        formats = [] if "%z" in explicit or "%#z" in explicit else [explicit]
    else:
        formats = list(NAIVE_FORMATS)
    if not formats:
        return pl.lit(None, pl.Datetime("us"))
    return pl.coalesce([text.str.to_datetime(fmt, strict=False, time_unit="us")
                        for fmt in formats])


def _typed(field: Field, context: ValidationContext) -> pl.Expr:
    """The field converted to its canonical dtype (null where it does not convert)."""
    text = pl.col(field.name)
    match field.type:
        case "text" | "text_list":
            return text
        case "integer":
            number = text.cast(pl.Float64, strict=False)
            return pl.when(number == number.round(0)).then(number).cast(pl.Int64, strict=False)
        case "float":
            number = text.cast(pl.Float64, strict=False)
            return pl.when(number.is_finite()).then(number)
        case "boolean":
            lowered = text.str.to_lowercase()
            return (pl.when(lowered.is_in(TRUE_WORDS)).then(True)
                    .when(lowered.is_in(FALSE_WORDS)).then(False))
        case "datetime":
            return _parse_datetime(text, field, context)
    raise AssertionError(field.type)


def _type_message(field: Field, context: ValidationContext) -> str:
    if field.type == "datetime":
        explicit = context.datetime_formats.get(field.name)
        expected = f"format {explicit!r}" if explicit else "an ISO-8601 date/time"
        return f"not a valid date/time (expected {expected}, local time {context.naive_timezone})"
    return {
        "integer": "not a whole number",
        "float": "not a number",
        "boolean": "not true/false",
    }[field.type]


def _field_errors(field: Field, context: ValidationContext) -> pl.Expr:
    """An error message per row for one field, null where the value is fine."""
    raw = pl.col(field.name)
    typed = pl.col(f"{field.name}__typed")
    checks: list[tuple[pl.Expr, pl.Expr | str]] = []
    is_list = field.type == "text_list"
    present = raw.is_not_null() & (raw.list.len() > 0 if is_list else pl.lit(True))
    if field.required:
        checks.append((~present, "required field is empty"))
    if field.type == "datetime":
        # A local time in the hour skipped when clocks go forward names no instant. (A local
        # time in the hour repeated when they go back is read at its first, daylight, offset.)
        checks.append((raw.is_not_null() & typed.is_null()
                       & _naive_parsed(raw, field, context).is_not_null(),
                       f"local time that does not exist in {context.naive_timezone} "
                       "(skipped when clocks went forward)"))
    if field.type not in ("text", "text_list"):
        checks.append((raw.is_not_null() & typed.is_null(), _type_message(field, context)))
    if field.minimum is not None and field.type in ("integer", "float"):
        checks.append((typed < field.minimum, f"below the minimum {field.minimum:g}"))
    if field.maximum is not None and field.type in ("integer", "float"):
        checks.append((typed > field.maximum, f"above the maximum {field.maximum:g}"))
    if field.type == "datetime":
        earliest = datetime.combine(context.rules.earliest_valid_date, datetime.min.time(), UTC)
        latest = context.now + timedelta(hours=context.rules.future_tolerance_hours)
        checks.append((typed < earliest, f"impossible date: before {earliest:%Y-%m-%d}"))
        checks.append((typed > latest, "impossible date: in the future"))
    if field.max_length is not None and field.type == "text":
        checks.append((raw.str.len_chars() > field.max_length,
                       f"longer than {field.max_length} characters"))
    if field.pattern is not None:
        if is_list:
            bad = raw.list.eval(~pl.element().str.contains(field.pattern)).list.any()
        else:
            bad = ~raw.str.contains(field.pattern)
        checks.append((bad, f"does not match {field.pattern}"))
    if field.vocabulary is not None:
        allowed = sorted(context.vocabularies[field.vocabulary])
        vocabulary_label = field.vocabulary.replace("_", " ")
        if is_list:
            unknown = raw.list.eval(pl.element().filter(~pl.element().is_in(allowed)))
            checks.append((unknown.list.len() > 0, pl.format(
                "{} not among the known {}", unknown.list.join(", "), pl.lit(vocabulary_label))))
        else:
            checks.append((~raw.is_in(allowed), pl.format(
                "'{}' is not among the known {}", raw, pl.lit(vocabulary_label))))
    message: pl.Expr = pl.lit(None, pl.String)
    for failed, text in reversed(checks):
        text_expr = pl.lit(text) if isinstance(text, str) else text
        message = pl.when(failed.fill_null(False)).then(text_expr).otherwise(message)
    return message.alias(f"{field.name}__error")


# Rules across fields: (fields named in the error, condition that is an error, message).
ROW_RULES: dict[str, list[tuple[tuple[str, ...], pl.Expr, str]]] = {
    "incidents": [
        (("latitude", "longitude"),
         pl.col("latitude__typed").is_null() != pl.col("longitude__typed").is_null(),
         "latitude and longitude must be given together"),
        (("county_fips", "latitude", "longitude"),
         pl.col("county_fips").is_null() & pl.col("latitude__typed").is_null(),
         "no location: neither county nor coordinates"),
    ],
    "products": [
        (("county_fips", "region", "statewide"),
         pl.col("county_fips").list.len().fill_null(0).eq(0)
         & pl.col("region").list.len().fill_null(0).eq(0)
         & ~pl.col("statewide__typed").fill_null(False),
         "no area: give counties, regions or statewide"),
    ],
}


def validate(frame: pl.DataFrame, table: Table, context: ValidationContext) -> Validated:
    """Split normalized rows into typed valid rows and rejected rows with reasons."""
    fields = table.feed_fields
    typed = frame.with_columns(
        [_typed(field, context).alias(f"{field.name}__typed") for field in fields]
    )
    errors = typed.with_columns([_field_errors(field, context) for field in fields])

    parts: list[tuple[pl.Expr, pl.Expr, pl.Expr]] = [
        (pl.col(ERROR_COLUMN).is_not_null(), pl.lit("(row)"),
         pl.format("unreadable row: {}", pl.col(ERROR_COLUMN))),
    ]
    for field in fields:
        error = pl.col(f"{field.name}__error")
        parts.append((error.is_not_null(), pl.lit(field.name),
                      pl.format("{}: {}", pl.lit(field.name), error)))
    for names, condition, message in ROW_RULES.get(table.name, []):
        parts.append((condition.fill_null(False), pl.lit(", ".join(names)),
                      pl.lit(f"{', '.join(names)}: {message}")))
    # A row the connector could not parse has nothing else worth reporting.
    unreadable = pl.col(ERROR_COLUMN).is_not_null()
    parts = [parts[0], *[(failed & ~unreadable, name, text) for failed, name, text in parts[1:]]]

    fields_failed = pl.concat_str(
        [pl.when(failed).then(name) for failed, name, _ in parts], separator=", ",
        ignore_nulls=True)
    reasons = pl.concat_str(
        [pl.when(failed).then(text) for failed, _, text in parts], separator="; ",
        ignore_nulls=True)
    first_value = pl.coalesce(
        [pl.when(pl.col(f"{field.name}__error").is_not_null()).then(_as_text(field))
         for field in fields]
    )
    errors = errors.with_columns(
        fields_failed.alias(FIELD_COLUMN), reasons.alias(REASON_COLUMN),
        first_value.alias(VALUE_COLUMN),
    ).with_columns(
        pl.when(pl.col(FIELD_COLUMN).str.len_chars() > 0).then(pl.col(FIELD_COLUMN))
        .alias(FIELD_COLUMN)
    )
    is_rejected = pl.col(FIELD_COLUMN).is_not_null()
    rejected = errors.filter(is_rejected).select(
        ROW_COLUMN, FIELD_COLUMN, REASON_COLUMN, VALUE_COLUMN, RAW_RECORD_COLUMN
    )
    valid = errors.filter(~is_rejected).select(
        ROW_COLUMN,
        RAW_RECORD_COLUMN,
        "center_id",
        *[pl.col(f"{field.name}__typed").alias(field.name) for field in fields],
    )
    valid, repeated = _split_repeated_keys(valid, table, context.row_unit)
    return Validated(valid=valid, rejected=pl.concat([rejected, repeated]).sort(ROW_COLUMN))


def _split_repeated_keys(valid: pl.DataFrame, table: Table,
                         row_unit: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A feed that sends the same id twice keeps the first row; the later ones are rejected."""
    keys = [name for name in table.primary_key if name != "center_id"]
    valid = valid.with_columns(pl.col(ROW_COLUMN).min().over(keys).alias("_first_row"))
    first_row = pl.col("_first_row")
    is_repeat = pl.col(ROW_COLUMN) != first_row
    repeated = valid.filter(is_repeat).select(
        ROW_COLUMN,
        pl.lit(", ".join(keys)).alias(FIELD_COLUMN),
        pl.format("{}: repeats the id first sent at {} {}", pl.lit(", ".join(keys)),
                  pl.lit(row_unit), first_row)
        .alias(REASON_COLUMN),
        pl.concat_str([pl.col(key) for key in keys], separator=", ").alias(VALUE_COLUMN),
        RAW_RECORD_COLUMN,
    )
    return valid.filter(~is_repeat).drop("_first_row"), repeated


def _as_text(field: Field) -> pl.Expr:
    column = pl.col(field.name)
    return column.list.join(", ") if field.type == "text_list" else column
