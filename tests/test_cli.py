"""The `threat-picture` command: help, one-line errors with non-zero exits, ingest and status."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dashboard.cli import app

FIXTURE = Path(__file__).parent / "fixtures" / "ri"
runner = CliRunner()


@pytest.fixture()
def deployment(tmp_path: Path) -> tuple[Path, str]:
    shutil.copytree(FIXTURE, tmp_path, dirs_exist_ok=True)
    return tmp_path / "config", f"sqlite:///{tmp_path / 'store.sqlite'}"


@pytest.mark.parametrize("command", ["demo", "ingest", "status", "serve"])
def test_every_command_has_help(command: str) -> None:
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0
    assert "Usage:" in result.output


def test_ingest_then_status_json(deployment: tuple[Path, str]) -> None:
    config_dir, store = deployment
    result = runner.invoke(app, ["ingest", "--config", str(config_dir), "--store", store])
    assert result.exit_code == 0, result.output
    assert "11 rows written, 11 quarantined" in result.output
    assert "rifc_incidents.csv, line 5: category: 'Jaywalking' is not among the known" in (
        result.output.replace("\n", ""))

    status = runner.invoke(app, ["status", "--store", store, "--json"])
    assert status.exit_code == 0, status.output
    summary = json.loads(status.stdout)
    assert summary["tables"]["incidents"] == 7
    assert summary["tables"]["products"] == 4
    assert summary["quarantine"]["rows"] == 11
    by_center = {row["center_id"]: row for row in summary["centers"]}
    assert by_center["rifc"]["incidents"] == 4 and by_center["prov"]["duplicate_reports"] == 1
    assert summary["last_run"]["status"] == "loaded"
    assert len(summary["sources"]) == 4


def test_second_ingest_reports_unchanged(deployment: tuple[Path, str]) -> None:
    config_dir, store = deployment
    runner.invoke(app, ["ingest", "--config", str(config_dir), "--store", store])
    again = runner.invoke(app, ["ingest", "--config", str(config_dir), "--store", store])
    assert again.exit_code == 0
    assert "0 rows written, 0 quarantined; duplicates kept" in again.output


def test_store_from_environment(deployment: tuple[Path, str],
                                monkeypatch: pytest.MonkeyPatch) -> None:
    config_dir, store = deployment
    monkeypatch.setenv("THREAT_PICTURE_STORE", store)
    assert runner.invoke(app, ["ingest", "--config", str(config_dir)]).exit_code == 0
    summary = json.loads(runner.invoke(app, ["status", "--json"]).stdout)
    assert summary["tables"]["incidents"] == 7


def _one_error_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, output
    return lines[0]


def test_missing_config_folder_is_one_line(tmp_path: Path) -> None:
    result = runner.invoke(app, ["ingest", "--config", str(tmp_path / "nowhere")])
    assert result.exit_code == 1
    assert _one_error_line(result.output).startswith("error: ")
    assert "config folder not found" in result.output


def test_config_error_names_file_and_key(deployment: tuple[Path, str]) -> None:
    config_dir, store = deployment
    centers = config_dir / "centers.toml"
    centers.write_text(centers.read_text().replace('kind = "ndjson"', 'kind = "xls"', 1))
    result = runner.invoke(app, ["ingest", "--config", str(config_dir), "--store", store])
    assert result.exit_code == 1
    line = _one_error_line(result.output)
    assert "centers.toml: centers['rifc'].sources['products'].kind: unknown connector kind 'xls'" \
        in line


def test_missing_feed_names_file_center_and_source(deployment: tuple[Path, str]) -> None:
    config_dir, store = deployment
    (config_dir.parent / "feeds" / "prov_products.csv").unlink()
    result = runner.invoke(app, ["ingest", "--config", str(config_dir), "--store", store])
    assert result.exit_code == 1
    assert "prov_products.csv (center prov, source products): cannot read" in result.output


def test_bad_store_url_is_one_line(deployment: tuple[Path, str]) -> None:
    config_dir, _ = deployment
    result = runner.invoke(app, ["ingest", "--config", str(config_dir), "--store",
                                 "nosuchdialect://x"])
    assert result.exit_code == 1
    assert _one_error_line(result.output).startswith("error: store nosuchdialect://x")


def test_demo_rejects_unknown_state(tmp_path: Path) -> None:
    result = runner.invoke(app, ["demo", "--out", str(tmp_path), "--state", "ZZ"])
    assert result.exit_code == 1
    assert "unknown state postal code 'ZZ'" in result.output
