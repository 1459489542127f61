"""NIBRS connector: the FBI's National Incident-Based Reporting System submissions, as the NIBRS
IEPD 4.x XML (``nibrs:Submission`` documents) or as the fixed-width flat file of the NIBRS
Technical Specification, become incidents (issue 16; README, "Exchange standards: NIBRS").

Each Group A incident report becomes one incident row with canonical field names, so a NIBRS
source needs no column map: its id is the agency's ORI and the incident number
(``MD0160400-16024058``), its time the incident date and hour, its category the most serious of
its offenses through the shipped crosswalk (``nibrs_crosswalk.toml``, which also orders the
offenses by seriousness), and its place coordinates when the report has them, else the county
of the reporting agency's ORI from the ``ori_counties`` option. Group B arrest reports, zero
reports and deletions are not incidents and give no row.

A report that cannot become a row (no date, an offense code NIBRS does not have, an ORI with no
county, a flat-file segment whose length is not the one it declares) becomes one error row
whose reason names where: the XML element's path (``/nibrs:Submission/nibrs:Report[2]/
j:Offense[1]/nibrs:OffenseUCRCode``) or the flat file's line. Row numbers are lines: where the
``nibrs:Report`` element or the incident's administrative segment starts. An XML document cut
off or broken keeps the reports before the break, and the rest is one error row; a file that is
neither format at all raises one line.
"""

from __future__ import annotations

import re
import tomllib
import xml.parsers.expat
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, ClassVar, Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, field_validator

from data_sources import ERROR_COLUMN, RAW_TEXT_COLUMN, ROW_COLUMN, register
from data_sources.files import FileConnector, visible_text

CROSSWALK_PATH = Path(__file__).with_name("nibrs_crosswalk.toml")
INCIDENT_COLUMNS = ("incident_id", "occurred_at", "reported_at", "category", "county_fips",
                    "latitude", "longitude", "narrative")
# The report as the source has it (its XML element, or its flat-file lines).
RECORD_COLUMN = "nibrs_record"
NIBRS_NAMESPACE = re.compile(r"^http://fbi\.gov/cjis/nibrs/4\.\d+$")
ORI_PATTERN = re.compile(r"^[A-Z]{2}[A-Z0-9]{7}$")
FIPS_PATTERN = re.compile(r"^\d{5}$")
NibrsFormat = Literal["auto", "xml", "flat"]


@dataclass(frozen=True)
class Offense:
    code: str
    name: str
    category: str  # "" when outside the threat taxonomy
    rank: int  # 0 is the most serious


@cache
def crosswalk() -> dict[str, Offense]:
    """NIBRS offense code -> offense, in order of seriousness (see nibrs_crosswalk.toml)."""
    with CROSSWALK_PATH.open("rb") as handle:
        table = tomllib.load(handle)["offenses"]
    return {code: Offense(code, entry["name"], entry["category"], rank)
            for rank, (code, entry) in enumerate(table.items())}


class NibrsProblem(ValueError):
    """Why a report cannot become a row: its reason names the element path or line."""


@dataclass
class IncidentReport:
    """What a row needs of one incident report, with where each part was found."""

    ori: str
    incident_number: str
    occurred_at: str | None
    report_date_only: bool  # the date is the report date: NIBRS's "R" indicator
    offense_codes: list[tuple[str, str]]  # (code, where)
    where: str  # the report's path or line, for reasons
    latitude: float | None = None
    longitude: float | None = None


def incident_row(report: IncidentReport, ori_counties: Mapping[str, str]) -> dict[str, Any]:
    """An incident report as an incident row; raises NibrsProblem naming where it fails."""
    if not report.ori:
        raise NibrsProblem(f"{report.where}: no agency ORI")
    if not report.incident_number:
        raise NibrsProblem(f"{report.where}: no incident number")
    if not report.occurred_at:
        raise NibrsProblem(f"{report.where}: no incident date")
    if not report.offense_codes:
        raise NibrsProblem(f"{report.where}: no offense")
    offenses = crosswalk()
    known = []
    for code, where in report.offense_codes:
        if code not in offenses:
            raise NibrsProblem(f"{where}: unknown NIBRS offense code {code!r}")
        known.append(offenses[code])
    by_seriousness = sorted(known, key=lambda offense: offense.rank)
    categorised = [offense for offense in by_seriousness if offense.category]
    placed = report.latitude is not None and report.longitude is not None
    county = ori_counties.get(report.ori)
    if county is None and not placed:
        raise NibrsProblem(f"{report.where}: ORI {report.ori!r} has no county (add it to the "
                           "source's ori_counties) and the report has no coordinates")
    return {
        "incident_id": f"{report.ori}-{report.incident_number}",
        "occurred_at": report.occurred_at,
        "reported_at": report.occurred_at if report.report_date_only else None,
        # Outside the taxonomy: the offense code, for the source's value map to take.
        "category": categorised[0].category if categorised else by_seriousness[0].code,
        "county_fips": None if placed else county,
        "latitude": None if report.latitude is None else repr(report.latitude),
        "longitude": None if report.longitude is None else repr(report.longitude),
        "narrative": "NIBRS offenses: " + "; ".join(
            f"{offense.code} {offense.name}" for offense in known),
    }


# --- XML (NIBRS IEPD 4.x) -------------------------------------------------------------------


@dataclass
class Element:
    """An XML element with its prefixed name and the line its start tag is on."""

    name: str  # "nibrs:Report"
    line: int
    text: str = ""
    children: list[Element] = field(default_factory=list)

    def local(self) -> str:
        return self.name.rpartition(":")[2]

    def all(self, local_name: str) -> list[Element]:
        return [child for child in self.children if child.local() == local_name]

    def first(self, *path: str) -> Element | None:
        """The first element down a path of local names."""
        element: Element | None = self
        for local_name in path:
            found = element.all(local_name) if element is not None else []
            element = found[0] if found else None
        return element

    def value(self, *path: str) -> str:
        element = self.first(*path)
        return element.text.strip() if element is not None else ""


@dataclass
class ParsedXml:
    reports: list[tuple[Element, str]]  # (report, its path)
    broken: tuple[int, str] | None  # (line, reason) where the document stops being XML
    broken_from_byte: int  # where the text not read into a report starts


def parse_submission(data: bytes, location: str) -> ParsedXml:
    """The ``nibrs:Report`` elements of a submission, parsed with expat (no DTD, no external
    entities; line numbers kept). A document broken after its root has started keeps the
    reports before the break; one broken before raises one line."""
    parser = xml.parsers.expat.ParserCreate(namespace_separator=" ")
    parser.namespace_prefixes = True
    stack: list[Element] = []
    reports: list[tuple[Element, str]] = []
    report_count = 0
    after_last_report = 0
    root_seen = False

    def start(name: str, _attributes: dict[str, str]) -> None:
        nonlocal root_seen, report_count
        uri, _, rest = name.partition(" ")
        local, _, prefix = rest.partition(" ")
        element = Element(f"{prefix}:{local}" if prefix else local, parser.CurrentLineNumber)
        if not stack:
            if local != "Submission" or not NIBRS_NAMESPACE.match(uri):
                raise ValueError(f"{location}: not a NIBRS 4.x submission (root element is "
                                   f"{element.name}, namespace {uri or 'none'})")
            root_seen = True
        elif len(stack) == 1 and local == "Report":
            report_count += 1
        if len(stack) == 1:
            stack[0].children.clear()  # one report in memory at a time
        if stack:
            stack[-1].children.append(element)
        stack.append(element)

    def end(_name: str) -> None:
        nonlocal after_last_report
        element = stack.pop()
        if len(stack) == 1 and element.local() == "Report":
            reports.append((element, f"/{stack[0].name}/{element.name}[{report_count}]"))
            # The handler runs at the end tag's "<": the rest starts after its ">".
            after_last_report = data.find(b">", parser.CurrentByteIndex) + 1

    def characters(text: str) -> None:
        if stack:
            stack[-1].text += text

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = characters
    try:
        parser.Parse(data, True)
    except xml.parsers.expat.ExpatError as error:
        reason = f"{xml.parsers.expat.ErrorString(error.code)} at column {error.offset + 1}"
        if not root_seen:
            raise ValueError(f"{location}: line {error.lineno}: not well-formed XML "
                             f"({reason})") from None
        return ParsedXml(reports, (error.lineno, f"line {error.lineno}: XML not well-formed "
                                   f"({reason}); the rest of the document is not read"),
                         after_last_report)
    if not root_seen:
        raise ValueError(f"{location}: no XML root element")
    return ParsedXml(reports, None, len(data))


def report_from_xml(report: Element, where: str) -> IncidentReport | None:
    """A Group A incident report's parts (None for other reports and for deletions)."""
    header = report.first("ReportHeader")
    kind = report.value("ReportHeader", "NIBRSReportCategoryCode").upper()
    action = report.value("ReportHeader", "ReportActionCategoryCode").upper()
    if header is None:
        raise NibrsProblem(f"{where}/nibrs:ReportHeader: missing")
    if kind != "GROUP A INCIDENT REPORT" or action == "D":
        return None
    incident = report.first("Incident")
    if incident is None:
        raise NibrsProblem(f"{where}/nc:Incident: missing")
    incident_where = f"{where}/{incident.name}"
    date = incident.first("ActivityDate")
    # Date and hour when the hour is known, else the date alone (NIBRS Data Element 3).
    occurred_at = (date.value("DateTime") or date.value("Date")) if date is not None else ""
    if not occurred_at:
        raise NibrsProblem(f"{incident_where}/nc:ActivityDate: no incident date "
                           "(nc:DateTime or nc:Date)")
    offenses = [(offense.value("OffenseUCRCode").upper(),
                 f"{where}/{offense.name}[{index}]/nibrs:OffenseUCRCode")
                for index, offense in enumerate(report.all("Offense"), start=1)]
    latitude, longitude = _coordinates(report)
    return IncidentReport(
        ori=report.value("ReportHeader", "ReportingAgency", "OrganizationAugmentation",
                         "OrganizationORIIdentification", "IdentificationID").upper(),
        incident_number=incident.value("ActivityIdentification", "IdentificationID"),
        occurred_at=occurred_at,
        report_date_only=incident.value("IncidentAugmentation",
                                        "IncidentReportDateIndicator").lower() == "true",
        offense_codes=offenses, where=where, latitude=latitude, longitude=longitude)


def _coordinates(report: Element) -> tuple[float | None, float | None]:
    """Decimal degrees of the first location with NIEM 2D coordinates (a state's extension:
    the FBI's own 4.x schema has none)."""
    for location in report.all("Location"):
        coordinate = location.first("Location2DGeospatialCoordinate")
        if coordinate is None:
            continue
        try:
            return (float(coordinate.value("GeographicCoordinateLatitude",
                                           "LatitudeDegreeValue")),
                    float(coordinate.value("GeographicCoordinateLongitude",
                                           "LongitudeDegreeValue")))
        except ValueError:
            return None, None
    return None, None


def xml_element_text(element: Element, indent: str = "") -> str:
    """A report as indented XML-like text, for the quarantined row's raw record."""
    if not element.children:
        return f"{indent}<{element.name}>{element.text.strip()}</{element.name}>"
    inner = "\n".join(xml_element_text(child, indent + "  ") for child in element.children)
    return f"{indent}<{element.name}>\n{inner}\n{indent}</{element.name}>"


def read_xml(data: bytes, location: str, ori_counties: Mapping[str, str]
             ) -> list[dict[str, Any]]:
    parsed = parse_submission(data, location)
    rows = []
    for report, where in parsed.reports:
        row: dict[str, Any] = {ROW_COLUMN: report.line}
        raw = xml_element_text(report)
        try:
            parts = report_from_xml(report, where)
            if parts is None:
                continue
            row |= incident_row(parts, ori_counties)
            row[RECORD_COLUMN] = raw
        except NibrsProblem as problem:
            row |= {ERROR_COLUMN: str(problem), RAW_TEXT_COLUMN: visible_text(raw)}
        rows.append(row)
    if parsed.broken is not None:
        line, reason = parsed.broken
        rest = data[parsed.broken_from_byte:].decode("utf-8", errors="replace")
        rows.append({ROW_COLUMN: line, ERROR_COLUMN: reason,
                     RAW_TEXT_COLUMN: visible_text(rest.strip())})
    return rows


# --- flat file (NIBRS Technical Specification) ----------------------------------------------

# Positions (0-based slices) every segment shares: record descriptor word (the segment's
# length), segment level, action type, agency ORI and incident number.
SEGMENT_LENGTH = slice(0, 4)
SEGMENT_LEVEL = slice(4, 5)
ACTION_TYPE = slice(5, 6)
ORI = slice(16, 25)
INCIDENT_NUMBER = slice(25, 37)
# Administrative segment (level 1): Data Element 3, incident date, report date indicator, hour.
INCIDENT_DATE = slice(37, 45)
REPORT_DATE_INDICATOR = slice(45, 46)
INCIDENT_HOUR = slice(46, 48)
# Offense segment (level 2): Data Element 6.
OFFENSE_CODE = slice(37, 40)
# Levels of a Group A incident; 7 is a Group B arrest, 0 a zero report (no incident).
INCIDENT_LEVELS = {"1": "administrative", "2": "offense", "3": "property", "4": "victim",
                   "5": "offender", "6": "arrestee"}
NOT_INCIDENT_LEVELS = {"0", "7"}
# Action types of an incident's segments that are no incident (D: delete, W: time window).
NOT_INCIDENT_ACTIONS = {"D", "W"}


@dataclass
class FlatIncident:
    first_line: int
    lines: list[tuple[int, str]]
    problems: list[str] = field(default_factory=list)


def _segment_problem(line: str, number: int) -> str | None:
    """Why a flat-file line is no sound segment, naming the line; None when it is one."""
    declared = line[SEGMENT_LENGTH]
    if not declared.isdigit():
        return f"line {number}: positions 1-4 are {declared!r}, not a segment length"
    if int(declared) != len(line):
        return (f"line {number}: segment length {int(declared)} (positions 1-4) but the line "
                f"has {len(line)} characters")
    if line[SEGMENT_LEVEL] not in INCIDENT_LEVELS and line[SEGMENT_LEVEL] not in \
            NOT_INCIDENT_LEVELS:
        return f"line {number}: unknown segment level {line[SEGMENT_LEVEL]!r} (position 5)"
    if len(line) < INCIDENT_NUMBER.stop:
        return f"line {number}: too short for the ORI and incident number (positions 17-37)"
    return None


def flat_incidents(text: str) -> Iterator[FlatIncident]:
    """The file's incidents: an administrative segment and the segments after it with the same
    ORI and incident number. A line that belongs to no incident is an incident of its own with
    its problem, so it becomes an error row."""
    current: FlatIncident | None = None
    key = ""
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        problem = _segment_problem(line, number)
        level = line[SEGMENT_LEVEL]
        if problem is None and (level in NOT_INCIDENT_LEVELS
                                or line[ACTION_TYPE] in NOT_INCIDENT_ACTIONS):
            continue
        line_key = line[ORI] + line[INCIDENT_NUMBER]
        if (problem is None and level == "1") or current is None or line_key != key:
            if current is not None:
                yield current
            current, key = FlatIncident(number, []), line_key
            if problem is None and level != "1":
                problem = (f"line {number}: {INCIDENT_LEVELS[level]} segment of incident "
                           f"{line[INCIDENT_NUMBER].strip()!r} with no administrative segment "
                           "(level 1) before it")
        current.lines.append((number, line))
        if problem is not None:
            current.problems.append(problem)
    if current is not None:
        yield current


def report_from_flat(incident: FlatIncident) -> IncidentReport:
    if incident.problems:
        raise NibrsProblem("; ".join(incident.problems))
    number, admin = incident.lines[0]
    date, hour = admin[INCIDENT_DATE], admin[INCIDENT_HOUR].strip()
    occurred_at = None
    if re.fullmatch(r"\d{8}", date):
        occurred_at = f"{date[:4]}-{date[4:6]}-{date[6:]}"
        if re.fullmatch(r"\d{2}", hour):
            occurred_at += f"T{hour}:00:00"
    elif date.strip():
        raise NibrsProblem(f"line {number}: incident date {date!r} (positions 38-45) is not "
                           "YYYYMMDD")
    return IncidentReport(
        ori=admin[ORI].strip().upper(), incident_number=admin[INCIDENT_NUMBER].strip(),
        occurred_at=occurred_at,
        report_date_only=admin[REPORT_DATE_INDICATOR].upper() == "R",
        offense_codes=[(line[OFFENSE_CODE].strip().upper(),
                        f"line {line_number}, positions 38-40")
                       for line_number, line in incident.lines[1:]
                       if line[SEGMENT_LEVEL] == "2"],
        where=f"line {number}")


def read_flat(data: bytes, location: str, ori_counties: Mapping[str, str]
              ) -> list[dict[str, Any]]:
    # NIBRS flat files are ASCII; Latin-1 reads any byte, and a stray one shows in raw text.
    text = data.decode("latin-1")
    if text.strip() and not re.search(r"^\d{4}[0-7]", text, re.MULTILINE):
        raise ValueError(f"{location}: not a NIBRS flat file (no line starts with a 4-digit "
                         "segment length and a segment level)")
    rows = []
    for incident in flat_incidents(text):
        row: dict[str, Any] = {ROW_COLUMN: incident.first_line}
        raw = "\n".join(line for _, line in incident.lines)
        try:
            row |= incident_row(report_from_flat(incident), ori_counties)
            row[RECORD_COLUMN] = raw
        except NibrsProblem as problem:
            row |= {ERROR_COLUMN: str(problem), RAW_TEXT_COLUMN: visible_text(raw)}
        rows.append(row)
    return rows


def detect_format(data: bytes) -> Literal["xml", "flat"]:
    """XML when the first non-blank character opens a tag, else the flat file."""
    return "xml" if data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<") else "flat"


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _frame(rows: Sequence[dict[str, Any]]) -> pl.DataFrame:
    series = [pl.Series(ROW_COLUMN, [row[ROW_COLUMN] for row in rows], dtype=pl.Int64)]
    for name in (*INCIDENT_COLUMNS, RECORD_COLUMN, ERROR_COLUMN, RAW_TEXT_COLUMN):
        series.append(pl.Series(name, [_text(row.get(name)) for row in rows], dtype=pl.String))
    return pl.DataFrame(series)


@register
class NibrsConnector(FileConnector):
    kind = "nibrs"
    # Row n is the report starting on line n (its nibrs:Report tag or administrative segment).
    row_unit = "line"
    # The exchange standard it speaks (Data health reports each source's conformance to it).
    standard: ClassVar[str] = "NIBRS"

    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True)
        format: NibrsFormat = Field(
            "auto", description="'xml' for NIBRS IEPD 4.x XML submissions, 'flat' for the "
            "fixed-width flat file of the NIBRS Technical Specification, 'auto' (the default) "
            "to tell them apart by the first character of the file ('<': XML).")
        ori_counties: dict[str, str] = Field(
            default_factory=dict, description="County of each reporting agency: ORI (9 "
            "characters, e.g. 'RI0040200') -> 5-digit county FIPS code. An incident without "
            "coordinates whose ORI is not here is quarantined naming the ORI.")

        @field_validator("ori_counties")
        @classmethod
        def _valid_codes(cls, value: dict[str, str]) -> dict[str, str]:
            for ori, county in value.items():
                if not ORI_PATTERN.match(ori):
                    raise ValueError(f"{ori!r} is not an ORI (2 letters of the state, then 7 "
                                     "letters or digits)")
                if not FIPS_PATTERN.match(county):
                    raise ValueError(f"county of {ori} is {county!r}, not a 5-digit FIPS code")
            return value

    def read(self, location: str, options: BaseModel) -> pl.LazyFrame:
        assert isinstance(options, self.Options)
        data = Path(location).read_bytes()
        chosen = detect_format(data) if options.format == "auto" else options.format
        reader = read_xml if chosen == "xml" else read_flat
        return _frame(reader(data, location, options.ori_counties)).lazy()
