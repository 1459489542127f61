"""28 CFR 23.20(h): intelligence is reviewed and, unless revalidated, purged at its review date.

Every incident and product carries ``review_by`` (set when it enters the store:
``security.review_period_days`` later). :func:`purge` removes the records past that date, with
what hangs off them (duplicate links, coverage rows), and writes their ids (never their
contents) to the purge log, which also keeps a later ingest from bringing them back.
:func:`revalidate` moves a record's review date forward after an analyst has looked at it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl
import sqlalchemy as sa

from dashboard.frames import read_frame
from dashboard.security import audit, clock
from dashboard.store import table as sql_table
from dashboard.store import write_transaction

RECORD_KEYS = {"incidents": "incident_id", "products": "product_id"}


@dataclass(frozen=True)
class PurgeReport:
    due: pl.DataFrame  # table_name, center_id, record_id, entered_at, review_by
    applied: bool

    def summary(self) -> str:
        counts = self.due.group_by("table_name").len().sort("table_name")
        parts = [f"{row['len']:,} {row['table_name']}" for row in counts.iter_rows(named=True)]
        verb = "purged" if self.applied else "due for purge (dry run: nothing removed)"
        return f"{', '.join(parts) or 'no records'} {verb}"


def due_for_review(engine: sa.Engine | sa.Connection, on: datetime | None = None,
                   within_days: int = 0) -> pl.DataFrame:
    """Records whose review date has passed by ``on`` (plus ``within_days``: what falls due
    soon), oldest review date first."""
    cutoff = (on or clock.now()) + timedelta(days=within_days)
    frames = []
    for table_name, key in RECORD_KEYS.items():
        rows = read_frame(engine, table_name, ["center_id", key, "tlp", "entered_at",
                                               "review_by"],
                          where=sql_table(table_name).c.review_by <= cutoff)
        frames.append(rows.rename({key: "record_id"}).with_columns(
            pl.lit(table_name).alias("table_name")))
    return pl.concat(frames).select("table_name", "center_id", "record_id", "tlp",
                                    "entered_at", "review_by").sort("review_by", "record_id")


def purge(engine: sa.Engine, operator: str, *, apply: bool) -> PurgeReport:
    """List (``apply=False``) or remove the records past review, in one transaction."""
    now = clock.now()
    with write_transaction(engine) as connection:
        due = due_for_review(connection, now)
        if not apply or due.is_empty():
            return PurgeReport(due=due, applied=apply)
        for table_name, key in RECORD_KEYS.items():
            ids = due.filter(pl.col("table_name") == table_name).select(
                "center_id", "record_id").rows()
            if not ids:
                continue
            _delete_records(connection, table_name, key, ids)
        connection.execute(sql_table("purge_log").insert(), [
            {"purged_at": now, "purged_by": operator, "table_name": row["table_name"],
             "center_id": row["center_id"], "record_id": row["record_id"],
             "review_by": row["review_by"]} for row in due.iter_rows(named=True)])
    # The audit trail lives with the operations tables: recorded once the purge committed.
    audit.record(engine, operator, "purge", page="purge", rows=due.height,
                 detail={"incidents": due.filter(pl.col("table_name") == "incidents").height,
                         "products": due.filter(pl.col("table_name") == "products").height},
                 at=now)
    return PurgeReport(due=due, applied=True)


def _delete_records(connection: sa.Connection, table_name: str, key: str,
                    ids: list[tuple[str, str]]) -> None:
    table = sql_table(table_name)
    # Batches keep the IN list within every database's parameter limit.
    for start in range(0, len(ids), 500):
        batch = ids[start:start + 500]
        connection.execute(table.delete().where(
            sa.tuple_(table.c.center_id, table.c[key]).in_(batch)))
        if table_name == "incidents":
            links = sql_table("incident_links")
            connection.execute(links.delete().where(sa.or_(
                sa.tuple_(links.c.center_id, links.c.incident_id).in_(batch),
                sa.tuple_(links.c.duplicate_of_center_id,
                          links.c.duplicate_of_incident_id).in_(batch))))
        else:
            coverage = sql_table("product_coverage")
            connection.execute(coverage.delete().where(
                sa.tuple_(coverage.c.center_id, coverage.c.product_id).in_(batch)))


def revalidate(engine: sa.Engine, table_name: str, center_id: str, record_id: str,
               operator: str, reason: str, review_period_days: int) -> datetime:
    """Move one record's review date to ``review_period_days`` from now; returns the new date.
    Raises KeyError when there is no such record."""
    if table_name not in RECORD_KEYS:
        raise KeyError(f"no table {table_name!r}: incidents or products")
    table, key = sql_table(table_name), RECORD_KEYS[table_name]
    now = clock.now()
    review_by = now + timedelta(days=review_period_days)
    with write_transaction(engine) as connection:
        updated = connection.execute(table.update().where(
            table.c.center_id == center_id, table.c[key] == record_id).values(
            review_by=review_by)).rowcount
        if not updated:
            raise KeyError(f"no {table_name[:-1]} {record_id!r} of center {center_id!r}")
    audit.record(engine, operator, "revalidate", page="revalidate", rows=1,
                 detail={"table": table_name, "center_id": center_id,
                         "record_id": record_id, "reason": reason,
                         "review_by": review_by.isoformat()}, at=now)
    return review_by
