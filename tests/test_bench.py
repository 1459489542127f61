"""`threat-picture bench` at a small size: a smoke test of every measurement and of the report's
shape. No timing is asserted (CI machines differ); the figures themselves are the bench's job."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from dashboard.bench.pages import bench_pages
from dashboard.bench.report import TARGETS
from dashboard.cli import app

runner = CliRunner()
INCIDENTS = 10_000
# A smaller flood than the bench's default 40: the figures are the bench's job, not this test's.
FLOOD_SESSIONS = 2
EXPECTED = {
    "ingest_rows_per_s", "ingest_peak_memory_mb", "cold_start_s", "frames_memory_mb",
    "hotspots_ms", "coverage_ms", "map_html_mb.default", "map_html_mb.points", "map_markers",
    "briefing_pdf_s", "our_rerun_ms", "pandas_rerun_ms", "pandas_ratio", "page_payload_mb",
    "app_peak_memory_mb", "memory_per_user_mb", "signin_flood_s.one_ip",
    "signin_flood_s.distinct_ips", "ingest_audit_wait_p99_ms", "ingest_append_share",
    "alerts_after_append_s",
    *(f"page_analytics_ms.{page}" for page in bench_pages()),
    *(f"page_apptest_s.{page}" for page in bench_pages()),
}


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    folder = tmp_path_factory.mktemp("bench")
    out = folder / "report.md"
    result = runner.invoke(app, ["bench", "--incidents", str(INCIDENTS), "--repeat", "1",
                                 "--flood-sessions", str(FLOOD_SESSIONS),
                                 "--work", str(folder), "--json", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout), out


def test_every_measurement_has_a_number(bench_run: tuple[dict[str, Any], Path]) -> None:
    report, _ = bench_run
    measurements = {item["key"]: item for item in report["measurements"]}
    assert set(measurements) == EXPECTED
    for key, item in measurements.items():
        assert isinstance(item["value"], int | float) and math.isfinite(item["value"]), key
        assert item["value"] >= 0, key
        assert item["status"] in ("met", "missed", "no target"), key
    # Medians of one run after a warm-up: one sample each.
    assert len(measurements["cold_start_s"]["samples"]) == 1
    assert measurements["map_markers"]["value"] <= TARGETS["map_markers"].value


def test_targets_and_verdicts(bench_run: tuple[dict[str, Any], Path]) -> None:
    report, _ = bench_run
    for item in report["measurements"]:
        family = item["key"].split(".")[0]
        if family in TARGETS:
            assert item["target"] == TARGETS[family].value, item["key"]
            assert item["status"] in ("met", "missed"), item["key"]
            assert (item["status"] == "missed") == bool(item["gap"]), item["key"]
        else:
            assert item["target"] is None and item["status"] == "no target", item["key"]


def test_the_pandas_reference_gives_the_same_figures(
        bench_run: tuple[dict[str, Any], Path]) -> None:
    report, _ = bench_run
    ratio = next(item for item in report["measurements"] if item["key"] == "pandas_ratio")
    assert ratio["note"] == "same figures, checked equal"


def test_report_shape_and_markdown(bench_run: tuple[dict[str, Any], Path]) -> None:
    report, out = bench_run
    assert report["incidents"] == INCIDENTS
    assert report["incidents_stored"] > 0.95 * INCIDENTS
    assert report["store"]["dialect"] == "sqlite"
    assert report["repeat"] == 1
    assert {"cpus", "memory_gb", "load_before", "load_after", "python", "polars"} <= set(
        report["machine"])
    assert report["command"] == (f"threat-picture bench --incidents {INCIDENTS} --repeat 1 "
                                 f"--flood-sessions {FLOOD_SESSIONS}")
    flood = next(item for item in report["measurements"]
                 if item["key"] == "signin_flood_s.distinct_ips")
    assert flood["note"].startswith(f"{FLOOD_SESSIONS} sessions x 5 attempts")
    text = out.read_text(encoding="utf-8")
    assert text.startswith(f"### {INCIDENTS:,} incidents, sqlite")
    rows = [line for line in text.splitlines() if line.startswith("| ")][1:]
    assert len(rows) == len(EXPECTED)


def test_reports_side_by_side(bench_run: tuple[dict[str, Any], Path], tmp_path: Path) -> None:
    report, _ = bench_run
    saved = tmp_path / "run.json"
    saved.write_text(json.dumps(report), encoding="utf-8")

    result = runner.invoke(app, ["bench", "--combine", str(saved), "--combine", str(saved)])

    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert lines[0] == (f"| measurement | target (1M) | sqlite {INCIDENTS:,} | "
                        f"sqlite {INCIDENTS:,} |")
    assert len(lines) == 2 + len(EXPECTED)
    cold = next(line for line in lines if line.startswith("| Cold start"))
    assert "| <= 3.00 s |" in cold and cold.count(" s ✓") + cold.count(" s ✗") == 2


def test_reuse_without_a_previous_run_fails_in_one_line(tmp_path: Path) -> None:
    result = runner.invoke(app, ["bench", "--incidents", "5000", "--reuse",
                                 "--work", str(tmp_path)])
    assert result.exit_code == 1
    assert "--reuse: no bench data in" in result.output
