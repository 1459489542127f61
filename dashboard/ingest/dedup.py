"""Link cross-center duplicates: the same event reported by two centers.

Two reports are the same event when they come from different centers, share a category, occurred
within ``max_minutes`` of each other, and lie within ``max_km`` (or, when either lacks
coordinates, name the same county). Each group of linked reports keeps its earliest report as
the original; every other report links to it. Nothing is deleted.
"""

from __future__ import annotations

import polars as pl

EARTH_RADIUS_KM = 6371.0088
LINK_COLUMNS = ("center_id", "incident_id", "category", "occurred_at", "latitude", "longitude",
                "county_fips")


def haversine_km(lat1: pl.Expr, lon1: pl.Expr, lat2: pl.Expr, lon2: pl.Expr) -> pl.Expr:
    phi1, phi2 = lat1.radians(), lat2.radians()
    half_dphi = (lat2 - lat1).radians() / 2
    half_dlambda = (lon2 - lon1).radians() / 2
    a = half_dphi.sin() ** 2 + phi1.cos() * phi2.cos() * half_dlambda.sin() ** 2
    return 2 * EARTH_RADIUS_KM * a.sqrt().arcsin()


def candidate_pairs(incidents: pl.DataFrame, max_km: float, max_minutes: float) -> pl.DataFrame:
    """Pairs (first, second) of reports close enough to be one event, first reported earlier."""
    window_us = int(max_minutes * 60 * 1_000_000)
    base = incidents.select(LINK_COLUMNS).with_columns(
        (pl.col("occurred_at").dt.epoch("us") // window_us).alias("bucket"),
        # Order of reports: by time, then center and id, so "first" is well defined.
        pl.struct("occurred_at", "center_id", "incident_id").rank("dense").alias("order"),
    )
    # Reports at most one window apart fall in the same or adjacent buckets; joining each
    # report to the others' bucket and bucket + 1 finds every such pair at least once.
    shifted = pl.concat([base, base.with_columns(pl.col("bucket") + 1)])
    pairs = base.join(shifted, on=["category", "bucket"], suffix="_b").filter(
        pl.col("center_id") != pl.col("center_id_b")
    )
    # Orient every pair earliest-first, so the same pair found twice collapses to one.
    left = [c for c in pairs.columns if not c.endswith("_b") and c not in ("category", "bucket")]
    swap = pl.col("order") > pl.col("order_b")
    pairs = pairs.with_columns(
        *[pl.when(swap).then(pl.col(f"{c}_b")).otherwise(pl.col(c)).alias(c) for c in left],
        *[pl.when(swap).then(pl.col(c)).otherwise(pl.col(f"{c}_b")).alias(f"{c}_b")
          for c in left],
    ).with_columns(
        ((pl.col("occurred_at_b") - pl.col("occurred_at")).dt.total_seconds() / 60).abs()
        .alias("minutes_apart"),
        haversine_km(pl.col("latitude"), pl.col("longitude"), pl.col("latitude_b"),
                     pl.col("longitude_b")).alias("distance_km"),
    )
    near = pl.when(pl.col("distance_km").is_not_null()).then(pl.col("distance_km") <= max_km)
    near = near.otherwise(pl.col("county_fips") == pl.col("county_fips_b"))
    return pairs.filter((pl.col("minutes_apart") <= max_minutes) & near).unique(
        ["order", "order_b"]
    ).select(
        "center_id", "incident_id", "order", "center_id_b", "incident_id_b", "order_b",
        "distance_km", "minutes_apart",
    )


def link_duplicates(incidents: pl.DataFrame, max_km: float, max_minutes: float) -> pl.DataFrame:
    """Rows of ``incident_links``: each duplicate report and the original it repeats."""
    pairs = candidate_pairs(incidents, max_km, max_minutes)
    # In time order, a report repeats the earliest report it is directly paired with that is
    # itself an original; so every link is a cross-center pair within the thresholds.
    earlier: dict[int, list[int]] = {}
    for first, second in zip(pairs["order"].to_list(), pairs["order_b"].to_list(), strict=True):
        earlier.setdefault(second, []).append(first)
    original_of: dict[int, int] = {}
    for report in sorted(earlier):
        originals = [other for other in earlier[report] if other not in original_of]
        if originals:
            original_of[report] = min(originals)
    groups = pl.DataFrame(
        {"order": list(original_of), "root": list(original_of.values())},
        schema={"order": pl.UInt32, "root": pl.UInt32},
    )
    reports = incidents.select(LINK_COLUMNS).with_columns(
        pl.struct("occurred_at", "center_id", "incident_id").rank("dense").alias("order")
    )
    duplicate = groups.join(reports, on="order")
    original = reports.rename(lambda name: f"{name}_original")
    linked = duplicate.join(original, left_on="root", right_on="order_original")
    distance = haversine_km(pl.col("latitude"), pl.col("longitude"),
                            pl.col("latitude_original"), pl.col("longitude_original"))
    minutes = ((pl.col("occurred_at") - pl.col("occurred_at_original")).dt.total_seconds() / 60)
    return linked.select(
        "center_id",
        "incident_id",
        pl.col("center_id_original").alias("duplicate_of_center_id"),
        pl.col("incident_id_original").alias("duplicate_of_incident_id"),
        distance.alias("distance_km"),
        minutes.abs().cast(pl.Float64).alias("minutes_apart"),
    ).sort("center_id", "incident_id")
