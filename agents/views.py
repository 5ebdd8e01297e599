"""Every view in Redis, rebuilt from the log when Redis lost it (flushed, restarted without its file).

Redis holds only what the log can give back. When the marker of built views is
missing, the first worker to notice (its views timer, or the merge step before it
matches an observation) takes a lock and rebuilds, while the others wait:

* case documents, status sets, SLA deadlines: each case's latest state from the
  compacted ``case-state`` topic, its timeline and reports from ``case-events``,
  written by the same :func:`agents.cases.index.write_case_view` as the live projection;
* the dedupe index: open cases on the map with their merge windows, the observation ->
  case assignments and the dispatch claims already sent (``case-events``);
* task boards: the tasks (``dispatch-tasks``) and the crews' accepted updates (field
  events on ``case-events``), through the projection's own merge functions;
* the analytics facts every report reads (``case-events``);
* the latest alerts (``alerts``), city-wide and per department, and audit entries (``audit``);
* the camera review's labelled examples (from the verdicts' case events; the frames are kept like evidence).

The live projections keep writing meanwhile; every write is idempotent and newer
states win, so a rebuild and a projection never undo each other.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from aiokafka.structs import ConsumerRecord

from agents.cases.index import ASSIGNMENT_TTL_S, observation_entry, timeline_entry, write_case_view
from agents.console import RECENT_ALERTS, apply_field_update, board_update, case_document, merge_task, update_boards
from agents.logic.analytics import CaseFacts, apply_event
from agents.logic.dedupe import dedupe_group
from agents.logic.lifecycle import CLOSED_STATUSES
from agents.logic.open311 import open311_record
from agents.logic.review import example_of_event
from config.models import CityConfig
from schemas.codec import DecodeError, decode, decode_dict, decode_own, dumps, loads
from schemas.records import Alert, CaseEvent, CaseState, DispatchTask, HotlineEvent
from streams import redis_keys as keys
from streams.app import city, redis
from streams.log_reader import read_log
from streams.outbox import Outbox
from streams.settings import current_settings
from streams.stage import TimerStage
from streams.topics import ALERTS, AUDIT, CASE_EVENTS, CASE_STATE, DISPATCH_TASKS, HOTLINE_EVENTS

__all__ = ["AUDIT_KEEP", "CaseLog", "ensure_views", "rebuild_views", "stages"]

log = logging.getLogger(__name__)
AUDIT_KEEP = 1000
_CHECK_EVERY_S = 1.0
_checked_at = 0.0


@dataclass
class CaseLog:
    """What the ``case-events`` log says of one case (beyond its latest state)."""

    timeline: list[dict[str, Any]] = field(default_factory=list)
    observations: list[dict[str, Any]] = field(default_factory=list)
    assigned: dict[str, bool] = field(default_factory=dict)  # observation id -> it opened the case
    last_seen: float = 0.0
    seen: set[str] = field(default_factory=set)  # event ids: a redelivered command re-emits its events


def fold_case_events(records: Sequence[bytes]) -> tuple[dict[str, CaseLog], list[CaseEvent]]:
    """Per case, its log; and every event in log order, each once."""
    cases: dict[str, CaseLog] = defaultdict(CaseLog)
    events = []
    for raw in records:
        try:
            ev = decode(CaseEvent, raw)
        except DecodeError:
            continue  # the case log is written by this product only; a bad record was dead-lettered at birth
        case = cases[ev.case_id]
        if ev.event_id in case.seen:
            continue  # the same event again (same id, same content): counted once, as the projection does
        case.seen.add(ev.event_id)
        events.append(ev)
        case.timeline.append(timeline_entry(ev))
        entry = observation_entry(ev)
        if entry is not None:
            case.observations.append(entry)
        if ev.report is not None:
            case.assigned[ev.report.observation_id] = ev.type == "opened"
            case.last_seen = max(case.last_seen, ev.report.observed_at)
    return cases, events


def case_view(state: CaseState, history: CaseLog) -> dict[str, Any]:
    """The console document of a case, as the live projection makes it from the same state and events."""
    doc = case_document({"observations": list(history.observations), "timeline": list(history.timeline)}, state)
    assert doc is not None  # a document without a seq is never newer than a state
    doc["timeline"] = doc["timeline"][-100:]
    return doc


async def _read(bootstrap: str, topic: str, tail: int | None = None) -> list[ConsumerRecord[bytes, bytes]]:
    records: list[ConsumerRecord[bytes, bytes]] = []
    await read_log(bootstrap, topic, records.append, tail=tail)
    return records


async def rebuild_views(client: aioredis.Redis, city: CityConfig, bootstrap: str) -> dict[str, int]:
    """Rebuild every view from the log; returns how many of each were written."""
    history, events = fold_case_events([r.value for r in await _read(bootstrap, CASE_EVENTS.name)])
    states: dict[str, CaseState] = {}
    for rec in await _read(bootstrap, CASE_STATE.name):
        if rec.key is not None and rec.value:
            with contextlib.suppress(DecodeError):
                state = decode_own(CaseState, rec.value)
                if state.case_id not in states or states[state.case_id].seq <= state.seq:
                    states[state.case_id] = state
    pipe = client.pipeline(transaction=False)
    open_cases = 0
    for case_id, state in states.items():
        case = history.get(case_id, CaseLog())
        write_case_view(pipe, case_id, case_view(state, case))
        for obs_id, opened in case.assigned.items():
            pipe.set(keys.observation_case(obs_id), f"{case_id}|{int(opened)}", ex=ASSIGNMENT_TTL_S)
        for n in range(1, state.dispatch_no + 1):
            pipe.set(keys.dispatch_claim(case_id, n), "sent")
        if state.status in CLOSED_STATUSES:
            continue
        open_cases += 1
        group = dedupe_group(city, state.kind, state.category, state.reason)
        pipe.geoadd(keys.case_geo(group), (state.lon, state.lat, case_id))
        pipe.zadd(keys.case_seen(group), {case_id: case.last_seen or state.last_observed_at})
    facts: dict[str, CaseFacts | None] = {}
    for ev in events:
        folded = apply_event(facts.get(ev.case_id), ev.asdict(), city.city.h3_resolution)
        if folded is not None:
            facts[ev.case_id] = folded
    if facts:
        pipe.hset(keys.ANALYTICS_FACTS, mapping={cid: dumps(f.to_json()) for cid, f in facts.items() if f})
    examples = {ev.case_id: ex for ev in events
                if (ex := example_of_event(ev, history.get(ev.case_id, CaseLog()).observations)) is not None}
    if examples:
        pipe.hset(keys.REVIEW_EXAMPLES, mapping={cid: dumps(ex).decode() for cid, ex in examples.items()})
    await pipe.execute()
    boards = await _rebuild_boards(client, bootstrap, events)
    alerts = await _rebuild_recent(client, bootstrap, ALERTS.name, keys.ALERTS_RECENT, RECENT_ALERTS, _alert_line)
    await _rebuild_department_alerts(client, bootstrap)
    audits = await _rebuild_recent(client, bootstrap, AUDIT.name, keys.AUDIT_RECENT, AUDIT_KEEP, _audit_line)
    requests = await _rebuild_open311(client, bootstrap)
    return {"cases": len(states), "open_cases": open_cases, "facts": len(facts), "tasks": boards,
            "alerts": alerts, "audit": audits, "open311_requests": requests}


# What every Open311 submission's event carries (the log is written by orjson, no spaces).
_OPEN311_MARK = b'"channel":"open311"'


async def _rebuild_open311(client: aioredis.Redis, bootstrap: str) -> int:
    """The Open311 requests still on ``hotline-events`` (its retention).

    The case each joined is found again by the first GET, as for a new request (the rebuilt
    observation -> case assignments answer it).
    """
    pipe = client.pipeline(transaction=False)
    count = 0
    for rec in await _read(bootstrap, HOTLINE_EVENTS.name):
        if _OPEN311_MARK not in (rec.value or b""):
            continue
        try:
            event = decode(HotlineEvent, rec.value)
        except DecodeError:
            continue  # dead-lettered by the hotline stage when it arrived
        record = open311_record(event)
        pipe.set(keys.open311_request(event.event_id), json.dumps(record, ensure_ascii=False))
        pipe.zadd(keys.OPEN311_REQUESTS, {event.event_id: event.received_at})
        count += 1
    await pipe.execute()
    return count


async def _rebuild_boards(client: aioredis.Redis, bootstrap: str, events: list[CaseEvent]) -> int:
    changes: list[tuple[str, str, Callable[[dict[str, Any] | None], Any]]] = []
    for rec in await _read(bootstrap, DISPATCH_TASKS.name):
        with contextlib.suppress(DecodeError):
            task = decode_dict(DispatchTask, rec.value)
            changes.append((task["department"], task["task_id"], functools.partial(_merge_task, task)))
    for ev in events:
        update = board_update(ev)
        if update is not None:
            changes.append((update["department"], update["task_id"], functools.partial(_apply_update, update)))
    for start in range(0, len(changes), 2000):  # one transaction per slice: never hold Redis for long
        await update_boards(client, changes[start:start + 2000])
    return len({task_id for _, task_id, _ in changes})


def _merge_task(task: dict[str, Any], existing: dict[str, Any] | None) -> dict[str, Any]:
    return merge_task(existing, task)


def _apply_update(update: dict[str, Any], existing: dict[str, Any] | None) -> dict[str, Any] | None:
    return apply_field_update(existing, update)


def _alert_line(raw: bytes) -> tuple[float, str] | None:
    try:
        alert = decode_dict(Alert, raw)
    except DecodeError:
        return None
    return float(alert["at"]), dumps(alert).decode()


# How far back each department's own alert list is rebuilt from (records per partition of ``alerts``).
DEPARTMENT_ALERTS_TAIL = 20_000


async def _rebuild_department_alerts(client: aioredis.Redis, bootstrap: str) -> int:
    """Each department's own latest alerts (see ``agents.console.keep_alert``), from the tail of ``alerts``."""
    by_department: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for rec in await _read(bootstrap, ALERTS.name, tail=DEPARTMENT_ALERTS_TAIL):
        with contextlib.suppress(DecodeError):
            alert = decode_dict(Alert, rec.value)
            if alert["department"]:
                by_department[alert["department"]].append((float(alert["at"]), dumps(alert).decode()))
    if not by_department:
        return 0
    pipe = client.pipeline(transaction=True)
    for department, lines in by_department.items():
        newest = sorted(lines)[-RECENT_ALERTS:]
        pipe.delete(keys.alerts_recent_of(department))
        pipe.lpush(keys.alerts_recent_of(department), *(text for _, text in newest))
    await pipe.execute()
    return len(by_department)


def _audit_line(raw: bytes) -> tuple[float, str] | None:
    try:
        entry = loads(raw)
    except ValueError:
        return None
    return (float(entry.get("at") or 0.0), raw.decode()) if isinstance(entry, dict) else None


async def _rebuild_recent(client: aioredis.Redis, bootstrap: str, topic: str, key: str, keep: int,
                          line: Any) -> int:
    """A capped newest-first list from the newest ``keep`` records of ``topic`` (every partition)."""
    lines = [x for x in (line(r.value) for r in await _read(bootstrap, topic, tail=keep)) if x is not None]
    newest = sorted(lines)[-keep:]
    if not newest:
        return 0
    pipe = client.pipeline(transaction=True)
    pipe.delete(key)
    pipe.lpush(key, *(text for _, text in newest))  # oldest pushed first: the newest ends up at the head
    await pipe.execute()
    return len(newest)


async def ensure_views(client: aioredis.Redis, city: CityConfig, bootstrap: str, timeout_s: float = 300.0) -> None:
    """Make sure the views exist; rebuild them all from the log if Redis lost them (one worker, under a lock)."""
    global _checked_at
    if time.monotonic() - _checked_at < _CHECK_EVERY_S:
        return
    deadline = time.monotonic() + timeout_s
    while not await client.exists(keys.CASE_INDEX_READY):
        token = uuid.uuid4().hex
        if await client.set(keys.CASE_INDEX_LOCK, token, nx=True, ex=int(timeout_s)):
            try:
                counts = await rebuild_views(client, city, bootstrap)
                await client.set(keys.CASE_INDEX_READY, str(time.time()))
                log.warning("Redis views rebuilt from the log: %s", counts)
            finally:
                with contextlib.suppress(Exception):
                    if await client.get(keys.CASE_INDEX_LOCK) == token.encode():
                        await client.delete(keys.CASE_INDEX_LOCK)
            break
        if time.monotonic() > deadline:
            raise TimeoutError("another worker holds the views lock and has not finished rebuilding")
        await asyncio.sleep(0.2)
    _checked_at = time.monotonic()


async def _check(now: float, out: Outbox) -> None:
    await ensure_views(redis(), city(), current_settings().bootstrap_servers)


def stages() -> list[TimerStage]:
    # On every worker: a Redis that lost its data is noticed within seconds, whether or not reports flow.
    return [TimerStage("views", 5.0, _check)]
