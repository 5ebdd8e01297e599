"""Reads of the console's Redis projections: case documents, task boards, alerts, analytics facts.

Access control is applied here, on the way out: a department-scoped caller
never receives another department's case, task or alert, whatever it asks for.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from agents.logic.analytics import CaseFacts
from schemas.records import FieldUpdate
from streams import redis_keys as keys
from streams.redis_keys import ANALYTICS_FACTS
from streams.web.access import Principal, can_read_case, can_read_department, can_see_alert

__all__ = [
    "CaseFilter",
    "case_of_observation",
    "department_tasks",
    "docs_by_id",
    "field_photos",
    "find_task",
    "keep_field_photo",
    "kept_evidence",
    "load_case",
    "load_cases",
    "load_facts",
    "recent_alerts",
    "review_of",
    "summary_of",
]

_PAGE = 500
_MAX_SCAN = 20_000
# Fields of a case the list and map need; the detail view reads the whole document.
_SUMMARY_FIELDS = (
    "case_id", "status", "kind", "category", "reason", "district", "department", "priority",
    "reports", "lat", "lon", "opened_at", "updated_at", "sla_deadline", "route_confidence",
    "route_source", "first_observed_at", "close_reason",
)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _sources(case: Mapping[str, Any]) -> set[str]:
    sources = case.get("sources") or {}
    found = set(sources) if isinstance(sources, (dict, list)) else set()
    found.update(str(o.get("source")) for o in case.get("observations") or [] if o.get("source"))
    return found


def summary_of(case: Mapping[str, Any]) -> dict[str, Any]:
    """What the case list and map show of one case."""
    out = {name: case.get(name) for name in _SUMMARY_FIELDS}
    out["sources"] = sorted(_sources(case))
    return out


@dataclass(frozen=True)
class CaseFilter:
    """Console filters; an empty tuple matches everything. ``category`` matches kind, category or reason."""

    statuses: tuple[str, ...] = ()
    districts: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    departments: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    since: float = 0.0

    def matches(self, case: Mapping[str, Any]) -> bool:
        if self.statuses and case.get("status") not in self.statuses:
            return False
        if self.districts and case.get("district") not in self.districts:
            return False
        if self.kinds and case.get("kind") not in self.kinds:
            return False
        if self.categories and not {case.get("kind"), case.get("category"), case.get("reason")} & set(
            self.categories
        ):
            return False
        if self.departments and case.get("department") not in self.departments:
            return False
        if self.sources and not _sources(case) & set(self.sources):
            return False
        return float(case.get("updated_at") or 0.0) >= self.since


async def _docs(client: aioredis.Redis, case_ids: Sequence[str]) -> list[dict[str, Any]]:
    if not case_ids:
        return []
    raws = await client.mget([keys.case_doc(cid) for cid in case_ids])
    return [json.loads(raw) for raw in raws if raw]


async def _ids_newest_first(client: aioredis.Redis, statuses: Iterable[str], start: int) -> list[str]:
    statuses = list(statuses)
    if not statuses:
        raw: list[Any] = await client.zrevrange(keys.CASES_UPDATED, start, start + _PAGE - 1)
        return [_text(x) for x in raw]
    merged: list[tuple[float, str]] = []
    for status in statuses:
        rows: list[Any] = await client.zrevrange(
            keys.cases_by_status(status), start, start + _PAGE - 1, withscores=True
        )
        merged.extend((float(score), _text(member)) for member, score in rows)
    merged.sort(reverse=True)
    return [cid for _, cid in merged]


async def load_cases(
    client: aioredis.Redis, principal: Principal, flt: CaseFilter, limit: int
) -> tuple[list[dict[str, Any]], bool]:
    """Newest-first case documents the caller may read and the filter admits.

    Scans at most ``_MAX_SCAN`` recent cases; the flag says whether more may match.
    """
    found: list[dict[str, Any]] = []
    seen: set[str] = set()
    start = 0
    while start < _MAX_SCAN:
        ids = [cid for cid in await _ids_newest_first(client, flt.statuses, start) if cid not in seen]
        if not ids:
            return found, False
        seen.update(ids)
        for doc in await _docs(client, ids):
            if can_read_case(principal, doc) and flt.matches(doc):
                found.append(doc)
                if len(found) >= limit:
                    return found, True
        start += _PAGE
    return found, True


async def load_case(client: aioredis.Redis, case_id: str) -> dict[str, Any] | None:
    raw = await client.get(keys.case_doc(case_id))
    return json.loads(raw) if raw else None


async def docs_by_id(client: aioredis.Redis, case_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Case documents by id (absent ones left out)."""
    unique = list(dict.fromkeys(case_ids))
    return {str(d["case_id"]): d for d in await _docs(client, unique)}


async def kept_evidence(client: aioredis.Redis, observation_ids: Iterable[str]) -> set[str]:
    """Which of these camera frames are still kept (evidence expires with its case kind's window)."""
    ids = [i for i in dict.fromkeys(observation_ids) if i]
    if not ids:
        return set()
    pipe = client.pipeline(transaction=False)
    for i in ids:
        pipe.exists(keys.evidence(i))
    return {i for i, found in zip(ids, await pipe.execute(), strict=True) if found}


PHOTO_KEEP_S = 90 * 86400


async def keep_field_photo(client: aioredis.Redis, update: FieldUpdate, jpeg: bytes) -> None:
    """Store a crew's photo by its update and list it under the case (the update itself goes to the log)."""
    pipe = client.pipeline(transaction=True)
    pipe.set(keys.field_photo(update.update_id), jpeg, ex=PHOTO_KEEP_S)
    pipe.hset(keys.case_photos(update.case_id), update.update_id, json.dumps({
        "update_id": update.update_id, "action": update.action, "at": update.at, "crew_id": update.crew_id,
        "note": update.note[:500]}))
    pipe.expire(keys.case_photos(update.case_id), PHOTO_KEEP_S)
    await pipe.execute()


async def field_photos(client: aioredis.Redis, case: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The photos of crews' updates the case accepted (its timeline names their commands), oldest first."""
    raw = await client.hgetall(keys.case_photos(str(case["case_id"])))
    accepted = {str((t.get("detail") or {}).get("command_id") or "") for t in case.get("timeline") or []}
    photos = [p for p in (json.loads(v) for v in raw.values()) if f"field:{p['update_id']}" in accepted]
    return sorted(photos, key=lambda p: float(p.get("at") or 0.0))


async def review_of(client: aioredis.Redis, case_id: str) -> dict[str, Any] | None:
    """An operator's verdict on a camera case, if one was given."""
    raw = await client.hget(keys.REVIEW_EXAMPLES, case_id)
    return json.loads(raw) if raw else None


async def case_of_observation(client: aioredis.Redis, observation_id: str) -> str | None:
    """The case an observation joined (the case stage stores ``case_id|opened``)."""
    raw = await client.get(keys.observation_case(observation_id))
    return _text(raw).split("|", 1)[0] if raw else None


async def department_tasks(client: aioredis.Redis, department: str) -> list[dict[str, Any]]:
    """One department's task board, newest first."""
    raw = await client.hgetall(keys.tasks_of(department))
    tasks = [json.loads(v) for v in raw.values()]
    tasks.sort(key=lambda t: float(t.get("created_at") or 0.0), reverse=True)
    return tasks


async def find_task(
    client: aioredis.Redis, principal: Principal, task_id: str, departments: Iterable[str]
) -> dict[str, Any] | None:
    """A task by id among the boards the caller may read (its own department's unless city-wide)."""
    boards = list(departments) if principal.city_wide else [principal.department]
    for department in boards:
        if not can_read_department(principal, department):
            continue
        raw = await client.hget(keys.tasks_of(department), task_id)
        if raw:
            return dict(json.loads(raw))
    return None


async def recent_alerts(client: aioredis.Redis, principal: Principal, limit: int) -> list[dict[str, Any]]:
    """The latest alerts this caller may see, newest first (a department's from its own list)."""
    source = keys.ALERTS_RECENT if principal.city_wide else keys.alerts_recent_of(principal.department)
    raws = await client.lrange(source, 0, -1)
    alerts = [json.loads(raw) for raw in raws]
    return [a for a in alerts if can_see_alert(principal, a)][:limit]


async def load_facts(client: aioredis.Redis, principal: Principal) -> list[CaseFacts]:
    """Every case's analytics facts the caller may read (the input of every report)."""
    raw = await client.hgetall(ANALYTICS_FACTS)
    facts = [CaseFacts.from_json(json.loads(v)) for v in raw.values()]
    if principal.city_wide:
        return facts
    return [f for f in facts if f.department == principal.department]
