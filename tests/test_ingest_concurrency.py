"""Issue 13: audit writes (and so sign-ins and page views) go on while an ingest runs on a
SQLite file store: no "database is locked", and audit rows are written during the ingest."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from dashboard.bench.ingest_live import measure_append, measure_audit_waits
from dashboard.demo import generate
from dashboard.frames import read_frame
from dashboard.ingest.pipeline import run_ingest
from dashboard.security import audit
from dashboard.settings import load_config
from dashboard.store import open_store


@pytest.fixture(scope="module")
def demo_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("demo_20k")
    generate(folder, state="CA", incidents=20_000, seed=5)
    return folder / "config"


def test_audit_writes_proceed_while_an_ingest_runs(demo_config: Path, tmp_path: Path) -> None:
    store_url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    config = load_config(demo_config)
    writer, auditor = open_store(store_url), open_store(store_url)
    ingest_errors: list[BaseException] = []
    audit_errors: list[BaseException] = []
    written_during = 0

    def ingest() -> None:
        try:
            run_ingest(config, writer)
        except BaseException as error:
            ingest_errors.append(error)

    thread = threading.Thread(target=ingest)
    thread.start()
    while thread.is_alive():
        try:
            audit.record(auditor, "analyst", "page_view", page="picture")
            if thread.is_alive():
                written_during += 1
        except sa.exc.OperationalError as error:
            audit_errors.append(error)
        time.sleep(0.002)
    thread.join()

    assert ingest_errors == []
    assert not [e for e in audit_errors if "database is locked" in str(e)]
    assert audit_errors == []
    assert written_during > 0
    assert audit.audit_frame(auditor).height >= written_during
    assert read_frame(auditor, "incidents").height > 10_000
    writer.dispose()
    auditor.dispose()


def test_measure_audit_waits_reports_the_waits(demo_config: Path, tmp_path: Path) -> None:
    result = measure_audit_waits(f"sqlite:///{tmp_path / 'store.sqlite'}", demo_config)
    assert set(result) >= {"ingest_seconds", "audit_writes", "audit_wait_p50_ms",
                           "audit_wait_p99_ms", "database_locked", "read_wait_p99_ms",
                           "sign_ins", "sign_in_p99_ms"}
    assert result["audit_writes"] > 0 and result["database_locked"] == 0
    assert result["other_errors"] == 0 and result["sign_ins"] >= 1
    assert result["audit_wait_p50_ms"] <= result["audit_wait_p99_ms"]


def test_measure_append_loads_only_the_appended_rows(demo_config: Path, tmp_path: Path) -> None:
    before = sorted(p.stat().st_size for p in (demo_config.parent / "feeds").iterdir())
    result = measure_append(demo_config, f"sqlite:///{tmp_path / 'store.sqlite'}", fraction=0.01)
    assert result["rows_appended"] > 0 and result["failed_sources"] == []
    assert result["rows_inserted_by_append"] == result["rows_appended"]
    assert result["full_seconds"] > 0 and result["append_seconds"] > 0
    assert sorted(p.stat().st_size for p in (demo_config.parent / "feeds").iterdir()) == before
