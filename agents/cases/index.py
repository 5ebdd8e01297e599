"""The Redis geo index of open cases: atomic find-or-create, and its rebuild from the case log.

The rebuild also restores what the console reads (case documents, status sets,
SLA deadlines), so a Redis that lost everything comes back whole from Kafka.

Redis is derived state. When it comes back empty (flushed, restarted without
persistence), the first worker to notice takes a lock, reads ``case-events``
from the beginning, and puts every case that is still open back into the
index, with its merge window and the observations already assigned to it;
the others wait for it, so no observation is matched against a half-built index.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord

from agents.logic.dedupe import FIND_OR_CREATE_LUA, Match, dedupe_group, new_case_id
from agents.logic.lifecycle import CLOSED_STATUSES
from agents.logic.sla import ACTIVE_STATUSES as SLA_ACTIVE
from config.models import CityConfig
from schemas.codec import DecodeError, decode, dumps, to_dict
from schemas.records import CaseEvent, CaseState, Observation
from streams import redis_keys as keys
from streams.log_reader import read_to_end
from streams.redis_scripts import script
from streams.topics import CASE_EVENTS

__all__ = [
    "TIMELINE_KEEP",
    "ensure_index",
    "event_detail",
    "find_or_create_batch",
    "forget_case",
    "observation_entry",
    "rebuild_index",
    "timeline_entry",
    "write_case_view",
]

log = logging.getLogger(__name__)
# An observation's case assignment is kept this long (longer than any redelivery takes).
ASSIGNMENT_TTL_S = 14 * 24 * 3600
_index_checked_at = 0.0
TIMELINE_KEEP = 100
_INDEX_CHECK_EVERY_S = 1.0
FIND_OR_CREATE_CHUNK = 500
# What an event says beyond its type and status, as the console's timeline shows it (non-empty ones only).
_DETAIL_FIELDS = ("command_id", "crew_id", "note", "suggested_department", "by", "why", "deadline")


def event_detail(ev: CaseEvent) -> dict[str, Any]:
    """The console's view of what a case event says beyond its type: its report, route and notes."""
    detail: dict[str, Any] = {name: getattr(ev, name) for name in _DETAIL_FIELDS if getattr(ev, name)}
    if ev.report is not None:
        detail.update(to_dict(ev.report))
    if ev.route is not None:
        detail.update(route_department=ev.route.department, route_confidence=ev.route.confidence,
                      route_source=ev.route.source)
    return detail


def timeline_entry(ev: CaseEvent) -> dict[str, Any]:
    """One line of a case's timeline in its console document."""
    return {"event_id": ev.event_id, "type": ev.type, "at": ev.at, "status": ev.status,
            "department": ev.department, "detail": event_detail(ev)}


def observation_entry(ev: CaseEvent) -> dict[str, Any] | None:
    """The report an event attached, as the case document lists it (``at``: when it was attached)."""
    if ev.report is None or ev.type not in ("opened", "merged", "reopened"):
        return None
    return {"at": ev.at, **to_dict(ev.report)}


async def find_or_create_batch(
    client: aioredis.Redis, city: CityConfig, observations: Sequence[Observation]
) -> list[Match]:
    """Assign each observation to a case: one atomic script call per chunk.

    Batches are cut into chunks so one script never holds Redis for long.
    """
    kinds = {k.id: k for k in city.case_kinds}
    default = kinds[city.default_kind]
    matches: list[Match] = []
    for start in range(0, len(observations), FIND_OR_CREATE_CHUNK):
        group_of: dict[str, int] = {}
        group_keys: list[str] = []
        assignment_keys: list[str] = []
        args: list[Any] = []
        for obs in observations[start : start + FIND_OR_CREATE_CHUNK]:
            kind = kinds.get(obs.kind, default)
            group = dedupe_group(city, kind.id, obs.category, obs.reason)
            g = group_of.get(group)
            if g is None:
                g = group_of[group] = len(group_of) + 1
                group_keys += [keys.case_geo(group), keys.case_seen(group)]
            assignment_keys.append(keys.observation_case(obs.observation_id))
            new_id = new_case_id(obs.observation_id)
            args.append(f"{g} {float(obs.lon)!r} {float(obs.lat)!r} {float(kind.radius_m)!r} "
                        f"{float(obs.observed_at)!r} {kind.window_h * 3600.0!r} {new_id}")
        script_keys = group_keys + assignment_keys
        args = [len(group_of), ASSIGNMENT_TTL_S, *args]
        flat = await script(client, FIND_OR_CREATE_LUA)(keys=script_keys, args=args)
        text = [x.decode() if isinstance(x, bytes) else str(x) for x in flat]
        matches += [Match(text[i], text[i + 1], text[i + 2] == "1") for i in range(0, len(text), 3)]
    return matches


def forget_case(pipe: Any, city: CityConfig, state: CaseState) -> None:
    """Take a closed case out of the geo index: new reports there open a new case."""
    group = dedupe_group(city, state.kind, state.category, state.reason)
    pipe.zrem(keys.case_geo(group), state.case_id)
    pipe.zrem(keys.case_seen(group), state.case_id)


async def ensure_index(client: aioredis.Redis, city: CityConfig, bootstrap: str, timeout_s: float = 120.0) -> None:
    """Make sure the geo index exists; rebuild it from the case log if Redis lost it."""
    global _index_checked_at
    if time.monotonic() - _index_checked_at < _INDEX_CHECK_EVERY_S:
        return
    deadline = time.monotonic() + timeout_s
    while not await client.exists(keys.CASE_INDEX_READY):
        token = uuid.uuid4().hex
        if await client.set(keys.CASE_INDEX_LOCK, token, nx=True, ex=int(timeout_s)):
            try:
                count = await rebuild_index(client, city, bootstrap)
                await client.set(keys.CASE_INDEX_READY, str(time.time()))
                log.warning("case index rebuilt from %s: %d open cases", CASE_EVENTS.name, count)
            finally:
                with contextlib.suppress(Exception):
                    if await client.get(keys.CASE_INDEX_LOCK) == token.encode():
                        await client.delete(keys.CASE_INDEX_LOCK)
            break
        if time.monotonic() > deadline:
            raise TimeoutError("another worker holds the index lock and has not finished rebuilding")
        await asyncio.sleep(0.2)
    _index_checked_at = time.monotonic()


async def _read_case_log(bootstrap: str) -> dict[str, dict[str, Any]]:
    """Latest state of every case, folded from the whole ``case-events`` topic (to its true end)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    await consumer.start()
    cases: dict[str, dict[str, Any]] = {}
    try:
        partitions = consumer.partitions_for_topic(CASE_EVENTS.name) or set()
        if not partitions:
            await consumer._client.force_metadata_update()  # fresh consumers may not have metadata yet
            partitions = consumer.partitions_for_topic(CASE_EVENTS.name) or set()
        tps = [TopicPartition(CASE_EVENTS.name, p) for p in partitions]
        if not tps:
            return cases
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)

        def fold(rec: ConsumerRecord[bytes, bytes]) -> None:
            _fold(cases, rec.value)

        await read_to_end(consumer, tps, fold)
    finally:
        await consumer.stop()
    return cases


def _fold(cases: dict[str, dict[str, Any]], raw: bytes | None) -> None:
    try:
        ev = decode(CaseEvent, raw)
    except DecodeError:
        return  # the case log is written by this product only; a bad record there was dead-lettered at birth
    case = cases.setdefault(ev.case_id, {"observations": {}, "dispatch_no": 0, "last_seen": 0.0, "doc": {
        "observations": [], "timeline": []}})
    case.update(status=ev.status, kind=ev.kind, category=ev.category, reason=ev.reason, lat=ev.lat, lon=ev.lon)
    case["dispatch_no"] = max(case["dispatch_no"], ev.dispatch_no)
    doc = case["doc"]
    event = to_dict(ev)
    doc.update({k: v for k, v in event.items() if k not in _NOT_STATE})
    doc["updated_at"] = ev.at
    doc["timeline"] = [*doc["timeline"], timeline_entry(ev)][-TIMELINE_KEEP:]
    report = ev.report
    if report is not None:
        case["observations"][report.observation_id] = ev.type == "opened"
        case["last_seen"] = max(case["last_seen"], report.observed_at)
        entry = observation_entry(ev)
        if entry is not None:
            doc["observations"].append(entry)
        if report.camera_id and report.camera_id not in doc.setdefault("cameras", []):
            doc["cameras"].append(report.camera_id)
    # What the SLA timers read: when it was resolved, and which deadline was already reminded/escalated.
    if ev.type == "resolved":
        doc["resolved_at"] = ev.at
    elif ev.type in ("reminder", "escalated"):
        doc["reminded" if ev.type == "reminder" else "escalated"] = ev.deadline or ev.sla_deadline


# Fields of a case event that describe the event, not the case it leaves behind.
_NOT_STATE = ("type", "event_id", "at", "schema_version", "command_id", "report", "route", "crew_id", "note",
              "suggested_department", "by", "why", "deadline")

def write_case_view(pipe: Any, case_id: str, doc: dict[str, Any], previous_status: str | None = None) -> None:
    """Queue a case's console document and the by-status, by-update and SLA-deadline indexes that point at it."""
    pipe.set(keys.case_doc(case_id), dumps(doc))
    if previous_status and previous_status != doc["status"]:
        pipe.zrem(keys.cases_by_status(previous_status), case_id)
    pipe.zadd(keys.cases_by_status(doc["status"]), {case_id: doc["updated_at"]})
    pipe.zadd(keys.CASES_UPDATED, {case_id: doc["updated_at"]})
    if doc["status"] in SLA_ACTIVE and doc.get("sla_deadline"):
        pipe.zadd(keys.SLA_DEADLINES, {case_id: doc["sla_deadline"]})
    else:
        pipe.zrem(keys.SLA_DEADLINES, case_id)


async def rebuild_index(client: aioredis.Redis, city: CityConfig, bootstrap: str) -> int:
    """Re-create geo index, merge windows, observation assignments and dispatch claims from the log."""
    cases = await _read_case_log(bootstrap)
    pipe = client.pipeline(transaction=False)
    open_count = 0
    for case_id, case in cases.items():
        write_case_view(pipe, case_id, case["doc"])
        for obs_id, opened in case["observations"].items():
            pipe.set(keys.observation_case(obs_id), f"{case_id}|{int(opened)}", ex=ASSIGNMENT_TTL_S)
        for n in range(1, case["dispatch_no"] + 1):
            pipe.set(keys.dispatch_claim(case_id, n), "sent")
        if case["status"] in CLOSED_STATUSES:
            continue
        open_count += 1
        group = dedupe_group(city, case["kind"], case["category"], case["reason"])
        pipe.geoadd(keys.case_geo(group), (case["lon"], case["lat"], case_id))
        pipe.zadd(keys.case_seen(group), {case_id: case["last_seen"]})
    await pipe.execute()
    return open_count
