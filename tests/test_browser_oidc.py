"""A real single sign-on round trip: the app, served by `threat-picture serve --secrets ...`
with `[security] auth = "oidc"`, signs users in through st.login against an OpenID Connect
provider (oidc-provider-mock) that this module starts on 127.0.0.1, and Debian's Chromium goes
through the provider's own authorization page. The role, home center and marking limit shown
in the app come from the ID token's claims, mapped by `[security.oidc]`.

Each user is registered with the provider through its HTTP API (`PUT /users/{sub}`), as an
identity provider's administrator would, and the browser then types the subject on the
provider's page, so the claims travel only inside the signed ID token.
"""

from __future__ import annotations

import json
import secrets
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa

from dashboard.store import operations_engine
from tests.browser_support import (
    ARTIFACTS,
    assert_stayed_home,
    free_port,
    needs_chromium,
    recorded_page,
    served_app,
    wait_for_app,
)
from tests.test_app_oidc import oidc_deployment

pytestmark = [pytest.mark.browser, needs_chromium]

# The fixture's incidents fall in January-February 2025.
WINTER_2025 = "?period=custom&start=2025-01-01&end=2025-02-28"
# The provider's pages load a stylesheet from a CDN; this closed-network copy of its base
# template draws them unstyled, so the browser never leaves 127.0.0.1.
PROVIDER_BASE_TEMPLATE = """<!doctype html>
<html lang="en"><main>{% block content %}{{ content }}{% endblock %}</main></html>
"""


@dataclass(frozen=True)
class Deployment:
    app_url: str
    provider_url: str
    store_url: str


@contextmanager
def oidc_provider() -> Iterator[str]:
    """oidc-provider-mock on a free 127.0.0.1 port in a background thread; yields its URL.
    Any client id and secret are accepted (no registration), as a test provider should."""
    import jinja2
    import oidc_provider_mock
    import werkzeug.serving

    provider = oidc_provider_mock.app(require_nonce=True)
    provider.jinja_loader = jinja2.ChoiceLoader([
        jinja2.DictLoader({"_base.html": PROVIDER_BASE_TEMPLATE}), provider.jinja_loader])
    server = werkzeug.serving.make_server("127.0.0.1", 0, provider, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                              daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def register_user(provider_url: str, sub: str, claims: dict[str, Any]) -> None:
    """Give ``sub`` these claims at the provider (its `PUT /users/{sub}` API)."""
    request = urllib.request.Request(
        f"{provider_url}/users/{sub}", data=json.dumps(claims).encode(), method="PUT",
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 204


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """The RI fixture with single sign-on, ingested and served beside a live provider."""
    folder = tmp_path_factory.mktemp("ri_oidc")
    config_dir, store_url = oidc_deployment(folder)
    app_port = free_port()
    with oidc_provider() as provider_url:
        # Outside the repository: the served app reads it through `serve --secrets`.
        secrets_file = folder / "secrets.toml"
        secrets_file.write_text(
            "[auth]\n"
            f'redirect_uri = "http://127.0.0.1:{app_port}/oauth2callback"\n'
            f'cookie_secret = "{secrets.token_urlsafe(32)}"\n'
            'client_id = "threat-picture"\n'
            f'client_secret = "{secrets.token_urlsafe(16)}"\n'
            f'server_metadata_url = "{provider_url}/.well-known/openid-configuration"\n',
            encoding="utf-8")
        with served_app(config_dir, store_url, secrets=secrets_file,
                        port=app_port) as app_url:
            yield Deployment(app_url, provider_url, store_url)


def sign_in_through_provider(page: Any, deployment: Deployment, sub: str) -> None:
    """Open the app, press its single sign-on button and authorize ``sub`` on the provider's
    page; returns once the browser is back on the app and its run has finished."""
    page.goto(deployment.app_url + "/")
    page.get_by_role("button", name="Sign in with single sign-on").click(timeout=60_000)
    page.wait_for_url(f"{deployment.provider_url}/oauth2/authorize*", timeout=60_000)
    page.get_by_placeholder("sub").fill(sub)
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(f"{deployment.app_url}/**", timeout=60_000)
    wait_for_app(page)


def incidents_kpi(page: Any) -> str:
    card = page.locator("[data-testid='stMetric']").filter(has_text="Incidents").first
    return str(card.locator("[data-testid='stMetricValue']").inner_text())


def revisit(page: Any, deployment: Deployment, path: str) -> None:
    """A new page load (a new app session) signed in by the identity cookie alone."""
    page.goto(deployment.app_url + path)
    page.get_by_text("Signed in as").wait_for(timeout=60_000)
    wait_for_app(page)


def sidebar_pages(page: Any) -> list[str]:
    links = page.locator("[data-testid='stSidebarNav'] a")
    # A link's text is its icon's ligature name, then its title.
    return [text.strip().split("\n")[-1] for text in links.all_inner_texts()]


def audit_rows(store_url: str, username: str) -> list[dict[str, Any]]:
    engine = sa.create_engine(store_url)
    try:
        with operations_engine(engine).connect() as connection:
            rows = connection.execute(sa.text(
                "SELECT action, page, detail FROM audit_log WHERE username = :user "
                "ORDER BY audit_id"), {"user": username}).mappings().all()
        return [dict(row) for row in rows]
    finally:
        engine.dispose()


def user_row(store_url: str, username: str) -> dict[str, Any] | None:
    engine = sa.create_engine(store_url)
    try:
        with operations_engine(engine).connect() as connection:
            row = connection.execute(sa.text(
                "SELECT role, center_id, max_tlp, auth_method, password_hash FROM users "
                "WHERE username = :user"), {"user": username}).mappings().first()
        return None if row is None else dict(row)
    finally:
        engine.dispose()


def test_analyst_claims_sign_in_and_out(deployment: Deployment) -> None:
    register_user(deployment.provider_url, "sub-ana-7", {
        "preferred_username": "ana.lyst", "name": "Ana Lyst", "email": "ana@rifc.example",
        "roles": ["tp-analysts", "all-staff"], "center": "rifc", "max_tlp": "TLP:AMBER"})
    with recorded_page() as (page, requests, dialogs):
        sign_in_through_provider(page, deployment, "sub-ana-7")
        caption = page.get_by_text("Signed in as")
        caption.wait_for(timeout=60_000)
        assert caption.inner_text() == ("Signed in as Ana Lyst · Analyst · Rhode Island "
                                        "Fusion Center · up to TLP:AMBER")
        assert "Data health" in sidebar_pages(page)
        assert "Overview" in sidebar_pages(page)
        # Back from the provider on the home page; a deep link now opens without it. Winter
        # 2025, P-101, P-104 (P-100 repeats R-1); AMBER rows included.
        provider_visits = sum(deployment.provider_url in url for url in requests)
        revisit(page, deployment, "/" + WINTER_2025)
        assert sum(deployment.provider_url in url for url in requests) == provider_visits
        assert incidents_kpi(page) == "5"
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "oidc_analyst.png"), full_page=True)

        # Signing out goes through the provider's end-session page and back to the sign-in.
        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url(f"{deployment.provider_url}/oauth2/end_session*", timeout=60_000)
        page.get_by_role("button", name="End session").click()
        page.get_by_role("button", name="Sign in with single sign-on").wait_for(timeout=60_000)
        assert page.get_by_text("Signed in as").count() == 0
        assert_stayed_home(requests, dialogs)

    actions = audit_rows(deployment.store_url, "ana.lyst")
    # Every app session an identity opens is audited: the provider round trip, then the
    # deep link's new session on the same identity cookie.
    sign_ins = [row for row in actions if row["action"] == "sign_in"]
    assert [(row["page"], json.loads(row["detail"])) for row in sign_ins] == [
        ("oidc", {"role": "analyst", "center_id": "rifc"})] * 2
    assert [row["action"] for row in actions][-1] == "sign_out"
    assert user_row(deployment.store_url, "ana.lyst") == {
        "role": "analyst", "center_id": "rifc", "max_tlp": "TLP:AMBER",
        "auth_method": "oidc", "password_hash": None}


def test_partner_claims_get_the_partner_view(deployment: Deployment) -> None:
    # No marking claim: a partner's limit defaults to TLP:GREEN; the center is the claim's.
    register_user(deployment.provider_url, "sub-pat-3", {
        "preferred_username": "pat.ner", "name": "Pat Ner", "roles": ["tp-partners"],
        "center": "prov"})
    with recorded_page() as (page, requests, dialogs):
        sign_in_through_provider(page, deployment, "sub-pat-3")
        caption = page.get_by_text("Signed in as")
        caption.wait_for(timeout=60_000)
        assert caption.inner_text() == ("Signed in as Pat Ner · Partner · Providence "
                                        "Regional Intelligence Center · up to TLP:GREEN")
        pages = sidebar_pages(page)
        assert "Overview" in pages
        assert "Data health" not in pages
        assert "Coverage gaps & redundancy" not in pages
        # TLP:GREEN only (R-1, P-101 and P-104 of winter 2025): each week x county x category
        # cell is below the partners' threshold of five, so nothing is released.
        revisit(page, deployment, "/" + WINTER_2025)
        assert incidents_kpi(page) == "0"
        page.get_by_text("withheld and counted in no figure").wait_for(timeout=30_000)
        assert_stayed_home(requests, dialogs)
    sign_ins = [row for row in audit_rows(deployment.store_url, "pat.ner")
                if row["action"] == "sign_in"]
    assert [json.loads(row["detail"]) for row in sign_ins] == [
        {"role": "partner", "center_id": "prov"}] * 2


def test_unmapped_claims_are_refused(deployment: Deployment) -> None:
    register_user(deployment.provider_url, "sub-vis-9", {
        "preferred_username": "vis.itor", "name": "Vis Itor", "roles": ["all-staff"],
        "center": "rifc"})
    with recorded_page() as (page, requests, dialogs):
        sign_in_through_provider(page, deployment, "sub-vis-9")
        page.get_by_text("Your single sign-on account has no role in this deployment").wait_for(
            timeout=60_000)
        assert page.get_by_text("Signed in as").count() == 0
        assert sidebar_pages(page) == []
        assert page.get_by_role("heading", name="Statewide picture").count() == 0
        assert_stayed_home(requests, dialogs)
    assert [row["action"] for row in audit_rows(deployment.store_url, "vis.itor")] == [
        "sign_in_failed"]
    assert user_row(deployment.store_url, "vis.itor") is None
