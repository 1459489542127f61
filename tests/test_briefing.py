"""Briefing snapshots: the PDF and HTML hold the pages' figures, marked on every page, escaped,
offline, reproducible; `brief` works from cron; each release is logged; partners are refused."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from datetime import UTC, date, datetime
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import polars as pl
import pypdfium2
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pypdf import PdfReader
from typer.testing import CliRunner

from dashboard.analytics.coverage import CoverageScope, coverage_cells, gap_list
from dashboard.analytics.filters import Filters, Period, period_of
from dashboard.analytics.health import last_load_per_center
from dashboard.analytics.hotspots import hotspots_for_filters
from dashboard.analytics.picture import kpis
from dashboard.analytics.trends import compstat_table, compstat_totals
from dashboard.briefing.archive import archived_briefings, dissemination_log, produce
from dashboard.briefing.compose import (
    Briefing,
    BriefingError,
    BriefingTable,
    compose_briefing,
    compose_from_store,
    records_drawn_on,
)
from dashboard.briefing.render_html import render_html
from dashboard.briefing.render_pdf import column_widths, register_fonts, render_pdf
from dashboard.cli import app
from dashboard.frames import load_health_frames, load_picture_frames
from dashboard.schema import ROLES, TLP_MARKINGS
from dashboard.security.accounts import viewer_for
from dashboard.security.audit import audit_frame
from dashboard.security.policy import TLP_RANK, Viewer, may_receive_briefing, visible_frames
from dashboard.settings import ProjectConfig, load_config
from dashboard.store import open_store, operations_engine
from tests.briefing_support import AS_OF, CAVEAT, SCRIPT_TITLE, briefing_deployment

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
runner = CliRunner()


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    return briefing_deployment(tmp_path_factory.mktemp("briefing_ri"))


@pytest.fixture(scope="module")
def project(deployment: tuple[Path, str]) -> ProjectConfig:
    return load_config(deployment[0])


@pytest.fixture(scope="module")
def store(deployment: tuple[Path, str]) -> sa.Engine:
    return open_store(deployment[1])


def viewer(store: sa.Engine, project: ProjectConfig, username: str = "analyst") -> Viewer:
    found = viewer_for(store, username, project.settings.security)
    assert found is not None
    return found


def compose(store: sa.Engine, project: ProjectConfig, username: str = "analyst",
            filters: Filters | None = None, **options: object) -> Briefing:
    return compose_from_store(store, project, viewer(store, project, username),
                              filters or Filters(period="90d"), AS_OF,
                              audience="law_enforcement", **options)


def flat(text: str) -> str:
    return " ".join(text.split())


def marking_heights(page: object, marking: str) -> list[float]:
    """Heights (points from the page's foot) at which ``marking`` is drawn on a PDF page."""
    heights: list[float] = []

    def visit(text: str, cm: list[float], tm: list[float], *_: object) -> None:
        if marking in text:
            heights.append(cm[5] + tm[5] * cm[3])

    page.extract_text(visitor_text=visit)  # type: ignore[attr-defined]
    return heights


def test_pdf_holds_the_pages_figures_marked_on_every_page(store: sa.Engine,
                                                          project: ProjectConfig) -> None:
    briefing = compose(store, project).stamped(datetime(2025, 3, 1, 8, 0, tzinfo=UTC))
    reader = PdfReader(io.BytesIO(render_pdf(briefing)))
    pages = [page.extract_text() for page in reader.pages]
    text = flat(" ".join(pages))

    # The figures, computed here the way the pages compute them, on what the analyst may see.
    frames = visible_frames(viewer(store, project), load_picture_frames(store, "UTC"))
    filters, c2r = Filters(period="90d"), project.county_to_region
    period = period_of(filters, AS_OF)
    incidents = kpis(frames.incidents, frames.products, frames.quarantine_rows, filters, period,
                     c2r)[0]
    assert (incidents.label, incidents.current, incidents.previous) == ("Incidents", 5, 0)
    assert "Incidents 5 0 +5 new" in text
    assert "5 incidents in the last 90 days, none the period before." in text
    assert "2 suspicious activity reports (SARs), none the period before." in text
    table = compstat_table(frames.incidents, filters, c2r, AS_OF, "category",
                           list(project.taxonomy.categories))
    _, twenty_eight, year = compstat_totals(table)
    assert (twenty_eight.current, twenty_eight.previous, year.current) == (2, 3, 5)
    assert "Total 0 0 — 2 3 -33.3 % 5 0 new" in text
    gaps = gap_list(coverage_cells(frames.incidents, frames.products, filters, period,
                                   CoverageScope.from_config(project)))
    reason = gaps["reason"][0]
    assert reason.startswith("1 Suspicious activity incident in South in the last 90 days")
    assert flat(reason) in text
    # Handling, period, data as of, escaping.
    assert briefing.marking == "TLP:AMBER"
    assert "Last 90 days: 01 Dec 2024 – 28 Feb 2025 (90 days)" in text
    loads = last_load_per_center(load_health_frames(store))
    rifc = loads.filter(pl.col("center_id") == "rifc")["last_loaded_at"][0]
    assert f"Rhode Island Fusion Center: {rifc:%Y-%m-%d %H:%M} UTC" in text
    assert "Generated 2025-03-01 08:00 UTC by Demo analyst (analyst)" in text
    assert flat(SCRIPT_TITLE) in text  # drawn as text, not taken for markup
    assert briefing.content_hash in text
    assert len(pages) >= 3
    for number, page in enumerate(reader.pages, start=1):
        heights = marking_heights(page, "TLP:AMBER")
        assert max(heights) > 740 and min(heights) < 40, (number, heights)  # top and bottom
        assert flat(pages[number - 1]).count(flat(CAVEAT)) >= 2
        assert f"Page {number} of {len(pages)}" in pages[number - 1]
    assert [item.title for item in reader.outline][:4] == ["Key judgments", "Headline figures",
                                                           "Trends", "Where"]


class ResourceReferences(HTMLParser):
    """Every URL an element would load or link to, and every url()/@import in CSS (script
    bodies are data to the parser, so plotly.js's own strings are not elements)."""

    def __init__(self) -> None:
        super().__init__()
        self.references: list[str] = []
        self.in_style = False
        self.scripts_with_src = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href", "srcset", "data", "action", "poster") and value:
                self.references.append(value)
            if name == "style" and value:
                self.references += re.findall(r"url\(([^)]*)\)|@import", value)
        self.scripts_with_src += tag == "script" and any(n == "src" for n, _ in attrs)
        self.in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self.in_style = False if tag == "style" else self.in_style

    def handle_data(self, data: str) -> None:
        if self.in_style:
            self.references += re.findall(r"url\(([^)]*)\)", data)
            self.references += ["@import"] * data.count("@import")


def test_html_is_self_contained_marked_and_escaped(store: sa.Engine,
                                                   project: ProjectConfig) -> None:
    briefing = compose(store, project).stamped(datetime(2025, 3, 1, 8, 0, tzinfo=UTC))
    html = render_html(briefing)
    parser = ResourceReferences()
    parser.feed(html)
    remote = [ref for ref in parser.references if re.match(r"\s*['\"]?(https?:)?//", ref)]
    assert remote == []
    assert parser.scripts_with_src == 0
    assert all(ref.startswith(("#", "data:image/png;base64,")) for ref in parser.references)
    assert not re.search(r"""(src|href)\s*=\s*["']?https?:""", html.split("<script")[0])
    assert html.count("plotly.js v") == 1  # inlined once, however many charts
    assert html.count('class="plotly-graph-div"') == 2
    # Feed text is text: the script title is escaped, never markup.
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Narcotics outlook" in html
    assert "<script>alert(1)" not in html
    assert "Pills & <b>" not in html
    assert html.count('<div class="banner top"') == 1
    assert html.count('<div class="banner bottom"') == 1
    assert html.count("TLP:AMBER</span>") == 3  # top, bottom, cover
    assert "Last 90 days: 01 Dec 2024 – 28 Feb 2025 (90 days)" in html
    assert '<div class="watermark"' not in html  # not synthetic data


def test_same_data_version_same_content_hash(store: sa.Engine, project: ProjectConfig) -> None:
    first = compose(store, project).stamped(datetime(2025, 3, 1, 8, 0, tzinfo=UTC))
    second = compose(store, project).stamped(datetime(2025, 3, 2, 9, 30, tzinfo=UTC))
    assert first.content_hash == second.content_hash
    assert render_pdf(first) == render_pdf(replace_time(second, first))  # same bytes
    assert render_html(first) == render_html(replace_time(second, first))
    assert render_pdf(first) != render_pdf(second)  # only the generation time differs
    # What the briefing says moves the hash: another audience, marking or period.
    assert compose(store, project, marking_floor="TLP:RED").content_hash != first.content_hash
    assert compose(store, project, filters=Filters(period="28d")).content_hash != (
        first.content_hash)


def replace_time(briefing: Briefing, like: Briefing) -> Briefing:
    assert like.generated_at is not None
    return briefing.stamped(like.generated_at)


def test_marking_is_the_most_restrictive_record_drawn_on(store: sa.Engine,
                                                        project: ProjectConfig) -> None:
    frames = load_picture_frames(store, "UTC")
    green_only = Viewer("green", "Green reader", "leadership", "rifc", "TLP:GREEN")
    briefing = compose_briefing(project, visible_frames(green_only, frames), green_only,
                                Filters(period="90d"), AS_OF)
    assert briefing.marking == "TLP:GREEN"
    assert compose(store, project).marking == "TLP:AMBER"
    assert compose(store, project, marking_floor="TLP:RED").marking == "TLP:RED"
    with pytest.raises(BriefingError, match="above TLP:GREEN"):
        compose_briefing(project, visible_frames(green_only, frames), green_only,
                         Filters(period="90d"), AS_OF, marking_floor="TLP:AMBER")
    incidents, products = records_drawn_on(frames, Filters(period="90d"),
                                           period_of(Filters(period="90d"), AS_OF), project)
    assert set(incidents["tlp"]) | set(products["tlp"]) >= {"TLP:AMBER", "TLP:GREEN"}


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(role=st.sampled_from([r for r in ROLES if r != "partner"]),
       max_tlp=st.sampled_from(TLP_MARKINGS), center=st.sampled_from(["rifc", "prov"]),
       period=st.sampled_from(["7d", "28d", "90d", "ytd"]))
def test_a_briefing_never_holds_more_than_its_author_may_see(
        store: sa.Engine, project: ProjectConfig, role: str, max_tlp: str, center: str,
        period: str) -> None:
    author = Viewer("someone", "Someone", role, center, max_tlp).capped(
        project.settings.security.role_ceilings)
    frames = load_picture_frames(store, "UTC")
    seen = visible_frames(author, frames)
    filters = Filters(period=period)
    briefing = compose_briefing(project, seen, author, filters, AS_OF)
    everything = compose_briefing(project, frames, Viewer("all", "All", "admin", center,
                                                          "TLP:RED"), filters, AS_OF)
    assert TLP_RANK[briefing.marking] <= TLP_RANK[author.max_tlp]
    incidents, products = records_drawn_on(seen, filters, period_of(filters, AS_OF), project)
    assert briefing.records_drawn_on == incidents.height + products.height
    assert briefing.records_drawn_on <= everything.records_drawn_on
    assert briefing.counts["incidents"] == kpis(
        seen.incidents, seen.products, seen.quarantine_rows, filters, period_of(filters, AS_OF),
        project.county_to_region)[0].current


def test_partners_may_not_produce_briefings(store: sa.Engine, project: ProjectConfig,
                                            deployment: tuple[Path, str]) -> None:
    with pytest.raises(BriefingError, match="partner"):
        compose(store, project, username="partner")
    result = runner.invoke(app, ["brief", "--config", str(deployment[0]), "--store",
                                 deployment[1], "--user", "partner"])
    assert result.exit_code == 1
    assert "partners receive briefings, they do not produce them" in result.output


def test_produce_archives_and_logs_one_dissemination_and_one_audit_row(
        store: sa.Engine, project: ProjectConfig, tmp_path: Path) -> None:
    briefing = compose(store, project).stamped(datetime(2025, 3, 1, 8, 0, tzinfo=UTC))
    before = len(dissemination_log(store))
    produced = produce(store, briefing, "html", "  Weekly   law-enforcement briefing ",
                       tmp_path / "archive")
    assert produced.path.read_bytes() == produced.data
    manifest = json.loads(produced.manifest_path.read_text())
    assert manifest["purpose"] == "Weekly law-enforcement briefing"
    assert manifest["content_hash"] == briefing.content_hash
    log = dissemination_log(store)
    assert len(log) == before + 1
    row = log[0]
    assert (row["username"], row["audience"], row["format"], row["marking"], row["rows"],
            row["file_name"]) == ("analyst", "law_enforcement", "html", "TLP:AMBER",
                                  briefing.records_drawn_on, produced.file_name)
    assert briefing.records_drawn_on == 11  # 6 incidents and 5 products
    audit = audit_frame(store).filter(pl.col("action") == "briefing").row(0, named=True)
    assert (audit["username"], audit["rows"]) == ("analyst", 11)
    assert json.loads(audit["detail"])["file"] == produced.file_name
    operations = operations_engine(store)  # the dissemination log's file on embedded SQLite
    with pytest.raises(sa.exc.DatabaseError, match="append-only"), \
            operations.begin() as connection:
        connection.execute(sa.text("UPDATE disseminations SET purpose = 'rewritten'"))
    with pytest.raises(sa.exc.DatabaseError, match="append-only"), \
            operations.begin() as connection:
        connection.execute(sa.text("DELETE FROM disseminations"))
    with pytest.raises(BriefingError, match="purpose"):
        produce(store, briefing, "pdf", "   ", tmp_path / "archive")
    assert len(dissemination_log(store)) == before + 1


def test_archive_lists_only_what_the_viewer_may_receive(store: sa.Engine,
                                                       project: ProjectConfig,
                                                       tmp_path: Path) -> None:
    folder = tmp_path / "archive"
    at = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
    amber = produce(store, compose(store, project).stamped(at), "html", "weekly", folder)
    red = produce(store, compose(store, project, username="director",
                                 marking_floor="TLP:RED").stamped(at), "html", "eyes only",
                  folder)
    (folder / "briefing_broken.html.json").write_text("{not json")

    def listed(username: str) -> set[str]:
        return {item["file"] for item in archived_briefings(folder, viewer(store, project,
                                                                           username))}

    assert listed("analyst") == {amber.file_name}
    assert listed("director") == {amber.file_name, red.file_name}
    assert listed("partner") == set()
    assert {item["file"] for item in archived_briefings(folder)} == {amber.file_name,
                                                                     red.file_name}
    other_center = Viewer("other", "Other", "analyst", "prov", "TLP:AMBER+STRICT")
    assert may_receive_briefing(other_center, "TLP:AMBER", "analyst", "rifc")
    assert not may_receive_briefing(other_center, "TLP:AMBER+STRICT", "analyst", "rifc")
    assert may_receive_briefing(other_center, "TLP:AMBER+STRICT", "analyst", "prov")
    assert not may_receive_briefing(other_center, "TLP:RED", "other", "prov")  # above its limit


def test_cron_run_from_a_clean_shell(deployment: tuple[Path, str], tmp_path: Path,
                                     store: sa.Engine) -> None:
    config_dir, store_url = deployment
    out, archive = tmp_path / "out" / "weekly.pdf", tmp_path / "archive"
    environment = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "CI": "true"}
    result = subprocess.run(
        ["env", "-i", *(f"{key}={value}" for key, value in environment.items()),
         sys.executable, "-m", "dashboard.cli", "brief", "--period", "90d", "--format", "pdf",
         "--as-of", AS_OF.isoformat(), "--config", str(config_dir), "--store", store_url,
         "--user", "analyst", "--audience", "law_enforcement", "--purpose", "cron weekly",
         "--region", "north", "--out", str(out), "--archive", str(archive)],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr  # its speed is the bench's, not a test's
    archived = sorted(archive.iterdir())
    assert [path.suffix for path in archived] == [".pdf", ".json"]
    manifest = json.loads(archived[1].read_text())
    assert json.loads((out.parent / "weekly.pdf.json").read_text()) == manifest
    assert out.read_bytes() == archived[0].read_bytes()
    assert manifest["file"] == archived[0].name and str(archived[0]) in flat(result.stderr)
    assert manifest["filters"] == {"period": "90d", "regions": ["north"]}
    assert manifest["period"] == {"name": "Last 90 days", "start": "2024-12-01",
                                  "end": "2025-02-28", "days": 90}
    assert manifest["counts"]["incidents"] == 4  # the North region's incidents
    assert (manifest["marking"], manifest["audience"], manifest["purpose"],
            manifest["generated_by"]) == ("TLP:AMBER", "law_enforcement", "cron weekly",
                                          "analyst")
    assert manifest["data_version"] == load_picture_frames(store, "UTC").data_version
    text = flat(" ".join(page.extract_text() for page in PdfReader(out).pages))
    assert "Place regions North" in text and manifest["content_hash"] in text
    assert dissemination_log(store)[0]["file_name"] == manifest["file"]
    # Another process, another time: the same content hash for the same data and filters.
    project = load_config(config_dir)
    same = compose(store, project, filters=Filters(period="90d", regions=("north",)))
    assert same.content_hash == manifest["content_hash"]


@pytest.mark.parametrize(("arguments", "message"), [
    (["--region", "atlantis"], "--region: unknown region 'atlantis' (known: north, south)"),
    (["--county", "99999"], "--county: '99999' is not a county FIPS or name of RI"),
    (["--category", "weather"], "--category: unknown category 'weather'"),
    (["--period", "2w"], "--period: '2w' is not one of 7d, 28d, 90d, ytd"),
    (["--format", "docx"], "--format: 'docx' is not one of pdf, html"),
    (["--as-of", "yesterday"], "--as-of: 'yesterday' is not a date (YYYY-MM-DD)"),
    (["--audience", "press"], "--audience: unknown audience 'press'"),
    (["--marking", "TLP:PINK"], "unknown marking 'TLP:PINK'"),
    (["--user", "nobody"], "no enabled account 'nobody'"),
])
def test_brief_bad_input_is_one_line(deployment: tuple[Path, str], arguments: list[str],
                                     message: str, tmp_path: Path) -> None:
    config_dir, store_url = deployment
    base = ["brief", "--config", str(config_dir), "--store", store_url, "--archive",
            str(tmp_path), "--as-of", "2025-02-28"]
    if "--user" not in arguments:
        base += ["--user", "analyst"]
    result = runner.invoke(app, base + arguments)
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0], result.output


def test_brief_county_by_name(deployment: tuple[Path, str], tmp_path: Path) -> None:
    config_dir, store_url = deployment
    result = runner.invoke(app, ["brief", "--config", str(config_dir), "--store", store_url,
                                 "--user", "director", "--county", "Providence", "--format",
                                 "html", "--as-of", "2025-02-28", "--archive", str(tmp_path)])
    assert result.exit_code == 0, result.output
    manifest = json.loads(next(tmp_path.glob("*.json")).read_text())
    assert manifest["filters"]["counties"] == ["44007"]
    assert manifest["filters_in_words"]["Place"] == "counties Providence County"


def test_column_widths_fit_the_page_without_cutting_words() -> None:
    register_fonts()
    table = BriefingTable(
        "t", ("Name", "Count", "Why"), (("Central Valley and Eastern Sierra", "1,234",
                                          "a long reason " * 30),), (1, 1, 1),
        (False, True, False))
    widths = column_widths(table, 9, 500)
    assert widths is not None and abs(sum(widths) - 500) < 1e-6
    assert widths[1] >= 20 and widths[2] > widths[0]  # the long text takes the room left
    # A freak token takes at most 35 % of the width (it is cut); three such cannot fit.
    giant = BriefingTable("t", ("A", "B", "C"), (("x" * 400, "y" * 400, "z" * 400),),
                          (1, 1, 1), (False, False, False))
    assert column_widths(giant, 9, 500) is None


# --- a generated California demo: realistic size, the picture check ---------------------------

DEMO_TODAY = date(2026, 6, 30)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[ProjectConfig, sa.Engine]:
    from dashboard.demo import generate
    from dashboard.ingest.pipeline import run_ingest
    from dashboard.security.accounts import ensure_demo_users

    folder = tmp_path_factory.mktemp("briefing_demo")
    generate(folder, state="CA", incidents=5_000, seed=5, today=DEMO_TODAY)
    config = load_config(folder / "config")
    engine = open_store(f"sqlite:///{folder / 'store.sqlite'}")
    run_ingest(config, engine)
    ensure_demo_users(engine, config)
    return config, engine


def test_demo_briefing_matches_the_pages_and_renders_page_one(
        demo: tuple[ProjectConfig, sa.Engine]) -> None:
    config, engine = demo
    analyst = viewer(engine, config)
    filters = Filters(period="28d")
    briefing = compose_from_store(engine, config, analyst, filters, DEMO_TODAY,
                                  audience="leadership").stamped(
        datetime(2026, 7, 1, 6, 0, tzinfo=UTC))
    pdf = render_pdf(briefing)  # its speed is the bench's (briefing figures), not a test's
    frames = visible_frames(analyst, load_picture_frames(engine, config.settings.timezone))
    period = period_of(filters, DEMO_TODAY)
    assert period == Period(date(2026, 6, 3), DEMO_TODAY)
    figures = kpis(frames.incidents, frames.products, frames.quarantine_rows, filters, period,
                   config.county_to_region)
    hot = hotspots_for_filters(frames.incidents, frames.regions, filters, period,
                               config.county_to_region, "CA").filter(pl.col("gi_bin") > 0)
    assert [kpi.current for kpi in briefing.kpis] == [kpi.current for kpi in figures]
    assert briefing.counts["hot_spots"] == hot.height
    reader = PdfReader(io.BytesIO(pdf))
    text = flat(" ".join(page.extract_text() for page in reader.pages))
    assert f"Incidents {figures[0].current:,} {figures[0].previous:,}" in text
    assert "SYNTHETIC DATA" in text
    for page in reader.pages:
        heights = marking_heights(page, briefing.marking)
        assert max(heights) > 740 and min(heights) < 40

    ARTIFACTS.mkdir(exist_ok=True)
    document = pypdfium2.PdfDocument(pdf)
    try:
        image = document[0].render(scale=1.5).to_pil().convert("L")
    finally:
        document.close()
    image.save(ARTIFACTS / "briefing_page1.png")
    pixels = np.asarray(image, dtype=float)
    assert pixels.std() > 20  # text, banners and tables, not a blank page
    assert (pixels < 40).mean() > 0.01  # the black marking banners and the title

    html = render_html(briefing)
    assert html.count('<div class="watermark"') == 1


def test_a_briefing_of_an_empty_store_says_so(project: ProjectConfig, tmp_path: Path) -> None:
    empty = open_store(f"sqlite:///{tmp_path / 'empty.sqlite'}")
    author = Viewer("someone", "Someone", "analyst", "rifc", "TLP:AMBER")
    briefing = compose_from_store(empty, project, author, Filters(period="7d"), AS_OF).stamped(
        datetime(2025, 3, 1, tzinfo=UTC))
    assert briefing.key_judgments[:2] == (
        "0 incidents in the last 7 days, none the period before either.",
        "0 suspicious activity reports (SARs), none the period before either.")
    assert briefing.marking == "TLP:CLEAR"
    assert briefing.data_as_of == (("Rhode Island Fusion Center", "never"),
                                   ("Providence Regional Intelligence Center", "never"))
    text = flat(" ".join(page.extract_text() for page in
                         PdfReader(io.BytesIO(render_pdf(briefing))).pages))
    assert "No coverage gap under these filters." in text
    assert "Rhode Island Fusion Center: never" in text
