"""SQL connector: any SQLAlchemy URL, a table or a query."""

from __future__ import annotations

from typing import ClassVar

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

        @model_validator(mode="after")
        def _one_of_table_or_query(self) -> SqlConnector.Options:
            if (self.table is None) == (self.query is None):
                raise ValueError("give exactly one of 'table' or 'query'")
            return self

    def read(self, location: str, options: BaseModel) -> pl.LazyFrame:
        """Rows in batches of BATCH_ROWS (a server-side cursor where the driver has one), each
        batch a frame at once, so no more than one batch is ever held as Python tuples.

        A database that cannot be reached, refuses the login, or lacks the table raises one
        line naming the database (password hidden) and the cause.
        """
        assert isinstance(options, self.Options)
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
                statement: sa.Executable
                if options.table is not None:
                    columns = _columns(connection, options.table, where)
                    statement = sa.select(sa.table(options.table, *columns))
                else:
                    statement = sa.text(options.query or "")
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
        return frame.with_row_index(ROW_COLUMN, offset=1).lazy()

    def fingerprint(self, location: str, options: BaseModel) -> str | None:
        # A database has no file hash to compare; the pipeline hashes the rows read.
        return None


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
