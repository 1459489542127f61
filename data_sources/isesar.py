"""ISE-SAR connector: NIEM-conformant suspicious activity report exchanges (XML) become SAR
incidents (issue 16; README, "Exchange standards: ISE-SAR").

A document holds ``SuspiciousActivityReport`` elements, each a NIEM ``nc:ActivityType``: its id
(``nc:ActivityIdentification/nc:IdentificationID``), time (``nc:ActivityDate/nc:DateTime``),
description and place (``nc:ActivityLocation/nc:Location2DGeospatialCoordinate``), with the
ISE-SAR behaviour categories and target sectors as NIEM ``sar`` codes
(http://release.niem.gov/niem/codes/pmise_sar/5.0/) in ``SuspiciousActivityCode`` and
``TargetSectorCode`` elements of any namespace (``j:`` in NIEM 5.2, or an IEPD's own).

Codes become taxonomy keys through the shipped crosswalk (``isesar_crosswalk.toml``). A report
that cannot become a row (no id, no valid time, a code that is not published) is one error row
whose reason names the element's path (``/SuspiciousActivityReportSet/
SuspiciousActivityReport[2]/ActivityDate/DateTime: ...``) and whose raw text is the report's
XML, so one bad report never fails the document; a file that is not such XML raises one line.
"""

from __future__ import annotations

import tomllib
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any, ClassVar

import polars as pl
from pydantic import BaseModel, ConfigDict

from data_sources import ERROR_COLUMN, RAW_TEXT_COLUMN, ROW_COLUMN, register
from data_sources.files import FileConnector, visible_text

NC = "http://release.niem.gov/niem/niem-core/5.0/"
REPORT = "SuspiciousActivityReport"
BEHAVIOR = "SuspiciousActivityCode"
SECTOR = "TargetSectorCode"
# The taxonomy's category of a SAR (config/taxonomy.toml, as the demo's SARs use it).
SAR_CATEGORY = "sar_analysis"
INCIDENT_COLUMNS = ("incident_id", "occurred_at", "category", "latitude", "longitude",
                    "sar_behavior", "target_sector", "narrative")
CROSSWALK_PATH = Path(__file__).with_name("isesar_crosswalk.toml")


@dataclass(frozen=True)
class Crosswalk:
    """Published NIEM ``sar`` codes -> taxonomy keys ("" keeps the report, field empty)."""

    sar_behaviors: Mapping[str, str]
    target_sectors: Mapping[str, str]


@cache
def crosswalk() -> Crosswalk:
    with CROSSWALK_PATH.open("rb") as handle:
        tables = tomllib.load(handle)
    return Crosswalk(tables["sar_behaviors"], tables["target_sectors"])


class SarProblem(ValueError):
    """Why a report cannot become a row: its reason names the element's path."""


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _nc(*names: str) -> str:
    return "/".join(f"{{{NC}}}{name}" for name in names)


def _text(report: ET.Element, where: str, *names: str, required: bool) -> str | None:
    found = report.find(_nc(*names))
    value = None if found is None or found.text is None else found.text.strip()
    if required and not value:
        raise SarProblem(f"{where}/{'/'.join(names)}: required element missing or empty")
    return value or None


def _coordinate(report: ET.Element, where: str, axis: str, low: float, high: float) -> str | None:
    names = ("ActivityLocation", "Location2DGeospatialCoordinate",
             f"GeographicCoordinate{axis}", f"{axis}DegreeValue")
    value = _text(report, where, *names, required=False)
    if value is None:
        return None
    try:
        degrees = float(value)
    except ValueError:
        degrees = float("nan")
    if not low <= degrees <= high:
        raise SarProblem(f"{where}/{'/'.join(names)}: {value!r} is not a {axis.lower()} "
                         f"in degrees ({low:g} to {high:g})")
    return repr(degrees)


def _code(report: ET.Element, where: str, name: str, table: Mapping[str, str]) -> str | None:
    """The first code of element ``name`` as a taxonomy key; an unpublished code is a problem."""
    codes = [child for child in report if _local(child.tag) == name]
    for position, element in enumerate(codes, start=1):
        code = (element.text or "").strip()
        if code not in table:
            raise SarProblem(f"{where}/{name}[{position}]: {code!r} is not a NIEM sar code")
    return table[(codes[0].text or "").strip()] or None if codes else None


def report_row(report: ET.Element, where: str) -> dict[str, Any]:
    """One ``SuspiciousActivityReport`` as an incident row (``where`` is its path)."""
    table = crosswalk()
    occurred = _text(report, where, "ActivityDate", "DateTime", required=True)
    assert occurred is not None
    try:
        datetime.fromisoformat(occurred)
    except ValueError:
        raise SarProblem(f"{where}/ActivityDate/DateTime: {occurred!r} is not an xs:dateTime") \
            from None
    return {
        "incident_id": _text(report, where, "ActivityIdentification", "IdentificationID",
                             required=True),
        "occurred_at": occurred,
        "category": SAR_CATEGORY,
        "latitude": _coordinate(report, where, "Latitude", -90, 90),
        "longitude": _coordinate(report, where, "Longitude", -180, 180),
        "sar_behavior": _code(report, where, BEHAVIOR, table.sar_behaviors),
        "target_sector": _code(report, where, SECTOR, table.target_sectors),
        "narrative": _text(report, where, "ActivityDescriptionText", required=False),
    }


def load_reports(location: str) -> tuple[str, list[ET.Element]]:
    """The root's name and its report elements; raises one line when the file is not a SAR
    exchange document."""
    data = Path(location).read_bytes()
    # No document type declarations: entities are a way to make a small file huge.
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise ValueError(f"{location}: XML with a document type declaration is not accepted")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as error:
        line, column = error.position
        raise ValueError(f"{location}: line {line}, column {column}: not well-formed XML "
                         f"({str(error).split(':')[0]})") from None
    name = _local(root.tag)
    if name == REPORT:
        return "", [root]
    reports = [child for child in root if _local(child.tag) == REPORT]
    if not reports:
        raise ValueError(f"{location}: /{name}: no {REPORT} elements (not a SAR exchange)")
    return f"/{name}", reports


@register
class IseSarConnector(FileConnector):
    kind = "isesar"
    # Row n is the document's n-th SuspiciousActivityReport.
    row_unit = "report"
    # The exchange standard it speaks (Data health reports each source's conformance to it).
    standard: ClassVar[str] = "ISE-SAR (NIEM 5.2 sar codes)"

    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True)

    def read(self, location: str, options: BaseModel) -> pl.LazyFrame:
        assert isinstance(options, self.Options)
        root_path, reports = load_reports(location)
        rows: list[dict[str, Any]] = []
        for index, report in enumerate(reports, start=1):
            where = f"{root_path}/{REPORT}[{index}]"
            row: dict[str, Any] = {ROW_COLUMN: index}
            try:
                row |= report_row(report, where)
            except SarProblem as problem:
                raw = ET.tostring(report, encoding="unicode")
                row |= {ERROR_COLUMN: str(problem), RAW_TEXT_COLUMN: visible_text(raw)}
            rows.append(row)
        series = [pl.Series(ROW_COLUMN, [row[ROW_COLUMN] for row in rows], dtype=pl.Int64)]
        series += [pl.Series(name, [row.get(name) for row in rows], dtype=pl.String)
                   for name in (*INCIDENT_COLUMNS, ERROR_COLUMN, RAW_TEXT_COLUMN)]
        return pl.DataFrame(series).lazy()
