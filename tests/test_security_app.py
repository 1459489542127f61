"""The app behind sign-in (AppTest on the ingested Rhode Island fixture): nothing before
sign-in, generic failures, pages and figures per role, partner links that leak nothing, the
marking banner, idle timeout on an injected clock, and the audit rows each action writes."""

from __future__ import annotations

import ast
from datetime import timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboard.security import accounts, audit, clock
from dashboard.store import open_store
from tests.app_support import ROOT, metric, open_app, sign_in, table_with

WINTER_2025 = {"period": "custom", "start": "2025-01-01", "end": "2025-02-28"}


def _app_pages() -> list[str]:
    """Every page file app.py lists (read from its PAGES table)."""
    tree = ast.parse((ROOT / "app.py").read_text())
    return [node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and node.value.startswith("pages/") and node.value.endswith(".py")]


def _titles(at: AppTest) -> list[str]:
    return [title.value for title in at.title]


def _banner(at: AppTest) -> str:
    return next(m.value for m in at.markdown if "Handling marking" in m.value)


def test_app_lists_every_page_file() -> None:
    listed = set(_app_pages())
    helpers = {"common", "sidebar", "maps", "signin", "apptest_driver", "__init__"}
    on_disk = {f"pages/{path.name}" for path in (ROOT / "pages").glob("*.py")
               if path.stem not in helpers}
    assert listed == on_disk


@pytest.mark.parametrize("page", _app_pages())
def test_every_page_shows_only_the_sign_in_before_sign_in(
        page: str, ingested_ri: tuple[Path, str], monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_app(ingested_ri, monkeypatch, WINTER_2025, role=None)
    at.switch_page(page).run()
    assert not at.exception
    assert _titles(at) == ["Rhode Island test picture"]
    assert at.text_input(key="sign_in_user") is not None
    assert len(at.metric) == 0 and len(at.dataframe) == 0 and len(at.sidebar.multiselect) == 0


def test_failed_sign_in_is_generic_and_audited(ingested_ri: tuple[Path, str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_app(ingested_ri, monkeypatch, role=None)
    sign_in(at, "analyst", "not the password")
    wrong_password = [error.value for error in at.error]
    sign_in(at, "no-such-user", "not the password")
    unknown_user = [error.value for error in at.error]
    assert wrong_password == unknown_user == [accounts.SIGN_IN_FAILED]
    assert "signed_in" not in at.session_state
    rows = audit.audit_frame(open_store(ingested_ri[1]))
    failed = rows.filter(rows["action"] == "sign_in_failed")["username"].to_list()
    assert failed[:2] == ["no-such-user", "analyst"]


def test_sign_in_and_page_views_are_audited(ingested_ri: tuple[Path, str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_app(ingested_ri, monkeypatch, WINTER_2025, page="pages/map.py")
    rows = audit.audit_frame(open_store(ingested_ri[1])).head(3)
    assert rows.select("username", "action", "page").rows() == [
        ("analyst", "page_view", "map"), ("analyst", "page_view", "overview"),
        ("analyst", "sign_in", "local")]
    assert '"start": "2025-01-01"' in rows["detail"][0]
    # As plain text: a display name is never rendered as Markdown.
    assert any(t.value.startswith("Signed in as Demo analyst · Analyst")
               for t in at.sidebar.text)


def test_partner_is_not_offered_analyst_pages(ingested_ri: tuple[Path, str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    partner = open_app(ingested_ri, monkeypatch, WINTER_2025, role="partner")
    for page in ("pages/data_health.py", "pages/admin.py", "pages/centers.py",
                 "pages/coverage.py"):
        with pytest.raises(ValueError, match="Could not find a navigation page"):
            partner.switch_page(page)
    analyst = open_app(ingested_ri, monkeypatch, WINTER_2025, role="analyst")
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        analyst.switch_page("pages/admin.py")
    at = open_app(ingested_ri, monkeypatch, WINTER_2025, role="admin", page="pages/admin.py")
    assert _titles(at) == ["Administration"]
    assert "Sign in" in table_with(at, "Action")["Action"].tolist()


def test_partner_link_to_a_small_county_leaks_nothing(ingested_ri: tuple[Path, str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # Providence: R-1 (GREEN; P-100 repeats it) and R-9 (AMBER) in the period.
    link = {**WINTER_2025, "counties": "44007"}
    analyst = open_app(ingested_ri, monkeypatch, link, role="analyst")
    assert metric(analyst, "Incidents")[0] == "2"
    partner = open_app(ingested_ri, monkeypatch, link, role="partner")
    # Every cell of the release is below 5 here: nothing is released, and the page says how
    # many cells it withholds rather than showing them as zero.
    assert metric(partner, "Incidents")[0] == "0"
    assert any("withheld and counted in no figure" in info.value for info in partner.info)
    partner.switch_page("pages/map.py").run()
    assert not partner.exception
    assert "Points" not in partner.pills(key="map_layers").options
    counties = table_with(partner, "county_fips")
    assert counties["incidents"].isna().all() or counties.empty


def test_marking_banner_shows_the_most_restrictive_marking_on_screen(
        ingested_ri: tuple[Path, str], monkeypatch: pytest.MonkeyPatch) -> None:
    analyst = open_app(ingested_ri, monkeypatch, WINTER_2025, role="analyst")
    assert "TLP:AMBER<" in _banner(analyst)
    partner = open_app(ingested_ri, monkeypatch, WINTER_2025, role="partner")
    assert "TLP:GREEN<" in _banner(partner)
    # The partner's figures exclude the AMBER records the analyst counts.
    assert metric(partner, "Products")[0] < metric(analyst, "Products")[0]


def test_idle_session_is_signed_out(ingested_ri: tuple[Path, str],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_app(ingested_ri, monkeypatch, role="analyst")
    later = clock.now() + timedelta(minutes=31)
    monkeypatch.setattr(clock, "now", lambda: later)
    at.run()
    assert not at.exception
    assert "signed_in" not in at.session_state
    assert any("after 30 minutes without activity" in info.value for info in at.info)
    assert len(at.metric) == 0
    rows = audit.audit_frame(open_store(ingested_ri[1]))
    assert rows.row(0, named=True)["action"] == "session_expired"


def test_reruns_for_new_data_are_not_activity(ingested_ri: tuple[Path, str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The app reruns itself when new data arrives (page_glue.auto_refresh); an idle user is
    still signed out on time."""
    from page_glue import AUTO_RERUN_KEY

    at = open_app(ingested_ri, monkeypatch, role="analyst")
    start = clock.now()
    monkeypatch.setattr(clock, "now", lambda: start + timedelta(minutes=20))
    at.session_state[AUTO_RERUN_KEY] = True
    at.run()
    assert "signed_in" in at.session_state
    monkeypatch.setattr(clock, "now", lambda: start + timedelta(minutes=31))
    at.run()
    assert "signed_in" not in at.session_state


def test_activity_within_the_timeout_keeps_the_session(ingested_ri: tuple[Path, str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_app(ingested_ri, monkeypatch, role="analyst")
    start = clock.now()
    for minutes in (20, 40, 60):  # each run within 30 minutes of the one before
        monkeypatch.setattr(clock, "now", lambda m=minutes: start + timedelta(minutes=m))
        at.run()
        assert "signed_in" in at.session_state


def test_sign_out_ends_the_session(ingested_ri: tuple[Path, str],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_app(ingested_ri, monkeypatch, role="leadership")
    at.sidebar.button(key="sign_out").click().run()
    assert "signed_in" not in at.session_state
    assert at.text_input(key="sign_in_user") is not None


def test_feed_markup_is_never_rendered_as_html(ingested_ri: tuple[Path, str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    # R-2's narrative is `<script>alert(1)</script> phishing wave`.
    for page in _app_pages():
        at = open_app(ingested_ri, monkeypatch, WINTER_2025, role="admin", page=page)
        for element in (*at.markdown, *at.caption, *at.sidebar.markdown):
            assert "<script" not in element.value, (page, element.value)
