"""The command step: case commands are applied to their cases, and cases that need a department are dispatched.

Reads ``case-commands`` (keyed by case id, so one partition holds all of a case's
commands); each is applied with the pure :func:`agents.logic.lifecycle.apply` to the
case's :class:`~schemas.records.CaseState`, held in the stage's store. The events
that ask for a department are routed and dispatched in the same batch
(:class:`agents.cases.dispatch.Dispatcher`), and the decisions applied at once.
Out go the case events, the alerts, the new states (``case-state``) and the tasks,
in one outbox; the dispatch claims are marked sent only after the broker has them.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from agents.cases.context import CaseStage
from agents.cases.dispatch import ALERTS_FOR, NEEDS_ROUTING, alert
from agents.cases.index import forget_case
from agents.logic.lifecycle import CLOSED_STATUSES, apply
from schemas.codec import encode
from schemas.records import CaseCommand, CaseEvent, CaseState
from streams.batch_consumer import RecordEvent
from streams.metrics import observe_batch
from streams.outbox import Outbox
from streams.stage import decode_batch
from streams.topics import CASE_EVENTS

__all__ = ["apply_commands"]

STAGE = "cases"


class _Batch:
    """Cases touched by one batch of commands: their working state and the events they emitted."""

    def __init__(self, cases: CaseStage, out: Outbox) -> None:
        self.cases = cases
        self.out = out
        self.states: dict[str, CaseState] = {}
        self.partition: dict[str, int] = {}
        self.events: dict[str, list[CaseEvent]] = {}
        self.changed: set[str] = set()

    def apply(self, command: CaseCommand, partition: int, event: RecordEvent | None = None) -> list[CaseEvent]:
        case_id = command.case_id
        self.partition.setdefault(case_id, partition)
        state = self.states[case_id] if case_id in self.states else self.cases.store.get(partition, case_id)
        outcome = apply(state, command, self.cases.city)
        if outcome.refused:
            self.out.dead_letter(STAGE, outcome.refused, "refused_command",
                                 message=event.message if event is not None else None,
                                 value=None if event is not None else encode(command))
        if outcome.state is not None:
            self.states[case_id] = outcome.state
            if not outcome.duplicate:
                self.changed.add(case_id)
            if outcome.events:
                self.events.setdefault(case_id, []).extend(outcome.events)
        return outcome.events


async def apply_commands(cases: CaseStage, events: Sequence[RecordEvent], out: Outbox) -> None:
    """Apply one batch of case commands, dispatch what needs a department, and send it all."""
    started = time.perf_counter()
    batch = _Batch(cases, out)
    to_route: dict[str, CaseEvent] = {}
    for event, command in decode_batch(STAGE, events, CaseCommand, out):
        for ev in batch.apply(command, event.message.partition, event):
            if ev.type in NEEDS_ROUTING:
                to_route[ev.case_id] = ev  # the latest one per case decides
    plan = await cases.dispatcher.plan(list(to_route.values()), out)
    for command in plan.commands:
        batch.apply(command, batch.partition[command.case_id])
    for case_id in batch.changed:
        cases.store.put(batch.partition[case_id], case_id, batch.states[case_id], out)
    now = time.time()
    for case_id, emitted in batch.events.items():
        for ev in emitted:
            out.add_record(CASE_EVENTS, case_id, ev)
            if ev.type in ALERTS_FOR:
                alert(ev, now, out)
    await out.send()
    await cases.dispatcher.mark_sent(plan)
    await _forget_closed(cases, [batch.states[cid] for cid in batch.changed])
    observe_batch("cases.lifecycle", started, len(events))


async def _forget_closed(cases: CaseStage, states: list[CaseState]) -> None:
    """Closed cases leave the dedupe index at once (a new report there opens a new case)."""
    closed = [state for state in states if state.status in CLOSED_STATUSES]
    if closed:
        pipe = cases.redis.pipeline(transaction=False)
        for state in closed:
            forget_case(pipe, cases.city, state)
        await pipe.execute()
