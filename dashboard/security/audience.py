"""What a class of viewers receives: the one place the audience policy is applied to data.

Every page model starts from :func:`view_data`, never from the store's frames, so every figure,
table, tooltip, download, briefing and `analyze` output is computed from what the viewer's
*visibility class* may receive:

- **Row policy** (TLP, home center, named recipients; :func:`policy.row_visible`) for every
  class. The class's cut is a mask over the one shared copy of the frames, applied when a page
  model runs, never a stored copy per user or class.
- **Small-cell rule** for partners (aggregates only). Partners receive a *release*: incidents
  counted in one fixed partition, county x threat category x SAR flag x complete week (Monday to
  Sunday, duplicates once). A cell of 1 to k-1 incidents is withheld and counted nowhere; every
  partner figure (totals, changes, rates, shares, Gi* z-scores and classes, baselines,
  anomalies, CompStat) is computed from the released cells alone. A figure that is a function of
  the released cells cannot carry more than they do, whatever view or combination of views is
  asked for, so no withheld count can be derived (differencing two views subtracts released
  cells only). The price: partner figures leave out the withheld cells (pages say how many), end
  with the last complete week, and cannot be cut by center, severity, SAR behaviour or target
  sector (those would split the partition further).

The release is materialised as rows, one per released incident, dated the Sunday of its week,
so the same analytics code serves every class. The national exchange
(:mod:`dashboard.exchange.network`) releases by the same rule and k in its own, finer
partition (:func:`release_cells` with its keys).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date

import polars as pl

from dashboard.analytics.filters import (
    Filters,
    Period,
    incident_filter,
    last_complete_week_end,
    week_ending,
)
from dashboard.frames import SAR_CATEGORY, PictureFrames
from dashboard.security.policy import TLP_RANK, VisibilityClass, row_visible

# The partition partners receive counts in, beside the week (its Sunday: ``occurred_date``).
RELEASE_KEYS = ("county_fips", "region_id", "category")
# Filters that would cut across the partition; a partner's selection never carries them.
NOT_RELEASED_FILTERS = ("sar_behaviors", "target_sectors", "centers", "severities")


def last_released_day(today: date) -> date:
    """The last day partners receive: the end of the last complete week before ``today``."""
    return last_complete_week_end(today)


@dataclass(frozen=True)
class PartnerRelease:
    """The cells a partner class receives: released cells as rows, withheld cells as keys."""

    # The partition's keys (RELEASE_KEYS unless asked otherwise), occurred_date (the week's
    # Sunday) and is_duplicate (False): one row a cell.
    withheld: pl.DataFrame
    through: date  # the last day released (a Sunday)
    min_count: int

    def withheld_cells(self, filters: Filters, county_to_region: dict[str, str],
                       period: Period | None) -> pl.DataFrame:
        """Withheld cells under the filters and in the period (by their week's Sunday)."""
        return self.withheld.filter(incident_filter(
            partner_filters(filters), county_to_region, period))


@dataclass(frozen=True)
class ViewData:
    """The frames as one visibility class may receive them (see the module docstring)."""

    visibility: VisibilityClass
    base: PictureFrames
    incident_mask: pl.Series | None = None  # None: every row
    product_mask: pl.Series | None = None
    release: PartnerRelease | None = None  # partners: incidents are the release's rows

    @property
    def aggregates_only(self) -> bool:
        return self.visibility.aggregates_only

    def frames(self) -> PictureFrames:
        """The class's frames: the shared frames under the masks, built for one computation
        and dropped with it."""
        incidents, products = self.base.incidents, self.base.products
        if self.incident_mask is not None:
            incidents = incidents.filter(self.incident_mask)
        if self.product_mask is not None:
            products = products.filter(self.product_mask)
        return replace(self.base, incidents=incidents, products=products,
                       quarantine_rows=0 if self.aggregates_only else self.base.quarantine_rows)

    def selection(self, filters: Filters) -> Filters:
        """The filters this class may apply (partners: only those the release can answer)."""
        return partner_filters(filters) if self.aggregates_only else filters


def partner_filters(filters: Filters) -> Filters:
    """A partner's selection: no filter across the released partition; duplicates once."""
    return filters.with_changes(duplicates_once=True,
                                **{name: () for name in NOT_RELEASED_FILTERS})


def _mask(rows: pl.DataFrame, visibility: VisibilityClass) -> pl.Series | None:
    mask = rows.select(row_visible(visibility).alias("visible")).to_series()
    return None if mask.all() else mask


def view_data(base: PictureFrames, visibility: VisibilityClass, min_count: int, today: date,
              timezone: str) -> ViewData:
    """What ``visibility`` receives of ``base`` on ``today`` (partners: the release of the
    weeks complete by then; ``min_count`` is k of the small-cell rule)."""
    incident_mask, product_mask = (_mask(base.incidents, visibility),
                                   _mask(base.products, visibility))
    if not visibility.aggregates_only:
        return ViewData(visibility, base, incident_mask, product_mask)
    visible = base.incidents if incident_mask is None else base.incidents.filter(incident_mask)
    rows, release = partner_release(visible, min_count, last_released_day(today), timezone)
    return ViewData(visibility, replace(base, incidents=rows), None, product_mask, release)


def release_cells(incidents: pl.DataFrame, min_count: int, through: date,
                  keys: Sequence[str] = RELEASE_KEYS) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The partition ``keys`` x complete week (``occurred_date``: its Sunday) of the
    incidents up to ``through``, duplicates once: (released cells with ``count`` and
    ``tlp_rank``, withheld cells as keys). A cell of 1 to ``min_count`` - 1 incidents is
    withheld; what is computed from the released cells alone carries nothing of it."""
    rank = {marking: position for position, marking in enumerate(TLP_RANK)}
    cells = incidents.lazy().filter(
        ~pl.col("is_duplicate") & (pl.col("occurred_date") <= through)
    ).group_by(*keys, week_ending(pl.col("occurred_date")).alias("occurred_date")).agg(
        pl.len().alias("count"),
        # The cell's marking: the most restrictive of its incidents (for the banner).
        pl.col("tlp").replace_strict(rank, default=0, return_dtype=pl.Int32).max()
        .alias("tlp_rank"),
    ).collect()
    released = cells.filter(pl.col("count") >= min_count)
    withheld = cells.filter(pl.col("count") < min_count).select(*keys, "occurred_date")
    return released, withheld


def partner_release(incidents: pl.DataFrame, min_count: int, through: date, timezone: str,
                    keys: Sequence[str] = RELEASE_KEYS) -> tuple[pl.DataFrame, PartnerRelease]:
    """Released cells of the partition ``keys`` x week as rows shaped like ``incidents`` (one
    per incident, at its week's Sunday, nothing but the partition's keys and the cell's
    marking), and the release."""
    released, withheld_keys = release_cells(incidents, min_count, through, keys)
    withheld = withheld_keys.with_columns(pl.lit(False).alias("is_duplicate"))
    markings = list(TLP_RANK)
    expanded = released.with_columns(pl.int_ranges(0, pl.col("count")).alias("_each")).explode(
        "_each")
    rows = expanded.select([
        pl.col(name).cast(dtype).alias(name) if name in expanded.columns
        else pl.lit(None, dtype).alias(name)
        for name, dtype in incidents.schema.items()
        if name not in ("tlp", "occurred_at", "is_duplicate", "is_sar")
    ] + [
        pl.col("tlp_rank").replace_strict(dict(enumerate(markings)), return_dtype=pl.String)
        .alias("tlp"),
        # Noon local on the week's Sunday: that day in any time zone a page counts in.
        pl.col("occurred_date").cast(pl.Datetime("us")).dt.offset_by("12h")
        .dt.replace_time_zone(timezone).dt.convert_time_zone("UTC")
        .cast(incidents.schema["occurred_at"]).alias("occurred_at"),
        pl.lit(False).alias("is_duplicate"),
        # The partition has no SAR flag (a finer cut would withhold more): a partner's SARs
        # are the incidents of the SAR category.
        (pl.col("category") == SAR_CATEGORY).alias("is_sar"),
    ]).select(list(incidents.columns))
    return rows, PartnerRelease(withheld=withheld, through=through, min_count=min_count)
