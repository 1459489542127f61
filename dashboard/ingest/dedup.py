"""Link cross-center duplicates: the same event reported by two centers.

Two reports are the same event when they come from different centers, share a category, occurred
within ``max_minutes`` of each other, and lie within ``max_km`` (or, when either lacks
coordinates, name the same county). Each group of linked reports keeps its earliest report as
the original; every other report links to it. Nothing is deleted.
"""

from __future__ import annotations

import math

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


def ordered_reports(incidents: pl.DataFrame) -> pl.DataFrame:
    """The link columns and each report's ``order``: by time, then center and id, so "first"
    is well defined."""
    return incidents.select(LINK_COLUMNS).with_columns(
        pl.struct("occurred_at", "center_id", "incident_id").rank("dense").alias("order"))


def candidate_pairs(incidents: pl.DataFrame, max_km: float, max_minutes: float) -> pl.DataFrame:
    """Pairs (first, second) of reports close enough to be one event, first reported earlier."""
    return _candidate_pairs(ordered_reports(incidents), max_km, max_minutes)


def _candidate_pairs(reports: pl.DataFrame, max_km: float, max_minutes: float) -> pl.DataFrame:
    window_us = int(max_minutes * 60 * 1_000_000)
    base = reports.with_columns(
        (pl.col("occurred_at").dt.epoch("us") // window_us).alias("bucket"))
    found = pl.concat([_located_pairs(base, max_km), _unlocated_pairs(base)])
    # Orient every pair earliest-first, so the same pair found twice collapses to one.
    found = found.filter(pl.col("order") != pl.col("order_b")).select(
        pl.min_horizontal("order", "order_b").alias("order"),
        pl.max_horizontal("order", "order_b").alias("order_b"),
    ).unique()
    attributes = base.drop("bucket")
    pairs = found.join(attributes, on="order").join(
        attributes.rename(lambda name: f"{name}_b"), on="order_b"
    ).filter(pl.col("center_id") != pl.col("center_id_b")).with_columns(
        ((pl.col("occurred_at_b") - pl.col("occurred_at")).dt.total_seconds() / 60).abs()
        .alias("minutes_apart"),
        haversine_km(pl.col("latitude"), pl.col("longitude"), pl.col("latitude_b"),
                     pl.col("longitude_b")).alias("distance_km"),
    )
    near = (
        pl.when(pl.col("distance_km").is_not_null()).then(pl.col("distance_km") <= max_km)
        .otherwise(pl.col("county_fips") == pl.col("county_fips_b"))
    )
    return pairs.filter((pl.col("minutes_apart") <= max_minutes) & near).select(
        "center_id", "incident_id", "order", "center_id_b", "incident_id_b", "order_b",
        "distance_km", "minutes_apart",
    )


# A little slack on the grid cells, so rounding never splits a pair at exactly the threshold.
GRID_SLACK = 1.001
PAIR_COLUMNS = {"order": pl.UInt32, "order_b": pl.UInt32}


def _located_pairs(base: pl.DataFrame, max_km: float) -> pl.DataFrame:
    """Candidate pairs of reports that both have coordinates: same category, same or adjacent
    time bucket and same or adjacent grid cell (cells at least ``max_km`` across).

    Joining on time alone pairs every report with every other of its category in a window,
    which grows with the square of the volume (tens of GB at a few million reports); the grid
    keeps the candidates to reports that may really be within ``max_km``.
    """
    located = base.filter(pl.col("latitude").is_not_null() & pl.col("longitude").is_not_null())
    if located.is_empty():
        return pl.DataFrame(schema=PAIR_COLUMNS)
    lat_step = max_km / (EARTH_RADIUS_KM * math.pi / 180) * GRID_SLACK
    # Two points within max_km differ in longitude by at most 2 asin(sin(d / 2R) / cos(lat))
    # at the highest latitude among them (haversine); near a pole, one column of cells.
    highest = min(float(located["latitude"].abs().max()), 90.0)  # type: ignore[arg-type]
    spread = math.sin(max_km / (2 * EARTH_RADIUS_KM)) / max(math.cos(math.radians(highest)),
                                                            1e-12)
    columns = 1
    if spread < 1:
        lon_step = math.degrees(2 * math.asin(spread)) * GRID_SLACK
        # Whole columns round the globe, so the cells at -180 and +180 are neighbours.
        columns = max(1, math.floor(360 / lon_step))
    lon_step = 360 / columns
    keys = located.select(
        "order", "category", "bucket",
        (pl.col("latitude") / lat_step).floor().cast(pl.Int64).alias("row"),
        ((pl.col("longitude") + 180) / lon_step).floor().cast(pl.Int64)
        .mod(columns).alias("column"),
    )
    # Join on rows of cells (a strip across the state holds few reports of one category in
    # one window) and keep neighbouring columns. Each unordered pair needs finding once: the
    # later bucket's report looks at the rows above, at and below its own; within one bucket,
    # at its own row and the one above.
    on = ["category", "bucket", "row"]
    found = []
    for d_bucket, d_row in ((0, 0), (0, 1), (1, -1), (1, 0), (1, 1)):
        shifted = keys.with_columns(pl.col("bucket") + d_bucket, pl.col("row") + d_row)
        found.append(keys.join(shifted, on=on, suffix="_b").filter(
            (pl.col("column") - pl.col("column_b")).mod(columns).is_in([0, 1, columns - 1])
        ).select("order", "order_b"))
    return pl.concat(found)


def _unlocated_pairs(base: pl.DataFrame) -> pl.DataFrame:
    """Candidate pairs in which a report lacks coordinates: same category and county, same or
    adjacent time bucket."""
    unlocated = base.filter(pl.col("latitude").is_null() | pl.col("longitude").is_null())
    if unlocated.is_empty():
        return pl.DataFrame(schema=PAIR_COLUMNS)
    on = ["category", "county_fips", "bucket"]
    keys = unlocated.select("order", *on)
    shifted = pl.concat([keys.with_columns(pl.col("bucket") + step) for step in (-1, 0, 1)])
    return base.select("order", *on).join(shifted, on=on, suffix="_b").select("order", "order_b")


def link_duplicates(incidents: pl.DataFrame, max_km: float, max_minutes: float) -> pl.DataFrame:
    """Rows of ``incident_links``: each duplicate report and the original it repeats."""
    reports = ordered_reports(incidents)
    pairs = _candidate_pairs(reports, max_km, max_minutes)
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
