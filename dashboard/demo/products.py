"""Synthetic analytic products: topics, areas, types, titles and summaries per center.

Products are few (thousands), so they are drafted one by one in Python; the patterns planted
here are coverage gaps (a topic x region no product covers) and near-duplicate clusters
(lightly reworded products from different centers on one topic and area within days).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from dashboard.demo.geography import CenterPlan, StateGeography
from dashboard.demo.incidents import CATEGORIES, DAY_S, TimeSpan
from dashboard.demo.text import (
    MARKUP_PRODUCT_TITLE,
    NEAR_DUPLICATE_REWORDING,
    NEAR_DUPLICATE_SUMMARY,
    NEAR_DUPLICATE_TITLES,
    PRODUCT_SUBJECTS,
    SUMMARY_ADVICE,
    SUMMARY_DETAILS,
    SUMMARY_OPENINGS,
    SUMMARY_TRENDS,
    TITLES,
    capitalized,
)
from dashboard.schema import TLP_MARKINGS

PRODUCTS_AT_DEFAULT_SIZE = 3000
DEFAULT_INCIDENTS = 200_000
STATE_CENTER_SHARE = 0.3
PRODUCT_TYPES = {"bulletin": 0.35, "situational_awareness": 0.28, "assessment": 0.17,
                 "officer_safety": 0.12, "special_event": 0.08}
AUDIENCES = {"law_enforcement": 0.45, "public_safety": 0.12, "emergency_management": 0.1,
             "private_sector": 0.12, "federal": 0.1, "leadership": 0.11}
PRODUCT_TLP_SHARES = (0.1, 0.45, 0.38, 0.05, 0.02)
SPECIAL_EVENT_TOPICS = ("counterterrorism", "sar_analysis", "critical_infrastructure")
# Two products on one subject, from different centers, this close in time and with touching
# areas would read as duplicates; ordinary products avoid it.
SAME_SUBJECT_WINDOW_S = 10 * DAY_S
NEAR_DUPLICATE_SPREAD_DAYS = 5
NEAR_DUPLICATE_SPREAD_S = NEAR_DUPLICATE_SPREAD_DAYS * DAY_S
# The last near-duplicate cluster falls in these last days of the span, so the default views
# (products current over the last 90 days) show one.
RECENT_CLUSTER_DAYS = 40
# Every topic x region with incidents, the planted gaps aside, gets a product at least this
# often, so that the planted gaps are the only cells with activity and no current product.
COVERAGE_FLOOR_DAYS = 60
FLOOR_PRODUCT_TYPES = ("bulletin", "situational_awareness", "assessment")
INCIDENT_LOOKBACK_S = 45 * DAY_S


@dataclass
class ProductDraft:
    center: int
    published_s: int
    product_type: str
    topics: list[str]
    counties: list[str]
    regions: list[str]
    statewide: bool
    audience: str
    tlp: str
    subject: str = ""
    area_label: str = ""
    title: str = ""
    summary: str = ""
    incident_sequences: list[int] = field(default_factory=list)
    cluster: int | None = None  # near-duplicate cluster number
    cluster_county: str = ""  # the county (FIPS) every member of the cluster covers
    markup: bool = False  # the title carries markup (must be escaped wherever shown)
    sequence: int = 0  # 1.. per center in publication order


@dataclass(frozen=True)
class CoverageGap:
    topic: str
    region: int  # region number
    incidents: int


@dataclass(frozen=True)
class CenterIncidents:
    """One center's incidents of one category, in time order, for citing in products."""

    occurred_s: np.ndarray
    sequence: np.ndarray


class ProductPlanner:
    def __init__(self, geography: StateGeography, centers: tuple[CenterPlan, ...],
                 aor: list[np.ndarray], county_weight: np.ndarray,
                 center_topic_counts: np.ndarray, citable: dict[tuple[int, int], CenterIncidents],
                 gaps: list[CoverageGap], span: TimeSpan, rng: np.random.Generator):
        self.geography = geography
        self.centers = centers
        self.aor = aor  # county numbers per center
        self.county_weight = county_weight
        self.center_topic_counts = center_topic_counts  # (centers, categories)
        self.citable = citable
        self.gaps = gaps
        self.span = span
        self.rng = rng
        self.region_ids = [region.id for region in geography.regions]
        self.region_counties = [set(region.counties) for region in geography.regions]
        self.gap_topics = {gap.topic for gap in gaps}

    # --- areas --------------------------------------------------------------------------

    def _covered_counties(self, draft: ProductDraft) -> set[str]:
        if draft.statewide:
            return set(self.geography.fips.tolist())
        covered = set(draft.counties)
        for region_id in draft.regions:
            covered |= self.region_counties[self.region_ids.index(region_id)]
        return covered

    def _forbidden_topics(self, draft: ProductDraft) -> set[str]:
        """Gap topics this area touches: no product may carry them there."""
        if draft.statewide:
            return set(self.gap_topics)
        covered = self._covered_counties(draft)
        return {gap.topic for gap in self.gaps if covered & self.region_counties[gap.region]}

    def _pick_counties(self, center: int, count: int) -> list[str]:
        aor = self.aor[center]
        weight = self.county_weight[aor]
        count = min(count, len(aor))
        picked = self.rng.choice(aor, size=count, replace=False, p=weight / weight.sum())
        return sorted(str(self.geography.fips[n]) for n in picked)

    def _pick_area(self, center: int) -> tuple[list[str], list[str], bool]:
        plan = self.centers[center]
        roll = self.rng.random()
        if plan.statewide:
            if roll < 0.3:
                return [], [], True
            if roll < 0.7:
                size = int(self.rng.integers(1, 3))
                regions = self.rng.choice(self.region_ids, size=size, replace=False)
                return [], sorted(map(str, regions)), False
            return self._pick_counties(center, int(self.rng.integers(1, 4))), [], False
        own_regions = list(plan.aor_regions)
        region_share = 0.5 if plan.kind == "regional" else 0.2
        if own_regions and roll < region_share:
            size = int(self.rng.integers(1, min(2, len(own_regions)) + 1))
            return [], sorted(map(str, self.rng.choice(own_regions, size, replace=False))), False
        most = 4 if plan.kind == "regional" else 3
        return self._pick_counties(center, int(self.rng.integers(1, most + 1))), [], False

    def _area_label(self, draft: ProductDraft) -> str:
        geography = self.geography
        if draft.statewide:
            return geography.state_name
        if draft.regions:
            names = [geography.regions[self.region_ids.index(r)].name for r in draft.regions]
            return " and ".join(names)
        numbers = geography.county_numbers(draft.counties)
        labels = [geography.county_label(int(n)) for n in numbers]
        if len(labels) <= 2:
            return " and ".join(labels)
        regions = {int(geography.region_of_county[n]) for n in numbers}
        if len(regions) == 1:
            return f"{len(labels)} counties of {geography.regions[regions.pop()].name}"
        return f"{len(labels)} counties"

    # --- drafting -------------------------------------------------------------------------

    def _published(self, count: int, first_day: int = 0, last_day: int | None = None
                   ) -> np.ndarray:
        """Weekday business hours, local time, on days ``first_day`` .. ``last_day`` - 1."""
        days = np.arange(first_day, self.span.days if last_day is None else last_day)
        start_weekday = datetime.fromtimestamp(self.span.start_s, UTC).weekday()
        weekdays = days[(days + start_weekday) % 7 < 5]
        day = self.rng.choice(weekdays, size=count)
        local_second = self.rng.integers(8 * 3600, 17 * 3600, size=count)
        return self.span.start_s + day * DAY_S + local_second - self.span.utc_offset_s

    def _topics(self, center: int, product_type: str) -> list[str]:
        weights = self.center_topic_counts[center] + 1.0
        first = CATEGORIES[int(self.rng.choice(len(CATEGORIES), p=weights / weights.sum()))]
        if product_type == "officer_safety":
            first = "officer_safety"
        elif product_type == "special_event":
            first = str(self.rng.choice(SPECIAL_EVENT_TOPICS))
        topics = [first]
        for _ in range(int(self.rng.choice(3, p=[0.6, 0.3, 0.1]))):
            extra = CATEGORIES[int(self.rng.integers(len(CATEGORIES)))]
            if extra not in topics:
                topics.append(extra)
        return topics

    def _allowed_topics(self, draft: ProductDraft) -> list[str]:
        forbidden = self._forbidden_topics(draft)
        topics = [topic for topic in draft.topics if topic not in forbidden]
        if topics:
            return topics
        weights = self.center_topic_counts[draft.center] + 1.0
        weights[[CATEGORIES.index(topic) for topic in forbidden]] = 0
        return [CATEGORIES[int(self.rng.choice(len(CATEGORIES), p=weights / weights.sum()))]]

    def draft_ordinary(self, counts: list[int]) -> list[ProductDraft]:
        drafts: list[ProductDraft] = []
        type_names = list(PRODUCT_TYPES)
        type_weights = np.array(list(PRODUCT_TYPES.values()))
        audience_names = list(AUDIENCES)
        audience_weights = np.array(list(AUDIENCES.values()))
        for center, count in enumerate(counts):
            published = self._published(count)
            types = self.rng.choice(type_names, size=count, p=type_weights / type_weights.sum())
            audiences = self.rng.choice(audience_names, size=count,
                                        p=audience_weights / audience_weights.sum())
            markings = self.rng.choice(TLP_MARKINGS, size=count, p=PRODUCT_TLP_SHARES)
            for number in range(count):
                product_type = str(types[number])
                counties, regions, statewide = self._pick_area(center)
                draft = ProductDraft(
                    center=center, published_s=int(published[number]),
                    product_type=product_type, topics=self._topics(center, product_type),
                    counties=counties, regions=regions, statewide=statewide,
                    audience="law_enforcement" if product_type == "officer_safety"
                    else str(audiences[number]),
                    tlp=str(markings[number]),
                )
                draft.topics = self._allowed_topics(draft)
                draft.area_label = self._area_label(draft)
                draft.subject = str(self.rng.choice(PRODUCT_SUBJECTS[draft.topics[0]]))
                if product_type in ("bulletin", "situational_awareness", "assessment"):
                    draft.incident_sequences = self._cite_incidents(draft)
                drafts.append(draft)
        return drafts

    def _cite_incidents(self, draft: ProductDraft) -> list[int]:
        if self.rng.random() < 0.5:
            return []
        pool = self.citable.get((draft.center, CATEGORIES.index(draft.topics[0])))
        if pool is None:
            return []
        first = int(np.searchsorted(pool.occurred_s, draft.published_s - INCIDENT_LOOKBACK_S))
        last = int(np.searchsorted(pool.occurred_s, draft.published_s))
        if last <= first:
            return []
        count = min(int(self.rng.integers(1, 5)), last - first)
        chosen = self.rng.choice(np.arange(first, last), size=count, replace=False)
        return sorted(int(pool.sequence[i]) for i in chosen)

    def draft_near_duplicates(self, cluster_count: int) -> list[ProductDraft]:
        """Clusters of 2-3 products by different centers: one topic, one shared county,
        published within five days, titles and summaries lightly reworded. The last cluster
        is recent, and its first member's title carries markup."""
        covering = [[c for c in range(len(self.centers)) if n in set(self.aor[c].tolist())]
                    for n in range(self.geography.county_count)]
        shared = np.array([n for n, centers in enumerate(covering) if len(centers) >= 2])
        weight = self.county_weight[shared]
        topics = [t for t in CATEGORIES if t not in self.gap_topics]
        drafts: list[ProductDraft] = []
        for cluster in range(cluster_count):
            county = int(self.rng.choice(shared, p=weight / weight.sum()))
            fips = str(self.geography.fips[county])
            members = self.rng.choice(covering[county], replace=False,
                                      size=min(len(covering[county]),
                                               2 + int(self.rng.random() < 0.4)))
            topic = str(self.rng.choice(topics))
            subject = str(self.rng.choice(PRODUCT_SUBJECTS[topic]))
            recent = cluster == cluster_count - 1
            # Every member is published before the span ends (a later one would be rejected).
            base = int(self._published(
                1, first_day=self.span.days - RECENT_CLUSTER_DAYS if recent else 30,
                last_day=self.span.days - NEAR_DUPLICATE_SPREAD_DAYS - 1)[0])
            area_label = self.geography.county_label(county)
            product_type = str(self.rng.choice(["bulletin", "situational_awareness"]))
            facts = {
                "count": str(int(self.rng.integers(12, 90))),
                "percent": str(int(self.rng.integers(15, 60))),
                "detail": str(self.rng.choice(SUMMARY_DETAILS)),
                **_date_range(base - int(self.rng.integers(21, 35)) * DAY_S, base - DAY_S),
            }
            for rank, center in enumerate(sorted(int(m) for m in members)):
                counties, regions = self._near_duplicate_area(int(center), county, fips)
                draft = ProductDraft(
                    center=int(center),
                    published_s=base + int(self.rng.integers(0, NEAR_DUPLICATE_SPREAD_S)),
                    product_type=product_type, topics=[topic], counties=counties,
                    regions=regions, statewide=False, audience="law_enforcement",
                    tlp=str(self.rng.choice(["TLP:GREEN", "TLP:AMBER"])), subject=subject,
                    area_label=area_label, cluster=cluster, cluster_county=fips,
                )
                values = {"subject": subject, "Subject": capitalized(subject),
                          "area": area_label, **facts}
                draft.title = NEAR_DUPLICATE_TITLES[rank].format(**values)
                if recent and rank == 0:
                    draft.title += MARKUP_PRODUCT_TITLE
                    draft.markup = True
                summary = NEAR_DUPLICATE_SUMMARY.format(**values)
                for original, replacement in NEAR_DUPLICATE_REWORDING[rank]:
                    summary = summary.replace(original, replacement, 1)
                draft.summary = summary
                drafts.append(draft)
        return drafts

    def draft_coverage_floor(self, drafts: list[ProductDraft], activity: np.ndarray
                             ) -> list[ProductDraft]:
        """Extra products wherever a topic x region with incidents (``activity``: categories x
        regions), the planted gaps aside, would otherwise go more than COVERAGE_FLOOR_DAYS
        without one."""
        written = [((d.published_s - self.span.start_s) // DAY_S, set(d.topics),
                    self._covered_counties(d)) for d in drafts]
        gaps = {(gap.topic, gap.region) for gap in self.gaps}
        extra: list[ProductDraft] = []
        for topic_number, topic in enumerate(CATEGORIES):
            for region in range(len(self.region_ids)):
                if activity[topic_number, region] == 0 or (topic, region) in gaps:
                    continue
                counties = self.region_counties[region]
                days = sorted(int(day) for day, topics, area in written
                              if topic in topics and area & counties)
                last = 0
                for day in [*days, self.span.days]:
                    while day - last > COVERAGE_FLOOR_DAYS:
                        first = last + int(self.rng.integers(COVERAGE_FLOOR_DAYS // 2,
                                                             COVERAGE_FLOOR_DAYS - 7))
                        draft = self._floor_draft(topic, region, first)
                        if draft is None:
                            break
                        extra.append(draft)
                        last = int((draft.published_s - self.span.start_s) // DAY_S)
                    last = max(last, day)
        return extra

    def _floor_draft(self, topic: str, region: int, first_day: int) -> ProductDraft | None:
        """A one-topic product on ``region`` by a center whose AOR reaches it, published in
        the week from ``first_day``."""
        region_id = self.region_ids[region]
        counties = self.region_counties[region]
        writers = [c for c, plan in enumerate(self.centers) if plan.statewide
                   or region_id in plan.aor_regions
                   or counties & set(self.geography.fips[self.aor[c]].tolist())]
        if not writers:
            return None
        weights = self.center_topic_counts[writers, CATEGORIES.index(topic)] + 1.0
        center = int(self.rng.choice(writers, p=weights / weights.sum()))
        plan = self.centers[center]
        own = sorted(counties & set(self.geography.fips[self.aor[center]].tolist()))
        if plan.statewide or region_id in plan.aor_regions:
            area_counties, area_regions = [], [region_id]
        else:
            size = min(len(own), int(self.rng.integers(1, 3)))
            area_counties = sorted(map(str, self.rng.choice(own, size=size, replace=False)))
            area_regions = []
        product_type = str(self.rng.choice(FLOOR_PRODUCT_TYPES))
        draft = ProductDraft(
            center=center,
            published_s=int(self._published(1, first_day=first_day,
                                            last_day=min(first_day + 7, self.span.days))[0]),
            product_type=product_type, topics=[topic], counties=area_counties,
            regions=area_regions, statewide=False, audience="law_enforcement",
            tlp=str(self.rng.choice(TLP_MARKINGS, p=PRODUCT_TLP_SHARES)),
        )
        draft.area_label = self._area_label(draft)
        draft.subject = str(self.rng.choice(PRODUCT_SUBJECTS[topic]))
        draft.incident_sequences = self._cite_incidents(draft)
        return draft

    def _near_duplicate_area(self, center: int, county: int, fips: str
                             ) -> tuple[list[str], list[str]]:
        plan = self.centers[center]
        region = self.geography.regions[int(self.geography.region_of_county[county])]
        roll = self.rng.random()
        if roll < 0.3 and (plan.statewide or region.id in plan.aor_regions):
            return [], [region.id]
        neighbours = [int(n) for n in self.geography.neighbours[county]
                      if int(n) in set(self.aor[center].tolist())]
        if roll < 0.65 and neighbours:
            extra = str(self.geography.fips[int(self.rng.choice(neighbours))])
            return sorted([fips, extra]), []
        return [fips], []

    def finish(self, ordinary: list[ProductDraft], clusters: list[ProductDraft],
               center_codes: list[str]) -> list[ProductDraft]:
        """Write ordinary titles and summaries so that no two centers' products on one subject
        sit within days and touching areas of each other, then number them per center."""
        by_subject: dict[str, list[tuple[int, int, set[str]]]] = {}
        for draft in clusters:
            by_subject.setdefault(draft.subject, []).append(
                (draft.published_s, draft.center, self._covered_counties(draft)))
        for draft in sorted(ordinary, key=lambda d: (d.published_s, d.center)):
            covered = self._covered_counties(draft)
            subjects = list(PRODUCT_SUBJECTS[draft.topics[0]])
            self.rng.shuffle(subjects)
            for subject in [draft.subject, *subjects]:
                if not any(center != draft.center and abs(when - draft.published_s)
                           <= SAME_SUBJECT_WINDOW_S and covered & other
                           for when, center, other in by_subject.get(subject, [])):
                    draft.subject = subject
                    break
            by_subject.setdefault(draft.subject, []).append(
                (draft.published_s, draft.center, covered))
            self._write_text(draft, center_codes[draft.center])
        drafts = sorted([*ordinary, *clusters], key=lambda d: (d.center, d.published_s))
        next_sequence: dict[int, int] = {}
        for draft in drafts:
            next_sequence[draft.center] = next_sequence.get(draft.center, 0) + 1
            draft.sequence = next_sequence[draft.center]
        return drafts

    def _write_text(self, draft: ProductDraft, center_code: str) -> None:
        published = datetime.fromtimestamp(draft.published_s, UTC)
        values = {
            "subject": draft.subject, "Subject": capitalized(draft.subject),
            "area": draft.area_label, "type": _type_label(draft.product_type),
            "month": f"{published:%B %Y}", "center": center_code,
            "count": str(int(self.rng.integers(3, 250))),
            "percent": str(int(self.rng.integers(5, 80))),
            **_date_range(draft.published_s - int(self.rng.integers(7, 90)) * DAY_S,
                          draft.published_s - DAY_S),
        }
        draft.title = str(self.rng.choice(TITLES)).format(**values)
        draft.summary = " ".join(
            str(self.rng.choice(options)).format(**values)
            for options in (SUMMARY_OPENINGS, SUMMARY_DETAILS, SUMMARY_TRENDS, SUMMARY_ADVICE))


def _date_range(first_s: int, last_s: int) -> dict[str, str]:
    first = datetime.fromtimestamp(first_s, UTC)
    last = datetime.fromtimestamp(last_s, UTC)
    return {"first": f"{first:%B} {first.day}", "last": f"{last:%B} {last.day}, {last.year}"}


def _type_label(product_type: str) -> str:
    return {"bulletin": "Bulletin", "situational_awareness": "Situational awareness",
            "assessment": "Assessment", "officer_safety": "Officer safety",
            "special_event": "Special event"}[product_type]


def product_counts(incidents: int, center_volumes: np.ndarray, statewide: list[bool]
                   ) -> list[int]:
    """Products per center: grows with the square root of incident volume; the statewide
    center writes a fixed share, the others in proportion to the root of their volume."""
    total = max(60, round(PRODUCTS_AT_DEFAULT_SIZE * np.sqrt(incidents / DEFAULT_INCIDENTS)))
    roots = np.sqrt(center_volumes.astype(float))
    is_state = np.array(statewide)
    shares = np.where(is_state, 0.0, roots / roots[~is_state].sum() * (1 - STATE_CENTER_SHARE))
    shares[is_state] = STATE_CENTER_SHARE / max(is_state.sum(), 1)
    return [max(10, round(total * share)) for share in shares]
