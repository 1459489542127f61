"""Hand-built frames and a small scope for the coverage tests: five Rhode Island counties in two
regions, three centers, incidents and products with sensible defaults."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import polars as pl

from dashboard.analytics.coverage import CoverageScope
from dashboard.analytics.filters import Filters, period_of
from dashboard.settings import CoverageSettings

COUNTY_TO_REGION = {"44001": "north", "44003": "north", "44007": "north", "44005": "south",
                    "44009": "south"}
SCOPE = CoverageScope(
    county_to_region=COUNTY_TO_REGION,
    topics={"cybercrime": "cyber", "gangs": "Gangs"},
    regions={"north": "Region 3", "south": "South Coast"},
    counties={"44001": "Bristol", "44003": "Kent", "44005": "Newport", "44007": "Providence",
              "44009": "Washington"},
    centers={"a": "Center A", "b": "Center B", "c": "Center C"},
    settings=CoverageSettings(),
)
END = date(2025, 6, 30)
LAST_90 = Filters(period="90d")
PERIOD = period_of(LAST_90, END)  # 2025-04-02 .. 2025-06-30
INCIDENT_SCHEMA = {
    "center_id": pl.String, "incident_id": pl.String, "occurred_date": pl.Date,
    "category": pl.String, "county_fips": pl.String, "severity": pl.Int64,
    "sar_behavior": pl.String, "target_sector": pl.String, "is_duplicate": pl.Boolean,
    "duplicate_of_center_id": pl.String,
}
PRODUCT_SCHEMA = {
    "center_id": pl.String, "product_id": pl.String, "title": pl.String, "summary": pl.String,
    "published_date": pl.Date, "product_type": pl.String, "topics": pl.List(pl.String),
    "covered_counties": pl.List(pl.String), "statewide": pl.Boolean, "tlp": pl.String,
}


def incidents(*rows: dict[str, Any], count: int = 1) -> pl.DataFrame:
    """Each row ``count`` times (defaults: center a, cybercrime in Bristol on END, severity 3)."""
    base = {"center_id": "a", "occurred_date": END, "category": "cybercrime",
            "county_fips": "44001", "severity": 3, "sar_behavior": None, "target_sector": None,
            "is_duplicate": False, "duplicate_of_center_id": None}
    records = [{**base, **row, "incident_id": f"i{number}-{copy}"}
               for number, row in enumerate(rows) for copy in range(count)]
    return pl.DataFrame(records, schema=INCIDENT_SCHEMA)


def products(*rows: dict[str, Any]) -> pl.DataFrame:
    base = {"center_id": "a", "title": "Cyber bulletin", "summary": None,
            "published_date": END - timedelta(days=10), "product_type": "bulletin",
            "topics": ["cybercrime"], "covered_counties": ["44001"], "statewide": False,
            "tlp": "TLP:GREEN"}
    records = [{**base, "product_id": f"p{number}", **row} for number, row in enumerate(rows)]
    return pl.DataFrame(records, schema=PRODUCT_SCHEMA)
