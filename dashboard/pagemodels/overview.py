"""The Overview's model: headline figures, what rose, where, and the latest products; and what a
view covers, in words (its heading and every active filter), for the pages that say so."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlsplit

import plotly.graph_objects as go
import polars as pl

from dashboard.analytics.filters import (
    FILTER_FIELDS,
    PERIOD_PRESETS,
    Filters,
    Period,
    filter_value_names,
    period_of,
)
from dashboard.analytics.picture import Kpi, filtered_products, overview_figures
from dashboard.pagemodels.common import release_note, with_withheld
from dashboard.security.audience import ViewData
from dashboard.settings import ProjectConfig
from dashboard.views.formatting import markdown_text
from dashboard.views.overview import change_bars_figure

# Headline figures a partner's release cannot answer (they are not counts of released cells).
NOT_RELEASED_KPIS = ("Centers reporting", "Open quarantine")
LATEST_PRODUCTS = 10
# The period is said by the heading and the caption, not in the list of filters.
PERIOD_FIELDS = ("period", "start", "end")
# What a county is called where it is not a county.
COUNTY_WORDS = {"LA": ("Parish", "parishes"), "AK": ("Borough", "boroughs")}
# Places or categories named one by one in a heading; more are counted.
MAX_NAMED = 2
# The columns of a table of products (the topics and summary are on each product's card).
PRODUCT_COLUMNS = {"published": "Published", "center": "Center", "title": "Title",
                   "product_type": "Type", "marking": "Marking"}
# The canonical product fields carry no link to the source yet (dashboard/schema.py): a feed's
# link shows once a product column of this name exists.
SOURCE_LINK_COLUMN = "source_url"


@dataclass(frozen=True)
class ViewScope:
    """What a view shows, in words."""

    heading: str  # e.g. "Los Angeles County · Narcotics · last 28 days"
    filters: tuple[str, ...]  # every active filter but the period, in full ("Region: North")

    @property
    def filters_line(self) -> str | None:
        """'Filters: Region: North State · Threat category: Gangs, Narcotics'; None: none."""
        return "Filters: " + " · ".join(self.filters) if self.filters else None


def _listed(values: list[str], plural: str) -> str:
    """Up to MAX_NAMED values by name ('A + B'), more counted ('3 regions')."""
    return " + ".join(values) if len(values) <= MAX_NAMED else f"{len(values)} {plural}"


def _count(number: int, noun: str, plural: str) -> str:
    return f"{number} {noun if number == 1 else plural}"


def period_words(filters: Filters, period: Period) -> str:
    """'last 28 days', 'year to date', or the custom range's dates."""
    if filters.period == "custom":
        return period.label()
    return PERIOD_PRESETS[filters.period].lower()


def counted_days(period: Period, data: ViewData) -> str:
    """The days a view's figures count, in words: the period ('04 Nov 2026 – 01 Dec 2026
    (28 days)'); for partners, the complete weeks (Monday to Sunday) their release counts in
    it, those whose Sunday falls in the period up to the last day released ('02 Nov 2026 –
    29 Nov 2026 (4 complete weeks, Monday to Sunday)'). A partner's "last 28 days" ending on a
    Tuesday is not the 28 days the caption used to name (issue 14)."""
    if data.release is None:
        return f"{period.label()} ({period.days} days)"
    last = min(period.end, data.release.through)
    last_sunday = last - timedelta(days=last.isoweekday() % 7)
    if last_sunday < period.start:
        return f"{period.label()}: no complete week (Monday to Sunday) released yet"
    weeks = (last_sunday - period.start).days // 7 + 1
    first_monday = last_sunday - timedelta(weeks=weeks - 1, days=6)
    return (f"{first_monday:%d %b %Y} – {last_sunday:%d %b %Y} ({weeks} complete "
            f"{'week' if weeks == 1 else 'weeks'}, Monday to Sunday)")


def view_scope(config: ProjectConfig, filters: Filters, period: Period,
               statewide: str = "Statewide picture") -> ViewScope:
    """The heading of a view (place · categories · period; ``statewide`` when no place filter
    is set) and each active filter with its values in full, named as the config names them."""
    names = filter_value_names(config)
    county_word, county_plural = COUNTY_WORDS.get(config.settings.state,
                                                   ("County", "counties"))
    regions = [name if name.lower().endswith("region") else f"{name} region"
               for name in (names["region"].get(r, r) for r in filters.regions)]
    counties = [f"{names['county'].get(c, c)} {county_word}" for c in filters.counties]
    if len(regions) + len(counties) <= MAX_NAMED:
        place = " + ".join(regions + counties)
    else:
        place = " + ".join(_count(len(items), noun, plural) for items, noun, plural in (
            (regions, "region", "regions"), (counties, county_word.lower(), county_plural))
            if items)
    if config.settings.network:
        # A network's whole area is its member states, not a state.
        statewide = statewide.replace("Statewide", "Network-wide")
    parts = [place or statewide]
    if filters.categories:
        parts.append(_listed([names["category"].get(c, c) for c in filters.categories],
                             "threat categories"))
    parts.append(period_words(filters, period))

    default = Filters()
    active: list[str] = []
    for field in FILTER_FIELDS:
        value = getattr(filters, field.name)
        if field.name in PERIOD_FIELDS or value == getattr(default, field.name):
            continue
        if field.widget == "toggle":
            active.append(f"{field.label}: {'on' if value else 'off'}")
            continue
        labels: Mapping[Any, str] = names.get(field.value_labels or "", {})
        active.append(f"{field.label}: "
                      + ", ".join(str(labels.get(item, item)) for item in value))
    return ViewScope(" · ".join(parts), tuple(active))


def safe_link(address: object) -> str | None:
    """``address`` when it is an absolute http(s) URL a browser may open; else None (never a
    javascript:, data: or relative link)."""
    if not isinstance(address, str) or any(c.isspace() or ord(c) < 32 for c in address):
        return None
    parts = urlsplit(address)
    return address if parts.scheme.lower() in ("http", "https") and parts.netloc else None


@dataclass(frozen=True)
class ProductCard:
    """One analytic product as a reader opens it (names, not keys)."""

    published: date
    center: str
    title: str
    product_type: str
    topics: str
    marking: str
    summary: str | None  # None: the viewer receives no summaries (partners)
    link: str | None  # the source's http(s) address; None when the feed gave none

    def details_markdown(self) -> str:
        """The card's details as escaped Markdown (feed text shown as text)."""
        lines = [f"**{markdown_text(self.title)}**",
                 markdown_text(f"{self.published:%d %b %Y} · {self.center} · "
                               f"{self.product_type} · {self.marking}"),
                 markdown_text(f"Topics: {self.topics or '—'}")]
        if self.summary is not None:
            lines.append(markdown_text(self.summary or "No summary in the feed."))
        return "\n\n".join(lines)


def product_cards(config: ProjectConfig, products: pl.DataFrame, center_names: Mapping[str, str],
                  with_summaries: bool) -> list[ProductCard]:
    """``products`` (canonical rows) as cards, in their order."""
    types = config.taxonomy.product_types
    categories = config.labels["category"]
    return [ProductCard(
        published=row["published_date"],
        center=center_names.get(row["center_id"], row["center_id"]), title=row["title"],
        product_type=types.get(row["product_type"], row["product_type"]),
        topics=", ".join(categories.get(t, t) for t in row["topics"] or []),
        marking=row["tlp"], summary=(row["summary"] or "") if with_summaries else None,
        # A link, like the summary, is a record's detail: partners receive neither.
        link=safe_link(row.get(SOURCE_LINK_COLUMN)) if with_summaries else None,
    ) for row in products.iter_rows(named=True)]


def products_table(cards: list[ProductCard]) -> pl.DataFrame:
    """The cards as a table with a reader's headers, in the cards' order."""
    return pl.DataFrame(
        [{column: getattr(card, column) for column in PRODUCT_COLUMNS} for card in cards],
        schema={"published": pl.Date, **{c: pl.String for c in PRODUCT_COLUMNS
                                         if c != "published"}},
    ).rename(PRODUCT_COLUMNS)


@dataclass(frozen=True)
class OverviewPage:
    period: Period
    scope: ViewScope
    caption: str
    kpis: list[Kpi]
    by_category: pl.DataFrame  # category, current, previous, change, change_pct
    by_county: pl.DataFrame  # county_fips, ...
    by_region: pl.DataFrame  # region_id, ...
    category_changes: go.Figure
    place_changes: dict[str, go.Figure]  # "County" and "Region"
    county_counts: pl.DataFrame  # every county: incidents, per_1000_km2, change, ...
    latest: pl.DataFrame  # latest products (keys, for the briefing)
    latest_products: list[ProductCard]  # the same, as a reader opens them
    note: str | None  # what a partner's figures leave out


def overview_page(config: ProjectConfig, data: ViewData, filters: Filters,
                  today: date) -> OverviewPage:
    selection = data.selection(filters)
    period = period_of(filters, today)
    frames = data.frames()
    figures = overview_figures(frames.incidents, frames.products, frames.regions,
                               frames.quarantine_rows, selection, period,
                               config.county_to_region)
    kpis = figures.kpis
    county_counts = figures.county_counts
    if data.aggregates_only:
        kpis = [kpi for kpi in kpis if kpi.label not in NOT_RELEASED_KPIS]
        county_counts = with_withheld(config, data, selection, period, county_counts,
                                      "county_fips")
    # A partner's incidents are released by complete week; products are not.
    counted = (f"{counted_days(period, data)} against the {period.days} days before"
               if data.release is None else
               f"Incidents {counted_days(period, data)}, products {period.label()}, each "
               f"against the same span before")
    caption = (f"{counted} · "
               + ("duplicates counted once" if selection.duplicates_once
                  else "every report counted"))
    labels = config.labels
    latest = filtered_products(frames.products, selection, config.county_to_region,
                               period).sort("published_at", descending=True).head(LATEST_PRODUCTS)
    return OverviewPage(
        period, view_scope(config, selection, period), caption, kpis, figures.by_category,
        figures.by_county, figures.by_region,
        change_bars_figure(figures.by_category, "category", labels["category"],
                           "Categories changing most"),
        {"County": change_bars_figure(figures.by_county, "county_fips", labels["county"],
                                      "Counties changing most"),
         "Region": change_bars_figure(figures.by_region, "region_id", labels["region"],
                                      "Regions changing most")},
        county_counts, figures.latest,
        product_cards(config, latest, labels["center"], with_summaries=not data.aggregates_only),
        release_note(config, data, selection, period))
