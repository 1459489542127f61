"""Whole query results as Arrow columns, in one snapshot of the store: the fast way to load
the picture frames (a million incidents in one to two seconds instead of six).

PostgreSQL is read through ADBC (libpq's binary COPY) in a read-only repeatable-read
transaction; SQLite through ADBC in a child process (see :mod:`dashboard.sqlite_arrow` for
why not in this one). Any other store, a missing driver or a failure gives None, and the caller
reads through SQLAlchemy instead: slower, never wrong.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import sqlalchemy as sa

log = logging.getLogger(__name__)
PROJECT_ROOT = Path(__file__).resolve().parent.parent
CHILD_TIMEOUT_S = 600


def read_snapshot(engine: sa.Engine, queries: Mapping[str, sa.Select[Any]]
                  ) -> dict[str, pa.Table] | None:
    """Every query's result as an Arrow table, all from one snapshot of the store; None when
    no columnar reader serves this store (then read through SQLAlchemy)."""
    url = engine.url
    backend = url.get_backend_name()
    sql = {name: str(query.compile(dialect=engine.dialect,
                                   compile_kwargs={"literal_binds": True}))
           for name, query in queries.items()}
    try:
        if backend == "sqlite" and url.database not in (None, "", ":memory:") \
                and importlib.util.find_spec("adbc_driver_sqlite"):
            return _sqlite_in_child(str(url.database), sql)
        if backend == "postgresql" and importlib.util.find_spec("adbc_driver_postgresql"):
            return _postgresql(url, sql)
    except Exception as error:  # the drivers raise their own DBAPI error classes
        log.warning("columnar read failed, reading row by row instead: %s", error)
    return None


def _sqlite_in_child(path: str, sql: Mapping[str, str]) -> dict[str, pa.Table]:
    # Streamed from the pipe into Arrow buffers: the rows are never held twice.
    with subprocess.Popen([sys.executable, "-m", "dashboard.sqlite_arrow", path],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, cwd=PROJECT_ROOT) as child:
        assert child.stdin is not None and child.stdout is not None
        child.stdin.write(json.dumps(list(sql.values())).encode())
        child.stdin.close()
        try:
            tables = {name: pa.ipc.open_stream(child.stdout).read_all() for name in sql}
        finally:
            errors = child.stderr.read() if child.stderr else b""
            code = child.wait(timeout=CHILD_TIMEOUT_S)
    if code != 0:
        message = errors.decode(errors="replace").strip().splitlines()[-1:] or ["?"]
        raise RuntimeError(f"sqlite reader exited with {code}: {message[0]}")
    return tables


def _postgresql(url: sa.URL, sql: Mapping[str, str]) -> dict[str, pa.Table]:
    from adbc_driver_postgresql import dbapi

    libpq_url = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with dbapi.connect(libpq_url) as connection, connection.cursor() as cursor:
        # One snapshot for every query: an ingest committing meanwhile shows up next time.
        cursor.adbc_statement.set_sql_query(
            "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        cursor.adbc_statement.execute_update()
        tables = {}
        for name, query in sql.items():
            cursor.execute(query)
            tables[name] = _plain(cursor.fetch_arrow_table())
        connection.rollback()
    return tables


def _plain(table: pa.Table) -> pa.Table:
    """json columns arrive as Arrow's JSON extension type: keep their text."""
    columns = []
    for column in table.columns:
        if isinstance(column.type, pa.BaseExtensionType):
            column = pa.chunked_array([chunk.storage for chunk in column.chunks],
                                      type=column.type.storage_type)
        columns.append(column)
    return pa.table(dict(zip(table.column_names, columns, strict=True)))
