"""The records on every topic: one class per record, the single source of truth.

JSON Schema files under ``schemas/json/`` are generated from these classes
(``cityops schemas --write``) and a test keeps them equal. Every record carries
``schema_version``; a worker rejects versions it does not read (dead letter).
Times are epoch seconds (UTC) as floats; coordinates are WGS84 degrees.

Field metadata (ranges, enums, descriptions) lives in :data:`FIELD_RULES` so the
JSON Schema says what the code checks.
"""

import typing
from typing import Any

import faust

__all__ = [
    "ALL_RECORDS",
    "CASE_EVENT_TYPES",
    "CASE_STATUSES",
    "FIELD_ACTIONS",
    "FIELD_RULES",
    "SCHEMA_VERSION",
    "Alert",
    "CameraFrame",
    "CaseCommand",
    "CaseEvent",
    "DeadLetter",
    "Digest",
    "DispatchTask",
    "FieldUpdate",
    "HotlineEvent",
    "Observation",
]

SCHEMA_VERSION = 1

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
)
FIELD_ACTIONS = ("acknowledge", "start", "resolve", "reject")
CASE_COMMAND_TYPES = ("attach", "dispatched", "triaged", "field", "sla", "verify", "assign")


class CameraFrame(faust.Record, serializer="json"):
    """One sampled JPEG frame of one camera (topic ``camera-frames``, key camera_id)."""

    schema_version: int
    camera_id: str
    frame_id: str
    captured_at: float
    jpeg_b64: str
    width: int = 0
    height: int = 0


class HotlineEvent(faust.Record, serializer="json"):
    """A citizen report from phone, app, web or Open311 (topic ``hotline-events``)."""

    schema_version: int
    event_id: str
    channel: str
    received_at: float
    text: str
    lat: typing.Optional[float] = None  # noqa: UP045 - faust reads typing annotations at class creation
    lon: typing.Optional[float] = None  # noqa: UP045
    address: str = ""
    district: str = ""
    language: str = ""
    service_code: str = ""
    # 1: a first appeal; n: the citizen's n-th petition on the same problem (a repeated appeal after an
    # answer they did not accept). Repeated petitions go where the city's history sends them.
    petition: int = 1


class Observation(faust.Record, serializer="json"):
    """One sighting of a problem at a place, from any source (topic ``observations``)."""

    schema_version: int
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
    bbox: typing.List[float] = []  # noqa: UP006,RUF012
    labels: typing.Dict[str, float] = {}  # noqa: UP006,RUF012
    # The intake stage's routing of the report, made while its text features were at hand (hotline:
    # the complaint model's dispatch decision); empty: the case stage routes the case it opens.
    department: str = ""
    route_confidence: float = 0.0
    route_source: str = ""  # "rule" | "model" | "triage"


class FieldUpdate(faust.Record, serializer="json"):
    """What a field crew did about a task (topic ``field-updates``, key case_id)."""

    schema_version: int
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


class CaseCommand(faust.Record, serializer="json"):
    """An instruction to the case that owns ``case_id`` (topic ``case-commands``, key case_id).

    Only the case stage changes case state; other stages ask it through these.
    """

    schema_version: int
    command_id: str
    case_id: str
    type: str
    at: float
    observation: typing.Optional[Observation] = None  # noqa: UP045
    opened: bool = False
    department: str = ""
    confidence: float = 0.0
    route_source: str = ""
    field: typing.Optional[FieldUpdate] = None  # noqa: UP045
    detail: typing.Dict[str, str] = {}  # noqa: UP006,RUF012


class CaseEvent(faust.Record, serializer="json"):
    """A transition of one case's life (topic ``case-events``, key case_id)."""

    schema_version: int
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
    reason: str = ""
    observation_id: str = ""
    source: str = ""
    dispatch_no: int = 0
    text: str = ""
    detail: typing.Dict[str, str] = {}  # noqa: UP006,RUF012


class DispatchTask(faust.Record, serializer="json"):
    """Work for one department about one case (topic ``dispatch-tasks``, key department)."""

    schema_version: int
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
    evidence: typing.List[str] = []  # noqa: UP006,RUF012


class Alert(faust.Record, serializer="json"):
    """Something an operator should see now (topic ``alerts``, key case_id)."""

    schema_version: int
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


class Digest(faust.Record, serializer="json"):
    """Unresolved cases of one district, sent to its head weekly (topic ``digests``, key district)."""

    schema_version: int
    digest_id: str
    district: str
    period_start: float
    period_end: float
    generated_at: float
    unresolved: int
    overdue: int
    by_kind: typing.Dict[str, int] = {}  # noqa: UP006,RUF012
    by_department: typing.Dict[str, int] = {}  # noqa: UP006,RUF012
    oldest_case_ids: typing.List[str] = []  # noqa: UP006,RUF012


class DeadLetter(faust.Record, serializer="json"):
    """An input a stage could not use, with the original bytes (topic ``deadletter``, key stage)."""

    schema_version: int
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


ALL_RECORDS: tuple[type[faust.Record], ...] = (
    CameraFrame,
    HotlineEvent,
    Observation,
    CaseCommand,
    CaseEvent,
    DispatchTask,
    Alert,
    FieldUpdate,
    Digest,
    DeadLetter,
)

_LAT = {"minimum": -90, "maximum": 90}
_LON = {"minimum": -180, "maximum": 180}
_ID = {"minLength": 1, "maxLength": 200}

# Checks beyond the type of each field; they become part of the JSON Schema.
FIELD_RULES: dict[str, dict[str, dict[str, Any]]] = {
    "CameraFrame": {
        "camera_id": _ID,
        "frame_id": _ID,
        "captured_at": {"minimum": 0},
        "jpeg_b64": {"minLength": 4},
        "width": {"minimum": 0},
        "height": {"minimum": 0},
    },
    "HotlineEvent": {
        "event_id": _ID,
        "channel": {"enum": ["phone", "app", "web", "open311", "email", "replay"]},
        "received_at": {"minimum": 0},
        "text": {"minLength": 1, "maxLength": 20000},
        "lat": _LAT,
        "lon": _LON,
        "address": {"maxLength": 500},
        "petition": {"minimum": 1, "maximum": 1000},
    },
    "Observation": {
        "observation_id": _ID,
        "source": {"enum": ["camera", "hotline", "open311"]},
        "lat": _LAT,
        "lon": _LON,
        "confidence": {"minimum": 0, "maximum": 1},
        "location_precision": {"enum": ["exact", "address", "district", "city", "camera"]},
        "route_confidence": {"minimum": 0, "maximum": 1},
        "route_source": {"enum": ["", "rule", "model", "triage"]},
    },
    "CaseCommand": {"type": {"enum": list(CASE_COMMAND_TYPES)}, "case_id": _ID},
    "CaseEvent": {
        "type": {"enum": list(CASE_EVENT_TYPES)},
        "status": {"enum": list(CASE_STATUSES)},
        "priority": {"enum": ["normal", "high", "urgent"]},
        "lat": _LAT,
        "lon": _LON,
    },
    "DispatchTask": {
        "priority": {"enum": ["normal", "high", "urgent"]},
        "dispatch_no": {"minimum": 1},
        "confidence": {"minimum": 0, "maximum": 1},
    },
    "Alert": {"severity": {"enum": ["info", "warning", "critical"]}},
    "FieldUpdate": {
        "action": {"enum": list(FIELD_ACTIONS)},
        "case_id": _ID,
        "update_id": _ID,
        "note": {"maxLength": 5000},
    },
    "Digest": {"unresolved": {"minimum": 0}, "overdue": {"minimum": 0}},
    "DeadLetter": {},
}
