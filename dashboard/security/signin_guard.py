"""Local sign-in that holds under attack: throttling with backoff, bounded hashing, and an audit
trail that a flood cannot grow without bound.

:func:`sign_in` is what the sign-in form calls, with one process-wide :class:`SignInGuard`:

1. **Throttle** (no hashing): failures are counted per client address and per user name as
   typed, in a sliding window. Once a limit is reached, further attempts from that client (or
   for that name) are refused for a backoff that doubles with every further failure, up to a
   cap. Attempts still in progress count too, so parallel requests cannot slip past a limit.
2. **Hash gate**: at most ``sign_in_concurrent_hashes`` argon2 hashes (64 MiB each) at once;
   waiting requests are served fewest-recent-failures-of-their-client first, for at most
   ``sign_in_hash_wait_seconds``, then told the service is busy. A flood therefore cannot
   exhaust memory, and a real user's request overtakes a flooding client's.
3. **Lockout** in the store (:func:`~dashboard.security.accounts.claim_sign_in`): an attempt
   takes a slot in the account's failure count before its password is checked; a locked
   account is refused without hashing.
4. **Audit**: a failed sign-in is still audited as ``sign_in_failed``, but one (name, client)
   gets at most one row per ``sign_in_audit_window_seconds``; the next row carries in its
   detail the ``repeats`` in between (``throttled``: how many of those were turned away
   unchecked, by the throttle or a busy gate).

No answer tells whether an account exists: an unknown name is hashed against a dummy hash and
counted like any other; a locked account's refusal waits about as long as a hash takes.
"""

from __future__ import annotations

import heapq
import ipaddress
import itertools
import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import sqlalchemy as sa

from dashboard.security import accounts, audit
from dashboard.security.clock import SYSTEM_MONOTONIC, MonotonicClock
from dashboard.security.policy import Viewer
from dashboard.settings import SecuritySettings

SIGN_IN_FAILED = accounts.SIGN_IN_FAILED
SIGN_IN_THROTTLED = ("Sign-in failed: too many attempts. Wait {seconds} seconds, then try "
                     "again.")
SIGN_IN_BUSY = "Sign-in is busy: please try again in a few seconds."
# Keys each table of the guard keeps at most; beyond that the least recently used idle key
# goes, so a flood of made-up names or addresses cannot grow the process without bound.
MAX_TRACKED_KEYS = 100_000
# Weight of the newest hash duration in the running estimate a locked account's refusal waits.
HASH_SECONDS_WEIGHT = 0.2
BLANK_NAME = "(blank)"

Outcome = Literal["signed_in", "failed", "unchecked"]


def client_key(address: str | None) -> str | None:
    """The key one client's failures are counted under: its IP address; an IPv6 client by its
    /64 (one machine usually holds a whole /64). None when the app could not tell."""
    if not address or not address.strip():
        return None
    text = address.strip()
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return text[:100]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{ip}/64", strict=False))
    return str(ip)


def name_key(username: str) -> str:
    """The key a typed user name's failures are counted under (case variants count as one)."""
    return username.strip().casefold()[:100]


@dataclass
class _FailureTrack:
    failures: deque[float] = field(default_factory=deque)
    in_flight: int = 0
    # Backoffs imposed since the key was last quiet: the next one lasts backoff * 2**level.
    level: int = 0
    blocked_until: float = -math.inf
    last_failure: float = -math.inf
    last_activity: float = -math.inf
    # Attempts that did not sign in (failures and refusals alike), decaying with the window's
    # time constant: how hard the key is pushing, for the hash gate's order.
    pressure: float = 0.0
    pressure_at: float = -math.inf


class FailureThrottle:
    """Sliding-window failure counts per key with exponential backoff. Not locked itself: the
    :class:`SignInGuard` that owns it serialises every call."""

    def __init__(self, limit: int, window_seconds: float, backoff_seconds: float,
                 backoff_max_seconds: float, *, forget_on_success: bool,
                 max_keys: int = MAX_TRACKED_KEYS):
        self.limit = limit
        self.window_seconds = window_seconds
        self.backoff_seconds = backoff_seconds
        self.backoff_max_seconds = backoff_max_seconds
        self.forget_on_success = forget_on_success
        self.max_keys = max_keys
        self._tracks: OrderedDict[str, _FailureTrack] = OrderedDict()

    def __len__(self) -> int:
        return len(self._tracks)

    def backoff(self, level: int) -> float:
        # min() first on the exponent: 2**level of a long-running attacker must not overflow.
        return min(self.backoff_seconds * 2.0 ** min(level, 64), self.backoff_max_seconds)

    def _prune(self, track: _FailureTrack, now: float) -> None:
        while track.failures and track.failures[0] <= now - self.window_seconds:
            track.failures.popleft()

    def recent_failures(self, key: str, now: float) -> int:
        track = self._tracks.get(key)
        if track is None:
            return 0
        self._prune(track, now)
        return len(track.failures)

    def _decay(self, track: _FailureTrack, now: float) -> None:
        if track.pressure:
            track.pressure *= math.exp(-(now - track.pressure_at) / self.window_seconds)
        track.pressure_at = now

    def priority(self, key: str, now: float) -> int:
        """The key's recent unsuccessful attempts (decayed) plus its attempts in progress:
        the hash gate serves the lowest first."""
        track = self._tracks.get(key)
        if track is None:
            return 0
        self._decay(track, now)
        return int(track.pressure) + track.in_flight

    def refused(self, key: str, now: float) -> None:
        """An attempt under this key was turned away unchecked: it adds to its pressure, not to
        its failures (a refusal must not extend the backoff it is refused by)."""
        track = self._touch(key, now)
        self._decay(track, now)
        track.pressure += 1

    def wait_seconds(self, key: str, now: float) -> float:
        """0 when an attempt under this key may go ahead, else how long to wait."""
        track = self._tracks.get(key)
        if track is None:
            return 0.0
        self._prune(track, now)
        if track.blocked_until > now:
            return track.blocked_until - now
        # Past a backoff one attempt at a time may probe; below the limit as many as would
        # not reach it if they all failed.
        if track.in_flight and len(track.failures) + track.in_flight >= self.limit:
            return self.backoff(track.level)
        return 0.0

    def _touch(self, key: str, now: float) -> _FailureTrack:
        track = self._tracks.get(key)
        if track is None:
            self._make_room(now)
            track = self._tracks[key] = _FailureTrack()
        self._tracks.move_to_end(key)
        track.last_activity = now
        return track

    def begin(self, key: str, now: float) -> None:
        self._touch(key, now).in_flight += 1

    def end(self, key: str, now: float, outcome: Outcome) -> None:
        track = self._tracks.get(key)
        if track is None:  # evicted meanwhile: nothing left to count against
            return
        track.in_flight = max(0, track.in_flight - 1)
        track.last_activity = now
        if outcome != "signed_in":
            self._decay(track, now)
            track.pressure += 1
        if outcome == "signed_in" and self.forget_on_success:
            track.failures.clear()
            track.level, track.blocked_until = 0, -math.inf
        elif outcome == "failed":
            if now - track.last_failure > self.window_seconds + self.backoff_max_seconds:
                track.level = 0  # quiet for long enough: start again from the first backoff
            self._prune(track, now)
            track.failures.append(now)
            track.last_failure = now
            if len(track.failures) >= self.limit:
                track.blocked_until = max(track.blocked_until, now + self.backoff(track.level))
                track.level += 1

    def _idle(self, track: _FailureTrack, now: float) -> bool:
        # Idle once its level would reset: no failure left in the window, no backoff running.
        quiet_since = max(track.last_failure, track.last_activity)
        return (track.in_flight == 0 and
                now - quiet_since > self.window_seconds + self.backoff_max_seconds)

    def sweep(self, now: float) -> None:
        for key in [key for key, track in self._tracks.items() if self._idle(track, now)]:
            del self._tracks[key]

    def _make_room(self, now: float) -> None:
        # Least recently used first, sparing keys still serving a backoff while others can go:
        # a flood of made-up names must not push a throttled key out. (Idle keys go in the
        # guard's periodic sweep; sweeping here would cost a full scan per new key.)
        for spare_blocked in (True, False):
            for key in list(self._tracks):
                if len(self._tracks) < self.max_keys:
                    return
                track = self._tracks[key]
                if track.in_flight == 0 and not (spare_blocked and track.blocked_until > now):
                    del self._tracks[key]


@dataclass(frozen=True)
class FailedSignInRow:
    """A ``sign_in_failed`` audit row to write."""

    username: str
    detail: dict[str, Any]


@dataclass
class _AuditAggregate:
    last_row_at: float = -math.inf
    repeats: int = 0
    throttled: int = 0


AuditKey = tuple[str, str]


class FailureAudit:
    """Aggregates failed sign-ins so that one (name, client) gets at most one audit row per
    window. A row stands for one checked attempt plus ``repeats`` earlier ones that got no row
    of their own; a row written by :meth:`sweep` (detail ``summary: true``) stands only for its
    ``repeats``. Not locked itself: the owning :class:`SignInGuard` serialises every call."""

    def __init__(self, window_seconds: float, max_keys: int = MAX_TRACKED_KEYS):
        self.window_seconds = window_seconds
        self.max_keys = max_keys
        self._aggregates: OrderedDict[AuditKey, _AuditAggregate] = OrderedDict()
        # The aggregate an unchecked refusal is counted into when its own (name, client) has
        # none: that of the client's or the name's latest row. A flood of made-up names from
        # one throttled client thus adds to one count instead of creating one row each.
        self._latest_by_client: dict[str, AuditKey] = {}
        self._latest_by_name: dict[str, AuditKey] = {}

    def __len__(self) -> int:
        return len(self._aggregates)

    @staticmethod
    def _row(key: AuditKey, aggregate: _AuditAggregate, *, summary: bool) -> FailedSignInRow:
        detail: dict[str, Any] = {"client": key[1] or None, "repeats": aggregate.repeats,
                                  "throttled": aggregate.throttled}
        if summary:
            detail["summary"] = True
        return FailedSignInRow(key[0], detail)

    def _remember(self, key: AuditKey) -> None:
        self._aggregates.move_to_end(key)
        if key[1]:
            self._latest_by_client[key[1]] = key
        self._latest_by_name[key[0]] = key

    def failed(self, username: str, client: str | None, now: float) -> list[FailedSignInRow]:
        """A checked attempt failed: a row to write unless its (name, client) had one within
        the window (then it is counted into the next)."""
        key: AuditKey = (username[:100], client or "")
        aggregate = self._aggregates.get(key)
        rows = [] if aggregate is not None else self._make_room()
        if aggregate is None:
            aggregate = self._aggregates[key] = _AuditAggregate()
        self._remember(key)
        if now - aggregate.last_row_at < self.window_seconds:
            aggregate.repeats += 1
            return rows
        rows.append(self._row(key, aggregate, summary=False))
        aggregate.last_row_at, aggregate.repeats, aggregate.throttled = now, 0, 0
        return rows

    def unchecked(self, username: str, client: str | None, now: float) -> list[FailedSignInRow]:
        """An attempt turned away without checking its password (throttled, or the hash gate
        busy): counted into an aggregate, never a row of its own."""
        key: AuditKey = (username[:100], client or "")
        if key not in self._aggregates:
            fallback = (self._latest_by_client.get(key[1]) if key[1] else None) \
                or self._latest_by_name.get(key[0])
            if fallback is not None and fallback in self._aggregates:
                key = fallback
        rows = [] if key in self._aggregates else self._make_room()
        aggregate = self._aggregates.setdefault(key, _AuditAggregate())
        self._remember(key)
        aggregate.repeats += 1
        aggregate.throttled += 1
        return rows

    def sweep(self, now: float) -> list[FailedSignInRow]:
        """Rows for counts left pending a whole window (no attempt came to carry them), and
        aggregates idle a whole window forgotten."""
        rows: list[FailedSignInRow] = []
        for key, aggregate in list(self._aggregates.items()):
            if now - aggregate.last_row_at < self.window_seconds:
                continue
            if aggregate.repeats:
                rows.append(self._row(key, aggregate, summary=True))
                aggregate.last_row_at, aggregate.repeats, aggregate.throttled = now, 0, 0
            else:
                self._forget(key)
        return rows

    def _forget(self, key: AuditKey) -> None:
        del self._aggregates[key]
        if self._latest_by_client.get(key[1]) == key:
            del self._latest_by_client[key[1]]
        if self._latest_by_name.get(key[0]) == key:
            del self._latest_by_name[key[0]]

    def _make_room(self) -> list[FailedSignInRow]:
        rows = []
        while len(self._aggregates) >= self.max_keys:  # least recently used first
            key, aggregate = next(iter(self._aggregates.items()))
            if aggregate.repeats:
                rows.append(self._row(key, aggregate, summary=True))
            self._forget(key)
        return rows


class HashGateBusy(Exception):
    """No hashing slot came free within the gate's longest wait."""


class HashGate:
    """At most ``limit`` holders at once; waiters are served lowest priority number first,
    each for at most ``max_wait_seconds`` of real time.

    Ties go to the newest waiter (LIFO): in a flood the oldest waiters would time out anyway,
    and a real user arriving amid a burst of equally fresh attackers gets the next slot
    instead of queueing behind all of them. Without a backlog the order hardly matters."""

    def __init__(self, limit: int, max_wait_seconds: float):
        self.limit = limit
        self.max_wait_seconds = max_wait_seconds
        self._condition = threading.Condition()
        self._waiting: list[tuple[int, int]] = []  # a heap of (priority, -arrival ticket)
        self._tickets = itertools.count()
        self.active = 0
        self.peak_active = 0

    @property
    def waiting(self) -> int:
        with self._condition:
            return len(self._waiting)

    @contextmanager
    def slot(self, priority: int) -> Iterator[None]:
        """Hold a slot for the ``with`` body; raises :class:`HashGateBusy` after the wait."""
        with self._condition:
            entry = (priority, -next(self._tickets))
            heapq.heappush(self._waiting, entry)
            # Real time, not the guard's clock: this is a real wait on other threads' hashes.
            deadline = time.monotonic() + self.max_wait_seconds
            try:
                while self.active >= self.limit or self._waiting[0] != entry:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise HashGateBusy
                    self._condition.wait(remaining)
            except BaseException:
                # Out of the line whatever ended the wait, or it would block everyone behind.
                self._waiting.remove(entry)
                heapq.heapify(self._waiting)
                self._condition.notify_all()  # the next in line may now be first
                raise
            heapq.heappop(self._waiting)
            self.active += 1
            self.peak_active = max(self.peak_active, self.active)
            self._condition.notify_all()  # the next in line may fit too (limit > 1)
        try:
            yield
        finally:
            with self._condition:
                self.active -= 1
                self._condition.notify_all()


@dataclass(frozen=True)
class Admission:
    """The throttle's answer to one attempt (see :meth:`SignInGuard.admit`)."""

    name_key: str
    client_key: str | None
    wait_seconds: float = 0.0
    # Recent unsuccessful attempts and attempts in progress of the client (of the name when
    # the client is unknown): the hash gate serves the fewest first.
    priority: int = 0

    @property
    def admitted(self) -> bool:
        return self.wait_seconds <= 0


@dataclass(frozen=True)
class SignInResult:
    """What the sign-in form shows: the viewer on success, else ``message``."""

    viewer: Viewer | None
    message: str = ""
    throttled: bool = False
    busy: bool = False
    retry_after_seconds: int = 0

    @property
    def signed_in(self) -> bool:
        return self.viewer is not None


class SignInGuard:
    """The process-wide state of local sign-in: throttles, hash gate, audit aggregates and
    counters. Thread-safe; ``clock`` (monotonic) is injectable so tests need not sleep."""

    def __init__(self, security: SecuritySettings, clock: MonotonicClock = SYSTEM_MONOTONIC,
                 *, max_tracked_keys: int = MAX_TRACKED_KEYS):
        self.clock = clock
        window = security.sign_in_failure_window_seconds
        backoff = (security.sign_in_backoff_seconds, security.sign_in_backoff_max_seconds)
        # A success forgets the name's failures (its owner got in), never the client's: an
        # attacker's own valid account must not reset the address it floods from.
        self.clients = FailureThrottle(security.sign_in_client_failures, window, *backoff,
                                       forget_on_success=False, max_keys=max_tracked_keys)
        self.names = FailureThrottle(security.sign_in_user_failures, window, *backoff,
                                     forget_on_success=True, max_keys=max_tracked_keys)
        self.audit = FailureAudit(security.sign_in_audit_window_seconds, max_tracked_keys)
        self.gate = HashGate(security.sign_in_concurrent_hashes,
                             security.sign_in_hash_wait_seconds)
        self._lock = threading.Lock()
        self._sweep_every = min(window, security.sign_in_audit_window_seconds) / 2
        self._next_sweep = clock.monotonic() + self._sweep_every
        self._rows: list[FailedSignInRow] = []
        self.hashes_computed = 0
        self.hashing_now = 0
        self.peak_hashing = 0
        self.typical_hash_seconds = 0.0

    def admit(self, username: str, client: str | None) -> Admission:
        """Whether an attempt may go ahead; if so it counts as in progress until
        :meth:`finish`."""
        name, address = name_key(username), client_key(client)
        with self._lock:
            now = self.clock.monotonic()
            wait = self.names.wait_seconds(name, now)
            if address is not None:
                wait = max(wait, self.clients.wait_seconds(address, now))
            if wait > 0:
                # Pressure only where the gate's priority is read: a throttled flood of made-up
                # names must not create a key per name.
                if address is not None:
                    self.clients.refused(address, now)
                else:
                    self.names.refused(name, now)
                self._rows += self.audit.unchecked(username or BLANK_NAME, address, now)
                self._sweep_if_due(now)
                return Admission(name, address, wait_seconds=wait)
            priority = (self.clients.priority(address, now) if address is not None
                        else self.names.priority(name, now))
            self.names.begin(name, now)
            if address is not None:
                self.clients.begin(address, now)
            return Admission(name, address, priority=priority)

    def finish(self, admission: Admission, username: str, outcome: Outcome) -> None:
        """End an admitted attempt: count a failure (and audit it, aggregated), forget the
        name's failures after a success, or just free it when it was never checked."""
        with self._lock:
            now = self.clock.monotonic()
            self.names.end(admission.name_key, now, outcome)
            if admission.client_key is not None:
                self.clients.end(admission.client_key, now, outcome)
            typed = username or BLANK_NAME
            if outcome == "failed":
                self._rows += self.audit.failed(typed, admission.client_key, now)
            elif outcome == "unchecked":
                self._rows += self.audit.unchecked(typed, admission.client_key, now)
            self._sweep_if_due(now)

    def verify_password(self, stored_hash: str | None, password: str) -> bool:
        """:func:`accounts.verify_password`, counted (the bench and tests read the counts)."""
        with self._lock:
            self.hashes_computed += 1
            self.hashing_now += 1
            self.peak_hashing = max(self.peak_hashing, self.hashing_now)
        started = self.clock.monotonic()
        try:
            return accounts.verify_password(stored_hash, password)
        finally:
            took = self.clock.monotonic() - started
            with self._lock:
                self.hashing_now -= 1
                self.typical_hash_seconds += HASH_SECONDS_WEIGHT * (
                    took - self.typical_hash_seconds)

    def pause_like_a_hash(self) -> None:
        """Wait about as long as a hash takes, holding no hashing slot: a locked account's
        refusal must not come back faster than an unknown name's."""
        self.clock.sleep(self.typical_hash_seconds)

    def take_audit_rows(self) -> list[FailedSignInRow]:
        with self._lock:
            rows, self._rows = self._rows, []
        return rows

    def flush_audit(self) -> list[FailedSignInRow]:
        """Every pending count as a summary row now (at shutdown, or at the end of a bench),
        whatever the window."""
        with self._lock:
            self._rows += self.audit.sweep(math.inf)
        return self.take_audit_rows()

    def _sweep_if_due(self, now: float) -> None:
        # Only after an attempt is recorded: a count it carries must not be flushed just before.
        if now < self._next_sweep:
            return
        self._next_sweep = now + self._sweep_every
        self._rows += self.audit.sweep(now)
        self.clients.sweep(now)
        self.names.sweep(now)


def write_audit_rows(engine: sa.Engine, rows: list[FailedSignInRow]) -> None:
    for row in rows:
        audit.record(engine, row.username, "sign_in_failed", page="local", detail=row.detail)


def sign_in(engine: sa.Engine, guard: SignInGuard, username: str, password: str,
            client: str | None, security: SecuritySettings) -> SignInResult:
    """One local sign-in attempt from the form: throttle, then (in the hash gate) claim a slot
    in the account's failure count and verify the password, then record the outcome.

    ``client`` is the address the request came from (None when the app cannot tell: then only
    the per-name throttle applies). Writes the audit rows itself: ``sign_in`` on success,
    aggregated ``sign_in_failed`` rows otherwise. Every refusal reads the same whether or not
    the account exists."""
    admission = guard.admit(username, client)
    if not admission.admitted:
        write_audit_rows(engine, guard.take_audit_rows())
        seconds = max(1, math.ceil(admission.wait_seconds))
        return SignInResult(None, SIGN_IN_THROTTLED.format(seconds=seconds), throttled=True,
                            retry_after_seconds=seconds)
    outcome: Outcome = "unchecked"
    viewer: Viewer | None = None
    try:
        # The claim happens inside the gate, not before it: an attempt turned away busy has
        # not used up one of the account's failure slots.
        with guard.gate.slot(admission.priority):
            claim = accounts.claim_sign_in(engine, username, security)
            verified = (claim.status != "refused"
                        and guard.verify_password(claim.stored_hash, password))
        if claim.status == "refused":
            guard.pause_like_a_hash()
        viewer = accounts.finish_sign_in(engine, claim, verified, security)
        outcome = "signed_in" if viewer is not None else "failed"
    except HashGateBusy:
        return SignInResult(None, SIGN_IN_BUSY, busy=True,
                            retry_after_seconds=max(1, math.ceil(guard.gate.max_wait_seconds)))
    finally:
        guard.finish(admission, username, outcome)
        write_audit_rows(engine, guard.take_audit_rows())
    if viewer is None:
        return SignInResult(None, SIGN_IN_FAILED)
    audit.record(engine, viewer.username, "sign_in", page="local",
                 detail={"role": viewer.role, "center_id": viewer.center_id,
                         "client": admission.client_key})
    return SignInResult(viewer)
