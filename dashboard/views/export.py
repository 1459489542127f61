"""Spreadsheet-safe exports of tables that may hold feed text."""

from __future__ import annotations

import polars as pl

# A cell starting with one of these is a formula to Excel/LibreOffice (CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formulas(frame: pl.DataFrame) -> pl.DataFrame:
    """Prefix text cells that a spreadsheet would run as a formula with a single quote."""
    text_columns = [name for name, dtype in frame.schema.items() if dtype == pl.String]
    risky = pl.col(text_columns).str.starts_with(FORMULA_PREFIXES[0])
    for prefix in FORMULA_PREFIXES[1:]:
        risky = risky | pl.col(text_columns).str.starts_with(prefix)
    return frame.with_columns(
        pl.when(risky).then(pl.lit("'") + pl.col(text_columns)).otherwise(pl.col(text_columns))
        .name.keep()
    ) if text_columns else frame


def to_safe_csv(frame: pl.DataFrame) -> bytes:
    """CSV bytes (UTF-8 with BOM, so Excel reads accents) with formulas neutralised; list
    columns joined with '; '."""
    flat = frame.with_columns(
        pl.col(name).list.join("; ") for name, dtype in frame.schema.items()
        if isinstance(dtype, pl.List)
    )
    return b"\xef\xbb\xbf" + neutralise_formulas(flat).write_csv().encode()
