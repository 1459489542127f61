"""Issue 14: `serve` runs with no terminal on a fresh machine: it never prompts (Streamlit's
first-run e-mail question killed it with status 255 when stdin was closed), never opens a
browser unless asked, works from any directory, and a startup failure is one line and a
non-zero exit."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from dashboard.cli import streamlit_flags
from dashboard.demo import generate
from tests.browser_support import free_port

ROOT = Path(__file__).resolve().parents[1]


def fresh_environment(home: Path) -> dict[str, str]:
    """A user who never ran Streamlit: an empty HOME, no store or config in the environment."""
    home.mkdir(exist_ok=True)
    opener = home / "browser.sh"  # a browser "opened" by Streamlit would leave a file behind
    opener.write_text(f"#!/bin/sh\ntouch {home / 'browser-was-opened'}\n")
    opener.chmod(0o755)
    environment = {key: value for key, value in os.environ.items()
                   if not key.startswith(("THREAT_PICTURE_", "STREAMLIT_"))}
    return {**environment, "HOME": str(home), "PYTHONPATH": str(ROOT),
            "BROWSER": str(opener)}


@contextmanager
def serving(arguments: list[str], cwd: Path, home: Path) -> Iterator[tuple[subprocess.Popen[str],
                                                                            int]]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "dashboard.cli", "serve", "--port", str(port), *arguments],
        cwd=cwd, env=fresh_environment(home), stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        yield process, port
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=30)


def wait_healthy(process: subprocess.Popen[str], port: int, seconds: float = 240) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read() if process.stdout else ""
            raise AssertionError(f"serve exited with {process.returncode}:\n{output}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health",
                                        timeout=2) as response:
                if response.read() == b"ok":
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"nothing healthy on port {port} within {seconds} s")


def test_serve_demo_runs_with_stdin_closed_on_a_fresh_home(tmp_path: Path) -> None:
    # `serve --demo` from a folder that is not the project's, as a service would start it;
    # the demo is pre-generated small here (its generation is tested elsewhere).
    generate(tmp_path / "data" / "demo", state="CA", incidents=2_000, seed=3)
    home = tmp_path / "home"
    with serving(["--demo"], cwd=tmp_path, home=home) as (process, port):
        wait_healthy(process, port)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/app/static/vendor/leaflet.heat@0.2.0/leaflet-heat.js",
                                    timeout=5) as response:
            assert response.status == 200  # static serving on, whatever the directory
        time.sleep(1)
        assert process.poll() is None
        process.terminate()
        output, _ = process.communicate(timeout=30)
    assert "Demo accounts" in output and "director" in output
    assert "mail" not in output.lower()  # no "Welcome to Streamlit ... Email:" prompt
    assert not (home / ".streamlit" / "credentials.toml").exists()
    assert not (home / "browser-was-opened").exists()
    assert (tmp_path / "data" / "threat_picture-operations.sqlite").exists()


def test_streamlit_is_headless_unless_a_browser_is_asked_for() -> None:
    flags = dict(zip(streamlit_flags(False)[::2], streamlit_flags(False)[1::2], strict=True))
    assert flags["--server.headless"] == "true"
    assert flags["--browser.gatherUsageStats"] == "false"
    assert dict(zip(streamlit_flags(True)[::2], streamlit_flags(True)[1::2],
                    strict=True))["--server.headless"] == "false"


def test_a_taken_port_fails_in_one_line(tmp_path: Path) -> None:
    generate(tmp_path / "data" / "demo", state="CA", incidents=2_000, seed=4)
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "dashboard.cli", "serve", "--demo", "--port", str(port)],
            cwd=tmp_path, env=fresh_environment(tmp_path / "home"), stdin=subprocess.DEVNULL,
            capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    errors = [line for line in (result.stdout + result.stderr).splitlines()
              if line.startswith("error:")]
    assert errors == [f"error: cannot serve on 127.0.0.1:{port}: Address already in use"]


@pytest.mark.parametrize(("arguments", "message"), [
    (["--config", "no/such/config"], "no/such/config"),
    (["--secrets", "missing.toml"], "missing.toml: no such secrets file"),
])
def test_a_bad_start_fails_in_one_line(tmp_path: Path, arguments: list[str],
                                       message: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "dashboard.cli", "serve", *arguments],
        cwd=tmp_path, env=fresh_environment(tmp_path / "home"), stdin=subprocess.DEVNULL,
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    output = (result.stdout + result.stderr).strip().splitlines()
    assert len(output) == 1 and output[0].startswith("error:") and message in output[0], output
