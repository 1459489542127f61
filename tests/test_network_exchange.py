"""The national network's signed bundles (issue 16, item 4): export -> import round trip,
every rejection, and the attack test: nothing in a bundle depends on a withheld cell."""

from __future__ import annotations

import base64
import json
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from dashboard.analytics.filters import Period
from dashboard.exchange.commands import exchange_app
from dashboard.exchange.network import (
    BundleRejected,
    ExportRefused,
    build_bundle,
    bundle_payload,
    canonical_bytes,
    import_bundle,
    key_id,
    new_key_pair,
)
from dashboard.frames import load_picture_frames
from dashboard.geo import state_counties
from dashboard.security.audit import audit_frame
from dashboard.settings import ProjectConfig, load_config
from dashboard.store import open_store

from .conftest import RI_FIXTURE

K = 5
PERIOD_START, PERIOD_END = date(2025, 3, 3), date(2025, 3, 30)  # four whole weeks
TODAY = date(2025, 4, 2)
NOW = datetime(2025, 4, 2, 12, tzinfo=UTC)
# Planted in the RI fixture: (county, day, category, SAR behaviour, marking, incidents).
PLANTED = [
    ("44007", date(2025, 3, 4), "gangs", None, "TLP:GREEN", 6),  # released
    ("44007", date(2025, 3, 5), "gangs", None, "TLP:CLEAR", 2),  # its CLEAR band: withheld
    ("44001", date(2025, 3, 11), "narcotics", None, "TLP:GREEN", 3),  # withheld
    ("44005", date(2025, 3, 18), "sar_analysis", "PHOTO", "TLP:GREEN", 5),  # released
    ("44003", date(2025, 3, 25), "cybercrime", "CYBER", "TLP:AMBER", 7),  # above GREEN
]
RELEASED_AT_GREEN = {("44007", "2025-03-09", "gangs", None): 6,
                     ("44005", "2025-03-23", "sar_analysis", "PHOTO"): 5}


def _write_keys(folder: Path, name: str) -> Ed25519PrivateKey:
    private_pem, public_pem = new_key_pair()
    (folder / f"{name}.pem").write_bytes(private_pem)
    (folder / f"{name}.pub.pem").write_bytes(public_pem)
    key = serialization.load_pem_private_key(private_pem, password=None)
    assert isinstance(key, Ed25519PrivateKey)
    return key


@pytest.fixture(scope="module")
def sender(tmp_path_factory: pytest.TempPathFactory
           ) -> tuple[ProjectConfig, sa.Engine, Ed25519PrivateKey]:
    """Rhode Island with the planted incidents, ingested, with a signing key."""
    from dashboard.ingest.pipeline import run_ingest

    folder = tmp_path_factory.mktemp("sender")
    shutil.copytree(RI_FIXTURE, folder, dirs_exist_ok=True)
    lines = []
    for number, (fips, day, category, behaviour, marking, count) in enumerate(PLANTED):
        for copy in range(count):
            row: dict[str, Any] = {
                "id": f"NETX-{number}-{copy}", "when": f"{day}T12:00:00Z", "type": category,
                "fips": fips, "lat": 41.712345 + copy / 1e5, "lon": -71.498765,
                "tlp": marking, "text": f"SECRET-NARRATIVE-{number}-{copy}"}
            if behaviour:
                row["sar_behavior"] = behaviour
            lines.append(json.dumps(row))
    feed = folder / "feeds" / "prov_incidents.ndjson"
    feed.write_text(feed.read_text() + "\n".join(lines) + "\n")
    key = _write_keys(folder / "config", "ri_signing")
    settings_file = folder / "config" / "settings.toml"
    settings_file.write_text(settings_file.read_text()
                             + '\n[exchange]\nsigning_key = "ri_signing.pem"\n')
    config = load_config(folder / "config")
    engine = open_store(f"sqlite:///{folder / 'store.sqlite'}")
    run_ingest(config, engine)
    return config, engine, key


@pytest.fixture
def receiver(tmp_path: Path, sender: tuple[ProjectConfig, sa.Engine, Ed25519PrivateKey]
             ) -> tuple[ProjectConfig, sa.Engine]:
    """A Connecticut deployment with no centers that trusts Rhode Island's key."""
    sender_config = sender[0]
    config_dir = tmp_path / "ct"
    config_dir.mkdir()
    shutil.copy(sender_config.config_dir / "taxonomy.toml", config_dir)
    shutil.copy(sender_config.config_dir / "ri_signing.pub.pem", config_dir / "ri.pub.pem")
    (config_dir / "settings.toml").write_text(
        'state = "CT"\n[exchange]\ntrusted_keys = { RI = ["ri.pub.pem"] }\n')
    counties = json.dumps(sorted(state_counties("CT")["county_fips"]))
    (config_dir / "regions.toml").write_text(
        f'[[regions]]\nid = "ct"\nname = "Connecticut"\ncounties = {counties}\n')
    (config_dir / "centers.toml").write_text("centers = []\n")
    return load_config(config_dir), open_store(f"sqlite:///{tmp_path / 'ct.sqlite'}")


def _bundle(sender: tuple[ProjectConfig, sa.Engine, Ed25519PrivateKey],
            marking: str = "TLP:GREEN") -> dict[str, Any]:
    config, engine, _ = sender
    return build_bundle(config, engine, PERIOD_START, PERIOD_END, marking, TODAY, now=NOW)


def _resigned(bundle: dict[str, Any], key: Ed25519PrivateKey) -> dict[str, Any]:
    """``bundle`` as its changes would be signed by ``key`` (a sender's own mistake)."""
    envelope = {name: value for name, value in bundle.items() if name != "signature"}
    envelope["key_id"] = key_id(key.public_key())
    signature = base64.b64encode(key.sign(canonical_bytes(envelope))).decode("ascii")
    return {**envelope, "signature": signature}


def _write(folder: Path, content: bytes | dict[str, Any]) -> Path:
    path = folder / "bundle.json"
    path.write_bytes(content if isinstance(content, bytes) else canonical_bytes(content))
    return path


def _stored(engine: sa.Engine) -> set[tuple[Any, ...]]:
    with engine.connect() as connection:
        return set(connection.execute(sa.text(
            "SELECT sending_state, county_fips, week_end, category, sar_behavior, count "
            "FROM network_counts")).all())


def _bundle_rows(engine: sa.Engine) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(sa.text(
            "SELECT * FROM network_bundles ORDER BY bundle_id")).all()]


def test_round_trip_stores_exactly_the_released_cells(
        sender: tuple[ProjectConfig, sa.Engine, Ed25519PrivateKey],
        receiver: tuple[ProjectConfig, sa.Engine], tmp_path: Path) -> None:
    bundle = _bundle(sender)
    cells = {(c["county_fips"], c["week_end"], c["category"], c["sar_behavior"]): c["count"]
             for c in bundle["payload"]["counts"]}
    # The CLEAR band of the gangs cell (2), the narcotics cell (3) are withheld; AMBER is out.
    assert cells == RELEASED_AT_GREEN
    receiver_config, receiver_engine = receiver
    result = import_bundle(receiver_engine, receiver_config, _write(tmp_path, bundle), "cli:t",
                           now=NOW)
    assert result.bundle.state == "RI" and result.bundle.incidents == 11
    assert _stored(receiver_engine) == {("RI", *key, count) for key, count in cells.items()}
    # The sender's released cells, computed independently from its frames, add up the same.
    incidents = load_picture_frames(sender[1], "UTC").incidents.filter(
        pl.col("occurred_date").is_between(PERIOD_START, PERIOD_END)
        & pl.col("tlp").is_in(["TLP:CLEAR", "TLP:GREEN"]) & ~pl.col("is_duplicate"))
    band_cells = incidents.group_by("county_fips", "category", "sar_behavior", "tlp",
                                    pl.col("occurred_date").dt.week()).len()
    assert band_cells.filter(pl.col("len") >= K)["len"].sum() == sum(
        count for *_, count in _stored(receiver_engine)) == 11
    with receiver_engine.connect() as connection:
        coverage = connection.execute(sa.text(
            "SELECT scope, area_id, topic, covered, as_of FROM network_coverage")).all()
    topics = set(receiver_config.taxonomy.categories)
    assert len(coverage) == len(topics) * (5 + 2)  # RI: 5 counties, 2 regions
    assert {row[4] for row in coverage} == {"2025-03-30"}
    [record] = _bundle_rows(receiver_engine)
    assert (record["status"], record["sending_state"], record["cells"], record["incidents"],
            record["marking"]) == ("accepted", "RI", 2, 11, "TLP:GREEN")


def test_amber_bundle_adds_amber_cells_and_markings_do_not_difference(
        sender: tuple[ProjectConfig, sa.Engine, Ed25519PrivateKey]) -> None:
    def cells(marking: str) -> dict[tuple[Any, ...], int]:
        return {(c["county_fips"], c["week_end"], c["category"], c["sar_behavior"]):
                c["count"] for c in _bundle(sender, marking)["payload"]["counts"]}

    assert cells("TLP:AMBER") == {**RELEASED_AT_GREEN,
                                  ("44003", "2025-03-30", "cybercrime", "CYBER"): 7}
    # The gangs cell holds 6 GREEN and 2 CLEAR incidents: the CLEAR bundle withholds it, and
    # the GREEN bundle does not count the 2 either, so the two never difference to 2.
    assert cells("TLP:CLEAR") == {}


def test_reimport_is_idempotent(sender: tuple[ProjectConfig, sa.Engine, Ed25519PrivateKey],
                                receiver: tuple[ProjectConfig, sa.Engine],
                                tmp_path: Path) -> None:
    receiver_config, receiver_engine = receiver
    path = _write(tmp_path, _bundle(sender))
    import_bundle(receiver_engine, receiver_config, path, "cli:t", now=NOW)
    first = _stored(receiver_engine)
    import_bundle(receiver_engine, receiver_config, path, "cli:t", now=NOW)
    assert _stored(receiver_engine) == first and len(first) == 2
    with receiver_engine.connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM network_counts")).scalar() == 2
    assert [row["status"] for row in _bundle_rows(receiver_engine)] == ["accepted"] * 2


def _tampered(bundle: dict[str, Any]) -> bytes:
    content = canonical_bytes(bundle)
    assert content.count(b'"count":6') == 1
    return content.replace(b'"count":6', b'"count":7')


def _with_payload_row(sender: tuple[ProjectConfig, sa.Engine, Ed25519PrivateKey],
                      **changes: Any) -> dict[str, Any]:
    bundle = _bundle(sender)
    payload = json.loads(json.dumps(bundle["payload"]))
    payload["counts"][0] |= changes
    return _resigned({**bundle, "payload": payload}, sender[2])


REJECTIONS: dict[str, tuple[Any, str]] = {
    "not json": (lambda s: b"\x89PNG not a bundle", "not JSON"),
    "unsigned": (lambda s: {k: v for k, v in _bundle(s).items() if k != "signature"},
                 "unsigned"),
    "unknown key": (lambda s: _resigned(_bundle(s), Ed25519PrivateKey.generate()),
                    "unknown key sha256:"),
    "tampered": (lambda s: _tampered(_bundle(s)), "bad signature"),
    "unknown county": (lambda s: _with_payload_row(s, county_fips="09001"),
                       "'09001' is not a county of RI"),
    "negative count": (lambda s: _with_payload_row(s, count=-3), "is not a count"),
    "small cell": (lambda s: _with_payload_row(s, count=2), "under k = 5"),
    "future period": (lambda s: _resigned(_bundle(s) | {"period": {
        "start": "2025-03-03", "end": "2025-04-06"}}, s[2]), "not in the past"),
}


@pytest.mark.parametrize("case", sorted(REJECTIONS))
def test_each_rejection_says_why_in_one_line_is_audited_and_stores_nothing(
        case: str, sender: tuple[ProjectConfig, sa.Engine, Ed25519PrivateKey],
        receiver: tuple[ProjectConfig, sa.Engine], tmp_path: Path) -> None:
    make, expected = REJECTIONS[case]
    receiver_config, receiver_engine = receiver
    with pytest.raises(BundleRejected) as rejection:
        import_bundle(receiver_engine, receiver_config, _write(tmp_path, make(sender)),
                      "cli:t", now=NOW)
    reason = str(rejection.value)
    assert expected in reason and "\n" not in reason
    assert _stored(receiver_engine) == set()
    with receiver_engine.connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM network_coverage")).scalar() \
            == 0
    [record] = _bundle_rows(receiver_engine)
    assert record["status"] == "rejected" and record["reason"] == reason
    [entry] = audit_frame(receiver_engine).filter(pl.col("action") == "exchange").to_dicts()
    detail = json.loads(entry["detail"])
    assert (entry["page"], detail["status"], detail["reason"]) == (
        "exchange import", "rejected", reason)


def test_expired_and_own_state_bundles_are_rejected(
        sender: tuple[ProjectConfig, sa.Engine, Ed25519PrivateKey],
        receiver: tuple[ProjectConfig, sa.Engine], tmp_path: Path) -> None:
    bundle = _bundle(sender)
    receiver_config, receiver_engine = receiver
    path = _write(tmp_path, bundle)
    with pytest.raises(BundleRejected, match=r"^expired on 2025-05-02"):
        import_bundle(receiver_engine, receiver_config, path, "cli:t",
                      now=NOW + timedelta(days=30, seconds=1))
    sender_config, sender_engine, _ = sender
    with pytest.raises(BundleRejected, match="own state"):
        import_bundle(sender_engine, sender_config, path, "cli:t", now=NOW)
    assert _stored(receiver_engine) == set() and _stored(sender_engine) == set()
    assert [row["status"] for row in _bundle_rows(receiver_engine)] == ["rejected"]


def test_export_refuses_partial_weeks_weeks_not_over_and_strict_markings(
        sender: tuple[ProjectConfig, sa.Engine, Ed25519PrivateKey]) -> None:
    config, engine, _ = sender
    with pytest.raises(ExportRefused, match="whole weeks"):
        build_bundle(config, engine, date(2025, 3, 4), PERIOD_END, "TLP:GREEN", TODAY)
    with pytest.raises(ExportRefused, match="last complete week ended 2025-03-30"):
        build_bundle(config, engine, PERIOD_START, date(2025, 4, 6), "TLP:GREEN", TODAY)
    with pytest.raises(ExportRefused, match="marking"):
        build_bundle(config, engine, PERIOD_START, PERIOD_END, "TLP:AMBER+STRICT", TODAY)


def test_no_record_text_id_or_coordinate_leaves(
        sender: tuple[ProjectConfig, sa.Engine, Ed25519PrivateKey]) -> None:
    content = canonical_bytes(_bundle(sender, "TLP:AMBER")).decode("utf-8")
    _, engine, _ = sender
    with engine.connect() as connection:
        incidents = connection.execute(sa.text(
            "SELECT incident_id, narrative, latitude, longitude FROM incidents")).all()
        products = connection.execute(sa.text(
            "SELECT product_id, title, summary FROM products")).all()
    secrets = {str(value) for row in [*incidents, *products] for value in row
               if value is not None}
    assert any(secret.startswith("SECRET-NARRATIVE") for secret in secrets)
    assert [secret for secret in secrets if len(secret) >= 4 and secret in content] == []


# --- the attack: nothing in a bundle depends on a withheld cell --------------------------------

COUNTIES = ("44001", "44003", "44005", "44007", "44009")
BAND_CELL = st.tuples(st.sampled_from(COUNTIES), st.integers(0, 3),
                      st.sampled_from(("gangs", "narcotics", "sar_analysis")),
                      st.sampled_from((None, "PHOTO")),
                      st.sampled_from(("TLP:CLEAR", "TLP:GREEN", "TLP:AMBER")))


def _incidents(cells: dict[tuple[Any, ...], int], duplicates: int) -> pl.DataFrame:
    """Incident rows (the columns a bundle reads) holding ``cells``' counts, each cell also
    with ``duplicates`` cross-center duplicate reports (counted once: not at all)."""
    rows = [{"county_fips": fips, "category": category, "sar_behavior": behaviour,
             "tlp": marking, "occurred_date": PERIOD_START + timedelta(days=7 * week + spread),
             "is_duplicate": copy >= count}
            for (fips, week, category, behaviour, marking), count in cells.items()
            for copy in range(count + duplicates) for spread in [copy % 7]]
    return pl.DataFrame(rows, schema={"county_fips": pl.String, "category": pl.String,
                                      "sar_behavior": pl.String, "tlp": pl.String,
                                      "occurred_date": pl.Date, "is_duplicate": pl.Boolean})


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(others=st.dictionaries(BAND_CELL, st.integers(1, 12), max_size=25), target=BAND_CELL,
       small=st.integers(1, K - 1), duplicates=st.integers(0, 2),
       marking=st.sampled_from(("TLP:CLEAR", "TLP:GREEN", "TLP:AMBER")))
def test_attack_a_withheld_cell_changes_nothing_in_the_bundle(
        sender: tuple[ProjectConfig, sa.Engine, Ed25519PrivateKey], others: dict[Any, int],
        target: tuple[Any, ...], small: int, duplicates: int, marking: str) -> None:
    config, engine, _ = sender
    products = load_picture_frames(engine, "UTC").products
    period = Period(PERIOD_START, PERIOD_END)
    absent = {cell: count for cell, count in others.items() if cell != target}
    with_small = {**absent, target: small}
    payload_without = bundle_payload(config, _incidents(absent, duplicates), products, period,
                                     marking)
    payload_with = bundle_payload(config, _incidents(with_small, duplicates), products,
                                  period, marking)
    # Every figure (so every sum and difference of figures) is the same with the cell at 0
    # and at its true count: the bundle cannot tell them apart.
    assert canonical_bytes(payload_with) == canonical_bytes(payload_without)
    # ... while the released cells are all there, at their counts.
    released = sum(count for (_, _, _, _, band), count in absent.items()
                   if count >= K and band in {"TLP:CLEAR": ["TLP:CLEAR"],
                                              "TLP:GREEN": ["TLP:CLEAR", "TLP:GREEN"],
                                              "TLP:AMBER": ["TLP:CLEAR", "TLP:GREEN",
                                                            "TLP:AMBER"]}[marking])
    assert sum(row["count"] for row in payload_with["counts"]) == released


def test_cli_keygen_export_import(sender: tuple[ProjectConfig, sa.Engine, Ed25519PrivateKey],
                                  receiver: tuple[ProjectConfig, sa.Engine],
                                  tmp_path: Path) -> None:
    runner = CliRunner()
    keys = tmp_path / "keys"
    result = runner.invoke(exchange_app, ["keygen", "--out-dir", str(keys)])
    assert result.exit_code == 0, result.output
    assert (keys / "signing_key.pem").stat().st_mode & 0o077 == 0
    assert runner.invoke(exchange_app, ["keygen", "--out-dir", str(keys)]).exit_code == 1
    sender_config, sender_engine, _ = sender
    out = tmp_path / "ri.bundle.json"
    result = runner.invoke(exchange_app, [
        "export", "--period-start", "2025-03-03", "--period-end", "2025-03-30",
        "--marking", "TLP:GREEN", "--out", str(out),
        "--config", str(sender_config.config_dir), "--store", str(sender_engine.url)])
    assert result.exit_code == 0, result.output
    receiver_config, receiver_engine = receiver
    store = ["--config", str(receiver_config.config_dir), "--store", str(receiver_engine.url)]
    result = runner.invoke(exchange_app, ["import", str(out), *store])
    assert result.exit_code == 0, result.output
    assert "accepted TLP:GREEN bundle of RI" in result.output
    out.write_bytes(out.read_bytes().replace(b'"count":6', b'"count":60'))
    result = runner.invoke(exchange_app, ["import", str(out), *store])
    assert result.exit_code == 1 and "rejected: bad signature" in result.output
