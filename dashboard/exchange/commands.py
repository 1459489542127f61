"""`threat-picture exchange`: the national network's signed bundles (export, import, keygen).

Mounted by ``dashboard.cli`` (``app.add_typer(exchange_app, name="exchange")``); the shared
options come from ``dashboard.cli_options``, and the command line's helpers (config and store,
the one-line error) are imported when a command runs, since that module imports this one.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer

from dashboard.cli_options import ConfigOption, StoreOption

exchange_app = typer.Typer(
    help="The national network: export this state's released aggregates as a signed bundle, "
    "import another state's, make a signing key pair.", no_args_is_help=True)



def _day(option: str, text: str) -> date:
    from dashboard.cli import fail

    try:
        return date.fromisoformat(text)
    except ValueError:
        fail(f"{option}: {text!r} is not a date (YYYY-MM-DD)")


@exchange_app.command("export")
def export(
    period_start: Annotated[str, typer.Option("--period-start", help="First day, a Monday "
                                              "(YYYY-MM-DD).")],
    period_end: Annotated[str, typer.Option("--period-end", help="Last day, a Sunday of a "
                                            "week already over (YYYY-MM-DD).")],
    out: Annotated[Path, typer.Option("--out", help="Write the bundle here.")],
    marking: Annotated[str, typer.Option("--marking", help="TLP:CLEAR, TLP:GREEN or "
                                         "TLP:AMBER: only records marked at or below it go "
                                         "in.")] = "TLP:GREEN",
    config: ConfigOption = None,
    store: StoreOption = None,
) -> None:
    """Write a signed bundle of this state's released aggregates for whole weeks: counts by
    county x week x category x SAR behaviour (cells under k withheld) and coverage. No
    records, ids, narratives or coordinates. The export is audited."""
    from dashboard.cli import _open, _operator, console, fail
    from dashboard.exchange.network import ExportRefused, export_bundle
    from dashboard.settings import ConfigError

    project, engine = _open(config, store)
    start, end = _day("--period-start", period_start), _day("--period-end", period_end)
    today = datetime.now(ZoneInfo(project.settings.timezone)).date()
    try:
        bundle = export_bundle(project, engine, start, end, marking, out, _operator(), today)
    except (ExportRefused, ConfigError) as error:
        fail(str(error))
    except OSError as error:
        fail(f"--out: cannot write {out}: {error.strerror or error}")
    counts = bundle["payload"]["counts"]
    console.print(f"{marking} bundle of {project.settings.state}, {start} to {end}, written to "
                  f"{out}: {len(counts):,} cells, {sum(c['count'] for c in counts):,} "
                  f"incidents; key {bundle['key_id']}.", highlight=False, soft_wrap=True)


@exchange_app.command("import")
def import_(
    bundle_file: Annotated[Path, typer.Argument(help="The bundle file another state sent.")],
    config: ConfigOption = None,
    store: StoreOption = None,
) -> None:
    """Verify a bundle (signature by a key trusted for its state, not expired, not this
    state's, rows well formed) and store its aggregates under the sending state, replacing
    that state's figures for its weeks. Every attempt is audited; a rejection exits 1 with
    the reason."""
    from dashboard.cli import _open, _operator, console, fail
    from dashboard.exchange.network import BundleRejected, import_bundle
    from dashboard.settings import ConfigError

    project, engine = _open(config, store)
    try:
        result = import_bundle(engine, project, bundle_file, _operator())
    except BundleRejected as rejection:
        fail(f"{bundle_file.name}: rejected: {rejection}")
    except ConfigError as error:
        fail(str(error))
    bundle = result.bundle
    console.print(f"{bundle_file.name}: accepted {bundle.marking} bundle of {bundle.state}, "
                  f"{bundle.period.start} to {bundle.period.end}: {bundle.counts.height:,} "
                  f"cells, {bundle.incidents:,} incidents.", highlight=False, soft_wrap=True)


@exchange_app.command("keygen")
def keygen(
    out_dir: Annotated[Path, typer.Option("--out-dir", help="Folder for signing_key.pem "
                                          "(private: keep it, name it in [exchange] "
                                          "signing_key) and signing_key.pub.pem (send it to "
                                          "the other states).")],
) -> None:
    """Make an Ed25519 key pair for signing this state's bundles. Never overwrites a key."""
    from dashboard.cli import console, fail
    from dashboard.exchange.network import new_key_pair

    private_path, public_path = out_dir / "signing_key.pem", out_dir / "signing_key.pub.pem"
    if private_path.exists() or public_path.exists():
        fail(f"--out-dir: {out_dir} already holds a key pair; not overwritten")
    private_pem, public_pem = new_key_pair()
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        private_path.touch(mode=0o600)  # readable by its owner only, before it holds the key
        private_path.write_bytes(private_pem)
        public_path.write_bytes(public_pem)
    except OSError as error:
        fail(f"--out-dir: cannot write to {out_dir}: {error.strerror or error}")
    console.print(f"Key pair written: {private_path} (private), {public_path} (public).",
                  highlight=False)
