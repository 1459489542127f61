"""Producing a briefing: render it, archive the file with a JSON manifest beside it, and log
its dissemination (28 CFR 23.20(f): who, for whom, why, when) and an audit row, together.

An archive folder holds ``<file>`` and ``<file>.json`` pairs. The manifest says what the file
holds (filters, period, data version, counts, marking, content hash) and who produced it for
whom and why; :func:`archived_briefings` reads them back, showing a viewer only the briefings
the marking policy lets them receive.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from dashboard.analytics.filters import to_query_params
from dashboard.briefing.compose import FORMATS, Briefing, BriefingError
from dashboard.security import audit
from dashboard.security.policy import Viewer, may_receive_briefing
from dashboard.store import on_operations, write_transaction
from dashboard.store import table as sql_table

MANIFEST_VERSION = 1
MANIFEST_SUFFIX = ".json"
MIME_TYPES = {"pdf": "application/pdf", "html": "text/html"}
MAX_PURPOSE_CHARACTERS = 2000


@dataclass(frozen=True)
class ProducedBriefing:
    path: Path  # the archived file
    manifest_path: Path
    manifest: dict[str, Any]
    data: bytes

    @property
    def file_name(self) -> str:
        return self.path.name


def render(briefing: Briefing, file_format: str) -> bytes:
    if file_format == "pdf":
        from dashboard.briefing.render_pdf import render_pdf

        return render_pdf(briefing)
    if file_format == "html":
        from dashboard.briefing.render_html import render_html

        return render_html(briefing).encode("utf-8")
    raise BriefingError(f"unknown format {file_format!r} (known: {', '.join(FORMATS)})")


def file_name_for(briefing: Briefing, file_format: str) -> str:
    """briefing_ca_20261118-20261124_20261125T061500Z_1a2b3c4d.pdf"""
    assert briefing.generated_at is not None
    at = briefing.generated_at.astimezone(UTC)
    return (f"briefing_{briefing.state.lower()}_{briefing.period.start:%Y%m%d}-"
            f"{briefing.period.end:%Y%m%d}_{at:%Y%m%dT%H%M%SZ}_{briefing.content_hash[:8]}."
            f"{file_format}")


def manifest_for(briefing: Briefing, file_format: str, file_name: str, data: bytes,
                 purpose: str) -> dict[str, Any]:
    assert briefing.generated_at is not None
    return {
        "manifest_version": MANIFEST_VERSION,
        "file": file_name,
        "format": file_format,
        "file_sha256": hashlib.sha256(data).hexdigest(),
        "content_hash": briefing.content_hash,
        "title": briefing.title,
        "state": briefing.state,
        "period": {"name": briefing.period_name, "start": briefing.period.start.isoformat(),
                   "end": briefing.period.end.isoformat(), "days": briefing.period.days},
        "filters": to_query_params(briefing.filters),
        "filters_in_words": dict(briefing.filter_lines),
        "data_version": briefing.data_version,
        "data_as_of": dict(briefing.data_as_of),
        "counts": dict(briefing.counts),
        "marking": briefing.marking,
        "caveat": briefing.caveat,
        "synthetic": briefing.synthetic,
        "audience": briefing.audience,
        "audience_label": briefing.audience_label,
        "purpose": purpose,
        "generated_at": briefing.generated_at.astimezone(UTC).isoformat(),
        "generated_by": briefing.generated_by,
        "generated_by_center": briefing.generated_by_center,
        "key_judgments": list(briefing.key_judgments),
    }


def _write(path: Path, data: bytes) -> Path:
    """Write next to ``path`` under a temporary name (moved in place once logged)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.partial")
    temporary.write_bytes(data)
    return temporary


@on_operations
def produce(engine: sa.Engine, briefing: Briefing, file_format: str, purpose: str,
            archive_dir: Path, out: Path | None = None, page: str = "brief") -> ProducedBriefing:
    """Render ``briefing`` (stamped with its generation time), archive it with its manifest
    (and copy both to ``out`` when given), and write its dissemination and audit rows in one
    transaction: a briefing is either produced and logged, or neither."""
    if briefing.generated_at is None:
        raise BriefingError("a briefing needs its generation time before it is produced")
    purpose = " ".join(purpose.split())
    if not purpose:
        raise BriefingError("say why the briefing is released (purpose): 28 CFR 23.20(f) "
                            "logs it")
    if len(purpose) > MAX_PURPOSE_CHARACTERS:
        raise BriefingError(f"purpose: at most {MAX_PURPOSE_CHARACTERS} characters")
    data = render(briefing, file_format)
    archive_dir = Path(archive_dir)
    name = file_name_for(briefing, file_format)
    path = archive_dir / name
    manifest = manifest_for(briefing, file_format, name, data, purpose)
    manifest_bytes = (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode()
    targets = [(path, data), (path.with_name(name + MANIFEST_SUFFIX), manifest_bytes)]
    if out is not None:
        out = Path(out)
        targets += [(out, data), (out.with_name(out.name + MANIFEST_SUFFIX), manifest_bytes)]
    written = [(_write(target, content), target) for target, content in targets]
    try:
        with write_transaction(engine) as connection:
            connection.execute(sql_table("disseminations").insert().values(
                at=briefing.generated_at, username=briefing.generated_by,
                audience=briefing.audience, purpose=purpose, file_name=name,
                format=file_format, marking=briefing.marking,
                rows=briefing.records_drawn_on, content_hash=briefing.content_hash))
            audit.record(connection, briefing.generated_by, "briefing", page=page,
                         rows=briefing.records_drawn_on, at=briefing.generated_at,
                         detail={"file": name, "format": file_format,
                                 "marking": briefing.marking, "audience": briefing.audience,
                                 "purpose": purpose, "filters": manifest["filters"],
                                 "period": manifest["period"],
                                 "content_hash": briefing.content_hash})
            for temporary, target in written:
                os.replace(temporary, target)
    except BaseException:
        for temporary, _target in written:
            temporary.unlink(missing_ok=True)
        raise
    return ProducedBriefing(path, path.with_name(name + MANIFEST_SUFFIX), manifest, data)


def archived_briefings(archive_dir: Path, viewer: Viewer | None = None) -> list[dict[str, Any]]:
    """Manifests of the archived briefings whose file is present, newest first; with a
    viewer, only those the marking policy lets them receive. Unreadable manifests are
    skipped (the archive is a plain folder anyone with access to the server may touch)."""
    folder = Path(archive_dir)
    if not folder.is_dir():
        return []
    found = []
    for manifest_path in folder.glob(f"briefing_*{MANIFEST_SUFFIX}"):
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
            name = manifest["file"]
            ready = (isinstance(name, str) and Path(name).name == name
                     and (folder / name).is_file()
                     and manifest_path.name == name + MANIFEST_SUFFIX)
            allowed = viewer is None or may_receive_briefing(
                viewer, manifest["marking"], manifest["generated_by"],
                manifest["generated_by_center"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if ready and allowed:
            found.append(manifest)
    return sorted(found, key=lambda item: (str(item.get("generated_at")), item["file"]),
                  reverse=True)


def archived_file(archive_dir: Path, manifest: dict[str, Any]) -> bytes:
    """The bytes of an archived briefing listed by :func:`archived_briefings`."""
    name = Path(manifest["file"]).name  # never a path out of the archive
    return (Path(archive_dir) / name).read_bytes()


@on_operations
def dissemination_log(engine: sa.Engine) -> list[dict[str, Any]]:
    """Every dissemination, newest first."""
    log = sql_table("disseminations")
    with engine.connect() as connection:
        rows = connection.execute(sa.select(log).order_by(log.c.dissemination_id.desc())).all()
    return [dict(row._mapping) for row in rows]


def archive_folder(configured: str, override: Path | None = None) -> Path:
    """``--archive`` when given, else the configured folder (relative: to the working
    directory)."""
    return Path(override) if override is not None else Path(configured)
