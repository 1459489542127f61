"""STIX 2.1 connector: a bundle's ``report`` objects become products; its ``sighting``,
``incident`` and ``observed-data`` objects with a place become incidents (issue 16; README,
"Exchange standards: STIX 2.1").

Each object of a chosen type is validated with the OASIS validator (``stix2-validator``) first.
An invalid or partial object becomes one error row whose reason names the JSON path of the
failing element (``$.objects[4].first_seen: ...``) and whose raw text is the object, so one bad
object never fails the bundle; a file that is not a JSON bundle at all raises one line.

Rows carry canonical field names, so a STIX source needs no column map. Words become taxonomy
keys through the shipped crosswalk (``stix_crosswalk.toml``) and then the source's value maps,
as for any feed. Places come from ``location`` objects (a report's ``object_refs``, a
sighting's ``where_sighted_refs``, or a ``located-at`` relationship): coordinates; a county or
state by its Census FIPS code (an external reference named ``census-fips``); for a report, also
a state by its ISO 3166-2 code or the whole country. TLP markings, both ways, are the table
below. Objects of other types are read only as what the chosen objects refer to.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, ClassVar, Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, field_validator

from dashboard.schema import TLP_MARKINGS
from data_sources import ERROR_COLUMN, RAW_TEXT_COLUMN, ROW_COLUMN, register
from data_sources.files import FileConnector, visible_text

SPEC_VERSION = "2.1"
# The official TLP 2.0 marking definitions (OASIS cti-stix-common-objects): one table for
# import and export. STIX 2.1 predefines only TLP 1.0, read below on import.
TLP_EXTENSION_ID = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"
TLP2_CREATED = "2022-10-01T00:00:00.000Z"
TLP2_MARKINGS: dict[str, tuple[str, str]] = {  # marking -> (marking-definition id, tlp_2_0)
    "TLP:CLEAR": ("marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487", "clear"),
    "TLP:GREEN": ("marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb", "green"),
    "TLP:AMBER": ("marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421", "amber"),
    "TLP:AMBER+STRICT": ("marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
                         "amber+strict"),
    "TLP:RED": ("marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1", "red"),
}
# TLP 1.0 as STIX 2.1 predefines it (section 7.2.1.4); WHITE reads as CLEAR.
TLP1_MARKINGS: dict[str, str] = {
    "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9": "TLP:CLEAR",
    "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da": "TLP:GREEN",
    "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82": "TLP:AMBER",
    "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed": "TLP:RED",
}
TLP1_WORDS = {"white": "TLP:CLEAR", "green": "TLP:GREEN", "amber": "TLP:AMBER",
              "red": "TLP:RED"}
MARKING_BY_ID = {ident: marking for marking, (ident, _) in TLP2_MARKINGS.items()} | TLP1_MARKINGS
MARKING_BY_TLP2_WORD = {word: marking for marking, (_, word) in TLP2_MARKINGS.items()}
assert set(TLP2_MARKINGS) == set(TLP_MARKINGS)

# The external reference that carries a Census FIPS code: 5 digits a county, 2 a state.
FIPS_SOURCE = "census-fips"
# Labels that fill a field instead of naming a topic or category: "product-type:bulletin".
LABEL_FIELDS = {"product-type": "product_type", "audience": "audience",
                "sar-behavior": "sar_behavior", "target-sector": "target_sector"}
# Relationships that say where an object is (their target a location).
PLACE_RELATIONSHIPS = ("located-at",)
PRODUCT_TYPES = ("report",)
INCIDENT_TYPES = ("sighting", "incident", "observed-data")
StixType = Literal["report", "sighting", "incident", "observed-data"]

PRODUCT_COLUMNS = ("product_id", "title", "product_type", "published_at", "topics",
                   "county_fips", "statewide", "audience", "tlp", "summary", "incident_ids",
                   "source_url")
INCIDENT_COLUMNS = ("incident_id", "occurred_at", "reported_at", "category", "county_fips",
                    "latitude", "longitude", "sar_behavior", "target_sector", "tlp", "narrative")
PRODUCT_LIST_COLUMNS = ("topics", "county_fips", "incident_ids")
# The object as the bundle has it, kept with the row (a quarantined row's raw record).
OBJECT_COLUMN = "stix_object"
CROSSWALK_PATH = Path(__file__).with_name("stix_crosswalk.toml")


@dataclass(frozen=True)
class Crosswalk:
    """STIX vocabularies -> taxonomy keys (see stix_crosswalk.toml); "" drops a term."""

    report_types: Mapping[str, str]
    labels: Mapping[str, str]
    object_types: Mapping[str, str]


@cache
def crosswalk() -> Crosswalk:
    with CROSSWALK_PATH.open("rb") as handle:
        tables = tomllib.load(handle)
    return Crosswalk(tables["report_types"], tables["labels"], tables["object_types"])


def tlp_marking_definition(marking: str) -> dict[str, Any]:
    """The official TLP 2.0 marking-definition object of one of the product's markings."""
    ident, word = TLP2_MARKINGS[marking]
    return {"type": "marking-definition", "spec_version": SPEC_VERSION, "id": ident,
            "created": TLP2_CREATED, "name": marking,
            "extensions": {TLP_EXTENSION_ID: {"extension_type": "property-extension",
                                              "tlp_2_0": word}}}


def marking_of_definition(definition: Mapping[str, Any]) -> str | None:
    """The product's marking a marking-definition object stands for: an official TLP 2.0 or
    TLP 1.0 id, else its TLP 2.0 extension or TLP 1.0 definition; None for other markings."""
    known = MARKING_BY_ID.get(str(definition.get("id")))
    if known is not None:
        return known
    extension = (definition.get("extensions") or {}).get(TLP_EXTENSION_ID)
    if isinstance(extension, Mapping):
        return MARKING_BY_TLP2_WORD.get(str(extension.get("tlp_2_0")).lower())
    if definition.get("definition_type") == "tlp":
        words = definition.get("definition") or {}
        return TLP1_WORDS.get(str(words.get("tlp")).lower()) if isinstance(words, Mapping) \
            else None
    return None


@dataclass(frozen=True)
class Place:
    """What a location object says of where."""

    latitude: float | None = None
    longitude: float | None = None
    counties: tuple[str, ...] = ()  # FIPS; a whole state is all its counties
    statewide: bool = False  # the whole of any state: a state, or the country


US_SUBDIVISION = re.compile(r"^US-([A-Z]{2})$")
FINER_THAN_A_STATE = ("city", "street_address", "postal_code")


def place_of(location: Mapping[str, Any], *, whole_areas: bool) -> Place:
    """A location object's place. Incidents (``whole_areas`` False) take coordinates and a
    county FIPS code; a product's area also takes a state (FIPS code, or ISO 3166-2
    ``US-XX`` with nothing finer) as all its counties and statewide, the country (``US`` with
    nothing finer) as statewide, and coordinates as the county that holds them."""
    latitude, longitude = _number(location.get("latitude")), _number(location.get("longitude"))
    fips = [str(ref.get("external_id", "")) for ref in location.get("external_references") or []
            if isinstance(ref, Mapping) and str(ref.get("source_name", "")).lower() == FIPS_SOURCE]
    counties = tuple(code for code in fips if re.fullmatch(r"\d{5}", code))
    if not whole_areas:
        return Place(latitude, longitude, counties[:1])
    states = [code for code in fips if re.fullmatch(r"\d{2}", code)]
    if not counties and not states and latitude is not None and longitude is not None:
        counties = tuple(filter(None, [_county_at(latitude, longitude)]))
    finer = any(location.get(key) for key in FINER_THAN_A_STATE)
    area = str(location.get("administrative_area") or "").upper()
    subdivision = US_SUBDIVISION.match(area)
    if not counties and not states and subdivision and not finer and latitude is None:
        states = [_state_fips(subdivision.group(1))]
    if states:
        return Place(counties=counties + tuple(c for s in states for c in _counties_of(s)),
                     statewide=True)
    country = str(location.get("country") or "").upper()
    whole_country = (country in ("US", "USA") and not area and not finer and latitude is None
                     and not counties)
    return Place(counties=counties, statewide=whole_country)


def _number(value: object) -> float | None:
    try:
        return None if value is None or isinstance(value, bool) else float(str(value))
    except ValueError:
        return None


# The shipped national county boundaries are the crosswalk from coordinates and state codes to
# counties (a leaf module of reference data; nothing else of dashboard/ is needed here).
def _county_at(latitude: float, longitude: float) -> str | None:
    import numpy as np

    from dashboard.geo import all_counties, county_of_points

    found = county_of_points(all_counties(), np.array([longitude]), np.array([latitude]))[0]
    return None if found is None else str(found)


@cache
def _state_fips(postal: str) -> str:
    from dashboard.geo import all_counties

    counties = all_counties()
    codes = counties.loc[counties["state_postal"] == postal, "state_fips"].unique()
    return str(codes[0]) if len(codes) else postal  # an unknown code names no county


@cache
def _counties_of(state_fips: str) -> tuple[str, ...]:
    from dashboard.geo import all_counties

    counties = all_counties()
    return tuple(sorted(counties.loc[counties["state_fips"] == state_fips, "county_fips"]))


class StixProblem(ValueError):
    """Why an object cannot become a row: its reason names the JSON path."""


class _Bundle:
    """A bundle's objects by id, validated on first use."""

    def __init__(self, objects: Sequence[Any]):
        self.objects = objects
        self.position = {obj["id"]: index for index, obj in enumerate(objects)
                         if isinstance(obj, Mapping) and isinstance(obj.get("id"), str)}
        self.places: dict[str, list[str]] = {}
        for obj in objects:
            if isinstance(obj, Mapping) and obj.get("type") == "relationship" \
                    and obj.get("relationship_type") in PLACE_RELATIONSHIPS:
                self.places.setdefault(str(obj.get("source_ref")), []).append(
                    str(obj.get("target_ref")))
        self._problems: dict[int, list[str]] = {}

    def problems(self, index: int) -> list[str]:
        """The validator's errors of object ``index``, each as 'JSON path: reason'."""
        if index not in self._problems:
            self._problems[index] = schema_problems(self.objects[index], index)
        return self._problems[index]

    def referred(self, ident: str, why: str) -> Mapping[str, Any] | None:
        """The object ``ident`` refers to (None: not in the bundle); an invalid one is a
        problem of the object that refers to it."""
        index = self.position.get(ident)
        if index is None:
            return None
        problems = self.problems(index)
        if problems:
            raise StixProblem(f"the {why} $.objects[{index}] is not valid STIX: {problems[0]}")
        return self.objects[index]  # type: ignore[no-any-return]

    def marking(self, obj: Mapping[str, Any]) -> str | None:
        """The most restrictive TLP marking among the object's ``object_marking_refs``."""
        markings = []
        for ref in obj.get("object_marking_refs") or []:
            known = MARKING_BY_ID.get(ref)
            if known is None:
                definition = self.referred(ref, "marking definition")
                known = None if definition is None else marking_of_definition(definition)
            if known is not None:
                markings.append(known)
        return max(markings, key=TLP_MARKINGS.index, default=None)

    def places_of(self, refs: Iterable[str], *, whole_areas: bool) -> list[Place]:
        places = []
        for ref in refs:
            if isinstance(ref, str) and ref.startswith("location--"):
                location = self.referred(ref, "location")
                if location is not None:
                    places.append(place_of(location, whole_areas=whole_areas))
        return places


# 'path.to[0].element: reason' as the validator words an error (after the object's id).
_ERROR_PATH = re.compile(r"^(?P<path>[A-Za-z0-9_\-]+(?:\[\d+\]|\.[A-Za-z0-9_+\-]+)*): "
                         r"(?P<reason>.*)$", re.DOTALL)


# stix2validator is imported where used: it takes a while to import (its schemas and pattern
# grammar), and only a STIX source needs it, not every command that imports the connectors.
@cache
def _validator_options() -> Any:
    from stix2validator import ValidationOptions

    return ValidationOptions(version=SPEC_VERSION)


def schema_problems(obj: object, index: int) -> list[str]:
    """Errors of one bundle entry under the STIX 2.1 specification (stix2-validator), each
    'JSON path: reason', the path from the bundle (``$.objects[4].first_seen``)."""
    where = f"$.objects[{index}]"
    if not isinstance(obj, Mapping):
        return [f"{where}: expected a JSON object, got {type(obj).__name__}"]
    if not isinstance(obj.get("type"), str):
        return [f"{where}.type: required property missing"]
    from stix2validator import validate_instance

    result = validate_instance(dict(obj), _validator_options())
    problems = []
    for error in result.errors:
        message = str(error).strip()
        prefix = f"{obj.get('id')}: "
        message = message.removeprefix(prefix)
        match = _ERROR_PATH.match(message)
        if match and re.split(r"[.\[]", match["path"])[0] in obj:
            problems.append(f"{where}.{match['path']}: {match['reason']}")
        else:
            problems.append(f"{where}: {message}")
    return problems


def _labels(obj: Mapping[str, Any]) -> tuple[list[str], dict[str, str]]:
    """Plain labels, and the fields prefixed labels fill ({"product_type": "bulletin"})."""
    plain: list[str] = []
    fields: dict[str, str] = {}
    for label in obj.get("labels") or []:
        prefix, _, value = str(label).partition(":")
        field = LABEL_FIELDS.get(prefix.strip().lower()) if value else None
        if field is not None:
            fields.setdefault(field, value.strip())
        else:
            plain.append(str(label).strip())
    return plain, fields


def _mapped(terms: Iterable[str], table: Mapping[str, str], *, keep_unknown: bool) -> list[str]:
    """Terms through a crosswalk table: mapped, dropped ("") or (``keep_unknown``) as given."""
    result: list[str] = []
    for term in terms:
        value = table.get(term.lower(), term if keep_unknown else "")
        if value and value not in result:
            result.append(value)
    return result


def _first_url(obj: Mapping[str, Any]) -> str | None:
    for ref in obj.get("external_references") or []:
        if isinstance(ref, Mapping) and ref.get("url"):
            return str(ref["url"])
    return None


def product_row(obj: Mapping[str, Any], bundle: _Bundle) -> dict[str, Any]:
    """A report as a product."""
    table = crosswalk()
    plain, fields = _labels(obj)
    report_types = [str(kind) for kind in obj.get("report_types") or []]
    topics = _mapped(plain, table.labels, keep_unknown=True)
    topics += [t for t in _mapped(report_types, table.report_types, keep_unknown=False)
               if t not in topics]
    refs = [ref for ref in obj.get("object_refs") or [] if isinstance(ref, str)]
    places = bundle.places_of(refs, whole_areas=True)
    return {
        "product_id": obj.get("id"), "title": obj.get("name"),
        # A report names no product type of ours unless labelled so: its first report type,
        # for the source's value map to take.
        "product_type": fields.get("product_type", report_types[0] if report_types else None),
        "published_at": obj.get("published"), "topics": topics,
        "county_fips": sorted({c for place in places for c in place.counties}),
        "statewide": "true" if any(place.statewide for place in places) else None,
        "audience": fields.get("audience"), "tlp": bundle.marking(obj),
        "summary": obj.get("description"),
        "incident_ids": [ref for ref in refs if ref.split("--")[0] in INCIDENT_TYPES],
        "source_url": _first_url(obj),
    }


def incident_row(obj: Mapping[str, Any], bundle: _Bundle) -> dict[str, Any]:
    """A sighting, incident or observed data as an incident (placed by its first location
    with coordinates, else with a county)."""
    table = crosswalk()
    kind = obj["type"]
    refs = [*(obj.get("where_sighted_refs") or []), *bundle.places.get(str(obj.get("id")), [])]
    places = bundle.places_of(refs, whole_areas=False)
    place = next((p for p in places if p.latitude is not None and p.longitude is not None),
                 next((p for p in places if p.counties), Place()))
    plain, fields = _labels(obj)
    sighted = str(obj.get("sighting_of_ref") or "").split("--")[0]
    category = (_mapped(plain, table.labels, keep_unknown=False)
                or plain[:1]
                or _mapped([sighted if kind == "sighting" else kind], table.object_types,
                           keep_unknown=False))
    first_seen = {"sighting": "first_seen", "observed-data": "first_observed"}.get(kind, "")
    return {
        "incident_id": obj.get("id"),
        "occurred_at": obj.get(first_seen) or obj.get("created"),
        "reported_at": obj.get("created"),
        "category": category[0] if category else None,
        "county_fips": place.counties[0] if place.counties else None,
        "latitude": None if place.latitude is None else repr(place.latitude),
        "longitude": None if place.longitude is None else repr(place.longitude),
        "sar_behavior": fields.get("sar_behavior"), "target_sector": fields.get("target_sector"),
        "tlp": bundle.marking(obj), "narrative": obj.get("description"),
    }


def load_bundle(location: str) -> list[Any]:
    """The objects of a STIX bundle file; raises one line when it is not one."""
    data = Path(location).read_bytes()
    try:
        document = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as error:
        raise ValueError(f"{location}: not UTF-8 text ({error.reason} at byte "
                         f"{error.start})") from None
    except json.JSONDecodeError as error:
        raise ValueError(f"{location}: line {error.lineno}: not valid JSON "
                         f"({error.msg})") from None
    if not isinstance(document, dict) or document.get("type") != "bundle":
        raise ValueError(f"{location}: not a STIX bundle (a JSON object of type 'bundle')")
    objects = document.get("objects", [])
    if not isinstance(objects, list):
        raise ValueError(f"{location}: $.objects: expected a list of STIX objects")
    return objects


def _text(value: object) -> str | None:
    return None if value is None else str(value)


@register
class StixConnector(FileConnector):
    kind = "stix"
    # Row n is the bundle's n-th object: $.objects[n - 1].
    row_unit = "object"
    # The exchange standard it speaks (Data health reports each source's conformance to it).
    standard: ClassVar[str] = "STIX 2.1"

    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True)
        objects: tuple[StixType, ...] = Field(
            min_length=1, description="STIX types that become rows: ['report'] for a products "
            "source; any of 'sighting', 'incident', 'observed-data' for an incidents source.")

        @field_validator("objects")
        @classmethod
        def _one_table(cls, value: tuple[str, ...]) -> tuple[str, ...]:
            if "report" in value and len(set(value)) > 1:
                raise ValueError("'report' objects become products, the others incidents: "
                                 "list them in two sources")
            return value

    def read(self, location: str, options: BaseModel) -> pl.LazyFrame:
        assert isinstance(options, self.Options)
        objects = load_bundle(location)
        bundle = _Bundle(objects)
        products = "report" in options.objects
        columns = PRODUCT_COLUMNS if products else INCIDENT_COLUMNS
        rows: list[dict[str, Any]] = []
        for index, obj in enumerate(objects):
            kind = obj.get("type") if isinstance(obj, Mapping) else None
            if kind is not None and kind not in options.objects:
                continue
            row: dict[str, Any] = {ROW_COLUMN: index + 1}
            raw = json.dumps(obj, ensure_ascii=False)
            try:
                problems = bundle.problems(index)
                if problems:
                    raise StixProblem("; ".join(problems))
                assert isinstance(obj, Mapping)
                row |= product_row(obj, bundle) if products else incident_row(obj, bundle)
                row[OBJECT_COLUMN] = raw
            except StixProblem as problem:
                row |= {ERROR_COLUMN: str(problem), RAW_TEXT_COLUMN: visible_text(raw)}
            rows.append(row)
        return _frame(rows, columns, PRODUCT_LIST_COLUMNS if products else ()).lazy()


def _frame(rows: list[dict[str, Any]], columns: Sequence[str],
           list_columns: Sequence[str]) -> pl.DataFrame:
    series = [pl.Series(ROW_COLUMN, [row[ROW_COLUMN] for row in rows], dtype=pl.Int64)]
    for name in (*columns, OBJECT_COLUMN, ERROR_COLUMN, RAW_TEXT_COLUMN):
        if name in list_columns:
            values: list[Any] = [row.get(name) for row in rows]
            series.append(pl.Series(name, values, dtype=pl.List(pl.String)))
        else:
            series.append(pl.Series(name, [_text(row.get(name)) for row in rows],
                                    dtype=pl.String))
    return pl.DataFrame(series)
