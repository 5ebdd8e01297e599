"""The life of a case as an explicit state machine: commands in, state and events out.

    new ──▶ dispatched ──▶ acknowledged ──▶ in_progress ──▶ resolved ──▶ verified ──▶ closed
     │          │  ▲                                          │
     ▼          ▼  │ (re-routed)                              ▼ (reported again / camera still sees it)
   triage    rejected                                      reopened ──▶ dispatched …

:func:`apply` is pure: the same state and command always give the same result,
so a command redelivered after a crash yields the very events it yielded the
first time (they are kept in ``state["recent_events"]`` and re-emitted), and
event ids are deterministic (case id + sequence number).

States, commands and events are the typed records of :mod:`schemas.records`
(:class:`CaseState`, :class:`CaseCommand`, :class:`CaseEvent`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from config.models import CityConfig
from schemas.records import CaseCommand, CaseEvent, CaseState, Observation, Report, Route

__all__ = [
    "CLOSED_STATUSES",
    "OPEN_STATUSES",
    "Outcome",
    "apply",
    "priority_for",
    "report_of",
    "sla_deadline",
]

OPEN_STATUSES = ("new", "triage", "dispatched", "acknowledged", "in_progress", "rejected", "reopened")
CLOSED_STATUSES = ("verified", "closed")
# Repeat reports raise priority: this many reports make a case high, then urgent.
HIGH_AT_REPORTS = 3
URGENT_AT_REPORTS = 6
_PRIORITY_RANK = {"normal": 0, "high": 1, "urgent": 2}
# Field actions allowed from each status (anything else is refused with a reason).
_FIELD_FROM = {
    "acknowledge": ("dispatched", "reopened"),
    "start": ("dispatched", "acknowledged", "reopened"),
    "resolve": ("dispatched", "acknowledged", "in_progress", "reopened"),
    "reject": ("dispatched", "acknowledged", "reopened"),
}
_FIELD_TO = {"acknowledge": "acknowledged", "start": "in_progress", "resolve": "resolved", "reject": "rejected"}
_FIELD_EVENT = {"acknowledge": "acknowledged", "start": "started", "resolve": "resolved", "reject": "rejected"}
_KEEP_COMMANDS = 200
_KEEP_EVENTS = 40
_KEEP_OBSERVATIONS = 500
_TEXT_IN_EVENT = 500


@dataclass
class Outcome:
    """What applying one command did: the new state, the events to emit, or why it was refused."""

    state: CaseState | None
    events: list[CaseEvent] = field(default_factory=list)
    refused: str = ""
    duplicate: bool = False


def priority_for(reports: int, current: str = "normal") -> str:
    """Priority after ``reports`` reports; never lowers a priority set earlier."""
    by_count = "urgent" if reports >= URGENT_AT_REPORTS else "high" if reports >= HIGH_AT_REPORTS else "normal"
    return by_count if _PRIORITY_RANK[by_count] > _PRIORITY_RANK[current] else current


def sla_deadline(city: CityConfig, kind: str, priority: str, first_observed_at: float) -> float:
    hours = getattr(city.kind(kind).sla, priority)
    return first_observed_at + hours * 3600.0


def _event(state: CaseState, etype: str, at: float, command_id: str, **extra: object) -> CaseEvent:
    state.seq += 1
    return CaseEvent(
        event_id=f"{state.case_id}:{state.seq}",
        case_id=state.case_id,
        type=etype,
        at=at,
        status=state.status,
        kind=state.kind,
        category=state.category,
        reason=state.reason,
        district=state.district,
        lat=state.lat,
        lon=state.lon,
        priority=state.priority,
        reports=state.reports,
        department=state.department,
        sla_deadline=state.sla_deadline,
        opened_at=state.opened_at,
        first_observed_at=state.first_observed_at,
        first_ingested_at=state.first_ingested_at,
        dispatch_no=state.dispatch_no,
        text=state.text,
        command_id=command_id,
        **extra,  # type: ignore[arg-type]
    )


def _new_state(case_id: str, obs: Observation, at: float) -> CaseState:
    return CaseState(
        case_id=case_id,
        status="new",
        kind=obs.kind,
        category=obs.category,
        reason=obs.reason,
        district=obs.district,
        lat=obs.lat,
        lon=obs.lon,
        opened_at=at,
        updated_at=at,
        first_observed_at=obs.observed_at,
        first_ingested_at=obs.ingested_at,
        last_observed_at=obs.observed_at,
        text=obs.text,
    )


def report_of(obs: Observation) -> Report:
    """What a case event keeps of the observation it attaches."""
    return Report(
        observation_id=obs.observation_id,
        source=obs.source,
        source_id=obs.source_id,
        observed_at=obs.observed_at,
        ingested_at=obs.ingested_at,
        camera_id=obs.camera_id,
        evidence=obs.evidence,
        confidence=round(float(obs.confidence), 3),
        text=obs.text[:_TEXT_IN_EVENT],
        location_precision=obs.location_precision,
        has_address=obs.has_address,
        petition=obs.petition,
        address=obs.address,
        bbox=list(obs.bbox),
    )


def _attach(state: CaseState | None, cmd: CaseCommand, city: CityConfig, at: float) -> Outcome:
    obs = cmd.observation
    if obs is None:
        return Outcome(state, refused="attach command without an observation")
    if state is None:
        state = _new_state(cmd.case_id, obs, at)
    elif obs.observation_id in state.observation_ids:
        return Outcome(state, duplicate=True)
    state.reports += 1
    state.observation_ids = [*state.observation_ids, obs.observation_id][-_KEEP_OBSERVATIONS:]
    state.sources = {**state.sources, obs.source: state.sources.get(obs.source, 0) + 1}
    if obs.camera_id and obs.camera_id not in state.cameras:
        state.cameras = [*state.cameras, obs.camera_id]
    state.last_observed_at = max(state.last_observed_at, obs.observed_at)
    state.first_observed_at = min(state.first_observed_at, obs.observed_at)
    if not state.text and obs.text:
        state.text = obs.text
    cid = cmd.command_id
    report = report_of(obs)
    events = []
    if state.reports == 1:
        # The intake stage's route (a hotline report's): the dispatch step uses it for the case opened here.
        route = Route(department=obs.department, confidence=obs.route_confidence, source=obs.route_source) \
            if obs.department else None
        events.append(_event(state, "opened", at, cid, report=report, route=route))
    elif state.status in ("resolved", "verified", "closed"):
        state.status = "reopened"
        state.resolved_at = 0.0
        events.append(_event(state, "reopened", at, cid, report=report, why="reported again after resolution"))
    else:
        events.append(_event(state, "merged", at, cid, report=report))
    raised = priority_for(state.reports, state.priority)
    if raised != state.priority:
        state.priority = raised
        if state.sla_deadline:
            state.sla_deadline = min(
                state.sla_deadline, sla_deadline(city, state.kind, raised, state.first_observed_at))
        events.append(_event(state, "priority_raised", at, cid))
    return Outcome(state, events)


def _dispatched(state: CaseState, cmd: CaseCommand, city: CityConfig, at: float) -> Outcome:
    if cmd.dispatch_no <= state.dispatch_no:
        return Outcome(state, duplicate=True)
    state.dispatch_no = cmd.dispatch_no
    state.department = cmd.department
    state.route_confidence = cmd.confidence
    state.route_source = cmd.route_source
    route = Route(department=cmd.department, confidence=cmd.confidence, source=cmd.route_source)
    if cmd.type == "triaged":
        state.status = "triage"
        return Outcome(state, [_event(state, "triaged", at, cmd.command_id, route=route)])
    rerouted = state.status == "rejected"
    state.status = "dispatched"
    state.sla_deadline = sla_deadline(city, state.kind, state.priority, state.first_observed_at)
    etype = "rerouted" if rerouted else "dispatched"
    return Outcome(state, [_event(state, etype, at, cmd.command_id, route=route)])


def _field(state: CaseState, cmd: CaseCommand, at: float) -> Outcome:
    update = cmd.field
    if update is None:
        return Outcome(state, refused="field command without update")
    action = update.action
    if update.department != state.department:
        return Outcome(state, refused=f"department {update.department!r} does not hold case "
                                      f"{state.case_id} (held by {state.department!r})")
    if state.status not in _FIELD_FROM[action]:
        return Outcome(state, refused=f"cannot {action} a case that is {state.status}")
    state.status = _FIELD_TO[action]
    extra: dict[str, object] = {"crew_id": update.crew_id, "note": update.note[:500]}
    if action == "resolve":
        state.resolved_at = at
    if action == "reject":
        state.rejected_by = [*state.rejected_by, state.department]
        extra["suggested_department"] = update.suggested_department
    return Outcome(state, [_event(state, _FIELD_EVENT[action], at, cmd.command_id, **extra)])


def _assign(state: CaseState, cmd: CaseCommand, at: float) -> Outcome:
    """An operator sends a case to a department (from triage, or over a crew's rejection)."""
    if state.status in ("resolved", *CLOSED_STATUSES):
        return Outcome(state, refused=f"cannot assign a case that is {state.status}")
    if not cmd.department:
        return Outcome(state, refused="assign command without a department")
    route = Route(department=cmd.department, confidence=1.0, source="operator")
    return Outcome(state, [_event(state, "assigned", at, cmd.command_id, route=route, by=cmd.by)])


def _verify(state: CaseState, cmd: CaseCommand, at: float) -> Outcome:
    if state.status != "resolved":
        return Outcome(state, refused=f"only a resolved case can be verified; case is {state.status}")
    cid = cmd.command_id
    if cmd.violation == "present":
        state.status = "reopened"
        state.resolved_at = 0.0
        return Outcome(state, [_event(state, "reopened", at, cid, why="camera still sees the violation")])
    state.status = "verified"
    events = [_event(state, "verified", at, cid, by=cmd.by)]
    state.status = "closed"
    events.append(_event(state, "closed", at, cid))
    return Outcome(state, events)


def _review(state: CaseState, cmd: CaseCommand, at: float) -> Outcome:
    """An operator's verdict on what a camera saw: ``confirmed`` changes nothing, ``false_positive`` closes it."""
    if state.status in CLOSED_STATUSES:
        return Outcome(state, refused=f"cannot review a case that is {state.status}")
    if cmd.verdict == "confirmed":
        return Outcome(state, [_event(state, "confirmed", at, cmd.command_id, by=cmd.by)])
    if cmd.verdict != "false_positive":
        return Outcome(state, refused=f"unknown review verdict {cmd.verdict!r}")
    state.status = "closed"
    state.close_reason = "false_positive"
    return Outcome(state, [_event(state, "closed", at, cmd.command_id, why="false_positive", by=cmd.by)])


def _sla(state: CaseState, cmd: CaseCommand, at: float) -> Outcome:
    deadline = state.sla_deadline
    if cmd.sla == "close":
        if state.status != "resolved":
            return Outcome(state, duplicate=True)
        state.status = "closed"
        return Outcome(state, [_event(state, "closed", at, cmd.command_id, why="no new report after resolution")])
    if state.status in ("resolved", *CLOSED_STATUSES) or not deadline:
        return Outcome(state, duplicate=True)
    if cmd.sla == "reminder" and state.reminded != deadline:
        state.reminded = deadline
        return Outcome(state, [_event(state, "reminder", at, cmd.command_id, deadline=deadline)])
    if cmd.sla == "escalate" and state.escalated != deadline:
        state.escalated = deadline
        return Outcome(state, [_event(state, "escalated", at, cmd.command_id, deadline=deadline)])
    return Outcome(state, duplicate=True)


def _shallow_copy(state: CaseState) -> CaseState:
    copy = object.__new__(CaseState)  # a third of dataclasses.replace's cost: no __init__ over 32 fields
    copy.__dict__.update(state.__dict__)
    return copy


def apply(state: CaseState | None, cmd: CaseCommand, city: CityConfig) -> Outcome:
    """Apply one case command to ``state``.

    Returns a new state (the input is not mutated). A command seen before yields
    the events it yielded then, so a redelivered command re-emits, never re-decides.
    """
    if state is not None and cmd.command_id in state.applied:
        replay = [e for e in state.recent_events if e.command_id == cmd.command_id]
        return Outcome(state, replay, duplicate=True)
    # A shallow copy is enough: transitions replace the lists and dicts they change, never mutate them.
    work = _shallow_copy(state) if state is not None else None
    at = float(cmd.at)
    ctype = cmd.type
    if ctype == "attach":
        out = _attach(work, cmd, city, at)
    elif work is None:
        return Outcome(None, refused=f"case {cmd.case_id} does not exist")
    elif ctype in ("dispatched", "triaged"):
        out = _dispatched(work, cmd, city, at)
    elif ctype == "field":
        out = _field(work, cmd, at)
    elif ctype == "verify":
        out = _verify(work, cmd, at)
    elif ctype == "assign":
        out = _assign(work, cmd, at)
    elif ctype == "sla":
        out = _sla(work, cmd, at)
    elif ctype == "review":
        out = _review(work, cmd, at)
    else:
        return Outcome(state, refused=f"unknown command type {ctype!r}")
    if out.state is not None and (out.events or out.refused):
        out.state.applied = [*out.state.applied, cmd.command_id][-_KEEP_COMMANDS:]
        out.state.recent_events = [*out.state.recent_events, *out.events][-_KEEP_EVENTS:]
        out.state.updated_at = max(out.state.updated_at, at)
    return out
