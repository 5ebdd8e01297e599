"""The one registry of topics: names, keys, record types, partitions, retention.

Every producer and consumer names topics through :data:`TOPICS`; the embedded
runtime and the Kubernetes ``KafkaTopic`` manifests are made from it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from schemas.records import (
    Alert,
    CameraFrame,
    CaseCommand,
    CaseEvent,
    CaseState,
    DeadLetter,
    Digest,
    DispatchTask,
    FieldUpdate,
    HotlineEvent,
    Observation,
    Record,
)

__all__ = [
    "ALERTS",
    "AUDIT",
    "CAMERA_FRAMES",
    "CASE_COMMANDS",
    "CASE_EVENTS",
    "CASE_STATE",
    "DEADLETTER",
    "DIGESTS",
    "DISPATCH_TASKS",
    "FIELD_UPDATES",
    "HEARTBEATS",
    "HOTLINE_EVENTS",
    "OBSERVATIONS",
    "TOPICS",
    "TopicSpec",
    "default_partitions",
]

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


def default_partitions() -> int:
    """Partitions per topic: the most workers one consumer group can spread over."""
    return int(os.environ.get("CITYOPS_PARTITIONS", "4"))


@dataclass(frozen=True)
class TopicSpec:
    name: str
    key: str
    record: type[Record] | None
    retention_ms: int
    description: str
    compacted: bool = False

    @property
    def partitions(self) -> int:
        return default_partitions()

    def config(self) -> dict[str, str]:
        """Kafka topic configs (``cleanup.policy``, ``retention.ms``)."""
        return {
            "cleanup.policy": "compact" if self.compacted else "delete",
            "retention.ms": str(self.retention_ms),
        }


CAMERA_FRAMES = TopicSpec(
    "camera-frames", "camera_id", CameraFrame, 6 * HOUR_MS, "Sampled JPEG frames, one record per frame"
)
HOTLINE_EVENTS = TopicSpec(
    "hotline-events", "event_id", HotlineEvent, 30 * DAY_MS, "Citizen reports: phone, app, web, Open311"
)
OBSERVATIONS = TopicSpec(
    "observations", "observation_id", Observation, 30 * DAY_MS, "Problems seen at a place, any source"
)
CASE_COMMANDS = TopicSpec(
    "case-commands", "case_id", CaseCommand, 30 * DAY_MS, "Requests to change a case, owned by the case stage"
)
CASE_STATE = TopicSpec(
    "case-state", "case_id", CaseState, 365 * DAY_MS, "Latest state of each case (the case table's changelog)",
    compacted=True,
)
CASE_EVENTS = TopicSpec(
    "case-events", "case_id", CaseEvent, 365 * DAY_MS, "Every transition of every case: the log of record"
)
DISPATCH_TASKS = TopicSpec(
    "dispatch-tasks", "department", DispatchTask, 90 * DAY_MS, "Tasks for departments and field crews"
)
ALERTS = TopicSpec("alerts", "case_id", Alert, 7 * DAY_MS, "What operators should see now")
FIELD_UPDATES = TopicSpec(
    "field-updates", "case_id", FieldUpdate, 90 * DAY_MS, "Acknowledgements, resolutions, rejections from crews"
)
DEADLETTER = TopicSpec(
    "deadletter", "stage", DeadLetter, 30 * DAY_MS, "Unusable inputs: original bytes, stage, reason"
)
DIGESTS = TopicSpec(
    "digests", "district", Digest, 365 * DAY_MS, "Weekly unresolved-case digests per district"
)
AUDIT = TopicSpec("audit", "actor", None, 365 * DAY_MS, "Who changed what through the web API, and when")
HEARTBEATS = TopicSpec(
    "heartbeats", "worker", None, HOUR_MS, "Each worker's canary: proves it really consumes (readiness)"
)

TOPICS: dict[str, TopicSpec] = {
    t.name: t
    for t in (
        CAMERA_FRAMES,
        HOTLINE_EVENTS,
        OBSERVATIONS,
        CASE_COMMANDS,
        CASE_STATE,
        CASE_EVENTS,
        DISPATCH_TASKS,
        ALERTS,
        FIELD_UPDATES,
        DEADLETTER,
        DIGESTS,
        AUDIT,
        HEARTBEATS,
    )
}
