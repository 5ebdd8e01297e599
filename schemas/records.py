"""The records on every topic: one class per record, the single source of truth.

JSON Schema files under ``schemas/json/`` are generated from these classes
(``cityops schemas --write``) and a test keeps them equal. Every record carries
``schema_version``; a worker reads the versions in :data:`READABLE_VERSIONS`
(older ones are upgraded on read, :mod:`schemas.codec`) and dead-letters others.
Times are epoch seconds (UTC) as floats, everywhere; coordinates are WGS84 degrees.

Records are dataclasses: stages build them on the hot path (a few microseconds
each, where a ``faust.Record`` cost thirty) and orjson writes them directly, as
fast as a dict (slotted dataclasses took orjson four times as long). Field
metadata (ranges, enums, descriptions) lives in :data:`FIELD_RULES` so the JSON
Schema says what the code checks.

Version 2 (this one) replaced the string maps of version 1 (``CaseEvent.detail``,
``CaseCommand.detail``, the route and petition numbers in ``Observation.labels``)
with typed fields, and added :class:`CaseState`, the record of the ``case-state`` topic.
"""

import hashlib
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ALL_RECORDS",
    "CASE_COMMAND_TYPES",
    "CASE_EVENT_TYPES",
    "CASE_STATUSES",
    "FIELD_ACTIONS",
    "FIELD_RULES",
    "READABLE_VERSIONS",
    "ROUTE_SOURCES",
    "SCHEMA_VERSION",
    "Alert",
    "CameraFrame",
    "CaseCommand",
    "CaseEvent",
    "CaseState",
    "DeadLetter",
    "Digest",
    "DispatchTask",
    "FieldUpdate",
    "HotlineEvent",
    "Observation",
    "Open311Submission",
    "Part",
    "Record",
    "Report",
    "Route",
    "fitted_id",
]

SCHEMA_VERSION = 2
READABLE_VERSIONS = (1, 2)

CASE_STATUSES = (
    "new",
    "triage",
    "dispatched",
    "acknowledged",
    "in_progress",
    "resolved",
    "verified",
    "closed",
    "rejected",
    "reopened",
)
CASE_EVENT_TYPES = (
    "opened",
    "merged",
    "priority_raised",
    "triaged",
    "dispatched",
    "acknowledged",
    "started",
    "resolved",
    "verified",
    "closed",
    "rejected",
    "rerouted",
    "assigned",
    "reopened",
    "reminder",
    "escalated",
    "digest",
    "confirmed",
)
FIELD_ACTIONS = ("acknowledge", "start", "resolve", "reject")
CASE_COMMAND_TYPES = ("attach", "dispatched", "triaged", "field", "sla", "verify", "assign", "review")
# The longest id a record carries (event, observation, case, update ids).
ID_MAX = 200


def fitted_id(value: str, limit: int = ID_MAX) -> str:
    """``value`` as an id of at most ``limit`` characters: kept whole if it fits, else cut with a hash of the whole.

    Ids derived from other ids (``hotline:`` + an event id of 200 characters) must fit too, and the
    same input must always give the same id (redeliveries are recognised by it).
    """
    if len(value) <= limit:
        return value
    digest = hashlib.blake2b(value.encode(), digest_size=8).hexdigest()
    return f"{value[: limit - len(digest) - 1]}~{digest}"


# Who decided a case's department: config rule, dispatch model, triage queue, an operator, a crew's suggestion.
ROUTE_SOURCES = ("", "rule", "model", "triage", "operator", "crew")



class Part:
    """A typed piece nested in a record (no version of its own)."""


    def asdict(self) -> dict[str, Any]:
        from schemas.codec import to_dict

        return to_dict(self)


class Record(Part):
    """A record that travels on a topic on its own; it carries ``schema_version``."""

    schema_version: int = SCHEMA_VERSION


@dataclass(kw_only=True)
class CameraFrame(Record):
    """One sampled JPEG frame of one camera (topic ``camera-frames``, key camera_id)."""

    schema_version: int = SCHEMA_VERSION
    camera_id: str
    frame_id: str
    captured_at: float
    jpeg_b64: str
    width: int = 0
    height: int = 0


@dataclass(kw_only=True)
class Open311Submission(Part):
    """What an Open311 client submitted beyond the report itself (what GET requests answers with)."""

    description: str = ""
    address: str = ""
    address_id: str = ""
    media_url: str = ""
    location_precision: str = "exact"


@dataclass(kw_only=True)
class HotlineEvent(Record):
    """A citizen report from phone, app, web or Open311 (topic ``hotline-events``)."""

    schema_version: int = SCHEMA_VERSION
    event_id: str
    channel: str
    received_at: float
    text: str
    lat: float | None = None
    lon: float | None = None
    address: str = ""
    district: str = ""
    language: str = ""
    service_code: str = ""
    # 1: a first appeal; n: the citizen's n-th petition on the same problem (a repeated appeal after an
    # answer they did not accept). Repeated petitions go where the city's history sends them.
    petition: int = 1
    # An Open311 request as submitted (no personal data): the log keeps it, so Redis can lose it.
    open311: Open311Submission | None = None


@dataclass(kw_only=True)
class Observation(Record):
    """One sighting of a problem at a place, from any source (topic ``observations``)."""

    schema_version: int = SCHEMA_VERSION
    observation_id: str
    source: str
    source_id: str
    observed_at: float
    ingested_at: float
    kind: str
    category: str
    lat: float
    lon: float
    district: str
    confidence: float
    reason: str = ""
    location_precision: str = "exact"
    text: str = ""
    language: str = ""
    camera_id: str = ""
    evidence: str = ""
    bbox: list[float] = field(default_factory=list)
    labels: dict[str, float] = field(default_factory=dict)  # detector class scores and counts
    # The intake stage's routing of the report, made while its text features were at hand (hotline:
    # the complaint model's dispatch decision); empty: the case stage routes the case it opens.
    department: str = ""
    route_confidence: float = 0.0
    route_source: str = ""  # "rule" | "model" | "triage"
    # A hotline report's address flag (the router re-reads its reason scores with it; None: not a
    # hotline report) and petition count (the router weighs repeats when it re-routes the case).
    has_address: bool | None = None
    petition: int = 1
    address: str = ""  # the place as the reporter wrote it (hotline); crews read it on their task card


@dataclass(kw_only=True)
class FieldUpdate(Record):
    """What a field crew did about a task (topic ``field-updates``, key case_id)."""

    schema_version: int = SCHEMA_VERSION
    update_id: str
    case_id: str
    action: str
    at: float
    department: str
    crew_id: str = ""
    task_id: str = ""
    note: str = ""
    photo_b64: str = ""
    suggested_department: str = ""


@dataclass(kw_only=True)
class Route(Part):
    """Which department a case goes to, how sure the router was, and who decided."""

    department: str
    confidence: float = 0.0
    source: str = ""


@dataclass(kw_only=True)
class CaseCommand(Record):
    """An instruction to the case that owns ``case_id`` (topic ``case-commands``, key case_id).

    Only the case stage changes case state; other stages ask it through these.
    """

    schema_version: int = SCHEMA_VERSION
    command_id: str
    case_id: str
    type: str
    at: float
    observation: Observation | None = None  # attach
    opened: bool = False  # attach: the merge step opened the case for this observation
    department: str = ""  # dispatched, triaged, assign
    confidence: float = 0.0
    route_source: str = ""
    field: FieldUpdate | None = None  # field
    dispatch_no: int = 0  # dispatched, triaged
    by: str = ""  # assign, verify: who asked
    sla: str = ""  # sla: reminder, escalate or close
    violation: str = ""  # verify: what the camera saw after the fix (present, absent)
    verdict: str = ""  # review: an operator's word on a camera detection (confirmed, false_positive)


@dataclass(kw_only=True)
class Report(Part):
    """One report attached to a case, as its case event carries it (a summary of the observation)."""

    observation_id: str
    source: str
    observed_at: float
    ingested_at: float
    source_id: str = ""
    camera_id: str = ""
    evidence: str = ""
    confidence: float = 0.0
    text: str = ""
    location_precision: str = "exact"
    has_address: bool | None = None
    petition: int = 1
    address: str = ""  # as the reporter wrote it
    bbox: list[float] = field(default_factory=list)  # a camera's box (normalised x0, y0, x1, y1)


@dataclass(kw_only=True)
class CaseEvent(Record):
    """A transition of one case's life (topic ``case-events``, key case_id)."""

    schema_version: int = SCHEMA_VERSION
    event_id: str
    case_id: str
    type: str
    at: float
    status: str
    kind: str
    category: str
    district: str
    lat: float
    lon: float
    priority: str
    reports: int
    department: str = ""
    sla_deadline: float = 0.0
    opened_at: float = 0.0
    first_observed_at: float = 0.0
    first_ingested_at: float = 0.0
    reason: str = ""
    dispatch_no: int = 0
    text: str = ""
    command_id: str = ""  # the command that caused it: a redelivered command re-emits these events
    report: Report | None = None  # opened, merged, reopened by a report
    route: Route | None = None  # opened (the intake's route), dispatched/triaged/rerouted, assigned
    crew_id: str = ""  # field events
    note: str = ""
    suggested_department: str = ""  # rejected
    by: str = ""  # assigned, verified
    why: str = ""  # reopened, closed
    deadline: float = 0.0  # reminder, escalated: the deadline concerned


@dataclass(kw_only=True)
class CaseState(Record):
    """One case as the case stage holds it (compacted topic ``case-state``, key case_id).

    Written with every change; a worker that is assigned a partition restores its cases
    from here. ``applied`` and ``recent_events`` make a redelivered command re-emit its events.
    """

    schema_version: int = SCHEMA_VERSION
    case_id: str
    status: str
    kind: str
    category: str
    district: str
    lat: float
    lon: float
    opened_at: float
    first_observed_at: float
    first_ingested_at: float
    last_observed_at: float
    reason: str = ""
    priority: str = "normal"
    reports: int = 0
    department: str = ""
    rejected_by: list[str] = field(default_factory=list)
    dispatch_no: int = 0
    sla_deadline: float = 0.0
    updated_at: float = 0.0
    resolved_at: float = 0.0
    route_confidence: float = 0.0
    route_source: str = ""
    text: str = ""
    sources: dict[str, int] = field(default_factory=dict)
    cameras: list[str] = field(default_factory=list)
    observation_ids: list[str] = field(default_factory=list)
    reminded: float = 0.0
    escalated: float = 0.0
    close_reason: str = ""  # why it closed without a fix (false_positive: an operator dismissed the detection)
    seq: int = 0
    applied: list[str] = field(default_factory=list)
    recent_events: list[CaseEvent] = field(default_factory=list)


@dataclass(kw_only=True)
class DispatchTask(Record):
    """Work for one department about one case (topic ``dispatch-tasks``, key department)."""

    schema_version: int = SCHEMA_VERSION
    task_id: str
    case_id: str
    dispatch_no: int
    department: str
    kind: str
    category: str
    district: str
    lat: float
    lon: float
    priority: str
    created_at: float
    first_observed_at: float
    sla_deadline: float
    confidence: float
    route_source: str
    reason: str = ""
    summary: str = ""
    evidence: list[str] = field(default_factory=list)


@dataclass(kw_only=True)
class Alert(Record):
    """Something an operator should see now (topic ``alerts``, key case_id)."""

    schema_version: int = SCHEMA_VERSION
    alert_id: str
    case_id: str
    type: str
    severity: str
    at: float
    title: str
    kind: str
    district: str
    lat: float
    lon: float
    department: str = ""
    status: str = ""


@dataclass(kw_only=True)
class Digest(Record):
    """Unresolved cases of one district, sent to its head weekly (topic ``digests``, key district)."""

    schema_version: int = SCHEMA_VERSION
    digest_id: str
    district: str
    period_start: float
    period_end: float
    generated_at: float
    unresolved: int
    overdue: int
    by_kind: dict[str, int] = field(default_factory=dict)
    by_department: dict[str, int] = field(default_factory=dict)
    oldest_case_ids: list[str] = field(default_factory=list)


@dataclass(kw_only=True)
class DeadLetter(Record):
    """An input a stage could not use, with the original bytes (topic ``deadletter``, key stage)."""

    schema_version: int = SCHEMA_VERSION
    stage: str
    reason: str
    error_type: str
    at: float
    topic: str
    partition: int
    offset: int
    key_b64: str
    value_b64: str
    value_size: int
    value_sha256: str = ""
    truncated: bool = False


ALL_RECORDS: tuple[type[Record], ...] = (
    CameraFrame,
    HotlineEvent,
    Observation,
    CaseCommand,
    CaseEvent,
    CaseState,
    DispatchTask,
    Alert,
    FieldUpdate,
    Digest,
    DeadLetter,
)

_LAT = {"minimum": -90, "maximum": 90}
_LON = {"minimum": -180, "maximum": 180}
_ID = {"minLength": 1, "maxLength": ID_MAX}
# Epoch seconds from 2000 to 2100: a millisecond timestamp (13 digits) or a zero is refused at the schema.
_TIME = {"minimum": 946_684_800, "maximum": 4_102_444_800}
_TIME_OR_0 = {"minimum": 0, "maximum": 4_102_444_800}
_ROUTE_SOURCE = {"enum": list(ROUTE_SOURCES)}
_PRIORITY = {"enum": ["normal", "high", "urgent"]}

# Checks beyond the type of each field; they become part of the JSON Schema.
FIELD_RULES: dict[str, dict[str, dict[str, Any]]] = {
    "CameraFrame": {
        "camera_id": _ID,
        "frame_id": _ID,
        "captured_at": _TIME,
        "jpeg_b64": {"minLength": 4},
        "width": {"minimum": 0},
        "height": {"minimum": 0},
    },
    "HotlineEvent": {
        "event_id": _ID,
        "channel": {"enum": ["phone", "app", "web", "open311", "email", "replay"]},
        "received_at": _TIME,
        "text": {"minLength": 1, "maxLength": 20000},
        "lat": _LAT,
        "lon": _LON,
        "address": {"maxLength": 500},
        "petition": {"minimum": 1, "maximum": 1000},
    },
    "Observation": {
        "observation_id": _ID,
        "source": {"enum": ["camera", "hotline", "open311"]},
        "observed_at": _TIME,
        "ingested_at": _TIME,
        "lat": _LAT,
        "lon": _LON,
        "confidence": {"minimum": 0, "maximum": 1},
        "location_precision": {"enum": ["exact", "address", "district", "city", "camera"]},
        "route_confidence": {"minimum": 0, "maximum": 1},
        "route_source": {"enum": ["", "rule", "model", "triage"]},
        "petition": {"minimum": 1, "maximum": 1000},
    },
    "Route": {"confidence": {"minimum": 0, "maximum": 1}, "source": _ROUTE_SOURCE},
    "Open311Submission": {
        "description": {"maxLength": 20000},
        "address": {"maxLength": 500},
        "address_id": {"maxLength": 500},
        "media_url": {"maxLength": 2000},
        "location_precision": {"enum": ["exact", "address", "district", "city"]},
    },
    "Report": {"observed_at": _TIME, "ingested_at": _TIME, "petition": {"minimum": 1, "maximum": 1000}},
    "CaseCommand": {
        "type": {"enum": list(CASE_COMMAND_TYPES)},
        "case_id": _ID,
        "at": _TIME,
        "route_source": _ROUTE_SOURCE,
        "dispatch_no": {"minimum": 0},
        "sla": {"enum": ["", "reminder", "escalate", "close"]},
        "violation": {"enum": ["", "present", "absent"]},
        "verdict": {"enum": ["", "confirmed", "false_positive"]},
    },
    "CaseEvent": {
        "type": {"enum": list(CASE_EVENT_TYPES)},
        "status": {"enum": list(CASE_STATUSES)},
        "at": _TIME,
        "priority": _PRIORITY,
        "lat": _LAT,
        "lon": _LON,
    },
    "CaseState": {
        "status": {"enum": list(CASE_STATUSES)},
        "priority": _PRIORITY,
        "lat": _LAT,
        "lon": _LON,
        "route_source": _ROUTE_SOURCE,
    },
    "DispatchTask": {
        "priority": _PRIORITY,
        "dispatch_no": {"minimum": 1},
        "confidence": {"minimum": 0, "maximum": 1},
        "sla_deadline": _TIME_OR_0,
    },
    "Alert": {"severity": {"enum": ["info", "warning", "critical"]}},
    "FieldUpdate": {
        "action": {"enum": list(FIELD_ACTIONS)},
        "case_id": _ID,
        "update_id": _ID,
        "at": _TIME,
        "note": {"maxLength": 5000},
    },
    "Digest": {"unresolved": {"minimum": 0}, "overdue": {"minimum": 0}},
    "DeadLetter": {},
}
