"""Connector registry: one connector per config ``kind``, each reading a feed into raw rows.

A connector only knows how to read (and fingerprint) its kind of source; renaming, value maps,
validation and writing are the shared ingest pipeline's job. A new kind registers here with
:func:`register` and is usable from config at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Protocol, TypeVar, runtime_checkable

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


@dataclass(frozen=True)
class FileScan:
    """One pass over a text file: what the pipeline needs to know whether it only grew."""
    sha256: str
    size: int
    # SHA-256 of the first ``prefix_bytes`` bytes asked for; None when the file is shorter.
    prefix_sha256: str | None
    # Line breaks in the file when it ends with one, else None (its last line may still grow).
    lines: int | None


@runtime_checkable
class AppendReader(Protocol):
    """A text-file connector that can read only the lines appended to a file it read before."""

    def scan(self, location: str, prefix_bytes: int | None) -> FileScan:
        """Hash the file (and its first ``prefix_bytes`` bytes) and count its lines."""

    def read_appended(self, location: str, options: BaseModel, start_byte: int,
                      lines_before: int) -> pl.LazyFrame | None:
        """What :meth:`Connector.read` gives for the lines from byte ``start_byte`` on (the
        file's first ``lines_before`` lines are before it; ``_row`` numbers continue from
        them), or None when the options make that unsafe (e.g. a UTF-16 file)."""


@runtime_checkable
class IncrementalReader(Protocol):
    """A connector that can read only the rows added or changed since a cursor: the greatest
    value of a column that grows with every new or changed row (a sequence, an entry time)."""

    def read_after(self, location: str, options: BaseModel, cursor: str | None,
                   rows_before: int) -> tuple[pl.LazyFrame, str | None] | None:
        """The rows whose incremental column is past ``cursor`` (from :meth:`read_after`
        before; None: every row), ``_row`` numbered on from ``rows_before``, and the cursor
        after them (``cursor`` when no row came). None when the options name no column."""


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
from data_sources import eido, files, isesar, nibrs, sql, stix  # noqa: E402, F401
