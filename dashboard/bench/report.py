"""Bench measurements, their targets (issue 7) and the report as Markdown and JSON."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Better = Literal["higher", "lower"]
# The targets hold at 1,000,000 incidents; at 5,000,000 every page must still answer a filter
# change (recompute its analytics) within a second.
TARGET_SIZE = 1_000_000
LARGE_SIZE_PAGE_TARGET_MS = 1000.0


@dataclass(frozen=True)
class Target:
    value: float
    better: Better
    source: str  # where the target comes from, as the report names it


TARGETS: dict[str, Target] = {
    "ingest_rows_per_s": Target(50_000, "higher", "issue 7: >= 50,000 rows/s into SQLite"),
    "cold_start_s": Target(3.0, "lower", "issue 7: <= 3 s"),
    "page_analytics_ms": Target(150.0, "lower", "issue 7: <= 150 ms per page"),
    "page_apptest_s": Target(1.5, "lower", "issue 7: <= 1.5 s warm"),
    "pandas_ratio": Target(5.0, "higher", "issue 7: >= 5x the pandas reference"),
    "map_html_mb": Target(5.0, "lower", "issue 7: <= 5 MB"),
    "map_markers": Target(5_000, "lower", "design: a capped sample, never one per incident"),
    "app_peak_memory_mb": Target(1536.0, "lower", "issue 7: <= 1.5 GB"),
    "briefing_pdf_s": Target(10.0, "lower", "issue 7: <= 10 s"),
    "page_payload_mb": Target(50.0, "lower", "issue 7: <= about 50 MB to the browser"),
    "memory_per_user_mb": Target(5.0, "lower", "issue 12: <= 5 MB per user of a class"),
    "signin_flood_s": Target(2.0, "lower", "issue 12: a real user signs in within 2 s"),
    "ingest_audit_wait_p99_ms": Target(200.0, "lower", "issue 13: p99 <= 200 ms"),
    "ingest_append_share": Target(10.0, "lower", "issue 13: <= 10 % of a full load"),
}
# Targets that do not depend on the data's size (they hold at any size).
SIZE_FREE = ("map_html_mb", "map_markers", "page_payload_mb", "memory_per_user_mb",
             "signin_flood_s", "ingest_audit_wait_p99_ms", "ingest_append_share")


@dataclass
class Measurement:
    """One figure of the report: a median of ``samples`` (after a warm-up run)."""

    key: str  # stable id, e.g. "page_analytics_ms.overview"
    label: str
    unit: str
    samples: list[float] = field(default_factory=list)
    value: float | None = None  # the median of the samples unless set directly
    target: float | None = None
    better: Better | None = None
    target_source: str = ""
    status: str = "no target"  # met | missed | no target | not measured | not built yet
    gap: str = ""  # how far from the target, when missed
    note: str = ""  # what it covers; why, when missed

    def finish(self, incidents: int, dialect: str) -> Measurement:
        if self.value is None and self.samples:
            self.value = statistics.median(self.samples)
        family = self.key.split(".")[0]
        target = TARGETS.get(family)
        if family == "page_analytics_ms" and incidents > TARGET_SIZE:
            target = Target(LARGE_SIZE_PAGE_TARGET_MS, "lower",
                            "issue 7: <= 1 s per page at 5,000,000")
        elif target is not None and incidents > TARGET_SIZE and family not in SIZE_FREE:
            target = None  # set at 1,000,000 only; reported without a verdict
        if family == "ingest_rows_per_s" and dialect != "sqlite":
            target = None  # the target is for SQLite; PostgreSQL is reported beside it
        if self.status in ("not measured", "not built yet"):
            return self
        if self.value is None:
            self.status = "not measured"
            return self
        if target is None:
            self.status = "no target"
            return self
        self.target, self.better, self.target_source = target.value, target.better, target.source
        met = self.value >= target.value if target.better == "higher" else \
            self.value <= target.value
        self.status = "met" if met else "missed"
        if not met:
            difference = abs(self.value - target.value)
            self.gap = (f"{_number(difference, self.unit)} {self.unit} "
                        f"({100 * difference / target.value:.0f} %)")
        return self

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _number(value: float, unit: str) -> str:
    if unit in ("rows/s", "bytes", "markers", "rows"):
        return f"{value:,.0f}"
    if unit == "x":
        return f"{value:.1f}"
    if unit == "ms":
        return f"{value:,.0f}"
    return f"{value:,.2f}"


def value_text(measurement: Measurement) -> str:
    if measurement.value is None:
        return measurement.status
    return f"{_number(measurement.value, measurement.unit)} {measurement.unit}"


def target_text(measurement: Measurement) -> str:
    if measurement.target is None:
        return "—"
    sign = ">=" if measurement.better == "higher" else "<="
    return f"{sign} {_number(measurement.target, measurement.unit)} {measurement.unit}"


def status_text(measurement: Measurement) -> str:
    if measurement.status == "missed":
        return f"**missed** by {measurement.gap}"
    return measurement.status


def markdown(report: dict[str, Any]) -> str:
    """The report as Markdown: the context line, then one table row per measurement."""
    machine = report["machine"]
    lines = [
        f"### {report['incidents']:,} incidents, {report['store']['dialect']} "
        f"(median of {report['repeat']} runs after a warm-up)",
        "",
        f"{machine['cpus']} CPUs, {machine['memory_gb']:.0f} GB; load average "
        f"{machine['load_before']:.2f} before, {machine['load_after']:.2f} after "
        f"(1-minute); Python {machine['python']}, Polars {machine['polars']}; "
        f"{report['started_at']} – {report['finished_at']}.",
        "",
        "| measurement | value | target | status | notes |",
        "|---|---:|---:|---|---|",
    ]
    for item in report["measurements"]:
        measurement = Measurement(**item)
        note = measurement.note.replace("|", "/")
        lines.append(f"| {measurement.label} | {value_text(measurement)} | "
                     f"{target_text(measurement)} | {status_text(measurement)} | {note} |")
    if report.get("loaded"):
        lines += ["", f"The machine was loaded during the run (load average above its "
                  f"{machine['cpus']} CPUs): the timings are pessimistic."]
    return "\n".join(lines) + "\n"


def comparison_markdown(reports: list[dict[str, Any]]) -> str:
    """Several bench reports side by side (e.g. SQLite and PostgreSQL at 1M and 5M): one row
    per measurement, one column per report, each value with its verdict (✓ met, ✗ missed, none:
    no target at that size)."""
    headers = [f"{report['store']['dialect']} {report['incidents']:,}" for report in reports]
    lines = ["| measurement | target (1M) | " + " | ".join(headers) + " |",
             "|---|---:|" + "---:|" * len(reports)]
    rows: dict[str, list[Measurement | None]] = {}
    labels: dict[str, str] = {}
    targets: dict[str, str] = {}
    for index, report in enumerate(reports):
        for item in report["measurements"]:
            measurement = Measurement(**item)
            labels.setdefault(measurement.key, measurement.label)
            rows.setdefault(measurement.key, [None] * len(reports))[index] = measurement
            if measurement.target is not None and report["incidents"] <= TARGET_SIZE:
                targets.setdefault(measurement.key, target_text(measurement))
    for key, measured in rows.items():
        family = key.split(".")[0]
        target = targets.get(key) or ("" if family not in TARGETS else
                                      f"{'>=' if TARGETS[family].better == 'higher' else '<='} "
                                      f"{_number(TARGETS[family].value, '')}".strip())
        cells = []
        for cell in measured:
            if cell is None:
                cells.append("")
                continue
            verdict = {"met": " ✓", "missed": " ✗"}.get(cell.status, "")
            cells.append(value_text(cell) + verdict)
        if family == "page_analytics_ms" and any(r["incidents"] > TARGET_SIZE for r in reports):
            target += f" (5M: <= {LARGE_SIZE_PAGE_TARGET_MS:,.0f} ms)"
        lines.append(f"| {labels[key]} | {target or '—'} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
