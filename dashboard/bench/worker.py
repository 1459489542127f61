"""What the bench runs in a fresh process: a full ingest, a cold start (the AppTest runs of
every page are the Streamlit side's: ``python page_glue.py apptest ...``).

``python -m dashboard.bench.worker KIND CONFIG_DIR STORE_URL`` prints one JSON
object on its last line of output, with the process's own peak resident memory: a fresh
process is what a new ingest or a new app replica pays, and its peak memory is its own.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path
from typing import Any


def peak_rss_bytes() -> int:
    """This process's own peak resident memory. On Linux, VmHWM of /proc/self/status: the
    rusage maximum of a process started by fork+exec also counts its parent's peak before the
    fork (the bench's own process, which may hold a million rows by then)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024  # KiB on Linux


def ingest(config_dir: Path, store_url: str) -> dict[str, Any]:
    """One full ingest into the (empty) store; seconds per phase of the pipeline."""
    from dashboard.ingest.pipeline import run_ingest
    from dashboard.settings import load_config
    from dashboard.store import open_store

    config = load_config(config_dir)
    engine = open_store(store_url)
    phases: dict[str, float] = {}
    current = ["start"]
    since = [time.perf_counter()]

    def tick(step: str, _done: int, _total: int) -> None:
        now = time.perf_counter()
        phases[current[0]] = phases.get(current[0], 0.0) + now - since[0]
        current[0], since[0] = step.rsplit(": ", 1)[-1], now

    started = time.perf_counter()
    report = run_ingest(config, engine, progress=tick)
    seconds = time.perf_counter() - started
    tick("done", 0, 0)
    engine.dispose()
    return {"seconds": seconds, "rows_read": sum(s.rows_read for s in report.sources),
            "rows_written": report.rows_written, "phases_s": phases}


def cold(config_dir: Path, store_url: str) -> dict[str, Any]:
    """Store -> the frames a page reads (the policy's cut for the demo analyst included)."""
    from dashboard.frames import load_picture_frames
    from dashboard.security.accounts import viewer_for
    from dashboard.security.policy import visible_frames
    from dashboard.settings import load_config
    from dashboard.store import make_engine

    config = load_config(config_dir)
    engine = make_engine(store_url)
    started = time.perf_counter()
    frames = load_picture_frames(engine, config.settings.timezone)
    loaded = time.perf_counter() - started
    viewer = viewer_for(engine, "analyst", config.settings.security)
    if viewer is not None:
        frames = visible_frames(viewer, frames)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "load_s": loaded, "rows": frames.incidents.height,
            "frames_bytes": frames.incidents.estimated_size() + frames.products.estimated_size()}


def main(argv: list[str]) -> None:
    kind, config_dir, store_url = argv[0], Path(argv[1]), argv[2]
    if kind == "ingest":
        result = ingest(config_dir, store_url)
    elif kind == "cold":
        result = cold(config_dir, store_url)
    else:
        raise SystemExit(f"unknown worker kind {kind!r}")
    result["peak_rss_bytes"] = peak_rss_bytes()
    sys.stdout.write("\n" + json.dumps(result) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
