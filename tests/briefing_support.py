"""A deployment for briefing tests: the Rhode Island fixture with a product whose title is a
script, coverage thresholds low enough for its handful of incidents to make gaps, and the
briefing archive in the test's own folder."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

from dashboard.ingest.pipeline import run_ingest
from dashboard.security.accounts import ensure_demo_users
from dashboard.settings import load_config
from dashboard.store import open_store

RI_FIXTURE = Path(__file__).parent / "fixtures" / "ri"
AS_OF = date(2025, 2, 28)  # the fixture's incidents fall in January and February 2025
SCRIPT_TITLE = "<script>alert(1)</script> Narcotics outlook"
CAVEAT = "TEST CAVEAT: handle as marked; no release beyond the audience."
SCRIPT_PRODUCT = {
    "product_id": "RP-5", "title": SCRIPT_TITLE, "product_type": "bulletin",
    "published_at": "2025-02-20T15:00:00Z", "topics": ["narcotics"], "county_fips": ["44007"],
    "audience": "law_enforcement", "tlp": "TLP:GREEN", "summary": "Pills & <b>powder</b>.",
}


def briefing_deployment(folder: Path) -> tuple[Path, str]:
    """(config folder, store URL) of the RI fixture set up for briefings, ingested, with the
    demo accounts; briefings are archived in ``folder / "archive"``."""
    shutil.copytree(RI_FIXTURE, folder, dirs_exist_ok=True)
    with (folder / "feeds" / "rifc_products.ndjson").open("a", encoding="utf-8") as feed:
        feed.write(json.dumps(SCRIPT_PRODUCT) + "\n")
    with (folder / "config" / "settings.toml").open("a", encoding="utf-8") as settings:
        settings.write(f'\n[coverage]\nmin_incidents = 1\n\n[briefing]\narchive_dir = '
                       f'{json.dumps(str(folder / "archive"))}\ncaveat = {json.dumps(CAVEAT)}\n')
    store_url = f"sqlite:///{folder / 'store.sqlite'}"
    config = load_config(folder / "config")
    store = open_store(store_url)
    run_ingest(config, store)
    ensure_demo_users(store, config)
    store.dispose()
    return folder / "config", store_url
