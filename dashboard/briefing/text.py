"""Words both formats print the same way: the marking basis, the method notes."""

from __future__ import annotations

from dashboard.briefing.compose import Briefing

SYNTHETIC_NOTICE = ("SYNTHETIC DATA: generated demo feeds for testing; no real incident, "
                    "person or product is described.")


def marking_basis(briefing: Briefing) -> str:
    return (f"Marked {briefing.marking}: the most restrictive marking among the "
            f"{briefing.incidents_drawn_on:,} incidents and {briefing.products_drawn_on:,} "
            "products its figures draw on (statewide for hot spots and centers, back to the "
            "start of last year for CompStat), the configured minimum and the author's choice. "
            "It holds only records its author may see.")


def method_notes(briefing: Briefing) -> list[str]:
    rule = briefing.series.rule
    return [
        f"Figures are those of the dashboard's pages for the same filters and data version "
        f"({briefing.data_version}): the period holds {briefing.counts['incidents']:,} "
        f"incidents and {briefing.counts['products']:,} products under the filters.",
        "Hot spots: Getis-Ord Gi* z-scores of county counts with queen contiguity, over the "
        "whole state; |z| of 1.65, 1.96 and 2.58 mark 90, 95 and 99 % confidence.",
        f"Anomalies: a bucket whose count exceeds its trailing baseline "
        f"({rule.baseline_buckets} {briefing.series.granularity}s) with an adjusted p below "
        f"{rule.alpha:g}, at least {rule.min_count} incidents and {rule.min_ratio:g} times the "
        "baseline.",
        f"Rates: incidents {briefing.rate_basis}, shipped with the dashboard; a region's "
        "residents are those of its counties under the place filter, and a place with a county "
        "without an estimate has no rate (—).",
        "Coverage: a gap is a topic and region with real activity and no, or too little, "
        "current analytic product; near-duplicates are similar products of different centers "
        "on the same topic and area.",
    ]
