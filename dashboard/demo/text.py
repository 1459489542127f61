"""Sentence templates for synthetic narratives, product titles and summaries.

Everything here is invented: no real people, places below county level, or identifiers.
Templates name their blanks (``{place}``); :func:`template_expr` turns one into a Polars
expression so narratives are built column-wise, never row by row.
"""

from __future__ import annotations

import re

import polars as pl

# Narratives per category key (blanks: place, county, daypart). No template may start with "="
# (a spreadsheet would take it for a formula) or contain a line break (CSV line numbers).
NARRATIVES: dict[str, tuple[str, ...]] = {
    "counterterrorism": (
        "Caller reported an unattended bag near the {place} in {county} during the {daypart}; "
        "area cleared after inspection.",
        "Partner agency relayed an online threat naming a {place} in {county}.",
        "Staff noted repeated questions about crowd sizes at a {place} in {county}.",
    ),
    "homegrown_violent_extremism": (
        "Tip received about a subject posting violent threats toward a {place} in {county}.",
        "Deputies documented threatening graffiti at a {place} in {county} during the "
        "{daypart}.",
        "Report of a subject acquiring weapons and issuing threats near a {place} in {county}.",
    ),
    "cybercrime": (
        "A {place} in {county} reported a ransomware infection affecting its systems.",
        "Business email compromise attempt reported by a {place} in {county}.",
        "Phishing messages targeted staff at a {place} in {county} during the {daypart}.",
    ),
    "gangs": (
        "Shots fired near a {place} in {county} during the {daypart}; gang graffiti found "
        "nearby.",
        "Officers observed suspected gang members gathering at a {place} in {county}.",
        "Retaliation threat between rival groups reported near a {place} in {county}.",
    ),
    "narcotics": (
        "Traffic stop near a {place} in {county} led to a seizure of suspected fentanyl pills.",
        "Report of suspected drug sales at a {place} in {county} during the {daypart}.",
        "Suspected methamphetamine found during a search near a {place} in {county}.",
    ),
    "critical_infrastructure": (
        "Copper wire stolen from a {place} in {county}; service briefly interrupted.",
        "Fence cut and trespass reported at a {place} in {county} during the {daypart}.",
        "Drone observed hovering over a {place} in {county}.",
    ),
    "sar_analysis": (
        "Individual observed photographing access points of a {place} in {county} during the "
        "{daypart}.",
        "Subject asked staff detailed security questions at a {place} in {county}.",
        "Vehicle seen repeatedly circling a {place} in {county}.",
    ),
    "violent_crime": (
        "Armed robbery reported at a {place} in {county} during the {daypart}.",
        "Assault with a weapon near a {place} in {county}; victim treated at the scene.",
        "Carjacking reported near a {place} in {county}.",
    ),
    "human_trafficking": (
        "Tip about possible labor trafficking at a {place} in {county}.",
        "Outreach workers reported signs of trafficking near a {place} in {county}.",
        "Online advertisement tied to a {place} in {county} flagged for trafficking "
        "indicators.",
    ),
    "officer_safety": (
        "Subject made threats against deputies near a {place} in {county} during the "
        "{daypart}.",
        "Officers found a concealed firearm during a stop near a {place} in {county}.",
        "Booby-trapped door reported at a {place} in {county} during a search warrant.",
    ),
}
NARRATIVES_PER_CATEGORY = 3

# Where an incident happened, by target sector; "" is for incidents without a sector.
PLACES_BY_SECTOR: dict[str, tuple[str, ...]] = {
    "AGRI": ("packing house", "farm supply yard"),
    "CHEM": ("chemical distributor", "pool supply warehouse"),
    "COMM": ("shopping center", "hotel"),
    "TELCM": ("cell tower site", "telecom hub"),
    "CORR": ("detention facility", "probation office"),
    "DAMS": ("dam spillway", "reservoir outlet"),
    "EDU": ("high school", "college campus"),
    "ENRG": ("power substation", "fuel terminal"),
    "EMRG": ("fire station", "dispatch center"),
    "FIN": ("bank branch", "check-cashing store"),
    "GVTBLDG": ("county office building", "courthouse"),
    "HLTH": ("hospital", "urgent care clinic"),
    "IT": ("data center", "software office"),
    "TRANS": ("transit station", "rail yard"),
    "WATR": ("water treatment plant", "pumping station"),
    "CULTR": ("house of worship", "community center"),
    "": ("parking lot", "convenience store", "apartment complex", "gas station", "motel",
         "city park", "freeway off-ramp", "warehouse district"),
}
DAYPARTS = ("night", "morning", "afternoon", "evening")  # local hours 0-5, 6-11, 12-17, 18-23

# Valid rows whose narrative carries markup: must be stored as sent and escaped when shown.
MARKUP_NARRATIVES = (
    "<script>alert(1)</script> Subject seen photographing the loading dock.",
    "Caller described the vehicle <img src=x onerror=alert(1)> parked near the gate.",
    "Follow-up pending \"><svg onload=alert(document.cookie)> per supervisor.",
    "Witness statement attached <iframe src=\"javascript:alert(1)\"></iframe> see report.",
    "Details in [the linked note](javascript:alert(1)) <b>urgent</b> review requested.",
)
# Appended to one product title: feed titles are untrusted too.
MARKUP_PRODUCT_TITLE = " <img src=x onerror=alert('title')>"

# Subjects analysts write about, per topic; titles and summaries are built around them.
PRODUCT_SUBJECTS: dict[str, tuple[str, ...]] = {
    "counterterrorism": (
        "threats to mass gatherings", "attack planning indicators at transit hubs",
        "material support investigations", "vehicle ramming threat awareness",
        "drone activity near stadiums", "violent propaganda targeting festivals",
        "suspicious interest in water supplies", "threats against transit systems",
        "explosive precursor purchases", "travel by persons of concern",
    ),
    "homegrown_violent_extremism": (
        "online threats against public officials", "mobilization indicators among lone actors",
        "threats to houses of worship", "threats against election workers",
        "weapons acquisition by threat subjects", "violent threats against utility crews",
        "threats against school campuses", "doxxing of public employees",
        "threats against healthcare workers", "swatting calls against officials",
    ),
    "cybercrime": (
        "ransomware attacks on municipalities", "business email compromise schemes",
        "phishing campaigns against school districts", "SIM-swap fraud",
        "denial-of-service attacks on public websites", "card skimmers at fuel pumps",
        "intrusions into water utility controls", "extortion of healthcare providers",
        "gift card fraud against seniors", "cryptocurrency ATM scams",
    ),
    "gangs": (
        "retaliatory gang shootings", "gang recruitment of juveniles",
        "catalytic converter theft rings", "organized retail theft crews",
        "gang-related carjackings", "gang tagging along rail corridors",
        "gang activity in correctional facilities", "firearms trafficking by gangs",
        "gang-run fraud schemes", "social media threats between gangs",
    ),
    "narcotics": (
        "fentanyl pill seizures", "methamphetamine trafficking", "clandestine lab discoveries",
        "counterfeit pill distribution", "illegal cannabis grow operations",
        "drug sales near schools", "xylazine in the street supply",
        "drug trafficking through parcel services", "overdose clusters",
        "narcotics concealed in commercial trucks",
    ),
    "critical_infrastructure": (
        "copper wire thefts at substations", "trespassing at water treatment plants",
        "vandalism of telecommunications sites", "drone overflights of power plants",
        "tampering with rail signals", "attacks on electric grid equipment",
        "thefts from solar farms", "intrusions at pipeline facilities",
        "threats to dam operations", "cuts to fiber optic lines",
    ),
    "sar_analysis": (
        "photography of security checkpoints", "surveillance of government buildings",
        "probing of facility access controls", "suspicious purchases of precursor chemicals",
        "elicitation attempts at critical sites", "suspicious drone flights over crowds",
        "impersonation of utility workers", "testing of port security",
        "questions about explosives storage", "loitering near bridge supports",
    ),
    "violent_crime": (
        "armed robberies of convenience stores", "street takeover violence",
        "home-invasion robberies", "shootings near nightlife districts",
        "assaults on transit riders", "follow-home robberies",
        "violence at youth sports events", "road rage shootings",
        "robberies of cannabis dispensaries", "violence near homeless encampments",
    ),
    "human_trafficking": (
        "labor trafficking at agricultural sites", "illicit massage businesses",
        "online recruitment of minors", "trafficking along interstate corridors",
        "forced labor in construction crews", "trafficking tied to major events",
        "trafficking through short-term rentals", "debt bondage in restaurants",
        "recruitment through fake job offers", "trafficking at truck stops",
    ),
    "officer_safety": (
        "ambush threats against patrol officers", "concealed weapons in vehicles",
        "privately made firearms", "threats posted against deputies",
        "barricaded subjects with body armor", "booby traps at search warrant sites",
        "assaults on officers during traffic stops", "fentanyl exposure risks",
        "vehicle attacks on officers", "threats to officers' families",
    ),
}

# Ordinary product titles (blanks: subject, Subject, area, type, month).
TITLES = (
    "Rising {subject} in {area}",
    "{type}: {subject} in {area}",
    "{Subject} across {area}, {month}",
    "{area}: {subject} outlook",
    "Update on {subject} in {area}",
)
SUMMARY_OPENINGS = (
    "{center} analysts reviewed {count} reports of {subject} in {area} between {first} and "
    "{last}.",
    "Between {first} and {last}, {center} logged {count} reports of {subject} in {area}.",
    "This product draws on {count} reports of {subject} received from partners in {area} "
    "from {first} to {last}.",
    "{center} is tracking {subject} in {area}: {count} reports since {first}.",
    "Partners in {area} submitted {count} reports of {subject} to {center} from {first} "
    "through {last}.",
    "{Subject}: {count} reports from {area} reached {center} between {first} and {last}.",
)
SUMMARY_DETAILS = (
    "Most reports involve repeat locations near major highways.",
    "Several reports describe the same vehicles and times of day.",
    "Reporting partners include patrol, campus and private security staff.",
    "A small number of subjects appear in several reports.",
    "Activity shifted from daytime to late evening hours.",
    "Rural areas account for a growing share of reports.",
    "Weekend nights account for nearly half of the reports.",
    "Reports rose after a regional awareness campaign.",
    "Open-source reporting corroborates several of the incidents.",
    "Partner agencies describe similar activity in neighbouring areas.",
)
SUMMARY_TRENDS = (
    "Activity rose {percent}% over the prior period.",
    "Reporting is stable compared with the prior period.",
    "Reports fell {percent}% but remain above the two-year average.",
    "Most reports cluster on weekends and evenings.",
    "Activity is down {percent}% from the same period last year.",
    "Reports more than doubled in the last two weeks.",
)
SUMMARY_ADVICE = (
    "Partners should report related activity to their fusion center.",
    "Officers should use caution and share observations through the FLO network.",
    "Facility operators should review access controls and camera coverage.",
    "No specific, credible threat is known at this time.",
    "Share related tips with the center within 24 hours.",
    "Review officer safety procedures before field contacts.",
    "Coordinate continuity plans with local emergency management.",
    "Suspicious activity should be reported through the SAR process.",
)

# Near-duplicate products: the same facts, lightly reworded by each center (one word swapped
# per member after the first, and the title turned around a little).
NEAR_DUPLICATE_TITLES = (
    "Rising {subject} in {area}",
    "Rising {subject} across {area}",
    "{Subject} rising in {area}",
)
NEAR_DUPLICATE_SUMMARY = (
    "Analysts reviewed {count} reports of {subject} in {area} between {first} and {last}. "
    "Activity rose {percent}% over the prior period. {detail} Partners should report related "
    "activity to their fusion center."
)
NEAR_DUPLICATE_REWORDING = ((), (("reviewed", "examined"),), (("rose", "increased"),))

_BLANK = re.compile(r"\{(\w+)\}")


def template_expr(template: str) -> pl.Expr:
    """A template as a string expression; each ``{name}`` is read from column ``name``."""
    parts: list[pl.Expr] = []
    position = 0
    for match in _BLANK.finditer(template):
        if match.start() > position:
            parts.append(pl.lit(template[position:match.start()]))
        parts.append(pl.col(match.group(1)))
        position = match.end()
    if position < len(template):
        parts.append(pl.lit(template[position:]))
    return pl.concat_str(parts)


def capitalized(text: str) -> str:
    return text[:1].upper() + text[1:]
