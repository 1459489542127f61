"""The one definition of every canonical table and field.

SQL tables (:func:`sql_metadata`), Polars schemas (:func:`polars_schema`), feed validation
(``dashboard.ingest.validate``) and the data reference in the README (:func:`schema_markdown`)
are all derived from the ``TABLES`` below; change a field here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import polars as pl
import sqlalchemy as sa

FieldType = Literal["text", "integer", "float", "datetime", "boolean", "text_list"]

# Vocabularies a field's values must come from. Most are read from config/taxonomy.toml; the
# rest are fixed by the product (TLP 2.0) or by the configured state (counties, regions).
VOCABULARIES = {
    "categories": "taxonomy.toml [categories]",
    "sar_behaviors": "taxonomy.toml [sar_behaviors]",
    "target_sectors": "taxonomy.toml [target_sectors]",
    "product_types": "taxonomy.toml [product_types]",
    "audiences": "taxonomy.toml [audiences]",
    "tlp": "TLP 2.0 markings",
    "counties": "counties of the configured state (shipped boundaries)",
    "regions": "regions.toml [[regions]] ids",
    "centers": "centers.toml [[centers]] ids",
    "center_kinds": "state, urban_area, regional",
    "coverage_scopes": "county, region, statewide",
    "roles": "admin, leadership, analyst, partner",
}

TLP_MARKINGS = ("TLP:CLEAR", "TLP:GREEN", "TLP:AMBER", "TLP:AMBER+STRICT", "TLP:RED")
CENTER_KINDS = ("state", "urban_area", "regional")
COVERAGE_SCOPES = ("county", "region", "statewide")
ROLES = ("admin", "leadership", "analyst", "partner")


@dataclass(frozen=True)
class Field:
    name: str
    type: FieldType
    help: str
    required: bool = False
    pattern: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    max_length: int | None = None
    vocabulary: str | None = None
    # False for fields a feed supplies that are stored in another table (a product's area
    # goes to product_coverage): validated with the row, not a column of this table.
    column: bool = True
    # True for fields the ingest computes; a feed never maps a column onto them.
    computed: bool = False
    autoincrement: bool = False


@dataclass(frozen=True)
class Table:
    name: str
    help: str
    fields: tuple[Field, ...]
    primary_key: tuple[str, ...]
    indexes: tuple[tuple[str, ...], ...] = ()
    unique: tuple[tuple[str, ...], ...] = ()  # column sets no two rows may share

    def field(self, name: str) -> Field:
        for field in self.fields:
            if field.name == name:
                return field
        raise KeyError(f"table {self.name} has no field {name!r}")

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(field.name for field in self.fields)

    @property
    def feed_fields(self) -> tuple[Field, ...]:
        """Fields a source may map its columns onto."""
        return tuple(f for f in self.fields if not f.computed and f.name != "center_id")

    @property
    def column_fields(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.column)


FIPS = r"^\d{5}$"
IDENTIFIER = r"^[a-z0-9][a-z0-9_]*$"


def _handling_fields() -> tuple[Field, ...]:
    """Fields every intelligence record carries for dissemination and 28 CFR 23.20(h) review."""
    return (
        Field("recipients", "text_list", "Named recipients (user names) of a TLP:RED record; "
              "nobody else sees it."),
        Field("entered_at", "datetime", "When the record first entered the store, UTC.",
              computed=True),
        Field("review_by", "datetime", "Review date: past it, the record is purged unless "
              "revalidated (28 CFR 23.20(h)).", computed=True),
    )


def _center_id(help_text: str = "Reporting center (config id).") -> Field:
    return Field("center_id", "text", help_text, required=True, pattern=IDENTIFIER, computed=False)


CENTERS = Table(
    "centers",
    "Fusion centers of the state, loaded from config/centers.toml.",
    (
        Field("center_id", "text", "Center id used in config and every record.", True, IDENTIFIER),
        Field("name", "text", "Display name.", required=True, max_length=200),
        Field("kind", "text", "state, urban_area or regional.", True, vocabulary="center_kinds"),
        Field("timezone", "text", "IANA time zone of the center's local time.", required=True),
        Field("default_tlp", "text", "Marking for records without one.", True, vocabulary="tlp"),
    ),
    primary_key=("center_id",),
)

CENTER_AOR = Table(
    "center_aor",
    "Area of responsibility: the counties each center covers.",
    (
        _center_id("Center (config id)."),
        Field("county_fips", "text", "County in the center's AOR.", True, FIPS,
              vocabulary="counties"),
    ),
    primary_key=("center_id", "county_fips"),
)

REGIONS = Table(
    "regions",
    "Every county of the state with the region it belongs to (config/regions.toml).",
    (
        Field("county_fips", "text", "5-digit county FIPS code.", True, FIPS,
              vocabulary="counties"),
        Field("county_name", "text", "County name from the shipped boundaries.", required=True),
        Field("region_id", "text", "Region id.", True, IDENTIFIER, vocabulary="regions"),
        Field("region_name", "text", "Region display name.", required=True),
        Field("area_km2", "float", "County land and water area, km² (equal-area projection).",
              minimum=0),
    ),
    primary_key=("county_fips",),
)

INCIDENTS = Table(
    "incidents",
    "One reported event (criminal incident, SAR, tip) as a center reported it.",
    (
        _center_id(),
        Field("incident_id", "text", "The center's own id for the incident.", True, max_length=100),
        Field("occurred_at", "datetime", "When it happened, UTC (naive feed times are read in "
              "the source's time zone).", required=True),
        Field("reported_at", "datetime", "When it was reported to the center, UTC."),
        Field("category", "text", "Threat category (taxonomy key).", True, vocabulary="categories"),
        Field("county_fips", "text", "County; derived from latitude/longitude when absent.",
              pattern=FIPS, vocabulary="counties"),
        Field("latitude", "float", "WGS84 latitude.", minimum=-90, maximum=90),
        Field("longitude", "float", "WGS84 longitude.", minimum=-180, maximum=180),
        Field("sar_behavior", "text", "ISE-SAR behaviour code, for SARs.",
              vocabulary="sar_behaviors"),
        Field("target_sector", "text", "Targeted sector (NIEM sar code).",
              vocabulary="target_sectors"),
        Field("severity", "integer", "Severity, 1 (low) to 5 (critical).", minimum=1, maximum=5),
        Field("tlp", "text", "TLP 2.0 marking; the source's or center's default when absent.",
              required=True, vocabulary="tlp"),
        Field("narrative", "text", "Free text from the feed: untrusted, escaped wherever shown.",
              max_length=20_000),
        *_handling_fields(),
        Field("county_source", "text", "'feed' or 'coordinates' (spatial join).", computed=True),
        Field("geo_flag", "text", "Why the location needs a look: outside_state or "
              "county_mismatch (kept as reported, never silently fixed).", computed=True),
        Field("row_hash", "text", "Hash of the canonical row; an unchanged row is not rewritten.",
              computed=True),
        Field("run_id", "integer", "Ingest run that last wrote the row.", computed=True),
    ),
    primary_key=("center_id", "incident_id"),
    # run_id: what changed since a run (the alert rules' watermark) is read by it.
    indexes=(("occurred_at",), ("county_fips",), ("category",), ("review_by",), ("run_id",)),
)

PRODUCTS = Table(
    "products",
    "An analytic product (bulletin, assessment, ...) a center published.",
    (
        _center_id("Publishing center (config id)."),
        Field("product_id", "text", "The center's own id for the product.", True, max_length=100),
        Field("title", "text", "Title from the feed: untrusted, escaped wherever shown.", True,
              max_length=500),
        Field("product_type", "text", "Product type (taxonomy key).", True,
              vocabulary="product_types"),
        Field("published_at", "datetime", "Publication time, UTC.", required=True),
        Field("topics", "text_list", "Threat categories it covers (taxonomy keys).", True,
              vocabulary="categories"),
        Field("county_fips", "text_list", "Counties it covers.", pattern=FIPS,
              vocabulary="counties", column=False),
        Field("region", "text_list", "Regions it covers.", vocabulary="regions", column=False),
        Field("statewide", "boolean", "Covers the whole state.", column=False),
        Field("audience", "text", "Intended audience (taxonomy key).", vocabulary="audiences"),
        Field("tlp", "text", "TLP 2.0 marking; the source's or center's default when absent.",
              required=True, vocabulary="tlp"),
        Field("summary", "text", "Summary from the feed: untrusted.", max_length=20_000),
        Field("incident_ids", "text_list", "Ids of the center's incidents it draws on."),
        Field("source_url", "text", "Where the product can be read at its source, when the feed "
              "says: shown as a link only if it is an absolute http(s) address.",
              max_length=2_000),
        *_handling_fields(),
        Field("row_hash", "text", "Hash of the canonical row.", computed=True),
        Field("run_id", "integer", "Ingest run that last wrote the row.", computed=True),
    ),
    primary_key=("center_id", "product_id"),
    indexes=(("published_at",), ("run_id",)),
)

PRODUCT_COVERAGE = Table(
    "product_coverage",
    "Areas a product covers: one row per county, region, or 'statewide'.",
    (
        _center_id("Publishing center."),
        Field("product_id", "text", "Product id.", required=True),
        Field("scope", "text", "county, region or statewide.", True, vocabulary="coverage_scopes"),
        Field("area_id", "text", "County FIPS, region id, or 'statewide'.", required=True),
    ),
    primary_key=("center_id", "product_id", "scope", "area_id"),
)

INCIDENT_LINKS = Table(
    "incident_links",
    "Cross-center duplicates: the incident is the same event as an earlier report by another "
    "center. Nothing is deleted; counts can be shown with or without duplicates.",
    (
        _center_id("Center of the duplicate report."),
        Field("incident_id", "text", "Id of the duplicate report.", required=True),
        Field("duplicate_of_center_id", "text", "Center of the first report.", required=True),
        Field("duplicate_of_incident_id", "text", "Id of the first report.", required=True),
        Field("distance_km", "float", "Distance between the reports (null: same county, no "
              "coordinates).", minimum=0),
        Field("minutes_apart", "float", "Time between the reported occurrences.", minimum=0),
    ),
    primary_key=("center_id", "incident_id"),
)

QUARANTINE = Table(
    "quarantine",
    "Rows a feed sent that failed validation, kept with where they came from and why.",
    (
        Field("quarantine_id", "integer", "Row id.", required=True, autoincrement=True),
        Field("run_id", "integer", "Ingest run that found it.", required=True),
        _center_id("Center whose feed sent it."),
        Field("source_name", "text", "Source name in config.", required=True),
        Field("table_name", "text", "incidents or products.", required=True),
        Field("location", "text", "File path or database the row came from.", required=True),
        Field("row_number", "integer", "Line (text files) or row (sheets, tables) in the source.",
              required=True),
        Field("field", "text", "Canonical field(s) that failed.", required=True),
        Field("value", "text", "The offending raw value (untrusted)."),
        Field("reason", "text", "Why the row was rejected.", required=True),
        Field("raw_record", "text", "The whole raw row as JSON (untrusted)."),
    ),
    primary_key=("quarantine_id",),
    indexes=(("center_id", "source_name"),),
)

INGEST_RUNS = Table(
    "ingest_runs",
    "Provenance: one row per source per ingest, whether it changed anything or not.",
    (
        Field("run_id", "integer", "Run id.", required=True, autoincrement=True),
        Field("batch_id", "text", "Id shared by the runs of one `ingest` invocation.", True),
        _center_id(),
        Field("source_name", "text", "Source name in config.", required=True),
        Field("table_name", "text", "incidents or products.", required=True),
        Field("connector_kind", "text", "Connector used (csv, sql, ...).", required=True),
        Field("location", "text", "File path or database read.", required=True),
        Field("source_hash", "text", "SHA-256 of the file, or of the rows a query returned.", True),
        Field("started_at", "datetime", "Start, UTC.", required=True),
        Field("finished_at", "datetime", "End, UTC.", required=True),
        Field("status", "text", "'loaded' (read and written), 'unchanged' (same hash as the "
              "last load: nothing read) or 'failed' (nothing of this source written; see "
              "error).", required=True),
        Field("rows_read", "integer", "Rows in the source.", required=True, minimum=0),
        Field("rows_inserted", "integer", "New rows written.", required=True, minimum=0),
        Field("rows_updated", "integer", "Changed rows updated in place.", True, minimum=0),
        Field("rows_unchanged", "integer", "Valid rows identical to the store.", True, minimum=0),
        Field("rows_rejected", "integer", "Rows quarantined.", required=True, minimum=0),
        Field("rows_flagged", "integer", "Rows kept with a geocoding flag.", True, minimum=0),
        Field("error", "text", "Why a failed run failed (one line); empty otherwise."),
        Field("source_bytes", "integer", "Size of a text file read (bytes); empty for other "
              "sources.", minimum=0),
        Field("source_lines", "integer", "Complete lines in that file, when it ends with a line "
              "break and no record was left open: the next run may then read only what is "
              "appended after it. For a database read by its incremental column: rows read "
              "so far.", minimum=0),
        Field("source_cursor", "text", "For a database read by its incremental column: the "
              "greatest value read so far (JSON); the next run reads the rows past it."),
        Field("read_from_line", "integer", "First line read when only the lines appended since "
              "the last load were read; empty when the whole source was read.", minimum=1),
    ),
    primary_key=("run_id",),
)

USERS = Table(
    "users",
    "People who may sign in: role, home center, highest marking they may receive. Local "
    "accounts carry an argon2 hash; single sign-on accounts are kept from their claims.",
    (
        Field("username", "text", "Sign-in name.", required=True, max_length=100),
        Field("display_name", "text", "Name shown in the app.", required=True, max_length=200),
        Field("role", "text", "admin, leadership, analyst or partner.", True, vocabulary="roles"),
        Field("center_id", "text", "Home center (config id).", True, vocabulary="centers"),
        Field("max_tlp", "text", "Highest TLP marking the user may receive.", True,
              vocabulary="tlp"),
        Field("need_to_know", "boolean", "May read narratives of other centers' records.", True),
        Field("password_hash", "text", "argon2id hash (null for single sign-on accounts)."),
        Field("auth_method", "text", "'local' or 'oidc'.", required=True),
        Field("disabled", "boolean", "Disabled accounts cannot sign in.", required=True),
        Field("failed_attempts", "integer", "Failed sign-ins since the last success.", True,
              minimum=0),
        Field("locked_until", "datetime", "Locked after too many failures, until then (UTC)."),
        Field("created_at", "datetime", "Account creation, UTC.", required=True),
        Field("last_sign_in_at", "datetime", "Last successful sign-in, UTC."),
    ),
    primary_key=("username",),
)

AUDIT_LOG = Table(
    "audit_log",
    "Append-only audit trail (28 CFR 23.20(g)): sign-ins, page views with filters, downloads, "
    "briefings, purges. The application only inserts; the store rejects updates and deletes.",
    (
        Field("audit_id", "integer", "Row id.", required=True, autoincrement=True),
        Field("at", "datetime", "When, UTC.", required=True),
        Field("username", "text", "Who (the name typed, for a failed sign-in).", True,
              max_length=100),
        Field("action", "text", "sign_in, sign_in_failed, sign_out, session_expired, "
              "page_view, download, briefing, analyze, purge, revalidate, user_admin, "
              "alert_rule (a subscription added or removed), alert (alerts delivered, or an "
              "evaluation that failed), exchange (a network bundle exported, or an import "
              "accepted or rejected).", required=True),
        Field("page", "text", "Page or command."),
        Field("detail", "text", "Filters, file name, purpose (JSON)."),
        Field("rows", "integer", "Rows released (downloads, briefings).", minimum=0),
    ),
    primary_key=("audit_id",),
    indexes=(("at",), ("username",)),
)

PURGE_LOG = Table(
    "purge_log",
    "Records purged at review (ids, never contents), so a later ingest does not bring them "
    "back.",
    (
        Field("purge_id", "integer", "Row id.", required=True, autoincrement=True),
        Field("purged_at", "datetime", "When, UTC.", required=True),
        Field("purged_by", "text", "Operator.", required=True),
        Field("table_name", "text", "incidents or products.", required=True),
        _center_id("Center of the record."),
        Field("record_id", "text", "incident_id or product_id.", required=True),
        Field("review_by", "datetime", "The review date it had passed.", required=True),
    ),
    primary_key=("purge_id",),
    indexes=(("table_name", "center_id", "record_id"),),
)

DISSEMINATIONS = Table(
    "disseminations",
    "Dissemination log (28 CFR 23.20(f)): one row per briefing released and per delivery of "
    "alerts (in-app inbox, e-mail, webhook), saying who made it, for whom, why and when. "
    "Append-only like the audit trail.",
    (
        Field("dissemination_id", "integer", "Row id.", required=True, autoincrement=True),
        Field("at", "datetime", "When the briefing was produced or the alerts delivered, UTC.",
              required=True),
        Field("username", "text", "Who produced it, or whom the alerts were for (whose view it "
              "holds).", True, max_length=100),
        Field("audience", "text", "Audience it was released to (taxonomy key).",
              vocabulary="audiences"),
        Field("purpose", "text", "Why: the need-to-know or right-to-know it answers.",
              required=True, max_length=2000),
        Field("file_name", "text", "Archived file name; for alerts, where they went (inbox of "
              "a user, an e-mail address, a webhook URL).", required=True, max_length=300),
        Field("format", "text", "pdf or html (briefings); inbox, email or webhook (alerts).",
              required=True),
        Field("marking", "text", "TLP marking it carried.", required=True, vocabulary="tlp"),
        Field("rows", "integer", "Incident and product records its figures draw on.", True,
              minimum=0),
        Field("content_hash", "text", "SHA-256 of its content (figures and text, not the "
              "generation time): the same hash means the same briefing.", required=True),
    ),
    primary_key=("dissemination_id",),
    indexes=(("at",),),
)

ALERT_CONDITIONS = ("emerging_hotspot", "trend_anomaly", "coverage_gap", "near_duplicate",
                    "count_above", "new_incident")

ALERT_RULES = Table(
    "alert_rules",
    "Alert subscriptions: a user's area, topics and condition; evaluated after each ingest "
    "(README: Alerts). A removed rule is kept inactive, with the alerts it fired.",
    (
        Field("rule_id", "integer", "Rule id.", required=True, autoincrement=True),
        Field("username", "text", "Owner, and the recipient of its alerts (user name).", True,
              max_length=100),
        Field("name", "text", "The owner's name for the rule.", required=True, max_length=200),
        Field("regions", "text_list", "Area: regions (with counties and geofence: any of them).",
              vocabulary="regions"),
        Field("counties", "text_list", "Area: counties.", pattern=FIPS, vocabulary="counties"),
        Field("geofence", "text", "Area: a GeoJSON Polygon or MultiPolygon (WGS84 longitude, "
              "latitude), a Feature or a FeatureCollection of them."),
        Field("categories", "text_list", "Threat categories (none: every category).",
              vocabulary="categories"),
        Field("sar_behaviors", "text_list", "SAR behaviours (none: any).",
              vocabulary="sar_behaviors"),
        Field("target_sectors", "text_list", "Target sectors (none: any).",
              vocabulary="target_sectors"),
        Field("condition", "text", f"What fires it: {', '.join(ALERT_CONDITIONS)}.", True),
        Field("threshold", "integer", "count_above: fires when the count reaches this.",
              minimum=1),
        Field("window_days", "integer", "Days the condition looks back over, ending today.",
              minimum=1, maximum=366),
        Field("min_severity", "integer", "Only incidents of at least this severity (1-5).",
              minimum=1, maximum=5),
        Field("email", "text", "Where its alerts are e-mailed (none: not e-mailed).",
              max_length=320),
        Field("webhook", "boolean", "Its alerts are also posted to the configured webhooks.",
              required=True),
        Field("created_at", "datetime", "When it was added, UTC.", required=True),
        Field("active", "boolean", "False once removed.", required=True),
        Field("evaluated_version", "integer", "Data version it was last evaluated at: the "
              "next evaluation looks at the incidents and products written since.", minimum=0),
        Field("evaluated_at", "datetime", "When it was last evaluated, UTC."),
        Field("state", "text", "What held at the last evaluation (JSON list of condition "
              "keys): an alert fires when a key appears that was not there."),
    ),
    primary_key=("rule_id",),
    indexes=(("username",),),
)

ALERTS = Table(
    "alerts",
    "Alerts fired: one per rule and event (never two for the same event), in the recipient's "
    "inbox, with how it was delivered.",
    (
        Field("alert_id", "integer", "Row id.", required=True, autoincrement=True),
        Field("rule_id", "integer", "Rule that fired.", required=True),
        Field("recipient", "text", "User it is for (the rule's owner).", True, max_length=100),
        Field("fired_at", "datetime", "When it fired, UTC.", required=True),
        Field("event_key", "text", "The event it reports (unique per rule).", True,
              max_length=500),
        Field("sentence", "text", "Why it fired, in one sentence with the numbers.", True,
              max_length=2000),
        Field("view_url", "text", "Link to the view that shows it (filters in the URL).", True,
              max_length=4000),
        Field("marking", "text", "Most restrictive TLP marking of the records it draws on.",
              True, vocabulary="tlp"),
        Field("records", "integer", "Incident and product records it draws on.", True,
              minimum=0),
        Field("read_at", "datetime", "When the recipient marked it read, UTC."),
        Field("delivered_email_at", "datetime", "When it was e-mailed, UTC."),
        Field("delivered_webhook_at", "datetime", "When it was posted to the webhooks, UTC."),
    ),
    primary_key=("alert_id",),
    indexes=(("recipient",),),
    unique=(("rule_id", "event_key"),),
)

ISO_DATE = r"^\d{4}-\d{2}-\d{2}$"
STATE_POSTAL = r"^[A-Z]{2}$"
BUNDLE_STATUSES = ("accepted", "rejected")

# The national network (README: The national network): what other states' signed bundles
# brought in. Dates are ISO text: a bundle's dates are calendar days, no time zone to carry.
NETWORK_BUNDLES = Table(
    "network_bundles",
    "Every attempt to import a network bundle, accepted or rejected (with why), and what an "
    "accepted one held.",
    (
        Field("bundle_id", "integer", "Row id.", required=True, autoincrement=True),
        Field("received_at", "datetime", "When the import was attempted, UTC.", required=True),
        Field("received_by", "text", "Who imported it (operator).", True, max_length=100),
        Field("file_name", "text", "Name of the file imported.", True, max_length=300),
        Field("status", "text", "accepted or rejected.", required=True),
        Field("reason", "text", "Why a bundle was rejected (one line); empty when accepted.",
              max_length=2000),
        Field("sending_state", "text", "Postal code of the state that sent it (empty when the "
              "file did not say).", pattern=STATE_POSTAL),
        Field("key_id", "text", "SHA-256 fingerprint of the public key it names.",
              max_length=100),
        Field("period_start", "text", "First day of its period (ISO date).", pattern=ISO_DATE),
        Field("period_end", "text", "Last day of its period (ISO date, a Sunday).",
              pattern=ISO_DATE),
        Field("marking", "text", "TLP marking it carries.", vocabulary="tlp"),
        Field("created_at", "datetime", "When the sender made it, UTC."),
        Field("expires_at", "datetime", "After this a receiver rejects it, UTC."),
        Field("cells", "integer", "County x week x category x SAR behaviour counts it held.",
              minimum=0),
        Field("incidents", "integer", "Sum of those counts.", minimum=0),
        Field("content_hash", "text", "SHA-256 of the file's bytes.", max_length=64),
    ),
    primary_key=("bundle_id",),
    indexes=(("sending_state", "period_end"),),
)

NETWORK_COUNTS = Table(
    "network_counts",
    "Released incident counts other states sent: the latest accepted bundle's figures for "
    "each of a state's weeks (counts under the sender's k never leave it).",
    (
        Field("count_id", "integer", "Row id.", required=True, autoincrement=True),
        Field("sending_state", "text", "Postal code of the state.", True, STATE_POSTAL),
        Field("county_fips", "text", "County of that state.", True, FIPS),
        Field("week_end", "text", "The week's Sunday (weeks run Monday to Sunday; ISO date).",
              True, ISO_DATE),
        Field("category", "text", "Threat category (the sender's taxonomy key).", True,
              pattern=IDENTIFIER),
        Field("sar_behavior", "text", "ISE-SAR behaviour code; empty for incidents that are "
              "not SARs (or SARs without one)."),
        Field("count", "integer", "Incidents, cross-center duplicates once.", True, minimum=1),
        Field("bundle_id", "integer", "The network_bundles row it came in.", required=True),
    ),
    # A row id, not the cell: sar_behavior is null for non-SARs. An import replaces a state's
    # weeks whole, so a cell is never stored twice.
    primary_key=("count_id",),
    indexes=(("sending_state", "week_end"), ("bundle_id",)),
)

NETWORK_COVERAGE = Table(
    "network_coverage",
    "Whether another state had a current analytic product on each topic and area at the end "
    "of a bundle's period.",
    (
        Field("sending_state", "text", "Postal code of the state.", True, STATE_POSTAL),
        Field("scope", "text", "county or region.", True, vocabulary="coverage_scopes"),
        Field("area_id", "text", "County FIPS or the sender's region id.", required=True),
        Field("area_name", "text", "County or region name.", max_length=200),
        Field("topic", "text", "Threat category (the sender's taxonomy key).", True,
              pattern=IDENTIFIER),
        Field("covered", "boolean", "A current product covers it.", required=True),
        Field("as_of", "text", "The day coverage was judged on: the period's end (ISO date).",
              True, ISO_DATE),
        Field("bundle_id", "integer", "The network_bundles row it came in.", required=True),
    ),
    primary_key=("sending_state", "scope", "area_id", "topic"),
    indexes=(("bundle_id",),),
)

TABLES: dict[str, Table] = {
    table.name: table
    for table in (
        CENTERS, CENTER_AOR, REGIONS, INCIDENTS, PRODUCTS, PRODUCT_COVERAGE, INCIDENT_LINKS,
        QUARANTINE, INGEST_RUNS, USERS, AUDIT_LOG, PURGE_LOG, DISSEMINATIONS, ALERT_RULES,
        ALERTS, NETWORK_BUNDLES, NETWORK_COUNTS, NETWORK_COVERAGE,
    )
}
FEED_TABLES = ("incidents", "products")

_POLARS_TYPES: dict[FieldType, pl.DataType] = {
    "text": pl.String(),
    "integer": pl.Int64(),
    "float": pl.Float64(),
    "datetime": pl.Datetime("us", "UTC"),
    "boolean": pl.Boolean(),
    "text_list": pl.List(pl.String()),
}


def polars_schema(table: Table | str, *, columns_only: bool = True) -> pl.Schema:
    """Polars dtypes of a table's fields (stored columns only unless asked otherwise)."""
    table = TABLES[table] if isinstance(table, str) else table
    fields = table.column_fields if columns_only else table.fields
    return pl.Schema({field.name: _POLARS_TYPES[field.type] for field in fields})


@dataclass(frozen=True)
class DerivedField:
    """A column the analysis frames carry beside a table's stored columns
    (``dashboard.frames.load_picture_frames`` computes it; it is never stored)."""

    name: str
    table: str  # the canonical table whose frame carries it
    dtype: pl.DataType
    help: str
    derivation: str  # how it is computed, from what


DERIVED_FIELDS: tuple[DerivedField, ...] = (
    DerivedField("duplicate_of_center_id", "incidents", pl.String(),
                 "Center of the report this one repeats (null: not a duplicate).",
                 "incident_links joined on center_id, incident_id"),
    DerivedField("duplicate_of_incident_id", "incidents", pl.String(),
                 "Incident id of the report this one repeats (null: not a duplicate).",
                 "incident_links joined on center_id, incident_id"),
    DerivedField("region_id", "incidents", pl.String(),
                 "Region of the incident's county (null: a county in no region).",
                 "county_fips looked up in regions"),
    DerivedField("is_duplicate", "incidents", pl.Boolean(),
                 "A cross-center duplicate: another center's report of the same event.",
                 "duplicate_of_incident_id is not null"),
    DerivedField("occurred_date", "incidents", pl.Date(),
                 "Day it occurred in the deployment's time zone (what periods count by).",
                 "occurred_at converted to settings.toml timezone, as a date"),
    DerivedField("is_sar", "incidents", pl.Boolean(),
                 "A suspicious activity report.",
                 "category is the SAR category, or sar_behavior is set"),
    DerivedField("covered_counties", "products", pl.List(pl.String()),
                 "Every county the product's area covers (statewide: every county).",
                 "product_coverage areas expanded to counties through regions"),
    DerivedField("statewide", "products", pl.Boolean(),
                 "The product covers the whole state.",
                 "a product_coverage row of scope statewide"),
    DerivedField("published_date", "products", pl.Date(),
                 "Day it was published in the deployment's time zone.",
                 "published_at converted to settings.toml timezone, as a date"),
)


def derived_schema(table: str) -> pl.Schema:
    """Polars dtypes of the derived columns of a table's analysis frame, in the order the
    frame carries them."""
    return pl.Schema({field.name: field.dtype for field in DERIVED_FIELDS
                      if field.table == table})


def _sql_type(field: Field) -> sa.types.TypeEngine:
    if field.type == "text":
        return sa.String(field.max_length) if field.max_length else sa.Text()
    types: dict[str, sa.types.TypeEngine] = {
        "integer": sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        "float": sa.Float(),
        "datetime": sa.DateTime(timezone=True),
        "boolean": sa.Boolean(),
        "text_list": sa.JSON(),
    }
    return types[field.type]


def sql_metadata() -> sa.MetaData:
    """SQLAlchemy tables for every canonical table (migrations are generated against this)."""
    metadata = sa.MetaData()
    for table in TABLES.values():
        columns = [
            sa.Column(
                field.name,
                _sql_type(field),
                primary_key=field.name in table.primary_key,
                nullable=not (field.required or field.name in table.primary_key),
                autoincrement=field.autoincrement or False,
            )
            for field in table.column_fields
        ]
        indexes = [
            sa.Index(f"ix_{table.name}_{'_'.join(cols)}", *cols) for cols in table.indexes
        ] + [
            sa.Index(f"uq_{table.name}_{'_'.join(cols)}", *cols, unique=True)
            for cols in table.unique
        ]
        sa.Table(table.name, metadata, *columns, *indexes)
    return metadata


METADATA = sql_metadata()


def schema_markdown() -> str:
    """The data reference shown in the README (a meta-test keeps them identical)."""
    lines: list[str] = []
    for table in TABLES.values():
        lines += [f"#### `{table.name}`", "", table.help, ""]
        lines += ["| field | type | rule | meaning |", "|---|---|---|---|"]
        for field in table.fields:
            rules = []
            if field.name in table.primary_key:
                rules.append("key")
            if field.required:
                rules.append("required")
            if field.vocabulary:
                rules.append(f"one of {field.vocabulary}")
            if field.pattern:
                rules.append(f"matches `{field.pattern}`")
            if field.minimum is not None or field.maximum is not None:
                rules.append(f"range {_num(field.minimum)}..{_num(field.maximum)}")
            if field.max_length:
                rules.append(f"≤ {field.max_length} chars")
            if field.computed:
                rules.append("set by ingest")
            if not field.column:
                rules.append("stored in product_coverage")
            lines.append(f"| `{field.name}` | {field.type} | {', '.join(rules)} | {field.help} |")
        for columns in table.unique:
            lines += ["", f"Unique together: {', '.join(f'`{c}`' for c in columns)}."]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _num(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else str(value)
