"""The marking policy on its own: every rule by hand, and a property test over random viewers
and markings against the rules written out independently."""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dashboard.schema import ROLES, TABLES, TLP_MARKINGS
from dashboard.security.audience import last_released_day, partner_release
from dashboard.security.policy import (
    PAGES_BY_ROLE,
    Viewer,
    may_open_page,
    may_see_points,
    most_restrictive,
    redact_narratives,
    visibility_class,
    visible_rows,
)

CENTERS = ("stac", "nric", "ccic")
ROWS = pl.DataFrame({
    "record": ["clear", "green", "amber", "strict_own", "strict_other", "red_named", "red_other"],
    "center_id": ["nric", "nric", "nric", "stac", "nric", "nric", "nric"],
    "tlp": ["TLP:CLEAR", "TLP:GREEN", "TLP:AMBER", "TLP:AMBER+STRICT", "TLP:AMBER+STRICT",
            "TLP:RED", "TLP:RED"],
    "recipients": [None, None, None, None, None, ["ana", "bo"], ["bo"]],
}, schema_overrides={"recipients": pl.List(pl.String)})


def _viewer(role: str = "analyst", max_tlp: str = "TLP:RED", username: str = "ana",
            center_id: str = "stac", need_to_know: bool = False) -> Viewer:
    return Viewer(username, username.title(), role, center_id, max_tlp, need_to_know)


def _seen(viewer: Viewer) -> list[str]:
    return visible_rows(viewer, ROWS)["record"].to_list()


def test_analyst_sees_by_marking_center_and_name() -> None:
    assert _seen(_viewer()) == ["clear", "green", "amber", "strict_own", "red_named"]


def test_a_lower_limit_hides_what_is_above_it() -> None:
    assert _seen(_viewer(max_tlp="TLP:GREEN")) == ["clear", "green"]
    assert _seen(_viewer(max_tlp="TLP:AMBER")) == ["clear", "green", "amber"]
    # AMBER+STRICT limit: own center's strict records, but no RED even when named.
    assert _seen(_viewer(max_tlp="TLP:AMBER+STRICT")) == ["clear", "green", "amber",
                                                          "strict_own"]


def test_partner_never_sees_strict_and_red_only_when_named_and_allowed() -> None:
    # AMBER+STRICT stays inside the owning center's organisation, which a partner is not in.
    partner = _viewer(role="partner", max_tlp="TLP:RED")
    assert _seen(partner) == ["clear", "green", "amber", "red_named"]
    capped = partner.capped({"partner": "TLP:GREEN"})
    assert capped.max_tlp == "TLP:GREEN"
    assert _seen(capped) == ["clear", "green"]


def test_a_frame_with_nothing_withheld_is_not_copied() -> None:
    only_clear = ROWS.head(1)
    assert visible_rows(_viewer(), only_clear) is only_clear


def test_unknown_role_or_marking_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown role"):
        _viewer(role="superuser")
    with pytest.raises(ValueError, match="unknown TLP"):
        _viewer(max_tlp="SECRET")


def test_pages_points_and_narratives_by_role() -> None:
    partner, analyst = _viewer(role="partner", max_tlp="TLP:GREEN"), _viewer()
    assert not may_open_page(partner, "data_health") and not may_open_page(partner, "admin")
    assert may_open_page(analyst, "data_health") and not may_open_page(analyst, "admin")
    assert may_open_page(_viewer(role="admin"), "admin")
    assert set(PAGES_BY_ROLE) == set(ROLES)
    assert not may_see_points(partner) and may_see_points(analyst)
    narratives = pl.DataFrame({"center_id": ["stac", "nric"], "narrative": ["own", "other"]})
    assert redact_narratives(analyst, narratives)["narrative"].to_list() == ["own", None]
    assert redact_narratives(_viewer(need_to_know=True), narratives)["narrative"].to_list() \
        == ["own", "other"]
    assert redact_narratives(_viewer(role="leadership"), narratives)["narrative"].to_list() \
        == [None, None]
    assert redact_narratives(partner, narratives)["narrative"].null_count() == 2


def test_partner_release_withholds_small_cells_and_counts_them_nowhere() -> None:
    # County x category x complete week; k = 5. Week of Mon 2 Jun 2025 - Sun 8 Jun 2025.
    days = [date(2025, 6, 2)] * 6 + [date(2025, 6, 4)] * 3 + [date(2025, 6, 10)] * 7
    incidents = pl.DataFrame({
        "county_fips": ["44007"] * 6 + ["44001"] * 3 + ["44007"] * 7,
        "region_id": ["south"] * 6 + ["east"] * 3 + ["south"] * 7,
        "category": ["gangs"] * 16, "occurred_date": days,
        "is_duplicate": [False] * 16, "tlp": ["TLP:GREEN"] * 15 + ["TLP:CLEAR"],
        "is_sar": [False] * 16, "center_id": ["c"] * 16, "severity": [3] * 16,
        "occurred_at": [datetime(d.year, d.month, d.day, 9, tzinfo=UTC) for d in days],
    })
    # Today is Thursday 12 June: the week of 9-15 June is not complete, so not released.
    rows, release = partner_release(incidents, 5, last_released_day(date(2025, 6, 12)), "UTC")
    assert release.through == date(2025, 6, 8)
    assert rows.height == 6 and set(rows["occurred_date"]) == {date(2025, 6, 8)}
    assert rows["county_fips"].unique().to_list() == ["44007"]
    assert rows["center_id"].null_count() == 6 and rows["severity"].null_count() == 6
    assert release.withheld.select("county_fips", "occurred_date").rows() == [
        ("44001", date(2025, 6, 8))]
    assert rows.columns == incidents.columns


def test_users_of_one_class_share_it_and_red_recipients_stand_alone() -> None:
    one = Viewer("ana", "Ana", "analyst", "rifc", "TLP:RED")
    two = Viewer("bo", "Bo", "analyst", "rifc", "TLP:RED")
    named = frozenset({"bo"})
    assert visibility_class(one, named) == visibility_class(one.__class__(
        "cy", "Cy", "analyst", "rifc", "TLP:RED"), named)
    assert visibility_class(two, named) != visibility_class(one, named)
    assert visibility_class(two, named).recipient_name == "bo"
    assert visibility_class(one, named).recipient_name is None


def test_most_restrictive_marking() -> None:
    assert most_restrictive([]) == "TLP:CLEAR"
    assert most_restrictive(["TLP:GREEN", None, "TLP:AMBER"]) == "TLP:AMBER"
    assert most_restrictive(["TLP:AMBER+STRICT", "TLP:AMBER"]) == "TLP:AMBER+STRICT"
    assert most_restrictive(["TLP:CLEAR", "TLP:RED"]) == "TLP:RED"


def test_schema_holds_no_personal_identifier_fields() -> None:
    # 28 CFR Part 23: the canonical records describe events, never people.
    personal = ("name", "ssn", "dob", "birth", "address", "phone", "email", "license", "plate",
                "person", "suspect", "race", "gender")
    for table_name in ("incidents", "products"):
        for field_name in TABLES[table_name].field_names:
            assert not any(word in field_name for word in personal), field_name


# The rules as the issue states them, written without the policy's code.
def _allowed(viewer: Viewer, ceilings: dict[str, str], row: dict[str, object]) -> bool:
    rank = {marking: index for index, marking in enumerate(TLP_MARKINGS)}
    limit = min(rank[viewer.max_tlp], rank[ceilings[viewer.role]])
    tlp = row["tlp"]
    if tlp == "TLP:CLEAR":
        return True
    if tlp in ("TLP:GREEN", "TLP:AMBER"):
        return rank[tlp] <= limit
    if tlp == "TLP:AMBER+STRICT":
        return (limit >= rank[tlp] and viewer.role != "partner"
                and row["center_id"] == viewer.center_id)
    return limit >= rank["TLP:RED"] and viewer.username in (row["recipients"] or [])


viewers = st.builds(_viewer, role=st.sampled_from(ROLES), max_tlp=st.sampled_from(TLP_MARKINGS),
                    username=st.sampled_from(["ana", "bo", "cy"]),
                    center_id=st.sampled_from(CENTERS), need_to_know=st.booleans())
rows = st.fixed_dictionaries({
    "center_id": st.sampled_from(CENTERS), "tlp": st.sampled_from(TLP_MARKINGS),
    "recipients": st.one_of(st.none(), st.lists(st.sampled_from(["ana", "bo", "cy"]),
                                                max_size=3, unique=True))})
ceilings = st.fixed_dictionaries({role: st.sampled_from(TLP_MARKINGS) for role in ROLES})


@settings(max_examples=300, deadline=None)
@given(viewer=viewers, records=st.lists(rows, max_size=25), role_ceilings=ceilings)
def test_policy_shows_exactly_the_allowed_rows(viewer: Viewer, records: list[dict[str, object]],
                                               role_ceilings: dict[str, str]) -> None:
    frame = pl.DataFrame(records, schema={"center_id": pl.String, "tlp": pl.String,
                                          "recipients": pl.List(pl.String)}
                         ).with_row_index("row")
    capped = viewer.capped(role_ceilings)
    shown = set(visible_rows(capped, frame)["row"].to_list())
    expected = {index for index, record in enumerate(records)
                if _allowed(viewer, role_ceilings, record)}
    assert shown == expected
