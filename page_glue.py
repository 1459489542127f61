"""The Streamlit glue every page shares, in one module beside app.py (Streamlit is imported
only by app.py, pages/ and this module; everything else is plain Python in dashboard/).

- the deployment, the store, its data version and the signed-in viewer's visibility class;
- the page models cached per data version, visibility class and selection: two users of the
  same class share every cached figure, and the class's data is a mask over one shared copy;
- sign-in, sign-out and idle timeout; the shared filter sidebar; maps; marked banners;
  audited downloads;
- the AppTest driver the tests and the bench use (``python page_glue.py apptest ...`` is the
  bench's page-run worker).
"""

from __future__ import annotations

import itertools
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import geopandas as gpd
import polars as pl
import sqlalchemy as sa
import streamlit as st
from streamlit_folium import st_folium

from dashboard.analytics.filters import (
    FILTER_FIELDS,
    FILTER_FIELDS_BY_NAME,
    FilterField,
    Filters,
    filter_value_names,
    from_query_params,
    to_query_params,
)
from dashboard.analytics.health import last_load_per_center
from dashboard.frames import HealthFrames, PictureFrames, load_health_frames, load_picture_frames
from dashboard.geo.places import places_for_state
from dashboard.pagemodels.alerts import geofence_from_drawings
from dashboard.pagemodels.common import marking_in_view
from dashboard.pagemodels.map import map_points
from dashboard.security import accounts, audit, clock
from dashboard.security.accounts import demo_password
from dashboard.security.audience import NOT_RELEASED_FILTERS, ViewData, view_data
from dashboard.security.policy import (
    TLP_WORDING,
    Viewer,
    VisibilityClass,
    visibility_class,
)
from dashboard.security.signin_guard import SignInGuard
from dashboard.security.signin_guard import sign_in as sign_in_guarded
from dashboard.settings import ProjectConfig, SecuritySettings, load_config
from dashboard.store import bundles_received, data_version, open_store
from dashboard.views.formatting import format_age, markdown_text
from dashboard.views.maps import (
    MAX_HEAT_POINTS,
    MAX_POINT_MARKERS,
    MapLayers,
    aor_outline,
    county_map,
    geofence_map,
    region_outlines,
)
from dashboard.watch import center_interval_seconds, freshness_level

CONFIG_ENV = "THREAT_PICTURE_CONFIG"
VERSION_CHECK_SECONDS = 15
Model = TypeVar("Model")


# --- deployment, store and the viewer's class ----------------------------------------------


@dataclass(frozen=True)
class PageContext:
    config: ProjectConfig
    store_url: str
    data_version: int
    viewer: Viewer
    visibility: VisibilityClass
    today: date  # in the deployment's time zone

    @property
    def cache_key(self) -> tuple[object, ...]:
        """What a cached page model depends on besides the selection: the store, its data
        version, the day and what the viewer may receive (their class, not their name)."""
        return (self.store_url, self.data_version, self.today, self.visibility)


@st.cache_resource(show_spinner=False)
def _config(config_dir: str) -> ProjectConfig:
    return load_config(config_dir)


@st.cache_resource(show_spinner=False)
def engine(store_url: str) -> sa.Engine:
    return open_store(store_url)


@st.cache_data(ttl=VERSION_CHECK_SECONDS, show_spinner=False)
def _data_version(store_url: str) -> int:
    # A tiny query, re-asked at most every few seconds, so new ingests show up on their own.
    return data_version(engine(store_url))


@st.cache_data(show_spinner="Loading data health...", max_entries=4)
def health_frames(store_url: str, version: int, bundles: int = 0) -> HealthFrames:
    # ``bundles``: import attempts seen, so that a rejected bundle shows at once on Data health.
    return load_health_frames(engine(store_url))


def current_health_frames(context: PageContext) -> HealthFrames:
    """The Data health page's frames: as of the data version and of the network bundles
    received (a rejected one changes the page but not the data version)."""
    return health_frames(context.store_url, context.data_version,
                         bundles_received(engine(context.store_url)))


@st.cache_resource(show_spinner="Loading the statewide picture...", max_entries=2)
def picture_frames(store_url: str, version: int, timezone: str,
                   network: bool = False) -> PictureFrames:
    # cache_resource, not cache_data: the frames are shared read-only by every session and
    # rerun without being copied (a million rows would otherwise be unpickled per rerun).
    return load_picture_frames(engine(store_url), timezone, network)


@st.cache_resource(show_spinner=False, max_entries=16)
def _view_data(store_url: str, version: int, timezone: str, visibility: VisibilityClass,
               min_count: int, today: date, network: bool) -> ViewData:
    return view_data(picture_frames(store_url, version, timezone, network), visibility,
                     min_count, today, timezone)


def load_deployment() -> tuple[ProjectConfig, str]:
    """The deployment's config and store URL (stops the run with a message when unset)."""
    config_dir = os.environ.get(CONFIG_ENV, "config")
    if not (Path(config_dir) / "settings.toml").is_file():
        st.error(f"No configuration found in {config_dir!r}. Start the app with "
                 "`threat-picture serve --demo`, or set THREAT_PICTURE_CONFIG.")
        st.stop()
    config = _config(config_dir)
    return config, config.store_url()


def load_context() -> PageContext:
    """What a page needs: config, store, data version and the signed-in viewer with their
    visibility class. A run without a signed-in viewer stops here (app.py shows the sign-in
    first; this is the backstop)."""
    config, store_url = load_deployment()
    viewer = signed_in_viewer()
    if viewer is None:
        st.stop()
    assert viewer is not None
    version = _data_version(store_url)
    timezone = config.settings.timezone
    red = picture_frames(store_url, version, timezone, config.settings.network).red_recipients
    return PageContext(config=config, store_url=store_url, data_version=version, viewer=viewer,
                       visibility=visibility_class(viewer, red),
                       today=datetime.now(ZoneInfo(timezone)).date())


def context_data(context: PageContext) -> ViewData:
    """What the viewer's class receives: the only way a page model reads incidents and
    products."""
    config = context.config
    return _view_data(context.store_url, context.data_version, config.settings.timezone,
                      context.visibility, config.settings.security.partner_min_count,
                      context.today, config.settings.network)


@st.cache_data(max_entries=128, show_spinner="Computing...")
def _page_model(_context: PageContext, _build: Callable[..., Any], cache_key: tuple[object, ...],
                name: str, filters: Filters, options: tuple[tuple[str, Any], ...]) -> Any:
    return _build(_context.config, context_data(_context), filters, _context.today,
                  **dict(options))


def page_model(context: PageContext, build: Callable[..., Model], filters: Filters,
               **options: Any) -> Model:
    """``build(config, data, filters, today, **options)``, a page model of dashboard.pagemodels,
    cached per data version, visibility class, selection and options."""
    return _page_model(context, build, context.cache_key,  # type: ignore[no-any-return]
                       f"{build.__module__}.{build.__name__}", filters,
                       tuple(sorted(options.items())))


# --- banners, page views, downloads ----------------------------------------------------------


def render_data_banner(context: PageContext) -> None:
    """SYNTHETIC marking for demo data, and how fresh each center's data is."""
    if context.config.settings.synthetic:
        st.warning("**SYNTHETIC DATA** — demo feeds generated for testing; no real incidents.",
                   icon=":material/science:")
    frames = health_frames(context.store_url, context.data_version)
    now = datetime.now(UTC)
    with st.sidebar:
        settings = context.config.settings
        st.markdown(f"**{markdown_text(settings.title)}** · {markdown_text(settings.state)}")
        latest = last_load_per_center(frames)
        if latest.is_empty():
            st.caption("No data ingested yet: run `threat-picture ingest`.")
            return
        lines = []
        for row in latest.iter_rows(named=True):
            name = context.config.labels["center"].get(row["center_id"], row["center_id"])
            text = f"{name}: {format_age(row['last_loaded_at'], now)}"
            age = (now - row["last_loaded_at"]).total_seconds()
            level = freshness_level(age, _center_interval(context.config, row["center_id"]))
            # Colour and words both: overdue against its schedule (2x), or far behind (6x).
            if level == "overdue":
                text = f":orange[{markdown_text(text + ' (overdue)')}]"
            elif level == "stale":
                text = f":red[{markdown_text(text + ' (stale)')}]"
            else:
                text = markdown_text(text)
            lines.append(f"- {text}")
        st.caption("Data as of (last load per center):\n" + "\n".join(lines))


def _center_interval(config: ProjectConfig, center_id: str) -> float | None:
    try:
        return center_interval_seconds(config, center_id)
    except ValueError:  # a schedule config loading let through cannot be parsed: no colour
        return None


AUTO_REFRESH_SECONDS = 10
AUTO_RERUN_KEY = "_rerun_for_new_data"


@st.fragment(run_every=AUTO_REFRESH_SECONDS)
def _refresh_on_new_data(store_url: str, shown_version: int) -> None:
    # Reruns on its own every few seconds; _data_version asks the store at most every
    # VERSION_CHECK_SECONDS, so new data shows within their sum (25 s) without a reload.
    if _data_version(store_url) != shown_version:
        st.session_state[AUTO_RERUN_KEY] = True  # not the user's activity (idle timeout)
        st.rerun(scope="app")


def auto_refresh(context: PageContext) -> None:
    """Rerun the whole app as soon as the store's data version differs from the one shown
    (called once per run, from app.py)."""
    _refresh_on_new_data(context.store_url, context.data_version)


@st.cache_data(max_entries=64, show_spinner=False)
def _marking(_context: PageContext, cache_key: tuple[object, ...], filters: Filters) -> str:
    return marking_in_view(_context.config, context_data(_context), filters, _context.today)


def marking_on_screen(context: PageContext, filters: Filters) -> str:
    """The most restrictive marking among the incidents and products the view includes."""
    return _marking(context, context.cache_key, filters)


TLP_COLOURS = {"TLP:CLEAR": "#ffffff", "TLP:GREEN": "#33ff00", "TLP:AMBER": "#ffc000",
               "TLP:AMBER+STRICT": "#ffc000", "TLP:RED": "#ff2b2b"}


def render_marking_banner(slot: Any, marking: str) -> None:
    """The TLP 2.0 label (colours of the standard: on black) with its wording."""
    slot.markdown(
        f'<div role="note" aria-label="Handling marking" style="background:#000;'
        f'padding:4px 12px;border-radius:4px;font-size:0.9rem"><strong style="color:'
        f'{TLP_COLOURS[marking]}">{marking}</strong> <span style="color:#ddd">'
        f'{TLP_WORDING[marking]}</span></div>', unsafe_allow_html=True)


def record_page_view(context: PageContext, page: str, filters: Filters) -> None:
    """One audit row per page and filter the viewer looks at (not per rerun)."""
    view = (page, tuple(sorted(to_query_params(filters).items())))
    if st.session_state.get("_audited_view") == view:
        return
    st.session_state["_audited_view"] = view
    audit.record(engine(context.store_url), context.viewer.username, "page_view", page=page,
                 detail=to_query_params(filters))


def audited_download(context: PageContext, label: str, data: bytes | str, file_name: str,
                     rows: int, key: str, mime: str = "text/csv") -> None:
    """A download button whose every use is written to the audit trail with its row count."""
    st.download_button(
        label, data, file_name=file_name, mime=mime, key=key, icon=":material/download:",
        on_click=audit.record, args=(engine(context.store_url), context.viewer.username,
                                     "download"),
        kwargs={"page": key, "rows": rows, "detail": {"file": file_name}})


def stix_download(context: PageContext, filters: Filters, page: str, key: str) -> None:
    """A STIX 2.1 bundle of the products and the counts of the view (as the viewer's class
    receives them, with TLP 2.0 markings; ``threat-picture export stix`` writes the same),
    built when the button is clicked and recorded in the audit trail then."""
    from dashboard.exchange.stix import audited_stix_export

    data, username = context_data(context), context.viewer.username
    file_name = f"threat-picture_{page}_{context.today}.stix.json"

    def bundle() -> bytes:
        content, _ = audited_stix_export(
            engine(context.store_url), username, context.config, data, filters, context.today,
            clock.now(), page=page, file_name=file_name)
        return content

    st.download_button(
        "STIX 2.1 bundle", bundle, file_name=file_name, mime="application/stix+json", key=key,
        icon=":material/share:",
        help="The products and the counts of this view as a STIX 2.1 bundle with TLP 2.0 "
        "markings, for partners' threat-intelligence platforms; what you may receive only.")


# --- sign-in -----------------------------------------------------------------------------------


SESSION_KEY = "signed_in"


@dataclass
class SignedIn:
    viewer: Viewer
    signed_in_at: datetime
    last_seen: datetime


@st.cache_resource(show_spinner=False)
def _sso_last_seen() -> dict[str, datetime]:
    # Single sign-on survives a reload through its cookie, which a new session_state does not
    # see; the idle clock is kept per user on the server, so the cookie cannot outlive it.
    return {}


def signed_in_viewer() -> Viewer | None:
    session = st.session_state.get(SESSION_KEY)
    return session.viewer if isinstance(session, SignedIn) else None


def require_viewer(config: ProjectConfig, engine: sa.Engine) -> Viewer:
    """The signed-in viewer; otherwise draws the sign-in and stops the run. Ends a session
    idle longer than the configured timeout."""
    security = config.settings.security
    now = clock.now()
    idle = timedelta(minutes=security.idle_timeout_minutes)
    session = st.session_state.get(SESSION_KEY)
    if security.auth == "oidc":
        session = _oidc_session(config, engine, now, idle)
    if isinstance(session, SignedIn):
        if now - session.last_seen > idle:
            _end(engine, session, "session_expired", security.auth)
            if security.auth == "oidc":
                # The identity cookie would sign the user straight back in: clear it.
                st.logout()
                st.stop()
            st.session_state["signed_out_reason"] = (
                f"You were signed out after {security.idle_timeout_minutes:g} minutes without "
                "activity.")
            st.rerun()
        # A rerun the app made itself for new data is no activity of the user's.
        if not st.session_state.pop(AUTO_RERUN_KEY, False):
            session.last_seen = now
        if security.auth == "oidc":
            _sso_last_seen()[session.viewer.username] = now
        return session.viewer
    _draw_sign_in(config, engine)
    st.stop()
    raise AssertionError("unreachable")  # st.stop() raises


def _oidc_session(config: ProjectConfig, engine: sa.Engine, now: datetime,
                  idle: timedelta) -> SignedIn | None:
    session = st.session_state.get(SESSION_KEY)
    # st.user has no is_logged_in at all when the secrets lack an [auth] section.
    if not st.user.get("is_logged_in", False):
        st.session_state.pop(SESSION_KEY, None)
        return None
    if isinstance(session, SignedIn):
        return session
    claims: dict[str, Any] = st.user.to_dict()
    username = accounts.claims_username(claims)
    last_seen = _sso_last_seen().get(username)
    if last_seen is not None and now - last_seen > idle:
        # Idle too long, even if the identity cookie is still valid: sign in afresh (checked
        # before the claims are mapped, so an expired return is no sign-in).
        _sso_last_seen().pop(username, None)
        audit.record(engine, username, "session_expired", page="oidc")
        st.logout()
        st.stop()
    viewer = accounts.viewer_from_claims(engine, claims, config)
    if viewer is None:
        if st.session_state.get("sso_refused") != username:
            # Once per session, not on every rerun of the refusal.
            st.session_state["sso_refused"] = username
            audit.record(engine, username or "(blank)", "sign_in_failed", page="oidc",
                         detail={"reason": "no mapped role, no known home center, or "
                                 "account disabled"})
        st.error("Your single sign-on account has no role in this deployment. Ask an "
                 "administrator to map your group.")
        st.button("Sign out", on_click=st.logout, key="sso_refused_sign_out")
        st.stop()
    assert viewer is not None
    session = SignedIn(viewer, now, now)
    st.session_state[SESSION_KEY] = session
    _sso_last_seen()[viewer.username] = now
    audit.record(engine, viewer.username, "sign_in", page="oidc",
                 detail={"role": viewer.role, "center_id": viewer.center_id})
    return session


def _end(engine: sa.Engine, session: SignedIn, action: str, auth: str) -> None:
    audit.record(engine, session.viewer.username, action, page=auth)
    st.session_state.pop(SESSION_KEY, None)
    if auth == "oidc":
        _sso_last_seen().pop(session.viewer.username, None)


def sign_out(engine: sa.Engine, config: ProjectConfig) -> None:
    session = st.session_state.get(SESSION_KEY)
    if isinstance(session, SignedIn):
        _end(engine, session, "sign_out", config.settings.security.auth)
    if config.settings.security.auth == "oidc":
        st.logout()


def _sso_setup_problem(provider: str | None) -> str | None:
    """Why st.login cannot start with the app's Streamlit secrets; None when it can."""
    auth = st.secrets.get("auth") if st.secrets.load_if_toml_exists() else None
    if not auth:
        return "the Streamlit secrets have no [auth] section"
    if provider and provider not in auth:
        return f"the Streamlit secrets have no [auth.{provider}] section"
    return None


def _draw_sign_in(config: ProjectConfig, engine: sa.Engine) -> None:
    st.title(markdown_text(config.settings.title))
    reason = st.session_state.pop("signed_out_reason", None)
    if reason:
        st.info(reason)
    if config.settings.security.auth == "oidc":
        provider = config.settings.security.oidc.provider
        problem = _sso_setup_problem(provider)
        if problem:
            st.error(f"Single sign-on is not set up: {problem}. An administrator must add "
                     "redirect_uri, cookie_secret, client_id, client_secret and "
                     "server_metadata_url to the secrets file (`threat-picture serve "
                     "--secrets PATH`, default .streamlit/secrets.toml).")
            return
        st.write("Sign in with your organisation's account.")
        st.button("Sign in with single sign-on", type="primary", key="sso_sign_in",
                  on_click=st.login, args=(provider,) if provider else ())
        return
    with st.form("sign_in", border=True, width=420, clear_on_submit=True):
        st.subheader("Sign in")
        username = st.text_input("User name", key="sign_in_user", autocomplete="username")
        password = st.text_input("Password", type="password", key="sign_in_password",
                                 autocomplete="current-password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if config.settings.synthetic:
        st.caption("SYNTHETIC demo: one account per role was printed when the server first "
                   "started; the README lists them.")
    if not submitted:
        if not accounts.has_accounts(engine):
            st.warning("No account exists yet: create one with `threat-picture users add`.")
        return
    # Throttled per client and per name, at most a few hashes at once, the lockout counted
    # atomically in the store; sign_in audits (repeated failures aggregated).
    result = sign_in_guarded(engine, _sign_in_guard(config.settings.security), username,
                             password, st.context.ip_address, config.settings.security)
    if result.viewer is None:
        st.error(result.message)
        return
    now = clock.now()
    st.session_state[SESSION_KEY] = SignedIn(result.viewer, now, now)
    st.rerun()


@st.cache_resource(show_spinner=False)
def _sign_in_guard(security: SecuritySettings) -> SignInGuard:
    # One per server process: its throttles and hashing slots are shared by every session.
    return SignInGuard(security)


# --- the shared filter sidebar ---------------------------------------------------------------

PENDING_KEY = "pending_filter_changes"
RESET_KEY = "filters_reset_requested"
HIDDEN_KEY = "filters_were_hidden"
LOADED_KEY = "filters_loaded_from_url"
FILTERS_KEY = "filters"


def _sidebar_widgets() -> dict[str, tuple[FilterField, ...]]:
    """The sidebar's widgets by key, in declared order, each with the filters it sets (a date
    range sets two: start and end)."""
    widgets: dict[str, tuple[FilterField, ...]] = {}
    for field in FILTER_FIELDS:
        widgets[field.widget_key] = (*widgets.get(field.widget_key, ()), field)
    return widgets


WIDGETS = _sidebar_widgets()
# What a partner is not offered (see dashboard.security.audience.partner_filters): the filters
# across the release, and the duplicates toggle (a release counts duplicates once).
PARTNER_HIDDEN = frozenset((*NOT_RELEASED_FILTERS, "duplicates_once"))


def _applies(field: FilterField, chosen: Callable[[str], object]) -> bool:
    """Whether ``field`` applies (its only_when holds) given the other filters' values."""
    return field.only_when is None or chosen(field.only_when[0]) == field.only_when[1]


def _filters_to_widgets(filters: Filters, today: date) -> None:
    state = st.session_state
    for key, (field, *rest) in WIDGETS.items():
        if field.widget == "date_range":
            # The range the widget shows when the period turns custom: as period_of has it.
            first, last = field, rest[-1] if rest else field
            end = getattr(filters, last.name) or today
            state[key] = (getattr(filters, first.name) or end - timedelta(days=27), end)
        elif field.multiple:
            state[key] = list(getattr(filters, field.name))
        else:
            state[key] = getattr(filters, field.name)


def _filters_from_widgets() -> Filters:
    state = st.session_state
    default = Filters()
    changes: dict[str, object] = {}

    def chosen(name: str) -> object:
        return changes.get(name, getattr(default, name))

    # A widget a viewer is not offered (partners: filters across the release) keeps no state.
    for key, fields in WIDGETS.items():
        field = fields[0]
        if key not in state or not _applies(field, chosen):
            continue
        value = state[key]
        if field.widget == "date_range":
            if value:
                changes[fields[0].name], changes[fields[-1].name] = value[0], value[-1]
        elif field.multiple:
            changes[field.name] = field.selection(value or ())
        elif field.widget == "toggle":
            changes[field.name] = bool(value)
        elif value is not None:
            changes[field.name] = value
    return default.with_changes(**changes)


def request_filter_change(**changes: object) -> None:
    """Ask for filter changes from a page (applied at the top of the next run)."""
    pending = dict(st.session_state.get(PENDING_KEY, {}))
    pending.update(changes)
    st.session_state[PENDING_KEY] = pending
    st.rerun()


def current_filters() -> Filters:
    return st.session_state.get(FILTERS_KEY, Filters())


def _value_names(config: ProjectConfig) -> dict[str, dict[Any, str]]:
    """How the sidebar lists and names the values of each ``FilterField.value_labels`` key,
    in the order it lists them."""
    names = filter_value_names(config)
    categories, regions = config.taxonomy.categories, names["region"]
    county_region = config.county_to_region
    return names | {
        # Counties listed region by region, so a long list reads grouped; the county's name
        # first, as a chosen value's chip shows only the start of its label.
        "county": {fips: f"{names['county'][fips]} · {regions[county_region[fips]]}"
                   for fips in sorted(county_region, key=lambda f: (
                       regions[county_region[f]], names["county"][f]))},
        "category": {key: label + (" ⚠" if categories[key].first_amendment_caution else "")
                     for key, label in names["category"].items()},
        "sar_behavior": {key: f"{key} · {text}" for key, text in names["sar_behavior"].items()},
        "target_sector": {key: f"{key} · {text}"
                          for key, text in names["target_sector"].items()},
    }


def _draw_filter(field: FilterField, key: str, options: list[Any],
                 names: dict[Any, str] | None, today: date) -> None:
    """One sidebar widget, of its declared kind."""
    format_func: Callable[[Any], str] = names.__getitem__ if names is not None else str
    if field.widget == "select":
        st.selectbox(field.label, options, format_func=format_func, key=key, help=field.help)
    elif field.widget == "date_range":
        st.date_input(field.label, key=key, max_value=today, help=field.help)
    elif field.widget == "multiselect":
        st.multiselect(field.label, options, format_func=format_func, key=key,
                       placeholder=field.placeholder, help=field.help)
    elif field.widget == "pills":
        st.pills(field.label, options, format_func=format_func, selection_mode="multi",
                 key=key, help=field.help)
    else:
        st.toggle(field.label, key=key, help=field.help)


def _request_reset() -> None:
    """The Reset button's callback: the next run starts from the default filters."""
    st.session_state[RESET_KEY] = True


def render_filter_sidebar(config: ProjectConfig, today: date, aggregates_only: bool = False,
                          shown: bool = True) -> Filters:
    """Draw the shared filters (FILTER_FIELDS) in the sidebar and return what they say (for
    an aggregates-only viewer, only the filters their release can answer). A page they do not
    apply to (``shown=False``) draws none and keeps them, and the URL, for the next page."""
    state = st.session_state
    if not shown:
        # Streamlit forgets an undrawn widget's value: the filters live on in FILTERS_KEY and
        # are put back into the widgets when a page draws them again.
        state[HIDDEN_KEY] = True
        return current_filters()
    if state.pop(HIDDEN_KEY, False) and FILTERS_KEY in state:
        _filters_to_widgets(state[FILTERS_KEY], today)
    if not state.get(LOADED_KEY):
        from_url = {key: st.query_params.get_all(key) for key in st.query_params}
        _filters_to_widgets(from_query_params(from_url, config.vocabularies()), today)
        state[LOADED_KEY] = True
    if state.pop(RESET_KEY, False):
        # Before any widget of this run exists: Streamlit refuses to set a drawn widget's value.
        state.pop(PENDING_KEY, None)
        state.pop(CLICK_KEY, None)
        _filters_to_widgets(Filters(), today)
    if PENDING_KEY in state:
        _filters_to_widgets(_filters_from_widgets().with_changes(**state.pop(PENDING_KEY)),
                            today)

    vocabularies = config.vocabularies()
    value_names = _value_names(config)
    with st.sidebar:
        st.header("Filters")
        for key, fields in WIDGETS.items():
            field = fields[0]
            if aggregates_only and any(f.name in PARTNER_HIDDEN for f in fields):
                continue
            if not _applies(field, lambda name: state.get(FILTER_FIELDS_BY_NAME[name].widget_key)):
                continue
            names = value_names.get(field.value_labels) if field.value_labels else None
            allowed = field.allowed(vocabularies)
            # In the order the deployment lists them (its names' order), else as declared.
            options = ([value for value in names if value in allowed] if names is not None
                       else list(allowed))
            _draw_filter(field, key, options, names, today)
        st.button("Reset filters", key="filter_reset", width="stretch",
                  on_click=_request_reset)

    filters = _filters_from_widgets()
    state[FILTERS_KEY] = filters
    st.query_params.from_dict(to_query_params(filters))
    return filters

# --- maps ----------------------------------------------------------------------------------------

CLICK_KEY = "map_last_click"
OVERVIEW_MAP_HEIGHT_PX, ANALYST_MAP_HEIGHT_PX = 380, 620
GEOFENCE_MAP_HEIGHT_PX = 560
GEOFENCE_FIELD = "alerts_geofence"  # the new-rule form's Geofence (GeoJSON) field
_DRAWINGS_SEEN = "geofence_drawings_seen"


def _map_slot(key: str, height_px: int) -> Any:
    """A container never shorter than the map it holds. A map whose script changed (new
    counts: a click on a county changes them) is a new streamlit-folium iframe, 0 px tall until
    Leaflet has loaded; without the floor the page shrinks for that moment, the browser pulls
    its scroll position up with it, and the reader lands at the top (issue 14)."""
    st.html(f"<style>.st-key-{key} {{ min-height: {height_px}px; }}</style>")
    return st.container(key=key)


def render_overview_map(context: PageContext, county_counts: pl.DataFrame) -> None:
    """The small statewide choropleth on the Overview (view only)."""
    state = context.config.settings.state
    folium_map = county_map(state, county_counts, layers=MapLayers(
        regions=_regions(context), places=places_for_state(state)))
    with _map_slot("overview_map_slot", OVERVIEW_MAP_HEIGHT_PX):
        st_folium(folium_map, height=OVERVIEW_MAP_HEIGHT_PX, use_container_width=True,
                  returned_objects=[], key="overview_map")


def _regions(context: PageContext) -> gpd.GeoDataFrame:
    config = context.config
    return region_outlines(config.settings.state, config.county_to_region,
                           config.labels["region"])


@st.cache_data(show_spinner=False, max_entries=16)
def _point_sample(_context: PageContext, cache_key: tuple[object, ...], filters: Filters,
                  limit: int, with_narratives: bool) -> tuple[pl.DataFrame, int]:
    return map_points(_context.config, context_data(_context), engine(_context.store_url),
                      filters, _context.today, limit, with_narratives)


def render_analyst_map(context: PageContext, filters: Filters, county_table: pl.DataFrame,
                       measure: str, measure_label: str, shown: list[str],
                       hotspots: pl.DataFrame | None,
                       emerging: pl.DataFrame | None = None) -> None:
    """The Map page's map: layers as chosen; a click on a county filters every page by it."""
    config = context.config
    layers = MapLayers(hotspots=hotspots if "Hot spots" in shown else None,
                       emerging=emerging if "Emerging hot spots" in shown else None)
    if "Places" in shown:
        layers.places = places_for_state(config.settings.state)
    if "Regions" in shown:
        layers.regions = _regions(context)
    if "Center AORs" in shown:
        chosen = filters.centers or tuple(center.id for center in config.centers)
        layers.aors = {center.name: aor_outline(config.settings.state, config.aor_counties(center))
                       for center in config.centers if center.id in chosen}
    if "Points" in shown:
        layers.points, layers.points_total = _point_sample(
            context, context.cache_key, filters, MAX_POINT_MARKERS, True)
    if "Heat map" in shown:
        heat, layers.heat_total = _point_sample(
            context, context.cache_key, filters, MAX_HEAT_POINTS, False)
        layers.heat = heat.select("latitude", "longitude")
    folium_map = county_map(config.settings.state, county_table, measure, measure_label,
                            layers=layers, selected=filters.counties)
    # Only a click on a county comes back: pan and zoom cause no rerun.
    with _map_slot("analyst_map_slot", ANALYST_MAP_HEIGHT_PX):
        clicked = st_folium(folium_map, height=ANALYST_MAP_HEIGHT_PX, use_container_width=True,
                            returned_objects=["last_active_drawing"], key="analyst_map")
    feature = (clicked or {}).get("last_active_drawing") or {}
    fips = (feature.get("properties") or {}).get("county_fips")
    if not feature:
        # A map drawn afresh (new counts: the sidebar cleared the county, say) reports no
        # click yet: forget the last one, so that a click on that county again is acted on.
        st.session_state.pop(CLICK_KEY, None)
    elif fips in config.county_to_region and st.session_state.get(CLICK_KEY) != feature:
        # The same map reports its last click on every rerun: act on it once.
        st.session_state[CLICK_KEY] = feature
        request_filter_change(counties=(fips,), regions=())



def render_geofence_map(context: PageContext, saved: dict[str, dict[str, Any]]) -> str | None:
    """The Alerts page's drawing map. What is drawn (polygons, rectangles; edited or deleted)
    fills the new-rule form's Geofence field, once per change, so that text pasted there is
    kept until the drawing changes. Returns a one-line problem with the drawing, else None."""
    state = context.config.settings.state
    folium_map = geofence_map(state, _regions(context), places_for_state(state), saved)
    with _map_slot("geofence_map_slot", GEOFENCE_MAP_HEIGHT_PX):
        drawn = st_folium(folium_map, height=GEOFENCE_MAP_HEIGHT_PX, use_container_width=True,
                          returned_objects=["all_drawings"], key="geofence_map")
    drawings = (drawn or {}).get("all_drawings")
    if drawings is None or drawings == st.session_state.get(_DRAWINGS_SEEN, []):
        return None
    st.session_state[_DRAWINGS_SEEN] = drawings
    try:
        st.session_state[GEOFENCE_FIELD] = geofence_from_drawings(drawings) or ""
    except ValueError as error:
        return f"The drawn area cannot be a geofence: {error}."
    return None

# --- the AppTest driver (tests and the bench) -----------------------------------------------

APP = Path(__file__).resolve().parent / "app.py"
# The demo accounts ensure_demo_users creates; admin opens the Administration page.
ANALYST, ADMIN = "analyst", "admin"
ADMIN_PAGES = ("admin",)


def navigation_pages_manager() -> type:
    """A PagesManager that makes AppTest run app.py's st.navigation on every rerun, as the
    server does. AppTest resets Streamlit's legacy "pages/ directory" flag before every run and
    sets it again because pages/ exists; in that legacy mode a rerun executes the page file
    alone (no sidebar, no shared filters). The real server clears the flag when app.py calls
    st.navigation; this does the same for AppTest (install it as
    ``streamlit.testing.v1.app_test.PagesManager``)."""
    from streamlit.runtime.pages_manager import PagesManager

    class NavigationPagesManager(PagesManager):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]
            PagesManager.uses_pages_directory = False

    return NavigationPagesManager


def sign_in(at: Any, username: str, password: str) -> Any:
    """Fill in and submit the app's sign-in form."""
    at.text_input(key="sign_in_user").input(username)
    at.text_input(key="sign_in_password").input(password)
    next(button for button in at.button if button.label == "Sign in").click().run()
    return at


def signed_in_app(username: str, timeout: float) -> Any:
    """The app, signed in through its sign-in form as ``username``."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP), default_timeout=timeout)
    sign_in(at.run(), username, demo_password(username))
    if at.exception or "signed_in" not in at.session_state:
        raise RuntimeError(f"AppTest: could not sign in as {username!r}: "
                           f"{[e.value for e in at.exception] or [e.value for e in at.error]}")
    return at


def set_filters(at: Any, filters: Filters) -> None:
    """Set every sidebar widget the app shows to what ``filters`` say (FILTER_FIELDS; a
    widget not shown, e.g. the custom range of a preset period, is left alone)."""
    for key, (field, *rest) in WIDGETS.items():
        kind = {"select": "selectbox", "date_range": "date_input", "multiselect": "multiselect",
                "pills": "pills", "toggle": "toggle"}[field.widget]
        found = [widget for widget in getattr(at, kind) if widget.key == key]
        if not found:
            continue
        if field.widget == "date_range":
            start, end = getattr(filters, field.name), getattr(filters, rest[-1].name)
            if start is None or end is None:
                continue
            value: Any = (start, end)
        elif field.multiple:
            value = list(getattr(filters, field.name))
        else:
            value = getattr(filters, field.name)
        found[0].set_value(value)


def payload_bytes(at: Any) -> int:
    """Bytes of the page's elements as sent to the browser (the serialized element protos:
    dataframes as Arrow, charts as JSON, the map component's HTML)."""
    total = 0
    for node in at._tree:  # the element tree of the last run
        proto = getattr(node, "proto", None)
        if proto is not None and hasattr(proto, "ByteSize"):
            total += proto.ByteSize() if not hasattr(node, "children") else 0
    return total


def run_pages(config_dir: Path, store_url: str, variants: dict[str, list[Filters]],
              timeout: float, progress: Callable[[str], None] | None = None,
              ) -> dict[str, dict[str, Any]]:
    """For each page (of ``variants``): its first run, then one timed rerun per filter state
    of its own (the first is the warm-up). Returns seconds, payload bytes and any exception
    per page."""
    os.environ["THREAT_PICTURE_CONFIG"] = str(config_dir)
    os.environ["THREAT_PICTURE_STORE"] = store_url
    from streamlit.testing.v1 import app_test

    app_test.PagesManager = navigation_pages_manager()  # type: ignore[attr-defined,misc,assignment]
    report = progress or (lambda _page: None)
    results: dict[str, dict[str, Any]] = {}
    apps: dict[str, Any] = {}
    for page, page_variants in variants.items():
        report(page)
        username = ADMIN if page in ADMIN_PAGES else ANALYST
        if username not in apps:
            apps[username] = signed_in_app(username, timeout)
        at = apps[username]
        started = time.perf_counter()
        at.switch_page(f"pages/{page}.py").run()
        first = time.perf_counter() - started
        runs: list[float] = []
        payloads: list[int] = [payload_bytes(at)]
        errors = [str(e.value) for e in at.exception]
        for filters in page_variants:
            set_filters(at, filters)
            started = time.perf_counter()
            at.run()
            runs.append(time.perf_counter() - started)
            payloads.append(payload_bytes(at))
            errors += [str(e.value) for e in at.exception]
        results[page] = {"first_run_s": first, "runs_s": runs, "payload_bytes": max(payloads),
                         "errors": errors[:3]}
    return results


def _resident_bytes() -> int:
    """This process's resident memory now (VmRSS)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def memory_per_user(store_url: str, pages: list[str], users: int, timeout: float
                    ) -> dict[str, float]:
    """What one more signed-in user of an existing visibility class costs this process: the
    demo analyst's class (same role, center, limit) is given ``users`` more accounts, each
    signs in and opens ``pages`` on the default filters; the resident memory grown per user,
    after the first of them (who may still fill caches) has run."""
    import gc

    from dashboard.security.accounts import add_user, viewer_for

    config = load_config(os.environ[CONFIG_ENV])
    store = open_store(store_url)
    analyst = viewer_for(store, ANALYST, config.settings.security)
    assert analyst is not None
    password = "same-class-user-2026"
    names = [f"bench_analyst_{number}" for number in range(users + 1)]
    for name in names:
        if viewer_for(store, name, config.settings.security) is None:
            add_user(store, config, name, f"Bench analyst {name}", analyst.role,
                     analyst.center_id, analyst.max_tlp, password,
                     need_to_know=analyst.need_to_know)
    sessions = []
    measured: list[int] = []
    for name in names:
        from streamlit.testing.v1 import AppTest

        at = AppTest.from_file(str(APP), default_timeout=timeout)
        sign_in(at.run(), name, password)
        for page in pages:
            at.switch_page(f"pages/{page}.py").run()
        sessions.append(at)  # kept, as a server keeps every open session
        gc.collect()
        measured.append(_resident_bytes())
    # Each user's growth after the first (who may fill shared caches); the median, since a
    # collection can hand memory back between two users.
    steps = sorted(after - before for before, after in itertools.pairwise(measured))
    grown = max(0, steps[len(steps) // 2])
    return {"per_user_mb": grown / (1024 * 1024), "users": float(users),
            "total_mb": (measured[-1] - measured[0]) / (1024 * 1024)}


def _apptest_worker(argv: list[str]) -> None:
    """``python page_glue.py apptest CONFIG_DIR STORE_URL JSON``: the bench's page runs, in a
    process of their own so that its peak memory is an app process's; prints one JSON line."""
    from dashboard.bench.worker import peak_rss_bytes

    config_dir, store_url, extra = Path(argv[0]), argv[1], json.loads(argv[2])
    chosen = {page: [Filters(period=v["period"], regions=tuple(v["regions"]),
                             categories=tuple(v["categories"])) for v in page_variants]
              for page, page_variants in extra["variants"].items()}
    result: dict[str, Any] = {"pages": run_pages(config_dir, store_url, chosen, extra["timeout"])}
    result["memory_per_user"] = memory_per_user(store_url, ["overview", "map", "trends"],
                                                extra.get("users", 5), extra["timeout"])
    result["peak_rss_bytes"] = peak_rss_bytes()
    sys.stdout.write("\n" + json.dumps(result) + "\n")


if __name__ == "__main__" and sys.argv[1:2] == ["apptest"]:
    _apptest_worker(sys.argv[2:])
