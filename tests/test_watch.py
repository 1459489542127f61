"""`threat-picture watch` (issue 13, item 4): schedules and their strict config errors, the
watcher's backoff, one ingest of a source at a time, file changes, freshness levels, and the
service itself as a subprocess on a copy of the RI fixture."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from dashboard.settings import ConfigError, load_config
from dashboard.watch import (
    Watcher,
    center_interval_seconds,
    file_change_handler,
    freshness_level,
    parse_schedule,
)

ROOT = Path(__file__).resolve().parent.parent
RIFC = ("rifc", "incidents")
ROW = "R-99,02/10/2025 10:00,Gang Activity,44007,41.8606,-71.5694,,,3,GREEN,Added by watch\n"


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def with_schedule(ri_dir: Path, edit_file: Callable[[Path, str, str], None],
                  schedule: str) -> None:
    """Give RIFC's incident feed ``schedule``."""
    edit_file(ri_dir / "config" / "centers.toml", 'location = "../feeds/rifc_incidents.csv"\n',
              f'location = "../feeds/rifc_incidents.csv"\nschedule = "{schedule}"\n')


# --- schedules -----------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "seconds"), [
    ("every 30s", 30), ("every 5m", 300), ("every 1h", 3600), ("every 2d", 172800),
    ("every 0.5s", 0.5), ("EVERY 5 m", 300), ("*/15 * * * *", 900), ("0 6 * * *", 86400),
])
def test_schedules_parse(text: str, seconds: float) -> None:
    assert parse_schedule(text).interval_seconds() == seconds


@pytest.mark.parametrize("text", ["every 5", "every five minutes", "every 0s", "5m", "* * *",
                                  "61 * * * *", "*/15 * * * * *", ""])
def test_bad_schedules_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="schedule"):
        parse_schedule(text)


def test_a_bad_source_schedule_is_one_config_line(
        ri_dir: Path, edit_file: Callable[[Path, str, str], None]) -> None:
    with_schedule(ri_dir, edit_file, "every 5 minutes")
    with pytest.raises(ConfigError) as raised:
        load_config(ri_dir / "config")
    message = str(raised.value)
    assert "\n" not in message
    assert str(ri_dir / "config" / "centers.toml") in message
    assert "centers['rifc'].sources['incidents'].schedule" in message
    assert "every 5 minutes" in message


def test_a_bad_center_schedule_and_interval_are_refused(
        ri_dir: Path, edit_file: Callable[[Path, str, str], None]) -> None:
    centers = ri_dir / "config" / "centers.toml"
    edit_file(centers, 'statewide = true\n', 'statewide = true\nschedule = "*/61 * * * *"\n')
    with pytest.raises(ConfigError, match=r"centers\['rifc'\]\.schedule: .*cron"):
        load_config(ri_dir / "config")
    edit_file(centers, 'schedule = "*/61 * * * *"\n', "")
    settings = ri_dir / "config" / "settings.toml"
    settings.write_text(settings.read_text() + "watch_interval_seconds = 0\n")
    with pytest.raises(ConfigError, match=r"settings\.toml: ingest\.watch_interval_seconds"):
        load_config(ri_dir / "config")


def test_schedule_defaults_come_from_center_then_settings(
        ri_dir: Path, edit_file: Callable[[Path, str, str], None]) -> None:
    with_schedule(ri_dir, edit_file, "every 1m")
    edit_file(ri_dir / "config" / "centers.toml", 'statewide = true\n',
              'statewide = true\nschedule = "*/15 * * * *"\n')
    config = load_config(ri_dir / "config")
    rifc, prov = config.center("rifc"), config.center("prov")
    assert [config.source_schedule(rifc, s) for s in rifc.sources] == ["every 1m",
                                                                       "*/15 * * * *"]
    assert [config.source_schedule(prov, s) for s in prov.sources] == ["every 300s"] * 2
    assert center_interval_seconds(config, "rifc") == 60
    assert center_interval_seconds(config, "prov") == 300
    assert center_interval_seconds(config, "nobody") is None


def test_freshness_levels() -> None:
    assert freshness_level(100, 60) == "ok"
    assert freshness_level(121, 60) == "overdue"
    assert freshness_level(361, 60) == "stale"
    assert freshness_level(10**9, None) == "ok"


# --- the watcher ---------------------------------------------------------------------------


def test_a_failing_source_backs_off_exponentially(
        ri_dir: Path, edit_file: Callable[[Path, str, str], None],
        caplog: pytest.LogCaptureFixture) -> None:
    with_schedule(ri_dir, edit_file, "every 10s")
    clock = FakeClock()
    calls: list[tuple[str, str]] = []
    retries: list[float] = []
    broken = True

    def ingest(key: tuple[str, str]) -> None:
        calls.append(key)
        if broken:
            raise OSError(f"{key[0]}/{key[1]}: cannot read: feed server down")

    watcher = Watcher(load_config(ri_dir / "config"), ingest, clock=clock,
                      schedule_retry=lambda key, delay: retries.append(delay))
    delays = []
    for _ in range(5):
        assert watcher.run_once(RIFC, retry=True) == "failed"
        state = watcher.sources[RIFC]
        assert state.retry_at is not None
        delays.append((state.retry_at - clock.now).total_seconds())
        # Until the retry time, a scheduled run does nothing.
        clock.advance(delays[-1] - 1)
        assert watcher.run_once(RIFC) == "backoff"
        clock.advance(1)
    assert delays == [10, 20, 40, 80, 160] == retries
    assert len(calls) == 5
    assert "feed server down" in watcher.sources[RIFC].last_error  # type: ignore[operator]
    failures = [r.getMessage() for r in caplog.records if "failed" in r.getMessage()]
    assert len(failures) == 5 and all("\n" not in line for line in failures)
    assert "rifc/incidents failed (OSError" in failures[0]
    # The cap, then recovery resets the count.
    for _ in range(10):
        watcher.run_once(RIFC, retry=True)
    assert watcher.backoff_seconds(watcher.sources[RIFC]) == 3600
    broken = False
    assert watcher.run_once(RIFC, retry=True) == "loaded"
    assert watcher.sources[RIFC].failures == 0 and watcher.sources[RIFC].retry_at is None


def test_tick_runs_due_sources_on_their_schedules(
        ri_dir: Path, edit_file: Callable[[Path, str, str], None]) -> None:
    with_schedule(ri_dir, edit_file, "every 10s")
    clock = FakeClock()
    calls: list[tuple[str, str]] = []
    watcher = Watcher(load_config(ri_dir / "config"), calls.append, clock=clock)
    assert set(watcher.tick()) == set(watcher.sources)  # every source once at start
    calls.clear()
    clock.advance(5)
    assert watcher.tick() == {}
    clock.advance(5)
    assert watcher.tick() == {RIFC: "loaded"}  # the others wait their 300 s
    clock.advance(300)
    assert set(watcher.tick()) == set(watcher.sources)


def test_each_source_is_ingested_alone(ri_config: object) -> None:
    calls: list[tuple[str, str]] = []
    watcher = Watcher(ri_config, calls.append, clock=FakeClock())  # type: ignore[arg-type]
    outcomes = watcher.tick()
    assert set(outcomes.values()) == {"loaded"}
    assert sorted(calls) == sorted(watcher.sources)


def test_never_two_ingests_of_one_source_at_once(ri_config: object) -> None:
    started, release = threading.Event(), threading.Event()
    running, most = [0], [0]
    calls: list[tuple[str, str]] = []

    def slow_ingest(key: tuple[str, str]) -> None:
        calls.append(key)
        running[0] += 1
        most[0] = max(most[0], running[0])
        started.set()
        release.wait(10)
        running[0] -= 1

    clock = FakeClock()
    watcher = Watcher(ri_config, slow_ingest, clock=clock)  # type: ignore[arg-type]
    first = threading.Thread(target=watcher.run_once, args=(RIFC,))
    first.start()
    assert started.wait(10)
    # Two ticks while it runs: the source is busy, not ingested again.
    for _ in range(2):
        clock.advance(600)
        assert watcher.run_once(RIFC) == "busy"
    # A file change meanwhile is remembered and read once the running ingest is done.
    assert watcher.run_once(RIFC, from_file=True) == "busy"
    assert calls == [RIFC]
    release.set()
    first.join(10)
    assert calls == [RIFC, RIFC] and most[0] == 1


def test_a_file_change_ingests_that_source(ri_config: object) -> None:
    from watchdog.observers import Observer

    calls: list[tuple[str, str]] = []
    watcher = Watcher(ri_config, calls.append)  # type: ignore[arg-type]
    feed = watcher.sources[RIFC].path
    assert feed is not None and watcher.watched_folders() == {feed.parent}
    # The handler alone: another file in the folder is no source.
    handler = file_change_handler(watcher)
    assert watcher.file_changed(feed.parent / "notes.txt") == []
    # Through watchdog's observer on the copied feeds folder.
    observer = Observer()
    observer.schedule(handler, str(feed.parent), recursive=False)
    observer.start()
    try:
        with feed.open("a", encoding="utf-8") as out:
            out.write(ROW)
        deadline = time.monotonic() + 10
        while RIFC not in calls and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        observer.stop()
        observer.join(10)
    assert RIFC in calls
    assert set(calls) == {RIFC}


# --- the service -----------------------------------------------------------------------------


def _incidents(store_url: str) -> int:
    engine = sa.create_engine(store_url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(sa.text("select count(*) from incidents")).scalar_one())
    except sa.exc.OperationalError:  # not created yet
        return 0
    finally:
        engine.dispose()


def _wait_for(condition: Callable[[], bool], seconds: float,
              process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert process.poll() is None, process.communicate()[1].decode()[-2000:]
        assert time.monotonic() < deadline, f"not within {seconds} s"
        time.sleep(0.2)


def test_watch_service_ingests_a_changed_feed_and_stops_on_sigterm(ri_dir: Path) -> None:
    settings = ri_dir / "config" / "settings.toml"
    settings.write_text(settings.read_text() + "watch_interval_seconds = 1\n")
    store_url = f"sqlite:///{ri_dir / 'store.sqlite'}"
    process = subprocess.Popen(
        [sys.executable, "-m", "dashboard.cli", "watch", "--config", str(ri_dir / "config"),
         "--store", store_url, "--no-files"],  # the 1 s schedule alone must find the change
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_for(lambda: _incidents(store_url) > 0, 30, process)
        before = _incidents(store_url)
        with (ri_dir / "feeds" / "rifc_incidents.csv").open("a", encoding="utf-8") as out:
            out.write(ROW)
        _wait_for(lambda: _incidents(store_url) > before, 30, process)
        process.send_signal(signal.SIGTERM)
        _, errors = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, errors.decode()[-2000:]
    log = errors.decode()
    assert "SIGTERM received, stopping" in log and "watch: stopped" in log
    assert "Traceback" not in log


def test_store_ingest_fails_only_the_failing_source(ri_dir: Path) -> None:
    from dashboard.store import open_store
    from dashboard.watch import SourceFailed, lock_path, store_ingest

    (ri_dir / "feeds" / "prov_incidents.ndjson").unlink()
    store_url = f"sqlite:///{ri_dir / 'store.sqlite'}"
    ingest = store_ingest(load_config(ri_dir / "config"), open_store(store_url), store_url)
    ingest(RIFC)  # one source alone: the one asked for
    with pytest.raises(SourceFailed, match="prov_incidents"):
        ingest(("prov", "incidents"))
    assert lock_path(store_url) == ri_dir / "store.sqlite.ingest.lock"
    assert _incidents(store_url) > 0
