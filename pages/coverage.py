"""Coverage gaps & redundancy (leadership, analysts): where threat activity meets no current
analytic product, and where centers write the same thing twice. A click on a heat-map cell
filters every page to its topic and area."""

from __future__ import annotations

from typing import Any

import polars as pl
import streamlit as st

from dashboard.analytics.coverage import LEVELS, CoverageScope, Level
from dashboard.pagemodels.coverage import coverage_page
from dashboard.views.coverage import (
    center_topic_figure,
    gap_heatmap,
    gap_list_html,
    product_cards_html,
)
from dashboard.views.export import to_safe_csv
from dashboard.views.formatting import markdown_text
from page_glue import (
    audited_download,
    current_filters,
    load_context,
    page_model,
    request_filter_change,
    stix_download,
)

CHART_CONFIG = {"displaylogo": False}
MAX_CLUSTERS_SHOWN = 8
MAX_GAPS_LISTED = 5
MAX_PRODUCTS_PER_CENTER = 4
HANDLED_KEY = "coverage_cell_handled"


def narrow_to_clicked_cell(event: Any, level: Level, scope: CoverageScope) -> None:
    """A click on a heat-map cell narrows the shared filters to its topic and area (once per
    new click)."""
    points = ((event or {}).get("selection") or {}).get("points") or []
    cells = [tuple(point["customdata"][:2]) for point in points
             if len(point.get("customdata") or ()) >= 2]
    if not cells:
        st.session_state.pop(HANDLED_KEY, None)  # so the same cell can be clicked again later
        return
    if st.session_state.get(HANDLED_KEY) == cells[0]:
        return
    st.session_state[HANDLED_KEY] = cells[0]
    topic, area = cells[0]
    known_areas = scope.regions if level == "region" else scope.counties
    if topic not in scope.topics or area not in known_areas:
        return
    if level == "region":
        request_filter_change(categories=(topic,), regions=(area,), counties=())
    else:
        request_filter_change(categories=(topic,), counties=(area,), regions=())


def csv_download(label: str, table: pl.DataFrame, name: str, key: str) -> None:
    """A formula-safe CSV of ``table`` for the period shown, recorded in the audit trail."""
    audited_download(context, label, to_safe_csv(table),
                     f"{name}_{period.start}_{period.end}.csv", table.height, key)


context = load_context()
config = context.config
filters = current_filters()

st.title("Coverage gaps & redundancy")
heading, switch = st.columns([5, 1])
level: Level = switch.segmented_control(  # type: ignore[assignment]
    "Cells by", list(LEVELS), format_func=LEVELS.__getitem__, default="region",
    key="coverage_level") or "region"
page = page_model(context, coverage_page, filters, level=level)
period, scope, figures = page.period, page.scope, page.figures
settings = scope.settings
window = figures.product_window
heading.caption(
    f"{period.label()} · activity: incidents "
    f"{'(cross-center duplicates once)' if filters.duplicates_once else '(every report)'}, "
    f"severity-weighted · coverage: products current on {period.end:%d %b %Y} (published in "
    f"the {settings.current_window_days} days before) · a cell is a gap with at least "
    f"{settings.min_incidents} incidents and a score of {settings.gap_min_score:g} or more · "
    "click a cell to filter every page to it")

area_word = LEVELS[level]
active = figures.cells.filter(pl.col("incidents") > 0).height
cards = st.columns(5)
cards[0].metric("Gaps", f"{figures.gaps.height:,}", border=True,
                help="Cells with significant activity and no, or too little, current coverage.")
cards[1].metric("Active cells", f"{active:,}/{figures.cells.height:,}", border=True,
                help=f"Topic × {area_word.lower()} cells with at least one incident in the "
                "period, of all the cells in view.")
cards[2].metric("Covered by 2+ centers", f"{figures.overlaps.height:,}", border=True,
                help="Cells on which two or more centers have a current product.")
cards[3].metric("Near-duplicates", f"{figures.clusters.height:,}", border=True,
                help=f"Clusters of similar products by different centers, {window.label()}.")
cards[4].metric("Duplicate reports",
                f"{int(figures.duplicate_pairs['duplicates'].sum()):,}", border=True,
                help="Reports of an event another center had already reported (linked at "
                "ingest), in the period.")

st.subheader("Where threat activity meets no current product")
event = st.plotly_chart(gap_heatmap(figures.cells, scope, level), width="stretch",
                        key=f"coverage_heatmap_{level}", on_select="rerun",
                        selection_mode="points", config=CHART_CONFIG)
narrow_to_clicked_cell(event, level, scope)
st.caption("Each cell: incidents · current products. Colour: gap score (weighted activity "
           "left uncovered, relative to the average active cell); grey cells are covered; "
           "blank cells had no incident.")

st.subheader("Gaps, worst first")
if figures.gaps.is_empty():
    st.success(f"No gap under these filters: no cell with at least {settings.min_incidents} "
               f"incidents in the period scores {settings.gap_min_score:g} or more.",
               icon=":material/check_circle:")
else:
    st.html(gap_list_html(figures.gaps, MAX_GAPS_LISTED))
    if figures.gaps.height > MAX_GAPS_LISTED:
        st.caption(f"{figures.gaps.height - MAX_GAPS_LISTED} more in the table below.")
    with st.expander("Every gap as a table", expanded=figures.gaps.height > MAX_GAPS_LISTED):
        gaps = figures.gaps.with_row_index("rank", offset=1)
        # The cell and its figures first, the cell pinned; the sentence (which repeats them)
        # last: first, at 640 px, it pushed the figures off a 1440 px screen (issue 14).
        st.dataframe(
            gaps.select("rank", "topic_label", "area_label", "score", "incidents",
                        "change_pct", "current_products", "needed_products", "reason"),
            hide_index=True, width="stretch", key="coverage_gaps",
            column_config={
                "rank": st.column_config.NumberColumn("#", width="small", pinned=True),
                "reason": st.column_config.TextColumn("Why", width="large"),
                "topic_label": st.column_config.TextColumn("Topic", pinned=True),
                "area_label": st.column_config.TextColumn(area_word, pinned=True),
                "score": st.column_config.ProgressColumn(
                    "Gap score", format="%.2f", min_value=0.0,
                    max_value=max(1.0, float(gaps["score"].max()))),  # type: ignore[arg-type]
                "incidents": st.column_config.NumberColumn("Incidents", format="localized"),
                "change_pct": st.column_config.NumberColumn("Change %", format="%+.0f%%"),
                "current_products": "Current products", "needed_products": "Needed",
            },
        )
cells_column, stix_column = st.columns([1, 1])
with cells_column:
    csv_download("Download every cell (CSV)", figures.cells, f"coverage_cells_{level}",
                 "coverage_cells_csv")
with stix_column:
    stix_download(context, filters, "coverage", "coverage_stix")

st.subheader("Redundancy")
duplicates_total = int(figures.duplicate_pairs["duplicates"].sum())
near, overlap, doubled = st.tabs([
    f"Near-duplicate products ({figures.clusters.height})",
    f"Overlapping effort ({figures.overlaps.height})",
    f"Duplicate incidents ({duplicates_total:,})",
])
with near:
    st.caption(
        f"Products of different centers on a shared topic and overlapping area, published at "
        f"most {settings.near_duplicate_max_days} days apart, whose titles and summaries are "
        f"similar (TF-IDF cosine ≥ {settings.near_duplicate_min_similarity:g}); products "
        f"published {window.label()}. One center's own series never forms a cluster.")
    if figures.clusters.is_empty():
        st.info("No near-duplicate products in this window.", icon=":material/info:")
    for cluster in figures.clusters.head(MAX_CLUSTERS_SHOWN).iter_rows(named=True):
        centers = ", ".join(markdown_text(scope.center_label(c)) for c in cluster["centers"])
        topics = ", ".join(markdown_text(scope.topics.get(t, t)) for t in cluster["topics"])
        st.markdown(
            f"**Cluster {cluster['cluster']}** · {cluster['size']} products from {centers} · "
            f"{topics} · {cluster['first_published']:%d %b} – "
            f"{cluster['last_published']:%d %b %Y} · similarity {cluster['similarity']:.2f}")
        members = figures.cluster_members.filter(pl.col("cluster") == cluster["cluster"])
        st.html(product_cards_html(members, scope, similarity_column="similarity"))
    if figures.clusters.height > MAX_CLUSTERS_SHOWN:
        st.caption(f"{figures.clusters.height - MAX_CLUSTERS_SHOWN} more clusters in the CSV.")
    csv_download("Download near-duplicate products (CSV)", figures.cluster_members,
                 "near_duplicates", "coverage_clusters_csv")

with overlap:
    st.caption(f"Cells on which two or more centers have a current product (published in the "
               f"{settings.current_window_days} days to {period.end:%d %b %Y}), the most "
               "centers first, then the most products beyond the cell's need. Pick a row to "
               "see the products side by side.")
    if figures.overlaps.is_empty():
        st.info("No cell is covered by more than one center.", icon=":material/info:")
    else:
        # The centers' names (a long list) last, after the figures; the cell pinned.
        chosen = st.dataframe(
            figures.overlaps.select("topic_label", "area_label", "center_count",
                                    "current_products", "needed_products",
                                    "surplus_products", "incidents", "center_names"),
            hide_index=True, width="stretch", key="coverage_overlaps", on_select="rerun",
            selection_mode="single-row", height=260,
            column_config={"topic_label": st.column_config.TextColumn("Topic", pinned=True),
                           "area_label": st.column_config.TextColumn(area_word, pinned=True),
                           "center_count": "Centers", "center_names": "Who",
                           "current_products": "Current products",
                           "needed_products": "Needed",
                           "surplus_products": st.column_config.NumberColumn(
                               "Beyond need", help="Current products beyond one per "
                               f"{settings.incidents_per_product} incidents"),
                           "incidents": st.column_config.NumberColumn(
                               "Incidents", format="localized")})
        rows = chosen.selection.rows if chosen else []  # type: ignore[attr-defined]
        cell = figures.overlaps.row(rows[0] if rows else 0, named=True)
        products = page.cell_products(cell["topic"], cell["area_id"])
        st.markdown(f"**{markdown_text(cell['topic_label'])} · "
                    f"{markdown_text(cell['area_label'])}**: "
                    f"{cell['current_products']} current products from "
                    f"{cell['center_count']} centers")
        columns = st.columns(cell["center_count"])
        for column, center_id in zip(columns, cell["centers"], strict=True):
            own = products.filter(pl.col("center_id") == center_id)
            with column:
                st.markdown(f"**{markdown_text(scope.center_label(center_id))}** · {own.height} "
                            f"{'product' if own.height == 1 else 'products'}")
                st.html(product_cards_html(own.head(MAX_PRODUCTS_PER_CENTER), scope))
                if own.height > MAX_PRODUCTS_PER_CENTER:
                    st.caption(f"and {own.height - MAX_PRODUCTS_PER_CENTER} more")
        csv_download("Download overlapping cells (CSV)", figures.overlaps.drop("centers"),
                     f"overlapping_effort_{level}", "coverage_overlaps_csv")

with doubled:
    st.caption("The same event reported by two centers (same category, close in place and "
               "time; linked at ingest, never deleted), per pair of centers, in the period.")
    if figures.duplicate_pairs.is_empty():
        st.info("No duplicate reports in the period.", icon=":material/info:")
    else:
        names = dict(scope.centers)
        pairs = figures.duplicate_pairs.with_columns(
            pl.col("center_a").replace_strict(names, default=pl.col("center_a")).alias("name_a"),
            pl.col("center_b").replace_strict(names, default=pl.col("center_b")).alias("name_b"),
            pl.col("top_category").replace_strict(dict(scope.topics),
                                                  default=pl.col("top_category")),
        )
        st.dataframe(
            pairs.select("name_a", "name_b", "duplicates", "first_by_a", "first_by_b",
                         "top_category"),
            hide_index=True, width="stretch", key="coverage_duplicate_pairs",
            column_config={"name_a": st.column_config.TextColumn("Center A", pinned=True),
                           "name_b": st.column_config.TextColumn("Center B", pinned=True),
                           "duplicates": st.column_config.NumberColumn(
                               "Duplicate reports", format="localized"),
                           "first_by_a": "A reported first", "first_by_b": "B reported first",
                           "top_category": "Most common category"})
        csv_download("Download duplicate reports per center pair (CSV)", pairs,
                     "duplicate_incidents", "coverage_duplicates_csv")

st.subheader("Who writes about what")
st.plotly_chart(center_topic_figure(figures.center_topics, scope), width="stretch",
                key="coverage_center_topics", config=CHART_CONFIG)
st.caption(f"Products published {window.label()} under the filters, counted once per topic "
           "they carry.")
csv_download("Download products per center and topic (CSV)", figures.center_topics,
             "center_topics", "coverage_center_topics_csv")

with st.expander("How coverage is measured"):
    weights = ", ".join(f"{severity}: {weight:g}" for severity, weight in
                        enumerate(settings.severity_weights, start=1))
    st.markdown(
        f"""
- **Cell**: a threat category × a {area_word.lower()}, over the period chosen in the sidebar.
- **Activity**: the cell's incidents under the filters, weighted by severity ({weights}; no
  severity: {settings.unknown_severity_weight:g}), against the equal period before.
- **Coverage**: the products whose topics include the category and whose area includes the
  {area_word.lower()} (a statewide product covers every cell; a county product covers its
  region but not the county next door), *current* when published in the
  {settings.current_window_days} days up to the end of the period.
- **Need**: one current product per {settings.incidents_per_product} incidents in
  {settings.current_window_days} days at the cell's pace in the period, at least one.
- **Gap score**: the share of the need that is missing × the cell's weighted activity ÷ the
  average active cell's. 1.0 is an average cell left entirely uncovered. A cell is a **gap**
  with a score of {settings.gap_min_score:g} or more and at least {settings.min_incidents}
  incidents.
- Thresholds live in `settings.toml` under `[coverage]`.
""")
