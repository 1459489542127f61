"""Alerts: the signed-in user's inbox (why each alert fired, a link to the view, mark read) and
their alert rules (add, with an area of regions, counties or a geofence drawn on the map or
pasted as GeoJSON; remove).
Rules are evaluated after each ingest; `threat-picture alerts` manages them too."""

from __future__ import annotations

import streamlit as st

from dashboard.pagemodels.alerts import (
    CONDITION_HELP,
    DEFAULT_WINDOW_DAYS,
    RuleError,
    alerts_page,
    create_rule,
    delete_rule,
    read_alerts,
)
from dashboard.views.formatting import markdown_text
from page_glue import GEOFENCE_FIELD, engine, load_context, render_geofence_map

# The form's fields, emptied once a rule is added; the added rule's id, said after the rerun.
NEW_RULE_FIELDS = ("alerts_name", "alerts_categories", "alerts_behaviors", "alerts_sectors",
                   "alerts_regions", "alerts_counties", GEOFENCE_FIELD, "alerts_threshold",
                   "alerts_severity", "alerts_email", "alerts_webhook")
ADDED_KEY = "alerts_added_rule"

context = load_context()
store = engine(context.store_url)
config, viewer = context.config, context.viewer
labels = config.labels
model = alerts_page(store, config, viewer)

st.title("Alerts")
st.caption("Your alert rules are evaluated after each ingest, on what you may see: an alert "
           "says why it fired, with the numbers, carries the marking of the records it draws "
           "on and links to the view that shows it.")
inbox_tab, rules_tab = st.tabs([f"Inbox ({model.unread:,} unread)", "Rules"])

with inbox_tab:
    if model.inbox.is_empty():
        st.caption("No alert yet: add a rule under Rules.")
    else:
        st.caption(f"Each alert carries its own marking; the most restrictive here is "
                   f"{model.marking}. Handle each as its marking says.")
        picked = st.dataframe(
            model.inbox, hide_index=True, width="stretch", key="alerts_inbox",
            on_select="rerun", selection_mode="multi-row",
            column_config={"Why": st.column_config.TextColumn(width="large"),
                           "View": st.column_config.LinkColumn(display_text="Open view")})
        rows = picked.selection.rows if picked else []  # type: ignore[attr-defined]
        buttons = st.columns([2, 2, 6])
        if buttons[0].button("Mark selected read", key="alerts_read_selected",
                             disabled=not rows):
            read_alerts(store, viewer, [model.alert_ids[row] for row in rows])
            st.rerun()
        if buttons[1].button("Mark all read", key="alerts_read_all",
                             disabled=model.unread == 0):
            read_alerts(store, viewer)
            st.rerun()

with rules_tab:
    if (added := st.session_state.pop(ADDED_KEY, None)) is not None:
        st.success(f"Rule {added} added: it is evaluated after the next ingest.")
    if model.rules.is_empty():
        st.caption("No alert rule yet.")
    else:
        st.dataframe(model.rules, hide_index=True, width="stretch", key="alerts_rules",
                     column_config={"Rule": st.column_config.TextColumn(width="large")})
        remove = st.columns([4, 2, 4])
        chosen = remove[0].selectbox("Rule", list(model.rule_names), key="alerts_remove_rule",
                                     format_func=lambda rule_id: f"{rule_id} · "
                                     f"{model.rule_names[rule_id]}")
        if remove[1].button("Remove rule", key="alerts_remove", icon=":material/delete:"):
            try:
                delete_rule(store, viewer, int(chosen))
            except RuleError as error:
                st.error(markdown_text(str(error)))
            else:
                st.rerun()

    st.subheader("New rule")
    condition = st.selectbox("When", list(model.conditions),
                             format_func=model.conditions.__getitem__, key="alerts_condition")
    st.caption(markdown_text(CONDITION_HELP[condition]))
    st.markdown("**Geofence** (optional): draw the area on the map; it fills the Geofence "
                "field of the form below. Your rules' geofences are drawn dashed.")
    problem = render_geofence_map(context, model.geofences)
    if problem:
        st.warning(markdown_text(problem))
    with st.form("alerts_new_rule", clear_on_submit=False):
        name = st.text_input("Name", key="alerts_name", max_chars=200,
                             placeholder="e.g. Port of Oakland, gangs")
        topics = st.columns(3)
        categories = topics[0].multiselect(
            "Threat categories", list(labels["category"]),
            format_func=labels["category"].__getitem__, key="alerts_categories",
            placeholder="Every category")
        sar_behaviors: list[str] = []
        target_sectors: list[str] = []
        if not viewer.aggregates_only:
            about_products = condition == "near_duplicate"
            sar_behaviors = topics[1].multiselect(
                "SAR behaviours", list(config.taxonomy.sar_behaviors), key="alerts_behaviors",
                format_func=config.taxonomy.sar_behaviors.__getitem__, placeholder="Any",
                disabled=about_products)
            target_sectors = topics[2].multiselect(
                "Target sectors", list(config.taxonomy.target_sectors), key="alerts_sectors",
                format_func=config.taxonomy.target_sectors.__getitem__, placeholder="Any",
                disabled=about_products)
        place = st.columns(2)
        regions = place[0].multiselect("Regions", list(labels["region"]), key="alerts_regions",
                                       format_func=labels["region"].__getitem__,
                                       placeholder="Statewide")
        counties = place[1].multiselect("Counties", list(labels["county"]),
                                        key="alerts_counties",
                                        format_func=labels["county"].__getitem__,
                                        placeholder="Statewide")
        geofence = st.text_area(
            "Geofence (GeoJSON)", key=GEOFENCE_FIELD, height=100,
            placeholder='{"type": "Polygon", "coordinates": [[[lon, lat], ...]]}',
            help="Drawn on the map above, or a Polygon or MultiPolygon in WGS84 longitude, "
            "latitude (a Feature or FeatureCollection of them too) exported from any GIS. "
            "With regions or counties, the area is all of them together.")
        numbers = st.columns(3)
        threshold = numbers[0].number_input(
            "Threshold (count)", 0, 1_000_000, 0, key="alerts_threshold",
            disabled=condition != "count_above", help="Fire when the count reaches this.")
        # One widget per condition: each starts from its condition's own window.
        window_days = numbers[1].number_input(
            "Window (days)", 1, 366, DEFAULT_WINDOW_DAYS[condition],
            key=f"alerts_window_{condition}",
            help="How far back the condition looks, ending today.")
        severity = numbers[2].selectbox(
            "Minimum severity", [0, 1, 2, 3, 4, 5], key="alerts_severity",
            format_func=lambda level: "Any" if level == 0 else str(level),
            disabled=viewer.aggregates_only or condition == "near_duplicate")
        delivery = st.columns([4, 2])
        email = delivery[0].text_input(
            "Also e-mail to", key="alerts_email", max_chars=320,
            disabled=not model.email_configured,
            help=None if model.email_configured else "No SMTP relay is configured.")
        webhook = delivery[1].checkbox("Also post to the webhooks", key="alerts_webhook",
                                       disabled=not model.webhooks_configured)
        submitted = st.form_submit_button("Add rule", type="primary")
    if submitted:
        if condition == "near_duplicate":  # about products: what was left in the disabled fields
            sar_behaviors, target_sectors, severity = [], [], 0
        try:
            rule_id = create_rule(store, config, viewer, {
                "name": name, "condition": condition, "categories": categories,
                "sar_behaviors": sar_behaviors, "target_sectors": target_sectors,
                "regions": regions, "counties": counties, "geofence": geofence,
                "threshold": int(threshold) if condition == "count_above" else 0,
                "window_days": int(window_days), "min_severity": int(severity),
                "email": email, "webhook": bool(webhook)})
        except RuleError as error:
            st.error(markdown_text(f"The rule was not added: {error}"))
        else:
            # Drawn again with the new rule in the table and its geofence on the map, and the
            # form emptied for the next one.
            for field in NEW_RULE_FIELDS:
                st.session_state.pop(field, None)
            st.session_state[ADDED_KEY] = rule_id
            st.rerun()
