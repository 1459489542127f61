"""Delivering alerts: the in-app inbox (the ``alerts`` rows themselves), e-mail through the
configured SMTP relay and JSON webhooks signed with HMAC-SHA256; each release is logged in the
dissemination log and the audit trail (28 CFR 23.20(f), (g)).

All of one recipient's alerts of one evaluation go out together: one e-mail (a digest when
there are several) per address, one POST per webhook. An e-mail or POST that fails is audited
with its reason and tried again at the next evaluation, for a day.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import smtplib
import ssl
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

import sqlalchemy as sa

from dashboard.security import audit
from dashboard.security.policy import TLP_RANK, TLP_WORDING, most_restrictive
from dashboard.settings import AlertSettings, ProjectConfig
from dashboard.store import table as sql_table
from dashboard.store import write_transaction

SIGNATURE_HEADER = "X-Threat-Picture-Signature"
CHANNELS = ("inbox", "email", "webhook")
DELIVERED_COLUMN = {"email": "delivered_email_at", "webhook": "delivered_webhook_at"}


class DeliveryError(RuntimeError):
    """A relay or receiver that did not take the alerts, in one line."""


@dataclass(frozen=True)
class Alert:
    """An alert as it is delivered."""

    alert_id: int
    rule_id: int
    rule_name: str
    condition: str
    recipient: str
    fired_at: datetime
    sentence: str
    view_url: str
    marking: str
    records: int

    def as_json(self) -> dict[str, Any]:
        return {"alert_id": self.alert_id, "rule_id": self.rule_id, "rule": self.rule_name,
                "condition": self.condition, "fired_at": self.fired_at.isoformat(),
                "sentence": self.sentence, "view_url": self.view_url,
                "marking": self.marking, "records": self.records}


def digest_marking(alerts: Sequence[Alert]) -> str:
    return most_restrictive(alert.marking for alert in alerts)


def content_hash(alerts: Sequence[Alert]) -> str:
    """SHA-256 of what the alerts say (not when they were sent)."""
    said = [[a.rule_id, a.sentence, a.view_url, a.marking] for a in alerts]
    return hashlib.sha256(json.dumps(said, sort_keys=True).encode()).hexdigest()


def _one_line(text: str) -> str:
    return " ".join(text.split())


def email_message(config: ProjectConfig, recipient_name: str, address: str,
                  alerts: Sequence[Alert], sent_at: datetime) -> EmailMessage:
    """Plain text, marked at the top and bottom; one alert, or a digest of several."""
    settings = config.settings
    marking = digest_marking(alerts)
    title = _one_line(settings.title)
    count = f"{len(alerts)} alerts" if len(alerts) > 1 else "Alert"
    message = EmailMessage()
    message["Subject"] = f"[{marking}] {title}: {count}" + (
        "" if len(alerts) > 1 else f" ({_one_line(alerts[0].rule_name)[:80]})")
    message["From"] = settings.alerts.smtp_from
    message["To"] = address
    message["Date"] = format_datetime(sent_at)
    message["Message-ID"] = make_msgid(domain=settings.alerts.smtp_from.rpartition("@")[2])
    lines = [marking, TLP_WORDING[marking], ""]
    if settings.synthetic:
        lines += ["SYNTHETIC DATA: generated demo feeds; no real incident is described.", ""]
    lines += [f"{count} for {_one_line(recipient_name)}, {sent_at:%d %b %Y %H:%M} UTC:", ""]
    for number, alert in enumerate(alerts, start=1):
        lines += [f"{number}. {alert.sentence}",
                  f"   Rule: {_one_line(alert.rule_name)} · {alert.marking}",
                  f"   View: {alert.view_url}", ""]
    lines += [f"{marking} · {_one_line(settings.briefing.caveat)}",
              "Manage your alert rules on the Alerts page."]
    message.set_content("\n".join(lines) + "\n")
    return message


def send_email(settings: AlertSettings, message: EmailMessage) -> None:
    """Hand ``message`` to the SMTP relay (STARTTLS and login as configured)."""
    if settings.smtp_host is None:
        raise DeliveryError("no SMTP relay configured ([alerts] smtp_host)")
    try:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port,
                          timeout=settings.timeout_seconds) as relay:
            if settings.smtp_starttls:
                relay.starttls(context=ssl.create_default_context())
            if settings.smtp_username:
                relay.login(settings.smtp_username,
                            os.environ.get(settings.smtp_password_env, ""))
            relay.send_message(message)
    except (OSError, smtplib.SMTPException) as error:
        raise DeliveryError(f"SMTP relay {settings.smtp_host}:{settings.smtp_port}: "
                            f"{error.__class__.__name__}: {_one_line(str(error))}") from error


def webhook_body(config: ProjectConfig, recipient: str, alerts: Sequence[Alert],
                 sent_at: datetime) -> bytes:
    return json.dumps({
        "recipient": recipient, "sent_at": sent_at.isoformat(),
        "marking": digest_marking(alerts), "synthetic": config.settings.synthetic,
        "alerts": [alert.as_json() for alert in alerts],
    }, sort_keys=True).encode()


def signature(secret: str, body: bytes) -> str:
    """The signature header's value: ``sha256=`` and the HMAC-SHA256 of the body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post_webhook(settings: AlertSettings, url: str, body: bytes) -> None:
    secret = os.environ.get(settings.webhook_secret_env)
    if not secret:
        raise DeliveryError(f"webhook {url}: no shared secret (set ${settings.webhook_secret_env})")
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json", SIGNATURE_HEADER: signature(secret, body),
        "User-Agent": "threat-picture-alerts"})
    try:
        with urllib.request.urlopen(request, timeout=settings.timeout_seconds) as response:
            if not 200 <= response.status < 300:
                raise DeliveryError(f"webhook {url}: HTTP {response.status}")
    except urllib.error.HTTPError as error:
        raise DeliveryError(f"webhook {url}: HTTP {error.code}") from error
    except (OSError, ValueError) as error:
        raise DeliveryError(f"webhook {url}: {error.__class__.__name__}: "
                            f"{_one_line(str(error))}") from error


def webhook_allows(settings: AlertSettings, alert: Alert) -> bool:
    """Webhook receivers are systems, not named people: nothing above their marking limit."""
    return TLP_RANK[alert.marking] <= TLP_RANK[settings.webhook_max_marking]


# --- the log ----------------------------------------------------------------------------------


def log_release(connection: sa.Connection, channel: str, target: str,
                alerts: Sequence[Alert], at: datetime) -> None:
    """One dissemination row and one audit row for ``alerts`` released to their recipient
    through ``channel`` (on a connection of the operations engine); e-mail and webhook mark
    the alerts delivered."""
    recipient = alerts[0].recipient
    rules = sorted({(alert.rule_id, alert.rule_name) for alert in alerts})
    purpose = _one_line("Alert subscription: " + "; ".join(
        f"rule {rule_id} '{name}'" for rule_id, name in rules))[:2000]
    marking, records, digest = digest_marking(alerts), sum(a.records for a in alerts), \
        content_hash(alerts)
    connection.execute(sql_table("disseminations").insert().values(
        at=at, username=recipient, audience=None, purpose=purpose,
        file_name=f"{channel}:{target}"[:300], format=channel, marking=marking, rows=records,
        content_hash=digest))
    audit.record(connection, recipient, "alert", page=channel, rows=records, at=at,
                 detail={"to": target, "alerts": [a.alert_id for a in alerts],
                         "rules": [rule_id for rule_id, _ in rules], "marking": marking,
                         "content_hash": digest})
    if channel in DELIVERED_COLUMN:
        table = sql_table("alerts")
        connection.execute(table.update().where(table.c.alert_id.in_(
            [alert.alert_id for alert in alerts])).values({DELIVERED_COLUMN[channel]: at}))


def record_delivered(operations: sa.Engine, channel: str, target: str,
                     alerts: Sequence[Alert], at: datetime) -> None:
    with write_transaction(operations) as connection:
        log_release(connection, channel, target, alerts, at)


def record_failed(operations: sa.Engine, channel: str, target: str, alerts: Sequence[Alert],
                  error: Exception, at: datetime) -> None:
    """An audit row saying what was not delivered and why (nothing was released)."""
    audit.record(operations, alerts[0].recipient, "alert", page=channel, rows=0, at=at,
                 detail={"to": target, "alerts": [a.alert_id for a in alerts],
                         "failed": _one_line(str(error))})
