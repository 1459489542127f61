"""The append-only audit trail (28 CFR 23.20(g)): the application only ever inserts here; the
store's triggers (migration 0002) refuse updates and deletes."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import polars as pl
import sqlalchemy as sa

from dashboard.frames import read_frame
from dashboard.security import clock
from dashboard.store import operations_engine
from dashboard.store import table as sql_table

ACTIONS = ("sign_in", "sign_in_failed", "sign_out", "session_expired", "page_view", "download",
           "briefing", "analyze", "purge", "revalidate", "user_admin", "alert_rule", "alert",
           "exchange")


def record(engine: sa.Engine | sa.Connection, username: str, action: str, *,
           page: str | None = None, detail: Mapping[str, Any] | None = None,
           rows: int | None = None, at: datetime | None = None) -> None:
    """Append one audit row: in its own transaction on the store's operations engine when
    given the store's engine; on ``engine`` when given a connection of the operations engine."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    values = {"at": at or clock.now(), "username": username[:100], "action": action,
              "page": page, "rows": rows,
              "detail": json.dumps(detail, sort_keys=True, default=str) if detail else None}
    statement = sql_table("audit_log").insert().values(values)
    if isinstance(engine, sa.Engine):
        with operations_engine(engine).begin() as connection:
            connection.execute(statement)
    else:
        engine.execute(statement)


def audit_frame(engine: sa.Engine, since: datetime | None = None,
                until: datetime | None = None) -> pl.DataFrame:
    """Audit rows, newest first, between ``since`` and ``until`` (UTC, inclusive)."""
    log = sql_table("audit_log")
    conditions = []
    if since is not None:
        conditions.append(log.c.at >= since)
    if until is not None:
        conditions.append(log.c.at <= until)
    where = sa.and_(*conditions) if conditions else None
    return read_frame(operations_engine(engine), "audit_log", where=where).sort(
        "audit_id", descending=True)
