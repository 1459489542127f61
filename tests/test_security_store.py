"""Accounts (lockout, generic failures), the append-only audit trail (SQLite and PostgreSQL),
28 CFR Part 23 purge and revalidation on a frozen clock, and the security commands."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from dashboard.cli import app
from dashboard.ingest.pipeline import run_ingest
from dashboard.security import accounts, audit, clock
from dashboard.security.retention import due_for_review, purge, revalidate
from dashboard.settings import ProjectConfig
from dashboard.store import open_store, operations_engine, table_row_counts

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture()
def frozen(monkeypatch: pytest.MonkeyPatch) -> list[datetime]:
    """The security clock, set to NOW; move it by assigning to item 0."""
    moment = [NOW]
    monkeypatch.setattr(clock, "now", lambda: moment[0])
    return moment


@pytest.fixture()
def with_users(ri_config: ProjectConfig, sqlite_store: sa.Engine) -> sa.Engine:
    accounts.ensure_demo_users(sqlite_store, ri_config)
    return sqlite_store


def test_demo_users_one_per_role_created_once(ri_config: ProjectConfig,
                                              sqlite_store: sa.Engine) -> None:
    created = accounts.ensure_demo_users(sqlite_store, ri_config)
    assert [(c.username, c.role) for c in created] == [
        ("admin", "admin"), ("director", "leadership"), ("analyst", "analyst"),
        ("partner", "partner")]
    assert accounts.ensure_demo_users(sqlite_store, ri_config) == []
    users = accounts.list_users(sqlite_store)
    assert "password_hash" not in users.columns
    assert set(users["center_id"]) == {"rifc"}


def test_password_is_stored_as_argon2_hash(with_users: sa.Engine) -> None:
    with operations_engine(with_users).connect() as connection:
        stored = connection.execute(sa.text(
            "SELECT password_hash FROM users WHERE username = 'analyst'")).scalar_one()
    assert stored.startswith("$argon2id$") and "analyst-demo-2026" not in stored


def test_sign_in_succeeds_and_fails_without_saying_why(with_users: sa.Engine,
                                                       ri_config: ProjectConfig,
                                                       frozen: list[datetime]) -> None:
    security = ri_config.settings.security
    viewer = accounts.authenticate(with_users, "analyst", "analyst-demo-2026", security)
    assert viewer is not None and (viewer.role, viewer.center_id) == ("analyst", "rifc")
    # Unknown user, wrong password, blank: the same answer (None), nothing else to tell apart.
    assert accounts.authenticate(with_users, "nobody", "analyst-demo-2026", security) is None
    assert accounts.authenticate(with_users, "analyst", "wrong password!", security) is None
    accounts.set_disabled(with_users, "director", True)
    assert accounts.authenticate(with_users, "director", "director-demo-2026", security) is None


def test_five_failures_lock_the_account_for_ten_minutes(with_users: sa.Engine,
                                                        ri_config: ProjectConfig,
                                                        frozen: list[datetime]) -> None:
    security = ri_config.settings.security
    for _ in range(4):
        assert accounts.authenticate(with_users, "analyst", "wrong password!", security) is None
    # Four failures: the right password still works and resets the count.
    assert accounts.authenticate(with_users, "analyst", "analyst-demo-2026", security)
    for _ in range(5):
        accounts.authenticate(with_users, "analyst", "wrong password!", security)
    assert accounts.authenticate(with_users, "analyst", "analyst-demo-2026", security) is None
    frozen[0] = NOW + timedelta(minutes=9, seconds=59)
    assert accounts.authenticate(with_users, "analyst", "analyst-demo-2026", security) is None
    frozen[0] = NOW + timedelta(minutes=10, seconds=1)
    assert accounts.authenticate(with_users, "analyst", "analyst-demo-2026", security)


def test_reset_password_lifts_the_lock_and_short_passwords_are_refused(
        with_users: sa.Engine, ri_config: ProjectConfig, frozen: list[datetime]) -> None:
    security = ri_config.settings.security
    for _ in range(5):
        accounts.authenticate(with_users, "partner", "wrong password!", security)
    with pytest.raises(accounts.UserError, match="too short"):
        accounts.reset_password(with_users, "partner", "short")
    accounts.reset_password(with_users, "partner", "a much longer passphrase")
    assert accounts.authenticate(with_users, "partner", "a much longer passphrase", security)


@pytest.mark.parametrize(("change", "message"), [
    ({"role": "root"}, "unknown role"), ({"center_id": "nowhere"}, "unknown center"),
    ({"max_tlp": "SECRET"}, "unknown marking"), ({"username": "analyst"}, "already exists"),
])
def test_bad_accounts_are_refused(with_users: sa.Engine, ri_config: ProjectConfig,
                                  change: dict[str, str], message: str) -> None:
    values = {"username": "new", "role": "analyst", "center_id": "rifc",
              "max_tlp": "TLP:AMBER", **change}
    with pytest.raises(accounts.UserError, match=message):
        accounts.add_user(with_users, ri_config, values["username"], "New", values["role"],
                          values["center_id"], values["max_tlp"], "long enough password")


def test_oidc_claims_map_to_a_viewer(sqlite_store: sa.Engine, ri_config: ProjectConfig) -> None:
    security = ri_config.settings.security.model_copy(update={
        "oidc": ri_config.settings.security.oidc.model_copy(update={
            "role_map": {"tp-analysts": "analyst", "tp-partners": "partner"}})})
    config = ProjectConfig.__new__(ProjectConfig)
    config.__dict__.update(ri_config.__dict__)
    config.__dict__["settings"] = ri_config.settings.model_copy(update={"security": security})
    viewer = accounts.viewer_from_claims(sqlite_store, {
        "sub": "u1", "preferred_username": "kim", "roles": ["tp-partners", "tp-analysts"],
        "center": "prov", "max_tlp": "TLP:RED"}, config)
    assert viewer is not None and (viewer.username, viewer.role, viewer.center_id,
                                   viewer.max_tlp) == ("kim", "analyst", "prov", "TLP:RED")
    partner = accounts.viewer_from_claims(sqlite_store, {
        "sub": "u2", "roles": "tp-partners", "center": "rifc", "max_tlp": "TLP:RED"}, config)
    assert partner is not None and partner.max_tlp == "TLP:GREEN"  # capped by the role
    assert accounts.viewer_from_claims(sqlite_store, {"sub": "u3", "roles": ["staff"],
                                                      "center": "rifc"}, config) is None
    assert accounts.viewer_from_claims(sqlite_store, {"sub": "u4", "roles": ["tp-analysts"],
                                                      "center": "elsewhere"}, config) is None


def _audit_is_append_only(engine: sa.Engine) -> None:
    audit.record(engine, "analyst", "download", page="county_csv", rows=12,
                 detail={"file": "counties.csv"})
    rows = audit.audit_frame(engine)
    assert rows.select("username", "action", "rows").row(0) == ("analyst", "download", 12)
    assert json.loads(rows["detail"][0]) == {"file": "counties.csv"}
    with engine.begin() as connection:
        connection.execute(sa.text(
            "INSERT INTO purge_log (purged_at, purged_by, table_name, center_id, record_id, "
            "review_by) VALUES (:at, 'ops', 'incidents', 'rifc', 'R-9', :at)"), {"at": NOW})
    operations = operations_engine(engine)  # the audit trail's file on embedded SQLite
    for target, statement in ((operations, "UPDATE audit_log SET username = 'someone else'"),
                              (operations, "DELETE FROM audit_log"),
                              (engine, "UPDATE purge_log SET record_id = 'x'"),
                              (engine, "DELETE FROM purge_log")):
        with pytest.raises(sa.exc.DatabaseError, match="append-only"), target.begin() as c:
            c.execute(sa.text(statement))
    assert audit.audit_frame(engine).height == 1


def test_audit_rejects_updates_and_deletes_on_sqlite(sqlite_store: sa.Engine) -> None:
    _audit_is_append_only(sqlite_store)


def test_audit_rejects_updates_and_deletes_on_postgresql(postgres_url: str) -> None:
    _audit_is_append_only(open_store(postgres_url))


def test_unknown_audit_action_is_refused(sqlite_store: sa.Engine) -> None:
    with pytest.raises(ValueError, match="unknown audit action"):
        audit.record(sqlite_store, "analyst", "rewrite")


def test_purge_dry_run_apply_and_no_return_on_reingest(ri_config: ProjectConfig,
                                                       sqlite_store: sa.Engine,
                                                       frozen: list[datetime],
                                                       edit_file: object) -> None:
    entered = datetime(2025, 3, 1, tzinfo=UTC)
    run_ingest(ri_config, sqlite_store, now=entered)
    before = table_row_counts(sqlite_store)
    review_days = ri_config.settings.security.review_period_days
    assert review_days == 1826  # five years by default
    # Revalidate one incident before the review date passes.
    frozen[0] = datetime(2029, 12, 1, tzinfo=UTC)
    new_date = revalidate(sqlite_store, "incidents", "rifc", "R-1", "ops", "open case",
                          review_days)
    assert new_date == frozen[0] + timedelta(days=review_days)
    with pytest.raises(KeyError, match="no incident"):
        revalidate(sqlite_store, "incidents", "rifc", "nope", "ops", "x", review_days)

    frozen[0] = entered + timedelta(days=review_days, hours=1)
    report = purge(sqlite_store, "ops", apply=False)
    due_ids = set(report.due["record_id"])
    assert "R-1" not in due_ids
    assert report.due.height == before["incidents"] + before["products"] - 1
    # A dry run removes nothing (the revalidation's audit row is the only change).
    assert table_row_counts(sqlite_store) == {**before, "audit_log": 1}
    assert "dry run" in report.summary()

    report = purge(sqlite_store, "ops", apply=True)
    after = table_row_counts(sqlite_store)
    assert after["incidents"] == 1 and after["products"] == 0
    assert after["incident_links"] == 0 and after["product_coverage"] == 0
    assert after["purge_log"] == report.due.height
    with sqlite_store.connect() as connection:
        logged = connection.execute(sa.text("SELECT * FROM purge_log LIMIT 1")).mappings().one()
    # Ids, never contents.
    assert set(logged) == {"purge_id", "purged_at", "purged_by", "table_name", "center_id",
                           "record_id", "review_by"}
    actions = audit.audit_frame(sqlite_store)["action"].to_list()
    assert actions[:2] == ["purge", "revalidate"]
    assert due_for_review(sqlite_store, frozen[0]).is_empty()

    # The feeds still carry the purged records: a changed feed must not bring them back.
    feed = Path(ri_config.config_dir).parent / "feeds" / "rifc_incidents.csv"
    feed.write_text(feed.read_text() + "\n", encoding="utf-8")
    run_ingest(ri_config, sqlite_store, now=frozen[0])
    with sqlite_store.connect() as connection:
        stored = set(connection.execute(sa.text("SELECT incident_id FROM incidents")).scalars())
    assert "R-1" in stored and not stored & due_ids


runner = CliRunner()


def test_cli_users_add_list_disable_reset(tmp_path: Path, ri_dir: Path) -> None:
    store = f"sqlite:///{tmp_path / 'users.sqlite'}"
    common = ["--config", str(ri_dir / "config"), "--store", store]
    added = runner.invoke(app, ["users", "add", "lee", "--role", "leadership", "--center",
                                "prov", "--max-tlp", "TLP:AMBER", *common],
                          input="a long passphrase\na long passphrase\n")
    assert added.exit_code == 0, added.output
    listed = runner.invoke(app, ["users", "list", "--json", *common])
    assert [(u["username"], u["role"], u["center_id"]) for u in json.loads(listed.stdout)] == [
        ("lee", "leadership", "prov")]
    assert "passphrase" not in listed.stdout and "argon2" not in listed.stdout
    bad = runner.invoke(app, ["users", "add", "x", "--role", "root", "--center", "prov",
                              "--password", "a long passphrase", *common])
    assert bad.exit_code == 1 and "unknown role 'root'" in bad.output
    assert runner.invoke(app, ["users", "disable", "lee", *common]).exit_code == 0
    assert runner.invoke(app, ["users", "disable", "ghost", *common]).exit_code == 1
    reset = runner.invoke(app, ["users", "reset-password", "lee", "--password",
                                "another long one", *common])
    assert reset.exit_code == 0
    engine = open_store(store)
    assert [row for row in audit.audit_frame(engine)["page"]] == [
        "users reset-password", "users disable", "users add"]


def test_cli_analyze_needs_a_user_and_applies_the_policy(tmp_path: Path, ri_dir: Path,
                                                         ri_config: ProjectConfig) -> None:
    store = f"sqlite:///{tmp_path / 'a.sqlite'}"
    engine = open_store(store)
    run_ingest(ri_config, engine)
    accounts.ensure_demo_users(engine, ri_config)
    common = ["--config", str(ri_dir / "config"), "--store", store]
    missing = runner.invoke(app, ["analyze", *common], env={"THREAT_PICTURE_USER": ""})
    assert missing.exit_code == 1 and "whose view?" in missing.output
    partner = runner.invoke(app, ["analyze", "--user", "partner", *common])
    assert partner.exit_code == 1 and "partners see aggregates" in partner.output
    result = runner.invoke(app, ["analyze", *common], env={"THREAT_PICTURE_USER": "analyst"})
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["filters"] == {}
    logged = audit.audit_frame(engine).row(0, named=True)
    assert (logged["username"], logged["action"]) == ("analyst", "analyze")


def test_cli_purge_dry_run_lists_nothing_on_fresh_data(tmp_path: Path, ri_dir: Path,
                                                       ri_config: ProjectConfig) -> None:
    store = f"sqlite:///{tmp_path / 'p.sqlite'}"
    run_ingest(ri_config, open_store(store))
    result = runner.invoke(app, ["purge", "--dry-run", "--config", str(ri_dir / "config"),
                                 "--store", store])
    assert result.exit_code == 0
    assert "no records due for purge (dry run: nothing removed)" in result.output
