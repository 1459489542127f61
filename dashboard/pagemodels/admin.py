"""The Administration page's model: the audit trail, records due for review, accounts, in the
tables the page shows (human headers, centers by their configured names, "—" for no value)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

import polars as pl
import sqlalchemy as sa

from dashboard.security import accounts, audit
from dashboard.security.retention import due_for_review
from dashboard.views.export import download_name, to_safe_csv
from dashboard.views.health import count_text, display_table

AUDIT_ACTIONS = list(audit.ACTIONS)
ACTION_NAMES = {action: action.replace("_", " ").capitalize() for action in audit.ACTIONS}
AUDIT_HEADERS = {"audit_id": "Entry", "at": "When (UTC)", "username": "User",
                 "action": "Action", "page": "Where", "rows": "Rows",
                 "detail": "Detail"}
REVIEW_HEADERS = {"table_name": "Record", "center_id": "Center", "record_id": "Id",
                  "tlp": "Marking", "entered_at": "Entered (UTC)",
                  "review_by": "Review by (UTC)"}
RECORD_KINDS = {"incidents": "Incident", "products": "Product"}
ACCOUNT_HEADERS = {
    "username": "User name", "display_name": "Display name", "role": "Role",
    "center_id": "Center", "max_tlp": "Up to", "need_to_know": "Need to know",
    "auth_method": "Signs in with", "disabled": "Disabled",
    "last_sign_in_at": "Last sign-in (UTC)", "locked_until": "Locked until (UTC)",
    "failed_attempts": "Failed attempts", "created_at": "Created (UTC)"}
AUTH_METHODS = {"local": "Password", "oidc": "Single sign-on"}
ROLE_NAMES = {"admin": "Admin", "leadership": "Leadership", "analyst": "Analyst",
              "partner": "Partner"}
# What an audit row's detail keys are called on the page; other keys are humanised.
DETAIL_NAMES = {"center_id": "Center", "client": "From", "content_hash": "Content hash",
                "data_version": "Data version", "user": "Account"}


@dataclass(frozen=True)
class AuditView:
    rows: pl.DataFrame
    csv: bytes
    csv_name: str


def detail_text(detail: str | None, center_names: Mapping[str, str] | None = None
                ) -> str | None:
    """An audit row's detail (JSON) as a reader reads it: 'Center: State Threat Assessment
    Center · Role: Admin', no null, no braces; None for no detail. Text that is not a JSON
    object is shown as it is."""
    if not detail:
        return None
    try:
        values = json.loads(detail)
    except ValueError:
        return detail
    if not isinstance(values, dict):
        return detail
    names = dict(center_names or {})

    def words(key: str, value: Any) -> str:
        if key == "center_id":
            return str(names.get(value, value))
        if key == "role":
            return ROLE_NAMES.get(value, str(value))
        if isinstance(value, bool):
            return "yes" if value else "no"
        if isinstance(value, list):
            return ", ".join(str(item) for item in value)
        if isinstance(value, dict):
            return "; ".join(f"{name}={words(name, item)}" for name, item in value.items()
                             if item not in (None, "", [], {}))
        return str(value)

    parts = [f"{DETAIL_NAMES.get(key) or _humanised_text(key)}: {words(key, value)}"
             for key, value in values.items() if value not in (None, "", [], {})]
    return " · ".join(parts) or None


def audit_view(engine: sa.Engine, start: date, end: date, actions: Sequence[str],
               user_contains: str, center_names: Mapping[str, str] | None = None
               ) -> AuditView:
    """Audit rows between two days (UTC), of some actions and users, newest first, their
    details in words (centers by ``center_names``); the CSV holds what the table shows (no
    value: an empty cell) and its name the dates and filters."""
    rows = audit.audit_frame(engine, since=datetime.combine(start, time.min, UTC),
                             until=datetime.combine(end, time.max, UTC))
    if actions:
        rows = rows.filter(pl.col("action").is_in(list(actions)))
    if user_contains:
        rows = rows.filter(pl.col("username").str.contains(user_contains, literal=True))
    rows = rows.with_columns(
        pl.col("action").replace(ACTION_NAMES),
        # A page's url path or a download's key ('data_health' -> 'Data health'), or how
        # someone signed in.
        pl.when(pl.col("page").is_in(list(AUTH_METHODS))).then(pl.col("page").replace(
            AUTH_METHODS)).otherwise(_humanised(pl.col("page"))).alias("page"),
        pl.col("detail").map_elements(lambda text: detail_text(text, center_names),
                                      return_dtype=pl.String, skip_nulls=True))

    seconds = "%Y-%m-%d %H:%M:%S"
    shown = display_table(rows.with_columns(count_text("rows")), AUDIT_HEADERS,
                          time_format=seconds)
    # The CSV: the same cells, counts as numbers and empty where the table shows "—".
    exported = display_table(rows, AUDIT_HEADERS, missing="", time_format=seconds)
    name = download_name("audit", f"{start}-to-{end}", [
        *sorted(actions), *([f"user-{user_contains}"] if user_contains else [])])
    return AuditView(shown, to_safe_csv(exported), name)


@dataclass(frozen=True)
class ReviewView:
    due: pl.DataFrame
    past_review: int
    due_soon: int


def review_view(engine: sa.Engine, within_days: int, now: datetime,
                center_names: Mapping[str, str] | None = None) -> ReviewView:
    """Records falling due for 28 CFR Part 23 review within ``within_days``."""
    due = due_for_review(engine, within_days=within_days)
    past = due.filter(pl.col("review_by") <= now).height
    shown = due.with_columns(
        pl.col("table_name").replace(RECORD_KINDS),
        pl.col("center_id").replace(dict(center_names or {})))
    return ReviewView(display_table(shown, REVIEW_HEADERS), past, due.height - past)


def accounts_view(engine: sa.Engine, center_names: Mapping[str, str] | None = None
                  ) -> pl.DataFrame:
    users = accounts.list_users(engine).with_columns(
        pl.col("role").replace(ROLE_NAMES), pl.col("auth_method").replace(AUTH_METHODS),
        pl.col("center_id").replace(dict(center_names or {})),
        pl.col("last_sign_in_at").dt.strftime("%Y-%m-%d %H:%M").fill_null("never"))
    return display_table(users, ACCOUNT_HEADERS)


def _humanised_text(words: str) -> str:
    """'data_health' -> 'Data health'."""
    spaced = words.replace("_", " ")
    return spaced[:1].upper() + spaced[1:]


def _humanised(words: pl.Expr) -> pl.Expr:
    return words.map_elements(_humanised_text, return_dtype=pl.String, skip_nulls=True)
