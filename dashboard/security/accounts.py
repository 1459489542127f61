"""User accounts: local accounts with argon2id hashes and lockout, single sign-on users mapped
from their identity provider's claims, and the demo's accounts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import polars as pl
import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from dashboard.frames import read_frame
from dashboard.schema import ROLES, TLP_MARKINGS
from dashboard.security import clock
from dashboard.security.policy import TLP_RANK, Viewer
from dashboard.settings import ProjectConfig, SecuritySettings
from dashboard.store import table as sql_table

MIN_PASSWORD_LENGTH = 12
HASHER = PasswordHasher()
# Verified against when the name is unknown, so a failure costs the same time either way and
# never tells whether the account exists.
_DUMMY_HASH = HASHER.hash("not a password of anyone")
SIGN_IN_FAILED = "Sign-in failed: check your user name and password. After repeated failures " \
                 "an account is locked for a while."
# The demo's accounts: synthetic data only, so their passwords are printed and in the README.
DEMO_ACCOUNTS = (
    ("admin", "Demo administrator", "admin", "TLP:AMBER", False),
    ("director", "Demo director", "leadership", "TLP:RED", True),
    ("analyst", "Demo analyst", "analyst", "TLP:RED", False),
    ("partner", "Demo partner (fire/EMS)", "partner", "TLP:GREEN", False),
)


class UserError(ValueError):
    """A user-management request that cannot be done; the message is one line for the CLI."""


@dataclass(frozen=True)
class DemoCredential:
    username: str
    password: str
    role: str


def demo_password(username: str) -> str:
    return f"{username}-demo-2026"


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"password too short: at least {MIN_PASSWORD_LENGTH} characters")


def _user_row(connection: sa.Connection, username: str) -> Mapping[str, Any] | None:
    users = sql_table("users")
    row = connection.execute(sa.select(users).where(users.c.username == username)).first()
    return None if row is None else row._mapping


def add_user(engine: sa.Engine, config: ProjectConfig, username: str, display_name: str,
             role: str, center_id: str, max_tlp: str, password: str | None, *,
             need_to_know: bool = False, auth_method: str = "local") -> None:
    """Create an account; local accounts need a password of at least 12 characters."""
    if not username or len(username) > 100 or not username.isprintable():
        raise UserError(f"invalid user name {username!r}")
    if role not in ROLES:
        raise UserError(f"unknown role {role!r}: choose one of {', '.join(ROLES)}")
    if center_id not in {center.id for center in config.centers}:
        raise UserError(f"unknown center {center_id!r}: not in centers.toml")
    if max_tlp not in TLP_MARKINGS:
        raise UserError(f"unknown marking {max_tlp!r}: choose one of {', '.join(TLP_MARKINGS)}")
    if auth_method == "local":
        if password is None:
            raise UserError("a local account needs a password")
        _check_password(password)
    with engine.begin() as connection:
        if _user_row(connection, username) is not None:
            raise UserError(f"user {username!r} already exists")
        connection.execute(sql_table("users").insert().values(
            username=username, display_name=display_name or username, role=role,
            center_id=center_id, max_tlp=max_tlp, need_to_know=need_to_know,
            password_hash=HASHER.hash(password) if password else None, auth_method=auth_method,
            disabled=False, failed_attempts=0, locked_until=None, created_at=clock.now()))


def list_users(engine: sa.Engine) -> pl.DataFrame:
    """Every account, without its password hash."""
    columns = ["username", "display_name", "role", "center_id", "max_tlp", "need_to_know",
               "auth_method", "disabled", "failed_attempts", "locked_until", "created_at",
               "last_sign_in_at"]
    return read_frame(engine, "users", columns).sort("username")


def _update(engine: sa.Engine, username: str, **values: Any) -> None:
    users = sql_table("users")
    with engine.begin() as connection:
        if _user_row(connection, username) is None:
            raise UserError(f"no user {username!r}")
        connection.execute(users.update().where(users.c.username == username).values(values))


def set_disabled(engine: sa.Engine, username: str, disabled: bool) -> None:
    _update(engine, username, disabled=disabled)


def reset_password(engine: sa.Engine, username: str, password: str) -> None:
    """A new password; also lifts a lockout."""
    _check_password(password)
    _update(engine, username, password_hash=HASHER.hash(password), failed_attempts=0,
            locked_until=None, auth_method="local")


def viewer_of(row: Mapping[str, Any], security: SecuritySettings) -> Viewer:
    return Viewer(username=row["username"], display_name=row["display_name"], role=row["role"],
                  center_id=row["center_id"], max_tlp=row["max_tlp"],
                  need_to_know=bool(row["need_to_know"])).capped(dict(security.role_ceilings))


def viewer_for(engine: sa.Engine, username: str, security: SecuritySettings) -> Viewer | None:
    """The enabled account's viewer (for the CLI's --user and for tests), None otherwise."""
    with engine.connect() as connection:
        row = _user_row(connection, username)
    if row is None or row["disabled"]:
        return None
    return viewer_of(row, security)


def _as_utc(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=clock.now().tzinfo)


def authenticate(engine: sa.Engine, username: str, password: str,
                 security: SecuritySettings) -> Viewer | None:
    """The viewer for a correct name and password of an enabled, unlocked local account; None
    for anything else (the caller shows :data:`SIGN_IN_FAILED`, whatever the reason).

    ``max_failed_sign_ins`` failures in a row lock the account for ``lockout_minutes``; a
    success resets the count."""
    now = clock.now()
    users = sql_table("users")
    with engine.begin() as connection:
        row = _user_row(connection, username)
        stored_hash = row["password_hash"] if row is not None else None
        try:
            verified = HASHER.verify(stored_hash or _DUMMY_HASH, password)
        except (VerificationError, InvalidHashError):
            verified = False
        if row is None:
            return None
        locked_until = _as_utc(row["locked_until"])
        locked = locked_until is not None and locked_until > now
        usable = (stored_hash is not None and not row["disabled"]
                  and row["auth_method"] == "local")
        where = users.c.username == username
        if verified and usable and not locked:
            connection.execute(users.update().where(where).values(
                failed_attempts=0, locked_until=None, last_sign_in_at=now))
            return viewer_of(row, security)
        if locked:
            return None
        failures = int(row["failed_attempts"]) + 1
        lock = (now + timedelta(minutes=security.lockout_minutes)
                if failures >= security.max_failed_sign_ins else None)
        connection.execute(users.update().where(where).values(
            failed_attempts=0 if lock else failures, locked_until=lock))
        return None


def claims_username(claims: Mapping[str, Any]) -> str:
    """The user name a single sign-on identity is known by here ('' when it has none)."""
    return str(claims.get("preferred_username") or claims.get("email") or
               claims.get("sub") or "")


def viewer_from_claims(engine: sa.Engine, claims: Mapping[str, Any], config: ProjectConfig,
                       ) -> Viewer | None:
    """The viewer a single sign-on identity maps to, or None when its claims give no role here
    (or no known home center). The account is recorded (auth_method 'oidc') for the audit trail
    and the user list; a disabled account is refused."""
    oidc = config.settings.security.oidc
    username = claims_username(claims)
    values = claims.get(oidc.role_claim) or []
    if isinstance(values, str):
        values = values.replace(",", " ").split()
    mapped = [oidc.role_map[value] for value in values if value in oidc.role_map]
    center_id = claims.get(oidc.center_claim) or oidc.default_center
    if not username or not mapped or center_id not in {c.id for c in config.centers}:
        return None
    # The most privileged mapped role wins (ROLES is ordered most to least privileged).
    role = min(mapped, key=ROLES.index)
    max_tlp = str(claims.get(oidc.tlp_claim, "")) if oidc.tlp_claim else ""
    if max_tlp not in TLP_RANK:
        max_tlp = "TLP:GREEN" if role == "partner" else "TLP:AMBER"
    need_to_know = bool(claims.get(oidc.need_to_know_claim)) if oidc.need_to_know_claim else False
    users = sql_table("users")
    values_now = {"display_name": str(claims.get("name") or username), "role": role,
                  "center_id": center_id, "max_tlp": max_tlp, "need_to_know": need_to_know,
                  "last_sign_in_at": clock.now()}
    with engine.begin() as connection:
        row = _user_row(connection, username)
        if row is None:
            connection.execute(users.insert().values(
                username=username, password_hash=None, auth_method="oidc", disabled=False,
                failed_attempts=0, created_at=clock.now(), **values_now))
        elif row["disabled"]:
            return None
        else:
            connection.execute(users.update().where(users.c.username == username)
                               .values(values_now))
        row = _user_row(connection, username)
    assert row is not None
    return viewer_of(row, config.settings.security)


def ensure_demo_users(engine: sa.Engine, config: ProjectConfig) -> list[DemoCredential]:
    """Create the demo's accounts (one per role, at the state center) when the store has no
    account yet; returns the credentials created (empty when there were accounts already)."""
    with engine.connect() as connection:
        existing = connection.execute(sa.select(sa.func.count()).select_from(
            sql_table("users"))).scalar_one()
    if existing:
        return []
    home = next((c.id for c in config.centers if c.kind == "state"), config.centers[0].id)
    created = []
    for username, name, role, max_tlp, need_to_know in DEMO_ACCOUNTS:
        add_user(engine, config, username, name, role, home, max_tlp, demo_password(username),
                 need_to_know=need_to_know)
        created.append(DemoCredential(username, demo_password(username), role))
    return created
