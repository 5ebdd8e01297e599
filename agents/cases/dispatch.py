"""Dispatch: a new, reopened or rejected case goes to the department that must act.

Called by the case stage's command step (:mod:`agents.cases.commands`) in the same step that emitted the
case's event, so the decision lands on the case's state without another trip
through the broker. Routes with config rules first and the model learned from
history second (:class:`detectors.text.Router`); above the confidence threshold
the case is dispatched automatically (a task on ``dispatch-tasks`` keyed by
department), below it goes to the human triage queue. Either way the decision
comes back as a ``dispatched``/``triaged`` command that the lifecycle applies.

Exactly one task per (case, dispatch number): a Redis claim is taken before the
task is produced and marked sent after the broker acknowledged it, so a
redelivered event finds the claim and produces nothing. A claim still "pending"
(the worker was killed between producing and marking) is settled by reading the
task topic back (:mod:`agents.cases.task_log`): the task is produced only if it is not there.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import redis.asyncio as aioredis

from agents.logic.lifecycle import sla_deadline
from config.models import CityConfig
from detectors.text import RouteDecision, RouteQuery, Router
from schemas.records import Alert, CaseCommand, CaseEvent, DispatchTask
from streams import redis_keys as keys
from streams.metrics import DISPATCHES, EVENT_TO_ALERT, HOTLINE_TO_DISPATCH, OBSERVATION_TO_TASK
from streams.outbox import Outbox
from streams.redis_scripts import script
from streams.topics import ALERTS, DISPATCH_TASKS

__all__ = [
    "ALERTS_FOR",
    "NEEDS_ROUTING",
    "DispatchPlan",
    "Dispatcher",
    "alert",
    "intake_route",
    "route_query",
]

NEEDS_ROUTING = ("opened", "reopened", "rejected", "assigned")
ALERTS_FOR = {
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
CLAIM_TTL_S = 30 * 24 * 3600

# Where the report's point is the problem's place (not a district's or the city's centre), the
# dispatch model also uses what history says about that place (detectors/text/spatial.py).
PRECISE_POINTS = ("exact", "address", "camera")


def route_query(ev: CaseEvent) -> RouteQuery:
    """What the router is asked about a case event; the point only when the report placed it precisely.

    A problem reported again after its fix (``reopened``) is a repeated petition, whatever the report says.
    """
    report = ev.report
    precise = report is not None and report.location_precision in PRECISE_POINTS
    petition = report.petition if report is not None else 1
    if ev.type == "reopened":
        petition = max(petition, 2)
    return RouteQuery(ev.kind, ev.category, ev.reason, ev.district, ev.text,
                      lat=ev.lat if precise else None, lon=ev.lon if precise else None,
                      has_address=report.has_address if report is not None else None, petition=petition)


def intake_route(ev: CaseEvent, departments: set[str]) -> RouteDecision | None:
    """The route an ``opened`` event's report brought from its intake stage, if it names a known department."""
    route = ev.route
    if ev.type != "opened" or route is None or route.department not in departments:
        return None
    if route.source not in ("rule", "model", "triage"):
        return None
    return RouteDecision(route.department, route.confidence, route.source, route.source != "triage")


# Per key: take the claim (SET NX "pending") or read what it holds. Returns "new" or the value.
_CLAIM_LUA = """
local out = {}
for i, key in ipairs(KEYS) do
  if redis.call('SET', key, 'pending', 'NX', 'EX', ARGV[1]) then
    out[i] = 'new'
  else
    out[i] = redis.call('GET', key) or 'pending'
  end
end
return out
"""
_MARK_SENT_LUA = """
for _, key in ipairs(KEYS) do redis.call('SET', key, 'sent', 'EX', ARGV[1]) end
return #KEYS
"""


@dataclass
class DispatchPlan:
    """What one batch's dispatch produced: decisions to apply and claims to mark sent (tasks are in the outbox)."""

    commands: list[CaseCommand] = field(default_factory=list)
    claimed: list[str] = field(default_factory=list)


@dataclass
class Dispatcher:
    """Routes, claims and queues the tasks of the cases one batch of commands made need a department.

    :param city: the city (departments, triage queue, SLAs)
    :param redis: where dispatch claims are kept
    :param router: the city's router, loaded at first use
    :param tasks_on_topic: which task ids the task topic already holds (settles "pending" claims)
    """

    city: CityConfig
    redis: aioredis.Redis
    router: Callable[[], Router]
    tasks_on_topic: Callable[[set[str]], Awaitable[set[str]]]

    def decide(self, events: list[CaseEvent]) -> list[RouteDecision]:
        """Route every case that needs a department; an operator's choice or a crew's suggestion wins.

        A case opened by a report routed at intake (hotline) keeps that route; the others go through the router.
        """
        departments = {d.id for d in self.city.departments}
        triage = self.city.routing.triage_department
        known = [intake_route(ev, departments | {triage}) for ev in events]
        todo = [ev for ev, decision in zip(events, known, strict=True) if decision is None]
        routed = iter(self.router().route([route_query(ev) for ev in todo]) if todo else [])
        decisions = [decision if decision is not None else next(routed) for decision in known]
        out = []
        for ev, decision in zip(events, decisions, strict=True):
            if ev.type == "assigned" and ev.route is not None:
                decision = RouteDecision(ev.route.department, 1.0, "operator", True)
            elif ev.type == "rejected":
                if ev.suggested_department in departments and ev.suggested_department != ev.department:
                    decision = RouteDecision(ev.suggested_department, 1.0, "crew", True)
                else:
                    decision = RouteDecision(triage, 0.0, "triage", False)
            out.append(decision)
        return out

    async def _claim(self, claim_keys: list[str]) -> list[str]:
        """State of each dispatch claim: "new" (taken now), "sent" (done before) or "pending".

        One atomic call for the batch. "pending" means an earlier attempt died between
        taking the claim and marking it sent: its task may or may not have reached the broker.
        """
        replies = await script(self.redis, _CLAIM_LUA)(keys=claim_keys, args=[CLAIM_TTL_S])
        states = [r.decode() if isinstance(r, bytes) else str(r) for r in replies]
        return [s if s in ("new", "sent") else "pending" for s in states]

    def _task(self, ev: CaseEvent, decision: RouteDecision, dispatch_no: int, now: float) -> DispatchTask:
        evidence = ev.report.evidence if ev.report is not None else ""
        return DispatchTask(
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
            sla_deadline=sla_deadline(self.city, ev.kind, ev.priority, ev.first_observed_at),
            confidence=round(decision.confidence, 4),
            route_source=decision.source,
            summary=ev.text[:300],
            evidence=[evidence] if evidence else [],
        )

    async def plan(self, to_route: list[CaseEvent], outbox: Outbox) -> DispatchPlan:
        """Decide, claim and queue the tasks for ``to_route`` (case events, at most one per case) in ``outbox``.

        Returns the ``dispatched``/``triaged`` commands for the lifecycle; a claim already
        "sent" means this event was handled before (its command and events too): skipped.
        """
        plan = DispatchPlan()
        if not to_route:
            return plan
        decisions = self.decide(to_route)
        now = time.time()
        claim_keys = [keys.dispatch_claim(ev.case_id, ev.dispatch_no + 1) for ev in to_route]
        claims = await self._claim(claim_keys)
        pending_ids = {f"{ev.case_id}/{ev.dispatch_no + 1}" for ev, c in zip(to_route, claims, strict=True)
                       if c == "pending"}
        already = await self.tasks_on_topic(pending_ids) if pending_ids else set()
        for ev, decision, key, claim in zip(to_route, decisions, claim_keys, claims, strict=True):
            if claim == "sent":
                continue
            dispatch_no = ev.dispatch_no + 1
            plan.claimed.append(key)
            DISPATCHES.labels("auto" if decision.auto else "triage", decision.source).inc()
            if decision.auto and f"{ev.case_id}/{dispatch_no}" not in already:
                outbox.add_record(DISPATCH_TASKS, decision.department, self._task(ev, decision, dispatch_no, now))
                if ev.type == "opened" and ev.report is not None:
                    waited = max(0.0, now - ev.report.ingested_at)
                    OBSERVATION_TO_TASK.observe(waited)
                    if ev.report.source != "camera":
                        HOTLINE_TO_DISPATCH.observe(waited)
            plan.commands.append(CaseCommand(
                command_id=f"dispatch:{ev.case_id}:{dispatch_no}",
                case_id=ev.case_id,
                type="dispatched" if decision.auto else "triaged",
                at=now,
                department=decision.department,
                confidence=round(decision.confidence, 4),
                route_source=decision.source,
                dispatch_no=dispatch_no,
            ))
        return plan

    async def mark_sent(self, plan: DispatchPlan) -> None:
        """After the broker acknowledged the plan's tasks: their claims are done for good."""
        if plan.claimed:
            await script(self.redis, _MARK_SENT_LUA)(keys=plan.claimed, args=[CLAIM_TTL_S])


def alert(ev: CaseEvent, now: float, outbox: Outbox) -> None:
    """Queue the console alert for a case event whose type is in :data:`ALERTS_FOR`."""
    severity, title = ALERTS_FOR[ev.type]
    if ev.type in ("dispatched", "triaged") and ev.dispatch_no == 1 and ev.first_ingested_at:
        EVENT_TO_ALERT.observe(max(0.0, now - ev.first_ingested_at))
    outbox.add_record(ALERTS, ev.case_id, Alert(
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
    ))
