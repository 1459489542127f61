"""A demo of the national network (issue 16, item 4): two or three neighbouring states'
deployments and a network deployment over them, joined only by signed bundles.

``generate_network`` writes, under ``out_dir``:

- ``<state>/``: each state's own demo (``generate``: config, feeds, ground truth), a signing key
  pair in ``config/keys/`` and ``[exchange] signing_key``; its store ``store.sqlite`` after the
  ingest; its bundle ``bundles/<STATE>.json``, exported at the demo's marking for the last
  ``weeks`` complete weeks;
- ``network/``: the network deployment: ``config/`` (``state = "ID+OR+WA"``, one region and one
  member "center" per state, the states' public keys as ``trusted_keys``, the shared taxonomy
  with the coverage product type) and ``store.sqlite`` with every bundle imported (and the demo
  accounts).

Nothing but the bundles goes from a state to the network: the network's store holds no record.
"""

from __future__ import annotations

import shutil
import tomllib
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import tomli_w

from dashboard.analytics.filters import last_complete_week_end
from dashboard.demo.generator import generate
from dashboard.frames import NETWORK_COVERAGE_TYPE
from dashboard.geo import NETWORK_SEPARATOR, state_counties
from dashboard.settings import load_config
from dashboard.store import open_store

ProgressCallback = Callable[[str, float], None]
# Oregon, Washington and Idaho: neighbours whose counties the demo can plant hot spots in.
DEFAULT_NETWORK = ("ID", "OR", "WA")
NETWORK_MARKING = "TLP:AMBER"
NETWORK_OPERATOR = "demo:network"
STATE_NAMES = {"ID": "Idaho", "OR": "Oregon", "WA": "Washington", "CA": "California",
               "NV": "Nevada"}


def _rewrite_toml(path: Path, change: Callable[[dict[str, Any]], None], header: str) -> None:
    with path.open("rb") as handle:
        data = tomllib.load(handle)
    change(data)
    path.write_text(header + tomli_w.dumps(data), encoding="utf-8")


HEADER = "# Synthetic demo written by `threat-picture demo --network`: invented data, real " \
         "geography.\n"


def _set_signing_key(relative: str, settings: dict[str, Any]) -> None:
    settings["exchange"] = {"signing_key": relative}


def _state_folder(out_dir: Path, state: str) -> Path:
    return out_dir / state.lower()


def _network_config(out_dir: Path, states: Sequence[str], timezone: str) -> Path:
    """The network deployment's config folder: its states as regions and member centers."""
    config_dir = out_dir / "network" / "config"
    (config_dir / "keys").mkdir(parents=True, exist_ok=True)
    trusted: dict[str, list[str]] = {}
    for state in states:
        public = _state_folder(out_dir, state) / "config" / "keys" / f"{state}.pub.pem"
        shutil.copy(public, config_dir / "keys" / public.name)
        trusted[state] = [f"keys/{public.name}"]
    names = [STATE_NAMES.get(state, state) for state in states]
    settings = {
        "state": NETWORK_SEPARATOR.join(states),
        "title": f"{', '.join(names[:-1])} and {names[-1]} network picture",
        "timezone": timezone, "synthetic": True,
        "exchange": {"trusted_keys": trusted},
    }
    (config_dir / "settings.toml").write_text(HEADER + tomli_w.dumps(settings), encoding="utf-8")
    regions = {"regions": [
        {"id": state.lower(), "name": STATE_NAMES.get(state, state),
         "counties": sorted(state_counties(state)["county_fips"].tolist())}
        for state in states]}
    (config_dir / "regions.toml").write_text(HEADER + tomli_w.dumps(regions), encoding="utf-8")
    centers = {"centers": [
        {"id": state.lower(), "name": f"{STATE_NAMES.get(state, state)} (network member)",
         "kind": "state", "timezone": load_config(
             _state_folder(out_dir, state) / "config").settings.timezone,
         "aor_regions": [state.lower()]}
        for state in states]}
    (config_dir / "centers.toml").write_text(HEADER + tomli_w.dumps(centers), encoding="utf-8")
    taxonomy = _state_folder(out_dir, states[0]) / "config" / "taxonomy.toml"
    shutil.copy(taxonomy, config_dir / "taxonomy.toml")
    _rewrite_toml(config_dir / "taxonomy.toml", lambda data: data["product_types"].update(
        {NETWORK_COVERAGE_TYPE: "Member state's coverage (from its bundle)"}), HEADER)
    return config_dir


def generate_network(out_dir: Path, states: Sequence[str] = DEFAULT_NETWORK,
                     incidents: int = 20_000, seed: int = 7, weeks: int = 26,
                     today: date | None = None,
                     progress: ProgressCallback | None = None) -> dict[str, Any]:
    """Write the states' demos, load each, export each state's bundle, write the network
    deployment and import every bundle into it (module docstring). Returns, per state, the
    incidents and cells its bundle released, and the network's paths."""
    from dashboard.exchange.network import export_bundle, import_bundle, new_key_pair
    from dashboard.ingest.pipeline import run_ingest
    from dashboard.security.accounts import ensure_demo_users

    report = progress or (lambda _step, _fraction: None)
    states = [state.upper() for state in states]
    if not 2 <= len(states) <= 3 or len(set(states)) != len(states):
        raise ValueError("a network demo has two or three different states")
    today = today or datetime.now(UTC).date()
    out_dir = Path(out_dir)
    period_end = last_complete_week_end(today)
    period_start = period_end - timedelta(weeks=weeks) + timedelta(days=1)
    released: dict[str, dict[str, Any]] = {}
    for number, state in enumerate(states):
        step = number / (len(states) + 1)
        folder = _state_folder(out_dir, state)
        report(f"{state}: generating", step)
        generate(folder, state=state, incidents=incidents, seed=seed + number, today=today)
        keys = folder / "config" / "keys"
        keys.mkdir(exist_ok=True)
        private, public = new_key_pair()
        (keys / f"{state}.key.pem").write_bytes(private)
        (keys / f"{state}.key.pem").chmod(0o600)
        (keys / f"{state}.pub.pem").write_bytes(public)
        _rewrite_toml(folder / "config" / "settings.toml",
                      partial(_set_signing_key, f"keys/{state}.key.pem"), HEADER)
        config = load_config(folder / "config")
        report(f"{state}: loading", step + 0.3 / (len(states) + 1))
        engine = open_store(f"sqlite:///{folder / 'store.sqlite'}")
        run_ingest(config, engine)
        report(f"{state}: exporting its bundle", step + 0.8 / (len(states) + 1))
        (folder / "bundles").mkdir(exist_ok=True)
        bundle = export_bundle(config, engine, period_start, period_end, NETWORK_MARKING,
                               folder / "bundles" / f"{state}.json", NETWORK_OPERATOR, today)
        counts = bundle["payload"]["counts"]
        released[state] = {"cells": len(counts),
                           "incidents": sum(cell["count"] for cell in counts),
                           "bundle": str(folder / "bundles" / f"{state}.json")}
        engine.dispose()
    report("network: importing the bundles", len(states) / (len(states) + 1))
    timezone = load_config(_state_folder(out_dir, states[0]) / "config").settings.timezone
    network_config = load_config(_network_config(out_dir, states, timezone))
    store_url = f"sqlite:///{out_dir / 'network' / 'store.sqlite'}"
    engine = open_store(store_url)
    for state in states:
        import_bundle(engine, network_config, Path(released[state]["bundle"]),
                      NETWORK_OPERATOR)
    ensure_demo_users(engine, network_config)
    engine.dispose()
    report("done", 1.0)
    return {"states": released, "period": [period_start.isoformat(), period_end.isoformat()],
            "config": str(out_dir / "network" / "config"), "store": store_url}
