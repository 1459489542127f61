"""Evaluating the alert rules after an ingest, incrementally, and firing each event once.

For each active rule:

1. **Anything new for it?** The incidents and products written since its watermark (the data
   version it was last evaluated at) are read once for all rules (only their keys, topic and
   place); a rule is evaluated when one of them is of its topics (and, for counts and new
   incidents, in its area), when it has never been evaluated, or (conditions over a window
   ending today) when the day changed since its last evaluation. Otherwise it is skipped and
   its watermark moves on.
2. **As its owner receives the data.** The store's frames are loaded once; each owner's
   visibility class gets its view (``security.audience.view_data``: row policy, and for a
   partner the release of weekly county counts), and the condition runs the page models on it.
3. **Once per event.** The condition's keys that hold now and did not at the previous
   evaluation fire (``new_incident``: the incidents new since the watermark); each alert has an
   event key unique per rule, so a re-evaluation (or two evaluators at once) never fires the
   same event twice. New alerts, the rules' new state and watermark, and the inbox's
   dissemination and audit rows are written in one transaction.
4. **Delivered** by e-mail and webhook, all of a recipient's alerts together (see
   :mod:`dashboard.alerts.delivery`).
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import polars as pl
import sqlalchemy as sa

from dashboard.alerts import delivery
from dashboard.alerts.conditions import CONDITIONS, Candidate, Scope, area_mask
from dashboard.alerts.rules import (
    RuleError,
    StoredRule,
    as_utc,
    check_rule,
    get_rule,
    list_rules,
    touched_counties,
)
from dashboard.analytics.filters import Filters, selected_counties, to_query_params
from dashboard.frames import PictureFrames, load_picture_frames, read_frame
from dashboard.security import accounts, audit, clock
from dashboard.security.audience import ViewData, view_data
from dashboard.security.policy import VisibilityClass, most_restrictive, visibility_class
from dashboard.settings import ProjectConfig
from dashboard.store import data_version, operations_engine, write_transaction
from dashboard.store import table as sql_table

log = logging.getLogger("threat_picture.alerts")
SYSTEM_USER = "system:alerts"
RETRY_WINDOW = timedelta(days=1)  # an undelivered e-mail or POST is retried this long
# Conditions that fire on what holds now and did not before; new_incident fires on new rows.
EDGE_TRIGGERED = frozenset(CONDITIONS) - {"new_incident"}
PRODUCT_CONDITIONS = frozenset({"coverage_gap", "near_duplicate"})
AREA_CONDITIONS = frozenset({"count_above", "new_incident"})


@dataclass(frozen=True)
class Firing:
    """A candidate that fires, with its link and marking."""

    rule: StoredRule
    candidate: Candidate
    view_url: str
    marking: str
    records: int


@dataclass
class EvaluationReport:
    evaluated: list[int] = field(default_factory=list)  # rule ids
    skipped: list[int] = field(default_factory=list)  # nothing new for them
    refused: list[tuple[int, str]] = field(default_factory=list)  # (rule id, why)
    fired: list[delivery.Alert] = field(default_factory=list)
    delivered: list[tuple[str, str, str]] = field(default_factory=list)  # channel, user, to
    failed: list[tuple[str, str, str]] = field(default_factory=list)  # channel, to, why

    def summary(self) -> str:
        text = (f"alerts: {len(self.evaluated)} rule(s) evaluated, {len(self.skipped)} with "
                f"nothing new; {len(self.fired)} alert(s) fired")
        if self.delivered:
            text += "; delivered " + ", ".join(f"{channel} to {user}"
                                               for channel, user, _ in self.delivered)
        return text


def view_url(config: ProjectConfig, page: str, filters: Filters) -> str:
    """The app's link to ``page`` with ``filters`` in its query (as the sidebar writes it)."""
    query = urlencode(to_query_params(filters), doseq=True)
    return f"{config.settings.alerts.app_url.rstrip('/')}/{page}" + (f"?{query}" if query else "")


# --- what changed ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Changes:
    """Incidents and products written after ``since`` (their run_id; only what the relevance
    test needs)."""

    since: int
    incidents: pl.DataFrame
    products: pl.DataFrame


def changes_since(engine: sa.Engine, since: int) -> Changes:
    incidents, products = sql_table("incidents"), sql_table("products")
    return Changes(since, read_frame(
        engine, "incidents", ["center_id", "incident_id", "category", "county_fips",
                              "latitude", "longitude", "entered_at", "run_id"],
        where=incidents.c.run_id > since), read_frame(
        engine, "products", ["center_id", "product_id", "topics", "run_id"],
        where=products.c.run_id > since))


def _new_for(stored: StoredRule, changes: Changes, config: ProjectConfig) -> pl.DataFrame:
    """The incidents written since the rule's watermark that may change what it finds: of its
    topics, and in its area where the condition counts incidents there (``count_above``,
    ``new_incident``: the geofence itself) or per county (anomalies, gaps); any county for an
    emerging hot spot (Gi* reads every county's neighbours); none for near-duplicates."""
    rule = stored.rule
    rows = changes.incidents.filter(pl.col("run_id") > (stored.evaluated_version or 0))
    if rule.condition == "near_duplicate":
        return rows.clear()
    if rule.categories:
        rows = rows.filter(pl.col("category").is_in(list(rule.categories)))
    if rule.condition in AREA_CONDITIONS:
        return rows.filter(pl.Series(area_mask(rows, rule, config.county_to_region)))
    counties = selected_counties(rule.filters(touched_counties(config, rule.shape)),
                                 config.county_to_region)
    if counties is not None and rule.condition != "emerging_hotspot":
        rows = rows.filter(pl.col("county_fips").is_in(counties))
    return rows


def is_relevant(stored: StoredRule, changes: Changes, config: ProjectConfig,
                today: date) -> bool:
    """Whether the rule needs evaluating (module docstring, step 1)."""
    if stored.evaluated_at is None:
        return True
    condition = stored.rule.condition
    evaluated_on = stored.evaluated_at.astimezone(ZoneInfo(config.settings.timezone)).date()
    if condition in EDGE_TRIGGERED and evaluated_on != today:
        return True
    if not _new_for(stored, changes, config).is_empty():
        return True
    if condition in PRODUCT_CONDITIONS:
        products = changes.products.filter(pl.col("run_id") > (stored.evaluated_version or 0))
        if stored.rule.categories:
            products = products.filter(pl.col("topics").list.set_intersection(
                list(stored.rule.categories)).list.len() > 0)
        return not products.is_empty()
    return False


# --- evaluating -------------------------------------------------------------------------------


class _OwnerData:
    """Each rule owner's data, one view per visibility class (users of a class share it)."""

    def __init__(self, config: ProjectConfig, engine: sa.Engine, frames: PictureFrames,
                 today: date):
        self.config, self.engine, self.frames, self.today = config, engine, frames, today
        self.views: dict[VisibilityClass, ViewData] = {}

    def of(self, username: str) -> ViewData | None:
        """What ``username`` receives (None: no enabled account)."""
        security = self.config.settings.security
        viewer = accounts.viewer_for(self.engine, username, security)
        if viewer is None:
            return None
        visibility = visibility_class(viewer, self.frames.red_recipients)
        if visibility not in self.views:
            self.views[visibility] = view_data(self.frames, visibility,
                                               security.partner_min_count, self.today,
                                               self.config.settings.timezone)
        return self.views[visibility]


def candidates_for(stored: StoredRule, config: ProjectConfig, data: ViewData, today: date,
                   changes: Changes | None) -> list[Candidate]:
    """What the rule's condition finds now on the owner's data (``changes`` None: every
    incident in the window counts as new)."""
    rule = stored.rule
    changed = None
    if changes is not None and rule.condition == "new_incident":
        changed = _new_for(stored, changes, config).filter(
            pl.col("entered_at") >= stored.created_at)
    scope = Scope(config, data, today, rule, tuple(touched_counties(config, rule.shape)),
                  changed)
    return CONDITIONS[rule.condition](scope)


def firings(stored: StoredRule, candidates: Sequence[Candidate], config: ProjectConfig,
            data: ViewData, fired_keys: set[str]) -> list[Firing]:
    """The candidates that fire: new since the previous evaluation, and not fired before."""
    edge = stored.rule.condition in EDGE_TRIGGERED
    previous = (stored.state or frozenset()) if edge else frozenset()
    floor = config.settings.briefing.minimum_marking
    found = []
    for candidate in candidates:
        if not candidate.keys - previous or candidate.event_key in fired_keys:
            continue
        markings, records = candidate.drawn_on()
        found.append(Firing(stored, candidate,
                            view_url(config, candidate.page, data.selection(candidate.view)),
                            most_restrictive([*markings, floor]), records))
    return found


def _fired_keys(connection: sa.Connection, rule_id: int) -> set[str]:
    alerts = sql_table("alerts")
    return set(connection.execute(sa.select(alerts.c.event_key).where(
        alerts.c.rule_id == rule_id)).scalars())


def evaluate_alerts(config: ProjectConfig, engine: sa.Engine, *, now: datetime | None = None,
                    today: date | None = None) -> EvaluationReport:
    """Evaluate every active rule that has something new, fire and deliver (module
    docstring). ``now``/``today``: the evaluation's time and the deployment's day (tests)."""
    now = now or clock.now()
    today = today or now.astimezone(ZoneInfo(config.settings.timezone)).date()
    report = EvaluationReport()
    rules = list_rules(engine)
    if not rules:
        return report
    version = data_version(engine)
    changes = changes_since(engine, min(rule.evaluated_version or 0 for rule in rules))
    due = [rule for rule in rules if is_relevant(rule, changes, config, today)]
    due_ids = {rule.rule_id for rule in due}
    report.skipped = [rule.rule_id for rule in rules if rule.rule_id not in due_ids]
    planned: list[tuple[StoredRule, frozenset[str], list[Firing]]] = []
    if due:
        frames = load_picture_frames(engine, config.settings.timezone,
                                     config.settings.network)
        owners = _OwnerData(config, engine, frames, today)
        operations = operations_engine(engine)
        for stored in due:
            data = owners.of(stored.username)
            why = "no enabled account" if data is None else None
            if data is not None:
                try:
                    check_rule(stored.rule, config, data.visibility)
                except RuleError as error:
                    why = str(error)
            if data is None or why is not None:
                report.refused.append((stored.rule_id, why or ""))
                log.warning("alerts: rule %d of %s not evaluated: %s", stored.rule_id,
                            stored.username, why)
                continue
            candidates = candidates_for(stored, config, data, today, changes)
            with operations.connect() as connection:
                fired_keys = _fired_keys(connection, stored.rule_id)
            active = frozenset().union(*(candidate.keys for candidate in candidates))
            planned.append((stored, active,
                            firings(stored, candidates, config, data, fired_keys)))
            report.evaluated.append(stored.rule_id)
    # The watermark is the version read before the changes: rows committed since are looked
    # at again next time (an event already fired never fires twice). A refused rule's moves on
    # too: what it could not be told then is not news later.
    passed = [*report.skipped, *(rule_id for rule_id, _ in report.refused)]
    report.fired = _commit(engine, planned, passed, version, now)
    if report.fired:
        log.info("%s", report.summary())
    _deliver(config, engine, now, report)
    return report


def _commit(engine: sa.Engine, planned: Sequence[tuple[StoredRule, frozenset[str],
                                                       list[Firing]]],
            passed: Sequence[int], version: int, now: datetime) -> list[delivery.Alert]:
    """Write the new alerts, each evaluated rule's state and watermark (``passed`` rules: the
    watermark only), and the inbox's log rows, in one transaction: fired and logged, or
    neither (the next evaluation tries again)."""
    alerts, rules = sql_table("alerts"), sql_table("alert_rules")
    fired: list[delivery.Alert] = []
    with write_transaction(operations_engine(engine)) as connection:
        for stored, active, found in planned:
            already = _fired_keys(connection, stored.rule_id)  # another evaluator's meanwhile
            for firing in found:
                candidate = firing.candidate
                if candidate.event_key in already:
                    continue
                already.add(candidate.event_key)
                values: dict[str, Any] = {
                    "rule_id": stored.rule_id, "recipient": stored.username, "fired_at": now,
                    "event_key": candidate.event_key, "sentence": candidate.sentence[:2000],
                    "view_url": firing.view_url[:4000], "marking": firing.marking,
                    "records": firing.records}
                inserted = connection.execute(alerts.insert().values(values)).inserted_primary_key
                assert inserted is not None
                alert_id = int(inserted[0])
                fired.append(delivery.Alert(alert_id, stored.rule_id, stored.rule.name,
                                            stored.rule.condition, stored.username, now,
                                            values["sentence"], values["view_url"],
                                            firing.marking, firing.records))
            state = (json.dumps(sorted(active)) if stored.rule.condition in EDGE_TRIGGERED
                     else None)
            connection.execute(rules.update().where(rules.c.rule_id == stored.rule_id).values(
                evaluated_version=version, evaluated_at=now, state=state))
        if passed:
            connection.execute(rules.update().where(
                rules.c.rule_id.in_(list(passed))
                & (sa.func.coalesce(rules.c.evaluated_version, 0) < version)).values(
                evaluated_version=version))
        for recipient_alerts in _by_recipient(fired).values():
            delivery.log_release(connection, "inbox", f"inbox of {recipient_alerts[0].recipient}",
                                 recipient_alerts, now)
    return fired


def _by_recipient(alerts: Sequence[delivery.Alert]) -> dict[str, list[delivery.Alert]]:
    grouped: dict[str, list[delivery.Alert]] = defaultdict(list)
    for alert in alerts:
        grouped[alert.recipient].append(alert)
    return grouped


# --- delivering ---------------------------------------------------------------------------------


def _pending(engine: sa.Engine, column: str, since: datetime
             ) -> list[tuple[delivery.Alert, StoredRule]]:
    """Alerts of active rules not yet delivered through ``column``'s channel, fired since."""
    alerts, rules = sql_table("alerts"), sql_table("alert_rules")
    rule_columns = [column for column in rules.columns if column.name != "rule_id"]
    query = sa.select(alerts, *rule_columns).join(rules, rules.c.rule_id == alerts.c.rule_id).where(
        alerts.c[column].is_(None), alerts.c.fired_at >= since, rules.c.active.is_(True)
    ).order_by(alerts.c.alert_id)
    with operations_engine(engine).connect() as connection:
        rows = [row._mapping for row in connection.execute(query)]
    return [(delivery.Alert(row["alert_id"], row["rule_id"], row["name"], row["condition"],
                            row["recipient"], as_utc(row["fired_at"]), row["sentence"],
                            row["view_url"], row["marking"], row["records"]),
             StoredRule.from_row(row)) for row in rows]


def _deliver(config: ProjectConfig, engine: sa.Engine, now: datetime,
             report: EvaluationReport) -> None:
    """E-mail and POST every recipient's undelivered alerts of the last day, one message per
    recipient and address (and per webhook)."""
    settings = config.settings.alerts
    operations = operations_engine(engine)
    since = now - RETRY_WINDOW
    names: dict[str, str] = {}
    if settings.smtp_host is not None:
        by_address: dict[tuple[str, str], list[delivery.Alert]] = defaultdict(list)
        for alert, stored in _pending(engine, "delivered_email_at", since):
            if stored.rule.email:
                by_address[(alert.recipient, stored.rule.email)].append(alert)
        for (recipient, address), alerts in by_address.items():
            if recipient not in names:
                viewer = accounts.viewer_for(engine, recipient, config.settings.security)
                names[recipient] = viewer.display_name if viewer else recipient
            message = delivery.email_message(config, names[recipient], address, alerts, now)
            _send(operations, report, "email", address, alerts, now,
                  lambda message=message: delivery.send_email(settings, message))
    if settings.webhook_urls:
        by_user: dict[str, list[delivery.Alert]] = defaultdict(list)
        for alert, stored in _pending(engine, "delivered_webhook_at", since):
            if stored.rule.webhook and delivery.webhook_allows(settings, alert):
                by_user[alert.recipient].append(alert)
        for recipient, alerts in by_user.items():
            body = delivery.webhook_body(config, recipient, alerts, now)

            def post(body: bytes = body) -> None:
                for url in settings.webhook_urls:
                    delivery.post_webhook(settings, url, body)

            _send(operations, report, "webhook", " ".join(settings.webhook_urls), alerts, now,
                  post)


def _send(operations: sa.Engine, report: EvaluationReport, channel: str, target: str,
          alerts: Sequence[delivery.Alert], now: datetime, send: Any) -> None:
    try:
        send()
    except delivery.DeliveryError as error:
        report.failed.append((channel, target, str(error)))
        log.warning("alerts: %s to %s failed (%s); retried at the next evaluation", channel,
                    target, error)
        delivery.record_failed(operations, channel, target, alerts, error, now)
        return
    delivery.record_delivered(operations, channel, target, alerts, now)
    report.delivered.append((channel, alerts[0].recipient, target))


# --- the hook after an ingest, and `alerts test` ---------------------------------------------


def evaluate_after_ingest(config: ProjectConfig, engine: sa.Engine, rows_written: int
                          ) -> EvaluationReport | None:
    """After an ingest that wrote rows: evaluate the alerts. Never raises: a failure is
    logged and audited, and the ingest stands."""
    if rows_written <= 0:
        return None
    try:
        return evaluate_alerts(config, engine)
    except Exception as error:  # an alert failure must never fail the ingest
        reason = f"{error.__class__.__name__}: {' '.join(str(error).split())}"[:500]
        log.warning("alerts: evaluation failed (%s); the ingest stands", reason)
        with contextlib.suppress(Exception):
            audit.record(engine, SYSTEM_USER, "alert", page="evaluate",
                         detail={"failed": reason})
        return None


def preview_rule(config: ProjectConfig, engine: sa.Engine, rule_id: int,
                 today: date | None = None) -> list[Firing]:
    """What rule ``rule_id`` would fire if evaluated now, delivering nothing and changing
    nothing: its watermark aside (every incident in the window counts as new), against its
    state and the alerts it fired."""
    stored = get_rule(engine, rule_id)
    if stored is None or not stored.active:
        raise RuleError(f"no active alert rule {rule_id}")
    today = today or clock.now().astimezone(ZoneInfo(config.settings.timezone)).date()
    frames = load_picture_frames(engine, config.settings.timezone,
                                     config.settings.network)
    data = _OwnerData(config, engine, frames, today).of(stored.username)
    if data is None:
        raise RuleError(f"rule {rule_id}: its owner {stored.username!r} has no enabled account")
    check_rule(stored.rule, config, data.visibility)
    with operations_engine(engine).connect() as connection:
        fired_keys = _fired_keys(connection, rule_id)
    return firings(stored, candidates_for(stored, config, data, today, None), config, data,
                   fired_keys)
