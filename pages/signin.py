"""Sign-in, sign-out and idle timeout for the app (local accounts or OpenID Connect through
st.login). The signed-in viewer lives in st.session_state; nothing else of the app runs until
there is one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
import streamlit as st

from dashboard.security import accounts, audit, clock
from dashboard.security.policy import Viewer
from dashboard.settings import ProjectConfig

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
    st.title(config.settings.title)
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
        with engine.connect() as connection:
            has_users = connection.execute(sa.text("SELECT 1 FROM users LIMIT 1")).first()
        if has_users is None:
            st.warning("No account exists yet: create one with `threat-picture users add`.")
        return
    viewer = accounts.authenticate(engine, username, password, config.settings.security)
    if viewer is None:
        audit.record(engine, username or "(blank)", "sign_in_failed", page="local")
        st.error(accounts.SIGN_IN_FAILED)
        return
    now = clock.now()
    st.session_state[SESSION_KEY] = SignedIn(viewer, now, now)
    audit.record(engine, viewer.username, "sign_in", page="local",
                 detail={"role": viewer.role, "center_id": viewer.center_id})
    st.rerun()
