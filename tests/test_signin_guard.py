"""The sign-in guard on a fake monotonic clock: backoff sequence, per-client and per-name limits
that do not depend on each other, the hash gate's order and bounded wait, audit aggregation
(exact rows and repeats), memory bounds, and refusals that never tell whether an account
exists."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
import sqlalchemy as sa

from dashboard.security import accounts, audit
from dashboard.security.signin_guard import (
    SIGN_IN_BUSY,
    SIGN_IN_FAILED,
    SIGN_IN_THROTTLED,
    HashGate,
    HashGateBusy,
    SignInGuard,
    client_key,
    sign_in,
)
from dashboard.settings import ProjectConfig, SecuritySettings

START = 1000.0


class FakeClock:
    """A monotonic clock that moves only when told (or when something sleeps on it)."""

    def __init__(self) -> None:
        self.now = START
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def at(self, offset: float) -> None:
        self.now = START + offset


def settings(**changes: Any) -> SecuritySettings:
    return SecuritySettings.model_validate(changes)


def fail(guard: SignInGuard, username: str, client: str | None) -> None:
    """One admitted attempt that fails its password check."""
    admission = guard.admit(username, client)
    assert admission.admitted, (username, client, admission.wait_seconds)
    guard.finish(admission, username, "failed")


def client_wait(guard: SignInGuard, client: str) -> float:
    key = client_key(client)
    assert key is not None
    return guard.clients.wait_seconds(key, guard.clock.monotonic())


@pytest.fixture()
def with_users(ri_config: ProjectConfig, sqlite_store: sa.Engine) -> sa.Engine:
    accounts.ensure_demo_users(sqlite_store, ri_config)
    return sqlite_store


def failed_rows(engine: sa.Engine) -> list[tuple[str, dict[str, Any]]]:
    """(user name, detail) of every sign_in_failed row, oldest first."""
    rows = audit.audit_frame(engine).sort("audit_id")
    rows = rows.filter(rows["action"] == "sign_in_failed")
    return [(name, json.loads(detail)) for name, detail in rows.select("username", "detail").rows()]


def test_defaults_bound_hashing_and_throttle_after_five_failures() -> None:
    defaults = SecuritySettings.model_validate({})
    assert (defaults.sign_in_client_failures, defaults.sign_in_user_failures,
            defaults.sign_in_failure_window_seconds, defaults.sign_in_backoff_seconds,
            defaults.sign_in_backoff_max_seconds, defaults.sign_in_concurrent_hashes,
            defaults.sign_in_hash_wait_seconds, defaults.sign_in_audit_window_seconds) == (
        5, 5, 60, 1, 300, 2, 5, 60)


def test_backoff_doubles_with_each_failure_up_to_the_cap() -> None:
    clock = FakeClock()
    guard = SignInGuard(settings(sign_in_client_failures=3, sign_in_user_failures=1000,
                                 sign_in_failure_window_seconds=3600), clock)
    for _ in range(2):
        fail(guard, "someone", "10.0.0.1")
        assert client_wait(guard, "10.0.0.1") == 0
    fail(guard, "someone", "10.0.0.1")
    backoffs = []
    for _ in range(11):
        backoff = client_wait(guard, "10.0.0.1")
        backoffs.append(backoff)
        clock.now += backoff / 4
        refused = guard.admit("someone", "10.0.0.1")
        assert not refused.admitted and refused.wait_seconds == backoff * 3 / 4
        clock.now += backoff * 3 / 4  # the backoff is over: one more try, which fails
        fail(guard, "someone", "10.0.0.1")
    assert backoffs == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]
    # Quiet for a window plus the longest backoff: the next run of failures starts again at 1 s.
    clock.now += 3600 + 300 + 1
    for _ in range(3):
        fail(guard, "someone", "10.0.0.1")
    assert client_wait(guard, "10.0.0.1") == 1


def test_failures_older_than_the_window_no_longer_count() -> None:
    clock = FakeClock()
    guard = SignInGuard(settings(sign_in_client_failures=3, sign_in_user_failures=1000,
                                 sign_in_failure_window_seconds=60), clock)
    fail(guard, "a", "10.0.0.1")
    clock.at(30)
    fail(guard, "b", "10.0.0.1")
    clock.at(61)  # the first failure has left the window
    fail(guard, "c", "10.0.0.1")
    assert client_wait(guard, "10.0.0.1") == 0
    fail(guard, "d", "10.0.0.1")
    assert client_wait(guard, "10.0.0.1") == 1


def test_client_and_user_name_limits_are_independent() -> None:
    clock = FakeClock()
    guard = SignInGuard(settings(sign_in_client_failures=3, sign_in_user_failures=4,
                                 sign_in_backoff_seconds=10), clock)
    # One client, three names: the client is throttled, the names are not.
    for name in ("n1", "n2", "n3"):
        fail(guard, name, "10.0.0.1")
    refused = guard.admit("n4", "10.0.0.1")
    assert not refused.admitted and refused.wait_seconds == 10
    other_client = guard.admit("n1", "10.0.0.2")
    assert other_client.admitted
    guard.finish(other_client, "n1", "unchecked")
    # One name from four clients: the name is throttled for everyone (in any case), the
    # clients are not.
    for number in range(4):
        fail(guard, "analyst", f"10.1.0.{number}")
    refused = guard.admit("Analyst", "10.2.0.1")
    assert not refused.admitted and refused.wait_seconds == 10
    other_name = guard.admit("partner", "10.1.0.0")
    assert other_name.admitted
    guard.finish(other_name, "partner", "signed_in")
    # A success forgets the name's failures, never the client's.
    now = clock.monotonic()
    assert guard.names.recent_failures("partner", now) == 0
    assert guard.clients.recent_failures("10.1.0.0", now) == 1
    assert guard.names.recent_failures("analyst", now) == 4


def test_attempts_in_progress_count_so_parallel_ones_cannot_slip_past() -> None:
    guard = SignInGuard(settings(sign_in_client_failures=3, sign_in_user_failures=1000),
                        FakeClock())
    in_progress = [guard.admit(f"user{number}", "10.0.0.1") for number in range(3)]
    assert all(admission.admitted for admission in in_progress)
    assert [admission.priority for admission in in_progress] == [0, 1, 2]
    assert not guard.admit("user3", "10.0.0.1").admitted
    for number, admission in enumerate(in_progress):
        guard.finish(admission, f"user{number}", "failed")
    assert client_wait(guard, "10.0.0.1") == 1


def test_a_flooding_client_waits_behind_a_fresh_one() -> None:
    guard = SignInGuard(settings(sign_in_client_failures=5), FakeClock())
    for name in ("a", "b"):
        fail(guard, name, "10.0.0.1")
    assert guard.admit("c", "10.0.0.1").admitted  # and still in progress
    flooding = guard.admit("d", "10.0.0.1")
    fresh = guard.admit("analyst", "192.0.2.10")
    assert (flooding.priority, fresh.priority) == (3, 0)


def test_hash_gate_serves_lowest_priority_first_newest_among_equals() -> None:
    gate = HashGate(limit=1, max_wait_seconds=30)
    served: list[str] = []
    holder = gate.slot(0)
    holder.__enter__()

    def wait_for_slot(label: str, priority: int) -> None:
        with gate.slot(priority):
            served.append(label)

    threads = []
    for number, (label, priority) in enumerate([("a", 2), ("b", 0), ("c", 1), ("d", 0)]):
        thread = threading.Thread(target=wait_for_slot, args=(label, priority))
        thread.start()
        threads.append(thread)
        deadline = time.monotonic() + 10
        while gate.waiting < number + 1 and time.monotonic() < deadline:
            time.sleep(0.001)
    assert gate.waiting == 4
    holder.__exit__(None, None, None)
    for thread in threads:
        thread.join(timeout=10)
    assert served == ["d", "b", "c", "a"]
    assert gate.peak_active == 1 and gate.active == 0


def test_hash_gate_gives_up_after_its_wait() -> None:
    gate = HashGate(limit=1, max_wait_seconds=0.05)
    with gate.slot(0):
        with pytest.raises(HashGateBusy), gate.slot(0):
            pytest.fail("a second slot while the only one is held")
        assert gate.waiting == 0
    with gate.slot(5):  # free again
        assert gate.active == 1


def test_busy_sign_in_uses_no_lockout_slot(with_users: sa.Engine,
                                           ri_config: ProjectConfig) -> None:
    security = settings(sign_in_concurrent_hashes=1, sign_in_hash_wait_seconds=0.05)
    guard = SignInGuard(security, FakeClock())
    with guard.gate.slot(0):
        result = sign_in(with_users, guard, "analyst", "analyst-demo-2026", "10.0.0.1",
                         security)
    assert (result.viewer, result.message, result.busy, result.throttled) == (
        None, SIGN_IN_BUSY, True, False)
    assert guard.hashes_computed == 0
    assert accounts.list_users(with_users).filter(
        username="analyst")["failed_attempts"].to_list() == [0]
    assert sign_in(with_users, guard, "analyst", "analyst-demo-2026", "10.0.0.1",
                   security).signed_in


def test_failed_sign_ins_get_one_audit_row_per_window_with_repeats(
        with_users: sa.Engine) -> None:
    clock = FakeClock()
    security = settings(sign_in_client_failures=3, sign_in_user_failures=100,
                        sign_in_backoff_seconds=10, sign_in_failure_window_seconds=60,
                        sign_in_audit_window_seconds=60)
    guard = SignInGuard(security, clock)

    def attempt(offset: float, username: str, password: str, client: str) -> Any:
        clock.at(offset)
        return sign_in(with_users, guard, username, password, client, security)

    for offset in (0, 1, 2):  # the third failure throttles the client for 10 s
        assert attempt(offset, "partner", "wrong password!", "10.0.0.1").message == \
            SIGN_IN_FAILED
    throttled = attempt(3, "partner", "wrong password!", "10.0.0.1")
    assert (throttled.throttled, throttled.retry_after_seconds, throttled.message) == (
        True, 9, SIGN_IN_THROTTLED.format(seconds=9))
    # A made-up name from the throttled client is counted into its aggregate: no row.
    assert attempt(4, "made-up name", "whatever", "10.0.0.1").throttled
    assert failed_rows(with_users) == [
        ("partner", {"client": "10.0.0.1", "repeats": 0, "throttled": 0})]

    attempt(70, "partner", "wrong password!", "10.0.0.1")  # a window later: a row again
    attempt(71, "partner", "wrong password!", "10.0.0.1")  # counted into the next row
    # Nothing else from that client: a later sweep writes what was left pending.
    assert attempt(140, "director", "director-demo-2026", "10.0.0.2").signed_in
    assert failed_rows(with_users) == [
        ("partner", {"client": "10.0.0.1", "repeats": 0, "throttled": 0}),
        ("partner", {"client": "10.0.0.1", "repeats": 4, "throttled": 2}),
        ("partner", {"client": "10.0.0.1", "repeats": 1, "throttled": 0, "summary": True})]
    signed_in = audit.audit_frame(with_users).filter(action="sign_in")
    assert signed_in.select("username", "page").rows() == [("director", "local")]
    assert json.loads(signed_in["detail"][0]) == {
        "center_id": "rifc", "client": "10.0.0.2", "role": "leadership"}


def test_a_throttled_flood_of_made_up_names_stays_bounded() -> None:
    clock = FakeClock()
    guard = SignInGuard(settings(sign_in_client_failures=3, sign_in_user_failures=100),
                        clock, max_tracked_keys=50)
    for name in ("a", "b", "c"):
        fail(guard, name, "10.0.0.1")
    assert [row.username for row in guard.take_audit_rows()] == ["a", "b", "c"]
    for number in range(1000):
        assert not guard.admit(f"made-up {number}", "10.0.0.1").admitted
    assert guard.take_audit_rows() == []
    assert len(guard.names) <= 50 and len(guard.clients) == 1 and len(guard.audit) == 3
    summary = guard.flush_audit()
    assert [(row.username, row.detail) for row in summary] == [
        ("c", {"client": "10.0.0.1", "repeats": 1000, "throttled": 1000, "summary": True})]


def test_refusals_never_tell_whether_the_account_exists(with_users: sa.Engine) -> None:
    clock = FakeClock()
    security = settings(sign_in_client_failures=100, sign_in_user_failures=100)
    guard = SignInGuard(security, clock)

    def outcome(username: str, password: str, client: str) -> tuple[Any, ...]:
        result = sign_in(with_users, guard, username, password, client, security)
        return result.viewer, result.message, result.throttled, result.busy

    generic = (None, SIGN_IN_FAILED, False, False)
    assert outcome("analyst", "wrong password!", "10.0.0.1") == generic
    assert outcome("nobody", "wrong password!", "10.0.0.1") == generic
    assert guard.hashes_computed == 2  # the unknown name was hashed (against the dummy) too
    for _ in range(4):
        outcome("analyst", "wrong password!", "10.0.0.1")
    # Locked: refused without a hash, but after as long a wait as a hash takes.
    hashes, guard.typical_hash_seconds = guard.hashes_computed, 0.05
    assert outcome("analyst", "analyst-demo-2026", "10.0.0.1") == generic
    assert guard.hashes_computed == hashes and clock.slept == [0.05]

    # Throttled by name: the same answer for an account and a made-up name.
    strict = settings(sign_in_client_failures=100, sign_in_user_failures=2)
    guard = SignInGuard(strict, FakeClock())
    answers = []
    for name in ("director", "ghost"):
        for number in range(2):
            sign_in(with_users, guard, name, "wrong password!", f"10.9.0.{number}", strict)
        result = sign_in(with_users, guard, name, "wrong password!", "10.9.1.1", strict)
        answers.append((result.message, result.throttled, result.retry_after_seconds))
    assert answers == [(SIGN_IN_THROTTLED.format(seconds=1), True, 1)] * 2


def test_client_key_groups_an_ipv6_client_by_its_64() -> None:
    assert client_key("2001:db8:1:2::1") == client_key("2001:db8:1:2:ffff::9") == \
        "2001:db8:1:2::/64"
    assert client_key("::ffff:192.0.2.1") == "192.0.2.1"
    assert client_key(" 192.0.2.7 ") == "192.0.2.7"
    assert (client_key(None), client_key(""), client_key("proxy-a")) == (None, None, "proxy-a")
