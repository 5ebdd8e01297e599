"""Names of everything the product keeps in Redis: derived state that the log can rebuild."""

from __future__ import annotations

__all__ = [
    "ALERTS_CHANNEL",
    "ALERTS_RECENT",
    "ANALYTICS_FACTS",
    "AUDIT_RECENT",
    "CASES_UPDATED",
    "CASE_INDEX_LOCK",
    "CASE_INDEX_READY",
    "OPEN311_REQUESTS",
    "PREFIX",
    "REVIEW_EXAMPLES",
    "SLA_DEADLINES",
    "alerts_recent_of",
    "camera_last_frame",
    "case_doc",
    "case_geo",
    "case_photos",
    "case_seen",
    "cases_by_status",
    "dispatch_claim",
    "evidence",
    "field_photo",
    "input_seen",
    "observation_case",
    "open311_request",
    "review_frame",
    "tasks_of",
]

PREFIX = "cityops:"
# Pub/sub channel every worker publishes alerts to; any web worker fans them out to its clients.
ALERTS_CHANNEL = PREFIX + "alerts"
# Capped list of the latest alerts (JSON), newest first, for a console that just connected.
ALERTS_RECENT = PREFIX + "alerts:recent"


def alerts_recent_of(department: str) -> str:
    """Capped list of one department's latest alerts (JSON), newest first: its own history, not a city window."""
    return f"{PREFIX}alerts:recent:{department}"


# Set when the geo index of open cases has been rebuilt from the case log.
CASE_INDEX_READY = PREFIX + "cases:index-ready"


def case_geo(group: str) -> str:
    """GEO set of open cases of one dedupe group (a case kind, or kind:reason for general ones)."""
    return f"{PREFIX}geo:{group}"


def case_doc(case_id: str) -> str:
    """JSON document of one case as the console shows it (latest state + timeline)."""
    return f"{PREFIX}case:{case_id}"


def cases_by_status(status: str) -> str:
    """Sorted set of case ids in one status, scored by last update time."""
    return f"{PREFIX}cases:status:{status}"


def observation_case(observation_id: str) -> str:
    """Which case an observation went to: makes redelivered observations idempotent."""
    return f"{PREFIX}obs:{observation_id}"


def dispatch_claim(case_id: str, dispatch_no: int) -> str:
    """Idempotency key of one dispatch of one case: at most one task is ever produced for it."""
    return f"{PREFIX}dispatch:{case_id}:{dispatch_no}"


def evidence(observation_id: str) -> str:
    """JPEG evidence snapshot (people blurred) of one camera observation; expires with the case window."""
    return f"{PREFIX}evidence:{observation_id}"


def field_photo(update_id: str) -> str:
    """JPEG a crew attached to one field update (a resolve's proof of the fix)."""
    return f"{PREFIX}field-photo:{update_id}"


def case_photos(case_id: str) -> str:
    """Hash update_id -> JSON (action, time, crew, note) of the field photos of one case."""
    return f"{PREFIX}case-photos:{case_id}"


# Hash case_id -> JSON of an operator's verdict on a camera case (class, box, frame): the next training set.
REVIEW_EXAMPLES = PREFIX + "review:examples"


def review_frame(observation_id: str) -> str:
    """The reviewed camera frame, kept without expiry as a labelled example (evidence itself expires)."""
    return f"{PREFIX}review:frame:{observation_id}"


def tasks_of(department: str) -> str:
    """Hash task_id -> task JSON: one department's board."""
    return f"{PREFIX}tasks:{department}"


# Every case id, scored by last update time: the console's default listing.
CASES_UPDATED = PREFIX + "cases:updated"


def case_seen(group: str) -> str:
    """Sorted set case_id -> time of its latest report, per dedupe group (the merge window)."""
    return f"{PREFIX}seen:{group}"


# Lock held by the one worker that rebuilds the geo index from the case log.
CASE_INDEX_LOCK = PREFIX + "cases:index-lock"


def camera_last_frame(camera_id: str) -> str:
    """Capture time of the latest frame the vision stage processed from one camera (for verification)."""
    return f"{PREFIX}camera:{camera_id}:last-frame"


# Sorted set case_id -> SLA deadline of cases a department is on the clock for.
SLA_DEADLINES = PREFIX + "sla:deadlines"


# Hash case_id -> compact JSON facts of the case (agents.logic.analytics.CaseFacts): what reports read.
ANALYTICS_FACTS = PREFIX + "analytics:facts"
# Capped list of the latest audit entries (JSON), newest first, for admins; the topic is the record.
AUDIT_RECENT = PREFIX + "audit:recent"
# Sorted set of Open311 service_request_ids, scored by when they were requested.
OPEN311_REQUESTS = PREFIX + "open311:requests"


def open311_request(service_request_id: str) -> str:
    """JSON of one Open311 request as submitted (no personal data), plus its case id once known."""
    return f"{PREFIX}open311:request:{service_request_id}"


def input_seen(namespace: str, input_id: str) -> str:
    """Fingerprint of the content first seen under one input id (``hotline`` events, ``field`` updates)."""
    return f"{PREFIX}seen-input:{namespace}:{input_id}"
