"""SQL connector: any SQLAlchemy URL, a table or a query."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any, ClassVar

import polars as pl
import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, model_validator

from data_sources import ROW_COLUMN, register

BATCH_ROWS = 50_000


@register
class SqlConnector:
    kind = "sql"
    row_unit: ClassVar[str] = "row"

    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True)
        table: str | None = Field(None, description="Table to read whole.")
        query: str | None = Field(None, description="SELECT to run instead of a table.")
        incremental_column: str | None = Field(
            None, description="A column whose value grows with every row added or changed "
            "(a sequence number, a time of entry or of last change): after a load, the next "
            "run reads only rows past the greatest value read. Rows deleted at the source, "
            "rows with no value in it, and rows committed later with a value not past it are "
            "read only when the source is read whole again (a config change does that).")

        @model_validator(mode="after")
        def _one_of_table_or_query(self) -> SqlConnector.Options:
            if (self.table is None) == (self.query is None):
                raise ValueError("give exactly one of 'table' or 'query'")
            return self

    def read(self, location: str, options: BaseModel) -> pl.LazyFrame:
        assert isinstance(options, self.Options)
        return self._read(location, options, None)[0].lazy()

    def read_after(self, location: str, options: BaseModel, cursor: str | None,
                   rows_before: int) -> tuple[pl.LazyFrame, str | None] | None:
        assert isinstance(options, self.Options)
        column = options.incremental_column
        if column is None:
            return None
        frame, names = self._read(location, options, cursor)
        if column not in names:
            raise ValueError(f"{_display_url(location)}: no column {column!r} "
                             f"(incremental_column) in what the source returns")
        latest = frame[column].drop_nulls().max() if frame.height else None
        after = cursor if latest is None else cursor_text(latest)
        return frame.with_columns(pl.col(ROW_COLUMN) + rows_before).lazy(), after

    def _read(self, location: str, options: SqlConnector.Options,
              cursor: str | None) -> tuple[pl.DataFrame, list[str]]:
        """Rows in batches of BATCH_ROWS (a server-side cursor where the driver has one), each
        batch a frame at once, so no more than one batch is ever held as Python tuples.

        A database that cannot be reached, refuses the login, or lacks the table raises one
        line naming the database (password hidden) and the cause.
        """
        where = _display_url(location)
        try:
            engine = sa.create_engine(location)
        except (sa.exc.ArgumentError, ImportError) as error:
            raise ValueError(f"{where}: not a usable database URL: {_one_line(error)}") from None
        try:
            try:
                connection = engine.connect()
            except sa.exc.DBAPIError as error:
                raise ConnectionError(f"{where}: cannot connect: {_cause(error)}") from None
            with connection:
                statement: sa.Select[Any] | sa.TextClause
                if options.table is not None:
                    columns = _columns(connection, options.table, where)
                    statement = sa.select(sa.table(options.table, *columns))
                else:
                    statement = sa.text(options.query or "")
                if cursor is not None and options.incremental_column is not None:
                    source = (statement if isinstance(statement, sa.Select)
                              else sa.select(sa.literal_column("*")).select_from(
                                  statement.columns().subquery("feed")))
                    statement = source.where(
                        sa.column(options.incremental_column) > cursor_value(cursor))
                try:
                    result = connection.execution_options(
                        stream_results=True, yield_per=BATCH_ROWS).execute(statement)
                    names = list(result.keys())
                    frames = [pl.DataFrame([tuple(row) for row in batch], schema=names,
                                           orient="row", infer_schema_length=None)
                              for batch in result.partitions(BATCH_ROWS)]
                except sa.exc.DBAPIError as error:
                    raise ValueError(f"{where}: query failed: {_cause(error)}") from None
        finally:
            engine.dispose()
        frame = _concat(frames, names)
        return frame.with_row_index(ROW_COLUMN, offset=1), names

    def fingerprint(self, location: str, options: BaseModel) -> str | None:
        # A database has no file hash to compare; the pipeline hashes the rows read.
        return None


def cursor_text(value: object) -> str:
    """A value of the incremental column as kept in ``ingest_runs``, its type with it."""
    if isinstance(value, datetime):
        return json.dumps({"datetime": value.isoformat()})
    if isinstance(value, date):
        return json.dumps({"date": value.isoformat()})
    return json.dumps({"value": value})


def cursor_value(text: str) -> object:
    kept = json.loads(text)
    if "datetime" in kept:
        return datetime.fromisoformat(kept["datetime"])
    if "date" in kept:
        return date.fromisoformat(kept["date"])
    return kept["value"]


def _columns(connection: sa.Connection, table: str,
             where: str) -> list[sa.ColumnClause[object]]:
    try:
        found = sa.inspect(connection).get_columns(table)
    except sa.exc.NoSuchTableError:
        raise ValueError(f"{where}: no table {table!r}") from None
    return [sa.column(column["name"]) for column in found]


def _concat(frames: list[pl.DataFrame], names: list[str]) -> pl.DataFrame:
    """Batches as one frame; a column typed differently in two batches (a NULL-only batch, or
    mixed SQLite values) takes the common type, or text when there is none."""
    if not frames:
        return pl.DataFrame(schema=dict.fromkeys(names, pl.String))
    try:
        return pl.concat(frames, how="vertical_relaxed")
    except (pl.exceptions.SchemaError, pl.exceptions.ComputeError,
            pl.exceptions.InvalidOperationError):
        return pl.concat([frame.cast(pl.String) for frame in frames], how="vertical")


def _display_url(location: str) -> str:
    try:
        return sa.engine.make_url(location).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "database"


def _cause(error: sa.exc.DBAPIError) -> str:
    return _one_line(error.orig) if error.orig is not None else _one_line(error)


def _one_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else error.__class__.__name__
