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

from schemas.records import SCHEMA_VERSION, CaseCommand, FieldUpdate
from streams.app import app, city, consume, dead_letter, decode_events, produce, topic
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
    await consume(stream, STAGE, FIELD_UPDATES, _handle, 200, 0.05)


async def _handle(events: Sequence[Any]) -> None:
    pending = []
    for event, update in await decode_events(STAGE, events, FieldUpdate):
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
