"""The Administration page's model: the audit trail, records due for review, accounts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

import polars as pl
import sqlalchemy as sa

from dashboard.security import accounts, audit
from dashboard.security.retention import due_for_review
from dashboard.views.export import to_safe_csv

AUDIT_ACTIONS = list(audit.ACTIONS)


@dataclass(frozen=True)
class AuditView:
    rows: pl.DataFrame
    csv: bytes
    csv_name: str


def audit_view(engine: sa.Engine, start: date, end: date, actions: Sequence[str],
               user_contains: str) -> AuditView:
    """Audit rows between two days (UTC), of some actions and users, newest first."""
    rows = audit.audit_frame(engine, since=datetime.combine(start, time.min, UTC),
                             until=datetime.combine(end, time.max, UTC))
    if actions:
        rows = rows.filter(pl.col("action").is_in(list(actions)))
    if user_contains:
        rows = rows.filter(pl.col("username").str.contains(user_contains, literal=True))
    return AuditView(rows, to_safe_csv(rows), f"audit_{start}_{end}.csv")


@dataclass(frozen=True)
class ReviewView:
    due: pl.DataFrame
    past_review: int
    due_soon: int


def review_view(engine: sa.Engine, within_days: int, now: datetime) -> ReviewView:
    """Records falling due for 28 CFR Part 23 review within ``within_days``."""
    due = due_for_review(engine, within_days=within_days)
    past = due.filter(pl.col("review_by") <= now).height
    return ReviewView(due, past, due.height - past)


def accounts_view(engine: sa.Engine) -> pl.DataFrame:
    return accounts.list_users(engine)
