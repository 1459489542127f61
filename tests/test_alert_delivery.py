"""Delivering alerts (issue 17, items 3-5): a feed change picked up by the watch service gives
exactly one e-mail (received by a local SMTP server), one inbox entry and one webhook POST
(received by a local HTTP server, its HMAC verified), and no second one on the next run; a
digest when several fire; failures never fail the ingest and are retried; every release is in
the dissemination log and the audit trail; the `alerts` commands and the Alerts page."""

from __future__ import annotations

import email
import email.policy
import hashlib
import hmac
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import polars as pl
import pytest
from aiosmtpd.controller import Controller
from typer.testing import CliRunner

from dashboard.alerts import evaluate as evaluation
from dashboard.alerts.delivery import SIGNATURE_HEADER
from dashboard.alerts.evaluate import evaluate_alerts
from dashboard.alerts.inbox import inbox, mark_read, unread_count
from dashboard.alerts.rules import list_rules
from dashboard.cli import app
from dashboard.frames import read_frame
from dashboard.security import audit
from dashboard.store import operations_engine
from dashboard.views.formatting import markdown_text
from dashboard.watch import Watcher, store_ingest
from tests.alert_support import POINTS, PROVIDENCE_SQUARE, TODAY, Deployment, at
from tests.app_support import open_app

SECRET = "shared-with-the-receiver"
SECRET_ENV = "THREAT_PICTURE_WEBHOOK_SECRET"
ADDRESS = "analyst@rifc.example.gov"
RIFC = ("rifc", "incidents")
runner = CliRunner()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Mailbox:
    """A local SMTP server (aiosmtpd) and what it received."""

    port: int
    messages: list[email.message.EmailMessage] = field(default_factory=list)
    recipients: list[list[str]] = field(default_factory=list)

    async def handle_DATA(self, _server: object, _session: object, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(  # type: ignore[arg-type]
            envelope.content, policy=email.policy.default))
        self.recipients.append(list(envelope.rcpt_tos))
        return "250 Message accepted for delivery"


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox(free_port())
    controller = Controller(box, hostname="127.0.0.1", port=box.port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


@dataclass
class Receiver:
    """A local HTTP server taking webhook POSTs."""

    url: str
    posts: list[tuple[dict[str, str], bytes]]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    posts: list[tuple[dict[str, str], bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            posts.append((dict(self.headers.items()), body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Receiver(f"http://127.0.0.1:{server.server_address[1]}/hooks/alerts", posts)
    finally:
        server.shutdown()
        server.server_close()


def configure(ri_dir: Path, smtp_port: int | None, webhook_url: str | None, **more: str) -> None:
    """Give the deployment an [alerts] section."""
    lines = ["", "[alerts]", 'app_url = "https://picture.example.gov"',
             'smtp_from = "alerts@picture.example.gov"']
    if smtp_port is not None:
        lines += ['smtp_host = "127.0.0.1"', f"smtp_port = {smtp_port}"]
    if webhook_url is not None:
        lines.append(f'webhook_urls = ["{webhook_url}"]')
    lines += [f'{key} = "{value}"' for key, value in more.items()]
    settings = ri_dir / "config" / "settings.toml"
    settings.write_text(settings.read_text() + "\n".join(lines) + "\n")


def verified(post: tuple[dict[str, str], bytes]) -> dict[str, Any]:
    """The POST's JSON, once its signature is checked as a receiver would."""
    headers, body = post
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers[SIGNATURE_HEADER], expected)
    assert headers["Content-Type"] == "application/json"
    return json.loads(body)  # type: ignore[no-any-return]


def log_rows(deployment: Deployment) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The dissemination log's and the audit trail's alert rows."""
    operations = operations_engine(deployment.engine)
    released = read_frame(operations, "disseminations").sort("dissemination_id")
    trail = audit.audit_frame(deployment.engine)
    return released, trail.filter(pl.col("action") == "alert").sort("audit_id")


# --- end to end, through the watch service ------------------------------------------------------


def test_a_feed_change_during_watch_alerts_once_by_every_channel(
        ri_dir: Path, mailbox: Mailbox, receiver: Receiver,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    configure(ri_dir, mailbox.port, receiver.url)
    deployment = Deployment.of(ri_dir)
    rule = deployment.rule("analyst", name="Providence gangs", condition="new_incident",
                           geofence=PROVIDENCE_SQUARE, categories=["gangs"], email=ADDRESS,
                           webhook=True)
    # The watch service's own ingest of one source (the same as `threat-picture watch` runs).
    watcher = Watcher(deployment.config, store_ingest(deployment.config, deployment.engine,
                                                      deployment.store_url))
    assert watcher.run_once(RIFC) == "loaded"  # nothing changed yet: nothing to alert on
    assert (mailbox.messages, receiver.posts) == ([], [])

    two_hours_ago = datetime.now(UTC) - timedelta(hours=2)
    case = deployment.incident(two_hours_ago, "gangs", "44007", severity=4,
                               point=POINTS["44007"], details="SECRET-NARRATIVE")
    assert watcher.run_once(RIFC) == "loaded"

    # One inbox entry ...
    [entry] = inbox(deployment.engine, "analyst").iter_rows(named=True)
    assert entry["rule_id"] == rule and case in entry["sentence"]
    assert entry["marking"] == "TLP:GREEN" and entry["read_at"] is None
    assert entry["delivered_email_at"] is not None and entry["delivered_webhook_at"] is not None
    # ... one e-mail, marked at the top and the bottom ...
    [message] = mailbox.messages
    assert mailbox.recipients == [[ADDRESS]]
    assert message["Subject"] == ("[TLP:GREEN] Rhode Island test picture: Alert "
                                  "(Providence gangs)")
    assert message["From"] == "alerts@picture.example.gov"
    body = message.get_content()
    lines = body.splitlines()
    assert lines[0] == "TLP:GREEN" and lines[-2].startswith("TLP:GREEN · Contains criminal")
    assert f"1. {entry['sentence']}" in body
    assert f"   View: {entry['view_url']}" in body
    assert entry["view_url"].startswith("https://picture.example.gov/map?period=custom")
    # ... and one signed POST.
    [post] = receiver.posts
    sent = verified(post)
    assert sent["recipient"] == "analyst" and sent["marking"] == "TLP:GREEN"
    assert [item["sentence"] for item in sent["alerts"]] == [entry["sentence"]]
    assert [item["alert_id"] for item in sent["alerts"]] == [entry["alert_id"]]
    assert "SECRET-NARRATIVE" not in body + post[1].decode()

    # The next runs: the same file (nothing read), then a change the rule does not cover.
    assert watcher.run_once(RIFC) == "loaded"
    deployment.incident(datetime.now(UTC) - timedelta(hours=1), "gangs", "44005",
                        severity=4, point=POINTS["44005"])
    assert watcher.run_once(RIFC) == "loaded"
    assert len(mailbox.messages) == 1 and len(receiver.posts) == 1
    assert inbox(deployment.engine, "analyst").height == 1

    # Each release is logged: who, which channel, where, marking, records; and audited.
    released, trail = log_rows(deployment)
    assert released.select("username", "format", "file_name", "marking", "rows").rows() == [
        ("analyst", "inbox", "inbox:inbox of analyst", "TLP:GREEN", 1),
        ("analyst", "email", f"email:{ADDRESS}", "TLP:GREEN", 1),
        ("analyst", "webhook", f"webhook:{receiver.url}", "TLP:GREEN", 1)]
    assert released["purpose"].to_list() == ["Alert subscription: rule 1 'Providence gangs'"] * 3
    assert trail.select("username", "page", "rows").rows() == [
        ("analyst", "inbox", 1), ("analyst", "email", 1), ("analyst", "webhook", 1)]
    assert all(f'"alerts": [{entry["alert_id"]}]' in detail for detail in trail["detail"])


def test_many_alerts_of_one_evaluation_make_one_digest(
        ri_dir: Path, mailbox: Mailbox, receiver: Receiver,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    configure(ri_dir, mailbox.port, receiver.url)
    deployment = Deployment.of(ri_dir)
    for name, values in (("Gangs in Providence", {"condition": "new_incident",
                                                  "geofence": PROVIDENCE_SQUARE}),
                         ("Any gang activity", {"condition": "count_above", "threshold": 2})):
        deployment.rule("analyst", name=name, categories=["gangs"], email=ADDRESS, webhook=True,
                        **values)
    deployment.incidents(2, at(TODAY - timedelta(days=1)), "gangs", "44007",
                         point=POINTS["44007"])
    report = deployment.evaluate()
    assert len(report.fired) == 3  # two new incidents and the count
    [message] = mailbox.messages
    assert message["Subject"] == "[TLP:GREEN] Rhode Island test picture: 3 alerts"
    body = message.get_content()
    assert [line[:3] for line in body.splitlines() if line[:2] in ("1.", "2.", "3.")] == [
        "1. ", "2. ", "3. "]
    assert "Rule: Any gang activity" in body and "Rule: Gangs in Providence" in body
    [post] = receiver.posts
    assert len(verified(post)["alerts"]) == 3
    released, _ = log_rows(deployment)
    assert released["format"].to_list() == ["inbox", "email", "webhook"]
    assert released["rows"].to_list() == [4, 4, 4]  # 1 + 1 + 2 records drawn on


# --- failures: never the ingest's, retried, audited ----------------------------------------


def test_an_unreachable_relay_fails_the_email_only_and_it_is_retried(
        ri_dir: Path, mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch) -> None:
    configure(ri_dir, free_port(), None)  # nothing listens there
    deployment = Deployment.of(ri_dir)
    deployment.rule("analyst", condition="count_above", threshold=1, email=ADDRESS)
    deployment.incident(at(TODAY - timedelta(days=1)), "gangs", "44007")
    report = deployment.evaluate()
    assert len(report.fired) == 1 and [channel for channel, *_ in report.failed] == ["email"]
    [entry] = inbox(deployment.engine, "analyst").iter_rows(named=True)
    assert entry["delivered_email_at"] is None
    _, trail = log_rows(deployment)
    assert trail["page"].to_list() == ["inbox", "email"]
    assert "Connection refused" in trail["detail"][1] and trail["rows"][1] == 0
    # The relay is back: the next evaluation delivers it (nothing new fires), once.
    settings = ri_dir / "config" / "settings.toml"
    text = settings.read_text()
    settings.write_text(text[:text.index("smtp_port")] + f"smtp_port = {mailbox.port}\n")
    deployment.reload_config()
    assert deployment.evaluate().fired == []
    assert len(mailbox.messages) == 1
    deployment.evaluate()
    assert len(mailbox.messages) == 1
    assert inbox(deployment.engine, "analyst")["delivered_email_at"].null_count() == 0


def test_webhooks_get_nothing_above_their_marking_limit_and_need_the_secret(
        ri_dir: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    configure(ri_dir, None, receiver.url, webhook_max_marking="TLP:CLEAR")
    deployment = Deployment.of(ri_dir)
    deployment.rule("analyst", condition="count_above", threshold=1, webhook=True)
    deployment.incident(at(TODAY - timedelta(days=1)), "gangs", "44007")
    report = deployment.evaluate()
    assert report.fired[0].marking == "TLP:GREEN"
    assert receiver.posts == [] and report.failed == []  # kept from the webhooks, not failed
    # Allowed, but without the shared secret nothing unsigned is sent.
    settings = ri_dir / "config" / "settings.toml"
    settings.write_text(settings.read_text().replace('"TLP:CLEAR"', '"TLP:AMBER"'))
    deployment.reload_config()
    monkeypatch.delenv(SECRET_ENV, raising=False)
    report = deployment.evaluate()
    assert receiver.posts == [] and "no shared secret" in report.failed[0][2]
    monkeypatch.setenv(SECRET_ENV, SECRET)
    deployment.evaluate()
    assert len(receiver.posts) == 1 and verified(receiver.posts[0])["alerts"]


def test_a_failing_evaluation_never_fails_the_ingest(
        ri_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    deployment = Deployment.of(ri_dir)
    deployment.rule("analyst", condition="count_above", threshold=1)

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("the alert store is on fire")

    monkeypatch.setattr(evaluation, "evaluate_alerts", broken)
    deployment.incident(at(TODAY - timedelta(days=1)), "gangs", "44007")
    result = runner.invoke(app, ["ingest", "--config", str(ri_dir / "config"),
                                 "--store", deployment.store_url])
    assert result.exit_code == 0, result.output
    deployment.incident(at(TODAY - timedelta(days=1)), "gangs", "44003")
    store_ingest(deployment.config, deployment.engine, deployment.store_url)(RIFC)
    failures = audit.audit_frame(deployment.engine).filter(pl.col("action") == "alert")
    assert failures["username"].to_list() == ["system:alerts"] * 2
    assert all("the alert store is on fire" in detail for detail in failures["detail"])


# --- the inbox, the command line, the page -------------------------------------------------


def test_the_inbox_marks_only_its_owners_alerts_read(ri_dir: Path) -> None:
    deployment = Deployment.of(ri_dir)
    deployment.rule("analyst", condition="count_above", threshold=1)
    deployment.rule("director", condition="count_above", threshold=1)
    deployment.incident(at(TODAY - timedelta(days=1)), "gangs", "44007")
    deployment.evaluate()
    analyst_alert = int(inbox(deployment.engine, "analyst")["alert_id"][0])
    director_alert = int(inbox(deployment.engine, "director")["alert_id"][0])
    assert mark_read(deployment.engine, "analyst", [director_alert]) == 0
    assert mark_read(deployment.engine, "analyst", [analyst_alert]) == 1
    assert unread_count(deployment.engine, "analyst") == 0
    assert unread_count(deployment.engine, "director") == 1
    assert inbox(deployment.engine, "analyst", unread_only=True).is_empty()


def test_alerts_commands_add_list_test_and_remove(ri_dir: Path) -> None:
    deployment = Deployment.of(ri_dir)
    config, store = str(ri_dir / "config"), deployment.store_url
    geofence = ri_dir / "providence.geojson"
    geofence.write_text(PROVIDENCE_SQUARE)
    common = ["--config", config, "--store", store]
    added = runner.invoke(app, ["alerts", "add", "--user", "analyst", "--name", "Port watch",
                                "--condition", "new_incident", "--geofence", str(geofence),
                                "--category", "Gangs", "--county", "Newport",
                                "--min-severity", "3", "--window-days", "400", *common])
    assert added.exit_code == 1 and "window_days: Input should be less than or equal to 366" \
        in added.output
    added = runner.invoke(app, ["alerts", "add", "--user", "analyst", "--name", "Port watch",
                                "--condition", "new_incident", "--geofence", str(geofence),
                                "--category", "Gangs", "--county", "Providence",
                                "--min-severity", "3", *common])
    assert added.exit_code == 0, added.output
    assert "Added alert rule 1 for 'analyst': New incident in the area · Gangs · Providence " \
           "County, geofence · severity 3+ · 7 days." in " ".join(added.output.split())
    [stored] = list_rules(deployment.engine)
    assert (stored.rule.categories, stored.rule.counties) == (("gangs",), ("44007",))
    listed = runner.invoke(app, ["alerts", "list", "--json", *common])
    assert json.loads(listed.stdout)[0]["name"] == "Port watch"
    # `test` evaluates it now, every incident of its window counting as new; nothing changes.
    tested = runner.invoke(app, ["alerts", "test", "1", "--as-of", "2025-02-05", "--json",
                                 *common])
    assert tested.exit_code == 0, tested.output
    # R-1 (gangs, in Providence County, 15 January) is older than 7 days on 5 February.
    assert json.loads(tested.stdout) == []
    tested = runner.invoke(app, ["alerts", "test", "1", "--as-of", "2025-01-20", *common])
    assert "New Gangs incident R-1 (severity 3)" in tested.stdout
    assert inbox(deployment.engine, "analyst").is_empty()
    for arguments, message in (
            (["add", "--user", "partner", "--name", "x", "--condition", "new_incident"],
             "condition: partners receive released weekly counts"),
            (["add", "--user", "analyst", "--name", "x", "--condition", "count_above"],
             "rule: count_above needs a threshold"),
            (["add", "--user", "analyst", "--name", "x", "--condition", "new_incident",
              "--county", "Atlantis"], "--county: 'Atlantis' is not a county FIPS or name"),
            (["add", "--user", "nobody", "--name", "x", "--condition", "new_incident"],
             "no enabled account 'nobody'"),
            (["test", "7"], "no active alert rule 7")):
        failed = runner.invoke(app, ["alerts", *arguments, *common])
        assert failed.exit_code == 1 and message in failed.output, failed.output
    removed = runner.invoke(app, ["alerts", "remove", "1", *common])
    assert removed.exit_code == 0 and "Removed alert rule 1" in removed.output
    assert list_rules(deployment.engine) == []
    trail = audit.audit_frame(deployment.engine).filter(pl.col("action") == "alert_rule")
    assert trail["page"].to_list() == ["alerts remove", "alerts add"]


def test_the_alerts_page_adds_a_geofence_rule_and_shows_the_inbox(
        ri_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    deployment = Deployment.of(ri_dir)
    at_page = open_app((ri_dir / "config", deployment.store_url), monkeypatch,
                       page="pages/alerts.py", role="analyst")
    assert at_page.title[0].value == "Alerts"
    at_page.selectbox(key="alerts_condition").set_value("new_incident").run()
    at_page.text_input(key="alerts_name").input("Providence square")
    at_page.multiselect(key="alerts_categories").set_value(["gangs"])
    at_page.text_area(key="alerts_geofence").input("not GeoJSON")
    next(button for button in at_page.button if button.label == "Add rule").click().run()
    assert [error.value for error in at_page.error] == [markdown_text(
        "The rule was not added: geofence: not valid JSON (Expecting value: line 1 column 1 "
        "(char 0))")]
    at_page.text_area(key="alerts_geofence").input(PROVIDENCE_SQUARE)
    next(button for button in at_page.button if button.label == "Add rule").click().run()
    assert not at_page.exception
    assert next(s.value for s in at_page.success).startswith("Rule 1 added")
    [stored] = list_rules(deployment.engine, "analyst")
    assert stored.rule.shape is not None and stored.rule.categories == ("gangs",)
    deployment.incident(datetime.now(UTC) - timedelta(hours=3), "gangs", "44007",
                        point=POINTS["44007"])
    deployment.ingest()
    evaluate_alerts(deployment.config, deployment.engine)
    at_page.run()
    assert at_page.tabs[0].label == "Inbox (1 unread)"
    # The sidebar says so on every page, as a link to the inbox.
    assert [link.label for link in at_page.sidebar.get("page_link")] == ["1 unread alert"]
    shown = next(frame.value for frame in at_page.dataframe if "Why" in frame.value.columns)
    assert shown["Rule"].tolist() == ["Providence square"]
    assert urlsplit(shown["View"][0]).path == "/map"  # a link inside the app
    next(button for button in at_page.button if button.label == "Mark all read").click().run()
    assert at_page.tabs[0].label == "Inbox (0 unread)"
    assert not at_page.sidebar.get("page_link")
    # A partner is offered only the conditions of released counts.
    partner = open_app((ri_dir / "config", deployment.store_url), monkeypatch,
                       page="pages/alerts.py", role="partner")
    assert partner.selectbox(key="alerts_condition").options == [
        "New or intensifying hot spot", "Trend anomaly", "Count at or above a threshold"]
