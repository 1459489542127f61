"""Child process: SQLite query results as Arrow IPC streams on standard output.

``python -m dashboard.sqlite_arrow PATH`` reads a JSON list of SQL queries on standard input
and writes one Arrow IPC stream per query, in order, all read in one transaction (one snapshot
of the store). ``dashboard.columnar`` runs it for the big reads of the app.

Why a child process: the ADBC SQLite driver links its own copy of SQLite. Two copies of SQLite
in one process do not share their POSIX locks, so closing the driver's connection drops the
locks Python's sqlite3 connections hold on the same file, and may delete the -wal/-shm files
under them (https://www.sqlite.org/howtocorrupt.html, section 2.2). In a process of its own it
is an ordinary second reader. Only the standard library, pyarrow and the driver are imported
here, so the child starts in a fraction of a second.
"""

from __future__ import annotations

import json
import sys

# The driver infers a column's type from its first batch: one batch for the whole result, so
# a column that starts with nulls is still typed by its values.
BATCH_ROWS = 1 << 30
BUSY_TIMEOUT_MS = 30_000


def main(path: str) -> None:
    import pyarrow as pa
    from adbc_driver_sqlite import dbapi

    queries = json.loads(sys.stdin.read())
    # autocommit off: the driver opens a transaction, so every query sees the same snapshot.
    with dbapi.connect(path) as connection, connection.cursor() as cursor:
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.fetchall()
        for sql in queries:
            cursor.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": str(BATCH_ROWS)})
            cursor.execute(sql)
            table = cursor.fetch_arrow_table()
            with pa.ipc.new_stream(sys.stdout.buffer, table.schema) as writer:
                writer.write_table(table)
        connection.rollback()
    sys.stdout.buffer.flush()


if __name__ == "__main__":
    main(sys.argv[1])
