"""Sign-in under a flood: anonymous sessions hammer local sign-in while a real user signs in.

:func:`measure_signin_flood` runs, in threads of this process (as Streamlit runs sessions),
``sessions`` attackers making ``attempts`` sign-ins each with wrong passwords for a mix of
known and made-up user names, once from a single attacker address and once from one address
per session, while the real user signs in from an address of their own with the right
password. It reports how long the real user waited, how many argon2 hashes were computed, the
most computed at once, and how much the process's peak memory grew (argon2id takes 64 MiB a
hash: unbounded hashing is what drove the server from 0.5 to 1.5 GB).

It resets every account's lockout before each scenario (the flood locks the known accounts it
hits), so run it on a bench store only. ``python -m dashboard.bench.signin STORE_URL USER
PASSWORD`` prints the figures as JSON.
"""

from __future__ import annotations

import json
import random
import resource
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from dashboard.security.signin_guard import SignInGuard, sign_in
from dashboard.settings import SecuritySettings
from dashboard.store import on_operations
from dashboard.store import table as sql_table

MB = 1024 * 1024
REAL_USER_CLIENT = "192.0.2.10"  # TEST-NET-1: the real user's own address
ONE_ATTACKER_CLIENT = "203.0.113.66"  # TEST-NET-3
SCENARIOS = ("one_ip", "distinct_ips")


def _status_bytes(field: str) -> int | None:
    """A memory figure of /proc/self/status (Linux), in bytes."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _peak_rss_bytes() -> int:
    """This process's peak resident memory: VmHWM, else the rusage maximum (KiB on Linux)."""
    peak = _status_bytes("VmHWM")
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _resident_bytes() -> int:
    resident = _status_bytes("VmRSS")
    return resident if resident is not None else _peak_rss_bytes()


def _reset_peak_rss() -> bool:
    """Start the kernel's peak-resident mark (VmHWM) again from now; False where it cannot be
    (not Linux): the growth reported is then against the process's earlier peak."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _attacker_client(scenario: str, session: int) -> str:
    if scenario == "one_ip":
        return ONE_ATTACKER_CLIENT
    return f"198.51.{100 + session // 250}.{session % 250 + 1}"  # one address per session


@on_operations
def _unlock_everyone(engine: sa.Engine) -> None:
    users = sql_table("users")
    with engine.begin() as connection:
        connection.execute(users.update().values(failed_attempts=0, locked_until=None))


@on_operations
def _known_names(engine: sa.Engine, real_user: str) -> list[str]:
    users = sql_table("users")
    with engine.connect() as connection:
        names = connection.execute(sa.select(users.c.username)
                                   .where(users.c.username != real_user)).scalars()
        return sorted(names)


def _scenario(engine: sa.Engine, security: SecuritySettings, scenario: str, real_user: str,
              real_password: str, sessions: int, attempts: int, known: list[str],
              seed: int) -> dict[str, Any]:
    _unlock_everyone(engine)
    guard = SignInGuard(security)
    outcomes: Counter[str] = Counter()
    outcomes_lock = threading.Lock()
    started_attempts = [0]
    flood_under_way = threading.Event()
    start = threading.Barrier(sessions + 1)

    def attacker(session: int) -> None:
        rng = random.Random(seed * 1000 + session)
        client = _attacker_client(scenario, session)
        start.wait()
        for _ in range(attempts):
            name = (rng.choice(known) if known and rng.random() < 0.5
                    else f"user{rng.randrange(10**6)}")
            with outcomes_lock:
                started_attempts[0] += 1
                if started_attempts[0] >= sessions:
                    flood_under_way.set()
            result = sign_in(engine, guard, name, f"guess-{rng.randrange(10**9)}", client,
                             security)
            kind = ("signed_in" if result.signed_in else "throttled" if result.throttled
                    else "busy" if result.busy else "failed")
            with outcomes_lock:
                outcomes[kind] += 1

    threads = [threading.Thread(target=attacker, args=(session,), daemon=True)
               for session in range(sessions)]
    for thread in threads:
        thread.start()
    reset = _reset_peak_rss()
    resident_before = _resident_bytes()
    flood_started = time.perf_counter()
    start.wait()
    # The real user arrives once the flood is in full swing (every session has sent one).
    flood_under_way.wait(timeout=60)
    real_started = time.perf_counter()
    real = sign_in(engine, guard, real_user, real_password, REAL_USER_CLIENT, security)
    real_seconds = time.perf_counter() - real_started
    for thread in threads:
        thread.join()
    flood_seconds = time.perf_counter() - flood_started
    peak_growth = max(0, _peak_rss_bytes() - resident_before)
    return {
        "real_user_signed_in": real.signed_in,
        "real_user_seconds": round(real_seconds, 3),
        "real_user_message": real.message,
        "attempts": sessions * attempts,
        "outcomes": dict(sorted(outcomes.items())),
        "hashes_computed": guard.hashes_computed,
        "peak_concurrent_hashes": guard.peak_hashing,
        "hash_limit": security.sign_in_concurrent_hashes,
        "flood_seconds": round(flood_seconds, 3),
        "peak_rss_growth_mb": round(peak_growth / MB, 1),
        "peak_rss_reset": reset,
    }


def measure_signin_flood(engine: sa.Engine, security: SecuritySettings, *, real_user: str,
                         real_password: str, sessions: int = 40, attempts: int = 5,
                         known_names: list[str] | None = None, seed: int = 7,
                         scenarios: tuple[str, ...] = SCENARIOS) -> dict[str, Any]:
    """The flood's figures per scenario (``one_ip``, ``distinct_ips``), each: whether and how
    fast the real user signed in, the attackers' outcomes, hashes computed and at most at once,
    and the growth of the process's peak resident memory. ``known_names`` default to every
    account but the real user's (attacking the real user's own name would just lock it, which
    the lockout is for)."""
    known = known_names if known_names is not None else _known_names(engine, real_user)
    unknown = sorted(set(scenarios) - set(SCENARIOS))
    if unknown:
        raise ValueError(f"unknown scenarios {unknown}: choose from {SCENARIOS}")
    figures = {scenario: _scenario(engine, security, scenario, real_user, real_password,
                                   sessions, attempts, known, seed)
               for scenario in scenarios}
    _unlock_everyone(engine)
    return {"sessions": sessions, "attempts_per_session": attempts, "known_names": known,
            **figures}


if __name__ == "__main__":
    from dashboard.store import open_store

    store_url, user, password = sys.argv[1:4]
    figures = measure_signin_flood(open_store(store_url), SecuritySettings.model_validate({}),
                                   real_user=user, real_password=password)
    print(json.dumps(figures, indent=2))
