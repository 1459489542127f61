"""Duplicate linking after an append or a change reads only the reports that can pair with the
written ones, directly or through others, and still gives exactly the links of linking every
stored report again (issue 13, item 5: dense data, a report every few minutes)."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import sqlalchemy as sa

from dashboard.frames import read_frame
from dashboard.ingest import pipeline
from dashboard.ingest.dedup import LINK_COLUMNS
from dashboard.ingest.pipeline import run_ingest
from dashboard.settings import load_config
from dashboard.store import open_store

CSV_HEADER = "Case No,Date/Time,Offense,County FIPS,Lat,Lon,Behavior,Sector,Sev,Marking,Details\n"
START = datetime(2025, 3, 1)
# Places in Providence County, each about a kilometre across: reports pile up on them.
PLACES = [(41.75 + 0.05 * row, -71.70 + 0.07 * column) for row in range(4) for column in range(4)]
OFFENSES = {"gangs": "Gang Activity", "narcotics": "Narcotics"}


def report(rng: random.Random, day_span: float) -> dict[str, Any]:
    lat, lon = rng.choice(PLACES)
    located = rng.random() < 0.85
    return {
        "when": START + timedelta(minutes=rng.uniform(0, day_span * 24 * 60)),
        "category": rng.choice(list(OFFENSES)),
        "lat": round(lat + rng.uniform(-0.006, 0.006), 5) if located else None,
        "lon": round(lon + rng.uniform(-0.006, 0.006), 5) if located else None,
    }


def csv_line(key: str, row: dict[str, Any]) -> str:
    lat = "" if row["lat"] is None else row["lat"]
    lon = "" if row["lon"] is None else row["lon"]
    return (f"{key},{row['when']:%m/%d/%Y %H:%M},{OFFENSES[row['category']]},44007,{lat},{lon},"
            f",,3,GREEN,report {key}\n")


def ndjson_line(key: str, row: dict[str, Any]) -> str:
    # The CSV center's times are local (New York); these say so too.
    offset = "-05:00" if row["when"] < datetime(2025, 3, 9, 2) else "-04:00"
    record = {"id": key, "when": f"{row['when']:%Y-%m-%dT%H:%M:00}{offset}",
              "type": row["category"],
              "fips": "44007", "lat": row["lat"], "lon": row["lon"], "text": f"report {key}"}
    return json.dumps(record) + "\n"


def write_feeds(ri_dir: Path, rifc: dict[str, dict[str, Any]],
                prov: dict[str, dict[str, Any]]) -> None:
    feeds = ri_dir / "feeds"
    (feeds / "rifc_incidents.csv").write_text(
        CSV_HEADER + "".join(csv_line(key, row) for key, row in rifc.items()), encoding="utf-8")
    (feeds / "prov_incidents.ndjson").write_text(
        "".join(ndjson_line(key, row) for key, row in prov.items()), encoding="utf-8")


def links_of(engine: sa.Engine) -> list[tuple[Any, ...]]:
    return sorted(read_frame(engine, "incident_links").select(
        "center_id", "incident_id", "duplicate_of_center_id", "duplicate_of_incident_id").rows())


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_links_after_appends_and_changes_equal_linking_everything_again(
        ri_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    rng = random.Random(seed)
    # Never fall back to reading whole categories: the neighbourhood itself is under test.
    monkeypatch.setattr(pipeline, "WHOLE_READ_SHARE", 0)
    monkeypatch.setattr(pipeline, "NEIGHBOURHOOD_WHOLE_SHARE", 0)
    reads: list[int] = []
    read_windows = pipeline._read_windows

    def counted(connection: sa.Connection, windows: pl.DataFrame) -> pl.DataFrame:
        rows = read_windows(connection, windows)
        reads.append(rows.height)
        return rows

    monkeypatch.setattr(pipeline, "_read_windows", counted)
    # Dense: 600 reports in 20 days on 16 spots, two centers.
    rifc = {f"R-{n}": report(rng, 20) for n in range(300)}
    prov = {f"P-{n}": report(rng, 20) for n in range(300)}
    write_feeds(ri_dir, rifc, prov)
    incremental = open_store(f"sqlite:///{tmp_path / 'incremental.sqlite'}")
    run_ingest(load_config(ri_dir / "config"), incremental)

    for step in range(3):
        # Appends near stored reports, and changed reports moved in time and place (their
        # previous versions may have held groups together).
        for n in range(3):
            rifc[f"R-new-{step}-{n}"] = report(rng, 20)
            prov[f"P-new-{step}-{n}"] = report(rng, 20)
        for key in rng.sample(sorted(rifc), 2):
            rifc[key] = report(rng, 20)
        for key in rng.sample(sorted(prov), 2):
            prov[key] = report(rng, 20)
        write_feeds(ri_dir, rifc, prov)
        reads.clear()
        run_ingest(load_config(ri_dir / "config"), incremental)
        incremental_reads = list(reads)

        everything = open_store(f"sqlite:///{tmp_path / f'everything-{step}.sqlite'}")
        run_ingest(load_config(ri_dir / "config"), everything)
        assert links_of(incremental) == links_of(everything)
        assert len(links_of(everything)) > 20
        # Only neighbourhoods were read, not the table (600 reports and 6 more per step).
        assert incremental_reads and max(incremental_reads) < 300, incremental_reads
        everything.dispose()
    incremental.dispose()


def test_moving_a_report_relinks_reports_it_only_reached_through_others(
        ri_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Four reports at one place, 100 minutes apart, centers alternating: each pairs with its
    neighbours only. Moving the first away turns the second into an original, the third into
    its duplicate, and the fourth (300 minutes from where the first was) into an original."""
    monkeypatch.setattr(pipeline, "WHOLE_READ_SHARE", 0)
    monkeypatch.setattr(pipeline, "NEIGHBOURHOOD_WHOLE_SHARE", 0)
    place = {"category": "gangs", "lat": 41.8240, "lon": -71.4128}

    def at(minutes: float) -> dict[str, Any]:
        return {**place, "when": START + timedelta(minutes=minutes)}

    prov = {"P-1": at(0), "P-3": at(200)}
    rifc = {"R-2": at(100), "R-4": at(300)}
    write_feeds(ri_dir, rifc, prov)
    engine = open_store(f"sqlite:///{tmp_path / 'store.sqlite'}")
    run_ingest(load_config(ri_dir / "config"), engine)
    assert links_of(engine) == [("rifc", "R-2", "prov", "P-1"), ("rifc", "R-4", "prov", "P-3")]

    prov["P-1"] = at(10 * 24 * 60)
    write_feeds(ri_dir, rifc, prov)
    run_ingest(load_config(ri_dir / "config"), engine)

    assert links_of(engine) == [("prov", "P-3", "rifc", "R-2")]
    assert read_frame(engine, "incidents", list(LINK_COLUMNS)).height == 4
    engine.dispose()
