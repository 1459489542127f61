"""Meta-tests: the shared filters are declared once (``FILTER_FIELDS``) and every place that
offers them follows the declaration: the Filters dataclass, the sidebar (analysts and
partners), the URL and the `analyze` / `brief` options; the derived frame columns follow
``dashboard.schema.DERIVED_FIELDS``."""

from __future__ import annotations

import json
from dataclasses import fields
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from streamlit.testing.v1 import AppTest
from typer.testing import CliRunner

from dashboard.analytics.filters import (
    EARLIEST_URL_DATE,
    FILTER_FIELDS,
    FILTER_FIELDS_BY_NAME,
    LATEST_URL_DATE,
    LIST_FIELDS,
    FilterField,
    Filters,
    from_query_params,
    to_query_params,
)
from dashboard.cli import app, filters_from_options
from dashboard.frames import INCIDENT_PICTURE_COLUMNS, PICTURE_TABLES, load_picture_frames
from dashboard.schema import DERIVED_FIELDS, derived_schema, polars_schema
from dashboard.security.audience import NOT_RELEASED_FILTERS
from dashboard.settings import load_config
from dashboard.store import open_store
from page_glue import PARTNER_HIDDEN, set_filters
from tests.app_support import open_app

RI = load_config(Path(__file__).parent / "fixtures" / "ri" / "config")
VOCABULARIES = RI.vocabularies()
runner = CliRunner()
# The sidebar keys other tests, the bench and saved sessions rely on.
KNOWN_WIDGET_KEYS = {
    "filter_period", "filter_custom_range", "filter_regions", "filter_counties",
    "filter_categories", "filter_sar_behaviors", "filter_target_sectors", "filter_centers",
    "filter_severities", "filter_duplicates_once",
}
# The AppTest collection each widget kind shows up in.
APPTEST_KIND = {"select": "selectbox", "date_range": "date_input", "multiselect": "multiselect",
                "pills": "pills", "toggle": "toggle"}


# --- the declaration itself ---------------------------------------------------------------------

def test_filters_fields_are_the_declaration() -> None:
    assert [item.name for item in fields(Filters)] == [field.name for field in FILTER_FIELDS]
    defaults = Filters()
    for field in FILTER_FIELDS:
        default = getattr(defaults, field.name)
        if field.multiple:
            assert default == (), field.name
        elif field.widget == "toggle":
            assert isinstance(default, bool), field.name
        elif field.widget == "date_range":
            assert default is None, field.name
        else:
            assert default in field.allowed(VOCABULARIES), field.name


def test_declared_keys_options_and_columns_are_consistent() -> None:
    for attribute in ("name", "url_key", "option"):
        values = [getattr(field, attribute) for field in FILTER_FIELDS]
        assert len(values) == len(set(values)), attribute
    assert {field.widget_key for field in FILTER_FIELDS} == KNOWN_WIDGET_KEYS
    for field in FILTER_FIELDS:
        assert field.widget_key == f"filter_{field.widget_name or field.name}"
        assert field.option.startswith("--") and field.option_help.strip(), field.name
        assert field.label.strip(), field.name
        if isinstance(field.values, str):
            assert field.values in VOCABULARIES, field.name
        if field.only_when is not None:
            other, value = field.only_when
            assert value in FILTER_FIELDS_BY_NAME[other].allowed(VOCABULARIES), field.name
    # Every column a filter works on is a column of the incidents frame.
    incident_columns = set(INCIDENT_PICTURE_COLUMNS) | set(derived_schema("incidents"))
    assert {field.column for field in FILTER_FIELDS} - {None} <= incident_columns
    vocabulary_lists = tuple(field.name for field in FILTER_FIELDS
                             if field.multiple and isinstance(field.values, str))
    assert vocabulary_lists == LIST_FIELDS


# --- the URL ------------------------------------------------------------------------------------

def field_values(field: FilterField) -> st.SearchStrategy[Any]:
    """Any value of one declared filter, as the sidebar keeps it."""
    if field.widget == "toggle":
        return st.booleans()
    if field.widget == "date_range":
        return st.none() | st.dates(min_value=EARLIEST_URL_DATE, max_value=LATEST_URL_DATE)
    allowed = list(field.allowed(VOCABULARIES))
    if field.multiple:
        return st.lists(st.sampled_from(allowed), unique=True).map(field.selection)
    return st.sampled_from(allowed)


any_filters = st.builds(Filters, **{field.name: field_values(field) for field in FILTER_FIELDS})


@settings(max_examples=200, deadline=None)
@given(any_filters)
def test_every_declared_filter_round_trips_through_the_url(filters: Filters) -> None:
    params = to_query_params(filters)
    assert set(params) <= {field.url_key for field in FILTER_FIELDS}
    assert from_query_params(params, VOCABULARIES) == filters


# --- the sidebar --------------------------------------------------------------------------------

def sidebar_widgets(at: AppTest) -> dict[str, str]:
    """Key -> AppTest kind of every filter widget in the sidebar."""
    found: dict[str, str] = {}
    for kind in set(APPTEST_KIND.values()):
        for widget in getattr(at.sidebar, kind):
            if widget.key and widget.key.startswith("filter_"):
                found[widget.key] = kind
    return found


def test_every_declared_filter_reaches_the_sidebar(ingested_ri: tuple[Path, str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    # A custom period, so that the custom range (shown only then) is there too.
    at = open_app(ingested_ri, monkeypatch, {"period": "custom"})
    shown = sidebar_widgets(at)
    for field in FILTER_FIELDS:
        assert shown.get(field.widget_key) == APPTEST_KIND[field.widget], field.name
    assert set(shown) == {field.widget_key for field in FILTER_FIELDS}
    assert any(button.key == "filter_reset" for button in at.sidebar.button)
    # A preset period: no custom range.
    at.selectbox(key="filter_period").set_value("90d").run()
    assert "filter_custom_range" not in sidebar_widgets(at)
    # The ⚠ of a first-amendment-caution category, counties listed region by region.
    categories = at.multiselect(key="filter_categories").options  # as shown
    marked = {value.label for value in RI.taxonomy.categories.values()
              if value.first_amendment_caution}
    assert marked and {text.removesuffix(" ⚠") for text in categories
                       if text.endswith(" ⚠")} == marked
    counties = at.multiselect(key="filter_counties").options
    assert len(counties) == len(RI.county_to_region)
    # "County · Region", the county first (a chip is cut after a few words).
    assert counties == sorted(counties, key=lambda text: text.split(" · ")[1])
    names = RI.labels["county"]
    assert all(text.split(" · ")[0] in names.values() for text in counties)


def test_set_filters_drives_every_declared_widget(ingested_ri: tuple[Path, str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_app(ingested_ri, monkeypatch)
    wanted = Filters(period="90d", regions=("south",), counties=("44007",),
                     categories=("gangs", "narcotics"), sar_behaviors=("PHOTO",),
                     target_sectors=("ENRG",), centers=("prov",), severities=(2, 4),
                     duplicates_once=False)
    set_filters(at, wanted)
    at.run()
    assert not at.exception
    assert at.session_state["filters"] == wanted
    # The custom range appears with a custom period; a second pass sets it.
    custom = wanted.with_changes(period="custom", start=date(2025, 1, 1),
                                 end=date(2025, 2, 28))
    set_filters(at, custom)
    at.run()
    set_filters(at, custom)
    at.run()
    assert at.session_state["filters"] == custom
    assert from_query_params(dict(at.query_params), VOCABULARIES) == custom


def test_partners_are_not_offered_the_filters_their_release_cannot_answer(
        ingested_ri: tuple[Path, str], monkeypatch: pytest.MonkeyPatch) -> None:
    assert set(NOT_RELEASED_FILTERS) <= PARTNER_HIDDEN
    at = open_app(ingested_ri, monkeypatch, {"period": "custom"}, role="partner")
    shown = set(sidebar_widgets(at))
    for field in FILTER_FIELDS:
        hidden = field.name in PARTNER_HIDDEN
        assert (field.widget_key in shown) is not hidden, field.name
    for name in NOT_RELEASED_FILTERS:
        assert FILTER_FIELDS_BY_NAME[name].widget_key not in shown


# --- the CLI ------------------------------------------------------------------------------------

def option_names(field: FilterField) -> list[str]:
    """The option's names ("--on/--off": both)."""
    return field.option.split("/")


@pytest.mark.parametrize("command", ["analyze", "brief"])
def test_help_lists_an_option_per_declared_filter(command: str) -> None:
    result = runner.invoke(app, [command, "--help"], env={"TERMINAL_WIDTH": "200"})
    assert result.exit_code == 0, result.output
    for field in FILTER_FIELDS:
        for name in option_names(field):
            assert name in result.output, (command, name)


def cli_args(filters: Filters) -> dict[str, Any]:
    """What `analyze` options say for ``filters`` (as filters_from_options receives them:
    the text of each value, None for what is left at its default)."""
    given: dict[str, Any] = {}
    defaults = Filters()
    for field in FILTER_FIELDS:
        value = getattr(filters, field.name)
        if value == getattr(defaults, field.name):
            continue
        if field.widget == "toggle":
            given[field.name] = value
        elif field.multiple:
            given[field.name] = [field.text(item) for item in value]
        else:
            given[field.name] = field.text(value)
    return given


@settings(max_examples=100, deadline=None)
@given(any_filters.filter(lambda f: f.period == "custom" or (f.start, f.end) == (None, None)))
def test_every_declared_filter_round_trips_through_the_options(filters: Filters) -> None:
    assert filters_from_options(RI, cli_args(filters)) == filters


def analyze(deployment: tuple[Path, str], *arguments: str) -> Any:
    config_dir, store_url = deployment
    return runner.invoke(app, ["analyze", "--config", str(config_dir), "--store", store_url,
                               "--user", "analyst", *arguments])


def test_analyze_applies_the_filter_options(ingested_ri: tuple[Path, str]) -> None:
    result = analyze(ingested_ri, "--category", "cybercrime", "--period", "90d")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["filters"] == {"period": "90d", "categories": ["cybercrime"]}
    # Every other option too, values by key or by name.
    result = analyze(ingested_ri, "--period", "custom", "--start", "2025-01-01", "--end",
                     "2025-02-28", "--region", "South", "--county", "Providence County",
                     "--sar-behavior", "PHOTO", "--target-sector", "ENRG", "--center", "prov",
                     "--severity", "4", "--severity", "2", "--every-report")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["filters"] == {
        "period": "custom", "start": "2025-01-01", "end": "2025-02-28", "regions": ["south"],
        "counties": ["44007"], "sar_behaviors": ["PHOTO"], "target_sectors": ["ENRG"],
        "centers": ["prov"], "severities": ["2", "4"], "duplicates_once": "0"}


BAD_VALUES = {"period": "2w", "start": "2025-02-30", "end": "yesterday",
              "severities": "9"}


@pytest.mark.parametrize("field", [field for field in FILTER_FIELDS if field.widget != "toggle"],
                         ids=lambda field: field.name)
def test_a_bad_option_value_is_one_line_naming_the_option(ingested_ri: tuple[Path, str],
                                                          field: FilterField) -> None:
    bad = BAD_VALUES.get(field.name, "atlantis")
    arguments = [field.option, bad]
    if field.only_when is not None:
        other, value = field.only_when
        arguments = [FILTER_FIELDS_BY_NAME[other].option, value, *arguments]
    result = analyze(ingested_ri, *arguments)
    assert result.exit_code != 0
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith(f"error: {field.option}: ") and repr(bad) in lines[0]


def test_a_custom_range_option_needs_a_custom_period(ingested_ri: tuple[Path, str]) -> None:
    result = analyze(ingested_ri, "--start", "2025-01-01")
    assert result.exit_code != 0
    assert result.output.strip() == "error: --start: only with --period custom"


# --- derived frame columns ----------------------------------------------------------------------

def test_derived_columns_are_the_declared_ones(ingested_ri: tuple[Path, str]) -> None:
    frames = load_picture_frames(open_store(ingested_ri[1]), "UTC")
    for table, frame in (("incidents", frames.incidents), ("products", frames.products)):
        stored = polars_schema(table)
        read = list(PICTURE_TABLES[table] or stored)
        derived = {name: dtype for name, dtype in frame.schema.items() if name not in read}
        assert list(frame.columns[:len(read)]) == read, table
        assert derived == dict(derived_schema(table)), table
        assert set(derived).isdisjoint(stored), table
    assert {field.table for field in DERIVED_FIELDS} == {"incidents", "products"}
    assert all(field.help.strip() and field.derivation.strip() for field in DERIVED_FIELDS)


@pytest.mark.parametrize("page", ["overview", "map", "trends", "centers", "coverage",
                                  "briefing"])
def test_reset_returns_every_page_to_the_defaults_and_the_url_to_bare(
        ingested_ri: tuple[Path, str], monkeypatch: pytest.MonkeyPatch, page: str) -> None:
    # Issue 14: writing the drawn widgets' values raised StreamlitWidgetAlreadyInstantiatedError.
    at = open_app(ingested_ri, monkeypatch, {"period": "90d", "categories": "narcotics"},
                  page=f"pages/{page}.py", role="admin")
    assert at.session_state["filters"] != Filters()
    assert dict(at.query_params) == {"period": "90d", "categories": "narcotics"}

    next(button for button in at.sidebar.button if button.key == "filter_reset").click().run()

    assert not at.exception, at.exception
    assert at.session_state["filters"] == Filters()
    assert at.selectbox(key="filter_period").value == Filters().period
    assert at.multiselect(key="filter_categories").value == []
    assert dict(at.query_params) == {}
    at.run()  # and the page stays reset on its next run
    assert not at.exception and at.session_state["filters"] == Filters()


def test_data_health_and_administration_offer_no_threat_filters_and_keep_them(
        ingested_ri: tuple[Path, str], monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_app(ingested_ri, monkeypatch, {"period": "90d", "categories": "narcotics"},
                  role="admin")
    for page in ("pages/data_health.py", "pages/admin.py"):
        at.switch_page(page).run()
        assert not at.exception, at.exception
        assert sidebar_widgets(at) == {}
        assert not any(button.key == "filter_reset" for button in at.sidebar.button)
        assert dict(at.query_params) == {"period": "90d", "categories": "narcotics"}
    at.switch_page("pages/overview.py").run()  # the filters come back as they were
    assert not at.exception, at.exception
    assert at.selectbox(key="filter_period").value == "90d"
    assert at.multiselect(key="filter_categories").value == ["narcotics"]
    assert at.session_state["filters"] == Filters(period="90d", categories=("narcotics",))
