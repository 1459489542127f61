"""Shared fixtures: the Rhode Island fixture deployment, SQLite and PostgreSQL stores, and the
services some tests need (PostgreSQL, Debian's Chromium): missing, they skip the test locally
but fail it under CI=true."""

from __future__ import annotations

import os
import shutil
import socket
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest
import sqlalchemy as sa

from dashboard.security.accounts import ensure_demo_users
from dashboard.settings import ProjectConfig, load_config
from dashboard.store import open_store

RI_FIXTURE = Path(__file__).parent / "fixtures" / "ri"
POSTGRES_HOST, POSTGRES_PORT = "127.0.0.1", 5432
POSTGRES_ADMIN_URL = f"postgresql+psycopg://postgres@{POSTGRES_HOST}:{POSTGRES_PORT}/test"

TableSnapshot = dict[str, list[tuple[Any, ...]]]
# CI (.ci/run with CI=true) installs and starts every service, so none may be silently skipped.
IN_CI = os.environ.get("CI") == "true"


def service_missing(message: str) -> NoReturn:
    """A service the test needs is missing: skip the test, saying why, or under CI=true fail it."""
    if IN_CI:
        pytest.fail(f"{message}; under CI=true a test whose service is missing fails instead of "
                    "skipping", pytrace=False)
    pytest.skip(message)


@pytest.fixture
def ri_dir(tmp_path: Path) -> Path:
    """A private copy of tests/fixtures/ri (config/ and feeds/) that a test may edit."""
    copy = tmp_path / "ri"
    shutil.copytree(RI_FIXTURE, copy)
    return copy


@pytest.fixture(scope="module")
def ri_any_activity(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The RI fixture with `[coverage] min_incidents = 1` (a single incident can be a gap),
    ingested once per module: (config folder, store URL)."""
    from dashboard.ingest.pipeline import run_ingest

    folder = tmp_path_factory.mktemp("ri_any_activity")
    shutil.copytree(RI_FIXTURE, folder, dirs_exist_ok=True)
    settings = folder / "config" / "settings.toml"
    settings.write_text(settings.read_text() + "\n[coverage]\nmin_incidents = 1\n")
    store_url = f"sqlite:///{folder / 'store.sqlite'}"
    config = load_config(folder / "config")
    store = open_store(store_url)
    run_ingest(config, store)
    ensure_demo_users(store, config)
    return folder / "config", store_url


@pytest.fixture
def ri_config(ri_dir: Path) -> ProjectConfig:
    return load_config(ri_dir / "config")


@pytest.fixture(scope="module")
def ingested_ri(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The RI fixture copied and ingested once per module: (config folder, store URL)."""
    from dashboard.ingest.pipeline import run_ingest
    from dashboard.store import open_store

    folder = tmp_path_factory.mktemp("ri_ingested")
    shutil.copytree(RI_FIXTURE, folder, dirs_exist_ok=True)
    store_url = f"sqlite:///{folder / 'store.sqlite'}"
    config = load_config(folder / "config")
    store = open_store(store_url)
    run_ingest(config, store)
    ensure_demo_users(store, config)
    return folder / "config", store_url


def _edit_file(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} must occur exactly once in {path}"
    path.write_text(text.replace(old, new), encoding="utf-8")


@pytest.fixture
def edit_file() -> Callable[[Path, str, str], None]:
    """Replace one exact, unique piece of text in a (copied) fixture file."""
    return _edit_file


@pytest.fixture
def inject_failure(monkeypatch: pytest.MonkeyPatch) -> Callable[[str, int], None]:
    """Make ``dashboard.ingest.pipeline.<name>`` raise RuntimeError("injected failure ...")
    on its n-th call, to check that a run rolls back."""
    from dashboard.ingest import pipeline

    def inject(name: str, call_number: int) -> None:
        original = getattr(pipeline, name)
        calls = 0

        def failing(*args: Any, **kwargs: Any) -> Any:
            nonlocal calls
            calls += 1
            if calls == call_number:
                raise RuntimeError(f"injected failure: {name} call {calls}")
            return original(*args, **kwargs)

        monkeypatch.setattr(pipeline, name, failing)

    return inject


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[sa.Engine]:
    engine = open_store(f"sqlite:///{tmp_path / 'store.sqlite'}")
    yield engine
    engine.dispose()


def _postgres_reachable() -> bool:
    try:
        with socket.create_connection((POSTGRES_HOST, POSTGRES_PORT), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """URL of a fresh, uniquely named schema in database `test`; dropped afterwards."""
    if not _postgres_reachable():
        service_missing(f"PostgreSQL is not reachable on {POSTGRES_HOST}:{POSTGRES_PORT} "
                        "(the integration tests use its database `test`)")
    schema = f"test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES_ADMIN_URL)
    with admin.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{POSTGRES_ADMIN_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


def _snapshot(engine: sa.Engine, exclude: tuple[str, ...] = ()) -> TableSnapshot:
    metadata = sa.MetaData()
    metadata.reflect(engine)
    snapshot: TableSnapshot = {}
    with engine.connect() as connection:
        for name, table in sorted(metadata.tables.items()):
            if name not in exclude:
                rows = connection.execute(sa.select(table)).all()
                snapshot[name] = sorted((tuple(row) for row in rows), key=repr)
    return snapshot


@pytest.fixture
def snapshot_tables() -> Callable[..., TableSnapshot]:
    """Every table of a store (alembic_version included) as sorted rows, to compare states."""
    return _snapshot


@pytest.fixture(autouse=True)
def _apptest_uses_st_navigation(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make AppTest treat the app as the st.navigation app it is (see
    page_glue.navigation_pages_manager)."""
    from streamlit.testing.v1 import app_test

    from page_glue import navigation_pages_manager

    monkeypatch.setattr(app_test, "PagesManager", navigation_pages_manager())


@pytest.fixture(scope="session")
def chromium_executable() -> str:
    """Path of Debian's Chromium for the browser tests (see tests.browser_support.needs_chromium);
    skips the test when it is not installed, or fails it under CI=true."""
    from tests.browser_support import CHROMIUM

    if CHROMIUM is None:
        service_missing("Debian chromium is not installed (apt-get install chromium); browser "
                        "tests need it")
    return CHROMIUM


@pytest.fixture(scope="session")
def served_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A small California demo (20,000 incidents) served by `threat-picture serve` for every
    browser test of the session; yields its base URL."""
    from dashboard.demo import generate
    from dashboard.ingest.pipeline import run_ingest
    from tests.browser_support import served_app

    folder = tmp_path_factory.mktemp("ca_demo")
    generate(folder, state="CA", incidents=20_000, seed=11)
    store_url = f"sqlite:///{folder / 'store.sqlite'}"
    config = load_config(folder / "config")
    store = open_store(store_url)
    run_ingest(config, store)
    ensure_demo_users(store, config)
    with served_app(folder / "config", store_url) as url:
        yield url
