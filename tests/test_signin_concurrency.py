"""Lockout under parallel attempts, counted atomically in the store: on a SQLite file (threads
need connections of their own) and on PostgreSQL (127.0.0.1:5432, database test; under CI=true a
missing server fails these tests instead of skipping them). Then the sign-in flood bench at a
small size, checked on its shape and bounds (timing is the bench's job, not the tests')."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
import sqlalchemy as sa

from dashboard.bench.signin import SCENARIOS, measure_signin_flood
from dashboard.security import accounts
from dashboard.security.policy import Viewer
from dashboard.security.signin_guard import SIGN_IN_FAILED, SignInGuard, sign_in
from dashboard.settings import ProjectConfig, SecuritySettings
from dashboard.store import open_store, operations_engine

PARALLEL = 20
RIGHT = "analyst-demo-2026"
Result = TypeVar("Result")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path,
          ri_config: ProjectConfig) -> Iterator[sa.Engine]:
    """A migrated store with the demo accounts, on each backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    else:  # no server: skipped locally, failed under CI=true (conftest.postgres_url)
        url = request.getfixturevalue("postgres_url")
    engine = open_store(url)
    accounts.ensure_demo_users(engine, ri_config)
    yield engine
    engine.dispose()


def in_parallel(calls: list[Callable[[], Result]]) -> list[Result]:
    """Run the calls in threads released together by a barrier; their results in order."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)
    errors: list[BaseException] = []

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = calls[index]()
        except BaseException as error:  # re-raised in the test's own thread below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    if errors:
        raise errors[0]
    return results


def lock_state(engine: sa.Engine, username: str) -> tuple[int, datetime | None]:
    with operations_engine(engine).connect() as connection:
        count, locked_until = connection.execute(sa.text(
            "SELECT failed_attempts, locked_until FROM users WHERE username = :name"),
            {"name": username}).one()
    if isinstance(locked_until, str):  # SQLite may hand the text back as it is
        locked_until = datetime.fromisoformat(locked_until)
    if locked_until is not None and locked_until.tzinfo is None:
        locked_until = locked_until.replace(tzinfo=UTC)
    return count, locked_until


def wrong_attempt(engine: sa.Engine, security: SecuritySettings,
                  number: int) -> Callable[[], Viewer | None]:
    return lambda: accounts.authenticate(engine, "analyst", f"wrong guess {number}", security)


def test_parallel_wrong_passwords_lock_the_account(store: sa.Engine,
                                                   ri_config: ProjectConfig) -> None:
    security = ri_config.settings.security
    results = in_parallel([wrong_attempt(store, security, n) for n in range(PARALLEL)])
    assert results == [None] * PARALLEL
    # The right password afterwards is refused: the account is locked, with a full count.
    assert accounts.authenticate(store, "analyst", RIGHT, security) is None
    count, locked_until = lock_state(store, "analyst")
    assert count == security.max_failed_sign_ins == 5
    assert locked_until is not None and locked_until > datetime.now(UTC)


def test_parallel_wrong_passwords_verify_at_most_the_limit_of_hashes(
        store: sa.Engine, ri_config: ProjectConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    security = ri_config.settings.security
    verified: list[str] = []
    verify = accounts.verify_password

    def counted(stored_hash: str | None, password: str) -> bool:
        verified.append(password)  # list.append is atomic across threads
        return verify(stored_hash, password)

    monkeypatch.setattr(accounts, "verify_password", counted)
    in_parallel([wrong_attempt(store, security, n) for n in range(PARALLEL)])
    # Exactly the slots there were: every other attempt was refused without a hash.
    assert len(verified) == security.max_failed_sign_ins


def test_right_password_after_one_failure_short_of_the_lock_gets_in(
        store: sa.Engine, ri_config: ProjectConfig) -> None:
    security = ri_config.settings.security
    for _ in range(security.max_failed_sign_ins - 1):
        assert accounts.authenticate(store, "analyst", "wrong password!", security) is None
    viewer = accounts.authenticate(store, "analyst", RIGHT, security)
    assert viewer is not None and viewer.username == "analyst"
    assert lock_state(store, "analyst") == (0, None)


def test_right_password_among_parallel_wrong_ones_below_the_limit_gets_in(
        store: sa.Engine, ri_config: ProjectConfig) -> None:
    security = ri_config.settings.security
    wrong = [wrong_attempt(store, security, n) for n in range(security.max_failed_sign_ins - 2)]
    results = in_parallel([*wrong, lambda: accounts.authenticate(store, "analyst", RIGHT,
                                                                 security)])
    assert results[:-1] == [None] * len(wrong)
    assert results[-1] is not None and results[-1].username == "analyst"
    count, locked_until = lock_state(store, "analyst")
    assert locked_until is None and count <= len(wrong)


def test_guarded_sign_in_bounds_hashing_under_parallel_attempts(
        store: sa.Engine, ri_config: ProjectConfig) -> None:
    security = ri_config.settings.security
    guard = SignInGuard(security)
    results = in_parallel([
        (lambda n=n: sign_in(store, guard, "analyst", f"wrong guess {n}", f"198.51.100.{n}",
                             security)) for n in range(PARALLEL)])
    assert not any(result.signed_in for result in results)
    # In progress counts against the name's limit, and the store's slots cap it again.
    assert guard.hashes_computed <= min(security.sign_in_user_failures,
                                        security.max_failed_sign_ins)
    assert guard.peak_hashing <= security.sign_in_concurrent_hashes
    assert {(result.throttled, result.message == SIGN_IN_FAILED) for result in results} <= {
        (True, False), (False, True)}
    assert not sign_in(store, guard, "analyst", RIGHT, "192.0.2.10", security).signed_in


def test_signin_flood_bench_keeps_its_bounds(tmp_path: Path, ri_config: ProjectConfig) -> None:
    engine = open_store(f"sqlite:///{tmp_path / 'bench.sqlite'}")
    accounts.ensure_demo_users(engine, ri_config)
    # A long first backoff keeps a throttled client out for the whole run, and a long wait for
    # a hashing slot keeps a slow machine from answering busy: the bounds below are exact.
    security = ri_config.settings.security.model_copy(update={
        "sign_in_backoff_seconds": 600.0, "sign_in_hash_wait_seconds": 120.0})
    sessions, attempts = 6, 2
    figures = measure_signin_flood(engine, security, real_user="analyst", real_password=RIGHT,
                                   sessions=sessions, attempts=attempts)
    assert (figures["sessions"], figures["attempts_per_session"]) == (sessions, attempts)
    assert figures["known_names"] == ["admin", "director", "partner"]
    for scenario in SCENARIOS:
        run = figures[scenario]
        assert run["real_user_signed_in"] is True and run["real_user_message"] == ""
        assert run["real_user_seconds"] > 0
        assert sum(run["outcomes"].values()) == run["attempts"] == sessions * attempts
        assert run["outcomes"].get("signed_in", 0) == 0
        assert 1 <= run["peak_concurrent_hashes"] <= security.sign_in_concurrent_hashes
        assert run["peak_rss_growth_mb"] >= 0
    one_ip = figures["one_ip"]
    # One address: its first failures, then refused unhashed; plus the real user's hash.
    assert one_ip["hashes_computed"] <= security.sign_in_client_failures + 1
    assert one_ip["outcomes"]["throttled"] >= sessions * attempts - \
        security.sign_in_client_failures
    assert figures["distinct_ips"]["hashes_computed"] <= sessions * attempts + 1
    assert accounts.list_users(engine)["failed_attempts"].to_list() == [0, 0, 0, 0]
