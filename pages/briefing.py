"""Briefing (leadership, analysts): a marked PDF or self-contained HTML snapshot of the picture
for the shared filters, previewed here, produced (archived, and logged as a dissemination) and
downloaded; earlier briefings from the archive."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import streamlit as st

from dashboard.analytics.filters import PERIOD_PRESETS, Filters
from dashboard.briefing.archive import (
    MIME_TYPES,
    archive_folder,
    archived_briefings,
    archived_file,
    produce,
)
from dashboard.briefing.charts import map_png
from dashboard.briefing.compose import (
    BRIEFING_PERIODS,
    FORMATS,
    Briefing,
    BriefingError,
    BriefingTable,
)
from dashboard.pagemodels.briefing import briefing_preview
from dashboard.schema import TLP_MARKINGS
from dashboard.security.policy import TLP_RANK, may_produce_briefing
from dashboard.views.formatting import markdown_text
from dashboard.views.picture import kpi_delta
from page_glue import (
    PageContext,
    audited_download,
    context_data,
    current_filters,
    engine,
    health_frames,
    load_context,
    render_marking_banner,
    stix_download,
)

PRODUCED_KEY = "briefing_produced"
PREVIEW_TABLES = ("kpis", "hotspots", "regions", "compstat", "gaps", "clusters", "centers",
                  "products")


@st.cache_data(max_entries=16, show_spinner="Composing the briefing...")
def preview(_context: PageContext, cache_key: tuple[object, ...], author: str,
            filters: Filters, audience: str, marking_floor: str) -> Briefing:
    """The briefing as the viewer would produce it now (not yet stamped), cached per data
    version, visibility class, author and choice."""
    return briefing_preview(_context.config, context_data(_context), _context.viewer,
                            health_frames(_context.store_url, _context.data_version), filters,
                            _context.today, audience, marking_floor)


@st.cache_data(max_entries=16, show_spinner="Drawing the map...")
def preview_map(_context: PageContext, cache_key: tuple[object, ...], author: str,
                filters: Filters, audience: str, marking_floor: str) -> bytes:
    return map_png(preview(_context, cache_key, author, filters, audience, marking_floor))


def table_frame(table: BriefingTable) -> pl.DataFrame:
    """A briefing table as the dataframe widget shows it (st.dataframe escapes its cells)."""
    return pl.DataFrame([list(row) for row in table.rows], schema=list(table.columns),
                        orient="row")


context = load_context()
config = context.config
viewer = context.viewer
filters = current_filters()
settings = config.settings.briefing
folder = archive_folder(settings.archive_dir)

st.title("Briefing")
st.caption("A marked snapshot of the picture for the filters in the sidebar: the same figures "
           "as the pages, as a PDF or one self-contained HTML file. Producing one archives it "
           "and logs who released it, to whom and why (28 CFR 23.20(f)).")
if not may_produce_briefing(viewer):
    st.error("Partners receive briefings; they do not produce them.")
    st.stop()

periods = [*BRIEFING_PERIODS, *(["custom"] if filters.period == "custom" else [])]
top = st.columns([4, 3, 2])
period_key = top[0].segmented_control(
    "Period", periods, format_func=PERIOD_PRESETS.__getitem__, key="briefing_period",
    default=filters.period if filters.period in periods else "7d",
    help="Custom range: the one chosen in the sidebar.") or "7d"
audiences = config.taxonomy.audiences
audience = top[1].selectbox("Audience", list(audiences), format_func=audiences.__getitem__,
                            key="briefing_audience", help="Who will receive it.")
file_format = top[2].segmented_control("Format", list(FORMATS), format_func=str.upper,
                                       default="pdf", key="briefing_format") or "pdf"
markings = [m for m in TLP_MARKINGS if TLP_RANK[m] <= TLP_RANK[viewer.max_tlp]]
floor_default = (settings.minimum_marking if settings.minimum_marking in markings
                 else markings[0])
lower = st.columns([3, 6])
marking_floor = lower[0].selectbox(
    "Mark at least", markings, index=markings.index(floor_default), key="briefing_marking",
    help="The briefing carries the most restrictive marking among the records it draws on, "
    "or this one if higher.")
purpose = lower[1].text_input(
    "Purpose", key="briefing_purpose", max_chars=2000,
    placeholder="Why it is released, e.g. weekly leadership briefing on the Bay Area gangs "
    "surge", help="Recorded in the dissemination log with who produced it, when and for whom.")

chosen = filters.with_changes(period=period_key)
try:
    briefing = preview(context, context.cache_key, viewer.username, chosen, audience,
                       marking_floor)
except BriefingError as error:
    st.error(str(error))
    st.stop()

produce_column, download_column, stix_column = st.columns([2, 4, 2])
clicked = produce_column.button(
    f"Produce {file_format.upper()}", type="primary", key="briefing_produce",
    icon=":material/description:", disabled=not purpose.strip(),
    help="Archive it, log the release and offer it for download." if purpose.strip()
    else "Say why it is released first (Purpose).")
if clicked:
    with st.spinner(f"Rendering the {file_format.upper()}..."):
        try:
            produced = produce(engine(context.store_url), briefing.stamped(datetime.now(UTC)),
                               file_format, purpose, folder, page="briefing")
        except (BriefingError, OSError) as error:
            st.error(f"The briefing could not be produced: {error}")
        else:
            st.session_state[PRODUCED_KEY] = produced.manifest
with download_column:
    made = st.session_state.get(PRODUCED_KEY)
    if made is not None:
        st.success(f"Produced and logged: {made['file']} ({made['marking']}, "
                   f"{made['counts']['incidents']:,} incidents in the period).",
                   icon=":material/task_alt:")
        audited_download(context, f"Download {made['format'].upper()}",
                         archived_file(folder, made), made["file"],
                         made["counts"]["incidents_drawn_on"]
                         + made["counts"]["products_drawn_on"], "briefing_download",
                         mime=MIME_TYPES[made["format"]])

with stix_column:
    stix_download(context, chosen, "briefing", "briefing_stix")

st.subheader("Preview")
render_marking_banner(st, briefing.marking)
st.caption(markdown_text(briefing.caveat))
if briefing.synthetic:
    st.caption("SYNTHETIC DATA: generated demo feeds; no real incident is described.")
st.markdown(f"**{markdown_text(briefing.title)}** · {markdown_text(briefing.period_text)} · "
            f"for {markdown_text(briefing.audience_label)}")
with st.expander("Filters and data as of"):
    st.dataframe(pl.DataFrame(
        [*briefing.filter_lines, *((f"Data as of: {name}", when)
                                   for name, when in briefing.data_as_of)],
        schema=["What", "Value"], orient="row"), hide_index=True, width="stretch",
        key="briefing_facts")

st.markdown("**Key judgments**")
st.markdown("\n".join(f"- {markdown_text(sentence)}" for sentence in briefing.key_judgments))
cards = st.columns(len(briefing.kpis))
for card, kpi in zip(cards, briefing.kpis, strict=True):
    card.metric(kpi.label, f"{kpi.current:,}", kpi_delta(kpi), border=True,
                delta_color="off", help=kpi.help)
st.image(preview_map(context, context.cache_key, viewer.username, chosen, audience,
                     marking_floor),
         caption="Incidents per county under the filters; hot spots (Getis-Ord Gi*) over the "
         "whole state; regions outlined.", width=900)
tabs = st.tabs([briefing.tables[name].title for name in PREVIEW_TABLES])
for tab, name in zip(tabs, PREVIEW_TABLES, strict=True):
    table = briefing.tables[name]
    with tab:
        if table.rows:
            st.dataframe(table_frame(table), hide_index=True, width="stretch",
                         key=f"briefing_table_{name}")
        else:
            st.caption(markdown_text(table.empty))
        if table.note:
            st.caption(markdown_text(table.note))

st.subheader("Archive")
archived = archived_briefings(folder, viewer)
if not archived:
    st.caption(f"No archived briefing you may receive in {markdown_text(str(folder))} yet.")
else:
    listing = pl.DataFrame([{
        "produced": item["generated_at"][:16].replace("T", " ") + " UTC",
        "period": f"{item['period']['start']} – {item['period']['end']}",
        "marking": item["marking"], "format": item["format"].upper(),
        "audience": item.get("audience_label") or "", "by": item["generated_by"],
        "purpose": item["purpose"], "file": item["file"]} for item in archived])
    picked = st.dataframe(listing, hide_index=True, width="stretch", key="briefing_archive",
                          on_select="rerun", selection_mode="single-row",
                          column_config={"purpose": st.column_config.TextColumn(
                              "purpose", width="large")})
    rows = picked.selection.rows if picked else []  # type: ignore[attr-defined]
    item = archived[rows[0] if rows else 0]
    audited_download(context, f"Download {item['file']}", archived_file(folder, item),
                     item["file"], item["counts"]["incidents_drawn_on"]
                     + item["counts"]["products_drawn_on"], "briefing_archive_download",
                     mime=MIME_TYPES[item["format"]])
