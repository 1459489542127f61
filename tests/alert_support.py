"""What the alert tests share: the Rhode Island fixture deployment with rows added to its feeds
(as its centers would send them), ingested, and rules evaluated on a fixed day."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from dashboard.alerts.evaluate import EvaluationReport, evaluate_alerts
from dashboard.alerts.rules import add_rule, rule_from
from dashboard.ingest.pipeline import run_ingest
from dashboard.security.accounts import ensure_demo_users, viewer_for
from dashboard.settings import ProjectConfig, load_config
from dashboard.store import open_store

# A Wednesday: the last complete week (Monday to Sunday) ends on Sunday 1 June.
TODAY = date(2025, 6, 4)
# The RI fixture counts days in UTC (its settings.toml sets no time zone).
NOON = time(12, 0)
_NEW_YORK = ZoneInfo("America/New_York")  # RIFC's feed is in local time
# RIFC's CSV feed names its categories and markings its own way.
OFFENSES = {"gangs": "Gang Activity", "cybercrime": "Cyber Intrusion",
            "narcotics": "Narcotics", "sar_analysis": "Suspicious Photo"}
# A point in each county (WGS84), for rows with coordinates.
POINTS = {"44001": (41.72, -71.28), "44003": (41.68, -71.58), "44005": (41.50, -71.30),
          "44007": (41.82, -71.42), "44009": (41.45, -71.62)}
# A square around Providence's point, as GeoJSON.
PROVIDENCE_SQUARE = json.dumps({"type": "Polygon", "coordinates": [[
    [-71.47, 41.78], [-71.37, 41.78], [-71.37, 41.86], [-71.47, 41.86], [-71.47, 41.78]]]})


def at(day: date, clock: time = NOON) -> datetime:
    return datetime.combine(day, clock, UTC)


@dataclass
class Deployment:
    """A copy of the RI fixture with a store, its demo accounts, and feeds to add rows to."""

    folder: Path
    config: ProjectConfig
    engine: sa.Engine
    store_url: str
    numbers: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, folder: Path, store_url: str | None = None) -> Deployment:
        """The fixture in ``folder`` ingested into ``store_url`` (default: SQLite beside it)."""
        config = load_config(folder / "config")
        store_url = store_url or f"sqlite:///{folder / 'store.sqlite'}"
        engine = open_store(store_url)
        deployment = cls(folder, config, engine, store_url)
        deployment.ingest()
        ensure_demo_users(engine, config)
        return deployment

    def reload_config(self) -> None:
        self.config = load_config(self.folder / "config")

    def ingest(self) -> int:
        """Ingest every source; the rows written."""
        return run_ingest(self.config, self.engine).rows_written

    def _next(self, prefix: str) -> str:
        self.numbers[prefix] = self.numbers.get(prefix, 0) + 1
        return f"{prefix}-{self.numbers[prefix]}"

    def incident(self, when: datetime, category: str, county: str, *, severity: int = 3,
                 marking: str = "GREEN", point: tuple[float, float] | None = None,
                 details: str = "Added by the alert tests", case: str | None = None) -> str:
        """Append one incident to RIFC's CSV feed (``when`` in UTC; the feed's local time is
        New York); returns its id."""
        case = case or self._next("A")
        local = when.astimezone(_NEW_YORK)
        latitude, longitude = point if point is not None else ("", "")
        with (self.folder / "feeds" / "rifc_incidents.csv").open("a", encoding="utf-8") as out:
            out.write(f"{case},{local:%m/%d/%Y %H:%M},{OFFENSES[category]},{county},{latitude},"
                      f"{longitude},,,{severity},{marking},{details}\n")
        return case

    def incidents(self, count: int, when: datetime, category: str, county: str,
                  **options: Any) -> list[str]:
        return [self.incident(when + timedelta(minutes=number), category, county, **options)
                for number in range(count)]

    def prov_incident(self, when: datetime, category: str, county: str,
                      point: tuple[float, float], severity: int = 3) -> str:
        """Append one incident to the Providence center's NDJSON feed."""
        case = self._next("PV")
        record = {"id": case, "when": when.isoformat(), "type": category, "fips": county,
                  "lat": point[0], "lon": point[1], "severity": severity, "tlp": "TLP:GREEN",
                  "text": "Reported by the Providence center too"}
        with (self.folder / "feeds" / "prov_incidents.ndjson").open("a", encoding="utf-8") as out:
            out.write(json.dumps(record) + "\n")
        return case

    def rifc_product(self, published: datetime, title: str, summary: str, topics: list[str],
                     **area: Any) -> str:
        product_id = self._next("RX")
        record = {"product_id": product_id, "title": title, "product_type": "bulletin",
                  "published_at": published.isoformat(), "topics": topics, "tlp": "TLP:GREEN",
                  "summary": summary, **area}
        with (self.folder / "feeds" / "rifc_products.ndjson").open("a", encoding="utf-8") as out:
            out.write(json.dumps(record) + "\n")
        return product_id

    def prov_product(self, published: date, title: str, summary: str, topics: list[str],
                     counties: list[str]) -> str:
        product_id = self._next("PX")
        with (self.folder / "feeds" / "prov_products.csv").open("a", encoding="utf-8") as out:
            out.write(f"{product_id},{title},bulletin,{published.isoformat()},{';'.join(topics)},"
                      f"{';'.join(counties)},,law_enforcement,TLP:GREEN,{summary}\n")
        return product_id

    def rule(self, username: str, **values: Any) -> int:
        """Subscribe ``username`` to a rule (name defaults to its condition)."""
        viewer = viewer_for(self.engine, username, self.config.settings.security)
        assert viewer is not None
        values.setdefault("name", values["condition"])
        return add_rule(self.engine, self.config, viewer, username, rule_from(values))

    def evaluate(self, today: date = TODAY) -> EvaluationReport:
        """Ingest what the feeds gained, then evaluate on ``today`` (at its noon)."""
        self.ingest()
        return evaluate_alerts(self.config, self.engine, now=at(today), today=today)


def fired(report: EvaluationReport) -> list[tuple[int, str]]:
    """(rule id, sentence) of each alert an evaluation fired."""
    return [(alert.rule_id, alert.sentence) for alert in report.fired]


def week_days(last_sunday: date, weeks: int) -> list[date]:
    """The Wednesday of each of the ``weeks`` weeks ending on ``last_sunday``, oldest first."""
    return [last_sunday - timedelta(days=4 + 7 * number) for number in reversed(range(weeks))]
