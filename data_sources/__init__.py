"""Connector registry: one connector per config ``kind``, each reading a feed into raw rows.

A connector only knows how to read (and fingerprint) its kind of source; renaming, value maps,
validation and writing are the shared ingest pipeline's job. A new kind registers here with
:func:`register` and is usable from config at once.
"""

from __future__ import annotations

from typing import ClassVar, Protocol, TypeVar

import polars as pl
from pydantic import BaseModel

ROW_COLUMN = "_row"
ERROR_COLUMN = "_error"
# The unparsed text of a row a connector could not parse (kept in quarantine).
RAW_TEXT_COLUMN = "_raw_text"


class Connector(Protocol):
    kind: ClassVar[str]
    # "line" for text files (a header is line 1), "row" for sheets, tables and Parquet.
    row_unit: ClassVar[str]
    Options: ClassVar[type[BaseModel]]

    def read(self, location: str, options: BaseModel) -> pl.LazyFrame:
        """Raw rows as the source has them (text, or the source's own types), plus ``_row``
        (the source's own row number; for text files the line a record starts on, header =
        line 1) and, for a line or row that could not be parsed, ``_error`` (a one-line reason
        naming what is wrong, e.g. "has 9 fields, header has 8") and ``_raw_text`` (the line
        as text, problems visible, e.g. undecodable bytes as ``\\xff``). Every record of the
        source is either a parsed row or an error row; a bad record never fails the read.
        A source that cannot be opened at all raises one line (OSError or ValueError)."""

    def fingerprint(self, location: str, options: BaseModel) -> str | None:
        """SHA-256 of the source when it can be had without reading rows, else None."""


CONNECTORS: dict[str, Connector] = {}
ConnectorClass = TypeVar("ConnectorClass", bound=type)


def register(connector_class: ConnectorClass) -> ConnectorClass:
    connector = connector_class()
    CONNECTORS[connector.kind] = connector
    return connector_class


def connector_for(kind: str) -> Connector:
    try:
        return CONNECTORS[kind]
    except KeyError:
        known = ", ".join(sorted(CONNECTORS))
        raise KeyError(f"unknown connector kind {kind!r} (known: {known})") from None


# Importing the modules registers the built-in connectors.
from data_sources import files, sql  # noqa: E402, F401
