"""AppTests of single sign-on (`[security] auth = "oidc"`) on the Rhode Island fixture: claims
map to a role and home center, idle time signs out even with a valid identity cookie (clock
injected), and unmapped claims are refused and audited once. The real round trip through a
provider and st.login is tests/test_browser_oidc.py."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from streamlit.testing.v1 import AppTest

from dashboard.security import clock
from dashboard.settings import load_config
from dashboard.store import open_store, operations_engine
from tests.app_support import open_app
from tests.conftest import RI_FIXTURE

OIDC_SETTINGS = """
[security]
auth = "oidc"
idle_timeout_minutes = 30

[security.oidc]
role_map = { "tp-analysts" = "analyst", "tp-partners" = "partner" }
"""
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def oidc_deployment(folder: Path) -> tuple[Path, str]:
    """The RI fixture copied into ``folder`` with single sign-on configured, ingested:
    (config folder, store URL)."""
    from dashboard.ingest.pipeline import run_ingest

    shutil.copytree(RI_FIXTURE, folder, dirs_exist_ok=True)
    settings = folder / "config" / "settings.toml"
    settings.write_text(settings.read_text(encoding="utf-8") + OIDC_SETTINGS, encoding="utf-8")
    store_url = f"sqlite:///{folder / 'store.sqlite'}"
    config = load_config(folder / "config")
    assert config.settings.security.auth == "oidc"
    run_ingest(config, open_store(store_url))
    return folder / "config", store_url


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    return oidc_deployment(tmp_path_factory.mktemp("ri_oidc_app"))


@pytest.fixture
def moment(monkeypatch: pytest.MonkeyPatch) -> list[datetime]:
    """The security clock, set to NOW; move it by assigning to item 0."""
    current = [NOW]
    monkeypatch.setattr(clock, "now", lambda: current[0])
    return current


def claims(username: str, roles: list[str], center: str = "rifc") -> dict[str, Any]:
    """What st.user holds after st.login: the ID token's claims and the login flag."""
    return {"is_logged_in": True, "sub": f"sub-{username}", "preferred_username": username,
            "name": username.title(), "roles": roles, "center": center}


# The [auth] section st.login reads (the provider itself is only reached in the browser test).
AUTH_SECRETS = {"auth": {
    "redirect_uri": "http://127.0.0.1:8501/oauth2callback", "cookie_secret": "x" * 32,
    "client_id": "threat-picture", "client_secret": "secret",
    "server_metadata_url": "http://127.0.0.1:9400/.well-known/openid-configuration"}}


def signed_in_app(deployment: tuple[Path, str], monkeypatch: pytest.MonkeyPatch,
                  user: dict[str, Any]) -> AppTest:
    """The app after st.login brought ``user`` back (an identity cookie holding its claims)."""
    at = open_app(deployment, monkeypatch, role=None)
    at.secrets = AUTH_SECRETS
    at.run()
    assert [button.label for button in at.button] == ["Sign in with single sign-on"]
    at.user = user
    at.run()
    assert not at.exception, at.exception
    return at


def actions(store_url: str, username: str) -> list[tuple[str, str | None]]:
    engine = sa.create_engine(store_url)
    try:
        with operations_engine(engine).connect() as connection:
            rows = connection.execute(sa.text(
                "SELECT action, detail FROM audit_log WHERE username = :user AND action <> "
                "'page_view' ORDER BY audit_id"), {"user": username}).all()
    finally:
        engine.dispose()
    return [(row.action, row.detail) for row in rows]


def caption(at: AppTest) -> str:
    return next(t.value for t in at.sidebar.text if t.value.startswith("Signed in as"))


def test_claims_map_to_role_and_center(deployment: tuple[Path, str],
                                       monkeypatch: pytest.MonkeyPatch,
                                       moment: list[datetime]) -> None:
    at = signed_in_app(deployment, monkeypatch,
                       claims("pat.oidc", ["staff", "tp-partners"], center="prov"))
    assert caption(at) == ("Signed in as Pat.Oidc · Partner · Providence Regional "
                           "Intelligence Center · up to TLP:GREEN")
    # A rerun in the same session is no new sign-in.
    at.run()
    assert actions(deployment[1], "pat.oidc") == [
        ("sign_in", json.dumps({"center_id": "prov", "role": "partner"}))]


def test_idle_session_signs_out_and_clears_the_identity_cookie(
        deployment: tuple[Path, str], monkeypatch: pytest.MonkeyPatch,
        moment: list[datetime]) -> None:
    at = signed_in_app(deployment, monkeypatch, claims("ida.idle", ["tp-analysts"]))
    moment[0] = NOW + timedelta(minutes=29)
    at.run()
    assert caption(at).startswith("Signed in as Ida.Idle · Analyst")
    moment[0] += timedelta(minutes=31)
    at.run()
    assert not at.exception, at.exception
    # st.logout() ran: the identity is gone, so the cookie cannot sign the user back in.
    assert at.user == {"is_logged_in": False}
    at.run()
    assert [button.label for button in at.button] == ["Sign in with single sign-on"]
    assert [action for action, _ in actions(deployment[1], "ida.idle")] == [
        "sign_in", "session_expired"]


def test_return_after_idle_with_valid_cookie_is_no_sign_in(
        deployment: tuple[Path, str], monkeypatch: pytest.MonkeyPatch,
        moment: list[datetime]) -> None:
    user = claims("rex.return", ["tp-analysts"])
    signed_in_app(deployment, monkeypatch, user)
    # A new browser session 31 minutes later, its identity cookie still valid.
    moment[0] = NOW + timedelta(minutes=31)
    at = signed_in_app(deployment, monkeypatch, user)
    assert at.user == {"is_logged_in": False}
    assert not [c for c in at.sidebar.text if c.value.startswith("Signed in as")]
    assert [action for action, _ in actions(deployment[1], "rex.return")] == [
        "sign_in", "session_expired"]


def test_unmapped_claims_are_refused_and_audited_once(
        deployment: tuple[Path, str], monkeypatch: pytest.MonkeyPatch,
        moment: list[datetime]) -> None:
    at = signed_in_app(deployment, monkeypatch, claims("una.mapped", ["staff"]))
    assert "has no role in this deployment" in at.error[0].value
    assert [button.label for button in at.button] == ["Sign out"]
    assert not at.title or at.title[0].value != "Statewide picture"
    at.run()
    assert [action for action, _ in actions(deployment[1], "una.mapped")] == ["sign_in_failed"]
    # An unknown home center is refused the same way.
    at = signed_in_app(deployment, monkeypatch, claims("cy.center", ["tp-analysts"], "nowhere"))
    assert "has no role in this deployment" in at.error[0].value
    assert [action for action, _ in actions(deployment[1], "cy.center")] == ["sign_in_failed"]


def test_missing_auth_secrets_say_what_to_set(deployment: tuple[Path, str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_app(deployment, monkeypatch, role=None)
    at.secrets = {"other": {"key": "value"}}
    at.run()
    assert not at.exception, at.exception
    assert not at.button
    assert at.error[0].value.startswith(
        "Single sign-on is not set up: the Streamlit secrets have no [auth] section.")
    assert "server_metadata_url" in at.error[0].value
