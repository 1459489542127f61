"""The national network: a state's released aggregates as a signed bundle, and its import by
another deployment (issue 16, item 4; README, "The national network: exchange and trust model").

**What leaves a state.** A bundle holds, for one period of whole weeks (Monday to Sunday) and
one TLP marking, incident counts by county x week (dated by its Sunday) x threat category x
SAR behaviour (null for incidents that are not SARs), cross-center duplicates once; whether a
current analytic product covers each topic in each county and region at the period's end; and
the labels to read them (categories, SAR behaviours, regions and their counties). Only
incidents and products marked at or below the bundle's marking go in, and a bundle is marked
TLP:CLEAR, TLP:GREEN or TLP:AMBER only (AMBER+STRICT and RED do not leave their organisation
or named recipients). No record, id, narrative, coordinate, center, severity or time of day
leaves.

**Small cells.** The counts are a release by the audience policy's rule and k
(:func:`dashboard.security.audience.release_cells`, ``[security] partner_min_count``): a cell
of 1 to k-1 incidents is withheld and counted nowhere, and the bundle is a function of the
released cells alone, so nothing in it, nor any sum or difference of its figures, determines a
withheld count. The partition is cut once more, by marking: a cell is released per marking
band (CLEAR, GREEN, AMBER) and a bundle's figure is the sum of the released bands at or below
its marking. Without that band, a TLP:GREEN and a TLP:CLEAR bundle of the same period would
differ by the GREEN incidents of a cell, which can be fewer than k. Unlike the partner pages,
a bundle does not say how many cells were withheld (that would tell a receiver a small cell
exists); it says k.

**Who signs.** The sending deployment signs the canonical bytes of the whole bundle (sorted-key
compact JSON, UTF-8, the signature itself left out) with its Ed25519 private key
(``[exchange] signing_key``, made by ``threat-picture exchange keygen``; it stays with the
state). The bundle names the key by the SHA-256 fingerprint of its public key.

**What a receiver accepts.** A signature is always required. A receiver accepts a bundle only
when the key it names is one of the public keys it trusts *for the state the bundle says it
comes from* (``[exchange] trusted_keys``, exchanged out of band), the signature verifies, it
has not expired, it is not from the receiver's own state, its period is whole weeks that have
ended, and every row is well formed (a county of that state, a count of at least the bundle's
k, which may not be below the receiver's own k). Anything else is rejected with one line, and
every attempt is recorded in the audit trail and in ``network_bundles``. An accepted bundle
replaces that state's figures for its weeks, in one transaction, so a re-import changes nothing.

**What a receiver can and cannot learn.** It learns the released counts and coverage above, no
more: not which center reported, not where or when within a week, not the withheld cells nor
whether there were any. Two bundles of the same period made at different times can differ by
incidents reported late; the sender's audit trail records every export.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import sqlalchemy as sa
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from dashboard.analytics.coverage import CoverageScope, Level, product_cells
from dashboard.analytics.filters import Filters, Period, last_complete_week_end
from dashboard.frames import load_picture_frames
from dashboard.geo import known_state_postals, state_counties
from dashboard.security import audit, clock
from dashboard.security.audience import release_cells
from dashboard.security.policy import TLP_RANK
from dashboard.settings import ConfigError, ProjectConfig
from dashboard.store import table, write_transaction

FORMAT = "threat-picture/network-bundle/1"
# Markings a bundle may carry: AMBER+STRICT stays inside its organisation, RED with its named
# recipients.
BUNDLE_MARKINGS = ("TLP:CLEAR", "TLP:GREEN", "TLP:AMBER")
# The exchange's partition beside the week; the marking band keeps bundles of different
# markings from differencing to a small count (module docstring).
EXCHANGE_KEYS = ("county_fips", "category", "sar_behavior", "tlp")
COUNT_KEYS = ("county_fips", "week_end", "category", "sar_behavior")
ENVELOPE_FIELDS = frozenset({"format", "state", "period", "marking", "created_at", "expires_at",
                             "key_id", "payload", "signature"})
PAYLOAD_FIELDS = frozenset({"min_count", "categories", "sar_behaviors", "regions", "counts",
                            "coverage"})
COUNTS_SCHEMA = {"county_fips": pl.String, "week_end": pl.Date, "category": pl.String,
                 "sar_behavior": pl.String, "count": pl.Int64}
COVERAGE_SCHEMA = {"scope": pl.String, "area_id": pl.String, "topic": pl.String,
                   "covered": pl.Boolean}


class BundleRejected(ValueError):
    """A bundle not accepted, with one line saying why."""


class ExportRefused(ValueError):
    """A bundle that cannot be made as asked, with one line saying why."""


# --- keys and canonical bytes ---------------------------------------------------------------


def canonical_bytes(value: Any) -> bytes:
    """The one byte form that is signed: sorted keys, no spaces, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def key_id(public_key: Ed25519PublicKey) -> str:
    """A public key's name in a bundle: the SHA-256 of its 32 raw bytes."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return f"sha256:{hashlib.sha256(raw).hexdigest()}"


def new_key_pair() -> tuple[bytes, bytes]:
    """A new Ed25519 key pair as PEM: (private key, unencrypted PKCS#8; public key)."""
    private = Ed25519PrivateKey.generate()
    return (private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()),
            private.public_key().public_bytes(serialization.Encoding.PEM,
                                              serialization.PublicFormat.SubjectPublicKeyInfo))


def _read_key_file(config: ProjectConfig, setting: str, relative: str) -> bytes:
    try:
        return (config.config_dir / relative).read_bytes()
    except OSError as error:
        raise ConfigError(f"{config.config_dir / 'settings.toml'}: {setting}: cannot read "
                          f"{relative!r}: {error.strerror or error}") from error


def signing_key(config: ProjectConfig) -> Ed25519PrivateKey:
    """This state's private key ([exchange] signing_key)."""
    relative = config.settings.exchange.signing_key
    if relative is None:
        raise ExportRefused("no [exchange] signing_key in settings.toml: make one with "
                            "`threat-picture exchange keygen`")
    pem = _read_key_file(config, "exchange.signing_key", relative)
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as error:
        raise ConfigError(f"{config.config_dir / 'settings.toml'}: exchange.signing_key: "
                          f"{relative!r} is not an unencrypted PEM private key") from error
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"{config.config_dir / 'settings.toml'}: exchange.signing_key: "
                          f"{relative!r} is not an Ed25519 key")
    return key


TrustedKeys = Mapping[str, Mapping[str, Ed25519PublicKey]]  # state -> key id -> key


def trusted_keys(config: ProjectConfig) -> dict[str, dict[str, Ed25519PublicKey]]:
    """The public keys this deployment accepts bundles from, by state and key id."""
    trusted: dict[str, dict[str, Ed25519PublicKey]] = {}
    for state, paths in config.settings.exchange.trusted_keys.items():
        setting = f"exchange.trusted_keys.{state}"
        for relative in paths:
            pem = _read_key_file(config, setting, relative)
            try:
                key = serialization.load_pem_public_key(pem)
            except ValueError as error:
                raise ConfigError(f"{config.config_dir / 'settings.toml'}: {setting}: "
                                  f"{relative!r} is not a PEM public key") from error
            if not isinstance(key, Ed25519PublicKey):
                raise ConfigError(f"{config.config_dir / 'settings.toml'}: {setting}: "
                                  f"{relative!r} is not an Ed25519 key")
            trusted.setdefault(state, {})[key_id(key)] = key
    return trusted


# --- what a bundle holds --------------------------------------------------------------------


def marking_allows(marking: str) -> list[str]:
    """The record markings a bundle marked ``marking`` may include."""
    return [name for name in BUNDLE_MARKINGS if TLP_RANK[name] <= TLP_RANK[marking]]


def exchange_cells(incidents: pl.DataFrame, period: Period, marking: str,
                   min_count: int) -> pl.DataFrame:
    """Released counts (COUNTS_SCHEMA) of the incidents in ``period`` a bundle marked
    ``marking`` may hold: each (cell, marking band) released by the audience policy's rule,
    then the bands summed (module docstring)."""
    eligible = incidents.filter(
        pl.col("occurred_date").is_between(period.start, period.end)
        & pl.col("tlp").is_in(marking_allows(marking))
    ).with_columns(pl.when(pl.col("sar_behavior") != "").then(pl.col("sar_behavior"))
                   .alias("sar_behavior"))
    released, _withheld = release_cells(eligible, min_count, period.end, EXCHANGE_KEYS)
    return released.group_by("county_fips", pl.col("occurred_date").alias("week_end"),
                              "category", "sar_behavior").agg(
        pl.col("count").sum().cast(pl.Int64)
    ).select(COUNTS_SCHEMA.keys()).cast(COUNTS_SCHEMA).sort(  # type: ignore[arg-type]
        COUNT_KEYS, nulls_last=False)


def coverage_flags(products: pl.DataFrame, period: Period, marking: str,
                   scope: CoverageScope) -> pl.DataFrame:
    """For every topic and county, and every topic and region: whether a product the bundle
    may mention is current on it at the period's end (the Coverage page's rule)."""
    eligible = products.filter(pl.col("tlp").is_in(marking_allows(marking)))
    flags = []
    levels: tuple[tuple[Level, list[str]], ...] = (
        ("county", sorted(scope.county_to_region)), ("region", list(scope.regions)))
    for level, areas in levels:
        covered = product_cells(eligible, Filters(), period, scope, level).filter(
            pl.col("current")).select("topic", "area_id").unique()
        grid = pl.DataFrame({"topic": list(scope.topics)}, schema={"topic": pl.String}).join(
            pl.DataFrame({"area_id": areas}, schema={"area_id": pl.String}), how="cross")
        flags.append(grid.join(covered.with_columns(pl.lit(True).alias("covered")),
                               on=["topic", "area_id"], how="left").select(
            pl.lit(level).alias("scope"), "area_id", "topic",
            pl.col("covered").fill_null(False)))
    return pl.concat(flags).cast(COVERAGE_SCHEMA).sort(  # type: ignore[arg-type]
        "scope", "area_id", "topic")


def bundle_payload(config: ProjectConfig, incidents: pl.DataFrame, products: pl.DataFrame,
                   period: Period, marking: str) -> dict[str, Any]:
    """What a bundle says: released counts, coverage and their labels (no signature)."""
    min_count = config.settings.security.partner_min_count
    counts = exchange_cells(incidents, period, marking, min_count)
    coverage = coverage_flags(products, period, marking, CoverageScope.from_config(config))
    return {
        "min_count": min_count,
        "categories": {key: value.label for key, value in config.taxonomy.categories.items()},
        "sar_behaviors": dict(config.taxonomy.sar_behaviors),
        "regions": [{"id": region.id, "name": region.name, "counties": sorted(region.counties)}
                    for region in config.regions],
        "counts": [{**row, "week_end": row["week_end"].isoformat()}
                   for row in counts.iter_rows(named=True)],
        "coverage": {"as_of": period.end.isoformat(),
                     "current_window_days": config.settings.coverage.current_window_days,
                     "cells": list(coverage.iter_rows(named=True))},
    }


def export_period(period_start: date, period_end: date, today: date) -> Period:
    """The period asked for, if a bundle may cover it: whole weeks, all ended by ``today``
    (a fixed partition: two bundles of overlapping periods difference to whole weeks only)."""
    if period_start.isoweekday() != 1 or period_end.isoweekday() != 7:
        raise ExportRefused(f"period {period_start} to {period_end}: a bundle covers whole "
                            "weeks, from a Monday to a Sunday")
    if period_end < period_start:
        raise ExportRefused(f"period {period_start} to {period_end}: ends before it starts")
    last = last_complete_week_end(today)
    if period_end > last:
        raise ExportRefused(f"period ends {period_end}: the last complete week ended {last}")
    return Period(period_start, period_end)


def build_bundle(config: ProjectConfig, engine: sa.Engine, period_start: date,
                 period_end: date, marking: str, today: date,
                 now: datetime | None = None) -> dict[str, Any]:
    """This state's signed bundle of released aggregates for the period at ``marking``."""
    if marking not in BUNDLE_MARKINGS:
        raise ExportRefused(f"marking {marking!r}: a bundle is marked "
                            f"{', '.join(BUNDLE_MARKINGS)}")
    period = export_period(period_start, period_end, today)
    private_key = signing_key(config)
    frames = load_picture_frames(engine, config.settings.timezone)
    created_at = (now or clock.now()).astimezone(UTC)
    expires_at = created_at + timedelta(days=config.settings.exchange.bundle_days_valid)
    envelope = {
        "format": FORMAT,
        "state": config.settings.state,
        "period": {"start": period.start.isoformat(), "end": period.end.isoformat()},
        "marking": marking,
        "created_at": created_at.isoformat(),
        "expires_at": expires_at.isoformat(),
        "key_id": key_id(private_key.public_key()),
        "payload": bundle_payload(config, frames.incidents, frames.products, period, marking),
    }
    signature = private_key.sign(canonical_bytes(envelope))
    return {**envelope, "signature": base64.b64encode(signature).decode("ascii")}


def export_bundle(config: ProjectConfig, engine: sa.Engine, period_start: date,
                  period_end: date, marking: str, out: Path, actor: str,
                  today: date) -> dict[str, Any]:
    """Build, write (canonical bytes) and audit a bundle; returns it."""
    bundle = build_bundle(config, engine, period_start, period_end, marking, today)
    content = canonical_bytes(bundle)
    out.write_bytes(content)
    counts = bundle["payload"]["counts"]
    audit.record(engine, actor, "exchange", page="exchange export", rows=len(counts),
                 detail={"status": "exported", "file": out.name, "marking": marking,
                         "period": bundle["period"], "key_id": bundle["key_id"],
                         "cells": len(counts), "incidents": sum(c["count"] for c in counts),
                         "content_hash": hashlib.sha256(content).hexdigest()})
    return bundle


# --- verifying and importing ----------------------------------------------------------------


@dataclass(frozen=True)
class VerifiedBundle:
    """A bundle whose signature, key, dates and rows were all checked."""

    state: str
    key_id: str
    period: Period
    marking: str
    created_at: datetime
    expires_at: datetime
    min_count: int
    counts: pl.DataFrame  # COUNTS_SCHEMA
    coverage: pl.DataFrame  # COVERAGE_SCHEMA, with area_name
    coverage_as_of: date

    @property
    def incidents(self) -> int:
        return int(self.counts["count"].sum())


def _reject(reason: str) -> BundleRejected:
    return BundleRejected(" ".join(reason.split()))


def _date(value: Any, what: str) -> date:
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise _reject(f"not a network bundle: {what} is not a date") from None


def _moment(value: Any, what: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise _reject(f"not a network bundle: {what} is not a time") from None
    if moment.tzinfo is None:
        raise _reject(f"not a network bundle: {what} has no time zone")
    return moment.astimezone(UTC)


def _envelope(bundle_bytes: bytes) -> dict[str, Any]:
    try:
        envelope = json.loads(bundle_bytes.decode("utf-8"),
                              parse_constant=lambda name: _raise_constant(name))
    except (UnicodeDecodeError, ValueError):
        raise _reject("not JSON") from None
    if not isinstance(envelope, dict) or envelope.get("format") != FORMAT:
        raise _reject(f"not a network bundle (format {FORMAT} expected)")
    if not envelope.get("signature"):
        raise _reject("unsigned: every bundle must carry its sender's signature")
    missing = sorted(ENVELOPE_FIELDS - set(envelope))
    extra = sorted(set(envelope) - ENVELOPE_FIELDS)
    if missing or extra:
        raise _reject(f"not a network bundle: fields {', '.join(missing)} missing"
                      if missing else f"not a network bundle: unknown fields {', '.join(extra)}")
    return envelope


def _raise_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number")


def verify_bundle(bundle_bytes: bytes, trusted: TrustedKeys, now: datetime, *,
                  receiving_state: str, min_count_floor: int = 1) -> VerifiedBundle:
    """The bundle, once it is shown to be signed by a key trusted for its state, current,
    not this state's own and well formed; else :class:`BundleRejected` with one line."""
    envelope = _envelope(bundle_bytes)
    state = envelope["state"]
    if not isinstance(state, str) or state not in known_state_postals():
        raise _reject(f"not a network bundle: unknown sending state {str(state)[:20]!r}")
    if state == receiving_state:
        raise _reject(f"from this deployment's own state ({state}): its figures are not "
                      "imported, they are ingested")
    claimed_key = envelope["key_id"]
    public_key = trusted.get(state, {}).get(claimed_key) if isinstance(claimed_key, str) \
        else None
    if public_key is None:
        raise _reject(f"unknown key {str(claimed_key)[:80]} for {state}: not among the keys "
                      f"[exchange] trusted_keys lists for {state}")
    signed = {name: value for name, value in envelope.items() if name != "signature"}
    try:
        signature = base64.b64decode(envelope["signature"], validate=True)
        public_key.verify(signature, canonical_bytes(signed))
    except (InvalidSignature, ValueError, TypeError):
        raise _reject("bad signature: the bundle was altered after it was signed, or not "
                      f"signed with key {claimed_key}") from None
    # Signed, so the sender said all that follows; still checked, as a sender's bug would
    # otherwise reach the network's figures.
    created_at = _moment(envelope["created_at"], "created_at")
    expires_at = _moment(envelope["expires_at"], "expires_at")
    if now >= expires_at:
        raise _reject(f"expired on {expires_at:%Y-%m-%d %H:%M} UTC")
    period_field = envelope["period"]
    if not isinstance(period_field, dict):
        raise _reject("not a network bundle: period is not {start, end}")
    period = Period(_date(period_field.get("start"), "period start"),
                    _date(period_field.get("end"), "period end"))
    if period.end >= now.date():
        raise _reject(f"period ends {period.end}, which is not in the past")
    if period.start.isoweekday() != 1 or period.end.isoweekday() != 7 \
            or period.end < period.start:
        raise _reject(f"period {period.start} to {period.end} is not whole weeks")
    marking = envelope["marking"]
    if marking not in BUNDLE_MARKINGS:
        raise _reject(f"marking {str(marking)[:30]!r} is not one a bundle may carry")
    payload = envelope["payload"]
    min_count, counts, coverage, as_of = _checked_payload(payload, state, period,
                                                          min_count_floor)
    return VerifiedBundle(state, claimed_key, period, marking, created_at, expires_at,
                          min_count, counts, coverage, as_of)


def _checked_payload(payload: Any, state: str, period: Period, min_count_floor: int
                     ) -> tuple[int, pl.DataFrame, pl.DataFrame, date]:
    """The payload's counts and coverage, every row checked (malformed: rejected)."""
    if not isinstance(payload, dict) or set(payload) != PAYLOAD_FIELDS:
        raise _reject("malformed payload: fields "
                      f"{', '.join(sorted(PAYLOAD_FIELDS))} expected")
    min_count = payload["min_count"]
    if not _is_int(min_count) or min_count < min_count_floor:
        raise _reject(f"malformed payload: k = {min_count!r} is below this deployment's "
                      f"small-cell k {min_count_floor}")
    categories, behaviours = payload["categories"], payload["sar_behaviors"]
    if not isinstance(categories, dict) or not isinstance(behaviours, dict):
        raise _reject("malformed payload: categories and sar_behaviors must be tables")
    boundaries = state_counties(state)
    counties = dict(zip(boundaries["county_fips"], boundaries["county_name"], strict=True))
    regions = _checked_regions(payload["regions"], counties, state)
    rows = payload["counts"]
    if not isinstance(rows, list):
        raise _reject("malformed payload: counts is not a list")
    seen: set[tuple[Any, ...]] = set()
    for number, row in enumerate(rows, start=1):
        where = f"malformed payload: counts row {number}"
        if not isinstance(row, dict) or set(row) != {*COUNT_KEYS, "count"}:
            raise _reject(f"{where}: fields {', '.join(COUNT_KEYS)}, count expected")
        if row["county_fips"] not in counties:
            raise _reject(f"{where}: {str(row['county_fips'])[:10]!r} is not a county of "
                          f"{state}")
        week_end = _date(row["week_end"], f"counts row {number} week_end")
        if week_end.isoweekday() != 7 or not period.start <= week_end <= period.end:
            raise _reject(f"{where}: week_end {week_end} is not a Sunday of the period")
        if row["category"] not in categories:
            raise _reject(f"{where}: category {str(row['category'])[:40]!r} is not in its "
                          "categories")
        if row["sar_behavior"] is not None and row["sar_behavior"] not in behaviours:
            raise _reject(f"{where}: SAR behaviour {str(row['sar_behavior'])[:40]!r} is not in "
                          "its sar_behaviors")
        count = row["count"]
        if not _is_int(count) or count < 0:
            raise _reject(f"{where}: count {str(count)[:20]} is not a count")
        if count < min_count:
            raise _reject(f"{where}: count {count} is under k = {min_count} (a small cell)")
        key = tuple(row[name] for name in COUNT_KEYS)
        if key in seen:
            raise _reject(f"{where}: the same cell twice")
        seen.add(key)
    counts = pl.DataFrame(rows, schema={name: pl.String for name in COUNT_KEYS}
                          | {"count": pl.Int64}).with_columns(
        pl.col("week_end").str.to_date()).select(COUNTS_SCHEMA.keys())
    coverage, as_of = _checked_coverage(payload["coverage"], counties, regions, categories,
                                        period)
    return min_count, counts, coverage, as_of


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _checked_regions(regions: Any, counties: Mapping[str, str], state: str) -> dict[str, str]:
    """Region id -> name, each region's counties being counties of ``state``."""
    if not isinstance(regions, list):
        raise _reject("malformed payload: regions is not a list")
    names: dict[str, str] = {}
    for region in regions:
        if not isinstance(region, dict) or set(region) != {"id", "name", "counties"} \
                or not isinstance(region["id"], str) or not isinstance(region["name"], str) \
                or not isinstance(region["counties"], list):
            raise _reject("malformed payload: a region is not {id, name, counties}")
        strangers = [fips for fips in region["counties"] if fips not in counties]
        if strangers:
            raise _reject(f"malformed payload: region {region['id'][:40]!r}: "
                          f"{str(strangers[0])[:10]!r} is not a county of {state}")
        names[region["id"]] = region["name"]
    return names


def _checked_coverage(coverage: Any, counties: Mapping[str, str], regions: Mapping[str, str],
                      categories: Mapping[str, Any], period: Period
                      ) -> tuple[pl.DataFrame, date]:
    if not isinstance(coverage, dict) or not isinstance(coverage.get("cells"), list):
        raise _reject("malformed payload: coverage is not {as_of, current_window_days, cells}")
    as_of = _date(coverage.get("as_of"), "coverage as_of")
    if as_of != period.end:
        raise _reject(f"malformed payload: coverage as of {as_of}, not the period's end")
    names = {"county": counties, "region": regions}
    rows = []
    seen: set[tuple[Any, ...]] = set()
    for number, cell in enumerate(coverage["cells"], start=1):
        where = f"malformed payload: coverage row {number}"
        if not isinstance(cell, dict) or set(cell) != set(COVERAGE_SCHEMA):
            raise _reject(f"{where}: fields {', '.join(COVERAGE_SCHEMA)} expected")
        areas = names.get(cell["scope"])
        if areas is None or cell["area_id"] not in areas:
            raise _reject(f"{where}: {str(cell['scope'])[:10]} {str(cell['area_id'])[:40]!r} "
                          "is not an area of the state")
        if cell["topic"] not in categories or not isinstance(cell["covered"], bool):
            raise _reject(f"{where}: topic not in its categories, or covered not true/false")
        key = (cell["scope"], cell["area_id"], cell["topic"])
        if key in seen:
            raise _reject(f"{where}: the same area and topic twice")
        seen.add(key)
        rows.append({**cell, "area_name": areas[cell["area_id"]]})
    return pl.DataFrame(rows, schema={**COVERAGE_SCHEMA, "area_name": pl.String}), as_of


@dataclass(frozen=True)
class ImportResult:
    bundle_id: int
    bundle: VerifiedBundle


def _claimed(bundle_bytes: bytes) -> dict[str, Any]:
    """What a rejected file says of itself, where it has the right shape (for the record)."""
    try:
        envelope = json.loads(bundle_bytes.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return {}
    if not isinstance(envelope, dict):
        return {}
    claimed: dict[str, Any] = {}
    if envelope.get("state") in known_state_postals():
        claimed["sending_state"] = envelope["state"]
    if isinstance(envelope.get("key_id"), str):
        claimed["key_id"] = envelope["key_id"][:100]
    if envelope.get("marking") in TLP_RANK:
        claimed["marking"] = envelope["marking"]
    period = envelope.get("period")
    for bound in ("start", "end"):
        value = period.get(bound) if isinstance(period, dict) else None
        with contextlib.suppress(TypeError, ValueError):
            claimed[f"period_{bound}"] = date.fromisoformat(value).isoformat()  # type: ignore
    return claimed


def import_bundle(engine: sa.Engine, config: ProjectConfig, path: Path, actor: str,
                  now: datetime | None = None) -> ImportResult:
    """Verify the bundle at ``path`` and store its aggregates under the sending state,
    replacing that state's figures for its weeks (one transaction; a re-import changes
    nothing). Every attempt is recorded in ``network_bundles`` and the audit trail; a
    rejected one stores nothing else and raises :class:`BundleRejected`."""
    received_at = now or clock.now()
    try:
        bundle_bytes = path.read_bytes()
    except OSError as error:
        raise BundleRejected(f"cannot read {path}: {error.strerror or error}") from error
    record = {"received_at": received_at, "received_by": actor[:100],
              "file_name": path.name[:300],
              "content_hash": hashlib.sha256(bundle_bytes).hexdigest()}
    try:
        verified = verify_bundle(bundle_bytes, trusted_keys(config), received_at,
                                 receiving_state=config.settings.state,
                                 min_count_floor=config.settings.security.partner_min_count)
    except BundleRejected as rejection:
        reason = str(rejection)
        with write_transaction(engine) as connection:
            bundle_id = connection.execute(table("network_bundles").insert().values(
                **record, **_claimed(bundle_bytes), status="rejected", reason=reason[:2000])
            ).inserted_primary_key[0]  # type: ignore[index]
        _audit_import(engine, actor, path, bundle_id, "rejected", reason=reason)
        raise
    bundle_id = _store(engine, verified, record, config)
    _audit_import(engine, actor, path, bundle_id, "accepted", verified)
    return ImportResult(int(bundle_id), verified)


# How an accepted bundle shows among a network deployment's loads (Data health, the data
# version that refreshes every page).
NETWORK_SOURCE, NETWORK_KIND = "network bundle", "network-bundle"


def _store(engine: sa.Engine, bundle: VerifiedBundle, record: Mapping[str, Any],
           config: ProjectConfig) -> int:
    counts_table, coverage_table = table("network_counts"), table("network_coverage")
    start, end = bundle.period.start.isoformat(), bundle.period.end.isoformat()
    as_of = bundle.coverage_as_of.isoformat()
    with write_transaction(engine) as connection:
        bundle_id = int(connection.execute(table("network_bundles").insert().values(
            **record, status="accepted", sending_state=bundle.state, key_id=bundle.key_id,
            period_start=start, period_end=end, marking=bundle.marking,
            created_at=bundle.created_at, expires_at=bundle.expires_at,
            cells=bundle.counts.height, incidents=bundle.incidents,
        )).inserted_primary_key[0])  # type: ignore[index]
        connection.execute(counts_table.delete().where(
            (counts_table.c.sending_state == bundle.state)
            & counts_table.c.week_end.between(start, end)))
        if bundle.counts.height:
            connection.execute(counts_table.insert(), [
                {**row, "week_end": row["week_end"].isoformat(),
                 "sending_state": bundle.state, "bundle_id": bundle_id}
                for row in bundle.counts.iter_rows(named=True)])
        # Coverage is a state's at one day: the latest day any accepted bundle judged it on.
        latest = connection.execute(sa.select(sa.func.max(coverage_table.c.as_of)).where(
            coverage_table.c.sending_state == bundle.state)).scalar_one()
        if latest is None or latest <= as_of:
            connection.execute(coverage_table.delete().where(
                coverage_table.c.sending_state == bundle.state))
            if bundle.coverage.height:
                connection.execute(coverage_table.insert(), [
                    {**row, "sending_state": bundle.state, "as_of": as_of,
                     "bundle_id": bundle_id}
                    for row in bundle.coverage.iter_rows(named=True)])
        if config.settings.network:
            # On a network deployment the bundle is its member state's load: it shows on Data
            # health as that state's feed, and its run id moves the data version, so every
            # page reads the new figures. Its regions and member "centers" come from config,
            # as an ingest mirrors them.
            from dashboard.ingest.pipeline import sync_reference_tables

            sync_reference_tables(connection, config, state_counties(config.settings.state))
            connection.execute(table("ingest_runs").insert().values(
                batch_id=f"exchange-{bundle_id}", center_id=bundle.state.lower(),
                source_name=NETWORK_SOURCE, table_name="incidents", connector_kind=NETWORK_KIND,
                location=record["file_name"], source_hash=record["content_hash"],
                started_at=record["received_at"], finished_at=record["received_at"],
                status="loaded", rows_read=bundle.counts.height,
                rows_inserted=bundle.counts.height, rows_updated=0, rows_unchanged=0,
                rows_rejected=0, rows_flagged=0))
    return bundle_id


def _audit_import(engine: sa.Engine, actor: str, path: Path, bundle_id: int, status: str,
                  bundle: VerifiedBundle | None = None, reason: str | None = None) -> None:
    detail: dict[str, Any] = {"status": status, "file": path.name, "bundle_id": bundle_id}
    if reason is not None:
        detail["reason"] = reason
    if bundle is not None:
        detail |= {"state": bundle.state, "key_id": bundle.key_id, "marking": bundle.marking,
                   "period": {"start": bundle.period.start.isoformat(),
                              "end": bundle.period.end.isoformat()},
                   "cells": bundle.counts.height, "incidents": bundle.incidents}
    audit.record(engine, actor, "exchange", page="exchange import", detail=detail,
                 rows=None if bundle is None else bundle.counts.height)
