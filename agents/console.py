"""Console projection: what operators and crews see live, kept in Redis for every web worker.

Four consumers, each a thin adapter from one topic to Redis:

* :data:`PROJECT_CASES` (``case-state``, a batch consumer): each case's document (its
  state, timeline and observations) and the by-status, by-update and SLA-deadline
  indexes the console, Open311 and the SLA follow-up read;
* :data:`PROJECT_ALERTS` (``alerts``, a batch consumer): publish each alert on
  ``ALERTS_CHANNEL`` (every web worker fans it out to its consoles) and keep the
  latest 200 in ``ALERTS_RECENT`` and in its department's own list;
* :data:`PROJECT_TASKS` (``dispatch-tasks``, a batch consumer): put each task on its
  department's board;
* the boards' step (``case-events``, a batch consumer): move the task along its board
  (acknowledged, in progress, resolved, rejected) with the crew's note, as the case stage
  accepted the crew's update. An update the case stage refused (another department's
  task, a task that does not exist, a resolve of a rejected task) leaves no trace here;
* a timer that drops tasks finished two weeks ago from the boards.

Redelivery is harmless: a case state older than the document (by its ``seq``) is
skipped and timeline entries are recognised by event id, a redelivered alert replaces its own copy in the recent
list (consoles drop alert ids they already show), a redelivered task keeps the
board's progress, a redelivered update is recognised by its id.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from typing import Any

import redis.asyncio as aioredis

from agents.cases.index import TIMELINE_KEEP, observation_entry, timeline_entry, write_case_view
from agents.logic.tasks import status_after
from schemas.codec import DecodeError, decode_dict, decode_own, dumps, loads
from schemas.records import Alert, CaseEvent, CaseState, DispatchTask, Record
from streams import redis_keys as keys
from streams.app import city, redis
from streams.batch_consumer import RecordEvent
from streams.metrics import observe_batch
from streams.outbox import Outbox
from streams.stage import BatchStage, TimerStage, decode_batch
from streams.topics import ALERTS, CASE_EVENTS, CASE_STATE, DEADLETTER, DISPATCH_TASKS

__all__ = [
    "apply_field_update",
    "board_update",
    "case_document",
    "keep_alert",
    "merge_task",
    "stages",
    "update_boards",
]

STAGE = "console"
BATCH = 1000
BATCH_WAIT_S = 0.1
RECENT_ALERTS = 200
FINISHED = ("resolved", "rejected")
FINISHED_KEEP_S = 14 * 86400
_HISTORY = 20


def _dumps(data: Any) -> str:
    return dumps(data).decode()


def merge_task(existing: dict[str, Any] | None, task: dict[str, Any]) -> dict[str, Any]:
    """The board entry of a dispatch task; progress already on the board survives a redelivery."""
    entry = {**task, "status": "open", "updated_at": task["created_at"], "history": []}
    if existing:
        for name in ("status", "updated_at", "history", "crew_id", "note"):
            if name in existing:
                entry[name] = existing[name]
    return entry


def apply_field_update(existing: dict[str, Any] | None, update: dict[str, Any]) -> dict[str, Any] | None:
    """The board entry after a crew's update, or None when nothing changes (already applied)."""
    entry = dict(existing) if existing else {
        "task_id": update["task_id"], "case_id": update["case_id"], "department": update["department"],
        "created_at": update["at"], "status": "open", "history": [],
    }
    history = list(entry.get("history") or [])
    if any(h.get("update_id") == update["update_id"] for h in history):
        return None
    history.append({
        "update_id": update["update_id"], "action": update["action"], "at": update["at"],
        "crew_id": update.get("crew_id", ""), "note": update.get("note", "")[:500],
        "suggested_department": update.get("suggested_department", ""),
    })
    entry["history"] = history[-_HISTORY:]
    if float(update["at"]) >= float(entry.get("updated_at") or 0.0):
        entry["status"] = status_after(update["action"])
        entry["updated_at"] = update["at"]
        entry["crew_id"] = update.get("crew_id", "")
        entry["note"] = update.get("note", "")[:500]
    return entry


def _merge(task: dict[str, Any], existing: dict[str, Any] | None) -> dict[str, Any]:
    return merge_task(existing, task)


def _apply(update: dict[str, Any], existing: dict[str, Any] | None) -> dict[str, Any] | None:
    return apply_field_update(existing, update)


async def update_boards(
    client: aioredis.Redis, changes: Sequence[tuple[str, str, Callable[[dict[str, Any] | None], Any]]]
) -> None:
    """Read-modify-write board entries atomically, one WATCH/MULTI for the whole batch.

    Two agents write boards (tasks and field updates); a concurrent write makes the
    transaction retry, so neither overwrites the other's change.
    """
    if not changes:
        return
    boards = sorted({keys.tasks_of(department) for department, _, _ in changes})

    async def attempt(pipe: Any) -> None:
        current: dict[tuple[str, str], Any] = {}
        for department, task_id, _ in changes:
            board = keys.tasks_of(department)
            if (board, task_id) not in current:
                raw = await pipe.hget(board, task_id)
                current[(board, task_id)] = loads(raw) if raw else None
        for department, task_id, change in changes:
            board = keys.tasks_of(department)
            entry = change(current[(board, task_id)])
            if entry is not None:
                current[(board, task_id)] = entry
        pipe.multi()
        for (board, task_id), entry in current.items():
            if entry is not None:
                pipe.hset(board, task_id, _dumps(entry))

    await client.transaction(attempt, *boards)


def _dicts(events: Sequence[RecordEvent], cls: type[Record], out: Outbox) -> list[dict[str, Any]]:
    """Each event's value as a validated dict (what the views store); unreadable ones dead-lettered in ``out``."""
    decoded = []
    for event in events:
        try:
            decoded.append(decode_dict(cls, event.message.value))
        except DecodeError as exc:
            out.dead_letter(STAGE, exc.reason, exc.error_type, message=event.message)
    return decoded


def keep_alert(pipe: Any, line: str, department: str) -> None:
    """Queue one alert onto the city's recent list and its department's (a redelivered copy replaces itself).

    A department's history is its own list: the city-wide one would show it only a window of it.
    """
    for recent in [keys.ALERTS_RECENT] + ([keys.alerts_recent_of(department)] if department else []):
        pipe.lrem(recent, 0, line)
        pipe.lpush(recent, line)
        pipe.ltrim(recent, 0, RECENT_ALERTS - 1)


async def _project_alerts(events: Sequence[RecordEvent], out: Outbox) -> None:
    started = time.perf_counter()
    pipe = redis().pipeline(transaction=True)
    for alert in _dicts(events, Alert, out):
        line = _dumps(alert)
        keep_alert(pipe, line, alert["department"])
        pipe.publish(keys.ALERTS_CHANNEL, line)
    await pipe.execute()
    observe_batch("console.alerts", started, len(events))


async def _project_tasks(events: Sequence[RecordEvent], out: Outbox) -> None:
    started = time.perf_counter()
    changes = []
    for task in _dicts(events, DispatchTask, out):
        changes.append((task["department"], task["task_id"], functools.partial(_merge, task)))
    await update_boards(redis(), changes)
    observe_batch("console.tasks", started, len(events))


# Fields of the case state that are the lifecycle's bookkeeping, not the console's.
_INTERNAL = ("applied", "recent_events", "observation_ids", "schema_version")


def case_document(doc: dict[str, Any] | None, state: CaseState) -> dict[str, Any] | None:
    """The console's document of a case after ``state``; ``None`` if ``doc`` is already newer.

    The timeline and observation list grow from the state's recent events, each taken once.
    """
    doc = doc or {"observations": [], "timeline": []}
    if doc.get("seq", -1) > state.seq:
        return None
    # The state's own fields are plain values (its events are internal): no JSON round trip needed.
    doc.update({k: v for k, v in vars(state).items() if k not in _INTERNAL})
    seen = {t["event_id"] for t in doc["timeline"]}
    for ev in state.recent_events:
        if ev.event_id in seen:
            continue
        doc["timeline"].append(timeline_entry(ev))
        entry = observation_entry(ev)
        if entry is not None:
            doc["observations"].append(entry)
    doc["timeline"] = doc["timeline"][-TIMELINE_KEEP:]
    return doc


def _read_states(events: Sequence[RecordEvent], out: Outbox) -> dict[str, CaseState]:
    """The latest state per case in ``events`` (``case-state`` records); unreadable ones dead-lettered."""
    latest: dict[str, CaseState] = {}
    for event in events:
        try:
            state = decode_own(CaseState, event.message.value)
        except DecodeError as exc:
            out.dead_letter(STAGE, exc.reason, exc.error_type, message=event.message)
            continue
        if state.case_id not in latest or latest[state.case_id].seq <= state.seq:
            latest[state.case_id] = state
    return latest


async def _project_cases(events: Sequence[RecordEvent], out: Outbox) -> None:
    started = time.perf_counter()
    states = _read_states(events, out)
    if not states:
        return
    client = redis()
    docs = await client.mget([keys.case_doc(cid) for cid in states])
    # One transaction: a reader never sees a case in two status sets, or in none.
    pipe = client.pipeline(transaction=True)
    for (case_id, state), raw in zip(states.items(), docs, strict=True):
        before = loads(raw) if raw else None
        previous = before.get("status") if before else None  # read first: case_document updates the doc in place
        doc = case_document(before, state)
        if doc is None:
            continue
        write_case_view(pipe, case_id, doc, previous)
    await pipe.execute()
    observe_batch("console.cases", started, len(events))


# What every case event caused by a crew's update carries (the case log is written by orjson, no spaces).
_FIELD_MARK = b'"command_id":"field:'
# The case event of an accepted crew update -> the update's action on the board.
_ACTION_OF = {"acknowledged": "acknowledge", "started": "start", "resolved": "resolve", "rejected": "reject"}


def board_update(ev: CaseEvent) -> dict[str, Any] | None:
    """A crew's update as the case stage accepted it, in the board's shape; None for any other event."""
    action = _ACTION_OF.get(ev.type)
    if action is None or not ev.command_id.startswith("field:") or ev.dispatch_no < 1:
        return None
    return {
        "update_id": ev.command_id.removeprefix("field:"), "case_id": ev.case_id,
        "task_id": f"{ev.case_id}/{ev.dispatch_no}", "department": ev.department, "action": action, "at": ev.at,
        "crew_id": ev.crew_id, "note": ev.note, "suggested_department": ev.suggested_department,
    }


async def _project_field_events(events: Sequence[RecordEvent], out: Outbox) -> None:
    changes = []
    # Only crews' accepted updates move a board: the rest of the case log is not even decoded here.
    crews = [event for event in events if _FIELD_MARK in (event.message.value or b"")]
    for _, ev in decode_batch(STAGE, crews, CaseEvent, out):
        update = board_update(ev)
        if update is not None:
            changes.append((update["department"], update["task_id"], functools.partial(_apply, update)))
    await update_boards(redis(), changes)


async def prune_boards(now: float, out: Outbox) -> None:
    """Drop tasks finished more than two weeks ago from every board (the topics keep them)."""
    client = redis()
    cutoff = now - FINISHED_KEEP_S
    for department in [d.id for d in city().departments] + [city().routing.triage_department]:
        board = keys.tasks_of(department)
        stale = [
            task_id
            for task_id, raw in (await client.hgetall(board)).items()
            if (t := loads(raw)).get("status") in FINISHED and float(t.get("updated_at") or 0) < cutoff
        ]
        if stale:
            await client.hdel(board, *stale)


def stages() -> list[BatchStage | TimerStage]:
    # Case states, alerts and tasks come at the case stage's pace: read in whole fetches.
    return [
        BatchStage(STAGE, "cityops-console-cases", CASE_STATE, _project_cases, writes=(DEADLETTER,), patient=True),
        BatchStage(STAGE, "cityops-console-alerts", ALERTS, _project_alerts, writes=(DEADLETTER,), patient=True),
        BatchStage(STAGE, "cityops-console-tasks", DISPATCH_TASKS, _project_tasks, writes=(DEADLETTER,),
                   patient=True),
        BatchStage(STAGE, "cityops-console-boards", CASE_EVENTS, _project_field_events, writes=(DEADLETTER,),
                   patient=True, max_records=BATCH),
        TimerStage("console.prune", 3600.0, prune_boards),
    ]
