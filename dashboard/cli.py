"""The `threat-picture` command: demo, ingest, status, analyze, brief, export, serve, users, purge.

Every command exits non-zero with one line naming what is wrong; long work shows progress.
"""

from __future__ import annotations

import functools
import getpass
import inspect
import json
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn

import sqlalchemy as sa
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from dashboard.analytics.filters import (
    FILTER_FIELDS,
    FILTER_FIELDS_BY_NAME,
    FilterField,
    Filters,
    filter_value_names,
    parse_value,
)
from dashboard.cli_options import CONFIG_ENV, ConfigOption, StoreOption
from dashboard.ingest.pipeline import IngestError, IngestReport, run_ingest
from dashboard.security import accounts, audit
from dashboard.security.policy import (
    Viewer,
    may_produce_briefing,
    visibility_class,
    visible_frames,
)
from dashboard.settings import ConfigError, ProjectConfig, load_config, resolve_store_url
from dashboard.store import StoreError, open_store

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

UserOption = Annotated[
    str | None,
    typer.Option("--user", envvar="THREAT_PICTURE_USER", help="Whose view: the output holds "
                 "only what this account may see (default: $THREAT_PICTURE_USER)."),
]


def fail(message: str) -> NoReturn:
    console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code=1)


# --- the shared filters as options (declared once: dashboard.analytics.filters) ----------------

FILTERS_PARAMETER = "filter_options"  # what a command with the filter options receives them as
FILTERS_PANEL = "Filters"


def _filter_parameter(field: FilterField, defaults: Mapping[str, Any]) -> inspect.Parameter:
    """One field's option, as a parameter of a command's signature."""
    help_text = field.option_help
    if field.multiple or field.widget == "date_range":
        annotation: Any = list[str] | None if field.multiple else str | None
        default = None
    else:
        annotation = bool if field.widget == "toggle" else str
        default = defaults.get(field.name, getattr(Filters(), field.name))
    return inspect.Parameter(
        f"filter_{field.name}", inspect.Parameter.KEYWORD_ONLY, default=default,
        annotation=Annotated[annotation, typer.Option(
            field.option, help=help_text, show_default=default is not None,
            rich_help_panel=FILTERS_PANEL)])


def with_filter_options(**defaults: Any) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Give a command one named option per declared filter (``FILTER_FIELDS``), in place of
    its ``filter_options`` parameter: that receives {filter name: the option's value} (None:
    not given). ``defaults``: the command's own defaults (by filter name)."""

    def decorate(command: Callable[..., None]) -> Callable[..., None]:
        signature = inspect.signature(command, eval_str=True)
        own = [parameter for name, parameter in signature.parameters.items()
               if name != FILTERS_PARAMETER]
        parameters = own + [_filter_parameter(field, defaults) for field in FILTER_FIELDS]

        @functools.wraps(command)
        def run(**given: Any) -> None:
            chosen = {field.name: given.pop(f"filter_{field.name}") for field in FILTER_FIELDS}
            command(**given, **{FILTERS_PARAMETER: chosen})

        # Typer reads the options off the signature.
        run.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
        run.__annotations__ = {parameter.name: parameter.annotation for parameter in parameters}
        return run

    return decorate


def filters_from_options(project: ProjectConfig, given: Mapping[str, Any]) -> Filters:
    """The filters the options ask for, each value checked against the deployment's
    vocabularies (a vocabulary value by its key or its name); a bad one fails naming the
    option."""
    vocabularies = project.vocabularies()
    names = filter_value_names(project)
    changes: dict[str, object] = {}
    for field in FILTER_FIELDS:
        value = given.get(field.name)
        if value is None:
            continue
        if field.only_when is not None:
            other, wanted = field.only_when
            if changes.get(other, getattr(Filters(), other)) != wanted:
                fail(f"{field.option}: only with {FILTER_FIELDS_BY_NAME[other].option} {wanted}")
        if field.widget == "toggle":
            changes[field.name] = bool(value)
        elif field.multiple:
            changes[field.name] = field.selection(
                _option_value(project, field, text, vocabularies, names) for text in value)
        else:
            changes[field.name] = _option_value(project, field, value, vocabularies, names)
    return Filters().with_changes(**changes)


def _option_value(project: ProjectConfig, field: FilterField, text: str,
                  vocabularies: Mapping[str, frozenset[str]],
                  names: Mapping[str, Mapping[str, str]]) -> Any:
    """One value of a filter option: by its key, or by its name (case and a trailing noun
    ignored: "Providence County")."""
    value = parse_value(field, text, vocabularies)
    labels = names.get(field.value_labels or "", {})
    if value is None and labels:
        allowed = {field.text(key): key for key in field.allowed(vocabularies)}
        by_name = {name.lower(): allowed[key] for key, name in labels.items() if key in allowed}
        wanted = text.strip().lower()
        value = by_name.get(wanted, by_name.get(wanted.removesuffix(f" {field.noun}")))
    if value is None:
        known = ", ".join(field.text(key) for key in field.allowed(vocabularies))
        fail(f"{field.option}: " + field.unknown.format(
            noun=field.noun, value=text, known=known, state=project.settings.state))
    return value


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
    network: Annotated[str | None, typer.Option(
        "--network", help="Instead: a network demo of two or three neighbouring states, "
        "comma-separated (e.g. ID,OR,WA): each state's deployment is generated and loaded, "
        "exports its signed bundle, and a network deployment in OUT/network imports them. "
        "--incidents is then per state.")] = None,
) -> None:
    """Write synthetic feeds for several centers of a real state, with config and ground truth
    (or, with --network, several states' deployments and a network deployment over them)."""
    from dashboard.geo import known_state_postals

    if network is not None:
        _network_demo(out, [part.strip() for part in network.split(",")], incidents, seed)
        return
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


def _network_demo(out: Path, states: list[str], incidents: int, seed: int) -> None:
    from dashboard.demo.network import generate_network

    try:
        with progress_bar("Generating the network demo") as update:
            made = generate_network(out, states, incidents=incidents, seed=seed,
                                    progress=update)
    except ValueError as error:
        fail(f"--network: {error}")
    released = "; ".join(f"{state} {figures['incidents']:,} incidents in {figures['cells']:,} "
                         "released cells" for state, figures in made["states"].items())
    console.print(f"SYNTHETIC network demo written to {out}: {released} "
                  f"({made['period'][0]} to {made['period'][1]}). Next: threat-picture serve "
                  f"--config {made['config']} --store {made['store']}", highlight=False,
                  soft_wrap=True)


@app.command()
def ingest(config: ConfigOption = None, store: StoreOption = None) -> None:
    """Load every configured source into the store, each source in its own transaction; exits
    non-zero when a source failed (every other source still loads)."""
    report = _ingest(config or default_config_dir(), store)
    _print_ingest_report(report)
    if report.failed:
        for source in report.failed:
            console.print(f"[bold red]failed:[/] {source.center_id}/{source.source_name}: "
                          f"{source.error}", highlight=False, soft_wrap=True)
        raise typer.Exit(code=1)


def _ingest(config_dir: Path, store: str | None) -> IngestReport:
    try:
        project = load_config(config_dir)
        engine = open_store(project.store_url(store))
        with progress_bar("Ingesting") as update:
            report = run_ingest(project, engine,
                                progress=lambda step, done, total: update(step, done / total))
    except (ConfigError, StoreError, IngestError) as error:
        fail(str(error))
    from dashboard.alerts.evaluate import evaluate_after_ingest

    evaluate_after_ingest(project, engine, report.rows_written)  # never fails the ingest
    return report


def _print_ingest_report(report: IngestReport) -> None:
    table = Table(title="Ingest run", title_justify="left")
    for column in ("center", "source", "table", "status", "read", "inserted", "updated",
                   "unchanged", "rejected", "flagged"):
        table.add_column(column, justify="right" if column not in
                         ("center", "source", "table", "status") else "left")
    for source in report.sources:
        status = source.status if source.read_from_line is None \
            else f"{source.status} (appended, from line {source.read_from_line:,})"
        table.add_row(source.center_id, source.source_name, source.table_name, status,
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
    for failed in summary["failed_sources"]:
        typer.echo(f"Failed source: {failed['center_id']}/{failed['source_name']} at "
                   f"{failed['failed_at']}: {failed['error']}")


@app.command()
@with_filter_options()
def analyze(
    filter_options: dict[str, Any],
    config: ConfigOption = None,
    store: StoreOption = None,
    user: UserOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (the only format).")]
    = True,
) -> None:
    """Print the analysis the pages show (hot spots, KPIs) under the filters (the sidebar's,
    as options), as the given user may see it (the marking policy applies; the run is
    audited)."""
    from zoneinfo import ZoneInfo

    from dashboard.frames import load_picture_frames
    from dashboard.pagemodels.report import analysis_report

    try:
        project = load_config(config or default_config_dir())
        engine = open_store(project.store_url(store))
    except (ConfigError, StoreError) as error:
        fail(str(error))
    filters = filters_from_options(project, filter_options)
    viewer = _viewer(engine, project, user)
    if not may_produce_briefing(viewer):
        fail(f"user {viewer.username!r} is a partner: partners see aggregates in the app only")
    timezone = project.settings.timezone
    frames = visible_frames(viewer, load_picture_frames(engine, timezone, project.settings.network))
    today = datetime.now(ZoneInfo(timezone)).date()
    report = analysis_report(frames, project, filters, today,
                             visibility_class(viewer, frames.red_recipients))
    audit.record(engine, viewer.username, "analyze", page="analyze",
                 detail={"filters": report["filters"], "data_version": report["data_version"]})
    typer.echo(json.dumps(report, indent=2, default=str))


@app.command()
@with_filter_options(period="7d")
def brief(
    filter_options: dict[str, Any],
    file_format: Annotated[str, typer.Option("--format", help="pdf or html.")] = "pdf",
    out: Annotated[Path | None, typer.Option(
        "--out", help="Also write the file here, its manifest beside it as PATH.json.")] = None,
    user: UserOption = None,
    audience: Annotated[str | None, typer.Option(
        "--audience", help="Who receives it: a key of taxonomy.toml [audiences].")] = None,
    purpose: Annotated[str, typer.Option(
        "--purpose", help="Why it is released, for the dissemination log.")]
    = "Scheduled briefing",
    marking: Annotated[str | None, typer.Option(
        "--marking", help="Mark it at least this (e.g. TLP:AMBER); never below the most "
        "restrictive record it draws on.")] = None,
    as_of: Annotated[str | None, typer.Option(
        "--as-of", help="Last day of the period, YYYY-MM-DD (default: today in the "
        "deployment's time zone).")] = None,
    archive: Annotated[Path | None, typer.Option(
        "--archive", help="Archive folder (default: settings.toml [briefing] archive_dir).")]
    = None,
    config: ConfigOption = None,
    store: StoreOption = None,
) -> None:
    """Write a marked briefing (PDF or self-contained HTML) for cron: the file and its JSON
    manifest go into the archive folder, and the release is logged (dissemination log and
    audit trail). It holds only what --user may see; partners may not produce one. The
    filters are the sidebar's, as options."""
    from datetime import date
    from zoneinfo import ZoneInfo

    from dashboard.briefing.archive import archive_folder, produce
    from dashboard.briefing.compose import FORMATS, BriefingError, compose_from_store

    if file_format not in FORMATS:
        fail(f"--format: {file_format!r} is not one of {', '.join(FORMATS)}")
    project, engine = _open(config, store)
    filters = filters_from_options(project, filter_options)
    if audience is not None and audience not in project.taxonomy.audiences:
        fail(f"--audience: unknown audience {audience!r} (known: "
             f"{', '.join(project.taxonomy.audiences)})")
    timezone = ZoneInfo(project.settings.timezone)
    try:
        today = date.fromisoformat(as_of) if as_of else datetime.now(timezone).date()
    except ValueError:
        fail(f"--as-of: {as_of!r} is not a date (YYYY-MM-DD)")
    viewer = _viewer(engine, project, user)
    if not may_produce_briefing(viewer):
        fail(f"user {viewer.username!r} is a partner: partners receive briefings, they do not "
             "produce them")
    folder = archive_folder(project.settings.briefing.archive_dir, archive)
    try:
        with progress_bar("Briefing") as update:
            briefing = compose_from_store(
                engine, project, viewer, filters, today, audience=audience,
                marking_floor=marking, progress=lambda step, done: update(step, 0.7 * done))
            update(f"rendering {file_format.upper()}", 0.75)
            produced = produce(engine, briefing.stamped(datetime.now(UTC)), file_format,
                               purpose, folder, out=out)
            update("archived and logged", 1.0)
    except (BriefingError, OSError) as error:
        fail(str(error))
    console.print(f"{briefing.marking} briefing ({briefing.period.label()}, "
                  f"{briefing.records_drawn_on:,} records drawn on) archived as "
                  f"{produced.path} with its manifest {produced.manifest_path.name}"
                  + (f"; copied to {out}" if out else "") + ".", highlight=False,
                  soft_wrap=True)


export_app = typer.Typer(help="Exchange formats: `export stix` writes a STIX 2.1 bundle.",
                         no_args_is_help=True)
app.add_typer(export_app, name="export")

from dashboard.exchange.commands import exchange_app  # noqa: E402 (it imports this module late)

app.add_typer(exchange_app, name="exchange")


@export_app.command("stix")
@with_filter_options()
def export_stix(
    filter_options: dict[str, Any],
    out: Annotated[Path, typer.Option("--out", help="Write the bundle (JSON) here.")],
    user: UserOption = None,
    as_of: Annotated[str | None, typer.Option(
        "--as-of", help="Last day of the period, YYYY-MM-DD (default: today in the "
        "deployment's time zone).")] = None,
    config: ConfigOption = None,
    store: StoreOption = None,
) -> None:
    """Write a STIX 2.1 bundle of the products published in the period and the picture's
    incidents per county and threat category, as --user may receive them (partners: released
    cells only, no summaries), with TLP 2.0 markings; the export is audited. The filters are
    the sidebar's, as options."""
    from datetime import date
    from zoneinfo import ZoneInfo

    from dashboard.exchange.stix import audited_stix_export
    from dashboard.frames import load_picture_frames
    from dashboard.security.audience import view_data

    project, engine = _open(config, store)
    filters = filters_from_options(project, filter_options)
    timezone = project.settings.timezone
    try:
        today = date.fromisoformat(as_of) if as_of else datetime.now(ZoneInfo(timezone)).date()
    except ValueError:
        fail(f"--as-of: {as_of!r} is not a date (YYYY-MM-DD)")
    viewer = _viewer(engine, project, user)
    frames = load_picture_frames(engine, timezone, project.settings.network)
    data = view_data(frames, visibility_class(viewer, frames.red_recipients),
                     project.settings.security.partner_min_count, today, timezone)
    content, export = audited_stix_export(engine, viewer.username, project, data, filters,
                                          today, datetime.now(UTC), page="export stix",
                                          file_name=out.name)
    try:
        out.write_bytes(content)
    except OSError as error:
        fail(f"--out: cannot write {out}: {error.strerror or error}")
    console.print(f"{export.marking} STIX 2.1 bundle written to {out}: {export.products:,} "
                  f"products, {export.cells:,} county x category counts "
                  f"({export.incidents:,} incidents).", highlight=False, soft_wrap=True)


# Streamlit's own command line with its legacy "pages/ folder" mode off from the first request:
# the app declares its pages with st.navigation, and in the legacy mode a fresh server's first
# request to /map would run that page without app.py (no sign-in, navigation or sidebar). Run
# as a bare script that imports nothing of the app: a component (the folium map) imported
# before Streamlit's runtime exists would never be registered.
STREAMLIT_WITHOUT_LEGACY_PAGES = (
    "import sys; import importlib; "
    "importlib.import_module('streamlit.runtime.pages_manager')"
    ".PagesManager.uses_pages_directory = False; "
    "sys.argv = ['streamlit', *sys.argv[1:]]; "
    "importlib.import_module('streamlit.web.cli').main()"
)


@app.command()
def serve(
    config: ConfigOption = None,
    store: StoreOption = None,
    with_demo: Annotated[bool, typer.Option(
        "--demo", help="On first start (empty store), generate the demo into ./data/demo and "
        "ingest it.")] = False,
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8501,
    address: Annotated[str, typer.Option("--address", help="Address to bind.")] = "127.0.0.1",
    open_browser: Annotated[bool, typer.Option(
        "--open/--headless", help="Open a browser on the app once it serves (off by default: "
        "a server, a service or a container has no display).")] = False,
    secrets: Annotated[Path | None, typer.Option(
        "--secrets", help="Streamlit secrets file to read instead of .streamlit/secrets.toml "
        "(its \\[auth] section configures single sign-on when settings.toml has "
        "\\[security] auth = \"oidc\").")] = None,
    watch: Annotated[bool, typer.Option(
        "--watch", help="Also run `threat-picture watch` on the same config and store, as a "
        "child process that stops with the server.")] = False,
) -> None:
    """Start the app (Streamlit) on the store."""
    if secrets is not None and not secrets.is_file():
        fail(f"{secrets}: no such secrets file")
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
    if with_demo and project.settings.synthetic:
        created = accounts.ensure_demo_users(engine, project)
        if created:
            console.print("Demo accounts (synthetic data only; shown once):")
            for credential in created:
                console.print(f"  {credential.role:<10} {credential.username:<9} "
                              f"password {credential.password}")
    env = {**os.environ, CONFIG_ENV: str(config_dir.resolve()), "THREAT_PICTURE_STORE": url}
    _fail_unless_port_free(address, port)
    command = [
        sys.executable, "-c", STREAMLIT_WITHOUT_LEGACY_PAGES, "run", str(PROJECT_ROOT / "app.py"),
        "--server.port", str(port), "--server.address", address,
        *streamlit_flags(open_browser),
    ]
    if secrets is not None:
        command += ["--secrets.files", str(secrets.resolve())]
    console.print(f"Serving on http://{address}:{port} (store {project.settings.state}: {url})")
    # Become the Streamlit server (no child process): a service manager, or a test stopping
    # this process, stops the server itself rather than leaving it orphaned.
    sys.stdout.flush()
    sys.stderr.flush()
    if watch:
        _start_watch_child(env)
    os.execve(sys.executable, command, env)


def streamlit_flags(open_browser: bool) -> list[str]:
    """Streamlit's settings as flags, whatever the working directory (its config.toml is read
    only from there). Headless unless a browser is asked for: a headless Streamlit neither
    asks for an e-mail address on its first run (which kills a server with no terminal) nor
    opens a browser."""
    return [
        "--server.headless", str(not open_browser).lower(),
        "--browser.gatherUsageStats", "false",  # closed network: nothing leaves the host
        "--server.runOnSave", "false",
        "--server.enableStaticServing", "true",  # the vendored Leaflet plugins in static/
        "--client.toolbarMode", "minimal",
        "--theme.base", "light",
        "--theme.primaryColor", "#1f4e79",
    ]


def _fail_unless_port_free(address: str, port: int) -> None:
    """Say in one line that the port is taken (Streamlit would log a traceback-like error)."""
    import socket

    try:
        with socket.create_server((address, port)):
            pass
    except OSError as error:
        reason = os.strerror(error.errno) if error.errno else str(error)
        fail(f"cannot serve on {address}:{port}: {reason}")


def _start_watch_child(env: dict[str, str]) -> None:
    """`threat-picture watch` as a child of this process, which then becomes the server (the
    same pid): the child stops when that pid is no longer its parent, and on Linux is also
    sent SIGTERM when the server dies."""
    import contextlib
    import signal
    import subprocess

    def die_with_parent() -> None:
        with contextlib.suppress(OSError, AttributeError):
            import ctypes

            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PDEATHSIG

    subprocess.Popen(
        [sys.executable, "-m", "dashboard.cli", "watch", "--config", env[CONFIG_ENV],
         "--store", env["THREAT_PICTURE_STORE"], "--parent-pid", str(os.getpid())],
        env=env, preexec_fn=die_with_parent if sys.platform == "linux" else None,
    )
    console.print("Watching the feeds (threat-picture watch) alongside the server.")


@app.command()
def watch(
    config: ConfigOption = None,
    store: StoreOption = None,
    files: Annotated[bool, typer.Option(
        "--files/--no-files", help="Also ingest a file source as soon as its file changes.")]
    = True,
    parent_pid: Annotated[int | None, typer.Option(
        "--parent-pid", hidden=True, help="Stop when this process is no longer the parent "
        "(serve --watch).")] = None,
) -> None:
    """Keep the store current: ingest each source on its schedule (centers.toml `schedule`)
    and, for file sources, when the file changes; a failing source is retried with backoff.
    Runs until SIGTERM or Ctrl-C."""
    import logging

    from dashboard.watch import serve_forever

    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.ERROR)  # no "skipped: still running"
    try:
        project = load_config(config or default_config_dir())
        url = project.store_url(store)
        engine = open_store(url)
    except (ConfigError, StoreError) as error:
        fail(str(error))
    serve_forever(project, engine, url, parent_pid=parent_pid, watch_files=files)


@app.command()
def bench(
    incidents: Annotated[int, typer.Option("--incidents", min=2_000, help="Size of the demo "
                                           "data to generate and measure.")] = 1_000_000,
    store: Annotated[str | None, typer.Option(
        "--store", help="SQLAlchemy URL to bench (default: a fresh SQLite file in the work "
        "folder); a postgresql+psycopg:// URL benches PostgreSQL, in a schema of the bench's "
        "own.")] = None,
    reuse: Annotated[bool, typer.Option(
        "--reuse", help="Measure the store a previous run left (no generation, no ingest).")]
    = False,
    repeat: Annotated[int, typer.Option("--repeat", min=1, help="Runs per measurement after "
                                        "a warm-up run; the median is reported.")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    out: Annotated[Path | None, typer.Option("--out", help="Write the report as Markdown "
                                             "here.")] = None,
    work: Annotated[Path, typer.Option("--work", help="Folder for the demo data and SQLite "
                                       "stores.")] = Path("data/bench"),
    combine: Annotated[list[Path] | None, typer.Option(
        "--combine", help="Measure nothing: put reports written with --json side by side "
        "(repeatable).", show_default=False)] = None,
    flood_sessions: Annotated[int, typer.Option(
        "--flood-sessions", min=1, help="Attacker sessions (5 attempts each) in the sign-in "
        "flood.")] = 40,
) -> None:
    """Measure ingest, cold start, every page, the map, Gi*, coverage, a PDF briefing and a
    pandas reference against the speed targets (issue 7)."""
    from dashboard.bench.report import comparison_markdown, markdown
    from dashboard.bench.run import BenchError, BenchOptions, run_bench

    if combine:
        try:
            reports = [json.loads(path.read_text(encoding="utf-8")) for path in combine]
        except (OSError, ValueError) as error:
            fail(f"--combine: {error}")
        table = comparison_markdown(reports)
        if out is not None:
            out.write_text(table, encoding="utf-8")
        typer.echo(table)
        return

    options = BenchOptions(incidents=incidents, store=store, reuse=reuse, repeat=repeat,
                           work_dir=work, flood_sessions=flood_sessions)
    try:
        with progress_bar(f"Bench, {incidents:,} incidents") as update:
            report = run_bench(options, progress=lambda step, done, total: update(
                f"{step} ({done}/{total})", done / max(total, 1)))
    except (BenchError, StoreError, ConfigError) as error:
        fail(str(error))
    text = markdown(report)
    if out is not None:
        out.write_text(text, encoding="utf-8")
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    else:
        Console().print(text, markup=False, highlight=False, soft_wrap=True)


def _viewer(engine: sa.Engine, project: ProjectConfig, username: str | None) -> Viewer:
    if not username:
        fail("whose view? give --user NAME (or set THREAT_PICTURE_USER): the output holds only "
             "what that account may see")
    viewer = accounts.viewer_for(engine, username, project.settings.security)
    if viewer is None:
        fail(f"no enabled account {username!r} (see `threat-picture users list`)")
    return viewer


def _open(config: Path | None, store: str | None) -> tuple[ProjectConfig, sa.Engine]:
    try:
        project = load_config(config or default_config_dir())
        return project, open_store(project.store_url(store))
    except (ConfigError, StoreError) as error:
        fail(str(error))


users_app = typer.Typer(help="Local accounts: add, list, disable, enable, reset-password.",
                        no_args_is_help=True)
app.add_typer(users_app, name="users")
PasswordOption = Annotated[
    str | None,
    typer.Option("--password", envvar="THREAT_PICTURE_PASSWORD", help="Password (default: "
                 "asked twice, hidden; or $THREAT_PICTURE_PASSWORD for scripts).",
                 show_default=False),
]


def _password(given: str | None) -> str:
    return given or typer.prompt("Password", hide_input=True, confirmation_prompt=True)


@users_app.command("add")
def users_add(
    username: Annotated[str, typer.Argument(help="Sign-in name.")],
    role: Annotated[str, typer.Option("--role", help="admin, leadership, analyst or partner.")],
    center: Annotated[str, typer.Option("--center", help="Home center id (centers.toml).")],
    max_tlp: Annotated[str, typer.Option("--max-tlp", help="Highest marking the user may "
                                         "receive (capped by the role).")] = "TLP:AMBER",
    name: Annotated[str, typer.Option("--name", help="Display name.")] = "",
    need_to_know: Annotated[bool, typer.Option(
        "--need-to-know", help="May read narratives of other centers' records.")] = False,
    password: PasswordOption = None,
    config: ConfigOption = None,
    store: StoreOption = None,
) -> None:
    """Create a local account (argon2id hash stored; the password is never shown)."""
    project, engine = _open(config, store)
    try:
        accounts.add_user(engine, project, username, name or username, role, center, max_tlp,
                          _password(password), need_to_know=need_to_know)
    except accounts.UserError as error:
        fail(str(error))
    audit.record(engine, _operator(), "user_admin", page="users add",
                 detail={"user": username, "role": role, "center_id": center})
    console.print(f"Added {role} {username!r} at {center}.")


@users_app.command("list")
def users_list(config: ConfigOption = None, store: StoreOption = None,
               as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
               ) -> None:
    """Every account, its role, center, marking limit and state (never a password)."""
    _, engine = _open(config, store)
    users = accounts.list_users(engine)
    if as_json:
        typer.echo(json.dumps(users.to_dicts(), indent=2, default=str))
        return
    table = Table("user", "name", "role", "center", "max TLP", "need-to-know", "sign-in",
                  "state")
    now = datetime.now(UTC)
    for row in users.iter_rows(named=True):
        locked = row["locked_until"] is not None and row["locked_until"] > now
        state = "disabled" if row["disabled"] else "locked" if locked else "active"
        table.add_row(row["username"], row["display_name"], row["role"], row["center_id"],
                      row["max_tlp"], "yes" if row["need_to_know"] else "no",
                      row["auth_method"], state)
    Console().print(table)


def _set_disabled(username: str, disabled: bool, config: Path | None, store: str | None) -> None:
    _, engine = _open(config, store)
    try:
        accounts.set_disabled(engine, username, disabled)
    except accounts.UserError as error:
        fail(str(error))
    action = "disable" if disabled else "enable"
    audit.record(engine, _operator(), "user_admin", page=f"users {action}",
                 detail={"user": username})
    console.print(f"{action.capitalize()}d {username!r}.")


@users_app.command("disable")
def users_disable(username: str, config: ConfigOption = None,
                  store: StoreOption = None) -> None:
    """Stop an account from signing in (it stays in the audit trail)."""
    _set_disabled(username, True, config, store)


@users_app.command("enable")
def users_enable(username: str, config: ConfigOption = None,
                 store: StoreOption = None) -> None:
    """Let a disabled account sign in again."""
    _set_disabled(username, False, config, store)


@users_app.command("reset-password")
def users_reset_password(username: str, password: PasswordOption = None,
                         config: ConfigOption = None, store: StoreOption = None) -> None:
    """Set a new password (also lifts a lockout)."""
    _, engine = _open(config, store)
    try:
        accounts.reset_password(engine, username, _password(password))
    except accounts.UserError as error:
        fail(str(error))
    audit.record(engine, _operator(), "user_admin", page="users reset-password",
                 detail={"user": username})
    console.print(f"New password set for {username!r}.")


def _operator() -> str:
    """Who runs a command, for the audit trail (the operating-system account)."""
    return f"cli:{getpass.getuser()}"


alerts_app = typer.Typer(help="Alert subscriptions: list, add, remove, test.",
                         no_args_is_help=True)
app.add_typer(alerts_app, name="alerts")
RULE_PANEL = "Area and topics"


def _rule_values(project: ProjectConfig, name: str, given: list[str] | None) -> list[str]:
    """Values of a list option, by key or name, as the filter options take them."""
    field = FILTER_FIELDS_BY_NAME[name]
    vocabularies, names = project.vocabularies(), filter_value_names(project)
    return [_option_value(project, field, text, vocabularies, names) for text in given or []]


@alerts_app.command("list")
def alerts_list(
    user: Annotated[str | None, typer.Option(
        "--user", help="Only this user's rules (default: everyone's).")] = None,
    removed: Annotated[bool, typer.Option("--removed", help="Include removed rules.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    config: ConfigOption = None,
    store: StoreOption = None,
) -> None:
    """Alert rules: owner, condition, area, topics and how their alerts are delivered."""
    from dashboard.alerts.rules import list_rules

    project, engine = _open(config, store)
    rules = list_rules(engine, user, active_only=not removed)
    if as_json:
        typer.echo(json.dumps([{
            "rule_id": stored.rule_id, "user": stored.username, "active": stored.active,
            "created_at": stored.created_at.isoformat(), **stored.rule.model_dump(),
            "evaluated_at": stored.evaluated_at and stored.evaluated_at.isoformat()}
            for stored in rules], indent=2))
        return
    table = Table("id", "user", "name", "rule", "delivered to", "last evaluated")
    for stored in rules:
        rule = stored.rule
        channels = ["inbox", *([rule.email] if rule.email else []),
                    *(["webhooks"] if rule.webhook else [])]
        table.add_row(str(stored.rule_id) + ("" if stored.active else " (removed)"),
                      stored.username, rule.name, rule.summary(project), ", ".join(channels),
                      f"{stored.evaluated_at:%Y-%m-%d %H:%M} UTC" if stored.evaluated_at
                      else "not yet")
    Console().print(table)


@alerts_app.command("add")
def alerts_add(
    name: Annotated[str, typer.Option("--name", help="The rule's name.")],
    condition: Annotated[str, typer.Option(
        "--condition", help="emerging_hotspot, trend_anomaly, coverage_gap, near_duplicate, "
        "count_above (with --threshold) or new_incident.")],
    user: Annotated[str | None, typer.Option(
        "--user", envvar="THREAT_PICTURE_USER", help="Whose rule: its alerts go to this "
        "account and hold only what it may see (default: $THREAT_PICTURE_USER).")] = None,
    region: Annotated[list[str] | None, typer.Option(
        "--region", help="Region id or name (repeatable).", rich_help_panel=RULE_PANEL)] = None,
    county: Annotated[list[str] | None, typer.Option(
        "--county", help="County FIPS or name (repeatable).", rich_help_panel=RULE_PANEL)]
    = None,
    geofence: Annotated[Path | None, typer.Option(
        "--geofence", help="GeoJSON file of a Polygon or MultiPolygon (WGS84).",
        rich_help_panel=RULE_PANEL)] = None,
    category: Annotated[list[str] | None, typer.Option(
        "--category", help="Threat category key or name (repeatable).",
        rich_help_panel=RULE_PANEL)] = None,
    sar_behavior: Annotated[list[str] | None, typer.Option(
        "--sar-behavior", help="ISE-SAR behaviour code (repeatable).",
        rich_help_panel=RULE_PANEL)] = None,
    target_sector: Annotated[list[str] | None, typer.Option(
        "--target-sector", help="Target sector code (repeatable).",
        rich_help_panel=RULE_PANEL)] = None,
    threshold: Annotated[int | None, typer.Option(
        "--threshold", help="count_above: fire when the count reaches this.")] = None,
    window_days: Annotated[int | None, typer.Option(
        "--window-days", help="Days the condition looks back over (default: the "
        "condition's own).")] = None,
    min_severity: Annotated[int | None, typer.Option(
        "--min-severity", help="Only incidents of at least this severity, 1-5.")] = None,
    email: Annotated[str | None, typer.Option(
        "--email", help="Also e-mail its alerts to this address (through the relay of "
        "settings.toml \\[alerts]).")] = None,
    webhook: Annotated[bool, typer.Option(
        "--webhook", help="Also post its alerts to the configured webhooks.")] = False,
    config: ConfigOption = None,
    store: StoreOption = None,
) -> None:
    """Subscribe --user to an alert rule (checked and audited)."""
    from dashboard.alerts.rules import RuleError, add_rule, rule_from

    project, engine = _open(config, store)
    viewer = _viewer(engine, project, user)
    try:
        text = geofence.read_text(encoding="utf-8") if geofence is not None else None
    except OSError as error:
        fail(f"--geofence: cannot read {geofence}: {error.strerror or error}")
    try:
        rule = rule_from({
            "name": name, "condition": condition, "geofence": text,
            "regions": _rule_values(project, "regions", region),
            "counties": _rule_values(project, "counties", county),
            "categories": _rule_values(project, "categories", category),
            "sar_behaviors": _rule_values(project, "sar_behaviors", sar_behavior),
            "target_sectors": _rule_values(project, "target_sectors", target_sector),
            "threshold": threshold, "window_days": window_days, "min_severity": min_severity,
            "email": email, "webhook": webhook})
        rule_id = add_rule(engine, project, viewer, viewer.username, rule,
                           operator=_operator(), page="alerts add")
    except RuleError as error:
        fail(str(error))
    console.print(f"Added alert rule {rule_id} for {viewer.username!r}: "
                  f"{rule.summary(project)}.", highlight=False, soft_wrap=True)


@alerts_app.command("remove")
def alerts_remove(
    rule_id: Annotated[int, typer.Argument(help="Rule id (see `alerts list`).")],
    config: ConfigOption = None,
    store: StoreOption = None,
) -> None:
    """Stop an alert rule (kept as removed, with the alerts it fired; audited)."""
    from dashboard.alerts.rules import RuleError, remove_rule

    _, engine = _open(config, store)
    try:
        stored = remove_rule(engine, rule_id, operator=_operator(), page="alerts remove")
    except RuleError as error:
        fail(str(error))
    console.print(f"Removed alert rule {rule_id} ({stored.rule.name!r} of "
                  f"{stored.username!r}).", highlight=False)


@alerts_app.command("test")
def alerts_test(
    rule_id: Annotated[int, typer.Argument(help="Rule id (see `alerts list`).")],
    as_of: Annotated[str | None, typer.Option(
        "--as-of", help="Evaluate as on this day, YYYY-MM-DD (default: today).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    config: ConfigOption = None,
    store: StoreOption = None,
) -> None:
    """Print what a rule would fire now; nothing is delivered, recorded or changed.

    Every incident of its window counts as new (the evaluation after an ingest looks only at
    what was written since the rule's last evaluation)."""
    from datetime import date

    from dashboard.alerts.evaluate import preview_rule
    from dashboard.alerts.rules import RuleError

    project, engine = _open(config, store)
    try:
        today = date.fromisoformat(as_of) if as_of else None
    except ValueError:
        fail(f"--as-of: {as_of!r} is not a date (YYYY-MM-DD)")
    try:
        found = preview_rule(project, engine, rule_id, today)
    except RuleError as error:
        fail(str(error))
    if as_json:
        typer.echo(json.dumps([{"event_key": firing.candidate.event_key,
                                "sentence": firing.candidate.sentence,
                                "view_url": firing.view_url, "marking": firing.marking,
                                "records": firing.records} for firing in found], indent=2))
        return
    if not found:
        typer.echo(f"Rule {rule_id} would fire nothing now.")
    for firing in found:
        typer.echo(f"[{firing.marking}] {firing.candidate.sentence}\n    {firing.view_url}")


@app.command()
def purge(
    apply: Annotated[bool, typer.Option("--apply/--dry-run", help="Remove the records (default: "
                                        "only list them).")] = False,
    config: ConfigOption = None,
    store: StoreOption = None,
) -> None:
    """28 CFR 23.20(h): list (--dry-run) or remove (--apply) the records past their review
    date that were not revalidated. What is purged is logged by id, never by content."""
    from dashboard.security.retention import purge as run_purge

    _, engine = _open(config, store)
    report = run_purge(engine, _operator(), apply=apply)
    for row in report.due.iter_rows(named=True):
        typer.echo(f"{row['table_name']}\t{row['center_id']}\t{row['record_id']}\t"
                   f"review by {row['review_by']:%Y-%m-%d}")
    console.print(report.summary())


@app.command()
def revalidate(
    table: Annotated[str, typer.Argument(help="incidents or products.")],
    center: Annotated[str, typer.Argument(help="Center id.")],
    record_id: Annotated[str, typer.Argument(help="incident_id or product_id.")],
    reason: Annotated[str, typer.Option("--reason", help="Why it is still needed (audited).")],
    config: ConfigOption = None,
    store: StoreOption = None,
) -> None:
    """Keep a record past its review date: its review date moves a full review period on."""
    from dashboard.security.retention import revalidate as run_revalidate

    project, engine = _open(config, store)
    try:
        review_by = run_revalidate(engine, table, center, record_id, _operator(), reason,
                                   project.settings.security.review_period_days)
    except KeyError as error:
        fail(str(error).strip("'\""))
    console.print(f"{table[:-1]} {record_id!r} of {center}: next review by {review_by:%Y-%m-%d}.")


if __name__ == "__main__":
    app()
