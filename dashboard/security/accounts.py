"""User accounts: local accounts with argon2id hashes and lockout, single sign-on users mapped
from their identity provider's claims, and the demo's accounts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

import polars as pl
import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from dashboard.frames import read_frame
from dashboard.schema import ROLES, TLP_MARKINGS
from dashboard.security import clock
from dashboard.security.policy import TLP_RANK, Viewer
from dashboard.settings import ProjectConfig, SecuritySettings
from dashboard.store import on_operations, write_transaction
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
    return None if row is None else dict(row._mapping)


@on_operations
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
    with write_transaction(engine) as connection:
        if _user_row(connection, username) is not None:
            raise UserError(f"user {username!r} already exists")
        connection.execute(sql_table("users").insert().values(
            username=username, display_name=display_name or username, role=role,
            center_id=center_id, max_tlp=max_tlp, need_to_know=need_to_know,
            password_hash=HASHER.hash(password) if password else None, auth_method=auth_method,
            disabled=False, failed_attempts=0, locked_until=None, created_at=clock.now()))


@on_operations
def has_accounts(engine: sa.Engine) -> bool:
    """Whether any account exists (the sign-in page says how to create the first)."""
    with engine.connect() as connection:
        return connection.execute(sa.select(sql_table("users").c.username).limit(1)
                                  ).first() is not None


@on_operations
def list_users(engine: sa.Engine) -> pl.DataFrame:
    """Every account, without its password hash."""
    columns = ["username", "display_name", "role", "center_id", "max_tlp", "need_to_know",
               "auth_method", "disabled", "failed_attempts", "locked_until", "created_at",
               "last_sign_in_at"]
    return read_frame(engine, "users", columns).sort("username")


@on_operations
def _update(engine: sa.Engine, username: str, **values: Any) -> None:
    users = sql_table("users")
    with write_transaction(engine) as connection:
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
                  need_to_know=bool(row["need_to_know"])).capped(
                      {str(role): str(tlp) for role, tlp in security.role_ceilings.items()})


@on_operations
def viewer_for(engine: sa.Engine, username: str, security: SecuritySettings) -> Viewer | None:
    """The enabled account's viewer (for the CLI's --user and for tests), None otherwise."""
    with engine.connect() as connection:
        row = _user_row(connection, username)
    if row is None or row["disabled"]:
        return None
    return viewer_of(row, security)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Whether the password matches the hash. Without a hash (unknown name, single sign-on
    account) the dummy hash is verified anyway, so the answer costs the same time, and False."""
    matches: bool
    try:
        matches = HASHER.verify(stored_hash or _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        matches = False
    return matches and stored_hash is not None


@dataclass(frozen=True)
class SignInClaim:
    """One sign-in attempt's slot in its account's failure count (see :func:`claim_sign_in`).

    ``status``: ``claimed`` (a slot was taken: verify the password, then
    :func:`finish_sign_in`), ``refused`` (the account is locked, or every slot is taken by
    attempts still in progress: refuse without hashing) or ``unknown`` (no such account: verify
    against the dummy hash anyway so the answer takes as long)."""

    username: str
    status: Literal["claimed", "refused", "unknown"]
    row: Mapping[str, Any] | None = None
    number: int = 0

    @property
    def stored_hash(self) -> str | None:
        return None if self.row is None else self.row["password_hash"]


@on_operations
def claim_sign_in(engine: sa.Engine, username: str, security: SecuritySettings) -> SignInClaim:
    """Count an attempt as a failure before its password is checked, with one conditional
    UPDATE, so parallel attempts cannot all read the same count and overwrite each other.

    A slot is free while the account is unlocked with fewer than ``max_failed_sign_ins``
    counted attempts, or once its lock has expired (the count then restarts at 1). The attempt
    that takes the last slot locks the account at once: the lock needs no later write, so an
    attempt that never finishes cannot leave the account open or locked for ever."""
    now = clock.now()
    users = sql_table("users")
    limit = security.max_failed_sign_ins
    lock_expired = sa.and_(users.c.locked_until.is_not(None), users.c.locked_until <= now)
    has_free_slot = sa.and_(users.c.locked_until.is_(None), users.c.failed_attempts < limit)
    count_after = sa.case((lock_expired, 1), else_=users.c.failed_attempts + 1)
    lock_until = sa.literal(now + timedelta(minutes=security.lockout_minutes),
                            users.c.locked_until.type)
    claim = (users.update()
             .where(users.c.username == username, sa.or_(has_free_slot, lock_expired))
             .values(failed_attempts=count_after,
                     locked_until=sa.case((count_after >= limit, lock_until), else_=sa.null())))
    with write_transaction(engine) as connection:
        claimed = connection.execute(claim).rowcount == 1
        # Still in the claim's transaction: the row as this claim left it.
        row = _user_row(connection, username)
    if row is None:
        return SignInClaim(username, "unknown")
    if not claimed:
        return SignInClaim(username, "refused")
    return SignInClaim(username, "claimed", row, int(row["failed_attempts"]))


@on_operations
def finish_sign_in(engine: sa.Engine, claim: SignInClaim, verified: bool,
                   security: SecuritySettings) -> Viewer | None:
    """The viewer when the claimed attempt's password was right and the account is still
    usable and was not locked meanwhile by other attempts; None otherwise.

    A success resets the count, in one conditional UPDATE whose row count says whether the
    account was still open. A failure was counted by the claim already; it only restarts a
    lock the count has reached, so the lock lasts ``lockout_minutes`` from the last failure."""
    if claim.status != "claimed" or claim.row is None:
        return None
    now = clock.now()
    users = sql_table("users")
    this_account = users.c.username == claim.username
    usable = (claim.stored_hash is not None and not claim.row["disabled"]
              and claim.row["auth_method"] == "local")
    with write_transaction(engine) as connection:
        if verified and usable:
            still_open: sa.ColumnElement[bool] = users.c.locked_until.is_(None)
            if claim.number >= security.max_failed_sign_ins:
                # This attempt took the last slot and so set the lock itself: no one else
                # could claim after it, so a count still at its number means an own lock.
                still_open = sa.or_(still_open, users.c.failed_attempts == claim.number)
            success = (users.update()
                       .where(this_account, still_open, users.c.disabled == sa.false(),
                              users.c.auth_method == "local",
                              users.c.password_hash == claim.stored_hash)
                       .values(failed_attempts=0, locked_until=None, last_sign_in_at=now))
            if connection.execute(success).rowcount == 1:
                return viewer_of(claim.row, security)
            return None
        connection.execute(
            users.update()
            .where(this_account, users.c.failed_attempts >= security.max_failed_sign_ins,
                   users.c.locked_until > now)
            .values(locked_until=now + timedelta(minutes=security.lockout_minutes)))
        return None


@on_operations
def authenticate(engine: sa.Engine, username: str, password: str,
                 security: SecuritySettings) -> Viewer | None:
    """The viewer for a correct name and password of an enabled, unlocked local account; None
    for anything else (the caller shows :data:`SIGN_IN_FAILED`, whatever the reason).

    ``max_failed_sign_ins`` failures in a row lock the account for ``lockout_minutes``; a
    success resets the count. No throttle and no bound on parallel hashing here: the app signs
    in through :func:`dashboard.security.signin_guard.sign_in`, which adds both."""
    claim = claim_sign_in(engine, username, security)
    if claim.status == "refused":
        return None
    verified = verify_password(claim.stored_hash, password)
    return finish_sign_in(engine, claim, verified, security)


def claims_username(claims: Mapping[str, Any]) -> str:
    """The user name a single sign-on identity is known by here ('' when it has none)."""
    return str(claims.get("preferred_username") or claims.get("email") or
               claims.get("sub") or "")


@on_operations
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
    with write_transaction(engine) as connection:
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


@on_operations
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
