"""SLA stage: reminders before deadlines, escalations after, verification and closing, weekly digests.

Timers on the leader worker read the deadlines the case stage keeps in Redis
(:data:`streams.redis_keys.SLA_DEADLINES`) and the resolved cases, decide with
:mod:`agents.logic.sla`, and send commands to the case stage, which turns them
into ``reminder`` / ``escalated`` / ``verified`` / ``closed`` events. Every
command id is deterministic, so a timer that runs twice asks once.
"""

from __future__ import annotations

import os
from typing import Any

from agents.logic.lifecycle import OPEN_STATUSES
from agents.logic.sla import district_digests, due_actions
from schemas.codec import loads
from schemas.records import Digest
from streams import redis_keys as keys
from streams.app import city, redis
from streams.metrics import OPEN_CASES, REMINDERS, SLA_BREACHES
from streams.outbox import Outbox
from streams.stage import TimerStage
from streams.topics import CASE_COMMANDS, DIGESTS

__all__ = ["check_deadlines", "count_open_cases", "send_digests", "stages"]

SLA_INTERVAL_S = float(os.environ.get("CITYOPS_SLA_INTERVAL_S", "15"))
DIGEST_INTERVAL_S = float(os.environ.get("CITYOPS_DIGEST_INTERVAL_S", str(7 * 24 * 3600)))


async def _docs(case_ids: list[bytes]) -> list[dict[str, Any]]:
    if not case_ids:
        return []
    raws = await redis().mget([keys.case_doc(c.decode()) for c in case_ids])
    return [loads(r) for r in raws if r]


def _lookahead_s() -> float:
    """A case whose deadline is further off than the longest reminder lead needs nothing yet.

    Only those nearer are read each tick, not every active case in the city.
    """
    return max((k.reminder_before_h for k in city().case_kinds), default=0.0) * 3600 + 2 * SLA_INTERVAL_S


async def _camera_frames(cases: list[dict[str, Any]]) -> dict[str, float]:
    cameras = sorted({c for case in cases for c in case.get("cameras") or []})
    if not cameras:
        return {}
    values = await redis().mget([keys.camera_last_frame(c) for c in cameras])
    return {c: float(v) for c, v in zip(cameras, values, strict=True) if v}


async def check_deadlines(now: float, out: Outbox) -> int:
    """Queue every due SLA command in ``out``; returns how many."""
    client = redis()
    due = await client.zrangebyscore(keys.SLA_DEADLINES, "-inf", now + _lookahead_s())
    resolved = await client.zrange(keys.cases_by_status("resolved"), 0, -1)
    cases = await _docs(list(dict.fromkeys([*due, *resolved])))
    frames = await _camera_frames(cases)
    sent = 0
    for case in cases:
        for action in due_actions(case, city(), now, frames):
            REMINDERS.labels(action.what).inc()
            if action.what == "escalate":
                SLA_BREACHES.labels(case["kind"]).inc()
            out.add_record(CASE_COMMANDS, action.case_id, action.command(now))
            sent += 1
    return sent


async def send_digests(now: float, out: Outbox) -> int:
    """Queue one digest per district of the cases still unresolved in ``out``; returns how many."""
    client = redis()
    ids: list[bytes] = await client.zrange(keys.CASES_UPDATED, 0, -1)  # type: ignore[assignment]
    cases = await _docs(ids)
    digests = district_digests(cases, now, DIGEST_INTERVAL_S)
    for digest in digests:
        out.add_record(DIGESTS, digest["district"], Digest(**digest))
    return len(digests)


async def count_open_cases() -> None:
    """Set the open-cases gauge from the case stage's status sets (city-wide, by status)."""
    pipe = redis().pipeline(transaction=False)
    for status in OPEN_STATUSES:
        pipe.zcard(keys.cases_by_status(status))
    for status, count in zip(OPEN_STATUSES, await pipe.execute(), strict=True):
        OPEN_CASES.labels(status).set(count)


async def _sla_tick(now: float, out: Outbox) -> None:
    await check_deadlines(now, out)
    await count_open_cases()


def stages() -> list[TimerStage]:
    return [
        TimerStage("sla", SLA_INTERVAL_S, _sla_tick, writes=(CASE_COMMANDS,), on_leader=True),
        TimerStage("digests", DIGEST_INTERVAL_S, send_digests, writes=(DIGESTS,), on_leader=True),
    ]
