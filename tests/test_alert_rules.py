"""Alert rules (issue 17, items 2-4): each condition fires on constructed data exactly when it
should (on the event, not before, not again), through the audience policy of its recipient (a
partner's alert counts released cells only and carries no narrative), with its sentence, link
and marking; evaluation is incremental (a rule with nothing new is not recomputed), and a rule
is checked against the deployment and the policy when it is added."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import polars as pl
import pytest
import sqlalchemy as sa

from dashboard.alerts import evaluate as evaluation
from dashboard.alerts.evaluate import evaluate_alerts, preview_rule
from dashboard.alerts.rules import RuleError, get_rule, list_rules, remove_rule, rule_from
from dashboard.analytics.filters import Filters
from dashboard.pagemodels.emerging import emerging_view
from dashboard.security.accounts import viewer_for
from dashboard.security.policy import visibility_class
from dashboard.store import operations_engine
from dashboard.store import table as sql_table
from tests.alert_support import (
    POINTS,
    PROVIDENCE_SQUARE,
    TODAY,
    Deployment,
    at,
    fired,
    week_days,
)

LAST_SUNDAY = TODAY - timedelta(days=TODAY.isoweekday())  # 1 June 2025
YESTERDAY = TODAY - timedelta(days=1)


@pytest.fixture
def ri(ri_dir: Path) -> Deployment:
    """The RI fixture ingested, with its demo accounts (analyst at RIFC up to TLP:RED,
    partner up to TLP:GREEN)."""
    return Deployment.of(ri_dir)


def _query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


# --- each condition: on the event, not before, not again --------------------------------------


def test_new_incident_inside_the_geofence_fires_once(ri: Deployment) -> None:
    rule = ri.rule("analyst", condition="new_incident", geofence=PROVIDENCE_SQUARE,
                   categories=["gangs"], min_severity=4)
    assert fired(ri.evaluate()) == []  # the fixture's incidents were there before the rule
    inside = POINTS["44007"]
    ri.incident(at(TODAY - timedelta(days=30)), "gangs", "44007", severity=5, point=inside)
    ri.incident(at(YESTERDAY), "gangs", "44007", severity=3, point=inside)  # below severity 4
    ri.incident(at(YESTERDAY), "gangs", "44005", severity=5, point=POINTS["44005"])  # outside
    ri.incident(at(YESTERDAY), "narcotics", "44007", severity=5, point=inside)  # other topic
    ri.incident(at(YESTERDAY), "gangs", "44007", severity=5)  # no coordinates: not inside
    assert fired(ri.evaluate()) == []
    case = ri.incident(at(YESTERDAY, ).replace(hour=10), "gangs", "44007", severity=5,
                       point=inside)
    report = ri.evaluate()
    assert fired(report) == [(rule, f"New Gangs incident {case} (severity 5) reported by Rhode "
                                    "Island Fusion Center, occurred 03 Jun 2025 10:00 in "
                                    "Providence County, inside the area of 'new_incident'.")]
    alert = report.fired[0]
    assert alert.marking == "TLP:GREEN" and alert.records == 1
    assert alert.view_url.startswith("http://127.0.0.1:8501/map?")
    assert _query(alert.view_url) == {
        "period": ["custom"], "start": ["2025-06-03"], "end": ["2025-06-03"],
        "counties": ["44007"], "categories": ["gangs"], "severities": ["4", "5"]}
    # Not again: re-evaluated, re-ingested, or reported a second time by another center.
    assert fired(ri.evaluate()) == []
    ri.prov_incident(at(YESTERDAY).replace(hour=10, minute=20), "gangs", "44007",
                     (inside[0] + 0.001, inside[1]), severity=5)
    assert fired(ri.evaluate()) == []
    rows = _alerts(ri)
    assert rows.height == 1 and rows["event_key"].to_list() == [f"incident:rifc/{case}"]


def test_count_above_fires_when_the_count_reaches_the_threshold_and_again_only_after_it_fell(
        ri: Deployment) -> None:
    rule = ri.rule("analyst", condition="count_above", categories=["narcotics"],
                   regions=["south"], threshold=3)
    ri.incidents(2, at(YESTERDAY), "narcotics", "44009")
    ri.incident(at(YESTERDAY), "narcotics", "44007")  # north: not in the area
    assert fired(ri.evaluate()) == []
    ri.incident(at(TODAY - timedelta(days=3)), "narcotics", "44005")
    report = ri.evaluate()
    assert fired(report) == [(rule, "3 Narcotics incidents in South region in the 7 days from "
                                    "29 May 2025 to 04 Jun 2025, at or above the threshold of 3 "
                                    "(0 in the 7 days before).")]
    assert _query(report.fired[0].view_url) == {
        "period": ["custom"], "start": ["2025-05-29"], "end": ["2025-06-04"],
        "regions": ["south"], "categories": ["narcotics"]}
    ri.incident(at(YESTERDAY), "narcotics", "44005")  # 4: it still holds, nothing new
    assert fired(ri.evaluate()) == []
    # Ten days on, the window is empty: the condition no longer holds (nothing fires) ...
    later = TODAY + timedelta(days=10)
    assert fired(ri.evaluate(later)) == []
    # ... and when it is reached again, that is a new event.
    ri.incidents(3, at(later - timedelta(days=1)), "narcotics", "44009")
    assert [sentence[:40] for _, sentence in fired(ri.evaluate(later))] == [
        "3 Narcotics incidents in South region in"]
    assert _alerts(ri)["event_key"].to_list() == ["count_above:2025-06-04",
                                                   "count_above:2025-06-14"]


def _weekly_background(ri: Deployment, category: str, per_county: int, weeks: int) -> None:
    for day in week_days(LAST_SUNDAY, weeks):
        for county in POINTS:
            ri.incidents(per_county, at(day), category, county)


def test_emerging_hot_spot_fires_when_a_county_becomes_a_new_hot_spot(ri: Deployment) -> None:
    rule = ri.rule("analyst", condition="emerging_hotspot", categories=["cybercrime"],
                   counties=["44007"])
    _weekly_background(ri, "cybercrime", 2, 12)  # the same count everywhere: no pattern
    assert fired(ri.evaluate()) == []
    # A burst in Providence in the week that has not ended yet is not a week's bin yet ...
    ri.incidents(40, at(TODAY - timedelta(days=1)), "cybercrime", "44007")
    assert fired(ri.evaluate()) == []
    # ... nor the same burst a week earlier until its week is complete: then it is.
    ri.incidents(40, at(LAST_SUNDAY - timedelta(days=2)), "cybercrime", "44007")
    report = ri.evaluate()
    assert [alert_rule for alert_rule, _ in fired(report)] == [rule]
    sentence = report.fired[0].sentence
    assert sentence.startswith("Providence County is now a New Hot Spot of Cybercrime incidents "
                               "over the 12 weeks to 01 Jun 2025: a significant hot spot for the "
                               "first time in 12 weeks (z = ")
    # The oracle: the Map's emerging hot spot table for the same view says so.
    analyst = viewer_for(ri.engine, "analyst", ri.config.settings.security)
    assert analyst is not None
    from dashboard.frames import load_picture_frames
    from dashboard.security.audience import view_data

    frames = load_picture_frames(ri.engine, "UTC")
    data = view_data(frames, visibility_class(analyst, frames.red_recipients), 5, TODAY, "UTC")
    table = emerging_view(ri.config, data, Filters(period="custom", start=TODAY - timedelta(
        days=83), end=TODAY, counties=("44007",), categories=("cybercrime",)), TODAY).in_view
    assert table.select("county_fips", "class_name").rows() == [("44007", "New Hot Spot")]
    assert _query(report.fired[0].view_url)["counties"] == ["44007"]
    assert fired(ri.evaluate()) == []


def test_trend_anomaly_fires_for_the_surging_series_once(ri: Deployment) -> None:
    rule = ri.rule("analyst", condition="trend_anomaly", categories=["gangs"],
                   regions=["north"])
    # One a week for ten weeks, in the weekly buckets ending today.
    for weeks_back in range(1, 11):
        ri.incident(at(TODAY - timedelta(days=7 * weeks_back + 2)), "gangs", "44007")
    assert fired(ri.evaluate()) == []
    ri.incidents(12, at(YESTERDAY), "gangs", "44007")
    report = ri.evaluate()
    start = TODAY - timedelta(days=6)
    # The Trends page's two levels: the category, and the category within the region.
    assert {(alert.rule_id, alert.sentence.split(":")[0]) for alert in report.fired} == {
        (rule, "Gangs"), (rule, "Gangs in North")}
    assert set(_alerts(ri)["event_key"]) == {f"anomaly:category:gangs:{start}",
                                             f"anomaly:category_region:gangs|north:{start}"}
    by_cell = next(a for a in report.fired if a.sentence.startswith("Gangs in North"))
    assert by_cell.sentence.startswith("Gangs in North: 12 incidents in the week 29 May to "
                                       "04 Jun 2025, 12.0 times the 1.0 expected from its "
                                       "baseline (p = ")
    assert urlsplit(by_cell.view_url).path == "/trends"
    assert _query(by_cell.view_url)["regions"] == ["north"]
    assert fired(ri.evaluate()) == []


def test_coverage_gap_fires_when_a_cell_becomes_a_gap(ri: Deployment) -> None:
    rule = ri.rule("analyst", condition="coverage_gap", categories=["cybercrime"])
    # (The fixture's R-2, in Kent in January, is the one of the prior 90 days.)
    ri.incidents(9, at(TODAY - timedelta(days=20)), "cybercrime", "44003")
    assert fired(ri.evaluate()) == []  # under [coverage] min_incidents (10)
    ri.incident(at(YESTERDAY), "cybercrime", "44003")
    report = ri.evaluate()
    assert fired(report) == [(rule, "New coverage gap: 10 Cybercrime incidents in North from "
                                    "2025-03-07 to 2025-06-04, up 900 %; no current "
                                    "product; last product 2025-02-01 by Rhode Island "
                                    "Fusion Center.")]
    assert _query(report.fired[0].view_url) == {
        "period": ["custom"], "start": ["2025-03-07"], "end": ["2025-06-04"],
        "regions": ["north"], "categories": ["cybercrime"]}
    assert fired(ri.evaluate()) == []
    # A product on it closes the gap: nothing fires, and the cell no longer holds.
    ri.rifc_product(at(YESTERDAY), "Cyber intrusions in Kent County", "Phishing wave.",
                    ["cybercrime"], region=["north"])
    assert fired(ri.evaluate()) == []
    stored = get_rule(ri.engine, rule)
    assert stored is not None and stored.state == frozenset()


def test_near_duplicate_fires_when_a_product_duplicates_another_centers(
        ri: Deployment) -> None:
    rule = ri.rule("analyst", condition="near_duplicate", categories=["narcotics"])
    summary = "Pill press seizures rising in Kent County markets."
    first = ri.rifc_product(at(TODAY - timedelta(days=3)), "Pill press surge in Kent County",
                            summary, ["narcotics"], county_fips=["44003"])
    assert fired(ri.evaluate()) == []
    second = ri.prov_product(TODAY - timedelta(days=2), "Kent County pill press surge",
                             summary, ["narcotics"], ["44003"])
    report = ri.evaluate()
    assert [alert_rule for alert_rule, _ in fired(report)] == [rule]
    assert report.fired[0].sentence.startswith(
        "2 near-duplicate products of 2 centers (Providence Regional Intelligence Center, "
        "Rhode Island Fusion Center) on Narcotics, published 01 Jun to 02 Jun 2025, mean "
        "similarity ")
    assert report.fired[0].sentence.endswith(f": prov/{second}, rifc/{first}.")
    assert report.fired[0].records == 2
    assert fired(ri.evaluate()) == []


# --- the recipient's audience policy ------------------------------------------------------------


def test_a_partners_alert_counts_released_cells_only(ri: Deployment) -> None:
    week = LAST_SUNDAY - timedelta(days=3)
    ri.incidents(6, at(week), "narcotics", "44007", details="SECRET-NARRATIVE")
    ri.incident(at(week), "narcotics", "44007", marking="AMBER")  # above a partner's limit
    ri.incidents(3, at(week), "narcotics", "44003")  # a cell of 3: withheld from partners
    ri.ingest()
    partner = ri.rule("partner", condition="count_above", categories=["narcotics"],
                      threshold=5)
    analyst = ri.rule("analyst", condition="count_above", categories=["narcotics"],
                      threshold=5)
    [before] = preview_rule(ri.config, ri.engine, partner, TODAY)
    # One more incident in the withheld cell (4, still under k = 5) changes nothing a partner
    # receives.
    ri.incident(at(week), "narcotics", "44003")
    ri.ingest()
    [after] = preview_rule(ri.config, ri.engine, partner, TODAY)
    assert (before.candidate.sentence, before.view_url, before.marking, before.records) == (
        after.candidate.sentence, after.view_url, after.marking, after.records)
    report = ri.evaluate()
    by_rule = dict(fired(report))
    assert by_rule[partner] == ("6 Narcotics incidents in RI in the 1 released week from "
                                "26 May 2025 to 01 Jun 2025, at or above the threshold of 5 (0 "
                                "in the 7 days before).")
    assert by_rule[analyst].startswith("11 Narcotics incidents in RI in the 7 days")
    partner_alert = next(a for a in report.fired if a.rule_id == partner)
    assert partner_alert.marking == "TLP:GREEN" and partner_alert.records == 6
    text = json.dumps([a.as_json() for a in report.fired])
    assert "SECRET-NARRATIVE" not in text and "withheld" not in text.lower()
    assert set(_query(partner_alert.view_url)) <= {"period", "start", "end", "categories"}


def test_partners_subscribe_only_to_conditions_of_released_counts(ri: Deployment) -> None:
    for condition, extra in (("new_incident", {}), ("coverage_gap", {}),
                             ("near_duplicate", {})):
        with pytest.raises(RuleError, match="condition: partners receive released weekly"):
            ri.rule("partner", condition=condition, **extra)
    with pytest.raises(RuleError, match="severity do not apply"):
        ri.rule("partner", condition="count_above", threshold=5, min_severity=3)
    assert ri.rule("partner", condition="trend_anomaly") > 0
    assert ri.rule("analyst", condition="new_incident") > 0


def test_a_rule_whose_owner_may_no_longer_receive_it_is_not_evaluated(ri: Deployment) -> None:
    rule = ri.rule("analyst", condition="coverage_gap")
    users = sql_table("users")
    with operations_engine(ri.engine).begin() as connection:
        connection.execute(users.update().where(users.c.username == "analyst").values(
            role="partner"))
    report = ri.evaluate()
    assert report.refused and report.refused[0][0] == rule and report.fired == []


# --- incremental, idempotent ----------------------------------------------------------------------


def test_a_rule_with_nothing_new_is_skipped_without_loading_the_picture(
        ri: Deployment, monkeypatch: pytest.MonkeyPatch) -> None:
    rule = ri.rule("analyst", condition="new_incident", geofence=PROVIDENCE_SQUARE,
                   categories=["gangs"])
    assert ri.evaluate().evaluated == [rule]  # its first evaluation

    def no_loading(*_args: object) -> None:
        raise AssertionError("the picture was loaded for a rule with nothing new")

    monkeypatch.setattr(evaluation, "load_picture_frames", no_loading)
    ri.incident(at(YESTERDAY), "narcotics", "44007", point=POINTS["44007"])  # other topic
    ri.incident(at(YESTERDAY), "gangs", "44005", point=POINTS["44005"])  # outside the area
    report = ri.evaluate()
    assert report.skipped == [rule] and report.evaluated == []
    stored = get_rule(ri.engine, rule)
    assert stored is not None
    with ri.engine.connect() as connection:
        version = connection.execute(sa.text(
            "select max(run_id) from ingest_runs where status = 'loaded'")).scalar_one()
    assert stored.evaluated_version == version  # its watermark moved on
    monkeypatch.undo()
    ri.incident(at(YESTERDAY), "gangs", "44007", point=POINTS["44007"])
    report = ri.evaluate()
    assert report.evaluated == [rule] and len(report.fired) == 1


def test_the_store_refuses_a_second_alert_for_the_same_event(ri: Deployment) -> None:
    rule = ri.rule("analyst", condition="coverage_gap")
    row = {"rule_id": rule, "recipient": "analyst", "fired_at": at(TODAY),
           "event_key": "gap:region:gangs:north:2025-06-04", "sentence": "s", "view_url": "u",
           "marking": "TLP:CLEAR", "records": 0}
    alerts = sql_table("alerts")
    with operations_engine(ri.engine).begin() as connection:
        connection.execute(alerts.insert().values(row))
    with pytest.raises(sa.exc.IntegrityError), \
            operations_engine(ri.engine).begin() as connection:
        connection.execute(alerts.insert().values(row))


def test_a_removed_rule_fires_nothing(ri: Deployment) -> None:
    rule = ri.rule("analyst", condition="count_above", threshold=1)
    remove_rule(ri.engine, rule, owner="analyst")
    ri.incident(at(YESTERDAY), "gangs", "44007")
    assert ri.evaluate().fired == [] and list_rules(ri.engine) == []
    with pytest.raises(RuleError, match=f"no active alert rule {rule}"):
        remove_rule(ri.engine, rule, owner="analyst")


def test_rules_live_in_the_operations_file(ri: Deployment) -> None:
    ri.rule("analyst", condition="trend_anomaly")
    with ri.engine.connect() as connection:
        assert connection.execute(sa.text("select count(*) from alert_rules")).scalar_one() == 0
    with operations_engine(ri.engine).connect() as connection:
        assert connection.execute(sa.text("select count(*) from alert_rules")).scalar_one() == 1


# --- the rule itself ------------------------------------------------------------------------------


@pytest.mark.parametrize(("values", "message"), [
    ({"condition": "count_above"}, "rule: count_above needs a threshold"),
    ({"condition": "trend_anomaly", "threshold": 3}, "threshold applies to count_above only"),
    ({"condition": "near_duplicate", "min_severity": 4}, "about products"),
    ({"condition": "sometimes"}, "condition: Input should be"),
    ({"condition": "new_incident", "geofence": "{not json"}, "geofence: not valid JSON"),
    ({"condition": "new_incident", "geofence": '{"type": "Point", "coordinates": [1, 2]}'},
     "geofence: only Polygon and MultiPolygon"),
    ({"condition": "new_incident", "geofence": json.dumps({"type": "Polygon", "coordinates": [
        [[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]})}, "geofence: not a valid polygon: Self"),
    ({"condition": "new_incident", "email": "someone"}, "email: 'someone' is not an e-mail"),
    ({"condition": "new_incident", "window_days": 0}, "window_days: Input should be greater"),
    ({"condition": "new_incident", "name": "  "}, "name: a rule needs a name"),
])
def test_bad_rules_fail_on_one_line_naming_the_field(values: dict[str, object],
                                                      message: str) -> None:
    with pytest.raises(RuleError) as raised:
        rule_from({"name": "rule", **values})
    assert message in str(raised.value) and "\n" not in str(raised.value)


def test_rules_are_checked_against_the_deployment(ri: Deployment) -> None:
    with pytest.raises(RuleError, match="counties: unknown '06037'"):
        ri.rule("analyst", condition="new_incident", counties=["06037"])
    with pytest.raises(RuleError, match="categories: unknown 'weather'"):
        ri.rule("analyst", condition="new_incident", categories=["weather"])
    los_angeles = json.dumps({"type": "Feature", "properties": {}, "geometry": {
        "type": "Polygon", "coordinates": [[[-118.5, 34.0], [-118.1, 34.0], [-118.1, 34.2],
                                            [-118.5, 34.2], [-118.5, 34.0]]]}})
    with pytest.raises(RuleError, match="geofence: it lies outside RI"):
        ri.rule("analyst", condition="new_incident", geofence=los_angeles)


def test_a_geofence_counts_as_the_counties_it_touches_for_county_conditions(
        ri: Deployment) -> None:
    rule = ri.rule("analyst", condition="trend_anomaly", geofence=PROVIDENCE_SQUARE)
    stored = get_rule(ri.engine, rule)
    assert stored is not None and stored.rule.shape is not None
    from dashboard.alerts.rules import touched_counties

    assert touched_counties(ri.config, stored.rule.shape) == ["44007"]
    assert "geofence" in stored.rule.summary(ri.config)


def _alerts(ri: Deployment) -> pl.DataFrame:
    from dashboard.frames import read_frame

    return read_frame(operations_engine(ri.engine), "alerts").sort("alert_id")


def test_an_evaluation_without_rules_reads_nothing(ri: Deployment,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(evaluation, "changes_since", None)  # would fail if called
    report = evaluate_alerts(ri.config, ri.engine, now=at(TODAY), today=TODAY)
    assert report.evaluated == [] and report.fired == []


@pytest.mark.postgres
def test_alerts_on_postgresql(ri_dir: Path, postgres_url: str) -> None:
    """The same tables, watermarks and once-per-event rule in one PostgreSQL database."""
    ri = Deployment.of(ri_dir, postgres_url)
    rule = ri.rule("analyst", condition="new_incident", geofence=PROVIDENCE_SQUARE)
    counted = ri.rule("analyst", condition="count_above", threshold=2, counties=["44007"])
    ri.incidents(2, at(YESTERDAY), "gangs", "44007", point=POINTS["44007"])
    report = ri.evaluate()
    assert sorted(alert.rule_id for alert in report.fired) == [rule, rule, counted]
    assert fired(ri.evaluate()) == []
    assert operations_engine(ri.engine) is ri.engine
    assert _alerts(ri).height == 3
