"""STIX 2.1 export: what a viewer may receive of the products and the aggregate picture, as
one bundle (issue 16, item 2; README, "Exchange standards: STIX 2.1").

Everything comes from the viewer's visibility class (:class:`ViewData`, made by
``audience.view_data``): its products, and its incidents, which for partners are the release
(released cells only, so no withheld count leaves in a file either).

- Each product published in the period under the filters is a ``report``: name, published,
  description (the summary; none for partners, who read no summaries), ``report_types``
  ``threat-report``, labels (its topic keys, ``product-type:KEY``, ``audience:KEY``), an
  external reference with the center's own id and the source URL, the TLP 2.0 marking, and its
  area as ``object_refs`` to ``location`` objects: the state when statewide, else each county
  it covers (a region as its counties). The connector (``data_sources.stix``) reads all of
  that back.
- A county is a ``location`` with its name, ``US-XX``, a point inside it and its Census FIPS
  code (external reference ``census-fips``); the state likewise with its state FIPS code.
- The aggregate picture (incidents per county x threat category in the period, under the
  filters) is one ``note`` about those counties: readable text, and the counts themselves in a
  property extension defined by an ``extension-definition`` object in the same bundle (STIX
  2.1 section 7.3). A note, not a report: the picture is context, not an analytic product, and
  an importer of reports does not take it for one.

STIX ids are UUIDv5 in one fixed namespace, so the same product, county or state has the same
id in every export. A product whose id is already a STIX report id keeps it.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from typing import Any

import polars as pl
import sqlalchemy as sa
import stix2

from dashboard.analytics.filters import Filters, incident_filter, period_of, to_query_params
from dashboard.analytics.picture import filtered_products
from dashboard.geo import state_counties, state_postals
from dashboard.security import audit
from dashboard.security.audience import ViewData
from dashboard.security.policy import most_restrictive
from dashboard.settings import ProjectConfig
from data_sources.stix import FIPS_SOURCE, TLP2_MARKINGS, tlp_marking_definition

NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:statewide-threat-picture:stix")
PRODUCT_IDENTITY = f"identity--{uuid.uuid5(NAMESPACE, 'product')}"
AGGREGATE_EXTENSION_ID = f"extension-definition--{uuid.uuid5(NAMESPACE, 'incident-counts/1.0')}"
AGGREGATE_EXTENSION_SCHEMA = (
    "Property extension of a note: period_start and period_end (dates, inclusive, in "
    "time_zone), duplicates_once (cross-center duplicate reports counted once), filters (the "
    "view's filters as URL parameters; absent: the defaults), cells (a list of {location_ref, "
    "county_fips, category, incidents}: incidents of a threat category in a county in the "
    "period; absent: none), and for a partner "
    "release min_count and released_through (cells below min_count are withheld and appear "
    "nowhere; counts end with the last complete week).")
# Fixed times of the objects that describe no event: the boundaries' vintage, the extension's
# first version (a fixed time keeps every export's copy of them identical).
LOCATION_CREATED = "2017-01-01T00:00:00.000Z"
EXTENSION_CREATED = "2026-12-01T00:00:00.000Z"
REPORT_ID = re.compile(r"^report--[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def report_id(center_id: str, product_id: str) -> str:
    """The STIX id of a product: its own id when that is a report id, else a fixed UUIDv5."""
    if REPORT_ID.match(product_id):
        return product_id
    return f"report--{uuid.uuid5(NAMESPACE, f'product:{center_id}/{product_id}')}"


def county_location_id(county_fips: str) -> str:
    return f"location--{uuid.uuid5(NAMESPACE, f'county:{county_fips}')}"


def state_location_id(state_postal: str) -> str:
    return f"location--{uuid.uuid5(NAMESPACE, f'state:{state_postal}')}"


def center_identity_id(center_id: str) -> str:
    return f"identity--{uuid.uuid5(NAMESPACE, f'center:{center_id}')}"


def timestamp(moment: datetime) -> str:
    """A time as STIX writes it: UTC, RFC 3339, microseconds kept."""
    return f"{moment.astimezone(UTC):%Y-%m-%dT%H:%M:%S.%f}Z"


@dataclass(frozen=True)
class StixExport:
    bundle: dict[str, Any]
    products: int  # reports
    cells: int  # county x category counts in the note
    incidents: int  # incidents those counts add up to
    marking: str  # the most restrictive marking in the bundle


@cache
def _counties(state: str) -> dict[str, tuple[str, str, str, float, float]]:
    """County FIPS -> (name, state FIPS, state postal code, latitude, longitude of a point
    inside it); ``state`` may be a network's states (``ID+OR+WA``)."""
    counties = state_counties(state)
    points = counties.geometry.representative_point()
    return {fips: (name, state_fips, postal, round(point.y, 5), round(point.x, 5))
            for fips, name, state_fips, postal, point in zip(
                counties["county_fips"], counties["county_name"], counties["state_fips"],
                counties["state_postal"], points, strict=True)}


def _state_name(state: str) -> str:
    """The state's name; a network's, its states' names joined ("Idaho, Oregon and
    Washington")."""
    names = [str(state_counties(postal)["state_name"].iloc[0])
             for postal in state_postals(state)]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def state_location_ids(state: str) -> list[str]:
    """The location ids of the deployment's whole area: its state, or each member state of a
    network."""
    return [state_location_id(postal) for postal in state_postals(state)]


def _as_dict(obj: stix2.base._STIXBase) -> dict[str, Any]:
    return json.loads(obj.serialize())  # type: ignore[no-any-return]


def location_objects(state: str, counties: list[str], statewide: bool) -> list[dict[str, Any]]:
    """The state (when ``statewide``) and each county as location objects."""
    objects = []
    known = _counties(state)
    if statewide:
        for postal in state_postals(state):
            state_fips = next(value[1] for value in known.values() if value[2] == postal)
            objects.append(_as_dict(stix2.v21.Location(
                id=state_location_id(postal), created=LOCATION_CREATED,
                modified=LOCATION_CREATED, name=_state_name(postal), region="northern-america",
                country="US", administrative_area=f"US-{postal}",
                external_references=[{"source_name": FIPS_SOURCE, "external_id": state_fips}])))
    for fips in counties:
        name, _, postal, latitude, longitude = known[fips]
        objects.append(_as_dict(stix2.v21.Location(
            id=county_location_id(fips), created=LOCATION_CREATED, modified=LOCATION_CREATED,
            name=f"{name}, {postal}", region="northern-america", country="US",
            administrative_area=f"US-{postal}", latitude=latitude, longitude=longitude,
            external_references=[{"source_name": FIPS_SOURCE, "external_id": fips,
                                  "description": "US Census county FIPS code"}])))
    return objects


def product_report(config: ProjectConfig, row: Mapping[str, Any], *,
                   with_summary: bool) -> dict[str, Any]:
    """One product row (of the picture frames) as a report."""
    state = config.settings.state
    statewide = bool(row["statewide"])
    refs = (state_location_ids(state) if statewide
            else [county_location_id(fips) for fips in row["covered_counties"]])
    labels = [*row["topics"], f"product-type:{row['product_type']}"]
    if row["audience"]:
        labels.append(f"audience:{row['audience']}")
    reference: dict[str, str] = {"source_name": row["center_id"], "external_id": row["product_id"]}
    if row["source_url"] and str(row["source_url"]).startswith(("http://", "https://")):
        reference["url"] = row["source_url"]
    published = timestamp(row["published_at"])
    report = stix2.v21.Report(
        id=report_id(row["center_id"], row["product_id"]),
        created_by_ref=center_identity_id(row["center_id"]),
        created=published, modified=published, name=row["title"], published=published,
        report_types=["threat-report"], labels=labels, object_refs=refs,
        description=row["summary"] if with_summary and row["summary"] else None,
        external_references=[reference],
        object_marking_refs=[TLP2_MARKINGS[row["tlp"]][0]])
    return _as_dict(report)


def county_category_counts(config: ProjectConfig, data: ViewData, filters: Filters,
                           today: date) -> tuple[pl.DataFrame, str]:
    """Incidents per county x category in the period under the filters (county_fips,
    category, incidents; a partner's from released cells only), and their marking."""
    selection = data.selection(filters)
    period = period_of(filters, today)
    counted = data.frames().incidents.lazy().filter(
        incident_filter(selection, config.county_to_region, period)
        & pl.col("county_fips").is_not_null())
    cells = counted.group_by("county_fips", "category").agg(
        pl.len().cast(pl.Int64).alias("incidents")).sort("county_fips", "category").collect()
    markings = counted.select(pl.col("tlp").unique()).collect()["tlp"].to_list()
    return cells, most_restrictive(markings)


def aggregate_note(config: ProjectConfig, data: ViewData, filters: Filters, today: date,
                   now: datetime) -> tuple[dict[str, Any], pl.DataFrame, str]:
    """The picture's counts as a note (with its counts extension), the counts, the marking."""
    state = config.settings.state
    selection = data.selection(filters)
    period = period_of(filters, today)
    cells, marking = county_category_counts(config, data, filters, today)
    records = [{"location_ref": county_location_id(row["county_fips"]),
                "county_fips": row["county_fips"], "category": row["category"],
                "incidents": row["incidents"]} for row in cells.iter_rows(named=True)]
    counties = sorted(set(cells["county_fips"].to_list()))
    extension: dict[str, Any] = {
        "extension_type": "property-extension", "period_start": period.start.isoformat(),
        "period_end": period.end.isoformat(), "time_zone": config.settings.timezone,
        "duplicates_once": selection.duplicates_once}
    # STIX allows no empty list or dictionary: none is written.
    filter_params = to_query_params(selection)
    extension |= {"filters": filter_params} if filter_params else {}
    extension |= {"cells": records} if records else {}
    release = data.release
    if release is not None:
        extension |= {"min_count": release.min_count,
                      "released_through": release.through.isoformat()}
    total = int(cells["incidents"].sum())
    categories = config.labels["category"]
    by_category = cells.group_by("category").agg(pl.col("incidents").sum()).sort(
        "incidents", "category", descending=[True, False])
    content = (f"{total:,} incidents in {len(counties)} counties of {_state_name(state)}, "
               f"{period.start:%d %b %Y} to {period.end:%d %b %Y}"
               + (", cross-center duplicates counted once" if selection.duplicates_once else "")
               + ". By category: " + ("; ".join(
                   f"{categories.get(row['category'], row['category'])} {row['incidents']:,}"
                   for row in by_category.iter_rows(named=True)) or "none") + ".")
    if release is not None:
        content += (f" Partner release: counts per county, category and complete week through "
                    f"{release.through:%d %b %Y}; cells of fewer than {release.min_count} "
                    "incidents are withheld and counted nowhere.")
    digest = hashlib.sha256(json.dumps(extension, sort_keys=True).encode()).hexdigest()
    note = stix2.v21.Note(
        id=f"note--{uuid.uuid5(NAMESPACE, f'counts:{digest}')}",
        created=timestamp(now), modified=timestamp(now),
        abstract=f"Incidents by county and threat category, {period.start} to {period.end}",
        content=content, authors=[config.settings.title],
        object_refs=[county_location_id(fips) for fips in counties]
        or state_location_ids(state),
        object_marking_refs=[TLP2_MARKINGS[marking][0]],
        extensions={AGGREGATE_EXTENSION_ID: extension})
    return _as_dict(note), cells, marking


def extension_definition() -> dict[str, Any]:
    return _as_dict(stix2.v21.ExtensionDefinition(
        id=AGGREGATE_EXTENSION_ID, created_by_ref=PRODUCT_IDENTITY, created=EXTENSION_CREATED,
        modified=EXTENSION_CREATED, name="Threat picture incident counts",
        description="Incidents per county and threat category for a period, as a statewide "
        "threat picture counts them.", schema=AGGREGATE_EXTENSION_SCHEMA, version="1.0",
        extension_types=["property-extension"]))


def stix_export(config: ProjectConfig, data: ViewData, filters: Filters, today: date,
                now: datetime) -> StixExport:
    """The bundle of what ``data``'s class receives under ``filters``: the products published
    in the period and the picture's counts for it."""
    state = config.settings.state
    selection = data.selection(filters)
    period = period_of(filters, today)
    frames = data.frames()
    products = filtered_products(frames.products, selection, config.county_to_region,
                                 period).sort("published_at", "center_id", "product_id")
    reports = [product_report(config, row, with_summary=not data.aggregates_only)
               for row in products.iter_rows(named=True)]
    note, cells, counts_marking = aggregate_note(config, data, filters, today, now)
    markings = sorted({*products["tlp"].to_list(), counts_marking},
                      key=list(TLP2_MARKINGS).index)
    statewide = bool(set(state_location_ids(state)) & {ref for obj in [*reports, note]
                                                        for ref in obj["object_refs"]})
    counties = sorted({fips for row in products.filter(~pl.col("statewide"))
                       .iter_rows(named=True) for fips in row["covered_counties"]}
                      | set(cells["county_fips"].to_list()))
    center_names = dict(frames.centers.select("center_id", "name").iter_rows())
    identities = [_as_dict(stix2.v21.Identity(
        id=PRODUCT_IDENTITY, created=EXTENSION_CREATED, modified=EXTENSION_CREATED,
        name="Statewide Threat Picture", identity_class="system"))]
    identities += [_as_dict(stix2.v21.Identity(
        id=center_identity_id(center_id), created=LOCATION_CREATED, modified=LOCATION_CREATED,
        name=center_names.get(center_id, center_id), identity_class="organization",
        sectors=["government"]))
        for center_id in sorted(set(products["center_id"].to_list()))]
    objects = [*identities, extension_definition(),
               *[tlp_marking_definition(marking) for marking in markings],
               *location_objects(state, counties, statewide), *reports, note]
    bundle = {"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": objects}
    return StixExport(bundle, products=len(reports), cells=cells.height,
                      incidents=int(cells["incidents"].sum()), marking=most_restrictive(markings))


def audited_stix_export(engine: sa.Engine, username: str, config: ProjectConfig,
                        data: ViewData, filters: Filters, today: date, now: datetime, *,
                        page: str, file_name: str) -> tuple[bytes, StixExport]:
    """The bundle as the file's bytes (UTF-8 JSON), recorded in the audit trail as a download
    by ``username`` from ``page`` (the command line or a page's button), with its marking, the
    filters and what it holds."""
    export = stix_export(config, data, filters, today, now)
    audit.record(engine, username, "download", page=page, rows=export.products + export.cells,
                 detail={"file": file_name, "format": "stix-2.1", "marking": export.marking,
                         "filters": to_query_params(filters), "products": export.products,
                         "cells": export.cells, "data_version": data.base.data_version})
    text = json.dumps(export.bundle, indent=2, ensure_ascii=False) + "\n"
    return text.encode("utf-8"), export
