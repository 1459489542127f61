"""Spreadsheet-safe exports of tables that may hold feed text."""

from __future__ import annotations

import re
from collections.abc import Mapping

import polars as pl

# Decimals a float column is shown with on screen, so that a CSV says what the page says; any
# other float column is shown with DEFAULT_DECIMALS.
DISPLAY_DECIMALS: Mapping[str, int] = {
    "share_pct": 1, "outside_aor_pct": 1, "change_pct": 0, "per_1000_km2": 1,
    "per_100k": 1, "rate_per_100k": 1, "hours_since_load": 1, "z_score": 2, "gap_score": 2,
    "distance_km": 2, "ratio": 2, "expected": 1, "p_value": 4, "score": 2, "latitude": 5,
    "longitude": 5,
}
DEFAULT_DECIMALS = 2
MAX_NAME_PART_CHARS = 60

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


def to_safe_csv(frame: pl.DataFrame, decimals: Mapping[str, int] | None = None) -> bytes:
    """CSV bytes (UTF-8 with BOM, so Excel reads accents) with formulas neutralised; list
    columns joined with '; '; floats rounded as the pages show them (DISPLAY_DECIMALS, or
    ``decimals`` by column)."""
    places = {**DISPLAY_DECIMALS, **(decimals or {})}
    flat = frame.with_columns(
        pl.col(name).list.join("; ") for name, dtype in frame.schema.items()
        if isinstance(dtype, pl.List)
    ).with_columns(
        pl.col(name).round(places.get(name, DEFAULT_DECIMALS))
        for name, dtype in frame.schema.items() if dtype.is_float()
    )
    return b"\xef\xbb\xbf" + neutralise_formulas(flat).write_csv().encode()


def download_name(stem: str, period_text: str, filter_values: list[str], suffix: str = "csv"
                  ) -> str:
    """A download's file name that says what it holds: ``stem_period_filters.suffix`` in
    lowercase ASCII words (e.g. ``counties_2026-11-04-to-2026-12-01_narcotics_06037.csv``);
    a long filter list is cut and says how many values it had."""
    def slug(text: str) -> str:
        return re.sub(r"[^a-z0-9.]+", "-", text.lower()).strip("-.")

    filters = "_".join(part for part in (slug(value) for value in filter_values) if part)
    if len(filters) > MAX_NAME_PART_CHARS:
        cut = filters[:MAX_NAME_PART_CHARS].rstrip("-_")
        filters = f"{cut}-and-more-{len(filter_values)}-filters"
    parts = [slug(stem), slug(period_text), filters]
    return "_".join(part for part in parts if part) + f".{suffix}"
