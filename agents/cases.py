"""Case stage: observations become cases; case commands move cases through their life.

Two agents:

* ``merge_observations`` reads ``observations`` and decides, atomically in Redis,
  which case each belongs to (:mod:`agents.logic.dedupe`), then asks that case to
  attach it (``case-commands``, keyed by case id).
* ``run_cases`` reads ``case-commands`` and applies them to the case, held in the
  ``cases`` table (changelog-backed), with :func:`agents.logic.lifecycle.apply`;
  every transition goes to ``case-events`` and the console's view in Redis.

Redelivery is harmless at both steps: an observation keeps the case Redis gave it
the first time, and a command already applied re-emits its events (same ids).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from typing import Any

import faust

from agents.case_index import TIMELINE_FIELDS, TIMELINE_KEEP, ensure_index, find_or_create_batch, forget_case
from agents.logic.lifecycle import CLOSED_STATUSES, apply
from agents.logic.sla import ACTIVE_STATUSES as SLA_ACTIVE
from schemas.codec import to_dict
from schemas.records import SCHEMA_VERSION, CaseCommand, CaseEvent, Observation
from streams import redis_keys as keys
from streams.app import app, city, consume, dead_letter, decode_events, produce, redis, topic
from streams.metrics import CASES_MERGED, CASES_OPENED, STAGE_SECONDS
from streams.topics import CASE_COMMANDS, CASE_EVENTS, OBSERVATIONS

__all__ = ["cases_table", "merge_observations", "run_cases"]

BATCH = 500
BATCH_WAIT_S = 0.01

# Raw str keys + the producer's partitioner put a case's changelog record in the same partition as its
# case-commands key, so the worker that owns a case's commands also owns (and recovers) its state.
cases_table = app.Table(
    "cases",
    default=None,
    schema=faust.Schema(key_type=str, key_serializer="raw", value_serializer="json"),
    partitions=CASE_COMMANDS.partitions,
    use_partitioner=True,
)


@app.agent(topic(OBSERVATIONS))
async def merge_observations(stream: Any) -> None:
    await consume(stream, "cases", OBSERVATIONS, _merge, BATCH, BATCH_WAIT_S)


async def _merge(events: Sequence[Any]) -> None:
    started = time.perf_counter()
    observations = [obs for _, obs in await decode_events("cases", events, Observation)]
    if not observations:
        return
    await ensure_index(redis())
    matches = await find_or_create_batch(redis(), city(), observations)
    now = time.time()
    pending = []
    for obs, match in zip(observations, matches, strict=True):
        (CASES_OPENED if match.opened and match.outcome == "opened" else CASES_MERGED).labels(obs.kind).inc()
        command = CaseCommand(
            schema_version=SCHEMA_VERSION,
            command_id=f"attach:{obs.observation_id}",
            case_id=match.case_id,
            type="attach",
            at=now,
            observation=obs,
            opened=match.opened,
        )
        pending.append(await produce(CASE_COMMANDS, match.case_id, command))
    # Wait for the broker before these observations are acknowledged: at-least-once, never lost.
    await asyncio.gather(*pending)
    STAGE_SECONDS.labels("cases.merge").observe((time.perf_counter() - started) / len(events))


@app.agent(topic(CASE_COMMANDS))
async def run_cases(stream: Any) -> None:
    await consume(stream, "cases", CASE_COMMANDS, _run, BATCH, BATCH_WAIT_S)


async def _run(events: Sequence[Any]) -> None:
    started = time.perf_counter()
    pending = []
    projections: dict[str, tuple[dict[str, Any], list[dict[str, Any]]]] = {}
    for event, command in await decode_events("cases", events, CaseCommand):
        outcome = apply(cases_table.get(command.case_id), to_dict(command), city())
        if outcome.refused:
            await dead_letter("cases", outcome.refused, "refused_command", message=event.message)
        if outcome.state is not None and not outcome.duplicate:
            cases_table[command.case_id] = outcome.state
        for ev in outcome.events:
            record = CaseEvent(schema_version=SCHEMA_VERSION, **ev)
            pending.append(await produce(CASE_EVENTS, command.case_id, record))
        if outcome.state is not None and outcome.events:
            prior = projections.get(command.case_id, (outcome.state, []))[1]
            projections[command.case_id] = (outcome.state, prior + outcome.events)
    await asyncio.gather(*pending)
    if projections:
        await project_cases(projections)
    STAGE_SECONDS.labels("cases.lifecycle").observe((time.perf_counter() - started) / max(1, len(events)))


async def project_cases(projections: dict[str, tuple[dict[str, Any], list[dict[str, Any]]]]) -> None:
    """Write each changed case's console view to Redis (derived; rebuildable from case-events)."""
    client = redis()
    docs = await client.mget([keys.case_doc(cid) for cid in projections])
    pipe = client.pipeline(transaction=False)
    for (case_id, (state, events)), raw in zip(projections.items(), docs, strict=True):
        doc = json.loads(raw) if raw else {"observations": [], "timeline": []}
        previous_status = doc.get("status")
        doc.update({k: v for k, v in state.items() if k not in ("applied", "recent_events", "observation_ids")})
        seen = {t["event_id"] for t in doc["timeline"]}
        for ev in events:
            if ev["event_id"] in seen:
                continue
            doc["timeline"].append({k: ev[k] for k in TIMELINE_FIELDS})
            if ev["type"] in ("opened", "merged", "reopened") and "observation_id" in ev["detail"]:
                doc["observations"].append({"at": ev["at"], **ev["detail"]})
        doc["timeline"] = doc["timeline"][-TIMELINE_KEEP:]
        pipe.set(keys.case_doc(case_id), json.dumps(doc, ensure_ascii=False))
        if previous_status and previous_status != state["status"]:
            pipe.zrem(keys.cases_by_status(previous_status), case_id)
        pipe.zadd(keys.cases_by_status(state["status"]), {case_id: state["updated_at"]})
        pipe.zadd(keys.CASES_UPDATED, {case_id: state["updated_at"]})
        if state["status"] in SLA_ACTIVE and state["sla_deadline"]:
            pipe.zadd(keys.SLA_DEADLINES, {case_id: state["sla_deadline"]})
        else:
            pipe.zrem(keys.SLA_DEADLINES, case_id)
        if state["status"] in CLOSED_STATUSES:
            forget_case(pipe, city(), state)
    await pipe.execute()

