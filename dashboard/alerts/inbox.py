"""The in-app inbox: a user's alerts, newest first, and marking them read."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl
import sqlalchemy as sa

from dashboard.frames import read_frame
from dashboard.security import clock
from dashboard.store import operations_engine, write_transaction
from dashboard.store import table as sql_table

INBOX_COLUMNS = ("alert_id", "rule_id", "fired_at", "sentence", "view_url", "marking",
                 "records", "read_at", "delivered_email_at", "delivered_webhook_at")


def inbox(engine: sa.Engine, username: str, *, unread_only: bool = False,
          limit: int = 500) -> pl.DataFrame:
    """``username``'s alerts (INBOX_COLUMNS), newest first."""
    alerts = sql_table("alerts")
    where = alerts.c.recipient == username
    if unread_only:
        where = where & alerts.c.read_at.is_(None)
    return read_frame(operations_engine(engine), "alerts", list(INBOX_COLUMNS),
                      where=where).sort("alert_id", descending=True).head(limit)


def unread_count(engine: sa.Engine, username: str) -> int:
    """How many of ``username``'s alerts are unread (the sidebar's badge)."""
    alerts = sql_table("alerts")
    with operations_engine(engine).connect() as connection:
        return int(connection.execute(sa.select(sa.func.count()).select_from(alerts).where(
            (alerts.c.recipient == username) & alerts.c.read_at.is_(None))).scalar_one())


def mark_read(engine: sa.Engine, username: str, alert_ids: Sequence[int] | None = None) -> int:
    """Mark ``username``'s alerts read (``alert_ids``; None: all of them); returns how many
    changed. Another user's alert ids are ignored."""
    alerts = sql_table("alerts")
    where = (alerts.c.recipient == username) & alerts.c.read_at.is_(None)
    if alert_ids is not None:
        where = where & alerts.c.alert_id.in_(list(alert_ids))
    with write_transaction(operations_engine(engine)) as connection:
        return int(connection.execute(alerts.update().where(where).values(
            read_at=clock.now())).rowcount)
