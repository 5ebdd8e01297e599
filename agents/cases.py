"""Case stage: observations become cases; case commands move cases through their life.

Two consumers (plain aiokafka group members, :mod:`streams.batch_consumer`: whole
fetches per batch, offsets committed after the outputs were acknowledged):

* the merge consumer reads ``observations`` and decides, atomically in Redis,
  which case each belongs to (:mod:`agents.logic.dedupe`), then asks that case to
  attach it (``case-commands``, keyed by case id).
* the lifecycle consumer reads ``case-commands`` and applies them to the case
  with :func:`agents.logic.lifecycle.apply`; case state lives in :data:`CASE_STORE`
  (per owned partition, backed by the compacted ``case-state`` topic).
  A case that needs a department (opened, reopened, rejected, assigned) is routed
  and dispatched in the same step (:mod:`agents.dispatch`) and the decision is
  applied at once, so an observation reaches its task in two hops. Every
  transition goes to ``case-events``, alerts to ``alerts``, the state to
  ``case-state`` (from which :mod:`agents.console` keeps the console's view).

Redelivery is harmless at both steps: an observation keeps the case Redis gave it
the first time, a command already applied re-emits its events (same ids), and a
dispatch claim already sent produces nothing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from agents.case_index import ensure_index, find_or_create_batch, forget_case
from agents.dispatch import ALERTS_FOR, NEEDS_ROUTING, alert, mark_sent, plan_dispatch
from agents.logic.lifecycle import CLOSED_STATUSES, apply
from schemas.records import SCHEMA_VERSION, CaseCommand, Observation
from streams.app import city, dead_letter, decode_dicts, redis
from streams.batch_consumer import PartitionedStore, batch_stage
from streams.metrics import CASES_MERGED, CASES_OPENED, STAGE_SECONDS
from streams.outbox import Outbox
from streams.topics import CASE_COMMANDS, CASE_EVENTS, CASE_STATE, OBSERVATIONS

__all__ = ["CASE_STORE", "LIFECYCLE", "MERGE"]

# The case table: each case's state, held by the worker that owns its case-commands partition and
# written back to the compacted ``case-state`` topic (same partition, key = case id).
CASE_STORE = PartitionedStore(CASE_STATE)


async def _merge(events: Sequence[Any]) -> None:
    started = time.perf_counter()
    observations = [obs for _, obs in await decode_dicts("cases", events, Observation)]
    if not observations:
        return
    await ensure_index(redis())
    matches = await find_or_create_batch(redis(), city(), observations)
    now = time.time()
    outbox = Outbox()
    for obs, match in zip(observations, matches, strict=True):
        (CASES_OPENED if match.opened and match.outcome == "opened" else CASES_MERGED).labels(obs["kind"]).inc()
        command = {
            "schema_version": SCHEMA_VERSION,
            "command_id": f"attach:{obs['observation_id']}",
            "case_id": match.case_id,
            "type": "attach",
            "at": now,
            "observation": obs,
            "opened": match.opened,
        }
        outbox.add_dict(CASE_COMMANDS, match.case_id, command)
    # Wait for the broker before these observations are acknowledged: at-least-once, never lost.
    await outbox.send()
    STAGE_SECONDS.labels("cases.merge").observe((time.perf_counter() - started) / len(events))


class _Batch:
    """Cases touched by one batch of commands: their working state and the events they emitted."""

    def __init__(self) -> None:
        self.states: dict[str, dict[str, Any]] = {}
        self.partition: dict[str, int] = {}
        self.events: dict[str, list[dict[str, Any]]] = {}
        self.changed: set[str] = set()

    async def apply(self, command: dict[str, Any], partition: int, event: Any = None) -> list[dict[str, Any]]:
        case_id = command["case_id"]
        self.partition.setdefault(case_id, partition)
        state = self.states[case_id] if case_id in self.states else CASE_STORE.get(partition, case_id)
        outcome = apply(state, command, city())
        if outcome.refused:
            await dead_letter("cases", outcome.refused, "refused_command", message=getattr(event, "message", None),
                              value=None if event is not None else json.dumps(command).encode())
        if outcome.state is not None:
            self.states[case_id] = outcome.state
            if not outcome.duplicate:
                self.changed.add(case_id)
            if outcome.events:
                self.events.setdefault(case_id, []).extend(outcome.events)
        return outcome.events


async def _run(events: Sequence[Any]) -> None:
    started = time.perf_counter()
    batch = _Batch()
    to_route: dict[str, dict[str, Any]] = {}
    for event, command in await decode_dicts("cases", events, CaseCommand):
        for ev in await batch.apply(command, event.message.partition, event):
            if ev["type"] in NEEDS_ROUTING:
                to_route[ev["case_id"]] = ev  # the latest one per case decides
    outbox = Outbox()
    plan = await plan_dispatch(list(to_route.values()), outbox)
    for command in plan.commands:
        await batch.apply(command, batch.partition[command["case_id"]])
    for case_id in batch.changed:
        CASE_STORE.put(batch.partition[case_id], case_id, batch.states[case_id], outbox)
    now = time.time()
    for case_id, emitted in batch.events.items():
        for ev in emitted:
            outbox.add_dict(CASE_EVENTS, case_id, {"schema_version": SCHEMA_VERSION, **ev})
            if ev["type"] in ALERTS_FOR:
                alert(ev, now, outbox)
    await outbox.send()
    await mark_sent(plan)
    await _forget_closed([batch.states[cid] for cid in batch.changed])
    STAGE_SECONDS.labels("cases.lifecycle").observe((time.perf_counter() - started) / max(1, len(events)))


async def _forget_closed(states: list[dict[str, Any]]) -> None:
    """Closed cases leave the dedupe index at once (a new report there opens a new case)."""
    closed = [state for state in states if state["status"] in CLOSED_STATUSES]
    if closed:
        pipe = redis().pipeline(transaction=False)
        for state in closed:
            forget_case(pipe, city(), state)
        await pipe.execute()


MERGE = batch_stage("cases", "cityops-cases-merge", OBSERVATIONS, _merge)
LIFECYCLE = batch_stage("cases", "cityops-cases", CASE_COMMANDS, _run, store=CASE_STORE)
