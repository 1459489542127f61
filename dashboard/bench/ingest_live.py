"""Live-ingest benchmarks (issue 13): how long audit writes wait while a full ingest runs, and
how much faster a run is that only appends a few rows to every file feed; with it, what the
alert rules' evaluation after such a run costs (issue 17)."""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import polars as pl

from dashboard.ingest.pipeline import run_ingest
from dashboard.security import audit
from dashboard.security.accounts import add_user, authenticate, ensure_demo_users, viewer_for
from dashboard.settings import ProjectConfig, load_config
from dashboard.store import data_version, open_store


def _percentile(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


SIGN_IN_EVERY = 50  # one sign-in (an argon2 hash, ~0.5 s of CPU) per this many audit writes
BENCH_USER, BENCH_PASSWORD = "bench-reader", "bench-reader-password"


def measure_audit_waits(engine_url: str, config_dir: Path | str, *,
                        pause_seconds: float = 0.005) -> dict[str, Any]:
    """Run a full ingest of ``config_dir`` into ``engine_url`` in a thread while this thread
    does what users do: an audit row (every page view writes one) and a read of the store
    (the data version every open page polls) one after another, and now and then a sign-in.
    The wait of each (ms), p50/p99, and how many failed with "database is locked"."""
    config = load_config(Path(config_dir))
    writer, auditor = open_store(engine_url), open_store(engine_url)
    center = config.centers[0].id
    add_user(auditor, config, BENCH_USER, "Bench reader", "analyst", center, "TLP:AMBER",
             BENCH_PASSWORD)
    security = config.settings.security
    errors: list[BaseException] = []

    def ingest() -> None:
        try:
            run_ingest(config, writer)
        except BaseException as error:  # reported, never lost in the thread
            errors.append(error)

    waits: list[float] = []
    reads: list[float] = []
    sign_ins: list[float] = []
    locked = other_errors = 0
    thread = threading.Thread(target=ingest, name="bench-ingest")
    started = time.perf_counter()
    thread.start()
    while thread.is_alive():
        try:
            before = time.perf_counter()
            audit.record(auditor, "bench", "page_view", page="bench")
            waits.append((time.perf_counter() - before) * 1000)
            before = time.perf_counter()
            data_version(auditor)
            reads.append((time.perf_counter() - before) * 1000)
            if len(waits) % SIGN_IN_EVERY == 1:
                before = time.perf_counter()
                if authenticate(auditor, BENCH_USER, BENCH_PASSWORD, security) is None:
                    raise RuntimeError("the bench account could not sign in")
                sign_ins.append((time.perf_counter() - before) * 1000)
        except Exception as error:  # counted, the measurement goes on
            if "database is locked" in str(error):
                locked += 1
            else:
                other_errors += 1
        time.sleep(pause_seconds)
    thread.join()
    ingest_seconds = time.perf_counter() - started
    writer.dispose()
    auditor.dispose()
    if errors:
        raise errors[0]
    return {"ingest_seconds": ingest_seconds, "audit_writes": len(waits),
            "audit_wait_p50_ms": _percentile(waits, 0.5),
            "audit_wait_p99_ms": _percentile(waits, 0.99),
            "audit_wait_max_ms": max(waits) if waits else None,
            "read_wait_p99_ms": _percentile(reads, 0.99),
            "sign_ins": len(sign_ins), "sign_in_p99_ms": _percentile(sign_ins, 0.99),
            "database_locked": locked, "other_errors": other_errors}


def _append_rows(feed: Path, kind: str, id_column: str, fraction: float, tag: str) -> int:
    """Append copies of ``fraction`` of a CSV/NDJSON feed's rows under new ids."""
    if kind == "csv":
        frame = pl.read_csv(feed, infer_schema=False)
        count = max(1, int(frame.height * fraction))
        extra = frame.tail(count).with_columns(pl.col(id_column) + f"-{tag}")
        with feed.open("a", encoding="utf-8") as out:
            text = extra.write_csv(include_header=False)
            if not feed.read_text(encoding="utf-8").endswith("\n"):
                out.write("\n")
            out.write(text)
        return count
    lines = [line for line in feed.read_text(encoding="utf-8").splitlines() if line.strip()]
    count = max(1, int(len(lines) * fraction))
    appended: list[str] = []
    for line in lines[-count:]:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        record[id_column] = f"{record.get(id_column)}-{tag}"
        appended.append(json.dumps(record))
    with feed.open("a", encoding="utf-8") as out:
        out.write("".join(f"{line}\n" for line in appended))
    return len(appended)


# The bench's alert rules: one per condition for the analyst, as a fusion-center analyst would
# keep them, and the count a partner may subscribe to.
BENCH_RULES: tuple[tuple[str, dict[str, Any]], ...] = (
    ("analyst", {"name": "Emerging", "condition": "emerging_hotspot"}),
    ("analyst", {"name": "Anomalies", "condition": "trend_anomaly"}),
    ("analyst", {"name": "Gaps", "condition": "coverage_gap"}),
    ("analyst", {"name": "Duplicates", "condition": "near_duplicate"}),
    ("analyst", {"name": "Surge", "condition": "count_above", "threshold": 500,
                 "window_days": 7}),
    ("analyst", {"name": "Anything new", "condition": "new_incident", "window_days": 7}),
    ("partner", {"name": "Partner surge", "condition": "count_above", "threshold": 500,
                 "window_days": 28}),
)


def _add_bench_rules(config: ProjectConfig, engine: Any) -> int:
    from dashboard.alerts.rules import add_rule, rule_from

    ensure_demo_users(engine, config)
    for username, values in BENCH_RULES:
        viewer = viewer_for(engine, username, config.settings.security)
        assert viewer is not None, f"the demo account {username} is missing"
        add_rule(engine, config, viewer, username, rule_from(values), operator="bench")
    return len(BENCH_RULES)


def _timed_evaluation(config: ProjectConfig, engine: Any) -> tuple[float, Any]:
    from dashboard.alerts.evaluate import evaluate_alerts

    started = time.perf_counter()
    report = evaluate_alerts(config, engine)
    return time.perf_counter() - started, report


def measure_append(config_dir: Path | str, store_url: str, fraction: float = 0.01
                   ) -> dict[str, Any]:
    """Time a full load of ``config_dir`` into ``store_url``, then append ``fraction`` new rows
    to each CSV/NDJSON feed (a copy of the config and feeds: the originals are untouched) and
    time the run that loads them. Alert rules (``BENCH_RULES``) are added after the full load
    and evaluated as ``ingest`` would: once after it, once after the append, and once more with
    nothing new."""
    source_dir = Path(config_dir).resolve()
    with tempfile.TemporaryDirectory(prefix="ingest-append-") as scratch:
        # The config's relative feed paths keep working when its parent folder is copied.
        copy = Path(scratch) / source_dir.parent.name
        shutil.copytree(source_dir.parent, copy, ignore=shutil.ignore_patterns("store.sqlite*"))
        config = load_config(copy / source_dir.name)
        engine = open_store(store_url)
        started = time.perf_counter()
        full = run_ingest(config, engine)
        full_seconds = time.perf_counter() - started
        rules = _add_bench_rules(config, engine)
        first_evaluation, _ = _timed_evaluation(config, engine)
        appended = 0
        for center in config.centers:
            for source in center.sources:
                if source.kind not in ("csv", "ndjson"):
                    continue
                key = "incident_id" if source.table == "incidents" else "product_id"
                id_column = next((column for column, field in source.columns.items()
                                  if field == key), key)
                appended += _append_rows(Path(config.resolve_location(source)), source.kind,
                                         id_column, fraction, "appended")
        started = time.perf_counter()
        append = run_ingest(config, engine)
        append_seconds = time.perf_counter() - started
        after_append, evaluated = _timed_evaluation(config, engine)
        nothing_new, idle = _timed_evaluation(config, engine)
        engine.dispose()
    return {"full_seconds": full_seconds, "append_seconds": append_seconds,
            "rows_appended": appended,
            "rows_inserted_by_append": sum(s.rows_inserted for s in append.sources),
            "full_rows_read": sum(s.rows_read for s in full.sources),
            "failed_sources": [f"{s.center_id}/{s.source_name}" for s in
                               full.failed + append.failed],
            "speedup": full_seconds / append_seconds if append_seconds else None,
            "alert_rules": rules, "alerts_first_seconds": first_evaluation,
            "alerts_after_append_seconds": after_append,
            "alerts_after_append_evaluated": len(evaluated.evaluated),
            "alerts_after_append_fired": len(evaluated.fired),
            "alerts_nothing_new_seconds": nothing_new,
            "alerts_nothing_new_skipped": len(idle.skipped)}
