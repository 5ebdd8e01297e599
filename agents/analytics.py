"""Analytics stage: every case event folded into the case's compact facts, the input of every report.

Reads ``case-events`` (a batch consumer, :data:`PROJECT_FACTS`); keeps one
:class:`~agents.logic.analytics.CaseFacts` per case (status, place, H3 cell,
department, deadlines, resolution time, reopenings) in one Redis hash. Reports,
heat maps and ratings are then a pass over that hash (:mod:`streams.web.reports`),
seconds for a city's whole history. The facts are derived: replaying
``case-events`` from the start rebuilds them exactly, and a redelivered event is
recognised and not counted twice.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, cast

from agents.logic.analytics import CaseFacts, apply_event
from schemas.codec import DecodeError, decode_dict, dumps, loads
from schemas.records import CaseEvent
from streams.app import city, redis
from streams.batch_consumer import RecordEvent
from streams.metrics import observe_batch
from streams.outbox import Outbox
from streams.redis_keys import ANALYTICS_FACTS
from streams.stage import BatchStage
from streams.topics import CASE_EVENTS, DEADLETTER

__all__ = ["fold_events", "stages"]

STAGE = "analytics"


def fold_events(
    current: dict[str, CaseFacts | None], events: list[dict[str, Any]], h3_resolution: int
) -> dict[str, CaseFacts]:
    """Apply ``events`` in order to the facts in ``current``; returns only the cases that changed."""
    changed: dict[str, CaseFacts] = {}
    for event in events:
        case_id = str(event["case_id"])
        folded = apply_event(current.get(case_id), event, h3_resolution)
        if folded is not None:
            current[case_id] = folded
            changed[case_id] = folded
    return changed


async def _project_facts(events: Sequence[RecordEvent], out: Outbox) -> None:
    started = time.perf_counter()
    decoded = []
    for event in events:
        try:
            decoded.append(decode_dict(CaseEvent, event.message.value))
        except DecodeError as exc:
            out.dead_letter(STAGE, exc.reason, exc.error_type, message=event.message)
    if not decoded:
        return
    client = redis()
    case_ids = list(dict.fromkeys(str(e["case_id"]) for e in decoded))
    raws = await client.hmget(ANALYTICS_FACTS, case_ids)
    current = {
        cid: CaseFacts.from_json(loads(raw)) if raw else None
        for cid, raw in zip(case_ids, raws, strict=True)
    }
    changed = fold_events(current, decoded, city().city.h3_resolution)
    if changed:
        mapping = {cid: dumps(f.to_json()) for cid, f in changed.items()}
        await client.hset(ANALYTICS_FACTS, mapping=cast(Any, mapping))
    observe_batch("analytics", started, len(events))


# Case events come at several per observation: read in whole fetches (see streams.batch_consumer).
def stages() -> list[BatchStage]:
    return [BatchStage(STAGE, "cityops-analytics", CASE_EVENTS, _project_facts, writes=(DEADLETTER,), patient=True)]
