"""`threat-picture watch`: keep the store current by ingesting each source on its schedule and,
for file sources, whenever its file changes.

- :func:`parse_schedule` reads a ``schedule`` ("every 5m" or a 5-field cron expression) into an
  APScheduler 3 trigger; config loading calls it, so a bad schedule is a one-line ConfigError.
- :class:`Watcher` is the testable core: ``run_once(key)`` ingests one source unless it is
  already being ingested (never two ingests of one source at once) or backing off after a
  failure (exponential backoff per source); ``tick()`` runs every source that is due by its
  schedule, on an injectable clock, so tests need no sleeping.
- :class:`FeedChangeHandler` is the watchdog handler: a change to a file source's file calls
  ``Watcher.file_changed``.
- :func:`serve_forever` wires them to an APScheduler ``BackgroundScheduler`` and a watchdog
  ``Observer`` and returns on SIGTERM/SIGINT (or when the process that started it is gone).

Each ingest is one source (``run_ingest(..., sources=[key])``), followed by an evaluation of the
alert rules when it wrote rows (``dashboard.alerts``). One watch process runs one
ingest at a time, and an exclusive file lock beside the store (or in the temp folder for a
server store) keeps two watch processes from ingesting at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import itertools
import logging
import re
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.engine import make_url

from dashboard.settings import ProjectConfig

log = logging.getLogger("threat_picture.watch")

SourceKey = tuple[str, str]  # (center id, source name)
FILE_KINDS = frozenset({"csv", "ndjson", "json", "parquet", "excel", "stix", "nibrs", "eido",
                        "isesar"})
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
EVERY = re.compile(r"every\s+(\d+(?:\.\d+)?)\s*([smhd])", re.IGNORECASE)
FIRST_BACKOFF_MAX_SECONDS = 60.0
OVERDUE_FACTOR = 2  # a center's last load older than this many intervals: amber
STALE_FACTOR = 6  # ... than this many: red


# --- schedules ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Schedule:
    text: str
    every_seconds: float | None  # "every N<unit>"
    cron: str | None  # a 5-field crontab expression

    def trigger(self, timezone: str = "UTC") -> BaseTrigger:
        if self.every_seconds is not None:
            return IntervalTrigger(seconds=self.every_seconds, timezone=ZoneInfo("UTC"))
        assert self.cron is not None
        return CronTrigger.from_crontab(self.cron, timezone=ZoneInfo(timezone))

    def interval_seconds(self, timezone: str = "UTC", now: datetime | None = None) -> float:
        """The nominal gap between two runs (for a cron expression: the shortest of the next
        few gaps)."""
        if self.every_seconds is not None:
            return self.every_seconds
        trigger = self.trigger(timezone)
        moment = now or datetime.now(UTC)
        times: list[datetime] = []
        previous: datetime | None = None
        for _ in range(6):
            fire = trigger.get_next_fire_time(previous, moment)
            if fire is None:
                break
            times.append(fire)
            previous, moment = fire, fire + timedelta(microseconds=1)
        gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
        return min(gaps) if gaps else 86400.0


def parse_schedule(text: str) -> Schedule:
    """'every 30s' / 'every 5m' / 'every 1h' / 'every 1d', or a cron expression of five fields
    ('*/15 * * * *'); anything else raises ValueError saying what is allowed."""
    stripped = text.strip()
    match = EVERY.fullmatch(stripped)
    if match:
        seconds = float(match.group(1)) * UNITS[match.group(2).lower()]
        if seconds <= 0:
            raise ValueError(f"schedule {text!r}: the interval must be positive")
        return Schedule(text, seconds, None)
    if stripped.lower().startswith("every"):
        raise ValueError(f"schedule {text!r}: write 'every N' with a unit s, m, h or d "
                         "(e.g. 'every 5m')")
    if len(stripped.split()) != 5:
        raise ValueError(f"schedule {text!r}: neither 'every N<s|m|h|d>' nor a cron expression "
                         "of 5 fields (minute hour day month weekday)")
    try:
        CronTrigger.from_crontab(stripped, timezone=ZoneInfo("UTC"))
    except ValueError as error:
        raise ValueError(f"schedule {text!r}: not a valid cron expression: {error}") from error
    return Schedule(text, None, stripped)


def center_interval_seconds(config: ProjectConfig, center_id: str) -> float | None:
    """How often a center's data is expected to change: its most frequent source's interval
    (None: it has no source)."""
    center = config.center(center_id) if center_id in {c.id for c in config.centers} else None
    if center is None or not center.sources:
        return None
    return min(parse_schedule(config.source_schedule(center, source))
               .interval_seconds(center.timezone) for source in center.sources)


def freshness_level(age_seconds: float, interval_seconds: float | None) -> str:
    """'ok', 'overdue' (older than twice the interval) or 'stale' (older than six times)."""
    if interval_seconds is None:
        return "ok"
    if age_seconds > STALE_FACTOR * interval_seconds:
        return "stale"
    if age_seconds > OVERDUE_FACTOR * interval_seconds:
        return "overdue"
    return "ok"


# --- the watcher --------------------------------------------------------------------------------


class SourceFailed(RuntimeError):
    """An ingest reported the source as failed (without raising)."""


@dataclass
class SourceState:
    key: SourceKey
    schedule: Schedule
    trigger: BaseTrigger
    path: Path | None  # the file of a file source
    lock: threading.Lock = field(default_factory=threading.Lock)
    failures: int = 0
    retry_at: datetime | None = None
    next_run: datetime | None = None
    previous_run: datetime | None = None
    pending: bool = False  # its file changed while it was being ingested
    last_error: str | None = None


def utc_now() -> datetime:
    return datetime.now(UTC)


class Watcher:
    """Decides when to ingest which source; ``ingest(key)`` does the work (raising, or
    raising :class:`SourceFailed`, when the source failed)."""

    def __init__(self, config: ProjectConfig, ingest: Callable[[SourceKey], object], *,
                 clock: Callable[[], datetime] = utc_now,
                 schedule_retry: Callable[[SourceKey, float], None] | None = None,
                 submit: Callable[[SourceKey], None] | None = None,
                 stop: threading.Event | None = None):
        self.config = config
        self.ingest = ingest
        self.clock = clock
        self.schedule_retry = schedule_retry or (lambda key, delay: None)
        # How a file change is handed on (the service: to the scheduler's threads).
        self.submit = submit or self._run_from_file
        self.stop = stop or threading.Event()  # set: start no further ingest
        self.backoff_max = config.settings.ingest.watch_backoff_max_seconds
        self.ingest_lock = threading.Lock()  # one ingest at a time in this process
        self.sources: dict[SourceKey, SourceState] = {}
        for center in config.centers:
            for source in center.sources:
                schedule = parse_schedule(config.source_schedule(center, source))
                path = (Path(config.resolve_location(source)) if source.kind in FILE_KINDS
                        else None)
                self.sources[(center.id, source.name)] = SourceState(
                    (center.id, source.name), schedule, schedule.trigger(center.timezone), path)

    # -- one source -----------------------------------------------------------------------

    def _run_from_file(self, key: SourceKey) -> None:
        self.run_once(key, from_file=True)

    def backoff_seconds(self, state: SourceState) -> float:
        """Wait after the n-th failure in a row: min(interval, 60 s) * 2^(n-1), capped."""
        first = min(state.schedule.interval_seconds(), FIRST_BACKOFF_MAX_SECONDS,
                    self.backoff_max)
        return float(min(first * 2 ** max(state.failures - 1, 0), self.backoff_max))

    def run_once(self, key: SourceKey, *, from_file: bool = False, retry: bool = False) -> str:
        """Ingest one source now. Returns 'loaded', 'busy' (it is being ingested), 'backoff'
        (waiting after a failure), 'failed' or 'stopped' (the service is stopping)."""
        state = self.sources[key]
        asked_at = self.clock()
        if state.retry_at is not None and asked_at < state.retry_at and not retry:
            return "backoff"
        if not state.lock.acquire(blocking=False):
            if from_file:
                state.pending = True  # read it again once the running ingest is done
            return "busy"
        try:
            outcome = self._ingest_locked(state)
            while outcome == "loaded" and state.pending:
                state.pending = False
                outcome = self._ingest_locked(state)
            return outcome
        finally:
            state.lock.release()

    def _ingest_locked(self, state: SourceState) -> str:
        with self.ingest_lock:
            if self.stop.is_set():
                return "stopped"
            try:
                self.ingest(state.key)
            except Exception as error:  # a failing source never stops the service
                self._failed(state, error)
                return "failed"
        if state.failures:
            log.info("watch: %s/%s recovered after %d failure(s)", *state.key, state.failures)
        state.failures, state.retry_at, state.last_error = 0, None, None
        return "loaded"

    def _failed(self, state: SourceState, error: Exception) -> None:
        state.failures += 1
        delay = self.backoff_seconds(state)
        state.retry_at = self.clock() + timedelta(seconds=delay)
        message = str(error).splitlines()[0] if str(error) else ""
        state.last_error = f"{error.__class__.__name__}: {message}".rstrip(": ")
        log.warning("watch: %s/%s failed (%s); retry in %g s (failure %d in a row)",
                    *state.key, state.last_error, delay, state.failures)
        self.schedule_retry(state.key, delay)

    # -- schedules and files --------------------------------------------------------------

    def due(self, now: datetime | None = None) -> list[SourceKey]:
        """Sources whose schedule or retry time has come."""
        now = now or self.clock()
        keys = []
        for key, state in self.sources.items():
            if state.next_run is None:
                state.next_run = now  # every source is ingested once at start
            if state.retry_at is not None:
                if now >= state.retry_at:
                    keys.append(key)
            elif now >= state.next_run:
                keys.append(key)
        return keys

    def tick(self, now: datetime | None = None) -> dict[SourceKey, str]:
        """Run every due source (in turn, in this thread); their outcomes by source."""
        now = now or self.clock()
        outcomes = {}
        for key in self.due(now):
            state = self.sources[key]
            outcomes[key] = self.run_once(key, retry=state.retry_at is not None)
            if outcomes[key] != "busy":
                state.previous_run = now
                state.next_run = state.trigger.get_next_fire_time(now, now)
        return outcomes

    def keys_for_path(self, path: str | Path) -> list[SourceKey]:
        resolved = Path(path).resolve()
        return [key for key, state in self.sources.items() if state.path == resolved]

    def file_changed(self, path: str | Path) -> list[SourceKey]:
        """A file changed: hand each source reading it to ``submit``."""
        keys = self.keys_for_path(path)
        for key in keys:
            self.submit(key)
        return keys

    def watched_folders(self) -> set[Path]:
        return {state.path.parent for state in self.sources.values() if state.path is not None}


def _file_change_handler_class() -> type:
    from watchdog.events import FileSystemEvent, FileSystemEventHandler

    class FeedChangeHandler(FileSystemEventHandler):
        """watchdog handler: a created, modified or moved-in file source calls the watcher."""

        def __init__(self, watcher: Watcher):
            super().__init__()
            self.watcher = watcher

        def on_any_event(self, event: FileSystemEvent) -> None:
            if event.is_directory or event.event_type not in ("created", "modified", "moved",
                                                             "closed"):
                return
            path = getattr(event, "dest_path", "") or event.src_path
            self.watcher.file_changed(path if isinstance(path, str) else path.decode())

    return FeedChangeHandler


def file_change_handler(watcher: Watcher) -> Any:
    """The watchdog event handler feeding ``watcher`` (watchdog imported only when used)."""
    return _file_change_handler_class()(watcher)


# --- ingesting, one at a time across processes --------------------------------------------------


def lock_path(store_url: str) -> Path:
    """The file two watch processes on one store both lock: beside a SQLite file, else in the
    temp folder (keyed by the URL without its password)."""
    url = make_url(store_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(url.database).with_name(Path(url.database).name + ".ingest.lock")
    key = hashlib.sha256(url.render_as_string(hide_password=True).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"threat-picture-ingest-{key}.lock"


@contextlib.contextmanager
def file_lock(path: Path, stop: threading.Event | None = None) -> Iterator[None]:
    """An exclusive lock on ``path`` (flock), waited for in small steps so a stop request is
    honoured while another process ingests."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if stop is not None and stop.is_set():
                    raise InterruptedError("stopping while waiting for another ingest") from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def store_ingest(config: ProjectConfig, engine: sa.Engine, store_url: str,
                 stop: threading.Event | None = None) -> Callable[[SourceKey], object]:
    """``ingest(key)``: ingest one source through the pipeline, under the store's file lock,
    then evaluate the alert rules if it wrote rows (an alert failure is logged, never raised);
    raises when the source failed."""
    from dashboard.alerts.evaluate import evaluate_after_ingest
    from dashboard.ingest.pipeline import run_ingest

    lock = lock_path(store_url)

    def ingest(key: SourceKey) -> object:
        with file_lock(lock, stop):
            report = run_ingest(config, engine, sources=[key])
            evaluate_after_ingest(config, engine, report.rows_written)  # never raises
        for source in report.sources:
            if (source.center_id, source.source_name) == key and source.status == "failed":
                raise SourceFailed(getattr(source, "error", None) or "ingest failed")
        return report

    return ingest


# --- the service --------------------------------------------------------------------------------


def serve_forever(config: ProjectConfig, engine: sa.Engine, store_url: str, *,
                  stop: threading.Event | None = None, parent_pid: int | None = None,
                  watch_files: bool = True) -> None:
    """Run the watch service until SIGTERM/SIGINT (or ``stop``, or until the process
    ``parent_pid`` is no longer this one's parent)."""
    import os

    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.triggers.date import DateTrigger

    stop = stop or threading.Event()
    scheduler = BackgroundScheduler(timezone=ZoneInfo("UTC"),
                                    job_defaults={"coalesce": True, "max_instances": 1,
                                                  "misfire_grace_time": None})
    ingest = store_ingest(config, engine, store_url, stop)

    def run_now(key: SourceKey, from_file: bool = False, retry: bool = False) -> None:
        if not stop.is_set():
            watcher.run_once(key, from_file=from_file, retry=retry)

    def schedule_retry(key: SourceKey, delay: float) -> None:
        scheduler.add_job(run_now, DateTrigger(utc_now() + timedelta(seconds=delay)),
                          args=[key], kwargs={"retry": True}, id=f"retry:{key[0]}/{key[1]}",
                          replace_existing=True)

    def submit(key: SourceKey) -> None:
        scheduler.add_job(run_now, args=[key], kwargs={"from_file": True},
                          id=f"file:{key[0]}/{key[1]}", replace_existing=True)

    watcher = Watcher(config, ingest, schedule_retry=schedule_retry, submit=submit,
                      stop=stop)
    now = utc_now()
    for key, state in watcher.sources.items():
        # Every source once at start, then on its schedule.
        scheduler.add_job(run_now, state.trigger, args=[key], id=f"schedule:{key[0]}/{key[1]}",
                          next_run_time=now)
        log.info("watch: %s/%s %s%s", *key, state.schedule.text,
                 " and on file change" if watch_files and state.path else "")

    observer = None
    if watch_files and watcher.watched_folders():
        from watchdog.observers import Observer

        observer = Observer()
        handler = file_change_handler(watcher)
        for folder in sorted(watcher.watched_folders()):
            if folder.is_dir():
                observer.schedule(handler, str(folder), recursive=False)
        observer.start()

    def request_stop(signum: int, _frame: object) -> None:
        log.info("watch: %s received, stopping", signal.Signals(signum).name)
        stop.set()

    previous = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous[signum] = signal.signal(signum, request_stop)
    scheduler.start()
    log.info("watch: watching %d source(s) of %d center(s)", len(watcher.sources),
             len(config.centers))
    try:
        while not stop.wait(1.0):
            if parent_pid is not None and os.getppid() != parent_pid:
                log.info("watch: the server (pid %d) is gone, stopping", parent_pid)
                break
    finally:
        stop.set()
        if observer is not None:
            observer.stop()
            observer.join(timeout=10)
        scheduler.shutdown(wait=True)  # lets a running ingest finish (its own transaction)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        log.info("watch: stopped")
