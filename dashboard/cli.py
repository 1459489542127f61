"""The `threat-picture` command: demo, ingest, status, serve.

Every command exits non-zero with one line naming what is wrong; long work shows progress.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from dashboard.ingest.pipeline import IngestError, IngestReport, run_ingest
from dashboard.settings import ConfigError, load_config, resolve_store_url
from dashboard.store import StoreError, open_store

CONFIG_ENV = "THREAT_PICTURE_CONFIG"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEMO_DIR_NAME = "demo"

app = typer.Typer(
    help="Statewide Threat Picture: one picture of threats and analytic coverage for a state's "
    "fusion centers.",
    no_args_is_help=True,
    add_completion=False,
)
# Wide enough for a one-line error naming file, row and field when not on a terminal.
console = Console(stderr=True, width=None if sys.stderr.isatty() else 160)

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", help=f"Config folder (default: ${CONFIG_ENV}, else ./config)."),
]
StoreOption = Annotated[
    str | None,
    typer.Option("--store", help="SQLAlchemy URL of the store (default: $THREAT_PICTURE_STORE, "
                 "else settings.toml, else embedded SQLite in ./data)."),
]


def fail(message: str) -> NoReturn:
    console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code=1)


def default_config_dir() -> Path:
    return Path(os.environ.get(CONFIG_ENV, "config"))


@contextmanager
def progress_bar(description: str) -> Iterator[Callable[[str, float], None]]:
    """A rich progress bar; yields ``update(step, fraction_done)``."""
    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
        TextColumn("{task.fields[step]}"), TimeElapsedColumn(), console=console,
        transient=False, disable=not console.is_terminal and os.environ.get("CI") == "true",
    ) as progress:
        task = progress.add_task(description, total=1.0, step="")

        def update(step: str, fraction: float) -> None:
            progress.update(task, completed=min(max(fraction, 0.0), 1.0), step=step)

        yield update


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", help="Folder to write config/, feeds/ and "
                                      "ground_truth.json into.")] = Path("data/demo"),
    state: Annotated[str, typer.Option("--state", help="Postal code of a real state.")] = "CA",
    incidents: Annotated[int, typer.Option("--incidents", min=100, help="Incidents in all.")]
    = 200_000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 7,
) -> None:
    """Write synthetic feeds for several centers of a real state, with config and ground truth."""
    from dashboard.geo import known_state_postals

    if state.upper() not in known_state_postals():
        fail(f"--state: unknown state postal code {state!r}")
    from dashboard.demo import generate

    with progress_bar("Generating demo") as update:
        truth = generate(out, state=state.upper(), incidents=incidents, seed=seed,
                         progress=update)
    counts = truth["counts"]
    console.print(f"SYNTHETIC demo for {state.upper()} written to {out}: "
                  f"{counts['incidents_total']:,} incidents, {counts['products_total']:,} "
                  f"products, {len(truth['bad_rows'])} planted bad rows. "
                  f"Next: threat-picture ingest --config {out / 'config'}")


@app.command()
def ingest(config: ConfigOption = None, store: StoreOption = None) -> None:
    """Load every configured source into the store (one transaction)."""
    report = _ingest(config or default_config_dir(), store)
    _print_ingest_report(report)


def _ingest(config_dir: Path, store: str | None) -> IngestReport:
    try:
        project = load_config(config_dir)
        engine = open_store(project.store_url(store))
        with progress_bar("Ingesting") as update:
            return run_ingest(project, engine,
                              progress=lambda step, done, total: update(step, done / total))
    except (ConfigError, StoreError, IngestError) as error:
        fail(str(error))


def _print_ingest_report(report: IngestReport) -> None:
    table = Table(title="Ingest run", title_justify="left")
    for column in ("center", "source", "table", "status", "read", "inserted", "updated",
                   "unchanged", "rejected", "flagged"):
        table.add_column(column, justify="right" if column not in
                         ("center", "source", "table", "status") else "left")
    for source in report.sources:
        table.add_row(source.center_id, source.source_name, source.table_name, source.status,
                      *(f"{value:,}" for value in (
                          source.rows_read, source.rows_inserted, source.rows_updated,
                          source.rows_unchanged, source.rows_rejected, source.rows_flagged)))
    console.print(table)
    for source in report.sources:
        for line in source.example_errors:
            console.print(f"  rejected: {line}", highlight=False, soft_wrap=True, markup=False)
        more = source.rows_rejected - len(source.example_errors)
        if more > 0:
            console.print(f"  ... and {more:,} more rejected rows from "
                          f"{source.center_id}/{source.source_name} (see Data health)")
    links = ("kept" if report.duplicate_links is None
             else f"{report.duplicate_links:,} cross-center duplicate reports linked")
    console.print(f"{report.rows_written:,} rows written, {report.rows_rejected:,} quarantined; "
                  f"duplicates {links}.")


@app.command()
def status(
    store: StoreOption = None,
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Rows per table and center, quarantine counts, and the last run."""
    from dashboard.analytics.health import status_summary
    from dashboard.frames import load_health_frames
    from dashboard.store import table_row_counts

    configured = None
    config_dir = config or default_config_dir()
    if config is not None or (config_dir / "settings.toml").is_file():
        try:
            configured = load_config(config_dir).settings.store_url
        except ConfigError as error:
            fail(str(error))
    try:
        engine = open_store(resolve_store_url(store, configured))
    except StoreError as error:
        fail(str(error))
    summary = status_summary(load_health_frames(engine), table_row_counts(engine),
                             datetime.now(UTC))
    if as_json:
        typer.echo(json.dumps(summary, indent=2, default=str))
        return
    table = Table(title=f"Store (data version {summary['data_version']})", title_justify="left")
    for column in ("table", "rows"):
        table.add_column(column)
    for name, rows in summary["tables"].items():
        table.add_row(name, f"{rows:,}")
    Console().print(table)
    centers = Table(title="Centers", title_justify="left")
    columns = ["center_id", "incidents", "products", "quarantined", "flagged_locations",
               "duplicate_reports"]
    for column in columns:
        centers.add_column(column)
    for row in summary["centers"]:
        centers.add_row(*(f"{row[c]:,}" if isinstance(row[c], int) else row[c] for c in columns))
    Console().print(centers)
    last = summary["last_run"]
    typer.echo(f"Last run: {last['finished_at']} ({last['center_id']}/{last['source_name']}, "
               f"{last['status']})" if last else "No ingest has run yet.")


@app.command()
def analyze(
    config: ConfigOption = None,
    store: StoreOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (the only format).")]
    = True,
) -> None:
    """Print the analysis the pages show (hot spots, KPIs) for the default filters."""
    from zoneinfo import ZoneInfo

    from dashboard.analytics.filters import Filters
    from dashboard.analytics.report import analysis_report
    from dashboard.frames import load_picture_frames

    try:
        project = load_config(config or default_config_dir())
        engine = open_store(project.store_url(store))
    except (ConfigError, StoreError) as error:
        fail(str(error))
    timezone = project.settings.timezone
    frames = load_picture_frames(engine, timezone)
    today = datetime.now(ZoneInfo(timezone)).date()
    report = analysis_report(frames, project, Filters(), today)
    typer.echo(json.dumps(report, indent=2, default=str))


@app.command()
def serve(
    config: ConfigOption = None,
    store: StoreOption = None,
    with_demo: Annotated[bool, typer.Option(
        "--demo", help="On first start (empty store), generate the demo into ./data/demo and "
        "ingest it.")] = False,
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8501,
    address: Annotated[str, typer.Option("--address", help="Address to bind.")] = "127.0.0.1",
    headless: Annotated[bool, typer.Option("--headless", help="Do not open a browser.")] = False,
) -> None:
    """Start the app (Streamlit) on the store."""
    config_dir = config or default_config_dir()
    if with_demo:
        config_dir = config or Path("data") / DEMO_DIR_NAME / "config"
        if not (config_dir / "centers.toml").is_file():
            demo(out=config_dir.parent)
    try:
        project = load_config(config_dir)
        url = project.store_url(store)
        engine = open_store(url)
    except (ConfigError, StoreError) as error:
        fail(str(error))
    from dashboard.store import data_version

    if with_demo and data_version(engine) == 0:
        _print_ingest_report(_ingest(config_dir, url))
    env = {**os.environ, CONFIG_ENV: str(config_dir.resolve()), "THREAT_PICTURE_STORE": url}
    command = [
        sys.executable, "-m", "streamlit", "run", str(PROJECT_ROOT / "app.py"),
        "--server.port", str(port), "--server.address", address,
        "--server.headless", str(headless).lower(), "--browser.gatherUsageStats", "false",
    ]
    console.print(f"Serving on http://{address}:{port} (store {project.settings.state}: {url})")
    raise typer.Exit(subprocess.call(command, env=env))


if __name__ == "__main__":
    app()
