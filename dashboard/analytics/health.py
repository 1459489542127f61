"""Data health: what each center sent, when, and what the ingest could not take."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import polars as pl

from dashboard.frames import HealthFrames


def rows_per_center(frames: HealthFrames) -> pl.DataFrame:
    """One row per center: stored incidents and products, quarantined, flagged, duplicates."""
    stored = frames.rows_per_center.pivot(
        "table_name", index="center_id", values="rows", aggregate_function="sum"
    )
    for name in ("incidents", "products"):
        if name not in stored.columns:
            stored = stored.with_columns(pl.lit(0, pl.Int64).alias(name))
    quarantined = frames.quarantine.group_by("center_id").agg(pl.len().alias("quarantined"))
    flagged = frames.flagged.group_by("center_id").agg(pl.len().alias("flagged_locations"))
    duplicates = frames.links.group_by("center_id").agg(pl.len().alias("duplicate_reports"))
    table = frames.centers.select("center_id", "name", "kind")
    for extra in (stored, quarantined, flagged, duplicates):
        table = table.join(extra, on="center_id", how="left")
    counts = ["incidents", "products", "quarantined", "flagged_locations", "duplicate_reports"]
    return table.with_columns(pl.col(counts).fill_null(0).cast(pl.Int64)).select(
        "center_id", "name", "kind", *counts
    ).sort("center_id")


def source_freshness(frames: HealthFrames, now: datetime) -> pl.DataFrame:
    """Per source: when it was last checked and last loaded, how old that is, last counts."""
    runs = frames.runs.sort("run_id")
    if runs.is_empty():
        return pl.DataFrame(schema={
            "center_id": pl.String, "source_name": pl.String, "table_name": pl.String,
            "connector_kind": pl.String, "last_checked_at": pl.Datetime("us", "UTC"),
            "last_loaded_at": pl.Datetime("us", "UTC"), "hours_since_load": pl.Float64,
            "rows_read": pl.Int64, "rows_rejected": pl.Int64, "read_from_line": pl.Int64,
            "location": pl.String,
        })
    keys = ["center_id", "source_name"]
    checked = runs.group_by(keys).agg(
        pl.col("table_name").last(), pl.col("connector_kind").last(),
        pl.col("location").last(), pl.col("finished_at").max().alias("last_checked_at"),
    )
    loaded = runs.filter(pl.col("status") == "loaded").group_by(keys).agg(
        pl.col("finished_at").last().alias("last_loaded_at"),
        pl.col("rows_read").last(), pl.col("rows_rejected").last(),
        # Null when the last load read the whole source, else the first (appended) line read.
        (pl.col("read_from_line") if "read_from_line" in runs.columns
         else pl.lit(None, pl.Int64)).last().alias("read_from_line"),
    )
    return checked.join(loaded, on=keys, how="left").with_columns(
        ((pl.lit(now) - pl.col("last_loaded_at")).dt.total_seconds() / 3600)
        .round(1).alias("hours_since_load")
    ).select(
        "center_id", "source_name", "table_name", "connector_kind", "last_checked_at",
        "last_loaded_at", "hours_since_load", "rows_read", "rows_rejected", "read_from_line",
        "location",
    ).sort(keys)


def failed_sources(frames: HealthFrames) -> pl.DataFrame:
    """Sources whose latest run failed: when, and the run's one-line error."""
    runs = frames.runs.sort("run_id")
    schema = pl.Schema({"center_id": pl.String(), "source_name": pl.String(),
                        "table_name": pl.String(), "failed_at": pl.Datetime("us", "UTC"),
                        "error": pl.String()})
    if runs.is_empty() or "error" not in runs.columns:
        return pl.DataFrame(schema=schema)
    latest = runs.group_by("center_id", "source_name").agg(pl.all().last())
    return latest.filter(pl.col("status") == "failed").select(
        "center_id", "source_name", "table_name", pl.col("finished_at").alias("failed_at"),
        "error",
    ).cast(schema).sort("center_id", "source_name")


# A record a connector could not read is quarantined with this field (validate.py).
UNREADABLE_FIELD = "(row)"
UNREADABLE_PREFIX = "unreadable row: "


def standard_conformance(frames: HealthFrames, top: int = 3) -> pl.DataFrame:
    """Per source whose connector speaks an exchange standard (its ``standard``): which one,
    the records its last load read, how many conformed (an object the standard's validator
    rejects is quarantined as an unreadable row) and their share, and its ``top`` most common
    failures, each failing element with record numbers and values left out, e.g.
    ``$.objects[*].first_seen: '…' does not match the timestamp format (2)``."""
    from data_sources import CONNECTORS

    standards = {kind: str(standard) for kind, connector in CONNECTORS.items()
                 if (standard := getattr(connector, "standard", None))}
    keys = ["center_id", "source_name"]
    schema = pl.Schema({"center_id": pl.String(), "source_name": pl.String(),
                        "standard": pl.String(), "records": pl.Int64(),
                        "conformant": pl.Int64(), "conformant_share": pl.Float64(),
                        "common_failures": pl.String()})
    runs = frames.runs
    if runs.is_empty():
        return pl.DataFrame(schema=schema)
    loads = runs.filter((pl.col("status") == "loaded")
                        & pl.col("connector_kind").is_in(list(standards))).sort("run_id") \
        .group_by(keys).agg(pl.col("connector_kind").last(), pl.col("rows_read").last())
    unreadable = frames.quarantine.filter(pl.col("field") == UNREADABLE_FIELD)
    problems = unreadable.select(
        *keys, pl.col("reason").str.strip_prefix(UNREADABLE_PREFIX).str.split("; ")
        .alias("problem")).explode("problem").with_columns(
        pl.col("problem").map_elements(_failure_kind, return_dtype=pl.String))
    common = problems.group_by(*keys, "problem").agg(pl.len().alias("times")).sort(
        "times", "problem", descending=[True, False]).group_by(keys, maintain_order=True).agg(
        pl.format("{} ({})", "problem", "times").head(top).str.join("\n")
        .alias("common_failures"))
    failed = unreadable.group_by(keys).agg(pl.len().cast(pl.Int64).alias("failed"))
    return loads.join(failed, on=keys, how="left").join(common, on=keys, how="left").select(
        *keys, pl.col("connector_kind").replace_strict(standards).alias("standard"),
        pl.col("rows_read").alias("records"),
        (pl.col("rows_read") - pl.col("failed").fill_null(0)).alias("conformant"),
        ((pl.col("rows_read") - pl.col("failed").fill_null(0))
         / pl.when(pl.col("rows_read") > 0).then(pl.col("rows_read"))).alias(
            "conformant_share"),
        "common_failures").cast(schema).sort(keys)


def _failure_kind(problem: str) -> str:
    """One failure with what varies from record to record left out."""
    return re.sub(r"'[^']*'", "'…'", re.sub(r"\$\.objects\[\d+\]", "$.objects[*]", problem))


def last_load_per_center(frames: HealthFrames) -> pl.DataFrame:
    """When each center's data last changed (its newest load of any source)."""
    loads = frames.runs.filter(pl.col("status") == "loaded")
    return loads.group_by("center_id").agg(
        pl.col("finished_at").max().alias("last_loaded_at")
    ).sort("center_id")


def quarantine_by_field(quarantine: pl.DataFrame) -> pl.DataFrame:
    """Rejected rows grouped by center, source and failing field, with an example reason."""
    return quarantine.group_by("center_id", "source_name", "field").agg(
        pl.len().alias("rows"),
        pl.col("reason").first().alias("example_reason"),
        pl.col("row_number").min().alias("first_row"),
    ).sort("rows", "center_id", "source_name", descending=[True, False, False])


def filter_quarantine(quarantine: pl.DataFrame, centers: list[str] | None = None,
                      fields: list[str] | None = None, text: str = "") -> pl.DataFrame:
    """Quarantined rows narrowed by center, failing field and a case-insensitive search."""
    selected = quarantine
    if centers:
        selected = selected.filter(pl.col("center_id").is_in(centers))
    if fields:
        selected = selected.filter(pl.col("field").is_in(fields))
    if text:
        needle = text.lower()
        selected = selected.filter(
            pl.col("reason").str.to_lowercase().str.contains(needle, literal=True)
            | pl.col("value").fill_null("").str.to_lowercase().str.contains(needle, literal=True)
        )
    return selected.sort("center_id", "source_name", "row_number")


def status_summary(frames: HealthFrames, table_rows: dict[str, int],
                   now: datetime) -> dict[str, Any]:
    """What `threat-picture status --json` prints."""
    last_run = frames.runs.sort("run_id").tail(1).to_dicts()
    return {
        "data_version": frames.data_version,
        "tables": table_rows,
        "centers": rows_per_center(frames).to_dicts(),
        "quarantine": {
            "rows": frames.quarantine.height,
            "by_field": quarantine_by_field(frames.quarantine).drop("example_reason").to_dicts(),
        },
        "sources": source_freshness(frames, now).to_dicts(),
        "failed_sources": failed_sources(frames).to_dicts(),
        "last_run": last_run[0] if last_run else None,
    }
