"""The bench itself: demo data of a given size, then every measurement of issue 7.

Each timing is the median of ``repeat`` runs after one warm-up run; every run after a filter
change uses filters no earlier run used, so no cache answers it. Ingests, cold starts and the
AppTest runs happen in fresh processes (:mod:`dashboard.bench.worker`), whose own peak memory
is reported.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from dashboard.analytics.coverage import CoverageScope, coverage_figures
from dashboard.analytics.filters import Filters, period_of
from dashboard.analytics.hotspots import hotspots_for_filters
from dashboard.analytics.picture import overview_figures
from dashboard.analytics.trends import series_view
from dashboard.bench import pages as bench_pages
from dashboard.bench.pandas_reference import agreement, pandas_figures
from dashboard.bench.report import Measurement
from dashboard.frames import load_health_frames, load_picture_frames
from dashboard.pagemodels.map import map_page, map_points
from dashboard.security.accounts import ensure_demo_users, viewer_for
from dashboard.security.audience import ViewData, view_data
from dashboard.security.policy import Viewer, visibility_class
from dashboard.settings import ProjectConfig, load_config
from dashboard.store import open_store

# (what is being measured, runs done, runs in all)
Progress = Callable[[str, int, int], None]
POSTGRES_SCHEMA = "threat_picture_bench"
MB = 1024 * 1024
PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent


class BenchError(RuntimeError):
    """The bench cannot run as asked (no store to reuse, a worker failed)."""


@dataclass(frozen=True)
class BenchOptions:
    incidents: int = 1_000_000
    store: str | None = None  # SQLAlchemy URL; None: a fresh SQLite file in work_dir
    reuse: bool = False
    repeat: int = 5
    work_dir: Path = Path("data/bench")
    seed: int = 7
    flood_sessions: int = 40  # attacker sessions in the sign-in flood


def run_bench(options: BenchOptions, progress: Progress | None = None) -> dict[str, Any]:
    """Every measurement, as the JSON-ready report (``markdown(report)`` renders it)."""
    report_progress = progress or (lambda *_: None)
    work = options.work_dir / str(options.incidents)
    demo_dir, config_dir = work / "demo", work / "demo" / "config"
    started_at = datetime.now(UTC)
    load_before = os.getloadavg()[0]
    store_url, dialect = _store_url(options, work)
    measurements: list[Measurement] = []
    runs = options.repeat + 1  # the first is the warm-up

    if options.reuse:
        if not (config_dir / "settings.toml").is_file():
            raise BenchError(f"--reuse: no bench data in {work} (run once without --reuse)")
        measurements.append(Measurement("ingest_rows_per_s", "Ingest throughput", "rows/s",
                                        status="not measured", note="--reuse: no ingest run"))
    else:
        shutil.rmtree(demo_dir, ignore_errors=True)
        from dashboard.demo import generate

        generate(demo_dir, incidents=options.incidents, seed=options.seed,
                 progress=lambda step, done: report_progress(f"demo data: {step}",
                                                             int(100 * done), 100))
        measurements += _measure_ingest(config_dir, store_url, dialect, work, runs,
                                        report_progress)
        measurements += _measure_live_ingest(config_dir, store_url, work, report_progress)

    config = load_config(config_dir)
    engine = open_store(store_url)
    if _incident_count(engine) == 0:
        raise BenchError(f"the store {_redacted(store_url)} holds no incidents")
    ensure_demo_users(engine, config)
    viewer = viewer_for(engine, "analyst", config.settings.security)
    assert viewer is not None, "ensure_demo_users creates the demo analyst"
    today = datetime.now(ZoneInfo(config.settings.timezone)).date()
    variants = bench_pages.variants_per_page(
        config, [*bench_pages.bench_pages(), "pandas reference"], runs)

    measurements.append(_measure_cold_start(config_dir, store_url, runs, report_progress))
    report_progress("loading frames", 0, 1)
    full = load_picture_frames(engine, config.settings.timezone)
    data = view_data(full, visibility_class(viewer, full.red_recipients),
                     config.settings.security.partner_min_count, today,
                     config.settings.timezone)
    frames = data.frames()
    health = load_health_frames(engine)
    measurements.append(Measurement(
        "frames_memory_mb", "Frames in memory (incidents + products)", "MB",
        value=(full.incidents.estimated_size() + full.products.estimated_size()) / MB,
        note="Polars estimate of the loaded picture frames"))

    measurements += _measure_page_analytics(config, data, health, engine, viewer, today,
                                            variants, report_progress)
    measurements += _measure_spatial(config, frames, today, variants["map"],
                                     report_progress)
    measurements += _measure_map(config, data, engine, today)
    measurements.append(_measure_briefing(engine, config, viewer, today, runs,
                                          report_progress))
    measurements += _measure_pandas(engine, config, full, today,
                                    variants["pandas reference"], report_progress)
    measurements += _measure_apptest(config_dir, store_url, variants, options.incidents,
                                     report_progress)
    measurements += _measure_signin_flood(engine, config, options.flood_sessions,
                                          report_progress)

    load_after = os.getloadavg()[0]
    cpus = os.cpu_count() or 1
    finished = [m.finish(options.incidents, dialect).as_dict() for m in measurements]
    return {
        "incidents": options.incidents,
        "incidents_stored": _incident_count(engine),
        "store": {"dialect": dialect, "url": _redacted(store_url)},
        "repeat": options.repeat,
        "started_at": started_at.isoformat(timespec="seconds"),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": cpus, "memory_gb": _memory_gb(), "load_before": load_before,
            "load_after": load_after, "python": platform.python_version(),
            "polars": pl.__version__,
        },
        "loaded": max(load_before, load_after) > cpus,
        "command": _command(options),
        "measurements": finished,
    }


# --- stores ----------------------------------------------------------------------------------


def _store_url(options: BenchOptions, work: Path) -> tuple[str, str]:
    """The store the bench measures; PostgreSQL in a schema of its own (never the user's)."""
    if options.store is None:
        work.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{(work / 'store.sqlite').resolve()}", "sqlite"
    url = make_url(options.store)
    dialect = url.get_backend_name()
    if dialect == "postgresql":
        return _in_schema(options.store, POSTGRES_SCHEMA), dialect
    return options.store, dialect


def _in_schema(url: str, schema: str) -> str:
    return make_url(url).update_query_dict({"options": f"-csearch_path={schema}"}) \
        .render_as_string(hide_password=False)


def _redacted(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


@contextmanager
def _fresh_store(url: str) -> Iterator[str]:
    """An empty store at ``url``'s place (SQLite file or PostgreSQL schema), made ready."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = Path(parsed.database or "")
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        yield url
        return
    schema = _schema_of(url)
    admin = sa.create_engine(parsed.difference_update_query(["options"]))
    with admin.begin() as connection:
        connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    admin.dispose()
    yield url


def _drop_store(url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(f"{parsed.database}{suffix}").unlink(missing_ok=True)
        return
    admin = sa.create_engine(parsed.difference_update_query(["options"]))
    with admin.begin() as connection:
        connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{_schema_of(url)}" CASCADE')
    admin.dispose()


def _schema_of(url: str) -> str:
    options = make_url(url).query.get("options", "")
    text = options if isinstance(options, str) else options[0]
    return text.split("search_path=", 1)[1]


def _scratch_url(url: str, work: Path, number: int) -> str:
    """Where the ``number``-th measured ingest writes (the last one writes the real store)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return f"sqlite:///{(work / f'ingest_{number}.sqlite').resolve()}"
    return _in_schema(parsed.difference_update_query(["options"]).render_as_string(
        hide_password=False), f"{POSTGRES_SCHEMA}_{uuid.uuid4().hex[:8]}")


def _incident_count(engine: sa.Engine) -> int:
    with engine.connect() as connection:
        return int(connection.exec_driver_sql("SELECT count(*) FROM incidents").scalar_one())


# --- workers ---------------------------------------------------------------------------------


def _worker(kind: str, config_dir: Path, store_url: str, extra: dict[str, Any] | None = None,
            ) -> dict[str, Any]:
    """Run a worker in a fresh process; its result, with wall seconds of the whole process."""
    # The AppTest runs drive Streamlit, which only the glue beside app.py imports.
    entry = [str(PROJECT_ROOT / "page_glue.py")] if kind == "apptest" else [
        "-m", "dashboard.bench.worker"]
    command = [sys.executable, *entry, kind, str(config_dir.resolve()), store_url]
    if extra:
        command.append(json.dumps(extra))
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False,
                          cwd=PROJECT_ROOT)
    wall = time.perf_counter() - started
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise BenchError(f"bench worker {kind} failed: {tail[0]}")
    result: dict[str, Any] = json.loads(lines[-1])
    result["process_s"] = wall
    return result


def _measure_ingest(config_dir: Path, store_url: str, dialect: str, work: Path, runs: int,
                    progress: Progress) -> list[Measurement]:
    throughput = Measurement("ingest_rows_per_s", "Ingest throughput (full ingest)", "rows/s")
    memory = Measurement("ingest_peak_memory_mb", "Ingest peak memory (its process)", "MB")
    phases: list[dict[str, float]] = []
    for number in range(runs):
        progress("ingest", number, runs)
        last = number == runs - 1
        url = store_url if last else _scratch_url(store_url, work, number)
        with _fresh_store(url):
            result = _worker("ingest", config_dir, url)
        if not last:
            _drop_store(url)
        if number == 0:
            continue  # warm-up
        throughput.samples.append(result["rows_read"] / result["seconds"])
        memory.samples.append(result["peak_rss_bytes"] / MB)
        phases.append(result["phases_s"])
    typical = {name: statistics.median(p.get(name, 0.0) for p in phases) for name in phases[0]}
    slowest = sorted(typical.items(), key=lambda item: -item[1])[:4]
    rows = result["rows_read"]
    throughput.note = (f"{rows:,} feed rows; {dialect}; time by phase: "
                       + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in slowest))
    progress("ingest", runs, runs)
    return [throughput, memory]


def _measure_live_ingest(config_dir: Path, store_url: str, work: Path, progress: Progress
                         ) -> list[Measurement]:
    """Issue 13: audit writes (what every page view and sign-in does) while a full ingest runs,
    and an ingest of 1 % appended rows against a full load; each on a store of its own."""
    from dashboard.bench.ingest_live import measure_append, measure_audit_waits

    progress("audit writes during an ingest", 0, 2)
    with _fresh_store(_scratch_url(store_url, work, 901)) as url:
        waits = measure_audit_waits(url, config_dir)
    progress("1 % appended", 1, 2)
    with _fresh_store(_scratch_url(store_url, work, 902)) as url:
        append = measure_append(config_dir, url)
    progress("1 % appended", 2, 2)
    return [
        Measurement("ingest_audit_wait_p99_ms", "Audit-write wait during a full ingest (p99)",
                    "ms", value=waits["audit_wait_p99_ms"],
                    note=f"{waits['audit_writes']} audit writes while the ingest ran "
                    f"({waits['ingest_seconds']:.0f} s); 'database is locked': "
                    f"{waits['database_locked']}; max {waits['audit_wait_max_ms']:.0f} ms; "
                    f"store reads p99 {waits['read_wait_p99_ms'] or 0:.0f} ms; "
                    f"{waits['sign_ins']} sign-ins, p99 {waits['sign_in_p99_ms'] or 0:.0f} ms "
                    "(argon2 included)"),
        Measurement("ingest_append_share", "Ingest of 1 % appended rows / a full load", "%",
                    value=100 * append["append_seconds"] / append["full_seconds"],
                    note=f"{append['rows_appended']:,} rows appended: "
                    f"{append['append_seconds']:.1f} s against {append['full_seconds']:.1f} s"),
        Measurement("alerts_after_append_s", "Alert rules' evaluation after the 1 % append",
                    "s", value=append["alerts_after_append_seconds"],
                    note=f"{append['alert_rules']} rules (one per condition, and a partner's); "
                    f"{append['alerts_after_append_evaluated']} evaluated, "
                    f"{append['alerts_after_append_fired']} alert(s) fired; first evaluation "
                    f"after the full load {append['alerts_first_seconds']:.1f} s; with nothing "
                    f"new {1000 * append['alerts_nothing_new_seconds']:.0f} ms "
                    f"({append['alerts_nothing_new_skipped']} skipped)"),
    ]


def _measure_cold_start(config_dir: Path, store_url: str, runs: int,
                        progress: Progress) -> Measurement:
    cold = Measurement("cold_start_s", "Cold start: store -> frames ready (new process)", "s")
    process = []
    for number in range(runs):
        progress("cold start", number, runs)
        result = _worker("cold", config_dir, store_url)
        if number:
            cold.samples.append(result["seconds"])
            process.append(result["process_s"])
    cold.note = (f"load + marking policy in a fresh process; the whole process with Python "
                 f"and imports: {statistics.median(process):.1f} s")
    return cold


# --- in-process measurements -------------------------------------------------------------


def _timed(function: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = function()
    return time.perf_counter() - started, result


def _measure_page_analytics(config: ProjectConfig, data: ViewData, health: Any,
                            engine: sa.Engine, viewer: Viewer, today: date,
                            variants: dict[str, list[Filters]], progress: Progress
                            ) -> list[Measurement]:
    measurements = []
    pages = bench_pages.bench_pages()
    for index, page in enumerate(pages):
        progress(f"page analytics: {page}", index, len(pages))
        measurement = Measurement(f"page_analytics_ms.{page}",
                                  f"{page}: analytics after a filter change", "ms")
        if not bench_pages.page_built(page):
            measurement.status = "not built yet"
            measurements.append(measurement)
            continue
        steps = bench_pages.PAGE_STEPS[page]
        step_times: dict[str, list[float]] = {name: [] for name, _ in steps}
        for number, filters in enumerate(variants[page]):
            inputs = bench_pages.PageInputs(config, data, health, engine, viewer, filters,
                                            today)
            total = 0.0
            for name, step in steps:
                seconds, _ = _timed(partial(step, inputs))
                total += seconds
                if number:
                    step_times[name].append(1000 * seconds)
            if number:
                measurement.samples.append(1000 * total)
        typical = sorted(((statistics.median(times), name) for name, times in step_times.items()),
                         reverse=True)
        measurement.note = "; ".join(f"{name} {ms:,.0f} ms" for ms, name in typical[:3])
        measurements.append(measurement)
    return measurements


def _measure_spatial(config: ProjectConfig, frames: Any, today: date, variants: list[Filters],
                     progress: Progress) -> list[Measurement]:
    c2r = config.county_to_region
    hot = Measurement("hotspots_ms", "Gi* hot spots (statewide)", "ms",
                      note="part of the Map page's analytics")
    cover = Measurement("coverage_ms", "Coverage gaps and redundancy (by region)", "ms",
                        note="part of the Coverage page's analytics")
    scope = CoverageScope.from_config(config)
    for number, filters in enumerate(variants):
        progress("Gi* and coverage", number, len(variants))
        period = period_of(filters, today)
        seconds, _ = _timed(partial(hotspots_for_filters, frames.incidents, frames.regions,
                                    filters, period, c2r, config.settings.state))
        covered, _ = _timed(partial(coverage_figures, frames.incidents, frames.products,
                                    filters, period, scope, "region"))
        if number:
            hot.samples.append(1000 * seconds)
            cover.samples.append(1000 * covered)
    return [hot, cover]


def _measure_map(config: ProjectConfig, data: ViewData, engine: sa.Engine,
                 today: date) -> list[Measurement]:
    """The Map page's folium map as the browser receives it: the default layers, and with the
    points layer (its capped sample, with narratives), from the Map's page models."""
    from dashboard.views.maps import (
        MAX_POINT_MARKERS,
        MapLayers,
        county_map,
        region_outlines,
    )

    filters = Filters()
    state = config.settings.state
    page = map_page(config, data, filters, today)
    regions = region_outlines(state, config.county_to_region, config.labels["region"])
    default_html = county_map(state, page.county_counts, layers=MapLayers(
        regions=regions, hotspots=page.hotspots)).get_root().render()
    points, located = map_points(config, data, engine, filters, today, MAX_POINT_MARKERS, True)
    layers = MapLayers(regions=regions, hotspots=page.hotspots, points=points,
                       points_total=located)
    points_html = county_map(state, page.county_counts, layers=layers).get_root().render()
    return [
        Measurement("map_html_mb.default", "Map HTML, default layers", "MB",
                    value=len(default_html.encode()) / MB,
                    note="regions + Gi* hot spots over the county choropleth"),
        Measurement("map_html_mb.points", "Map HTML with the points layer", "MB",
                    value=len(points_html.encode()) / MB,
                    note=f"{points.height:,} sampled points of {located:,} with popups"),
        Measurement("map_markers", "Markers the map can put in the DOM", "markers",
                    value=float(points.height),
                    note="clustered in the browser; above the cap a random sample, said on "
                    "the map"),
    ]


def _measure_briefing(engine: sa.Engine, config: ProjectConfig, viewer: Viewer, today: date,
                      runs: int, progress: Progress) -> Measurement:
    measurement = Measurement("briefing_pdf_s", "PDF briefing from the store", "s")
    try:
        from dashboard.briefing.archive import render
        from dashboard.briefing.compose import compose_from_store
    except ImportError:
        measurement.status = "not built yet"
        return measurement
    size = 0
    for number in range(runs):
        progress("PDF briefing", number, runs)

        def produce() -> bytes:
            briefing = compose_from_store(engine, config, viewer, Filters(period="7d"), today)
            return render(briefing.stamped(datetime.now(UTC)), "pdf")

        seconds, pdf = _timed(produce)
        size = len(pdf)
        if number:
            measurement.samples.append(seconds)
    measurement.note = f"7 days, the demo analyst's view; frames read from the store; " \
                       f"{size / 1024:,.0f} KB"
    return measurement


def _measure_pandas(engine: sa.Engine, config: ProjectConfig, frames: Any, today: date,
                    variants: list[Filters], progress: Progress) -> list[Measurement]:
    """Our end-to-end rerun (frames in memory, as the app keeps them, + the analytics) against
    the pandas reference (a read of the store + the same figures), on the same filters."""
    ours = Measurement("our_rerun_ms", "Our rerun: Overview figures + weekly series", "ms",
                       note="frames in memory, as the app keeps them")
    theirs = Measurement("pandas_rerun_ms", "pandas reference rerun (read_sql + groupby)",
                         "ms", note="dashboard/bench/pandas_reference.py")
    c2r = config.county_to_region
    timezone = config.settings.timezone
    differences: list[str] = []
    for number, filters in enumerate(variants):
        progress("pandas reference", number, len(variants))
        period = period_of(filters, today)

        def our_rerun(filters: Filters = filters, period: Any = period) -> Any:
            figures = overview_figures(frames.incidents, frames.products, frames.regions,
                                       frames.quarantine_rows, filters, period, c2r)
            series = series_view(frames.incidents, filters, c2r, period, "category", "week",
                                 config.settings.anomalies)
            return figures, series

        seconds, (figures, series) = _timed(our_rerun)
        pandas_seconds, reference = _timed(partial(pandas_figures, engine, filters, today,
                                                   timezone, c2r))
        differences += agreement(figures, series, reference, period)
        if number:
            ours.samples.append(1000 * seconds)
            theirs.samples.append(1000 * pandas_seconds)
    ratio = Measurement("pandas_ratio", "Speed-up over the pandas reference", "x",
                        value=statistics.median(theirs.samples) / statistics.median(ours.samples))
    ratio.note = ("same figures, checked equal" if not differences
                  else f"FIGURES DIFFER: {differences[0]}")
    return [ours, theirs, ratio]


def _measure_apptest(config_dir: Path, store_url: str, variants: dict[str, list[Filters]],
                     incidents: int, progress: Progress) -> list[Measurement]:
    pages = [page for page in bench_pages.bench_pages() if bench_pages.page_built(page)]
    progress("AppTest runs of every page (one process)", 0, 1)
    timeout = max(60.0, incidents / 5_000)
    result = _worker("apptest", config_dir, store_url, {
        "timeout": timeout,
        "variants": {page: [{"period": f.period, "regions": list(f.regions),
                             "categories": list(f.categories)} for f in variants[page]]
                     for page in pages}})
    measurements = []
    payload = Measurement("page_payload_mb", "Largest page sent to the browser", "MB")
    largest = ("", 0)
    for page in bench_pages.bench_pages():
        measurement = Measurement(f"page_apptest_s.{page}",
                                  f"{page}: full AppTest run after a filter change", "s")
        if page not in result["pages"]:
            measurement.status = "not built yet"
            measurements.append(measurement)
            continue
        outcome = result["pages"][page]
        measurement.samples = outcome["runs_s"][1:]
        measurement.note = f"first visit {outcome['first_run_s']:.1f} s"
        if outcome["errors"]:
            measurement.note += f"; ERROR: {outcome['errors'][0][:120]}"
        if outcome["payload_bytes"] > largest[1]:
            largest = (page, outcome["payload_bytes"])
        measurements.append(measurement)
    payload.value = largest[1] / MB
    payload.note = f"{largest[0]} page (serialized elements of one run)"
    memory = Measurement("app_peak_memory_mb", "App process peak memory (every page)", "MB",
                         value=result["peak_rss_bytes"] / MB,
                         note="the AppTest process: frames, caches, every page run")
    per_user = result["memory_per_user"]
    one_more = Measurement(
        "memory_per_user_mb", "Memory per additional user of an existing class", "MB",
        value=per_user["per_user_mb"],
        note=f"{per_user['users']:.0f} more analysts of the demo analyst's class sign in and "
        "open Overview, Map and Trends (sessions kept open); target <= 5 MB")
    progress("AppTest runs of every page (one process)", 1, 1)
    return [*measurements, payload, memory, one_more]


def _measure_signin_flood(engine: sa.Engine, config: ProjectConfig, sessions: int,
                          progress: Progress) -> list[Measurement]:
    """``sessions`` anonymous sessions x 5 sign-in attempts while the demo analyst signs in:
    from one attacker address, and from one each."""
    from dashboard.bench.signin import measure_signin_flood
    from dashboard.security.accounts import demo_password

    progress("sign-in flood", 0, 1)
    figures = measure_signin_flood(engine, config.settings.security, real_user="analyst",
                                   real_password=demo_password("analyst"), sessions=sessions)
    progress("sign-in flood", 1, 1)
    measurements = []
    for scenario, label in (("one_ip", "one attacker address"),
                            ("distinct_ips", f"{sessions} attacker addresses")):
        outcome = figures[scenario]
        measurement = Measurement(f"signin_flood_s.{scenario}",
                                  f"Real user's sign-in under a flood ({label})", "s",
                                  value=outcome["real_user_seconds"])
        measurement.note = (
            f"{figures['sessions']} sessions x {figures['attempts_per_session']} attempts; "
            f"{outcome['hashes_computed']} hashes, at most {outcome['peak_concurrent_hashes']} "
            f"at once; peak memory +{outcome['peak_rss_growth_mb']:.0f} MB"
            + ("" if outcome["real_user_signed_in"] else "; REAL USER REFUSED"))
        measurements.append(measurement)
    return measurements


# --- context ---------------------------------------------------------------------------------


def _memory_gb() -> float:
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return 0.0
    return pages / 1024 ** 3


def _command(options: BenchOptions) -> str:
    parts = ["threat-picture bench", f"--incidents {options.incidents}",
             f"--repeat {options.repeat}"]
    if options.store:
        parts.append(f"--store {_redacted(options.store)}")
    if options.reuse:
        parts.append("--reuse")
    if options.flood_sessions != BenchOptions.flood_sessions:
        parts.append(f"--flood-sessions {options.flood_sessions}")
    return " ".join(parts)
