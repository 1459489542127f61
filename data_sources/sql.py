"""SQL connector: any SQLAlchemy URL, a table or a query."""

from __future__ import annotations

from typing import ClassVar

import polars as pl
import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, model_validator

from data_sources import ROW_COLUMN, register


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
        assert isinstance(options, self.Options)
        engine = sa.create_engine(location)
        statement: sa.Executable
        try:
            if options.table is not None:
                statement = sa.select(sa.table(options.table, *_columns(engine, options.table)))
            else:
                statement = sa.text(options.query or "")
            with engine.connect() as connection:
                result = connection.execute(statement)
                frame = pl.DataFrame(
                    [tuple(row) for row in result], schema=list(result.keys()), orient="row",
                    infer_schema_length=None,
                )
        finally:
            engine.dispose()
        return frame.with_row_index(ROW_COLUMN, offset=1).lazy()

    def fingerprint(self, location: str, options: BaseModel) -> str | None:
        # A database has no file hash to compare; the pipeline hashes the rows read.
        return None


def _columns(engine: sa.Engine, table: str) -> list[sa.ColumnClause[object]]:
    inspector = sa.inspect(engine)
    return [sa.column(column["name"]) for column in inspector.get_columns(table)]
