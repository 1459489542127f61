"""NENA EIDO connector: the incident of each Emergency Incident Data Object (NENA-STA-021, the
CAD incident exchange) becomes one incident (issue 16; README, "Exchange standards: NENA EIDO").

A file holds one EIDO (a JSON object), a JSON array of them, or one per line (NDJSON). Each EIDO
is validated against NENA's published EIDO schema (``eido_openapi.json``: the repository's
``Schema/openapi.yaml`` as JSON) with ``jsonschema`` first. An invalid or partial EIDO becomes
one error row whose reason names the JSON path of the failing element
(``$[2].incidentComponent.lastUpdateTimeStamp: ...``) and whose raw text is the EIDO, so one
bad EIDO never fails the file; a file that is not JSON at all raises one line.

Rows carry canonical field names, so an EIDO source needs no column map:
- ``incident_id``: the EIDO's ``$id``, the incident tracking identifier;
- ``occurred_at``: the earliest ``callStartTimestamp`` of its calls (when the incident was first
  reported), else the incident component's ``lastUpdateTimeStamp`` (an EIDO carries the
  incident's current state, not its creation); ``reported_at``: the EIDO's own timestamp;
- ``category``: the incident type (``incidentTypeCommonRegistryText``, a code of the
  EIDO-IncidentType-Common registry) through the shipped crosswalk (``eido_crosswalk.toml``);
  a registered type the crosswalk leaves out reaches the source's value map as its code;
- place: the incident's locations (its ``locationReference``, else every location component),
  the first whose PIDF-LO (``locationByValue``) gives a ``gml:pos``, else the first whose civic
  address names a county (``A1`` state, ``A2`` county);
- ``severity``: the common priority 0-10 (10 highest) as 1-5, ``ceil(priority / 2)``, 0 as 1;
- ``narrative``: the notes the incident refers to.

The person, organization, vehicle and item payloads the schema takes from NIEM (its
``NIEMComponents/*.yaml``, some 3 MB) are not shipped and not checked: nothing here reads them.
"""

from __future__ import annotations

import json
import math
import re
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urljoin
from xml.etree import ElementTree

import polars as pl
from pydantic import BaseModel

from data_sources import ERROR_COLUMN, RAW_TEXT_COLUMN, ROW_COLUMN, register
from data_sources.files import FileConnector, NoOptions, visible_text

SCHEMA_PATH = Path(__file__).with_name("eido_openapi.json")
# Where NENA publishes the schema: its relative $refs (the NIEM components) resolve against it.
SCHEMA_URI = "https://raw.githubusercontent.com/NENA911/EIDO-JSON/main/Schema/openapi.yaml"
EIDO_TYPE = "EmergencyIncidentDataObjectType"
CROSSWALK_PATH = Path(__file__).with_name("eido_crosswalk.toml")

INCIDENT_COLUMNS = ("incident_id", "occurred_at", "reported_at", "category", "county_fips",
                    "latitude", "longitude", "severity", "narrative")
# The EIDO as the file has it, kept with the row (a quarantined row's raw record).
EIDO_COLUMN = "eido_object"
HIGHEST_PRIORITY = 10  # incidentCommonPriorityNumber runs 0-10 (NENA-STA-021.1b, section 2.9)

GML = "{http://www.opengis.net/gml}"
CIVIC = "{urn:ietf:params:xml:ns:pidf:geopriv10:civicAddr}"
# An RFC 3339 date-time, as OpenAPI's "date-time" format means it.
DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


@dataclass(frozen=True)
class Crosswalk:
    """Incident type codes -> taxonomy keys, and the codes the registry allows."""

    incident_types: Mapping[str, str]
    registry: Mapping[str, str]  # code -> the registry's literal description


@cache
def crosswalk() -> Crosswalk:
    with CROSSWALK_PATH.open("rb") as handle:
        tables = tomllib.load(handle)
    return Crosswalk(tables["incident_types"], tables["registry"])


class EidoProblem(ValueError):
    """Why an EIDO cannot become a row: its reason names the JSON path."""


def _is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True  # the type keyword's business
    if not DATE_TIME.match(value):
        return False
    try:
        datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


# jsonschema is imported where used: only an EIDO source needs it, not every command that
# imports the connectors.
@cache
def _validator() -> Any:
    from jsonschema import Draft4Validator, FormatChecker
    from referencing import Registry
    from referencing.jsonschema import DRAFT4

    text = SCHEMA_PATH.read_text(encoding="utf-8")
    document = _count_keywords_as_numbers(json.loads(text))
    # The NIEM payloads are not shipped (see the module docstring): each one it names is open.
    unchecked: dict[str, dict[str, Any]] = {}
    for file, name in re.findall(r'"\$ref": "([^"#]+)#/components/schemas/([^"]+)"', text):
        unchecked.setdefault(urljoin(SCHEMA_URI, file), {})[name] = {}
    registry = Registry().with_resources(
        [(SCHEMA_URI, DRAFT4.create_resource(document))]
        + [(uri, DRAFT4.create_resource({"components": {"schemas": schemas}}))
           for uri, schemas in unchecked.items()])
    formats = FormatChecker(formats=())
    formats.checks("date-time")(_is_date_time)
    # OpenAPI 3.0 schema objects are JSON Schema draft 4 in all this schema uses.
    return Draft4Validator({"$ref": f"{SCHEMA_URI}#/components/schemas/{EIDO_TYPE}"},
                           registry=registry, format_checker=formats)


COUNT_KEYWORDS = ("minItems", "maxItems", "minLength", "maxLength")


def _count_keywords_as_numbers(schema: Any) -> Any:
    """The schema with a count written as text read as the number it means: the published
    YAML has ``minItems: 1,`` (the text "1,") for an agent's roles, which no validator can
    compare with a length."""
    if isinstance(schema, dict):
        return {key: int(value.rstrip(","))
                if key in COUNT_KEYWORDS and isinstance(value, str)
                and re.fullmatch(r"\d+,?", value)
                else _count_keywords_as_numbers(value) for key, value in schema.items()}
    if isinstance(schema, list):
        return [_count_keywords_as_numbers(value) for value in schema]
    return schema


def _json_path(where: str, path: Sequence[str | int]) -> str:
    return where + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in path)


def schema_problems(eido: object, where: str) -> list[str]:
    """Errors of one EIDO under NENA's published schema, each 'JSON path: reason', a missing
    element named by its own path (``$[2].incidentComponent.lastUpdateTimeStamp``)."""
    if not isinstance(eido, Mapping):
        return [f"{where}: expected a JSON object (an EIDO), got {type(eido).__name__}"]
    problems = []
    for error in sorted(_validator().iter_errors(eido), key=lambda e: list(map(str, e.path))):
        path = list(error.absolute_path)
        missing = re.fullmatch(r"'(.+)' is a required property", error.message)
        if error.validator == "required" and missing:
            problems.append(f"{_json_path(where, [*path, missing[1]])}: required element "
                            "missing")
        else:
            problems.append(f"{_json_path(where, path)}: {' '.join(error.message.split())}")
    return problems


@dataclass(frozen=True)
class Place:
    latitude: float | None = None
    longitude: float | None = None
    county_fips: str | None = None


def place_of_pidf_lo(pidf_lo: str, where: str) -> Place:
    """Coordinates (the first ``gml:pos``, latitude first) and county (civic ``A1`` state and
    ``A2`` county, by name) of a PIDF-LO document."""
    if "<!DOCTYPE" in pidf_lo or "<!ENTITY" in pidf_lo:
        raise EidoProblem(f"{where}: a PIDF-LO document may not declare a DOCTYPE or entities")
    try:
        root = ElementTree.fromstring(pidf_lo.strip())
    except ElementTree.ParseError as error:
        raise EidoProblem(f"{where}: not well-formed PIDF-LO XML ({error})") from None
    latitude = longitude = None
    position = root.find(f".//{GML}pos")
    if position is not None:
        numbers = (position.text or "").split()
        try:
            latitude, longitude = float(numbers[0]), float(numbers[1])
        except (IndexError, ValueError):
            raise EidoProblem(f"{where}: gml:pos {position.text!r} is not 'latitude longitude'"
                              ) from None
    civic = root.find(f".//{CIVIC}civicAddress")
    county = None
    if civic is not None:
        state, county_name = (civic.findtext(f"{CIVIC}{key}") for key in ("A1", "A2"))
        if state and county_name:
            county = _county_named(state.strip().upper(), county_name.strip())
    return Place(latitude, longitude, county)


# The shipped national county boundaries name every county (a leaf module of reference data).
@cache
def _county_named(state_postal: str, county_name: str) -> str | None:
    from dashboard.geo import all_counties

    counties = all_counties()
    wanted = re.sub(r"\s+(county|parish|borough)$", "", county_name.lower())
    found = counties.loc[(counties["state_postal"] == state_postal)
                         & (counties["county_name"].str.lower() == wanted), "county_fips"]
    return str(found.iloc[0]) if len(found) else None


def _by_id(eido: Mapping[str, Any], component: str) -> dict[str, tuple[int, Mapping[str, Any]]]:
    return {str(item.get("$id")): (index, item)
            for index, item in enumerate(eido.get(component) or [])}


def incident_row(eido: Mapping[str, Any], where: str) -> dict[str, Any]:
    """The incident of a valid EIDO as a row; EidoProblem when it carries none we can file."""
    incident = eido.get("incidentComponent")
    if not isinstance(incident, Mapping):
        raise EidoProblem(f"{where}.incidentComponent: required element missing (an EIDO "
                          "without an incident component carries no incident)")
    table = crosswalk()
    incident_type = incident["incidentTypeCommonRegistryText"]
    if incident_type not in table.registry:
        raise EidoProblem(f"{where}.incidentComponent.incidentTypeCommonRegistryText: "
                          f"{incident_type!r} is not in the EIDO-IncidentType-Common registry")
    priority = incident.get("incidentCommonPriorityNumber")
    if priority is not None and not 0 <= priority <= HIGHEST_PRIORITY:
        raise EidoProblem(f"{where}.incidentComponent.incidentCommonPriorityNumber: {priority} "
                          f"is outside 0-{HIGHEST_PRIORITY}")
    call_starts = [call["callStartTimestamp"] for call in eido.get("callComponent") or []]
    first_call = min(call_starts, key=_instant, default=None)
    place = _incident_place(eido, incident, where)
    notes = _by_id(eido, "notesComponent")
    narrative = [notes[ref["$ref"]][1]["notesActionComments"]
                 for ref in incident.get("notesReference") or [] if ref["$ref"] in notes]
    return {
        "incident_id": eido["$id"],
        "occurred_at": first_call or incident["lastUpdateTimeStamp"],
        "reported_at": eido["lastUpdateTimeStamp"],
        "category": table.incident_types.get(incident_type, incident_type),
        "county_fips": place.county_fips,
        "latitude": None if place.latitude is None else repr(place.latitude),
        "longitude": None if place.longitude is None else repr(place.longitude),
        "severity": None if priority is None else max(1, math.ceil(priority / 2)),
        "narrative": "\n\n".join(narrative) or None,
    }


def _instant(timestamp: str) -> datetime:
    return datetime.fromisoformat(timestamp.upper().replace("Z", "+00:00"))


def _incident_place(eido: Mapping[str, Any], incident: Mapping[str, Any], where: str) -> Place:
    locations = _by_id(eido, "locationComponent")
    refs = [ref["$ref"] for ref in incident.get("locationReference") or []]
    chosen = [locations[ref] for ref in refs if ref in locations] if refs \
        else list(locations.values())
    places = [place_of_pidf_lo(location["locationByValue"],
                               f"{where}.locationComponent[{index}].locationByValue")
              for index, location in chosen if "locationByValue" in location]
    return next((p for p in places if p.latitude is not None),
                next((p for p in places if p.county_fips), Place()))


def load_eidos(location: str) -> list[tuple[str, Any]]:
    """The EIDOs of a file, each with its JSON path (an NDJSON line that is not JSON: its
    error); raises one line when the file is neither JSON nor NDJSON."""
    data = Path(location).read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ValueError(f"{location}: not UTF-8 text ({error.reason} at byte "
                         f"{error.start})") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        if not _first_line_is_an_object(text):
            raise ValueError(f"{location}: line {error.lineno}: not valid JSON "
                             f"({error.msg})") from None
        return list(_ndjson(text))
    if isinstance(document, list):
        return [(f"$[{index}]", eido) for index, eido in enumerate(document)]
    return [("$", document)]


def _first_line_is_an_object(text: str) -> bool:
    """Whether the text reads as NDJSON: its first non-blank line a JSON object of its own."""
    first = next((line for line in text.splitlines() if line.strip()), "")
    try:
        return isinstance(json.loads(first), dict)
    except json.JSONDecodeError:
        return False


class _BadLine:
    """An NDJSON line that is not JSON: its error, and the line."""

    def __init__(self, reason: str, line: str):
        self.reason, self.line = reason, line


def _ndjson(text: str) -> Iterator[tuple[str, Any]]:
    """One EIDO per non-blank line, numbered as an array would be: $[0], $[1], ..."""
    index = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield f"$[{index}]", json.loads(line)
        except json.JSONDecodeError as error:
            yield f"$[{index}]", _BadLine(f"$[{index}] (line {number}): not valid JSON "
                                          f"({error.msg})", line)
        index += 1


@register
class EidoConnector(FileConnector):
    kind = "eido"
    # Row n is the file's n-th EIDO: $[n - 1] (a file of one EIDO: $).
    row_unit = "EIDO"
    # The exchange standard it speaks (Data health reports each source's conformance to it).
    standard: ClassVar[str] = "NENA EIDO (NENA-STA-021.1b)"
    # Options: none (FileConnector's strict empty model); every EIDO's incident is read.

    def read(self, location: str, options: BaseModel) -> pl.LazyFrame:
        assert isinstance(options, NoOptions)
        rows: list[dict[str, Any]] = []
        for number, (where, eido) in enumerate(load_eidos(location), start=1):
            row: dict[str, Any] = {ROW_COLUMN: number}
            if isinstance(eido, _BadLine):
                rows.append(row | {ERROR_COLUMN: eido.reason,
                                   RAW_TEXT_COLUMN: visible_text(eido.line)})
                continue
            raw = json.dumps(eido, ensure_ascii=False)
            try:
                problems = schema_problems(eido, where)
                if problems:
                    raise EidoProblem("; ".join(problems))
                row |= incident_row(eido, where)
                row[EIDO_COLUMN] = raw
            except EidoProblem as problem:
                row |= {ERROR_COLUMN: str(problem), RAW_TEXT_COLUMN: visible_text(raw)}
            rows.append(row)
        series = [pl.Series(ROW_COLUMN, [row[ROW_COLUMN] for row in rows], dtype=pl.Int64)]
        for name in (*INCIDENT_COLUMNS, EIDO_COLUMN, ERROR_COLUMN, RAW_TEXT_COLUMN):
            values = [row.get(name) for row in rows]
            series.append(pl.Series(name, [None if v is None else str(v) for v in values],
                                    dtype=pl.String))
        return pl.DataFrame(series).lazy()
