"""AppTests of the Briefing page on the Rhode Island fixture (winter 2025): the preview holds the
composed figures, producing needs a purpose, and a produced briefing is archived, logged as a
dissemination and in the audit trail, and listed for download."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
import sqlalchemy as sa

from dashboard.briefing.archive import dissemination_log
from dashboard.security.audit import audit_frame
from dashboard.store import open_store
from tests.app_support import metric, open_app, table_with
from tests.briefing_support import briefing_deployment

PAGE = "pages/briefing.py"
WINTER_2025 = {"period": "custom", "start": "2025-01-01", "end": "2025-02-28"}


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    return briefing_deployment(tmp_path_factory.mktemp("app_briefing"))


def test_preview_then_produce_a_logged_briefing(deployment: tuple[Path, str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_app(deployment, monkeypatch, WINTER_2025, page=PAGE, role="analyst")
    assert at.title[0].value == "Briefing"
    # The sidebar's custom range is the briefing's period.
    assert at.segmented_control(key="briefing_period").value == "custom"
    # Markdown source: feed and config text arrive with Markdown's specials escaped.
    judgments = next(block.value.replace("\\", "") for block in at.markdown
                     if "incidents from" in block.value)
    assert "- 5 incidents from 2025-01-01 to 2025-02-28, none the period before." in judgments
    assert metric(at, "Incidents")[0] == "5"
    assert metric(at, "SARs")[0] == "2"
    compstat = table_with(at, "Year to date")
    assert compstat.iloc[-1]["Category"] == "Total"
    products = table_with(at, "Title")
    assert "<script>alert(1)</script> Narcotics outlook" in products["Title"].tolist()
    produce = at.button(key="briefing_produce")
    assert produce.disabled  # no purpose yet: the dissemination log needs one

    at.text_input(key="briefing_purpose").input("Winter narcotics briefing for the chiefs").run()
    at.selectbox(key="briefing_audience").select("law_enforcement").run()
    at.segmented_control(key="briefing_format").set_value("html").run()
    before = len(dissemination_log(open_store(deployment[1])))
    at.button(key="briefing_produce").click().run()
    assert not at.exception, at.exception
    assert any("Produced and logged" in box.value for box in at.success), [
        e.value for e in at.error]

    store = open_store(deployment[1])
    log = dissemination_log(store)
    assert len(log) == before + 1
    row = log[0]
    assert (row["username"], row["audience"], row["format"], row["marking"],
            row["purpose"]) == ("analyst", "law_enforcement", "html", "TLP:AMBER",
                                "Winter narcotics briefing for the chiefs")
    archived = deployment[0].parent / "archive" / row["file_name"]
    manifest = json.loads(archived.with_name(archived.name + ".json").read_text())
    assert manifest["filters"]["start"] == "2025-01-01" and manifest["counts"]["incidents"] == 5
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in archived.read_text()
    briefing_rows = audit_frame(store).filter(pl.col("action") == "briefing")
    assert briefing_rows.height == 1
    assert (briefing_rows["page"][0], briefing_rows["rows"][0]) == ("briefing", row["rows"])
    # The archive lists it (the analyst may receive what the analyst produced).
    listing = table_with(at, "purpose")
    assert listing.iloc[0]["file"] == row["file_name"]
    assert listing.iloc[0]["marking"] == "TLP:AMBER"


def test_a_higher_marking_and_another_viewer(deployment: tuple[Path, str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_app(deployment, monkeypatch, WINTER_2025, page=PAGE, role="leadership")
    # The director may mark up to TLP:RED; the banner follows the choice.
    at.selectbox(key="briefing_marking").select("TLP:RED").run()
    assert not at.exception
    assert any("TLP:RED" in block.value for block in at.markdown)
    at.text_input(key="briefing_purpose").input("Eyes only").run()
    at.button(key="briefing_produce").click().run()
    assert any("TLP:RED" in box.value for box in at.success)
    store: sa.Engine = open_store(deployment[1])
    assert dissemination_log(store)[0]["marking"] == "TLP:RED"
    # An analyst does not see the director's TLP:RED briefing in the archive.
    analyst = open_app(deployment, monkeypatch, WINTER_2025, page=PAGE, role="analyst")
    files = table_with(analyst, "purpose")["file"].tolist()
    assert dissemination_log(store)[0]["file_name"] not in files
