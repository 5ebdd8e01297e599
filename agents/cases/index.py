"""The Redis geo index of open cases (atomic find-or-create) and the case views the console reads.

Redis is derived state: :mod:`agents.views` rebuilds all of it from the log when
it comes back empty. What a case looks like in Redis is written here, in one
place, for the live projection and the rebuild alike (:func:`write_case_view`,
:func:`timeline_entry`, :func:`observation_entry`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis

from agents.logic.dedupe import FIND_OR_CREATE_LUA, Match, dedupe_group, new_case_id
from agents.logic.sla import ACTIVE_STATUSES as SLA_ACTIVE
from config.models import CityConfig
from schemas.codec import dumps
from schemas.records import CaseEvent, CaseState, Observation
from streams import redis_keys as keys
from streams.redis_scripts import script

__all__ = [
    "ASSIGNMENT_TTL_S",
    "TIMELINE_KEEP",
    "event_detail",
    "find_or_create_batch",
    "forget_case",
    "observation_entry",
    "timeline_entry",
    "write_case_view",
]

log = logging.getLogger(__name__)
# An observation's case assignment is kept this long (longer than any redelivery takes).
ASSIGNMENT_TTL_S = 14 * 24 * 3600
TIMELINE_KEEP = 100
FIND_OR_CREATE_CHUNK = 500
# What an event says beyond its type and status, as the console's timeline shows it (non-empty ones only).
_DETAIL_FIELDS = ("command_id", "crew_id", "note", "suggested_department", "by", "why", "deadline")


def event_detail(ev: CaseEvent) -> dict[str, Any]:
    """The console's view of what a case event says beyond its type: its report, route and notes."""
    detail: dict[str, Any] = {name: getattr(ev, name) for name in _DETAIL_FIELDS if getattr(ev, name)}
    if ev.report is not None:
        detail.update(vars(ev.report))  # a report's fields are plain values
    if ev.route is not None:
        detail.update(route_department=ev.route.department, route_confidence=ev.route.confidence,
                      route_source=ev.route.source)
    return detail


def timeline_entry(ev: CaseEvent) -> dict[str, Any]:
    """One line of a case's timeline in its console document."""
    return {"event_id": ev.event_id, "type": ev.type, "at": ev.at, "status": ev.status,
            "department": ev.department, "detail": event_detail(ev)}


def observation_entry(ev: CaseEvent) -> dict[str, Any] | None:
    """The report an event attached, as the case document lists it (``at``: when it was attached)."""
    if ev.report is None or ev.type not in ("opened", "merged", "reopened"):
        return None
    return {"at": ev.at, **vars(ev.report)}


async def find_or_create_batch(
    client: aioredis.Redis, city: CityConfig, observations: Sequence[Observation]
) -> list[Match]:
    """Assign each observation to a case: one atomic script call per chunk.

    Batches are cut into chunks so one script never holds Redis for long.
    """
    kinds = {k.id: k for k in city.case_kinds}
    default = kinds[city.default_kind]
    matches: list[Match] = []
    for start in range(0, len(observations), FIND_OR_CREATE_CHUNK):
        group_of: dict[str, int] = {}
        group_keys: list[str] = []
        assignment_keys: list[str] = []
        args: list[Any] = []
        for obs in observations[start : start + FIND_OR_CREATE_CHUNK]:
            kind = kinds.get(obs.kind, default)
            group = dedupe_group(city, kind.id, obs.category, obs.reason)
            g = group_of.get(group)
            if g is None:
                g = group_of[group] = len(group_of) + 1
                group_keys += [keys.case_geo(group), keys.case_seen(group)]
            assignment_keys.append(keys.observation_case(obs.observation_id))
            new_id = new_case_id(obs.observation_id)
            args.append(f"{g} {float(obs.lon)!r} {float(obs.lat)!r} {float(kind.radius_m)!r} "
                        f"{float(obs.observed_at)!r} {kind.window_h * 3600.0!r} {new_id}")
        script_keys = group_keys + assignment_keys
        args = [len(group_of), ASSIGNMENT_TTL_S, *args]
        flat = await script(client, FIND_OR_CREATE_LUA)(keys=script_keys, args=args)
        text = [x.decode() if isinstance(x, bytes) else str(x) for x in flat]
        matches += [Match(text[i], text[i + 1], text[i + 2] == "1") for i in range(0, len(text), 3)]
    return matches


def forget_case(pipe: Any, city: CityConfig, state: CaseState) -> None:
    """Take a closed case out of the geo index: new reports there open a new case."""
    group = dedupe_group(city, state.kind, state.category, state.reason)
    pipe.zrem(keys.case_geo(group), state.case_id)
    pipe.zrem(keys.case_seen(group), state.case_id)


def write_case_view(pipe: Any, case_id: str, doc: dict[str, Any], previous_status: str | None = None) -> None:
    """Queue a case's console document and the by-status, by-update and SLA-deadline indexes that point at it."""
    pipe.set(keys.case_doc(case_id), dumps(doc))
    if previous_status and previous_status != doc["status"]:
        pipe.zrem(keys.cases_by_status(previous_status), case_id)
    pipe.zadd(keys.cases_by_status(doc["status"]), {case_id: doc["updated_at"]})
    pipe.zadd(keys.CASES_UPDATED, {case_id: doc["updated_at"]})
    if doc["status"] in SLA_ACTIVE and doc.get("sla_deadline"):
        pipe.zadd(keys.SLA_DEADLINES, {case_id: doc["sla_deadline"]})
    else:
        pipe.zrem(keys.SLA_DEADLINES, case_id)
