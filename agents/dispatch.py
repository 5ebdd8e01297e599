"""Dispatch stage: a new, reopened or rejected case goes to the department that must act.

Reads ``case-events``; routes with config rules first and the model learned from
history second (:class:`detectors.text.Router`); above the confidence threshold
the case is dispatched automatically (a task on ``dispatch-tasks`` keyed by
department), below it goes to the human triage queue. Either way the case is
told (``case-commands``) and operators get an alert.

Exactly one task per (case, dispatch number): a Redis claim is taken before the
task is produced and marked sent after the broker acknowledged it, so a
redelivered event finds the claim and produces nothing. A claim still "pending"
(the worker was killed between producing and marking) is settled by reading the
task topic back (:mod:`agents.task_log`): the task is produced only if it is not there.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from functools import cache
from typing import Any

from agents.task_log import tasks_on_topic
from detectors.text import RouteDecision, RouteQuery, Router
from schemas.records import SCHEMA_VERSION, Alert, CaseCommand, CaseEvent, DispatchTask
from streams import redis_keys as keys
from streams.app import app, city, consume, decode_events, produce, redis, topic
from streams.metrics import (
    DISPATCHES,
    EVENT_TO_ALERT,
    HOTLINE_TO_DISPATCH,
    OBSERVATION_TO_TASK,
    STAGE_SECONDS,
)
from streams.topics import ALERTS, CASE_COMMANDS, CASE_EVENTS, DISPATCH_TASKS

__all__ = ["dispatch_cases"]

BATCH = 500
BATCH_WAIT_S = 0.01
NEEDS_ROUTING = ("opened", "reopened", "rejected", "assigned")
_ALERTS = {
    "dispatched": ("info", "New case dispatched"),
    "rerouted": ("info", "Case re-routed"),
    "triaged": ("warning", "Case needs triage"),
    "reopened": ("warning", "Case reopened"),
    "priority_raised": ("warning", "Repeat reports: priority raised"),
    "escalated": ("critical", "SLA breached: escalated"),
    "reminder": ("info", "SLA deadline approaching"),
    "rejected": ("warning", "Crew rejected case: wrong department"),
    "assigned": ("info", "Operator assigned case"),
}


@cache
def _router() -> Router:
    return Router.load(city())


def _decide(events: list[CaseEvent]) -> list[RouteDecision]:
    """Route every case that needs a department; a crew's suggestion wins on a rejection."""
    queries = [RouteQuery(ev.kind, ev.category, ev.reason, ev.district, ev.text) for ev in events]
    decisions = _router().route(queries)
    departments = {d.id for d in city().departments}
    out = []
    for ev, decision in zip(events, decisions, strict=True):
        suggested = ev.detail.get("suggested_department", "")
        if ev.type == "assigned":
            decision = RouteDecision(ev.detail["department"], 1.0, "operator", True)
        elif ev.type == "rejected":
            if suggested in departments and suggested != ev.department:
                decision = RouteDecision(suggested, 1.0, "crew", True)
            else:
                decision = RouteDecision(city().routing.triage_department, 0.0, "triage", False)
        out.append(decision)
    return out


CLAIM_TTL_S = 30 * 24 * 3600


async def _claim(claim_keys: list[str]) -> list[str]:
    """State of each dispatch claim: "new" (taken now), "sent" (done before) or "pending".

    One round trip: SET NX takes free claims, GET reads the others. "pending" means an
    earlier attempt died between taking the claim and marking it sent: its task may or
    may not have reached the broker.
    """
    pipe = redis().pipeline(transaction=False)
    for key in claim_keys:
        pipe.set(key, "pending", nx=True, ex=CLAIM_TTL_S)
        pipe.get(key)
    replies = await pipe.execute()
    return ["new" if taken else "sent" if value == b"sent" else "pending"
            for taken, value in zip(replies[::2], replies[1::2], strict=True)]


@app.agent(topic(CASE_EVENTS))
async def dispatch_cases(stream: Any) -> None:
    await consume(stream, "dispatch", CASE_EVENTS, _handle, BATCH, BATCH_WAIT_S)


async def _handle(events: Sequence[Any]) -> None:
    started = time.perf_counter()
    case_events = [ev for _, ev in await decode_events("dispatch", events, CaseEvent)]
    await _dispatch([ev for ev in case_events if ev.type in NEEDS_ROUTING])
    await _alert([ev for ev in case_events if ev.type in _ALERTS])
    STAGE_SECONDS.labels("dispatch").observe((time.perf_counter() - started) / max(1, len(events)))


async def _dispatch(to_route: list[CaseEvent]) -> None:
    if not to_route:
        return
    decisions = _decide(to_route)
    pending = []
    claimed = []
    now = time.time()
    claim_keys = [keys.dispatch_claim(ev.case_id, ev.dispatch_no + 1) for ev in to_route]
    claims = await _claim(claim_keys)
    pending_ids = {f"{ev.case_id}/{ev.dispatch_no + 1}" for ev, c in zip(to_route, claims, strict=True)
                   if c == "pending"}
    already = await tasks_on_topic(pending_ids) if pending_ids else set()
    for ev, decision, key, claim in zip(to_route, decisions, claim_keys, claims, strict=True):
        if claim == "sent":
            continue
        dispatch_no = ev.dispatch_no + 1
        claimed.append(key)
        outcome = "auto" if decision.auto else "triage"
        DISPATCHES.labels(outcome, decision.source).inc()
        if decision.auto and f"{ev.case_id}/{dispatch_no}" not in already:
            task = DispatchTask(
                schema_version=SCHEMA_VERSION,
                task_id=f"{ev.case_id}/{dispatch_no}",
                case_id=ev.case_id,
                dispatch_no=dispatch_no,
                department=decision.department,
                kind=ev.kind,
                category=ev.category,
                reason=ev.reason,
                district=ev.district,
                lat=ev.lat,
                lon=ev.lon,
                priority=ev.priority,
                created_at=now,
                first_observed_at=ev.first_observed_at,
                sla_deadline=0.0,
                confidence=round(decision.confidence, 4),
                route_source=decision.source,
                summary=ev.text[:300],
                evidence=[ev.detail["evidence"]] if ev.detail.get("evidence") else [],
            )
            pending.append(await produce(DISPATCH_TASKS, decision.department, task))
            if ev.type == "opened":
                waited = max(0.0, now - float(ev.detail.get("ingested_at", now)))
                OBSERVATION_TO_TASK.observe(waited)
                if ev.detail.get("source") != "camera":
                    HOTLINE_TO_DISPATCH.observe(waited)
        command = CaseCommand(
            schema_version=SCHEMA_VERSION,
            command_id=f"dispatch:{ev.case_id}:{dispatch_no}",
            case_id=ev.case_id,
            type="dispatched" if decision.auto else "triaged",
            at=now,
            department=decision.department,
            confidence=round(decision.confidence, 4),
            route_source=decision.source,
            detail={"dispatch_no": str(dispatch_no)},
        )
        pending.append(await produce(CASE_COMMANDS, ev.case_id, command))
    await asyncio.gather(*pending)
    if claimed:
        pipe = redis().pipeline(transaction=False)
        for key in claimed:
            pipe.set(key, "sent", ex=CLAIM_TTL_S)
        await pipe.execute()


async def _alert(case_events: list[CaseEvent]) -> None:
    pending = []
    now = time.time()
    for ev in case_events:
        severity, title = _ALERTS[ev.type]
        alert = Alert(
            schema_version=SCHEMA_VERSION,
            alert_id=f"alert:{ev.event_id}",
            case_id=ev.case_id,
            type=ev.type,
            severity=severity,
            at=now,
            title=title,
            kind=ev.kind,
            district=ev.district,
            lat=ev.lat,
            lon=ev.lon,
            department=ev.department,
            status=ev.status,
        )
        if ev.type in ("dispatched", "triaged") and ev.dispatch_no == 1 and "ingested_at" in ev.detail:
            EVENT_TO_ALERT.observe(max(0.0, now - float(ev.detail["ingested_at"])))
        pending.append(await produce(ALERTS, ev.case_id, alert))
    await asyncio.gather(*pending)
