"""Who may see what: the one policy every page, download, briefing, `analyze` output and shared
link goes through.

A :class:`Viewer` is a signed-in user as the policy sees them (role, home center, highest TLP
marking, need-to-know). :func:`row_visible` is the rule for a single incident or product row;
:func:`visible_frames` applies it to the analytic frames before any page or export sees them, so
a figure can only ever be computed from rows the viewer may see. The other functions here are
the policy's answers to the few questions that are not about rows: which pages a role opens,
whether a viewer may see exact locations or narratives, who may produce briefings. What a
partner's aggregates may show (the small-cell rule) is applied with the row rules in
:mod:`dashboard.security.audience`.

TLP 2.0 (https://www.first.org/tlp/):
- TLP:CLEAR to everyone; TLP:GREEN and TLP:AMBER by role (a user's limit, capped by the role's
  ceiling in config);
- TLP:AMBER+STRICT only inside the owning center (the viewer's home center, not a partner);
- TLP:RED only to the named recipients of the record.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import polars as pl

from dashboard.schema import ALERT_CONDITIONS, ROLES, TLP_MARKINGS

if TYPE_CHECKING:
    from dashboard.frames import HealthFrames, PictureFrames

TLP_RANK = {marking: rank for rank, marking in enumerate(TLP_MARKINGS)}
TLP_WORDING = {
    "TLP:CLEAR": "Recipients can spread this to the world; there is no limit on disclosure.",
    "TLP:GREEN": "Limited disclosure, recipients can spread this within their community.",
    "TLP:AMBER": "Limited disclosure, recipients can only spread this on a need-to-know basis "
                 "within their organization and its clients.",
    "TLP:AMBER+STRICT": "Limited disclosure, recipients can only spread this on a need-to-know "
                        "basis within their organization only.",
    "TLP:RED": "For the eyes and ears of individual recipients only, no further disclosure.",
}
# Page url paths each role may open. A page missing here is not even offered in the navigation.
PAGES_BY_ROLE: dict[str, frozenset[str]] = {
    "admin": frozenset({"overview", "map", "trends", "centers", "coverage", "data_health",
                        "briefing", "alerts", "admin"}),
    "leadership": frozenset({"overview", "map", "trends", "centers", "coverage", "briefing",
                             "alerts"}),
    "analyst": frozenset({"overview", "map", "trends", "centers", "coverage", "data_health",
                          "briefing", "alerts"}),
    "partner": frozenset({"overview", "map", "trends", "alerts"}),
}
assert set(PAGES_BY_ROLE) == set(ROLES)
# Alert conditions a partner may subscribe to: those computed from released counts. The others
# report records (a new incident, a coverage gap, near-duplicate products).
PARTNER_ALERT_CONDITIONS = frozenset({"emerging_hotspot", "trend_anomaly", "count_above"})
assert set(ALERT_CONDITIONS) >= PARTNER_ALERT_CONDITIONS


@dataclass(frozen=True)
class Viewer:
    """A signed-in user as the policy sees them. ``max_tlp`` is already capped by the role."""

    username: str
    display_name: str
    role: str
    center_id: str
    max_tlp: str
    need_to_know: bool = False

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"unknown role {self.role!r}")
        if self.max_tlp not in TLP_RANK:
            raise ValueError(f"unknown TLP marking {self.max_tlp!r}")

    @property
    def aggregates_only(self) -> bool:
        """Partners see counts, never records: no narratives, no points, no small cells."""
        return self.role == "partner"

    @property
    def recipient_name(self) -> str | None:
        """The name TLP:RED records list their recipients by."""
        return self.username

    def capped(self, role_ceilings: dict[str, str]) -> Viewer:
        """The same viewer with ``max_tlp`` no higher than the role's ceiling."""
        ceiling = role_ceilings.get(self.role, "TLP:CLEAR")
        if TLP_RANK[self.max_tlp] <= TLP_RANK[ceiling]:
            return self
        return replace(self, max_tlp=ceiling)


@dataclass(frozen=True)
class VisibilityClass:
    """What the policy needs of a viewer to decide what they receive: every user with the same
    class receives the same data, so caches are kept per class, not per user. The user name is
    part of it only for a user named as a recipient of some TLP:RED record (``red_recipient``),
    the one rule that depends on the person."""

    role: str
    center_id: str
    max_tlp: str
    need_to_know: bool = False
    red_recipient: str | None = None

    @property
    def aggregates_only(self) -> bool:
        return self.role == "partner"

    @property
    def recipient_name(self) -> str | None:
        return self.red_recipient


def visibility_class(viewer: Viewer, red_recipients: frozenset[str]) -> VisibilityClass:
    """``viewer``'s class; ``red_recipients``: every user named on a TLP:RED record."""
    named = (viewer.username if viewer.username in red_recipients
             and TLP_RANK[viewer.max_tlp] >= TLP_RANK["TLP:RED"] else None)
    return VisibilityClass(viewer.role, viewer.center_id, viewer.max_tlp, viewer.need_to_know,
                           named)


Audience = Viewer | VisibilityClass


def row_visible(viewer: Audience) -> pl.Expr:
    """True for the incident or product rows ``viewer`` may see (columns tlp, center_id,
    recipients)."""
    ceiling = TLP_RANK[viewer.max_tlp]
    allowed_plain = [marking for marking in ("TLP:CLEAR", "TLP:GREEN", "TLP:AMBER")
                     if TLP_RANK[marking] <= ceiling or marking == "TLP:CLEAR"]
    visible = pl.col("tlp").is_in(allowed_plain)
    if ceiling >= TLP_RANK["TLP:AMBER+STRICT"] and not viewer.aggregates_only:
        visible = visible | ((pl.col("tlp") == "TLP:AMBER+STRICT")
                             & (pl.col("center_id") == viewer.center_id))
    if ceiling >= TLP_RANK["TLP:RED"]:
        name = viewer.recipient_name
        if name is not None:
            named = pl.col("recipients").list.contains(name).fill_null(False)
            visible = visible | ((pl.col("tlp") == "TLP:RED") & named)
    return visible.fill_null(False)


def visible_rows(viewer: Audience, rows: pl.DataFrame) -> pl.DataFrame:
    """The rows of an incident or product frame that ``viewer`` may see (the same frame when
    nothing is withheld, so a viewer who sees everything costs no copy)."""
    mask = rows.select(row_visible(viewer).alias("visible")).to_series()
    return rows if mask.all() else rows.filter(mask)


def visible_frames(viewer: Audience, frames: PictureFrames) -> PictureFrames:
    """The analytic frames cut down to what ``viewer`` may see."""
    return replace(frames, incidents=visible_rows(viewer, frames.incidents),
                   products=visible_rows(viewer, frames.products))


def health_view(viewer: Audience, frames: HealthFrames) -> HealthFrames:
    """Data health as ``viewer`` may see it: flagged incidents and duplicate links only for
    incidents they may see; a rejected row's value and raw record (unvalidated, so of unknown
    marking) only for their own center's feeds, or for admins."""
    quarantine = frames.quarantine
    if viewer.role != "admin":
        own = pl.col("center_id") == viewer.center_id
        withheld = pl.lit("(withheld: another center's feed)")
        quarantine = quarantine.with_columns(
            pl.when(own).then(pl.col(name)).otherwise(withheld).alias(name)
            for name in ("value", "raw_record"))
    return replace(frames, quarantine=quarantine,
                   flagged=visible_rows(viewer, frames.flagged).drop("tlp", "recipients"),
                   links=visible_rows(viewer, frames.links).drop("tlp", "recipients"))


def may_open_page(viewer: Audience, url_path: str) -> bool:
    return url_path in PAGES_BY_ROLE[viewer.role]


def may_see_points(viewer: Audience) -> bool:
    """Exact locations (point and heat layers) are records, not aggregates."""
    return not viewer.aggregates_only


def may_read_narrative(viewer: Audience) -> pl.Expr:
    """True for rows (column center_id) whose narrative ``viewer`` may read: analysts of the
    owning center, or users granted need-to-know; never partners."""
    if viewer.aggregates_only:
        return pl.lit(False)
    if viewer.need_to_know:
        return pl.lit(True)
    if viewer.role == "analyst":
        return pl.col("center_id") == viewer.center_id
    return pl.lit(False)


def redact_narratives(viewer: Audience, rows: pl.DataFrame) -> pl.DataFrame:
    """Narratives the viewer may not read become null (the rows themselves stay)."""
    return rows.with_columns(pl.when(may_read_narrative(viewer)).then(pl.col("narrative"))
                             .otherwise(None).alias("narrative"))


def most_restrictive(markings: Iterable[str | None]) -> str:
    """The most restrictive TLP marking among ``markings`` (TLP:CLEAR when there is none)."""
    known = [marking for marking in markings if marking in TLP_RANK]
    return max(known, key=TLP_RANK.__getitem__, default="TLP:CLEAR")


def may_produce_briefing(viewer: Audience) -> bool:
    """Briefings and `analyze` reports hold figures from records, not released cells: partners
    receive briefings others produce, they do not produce them."""
    return not viewer.aggregates_only


def may_subscribe(viewer: Audience, condition: str) -> bool:
    """Whether ``viewer`` may subscribe to alerts of ``condition``: partners only to those
    computed from their release (their alerts then carry released counts only)."""
    if condition not in ALERT_CONDITIONS:
        return False
    return not viewer.aggregates_only or condition in PARTNER_ALERT_CONDITIONS


def may_receive_briefing(viewer: Viewer, marking: str, author: str, author_center: str) -> bool:
    """Whether ``viewer`` may open an archived briefing. A briefing marked M holds only records
    its author could see, none marked above M, so: up to TLP:AMBER, anyone whose limit reaches
    M; TLP:AMBER+STRICT, only inside the author's center; TLP:RED, only its author (its
    records' named recipients are not kept with it). Partners never: they see aggregates in
    the app only."""
    if viewer.aggregates_only or marking not in TLP_RANK:
        return False
    if TLP_RANK[viewer.max_tlp] < TLP_RANK[marking]:
        return False
    if marking == "TLP:RED":
        return viewer.username == author
    if marking == "TLP:AMBER+STRICT":
        return viewer.center_id == author_center
    return True
