"""Field stage: what crews report (acknowledge, start, resolve, reject) goes to the case that owns it.

Reads ``field-updates``; checks the update names a known department and case;
hands it to the case stage as a ``field`` command (the case stage decides
whether the transition is allowed and dead-letters refused ones with the
reason). A rejection keeps the crew's suggested department: it re-routes the
case and, recorded on ``case-events``, is a training signal for routing.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from functools import cache

from agents.logic.inputs import fingerprint, future_time
from schemas.codec import encode
from schemas.records import CaseCommand, FieldUpdate
from streams.app import city, redis
from streams.batch_consumer import RecordEvent
from streams.duplicates import CONFLICT, check_seen
from streams.outbox import Outbox
from streams.settings import current_settings
from streams.stage import BatchStage, decode_batch
from streams.topics import CASE_COMMANDS, DEADLETTER, FIELD_UPDATES

__all__ = ["check_update", "stages"]

STAGE = "field"


@cache
def _departments() -> frozenset[str]:
    return frozenset(d.id for d in city().departments)


def check_update(update: FieldUpdate, departments: frozenset[str], now: float, skew_s: float) -> str:
    """Why a well-formed update cannot be used, or ''."""
    if update.department not in departments:
        return f"unknown department {update.department!r}"
    if update.action == "reject" and update.suggested_department and update.suggested_department not in departments:
        return f"suggested department {update.suggested_department!r} is not a department"
    if update.task_id and not update.task_id.startswith(f"{update.case_id}/"):
        return f"task {update.task_id!r} is not a task of case {update.case_id!r}"
    return future_time("at", update.at, now, skew_s)


async def forward_updates(events: Sequence[RecordEvent], out: Outbox) -> None:
    """Each usable update becomes a ``field`` command to its case (the case stage decides if it may happen)."""
    now, skew = time.time(), current_settings().clock_skew_s
    usable = []
    for event, update in decode_batch(STAGE, events, FieldUpdate, out):
        problem = check_update(update, _departments(), now, skew)
        if problem:
            out.dead_letter(STAGE, problem, "invalid_update", message=event.message)
            continue
        usable.append((event, update))
    seen = await check_seen(redis(), STAGE, [(u.update_id, fingerprint(encode(u))) for _, u in usable])
    for (event, update), verdict in zip(usable, seen, strict=True):
        if verdict == CONFLICT:
            out.dead_letter(STAGE, f"update_id {update.update_id!r} was used before for another update",
                            "conflicting_duplicate", message=event.message)
            continue
        command = CaseCommand(command_id=f"field:{update.update_id}", case_id=update.case_id, type="field",
                              at=update.at, field=update)
        out.add_record(CASE_COMMANDS, update.case_id, command)


def stages() -> list[BatchStage]:
    return [BatchStage(STAGE, "cityops-field", FIELD_UPDATES, forward_updates, writes=(CASE_COMMANDS, DEADLETTER),
                       max_records=200, patient=True)]
