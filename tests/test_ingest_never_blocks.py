"""Issue 13: readers never wait on an ingest. While a source's write transaction is open on an
embedded SQLite store, page reads, audit rows, sign-ins and briefings' log rows go through at
once (they write to the operations file), readers see the source's old rows until it commits,
and an ingest killed inside a source's transaction leaves the committed sources as they are and
the killed source as it was."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from dashboard import store as store_module
from dashboard.frames import read_frame
from dashboard.ingest import pipeline
from dashboard.ingest.pipeline import run_ingest
from dashboard.security import accounts, audit
from dashboard.security.accounts import add_user
from dashboard.settings import ProjectConfig, SecuritySettings
from dashboard.store import open_store, operations_engine, operations_url, table_row_counts

HOLD_TIMEOUT_S = 60


def _stored(engine: sa.Engine) -> dict[str, int]:
    return {name: count for name, count in table_row_counts(engine).items()
            if name in ("incidents", "products", "quarantine", "incident_links")}


def test_users_write_while_a_source_transaction_is_open(
        ri_config: ProjectConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Any wait on a lock fails at once: the assertions below cannot pass by waiting it out.
    monkeypatch.setattr(store_module, "SQLITE_BUSY_TIMEOUT_MS", 0)
    store_url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    writer, app = open_store(store_url), open_store(store_url)
    add_user(app, ri_config, "lee", "Lee", "analyst", "rifc", "TLP:AMBER", "correct horse 1",
             need_to_know=False)
    run_ingest(ri_config, writer)
    before = _stored(app)
    incidents_before = read_frame(app, "incidents")
    # Change every feed so that each source has a transaction to write.
    for feed in (ri_config.config_dir.parent / "feeds").iterdir():
        if feed.suffix in (".csv", ".ndjson"):
            feed.write_bytes(feed.read_bytes() + b"\n")
    monkeypatch.setattr(pipeline, "source_config_fingerprint", lambda *args: "changed")

    inside, release = threading.Event(), threading.Event()
    original = pipeline._write_source

    def held_open(*args: Any, **kwargs: Any) -> None:
        original(*args, **kwargs)  # the source's rows are written, not yet committed
        if not inside.is_set():
            inside.set()
            release.wait(HOLD_TIMEOUT_S)

    monkeypatch.setattr(pipeline, "_write_source", held_open)
    errors: list[BaseException] = []

    def ingest() -> None:
        try:
            run_ingest(ri_config, writer)
        except BaseException as error:  # reported below
            errors.append(error)

    thread = threading.Thread(target=ingest)
    thread.start()
    try:
        assert inside.wait(HOLD_TIMEOUT_S)
        # The source's write transaction is open and holds the picture file's write lock.
        with pytest.raises(sa.exc.OperationalError, match="database is locked"), \
                app.begin() as connection:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        audit.record(app, "lee", "page_view", page="overview", detail={"period": "28d"})
        viewer = accounts.authenticate(app, "lee", "correct horse 1", SecuritySettings())
        assert viewer is not None and viewer.username == "lee"
        assert accounts.authenticate(app, "lee", "wrong", SecuritySettings()) is None
        # A reader sees the store as it was before the open transaction, whole.
        assert read_frame(app, "incidents").sort("center_id", "incident_id").equals(
            incidents_before.sort("center_id", "incident_id"))
        assert _stored(app) == before
        assert thread.is_alive()
    finally:
        release.set()
        thread.join(HOLD_TIMEOUT_S)
    assert errors == []
    trail = audit.audit_frame(app)
    assert trail.select("username", "action", "page").rows() == [("lee", "page_view", "overview")]
    assert read_frame(app, "users").is_empty()  # accounts live in the operations file
    assert accounts.list_users(app)["username"].to_list() == ["lee"]
    assert _stored(app)["incidents"] >= before["incidents"]
    writer.dispose()
    app.dispose()


def test_the_operations_file_sits_beside_an_embedded_store(tmp_path: Path) -> None:
    assert str(operations_url(f"sqlite:///{tmp_path}/pic.sqlite")) == \
        f"sqlite:///{tmp_path}/pic-operations.sqlite"
    assert operations_url(f"sqlite:///{tmp_path}/pic-operations.sqlite") is None
    assert operations_url("sqlite://") is None
    assert operations_url("postgresql+psycopg://u@127.0.0.1/test") is None
    memory = sa.create_engine("sqlite://")
    assert operations_engine(memory) is memory


def test_a_single_file_store_hands_its_accounts_and_trail_over_once(
        ri_config: ProjectConfig, tmp_path: Path) -> None:
    """A store made before the operations file existed keeps its accounts and audit trail."""
    path = tmp_path / "old.sqlite"
    store_module.migrate(store_module.make_engine(f"sqlite:///{path}"))
    legacy = sa.create_engine(f"sqlite:///{path}")
    with legacy.begin() as connection:  # rows as the single-file version wrote them
        connection.execute(store_module.table("users").insert().values(
            username="ada", display_name="Ada", role="admin", center_id="rifc",
            max_tlp="TLP:RED", need_to_know=True, password_hash="x", auth_method="local",
            disabled=False, failed_attempts=0, created_at=datetime(2025, 1, 1)))
        connection.execute(store_module.table("audit_log").insert().values(
            at=datetime(2025, 1, 2), username="ada",
            action="sign_in", page="local"))
    legacy.dispose()
    engine = open_store(f"sqlite:///{path}")
    assert accounts.list_users(engine)["username"].to_list() == ["ada"]
    assert audit.audit_frame(engine)["username"].to_list() == ["ada"]
    with sa.create_engine(f"sqlite:///{path}").connect() as connection:  # no hash left behind
        assert connection.exec_driver_sql("SELECT count(*) FROM users").scalar_one() == 0
    store_module._operations_engines.clear()  # a new process: nothing is copied twice
    assert audit.audit_frame(open_store(f"sqlite:///{path}")).height == 1
    engine.dispose()


KILLED_INGEST = textwrap.dedent("""
    import sys, time
    from dashboard.ingest import pipeline
    from dashboard.settings import load_config
    from dashboard.store import open_store

    original, calls = pipeline._write_source, []

    def held_open(*args, **kwargs):
        original(*args, **kwargs)
        calls.append(1)
        if len(calls) == int(sys.argv[3]):
            print("HOLDING", flush=True)
            time.sleep(600)

    pipeline._write_source = held_open
    pipeline.run_ingest(load_config(sys.argv[1]), open_store(sys.argv[2]))
""")


def test_an_ingest_killed_inside_a_source_leaves_the_store_whole(
        ri_config: ProjectConfig, tmp_path: Path) -> None:
    store_url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    engine = open_store(store_url)
    committed_sources = 2
    process = subprocess.Popen(
        [sys.executable, "-c", KILLED_INGEST, str(ri_config.config_dir), store_url,
         str(committed_sources + 1)],
        stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[1],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])})
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "HOLDING"
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait(30)
    runs = read_frame(engine, "ingest_runs")
    assert runs.height == committed_sources  # the killed source left no run and no row
    assert set(runs["status"].to_list()) <= {"loaded", "unchanged"}
    # Every stored row was written by a committed run; the killed run left none.
    for name in ("incidents", "products", "quarantine"):
        assert set(read_frame(engine, name)["run_id"].to_list()) <= set(runs["run_id"])
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA integrity_check").scalar_one() == "ok"
    # The next run completes the store to what one uninterrupted run gives.
    run_ingest(ri_config, engine)
    clean = open_store(f"sqlite:///{tmp_path / 'clean.sqlite'}")
    run_ingest(ri_config, clean)
    assert _stored(engine) == _stored(clean)
    engine.dispose()
    clean.dispose()
