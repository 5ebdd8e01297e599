"""Field stage: what crews report (acknowledge, start, resolve, reject) goes to the case that owns it.

Reads ``field-updates``; checks the update names a known department and case;
hands it to the case stage as a ``field`` command (the case stage decides
whether the transition is allowed and dead-letters refused ones with the
reason). A rejection keeps the crew's suggested department: it re-routes the
case and, recorded on ``case-events``, is a training signal for routing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from functools import cache
from typing import Any

from schemas.codec import DecodeError, decode
from schemas.records import SCHEMA_VERSION, CaseCommand, FieldUpdate
from streams.app import app, city, dead_letter, guarded, produce, topic
from streams.metrics import EVENTS_IN
from streams.topics import CASE_COMMANDS, FIELD_UPDATES

__all__ = ["check_update", "read_field_updates"]

STAGE = "field"


@cache
def _departments() -> frozenset[str]:
    return frozenset(d.id for d in city().departments)


def check_update(update: FieldUpdate, departments: frozenset[str]) -> str:
    """Why a well-formed update cannot be used, or ''."""
    if update.department not in departments:
        return f"unknown department {update.department!r}"
    if update.action == "reject" and update.suggested_department and update.suggested_department not in departments:
        return f"suggested department {update.suggested_department!r} is not a department"
    return ""


@app.agent(topic(FIELD_UPDATES))
async def read_field_updates(stream: Any) -> None:
    async for events in stream.take_events(200, within=0.05):
        EVENTS_IN.labels(FIELD_UPDATES.name).inc(len(events))
        await guarded(STAGE, events, _handle)


async def _handle(events: Sequence[Any]) -> None:
    pending = []
    for event in events:
        try:
            update = decode(FieldUpdate, event.message.value)
        except DecodeError as exc:
            await dead_letter(STAGE, exc.reason, exc.error_type, message=event.message)
            continue
        problem = check_update(update, _departments())
        if problem:
            await dead_letter(STAGE, problem, "invalid_update", message=event.message)
            continue
        command = CaseCommand(
            schema_version=SCHEMA_VERSION, command_id=f"field:{update.update_id}", case_id=update.case_id,
            type="field", at=update.at, field=update,
        )
        pending.append(await produce(CASE_COMMANDS, update.case_id, command))
    await asyncio.gather(*pending)
