"""Typed, frozen configuration loaded from a config folder of TOML files.

``settings.toml``, ``taxonomy.toml``, ``regions.toml`` and ``centers.toml`` are read into
frozen pydantic models that forbid unknown keys, then checked against each other (a value map
must name taxonomy keys, an AOR real counties, a source a registered connector). Every problem
is raised as one :class:`ConfigError` line naming the file and key.
"""

from __future__ import annotations

import os
import re
import tomllib
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeFloat,
    StringConstraints,
    ValidationError,
    field_validator,
)

from dashboard.schema import FEED_TABLES, ROLES, TABLES, TLP_MARKINGS

STORE_ENV = "THREAT_PICTURE_STORE"
CONFIG_FILES = ("settings.toml", "taxonomy.toml", "regions.toml", "centers.toml")

Tlp = Literal["TLP:CLEAR", "TLP:GREEN", "TLP:AMBER", "TLP:AMBER+STRICT", "TLP:RED"]
assert set(Tlp.__args__) == set(TLP_MARKINGS)  # type: ignore[attr-defined]


class ConfigError(ValueError):
    """A config problem, as one line naming the file and key."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError(f"unknown time zone {name!r}") from error
    return name


def _check_schedule(value: str | None) -> str | None:
    if value is None:
        return None
    from dashboard.watch import parse_schedule  # the watch service's own parser

    parse_schedule(value)  # raises ValueError naming what is wrong
    return value


class IngestSettings(Strict):
    duplicate_max_km: float = Field(
        1.0, gt=0, description="Reports of the same category by two centers within this distance "
        "(and the time below) are linked as one event.")
    duplicate_max_minutes: float = Field(
        120, gt=0, description="Time window for linking cross-center duplicate incidents.")
    county_mismatch_tolerance_km: float = Field(
        2.0, ge=0, description="Coordinates farther than this from the county a feed gives are "
        "flagged county_mismatch (boundaries are 1:10M, so a small tolerance avoids false flags).")
    earliest_valid_date: date = Field(
        date(1990, 1, 1), description="Incidents or products dated before this are rejected.")
    future_tolerance_hours: float = Field(
        24, ge=0, description="Timestamps later than now plus this are rejected as impossible.")
    watch_interval_seconds: float = Field(
        300, gt=0, description="How often `threat-picture watch` ingests a source that has no "
        "schedule of its own nor of its center.")
    watch_backoff_max_seconds: float = Field(
        3600, gt=0, description="Longest wait before `watch` retries a failing source (the wait "
        "doubles with each failure in a row, from the source's interval capped at 60 s).")


class CoverageSettings(Strict):
    """Thresholds of the coverage model (README: Coverage model)."""

    current_window_days: int = Field(
        90, ge=1, description="A product is current for this many days after its publication, "
        "counted back from the end of the period shown.")
    severity_weights: tuple[NonNegativeFloat, NonNegativeFloat, NonNegativeFloat,
                            NonNegativeFloat, NonNegativeFloat] = Field(
        (0.5, 0.75, 1.0, 1.5, 2.0), description="Weight of an incident of severity 1..5 in a "
        "cell's activity (a critical incident counts four times a low one).")
    unknown_severity_weight: float = Field(
        1.0, ge=0, description="Weight of an incident without a severity (as a moderate one).")
    min_incidents: int = Field(
        10, ge=1, description="A cell with fewer incidents in the period is never a gap.")
    incidents_per_product: int = Field(
        500, ge=1, description="A cell needs one current product per this many incidents in "
        "a current window (its pace in the period, scaled to the window; at least one); fewer "
        "is too little coverage.")
    gap_min_score: float = Field(
        0.25, ge=0, description="Cells scoring at least this are gaps (score 1: an average "
        "active cell's weighted activity with no coverage at all).")
    near_duplicate_max_days: int = Field(
        7, ge=0, description="Products of two centers published at most this many days apart "
        "may be near-duplicates.")
    near_duplicate_min_similarity: float = Field(
        0.5, gt=0, le=1, description="TF-IDF cosine similarity (word unigrams and bigrams) of "
        "title and summary, 0-1, at which two such products are near-duplicates.")


class AnomalySettings(Strict):
    """The rule that flags a rise in a trend series (README: Trends)."""

    method: Literal["poisson", "negative_binomial"] = Field(
        "poisson", description="Tail test of a bucket's count against its trailing baseline: "
        "poisson, or negative_binomial (dispersion estimated from the window's own variance; "
        "Poisson where the window is not overdispersed).")
    baseline_days: int = Field(
        28, ge=2, description="Trailing window of the baseline at day granularity, in days "
        "(the bucket itself excluded).")
    baseline_weeks: int = Field(
        8, ge=2, description="Trailing window of the baseline at week granularity, in weeks.")
    baseline_months: int = Field(
        6, ge=2, description="Trailing window of the baseline at month granularity, in months.")
    alpha: float = Field(
        0.01, gt=0, lt=1, description="Significance level after the multiple-comparison "
        "correction.")
    correction: Literal["benjamini_hochberg", "bonferroni", "none"] = Field(
        "benjamini_hochberg", description="Correction across every bucket of every series "
        "tested in one view: benjamini_hochberg (false discovery rate), bonferroni "
        "(family-wise error) or none.")
    min_count: int = Field(
        5, ge=1, description="A bucket with fewer incidents is never an anomaly.")
    min_ratio: float = Field(
        1.5, ge=1, description="A bucket must hold at least this many times its expected count.")


class BriefingSettings(Strict):
    """Marked briefing snapshots (README: Briefings)."""

    title: str = Field("Threat briefing", description="Title on a briefing's cover, before "
                       "the deployment's own title (e.g. 'Threat briefing: California Threat "
                       "Picture').")
    caveat: str = Field(
        "Contains criminal intelligence information (28 CFR Part 23). Share only as the marking "
        "allows; release beyond the stated audience needs the originating center's consent.",
        description="Caveat line printed under the marking at the top and bottom of every page.")
    archive_dir: str = Field(
        "data/briefings", description="Folder where every briefing is archived with its JSON "
        "manifest (a relative path is taken from the working directory; `brief --archive` "
        "wins).")
    minimum_marking: Tlp = Field(
        "TLP:CLEAR", description="Lowest marking a briefing carries; it is raised to the most "
        "restrictive record the briefing draws on, or to the marking its author chooses.")
    top_rows: int = Field(10, ge=1, le=50, description="Rows in each ranked table of a briefing "
                          "(hot spots, gaps, clusters, anomalies, products).")


class AlertSettings(Strict):
    """Delivery of alerts (README: Alerts). Off until a relay or a webhook is configured: alerts
    then reach the in-app inbox only. Secrets are read from the environment, never config."""

    app_url: str = Field(
        "http://127.0.0.1:8501", pattern=r"^https?://[^\s?#]+$", description="The app's "
        "address as recipients reach it: each alert links to its view under it.")
    smtp_host: str | None = Field(
        None, description="SMTP relay that sends alert e-mails (None: no e-mail).")
    smtp_port: int = Field(25, ge=1, le=65535, description="Port of the SMTP relay.")
    smtp_from: str = Field(
        "threat-picture@localhost", pattern=r"^[^@\s<>]+@[^@\s<>]+$",
        description="Sender address of alert e-mails.")
    smtp_starttls: bool = Field(
        False, description="Upgrade the relay connection with STARTTLS before sending.")
    smtp_username: str | None = Field(
        None, description="User name to log in to the relay with (None: no login).")
    smtp_password_env: str = Field(
        "THREAT_PICTURE_SMTP_PASSWORD", description="Environment variable holding the relay "
        "password (with smtp_username).")
    webhook_urls: tuple[str, ...] = Field(
        (), description="Receivers of alerts as a JSON POST each (http or https URLs), for "
        "rules that ask for it.")
    webhook_secret_env: str = Field(
        "THREAT_PICTURE_WEBHOOK_SECRET", description="Environment variable holding the secret "
        "shared with the webhook receivers: each POST carries the HMAC-SHA256 of its body in "
        "the X-Threat-Picture-Signature header (sha256=<hex>).")
    webhook_max_marking: Tlp = Field(
        "TLP:AMBER", description="Alerts marked above this are not posted to webhooks (their "
        "receivers are systems, not named people); inbox and e-mail still carry them.")
    timeout_seconds: float = Field(
        10, gt=0, description="Longest wait for the relay or a webhook receiver.")

    @field_validator("webhook_urls")
    @classmethod
    def _http_urls(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for url in value:
            if not re.fullmatch(r"https?://[^\s]+", url):
                raise ValueError(f"webhook URL {url!r}: not an http(s) URL")
        return value


StatePostal = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]


class ExchangeSettings(Strict):
    """The national network's signed bundles of released aggregates (README: The national
    network). Key files are PEM, relative to the config folder; a private key never goes in
    git."""

    signing_key: str | None = Field(
        None, description="Ed25519 private key (PEM) this state signs its bundles with, made "
        "by `threat-picture exchange keygen` (None: this deployment exports no bundle).")
    bundle_days_valid: int = Field(
        30, ge=1, le=366, description="Days an exported bundle is valid: a receiver rejects it "
        "after that.")
    trusted_keys: dict[StatePostal, tuple[str, ...]] = Field(
        default_factory=dict, description="State postal code -> Ed25519 public keys (PEM "
        "files) whose bundles this deployment accepts as that state's; a bundle signed by any "
        "other key is rejected.")


Role = Literal["admin", "leadership", "analyst", "partner"]
DEFAULT_ROLE_CEILINGS: dict[Role, Tlp] = {"admin": "TLP:RED", "leadership": "TLP:RED",
                                          "analyst": "TLP:RED", "partner": "TLP:GREEN"}


class OidcSettings(Strict):
    provider: str | None = Field(
        None, description="Provider name under [auth] in the Streamlit secrets file "
        "(`serve --secrets FILE`, default .streamlit/secrets.toml; None: the single unnamed "
        "provider there).")
    role_claim: str = Field("roles", description="Claim holding the user's groups or roles.")
    role_map: dict[str, Role] = Field(
        default_factory=dict, description="Claim value -> role; the most privileged match "
        "wins. A user with no mapped value is refused.")
    center_claim: str = Field("center", description="Claim holding the home center id.")
    default_center: str | None = Field(
        None, description="Home center when the claim is absent (None: refuse the sign-in).")
    tlp_claim: str | None = Field(
        "max_tlp", description="Claim holding the highest marking (capped by the role).")
    need_to_know_claim: str | None = Field(
        "need_to_know", description="Boolean claim: may read other centers' narratives.")


class SecuritySettings(Strict):
    auth: Literal["local", "oidc"] = Field(
        "local", description="Sign-in: local accounts (argon2 hashes in the store, managed with "
        "`threat-picture users`) or OpenID Connect single sign-on through st.login.")
    idle_timeout_minutes: float = Field(
        30, gt=0, description="A session idle this long is signed out, whatever the cookie says.")
    max_failed_sign_ins: int = Field(
        5, ge=1, description="Failed sign-ins in a row that lock a local account.")
    lockout_minutes: float = Field(10, gt=0, description="How long a locked account stays locked.")
    sign_in_client_failures: int = Field(
        5, ge=1, description="Failed sign-ins from one client address (IPv6: its /64) within "
        "the failure window after which its further attempts are refused, without checking a "
        "password, for a backoff that doubles with each further failure.")
    sign_in_user_failures: int = Field(
        5, ge=1, description="The same limit per user name as typed (known or not), whatever "
        "the client.")
    sign_in_failure_window_seconds: float = Field(
        60, gt=0, description="Sliding window in which the failures above are counted.")
    sign_in_backoff_seconds: float = Field(
        1, gt=0, description="First backoff once a limit is reached; doubled with every "
        "further failure (1, 2, 4 ... seconds).")
    sign_in_backoff_max_seconds: float = Field(
        300, gt=0, description="Longest backoff.")
    sign_in_concurrent_hashes: int = Field(
        2, ge=1, description="Password hashes computed at once in one app process (argon2id "
        "takes 64 MiB each); further sign-ins wait, those of clients with the fewest recent "
        "failed or refused attempts first.")
    sign_in_hash_wait_seconds: float = Field(
        5, gt=0, description="Longest a sign-in waits for a hashing slot before it is told the "
        "service is busy.")
    sign_in_audit_window_seconds: float = Field(
        60, gt=0, description="Failed sign-ins of one user name from one client share one "
        "audit row per window; the next row counts the attempts in between (detail `repeats`).")
    partner_min_count: int = Field(
        5, ge=1, description="Partners see no county count below this (small-cell suppression).")
    review_period_days: int = Field(
        1826, ge=1, description="Review date of a record: this many days after it entered the "
        "store (28 CFR 23.20(h): five years).")
    role_ceilings: dict[Role, Tlp] = Field(
        default_factory=lambda: dict(DEFAULT_ROLE_CEILINGS),
        description="Highest marking each role may ever receive (a user's own limit is capped "
        "by it; TLP:RED still needs the user named as a recipient).")
    oidc: OidcSettings = Field(default_factory=OidcSettings,
                               description="Single sign-on claims mapping (auth = 'oidc').")


class Settings(Strict):
    state: str = Field(description="Postal code of the state (e.g. CA): picks the counties. "
                       "A network deployment names its member states joined by '+' "
                       "(e.g. ID+OR+WA).")
    title: str = Field("Statewide Threat Picture", description="Title shown in the app.")
    timezone: str = Field("UTC", description="IANA time zone in which the dashboards count days "
                          "(a period 'last 7 days' ends at local midnight).")
    store_url: str | None = Field(
        None, description="SQLAlchemy URL of the store; THREAT_PICTURE_STORE or --store win. "
        "Default: embedded SQLite in data/threat_picture.sqlite.")
    synthetic: bool = Field(
        False, description="True for demo data: every page and export is labelled SYNTHETIC.")
    ingest: IngestSettings = Field(default_factory=IngestSettings, description="Ingest rules.")
    coverage: CoverageSettings = Field(
        default_factory=CoverageSettings, description="Coverage gaps and redundancy thresholds.")
    security: SecuritySettings = Field(default_factory=SecuritySettings,
                                       description="Sign-in, sessions, markings and retention.")
    anomalies: AnomalySettings = Field(
        default_factory=AnomalySettings, description="How the Trends page flags anomalies.")
    briefing: BriefingSettings = Field(
        default_factory=BriefingSettings, description="Marked briefing snapshots (PDF, HTML).")
    alerts: AlertSettings = Field(
        default_factory=AlertSettings, description="Alert delivery: SMTP relay, webhooks.")
    exchange: ExchangeSettings = Field(
        default_factory=ExchangeSettings, description="The national network: signing and "
        "trusted keys of exchanged bundles.")

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        return _check_timezone(value)

    @field_validator("state")
    @classmethod
    def _known_state(cls, value: str) -> str:
        from dashboard.geo import NETWORK_SEPARATOR, state_postals

        postals = state_postals(value)
        if len(set(postals)) != len(postals):
            raise ValueError(f"a state is named twice in {value!r}")
        return NETWORK_SEPARATOR.join(postals)

    @property
    def network(self) -> bool:
        """A network deployment: its picture is its member states' imported aggregates."""
        from dashboard.geo import NETWORK_SEPARATOR

        return NETWORK_SEPARATOR in self.state


class Category(Strict):
    label: str = Field(description="Display name.")
    description: str = Field("", description="What belongs in the category.")
    first_amendment_caution: bool = Field(
        False, description="May touch protected speech or assembly: shown with a caution.")


class Taxonomy(Strict):
    categories: dict[str, Category] = Field(description="Threat categories by key.")
    sar_behaviors: dict[str, str] = Field(description="ISE-SAR behaviour codes -> label.")
    target_sectors: dict[str, str] = Field(description="Target sector codes -> label.")
    product_types: dict[str, str] = Field(description="Analytic product types -> label.")
    audiences: dict[str, str] = Field(description="Product audiences -> label.")


class Region(Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_]*$", description="Region id.")
    name: str = Field(description="Display name.")
    counties: list[str] = Field(description="5-digit FIPS of the counties in the region.")


class Regions(Strict):
    regions: list[Region] = Field(description="Every county of the state in exactly one region.")


class Source(Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_]*$", description="Source name, unique per "
                      "center.")
    table: Literal["incidents", "products"] = Field(description="Canonical table it feeds.")
    kind: str = Field(description="Connector kind: csv, ndjson, json, parquet, excel, sql, "
                      "stix.")
    location: str = Field(description="File path (relative to the config folder) or, for sql, "
                          "a SQLAlchemy URL.")
    columns: dict[str, str] = Field(
        default_factory=dict, description="Source column -> canonical field; unmapped columns "
        "with canonical names are taken as they are, others ignored.")
    values: dict[str, dict[str, str]] = Field(
        default_factory=dict, description="Canonical field -> {source value: canonical value}.")
    naive_timezone: str | None = Field(
        None, description="Time zone of timestamps without an offset (default: the center's).")
    datetime_formats: dict[str, str] = Field(
        default_factory=dict, description="Canonical field -> strftime format of its text.")
    list_delimiter: str = Field(";", description="Separator of list fields given as text.")
    default_tlp: Tlp | None = Field(None, description="Marking for rows without one "
                                    "(default: the center's).")
    options: dict[str, Any] = Field(
        default_factory=dict, description="Connector options (csv: delimiter, encoding; excel: "
        "sheet; sql: table or query; stix: objects).")
    schedule: str | None = Field(
        None, description="When `threat-picture watch` ingests it: 'every 5m' (s, m, h or d) "
        "or a 5-field cron expression ('*/15 * * * *', in the center's time zone); file "
        "sources are also ingested when their file changes (default: the center's schedule, "
        "else [ingest] watch_interval_seconds).")

    @field_validator("naive_timezone")
    @classmethod
    def _known_naive_timezone(cls, value: str | None) -> str | None:
        return None if value is None else _check_timezone(value)

    @field_validator("schedule")
    @classmethod
    def _valid_schedule(cls, value: str | None) -> str | None:
        return _check_schedule(value)


class Center(Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_]*$", description="Center id.")
    name: str = Field(description="Display name.")
    kind: Literal["state", "urban_area", "regional"] = Field(description="Kind of center.")
    timezone: str = Field(description="IANA time zone of the center.")
    default_tlp: Tlp = Field("TLP:AMBER", description="Marking for records without one.")
    aor_regions: list[str] = Field(default_factory=list, description="Regions in its AOR.")
    aor_counties: list[str] = Field(default_factory=list, description="Extra AOR counties.")
    statewide: bool = Field(False, description="AOR is the whole state.")
    sources: list[Source] = Field(default_factory=list, description="Its feeds.")
    schedule: str | None = Field(
        None, description="Default schedule of its sources for `threat-picture watch` (see the "
        "source key).")

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        return _check_timezone(value)

    @field_validator("schedule")
    @classmethod
    def _valid_schedule(cls, value: str | None) -> str | None:
        return _check_schedule(value)


class Centers(Strict):
    centers: list[Center] = Field(description="The state's fusion centers.")


class ProjectConfig:
    """The whole, cross-checked configuration of one deployment."""

    def __init__(self, config_dir: Path, settings: Settings, taxonomy: Taxonomy,
                 regions: list[Region], centers: list[Center]):
        self.config_dir = config_dir
        self.settings = settings
        self.taxonomy = taxonomy
        self.regions = regions
        self.centers = centers

    @cached_property
    def county_to_region(self) -> dict[str, str]:
        return {fips: region.id for region in self.regions for fips in region.counties}

    @cached_property
    def county_names(self) -> dict[str, str]:
        from dashboard.geo import state_counties

        counties = state_counties(self.settings.state)
        return dict(zip(counties["county_fips"], counties["county_name"], strict=True))

    @cached_property
    def labels(self) -> dict[str, dict[str, str]]:
        """Display names by vocabulary: category, region, center, county, and category_region
        (categories and regions together, for keys that join both)."""
        categories = {key: value.label for key, value in self.taxonomy.categories.items()}
        regions = {region.id: region.name for region in self.regions}
        return {"category": categories, "region": regions,
                "center": {center.id: center.name for center in self.centers},
                "county": dict(self.county_names), "category_region": categories | regions}

    def center(self, center_id: str) -> Center:
        return next(center for center in self.centers if center.id == center_id)

    def aor_counties(self, center: Center) -> list[str]:
        if center.statewide:
            return sorted(self.county_to_region)
        from_regions = {f for r in self.regions if r.id in center.aor_regions for f in r.counties}
        return sorted(from_regions | set(center.aor_counties))

    def vocabularies(self) -> dict[str, frozenset[str]]:
        """Allowed values for every vocabulary named in the schema."""
        taxonomy = self.taxonomy
        return {
            "categories": frozenset(taxonomy.categories),
            "sar_behaviors": frozenset(taxonomy.sar_behaviors),
            "target_sectors": frozenset(taxonomy.target_sectors),
            "product_types": frozenset(taxonomy.product_types),
            "audiences": frozenset(taxonomy.audiences),
            "tlp": frozenset(TLP_MARKINGS),
            "counties": frozenset(self.county_to_region),
            "regions": frozenset(region.id for region in self.regions),
            "center_kinds": frozenset({"state", "urban_area", "regional"}),
            "coverage_scopes": frozenset({"county", "region", "statewide"}),
            "centers": frozenset(center.id for center in self.centers),
            "roles": frozenset(ROLES),
        }

    def resolve_location(self, source: Source) -> str:
        """A file path made absolute against the config folder; sqlite URLs likewise."""
        if source.kind == "sql":
            prefix = "sqlite:///"
            if source.location.startswith(prefix) and not source.location.startswith(prefix + "/"):
                path = source.location[len(prefix):]
                if path and path != ":memory:":
                    return prefix + str((self.config_dir / path).resolve())
            return source.location
        return str((self.config_dir / source.location).resolve())

    def source_schedule(self, center: Center, source: Source) -> str:
        """When `watch` ingests ``source``: its schedule, else its center's, else the
        deployment's interval."""
        if source.schedule is not None:
            return source.schedule
        if center.schedule is not None:
            return center.schedule
        return f"every {self.settings.ingest.watch_interval_seconds:g}s"

    def store_url(self, override: str | None = None) -> str:
        """--store, else THREAT_PICTURE_STORE, else settings.toml, else embedded SQLite."""
        return resolve_store_url(override, self.settings.store_url)


def default_store_url() -> str:
    data_dir = Path(os.environ.get("THREAT_PICTURE_DATA", Path.cwd() / "data"))
    return f"sqlite:///{(data_dir / 'threat_picture.sqlite').resolve()}"


def resolve_store_url(override: str | None = None, configured: str | None = None) -> str:
    return override or os.environ.get(STORE_ENV) or configured or default_store_url()


def _read_toml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"{path}: config file missing")
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from error


Model = TypeVar("Model", bound=BaseModel)


def _parse(model: type[Model], path: Path, data: dict[str, Any]) -> Model:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        key = _key_path(data, first["loc"])
        raise ConfigError(f"{path}: {key}: {first['msg']}") from error


def _key_path(data: Any, loc: tuple[Any, ...]) -> str:
    """Turn pydantic's location into a TOML key path, naming list items by their id/name."""
    parts: list[str] = []
    node = data
    for step in loc:
        if isinstance(step, int) and isinstance(node, list) and step < len(node):
            item = node[step]
            label = item.get("id") or item.get("name") if isinstance(item, dict) else None
            parts[-1] += f"[{label!r}]" if label else f"[{step}]"
            node = item
        else:
            parts.append(str(step))
            node = node.get(step) if isinstance(node, dict) else None
    return ".".join(parts)


def load_config(config_dir: Path | str) -> ProjectConfig:
    config_dir = Path(config_dir).resolve()
    if not config_dir.is_dir():
        raise ConfigError(f"{config_dir}: config folder not found")
    paths = {name: config_dir / name for name in CONFIG_FILES}
    settings = _parse(Settings, paths["settings.toml"], _read_toml(paths["settings.toml"]))
    taxonomy = _parse(Taxonomy, paths["taxonomy.toml"], _read_toml(paths["taxonomy.toml"]))
    regions = _parse(Regions, paths["regions.toml"], _read_toml(paths["regions.toml"])).regions
    centers = _parse(Centers, paths["centers.toml"], _read_toml(paths["centers.toml"])).centers
    config = ProjectConfig(config_dir, settings, taxonomy, regions, centers)
    _cross_check(config, paths)
    return config


def _cross_check(config: ProjectConfig, paths: dict[str, Path]) -> None:
    from dashboard.geo import state_counties
    from data_sources import CONNECTORS

    state_fips = set(state_counties(config.settings.state)["county_fips"])
    regions_path, centers_path = paths["regions.toml"], paths["centers.toml"]
    seen: dict[str, str] = {}
    for region in config.regions:
        for fips in region.counties:
            if fips not in state_fips:
                raise ConfigError(f"{regions_path}: regions[{region.id!r}].counties: {fips!r} is "
                                  f"not a county of {config.settings.state}")
            if fips in seen:
                raise ConfigError(f"{regions_path}: regions[{region.id!r}].counties: {fips!r} is "
                                  f"already in region {seen[fips]!r}")
            seen[fips] = region.id
    missing = sorted(state_fips - set(seen))
    if missing:
        raise ConfigError(f"{regions_path}: regions: counties in no region: {', '.join(missing)}")

    _check_exchange_keys(config, paths["settings.toml"])
    vocabularies = config.vocabularies()
    center_ids: set[str] = set()
    for center in config.centers:
        where = f"{centers_path}: centers[{center.id!r}]"
        if center.id in center_ids:
            raise ConfigError(f"{where}.id: duplicate center id")
        center_ids.add(center.id)
        for region_id in center.aor_regions:
            if region_id not in vocabularies["regions"]:
                raise ConfigError(f"{where}.aor_regions: unknown region {region_id!r}")
        for fips in center.aor_counties:
            if fips not in state_fips:
                raise ConfigError(f"{where}.aor_counties: {fips!r} is not a county of the state")
        source_names: set[str] = set()
        for source in center.sources:
            source_where = f"{where}.sources[{source.name!r}]"
            if source.name in source_names:
                raise ConfigError(f"{source_where}.name: duplicate source name")
            source_names.add(source.name)
            _check_source(source, source_where, vocabularies, CONNECTORS)


def _check_exchange_keys(config: ProjectConfig, settings_path: Path) -> None:
    """Every key file [exchange] names exists, and every trusted state is a state."""
    from dashboard.geo import known_state_postals

    exchange = config.settings.exchange
    named = [("exchange.signing_key", exchange.signing_key)] if exchange.signing_key else []
    for state, key_paths in exchange.trusted_keys.items():
        if state not in known_state_postals():
            raise ConfigError(f"{settings_path}: exchange.trusted_keys.{state}: unknown state "
                              "postal code")
        named += [(f"exchange.trusted_keys.{state}", key_path) for key_path in key_paths]
    for key, key_path in named:
        if not (config.config_dir / key_path).is_file():
            raise ConfigError(f"{settings_path}: {key}: no file {key_path!r} in the config "
                              "folder")


def _check_source(source: Source, where: str, vocabularies: dict[str, frozenset[str]],
                  connectors: dict[str, Any]) -> None:
    if source.kind not in connectors:
        raise ConfigError(f"{where}.kind: unknown connector kind {source.kind!r} "
                          f"(known: {', '.join(sorted(connectors))})")
    try:
        connectors[source.kind].Options.model_validate(source.options)
    except ValidationError as error:
        first = error.errors()[0]
        key = "".join(f".{part}" for part in first["loc"])
        raise ConfigError(f"{where}.options{key}: {first['msg']}") from error
    assert source.table in FEED_TABLES
    table = TABLES[source.table]
    feed_fields = {field.name: field for field in table.feed_fields}
    for column, target in source.columns.items():
        if target not in feed_fields:
            raise ConfigError(f"{where}.columns.{column}: {target!r} is not a field of "
                              f"{source.table} (fields: {', '.join(feed_fields)})")
    for field_name in [*source.values, *source.datetime_formats]:
        if field_name not in feed_fields:
            raise ConfigError(f"{where}: {field_name!r} is not a field of {source.table}")
    for field_name, mapping in source.values.items():
        vocabulary = feed_fields[field_name].vocabulary
        if vocabulary is None:
            continue
        for raw_value, canonical in mapping.items():
            if canonical not in vocabularies[vocabulary]:
                raise ConfigError(f"{where}.values.{field_name}.{raw_value!r}: {canonical!r} is "
                                  f"not in {vocabulary}")
    for field_name in source.datetime_formats:
        if feed_fields[field_name].type != "datetime":
            raise ConfigError(f"{where}.datetime_formats.{field_name}: not a datetime field")


CONFIG_REFERENCE_MODELS: tuple[tuple[str, type[BaseModel]], ...] = (
    ("settings.toml", Settings),
    ("settings.toml [ingest]", IngestSettings),
    ("settings.toml [coverage]", CoverageSettings),
    ("settings.toml [anomalies]", AnomalySettings),
    ("settings.toml [security]", SecuritySettings),
    ("settings.toml [security.oidc]", OidcSettings),
    ("settings.toml [briefing]", BriefingSettings),
    ("settings.toml [alerts]", AlertSettings),
    ("settings.toml [exchange]", ExchangeSettings),
    ("taxonomy.toml", Taxonomy),
    ("taxonomy.toml [categories.KEY]", Category),
    ("regions.toml [[regions]]", Region),
    ("centers.toml [[centers]]", Center),
    ("centers.toml [[centers.sources]]", Source),
)


def config_markdown() -> str:
    """The config reference shown in the README (a meta-test keeps them identical)."""
    lines: list[str] = []
    for title, model in CONFIG_REFERENCE_MODELS:
        lines += [f"#### `{title}`", "", "| key | default | meaning |", "|---|---|---|"]
        for name, info in model.model_fields.items():
            default = "required" if info.is_required() else _default_text(
                info.get_default(call_default_factory=True, validated_data={}))
            lines.append(f"| `{name}` | {default} | {info.description or ''} |")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _default_text(value: object) -> str:
    if isinstance(value, BaseModel):
        return "see its table"
    if isinstance(value, date):
        return f"`{value.isoformat()}`"
    return f"`{value!r}`"
