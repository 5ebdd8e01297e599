"""The console's JSON API: city metadata, cases, evidence, triage, task boards, crew actions, alerts.

Reads come from the Redis projections (:mod:`streams.web.store`); the one write,
a crew's action on a task, becomes a ``FieldUpdate`` on ``field-updates`` (the
field stage owns what it does to the case) and an audit entry.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import time
import uuid
from functools import cache
from typing import Any

from faust import web

from agents.logic.tasks import next_task_status
from detectors.text import Router, load_router
from schemas.records import CASE_STATUSES, SCHEMA_VERSION, CaseCommand, FieldUpdate
from streams import redis_keys as keys
from streams.app import app, city, produce, redis
from streams.redis_keys import AUDIT_RECENT
from streams.topics import CASE_COMMANDS, FIELD_UPDATES
from streams.web import store, workbench
from streams.web.access import (
    Principal,
    Role,
    can_act_on_task,
    can_read_case,
    can_read_department,
    can_triage,
)
from streams.web.audit import audit
from streams.web.auth import authenticate
from streams.web.console import basemap_of
from streams.web.http import (
    ApiError,
    client_of,
    guarded,
    json_body,
    json_response,
    query_float,
    query_int,
    query_list,
)

__all__ = ["case_filter", "field_update"]

SOURCES = ("camera", "hotline", "open311")
MAX_PHOTO_BYTES = 4_000_000
MAX_NOTE = 5000


@cache
def _router() -> Router:
    """The city's router, for the triage queue's suggestions (rules and triage only without a model)."""
    try:
        return load_router(city())
    except FileNotFoundError:
        return Router(city(), None, None)


def _department_ids() -> list[str]:
    return [d.id for d in city().departments] + [city().routing.triage_department]


def case_filter(request: web.Request) -> store.CaseFilter:
    """The console's filters from the query string (comma lists)."""
    return store.CaseFilter(
        statuses=tuple(query_list(request, "status")),
        districts=tuple(query_list(request, "district")),
        kinds=tuple(query_list(request, "kind")),
        categories=tuple(query_list(request, "category")),
        departments=tuple(query_list(request, "department")),
        sources=tuple(query_list(request, "source")),
        since=query_float(request, "since", 0.0),
    )


@app.page("/api/meta")
class Meta(web.View):
    """What the console draws and filters by: districts with polygons, departments, kinds, categories."""

    @guarded
    async def get(self, request: web.Request) -> web.Response:
        principal = authenticate(request)
        c = city()
        departments = [
            {"id": d.id, "name": d.name}
            for d in c.departments
            if can_read_department(principal, d.id)
        ]
        return json_response(
            {
                "city": {"id": c.city.id, "name": c.city.name, "center": c.city.center.model_dump(),
                         "timezone": c.city.timezone, "h3_resolution": c.city.h3_resolution},
                "districts": [
                    {"id": d.id, "name": d.name, "center": d.center.model_dump(), "polygon": d.polygon}
                    for d in c.districts
                ],
                "departments": departments,
                "kinds": [{"id": k.id, "label": k.label} for k in c.case_kinds],
                "categories": [{"id": n.id, "label": n.label} for n in c.taxonomy.nodes if n.level == 1],
                "labels": workbench.city_labels(c),
                "cameras": [{"id": cam.id, "name": cam.name or cam.id, "district": cam.district,
                             "lat": cam.location.lat, "lon": cam.location.lon} for cam in c.cameras],
                "basemap": basemap_of(c),
                "all_departments": [{"id": d.id, "name": d.name} for d in c.departments],
                "statuses": list(CASE_STATUSES),
                "sources": list(SOURCES),
                "triage_department": c.routing.triage_department,
                "me": {"name": principal.name, "role": principal.role.value,
                       "department": principal.department, "crew_id": principal.crew_id},
            }
        )


@app.page("/api/cases")
class Cases(web.View):
    """Cases newest first, filtered (status, district, kind, category, department, source, since)."""

    @guarded
    async def get(self, request: web.Request) -> web.Response:
        principal = authenticate(request)
        limit = query_int(request, "limit", 500, 1, 2000)
        docs, truncated = await store.load_cases(redis(), principal, case_filter(request), limit)
        cases = [store.summary_of(d) for d in docs]
        return json_response({"cases": cases, "count": len(cases), "truncated": truncated})


@app.page("/api/cases/{case_id}")
class CaseDetail(web.View):
    """One case with its observations (texts, evidence ids) and timeline."""

    @guarded
    async def get(self, request: web.Request, case_id: str) -> web.Response:
        principal = authenticate(request)
        doc = await store.load_case(redis(), case_id)
        # Another department's case reads as absent: its existence is not theirs to know.
        if doc is None or not can_read_case(principal, doc):
            raise ApiError(404, f"no case {case_id}")
        view = workbench.case_view(doc, city())
        kept = await store.kept_evidence(redis(), [str(o.get("evidence") or "") for o in view["observations"]])
        for obs in view["observations"]:
            obs["evidence_kept"] = obs.get("evidence", "") in kept
        view["field_photos"] = await store.field_photos(redis(), doc)
        view["review"] = await store.review_of(redis(), case_id)
        if can_triage(principal) and doc.get("status") in ("triage", "rejected", "new"):
            (view["suggestions"],) = await asyncio.to_thread(workbench.suggestions, _router(), [doc], city())
        return json_response(view)


@app.page("/api/evidence/{observation_id:.+}")
class Evidence(web.View):
    """The JPEG snapshot of a camera observation (people blurred by the vision stage)."""

    @guarded
    async def get(self, request: web.Request, observation_id: str) -> web.Response:
        principal = authenticate(request)
        client = redis()
        case_id = await store.case_of_observation(client, observation_id)
        doc = await store.load_case(client, case_id) if case_id else None
        if doc is None or not can_read_case(principal, doc):
            raise ApiError(404, f"no evidence {observation_id}")
        jpeg: Any = await client.get(keys.evidence(observation_id))
        if not jpeg:
            raise ApiError(404, f"evidence of {observation_id} has expired or was never kept")
        return self.bytes(jpeg, content_type="image/jpeg")  # no-store, as every data answer (streams.web.http)


@app.page("/api/triage")
class Triage(web.View):
    """The human triage queue: cases routed below the confidence threshold, oldest first."""

    @guarded
    async def get(self, request: web.Request) -> web.Response:
        principal = authenticate(request)
        if not can_triage(principal):
            raise ApiError(403, "the triage queue is the management centre's (operator or admin)")
        limit = query_int(request, "limit", 200, 1, 2000)
        triage = store.CaseFilter(statuses=("triage",))
        docs, truncated = await store.load_cases(redis(), principal, triage, limit)
        docs.sort(key=lambda d: float(d.get("updated_at") or 0.0))
        picks = await asyncio.to_thread(workbench.suggestions, _router(), docs, city())
        labels = workbench.city_labels(city())
        kept = await store.kept_evidence(redis(), [workbench.photo_of(d) for d in docs])
        cases = [
            {**store.summary_of(d), "text": str(d.get("text") or "")[:workbench.SUMMARY_CHARS],
             "address": workbench.address_of(d, city()), "photo": p if (p := workbench.photo_of(d)) in kept else "",
             "category_label": labels.get(str(d.get("category")), d.get("category")),
             "suggestions": s}
            for d, s in zip(docs, picks, strict=True)
        ]
        return json_response({"cases": cases, "count": len(cases), "truncated": truncated})


@app.page("/api/cases/{case_id}/assign")
class AssignCase(web.View):
    """An operator sends a case (from the triage queue, or over a crew's rejection) to a department."""

    @guarded
    async def post(self, request: web.Request, case_id: str) -> web.Response:
        principal = authenticate(request)
        if not can_triage(principal):
            raise ApiError(403, "assigning cases is the management centre's (operator or admin)")
        body = await json_body(request)
        department = str(body.get("department") or "")
        if department not in {d.id for d in city().departments}:
            raise ApiError(400, f"department {department!r} is not a department of this city")
        doc = await store.load_case(redis(), case_id)
        if doc is None:
            raise ApiError(404, f"no case {case_id}")
        if doc.get("status") in ("resolved", "verified", "closed"):
            raise ApiError(409, f"case {case_id} is {doc.get('status')}; it cannot be assigned")
        command = CaseCommand(
            schema_version=SCHEMA_VERSION, command_id=f"assign:{uuid.uuid4().hex}", case_id=case_id,
            type="assign", at=time.time(), department=department, route_source="operator", by=principal.actor,
        )
        await produce(CASE_COMMANDS, case_id, command, wait=True)
        await audit(principal.actor, "case.assign", case_id, client=client_of(request), department=department)
        return json_response({"case_id": case_id, "department": department, "status": "assigning"}, status=202)


@app.page("/api/tasks")
class Tasks(web.View):
    """A department's task board (your own department unless you are city-wide)."""

    @guarded
    async def get(self, request: web.Request) -> web.Response:
        principal = authenticate(request)
        department = request.query.get("department") or principal.department
        if not department:
            raise ApiError(400, "name a department: ?department=<id>")
        if not can_read_department(principal, department):
            raise ApiError(403, "a department sees only its own task board")
        if department not in _department_ids():
            raise ApiError(404, f"no department {department}")
        statuses = set(query_list(request, "status"))
        tasks = [t for t in await store.department_tasks(redis(), department)
                 if not statuses or t.get("status") in statuses]
        docs = await store.docs_by_id(redis(), [str(t["case_id"]) for t in tasks])
        now = time.time()
        cards = workbench.sort_board([workbench.task_card(t, docs.get(str(t["case_id"])), city(), now)
                                      for t in tasks])
        kept = await store.kept_evidence(redis(), [c["photo"] for c in cards])
        for card in cards:  # an expired frame is no photo at all, rather than a broken one
            card["photo"] = card["photo"] if card["photo"] in kept else ""
        return json_response({"department": department, "tasks": cards, "count": len(cards)})


def _photo(body: dict[str, Any]) -> str:
    photo = str(body.get("photo_b64") or "")
    if not photo:
        return ""
    try:
        raw = base64.b64decode(photo, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, "photo_b64 is not valid base64") from None
    if len(raw) > MAX_PHOTO_BYTES:
        raise ApiError(413, f"photo of {len(raw)} bytes exceeds {MAX_PHOTO_BYTES}")
    if not raw.startswith(b"\xff\xd8"):
        raise ApiError(400, "photo must be a JPEG")
    return photo


def field_update(
    principal: Principal, task: dict[str, Any], action: str, body: dict[str, Any], now: float
) -> FieldUpdate:
    """The FieldUpdate a crew's action on ``task`` becomes (validated)."""
    note = str(body.get("note") or "")
    if len(note) > MAX_NOTE:
        raise ApiError(400, f"note is longer than {MAX_NOTE} characters")
    suggested = str(body.get("suggested_department") or "")
    if suggested and suggested not in _department_ids():
        raise ApiError(400, f"suggested_department {suggested!r} is not a department of this city")
    if action == "reject" and not (suggested or note):
        raise ApiError(400, "a rejection needs a suggested_department or a note saying why")
    return FieldUpdate(
        schema_version=SCHEMA_VERSION,
        update_id=uuid.uuid4().hex,
        case_id=str(task["case_id"]),
        action=action,
        at=now,
        department=str(task["department"]),
        crew_id=principal.crew_id or principal.name,
        task_id=str(task["task_id"]),
        note=note,
        photo_b64=_photo(body),
        suggested_department=suggested,
    )


@app.page("/api/tasks/{task_id:.+}/{verb:(?:ack|start|resolve|reject)}")
class TaskAction(web.View):
    """A crew acknowledges, starts, resolves (note/photo) or rejects (wrong department) a task."""

    @guarded
    async def post(self, request: web.Request, task_id: str, verb: str) -> web.Response:
        principal = authenticate(request)
        if principal.role is Role.OPERATOR:
            raise ApiError(403, "operators watch tasks; the department or its crews act on them")
        task = await store.find_task(redis(), principal, task_id, _department_ids())
        if task is None or not can_act_on_task(principal, task):
            raise ApiError(404, f"no task {task_id} on your board")
        try:
            action, status_after = next_task_status(verb, str(task.get("status") or "open"))
        except ValueError as exc:
            raise ApiError(409, str(exc)) from exc
        update = field_update(principal, task, action, await json_body(request), time.time())
        if update.photo_b64:
            # Kept before the update is produced, like camera evidence: the case shows it once accepted.
            await store.keep_field_photo(redis(), update, base64.b64decode(update.photo_b64))
        await produce(FIELD_UPDATES, update.case_id, update, wait=True)
        await audit(
            principal.actor,
            f"task.{verb}",
            task_id,
            client=client_of(request),
            case_id=update.case_id,
            update_id=update.update_id,
            note=update.note[:200],
            suggested_department=update.suggested_department,
        )
        return json_response(
            {"update_id": update.update_id, "task_id": task_id, "action": action, "status": status_after},
            status=202,
        )


@app.page("/api/alerts/recent")
class RecentAlerts(web.View):
    """The latest alerts (newest first) the caller may see; the live feed is /api/alerts/stream."""

    @guarded
    async def get(self, request: web.Request) -> web.Response:
        principal = authenticate(request)
        limit = query_int(request, "limit", 50, 1, 200)
        return json_response({"alerts": await store.recent_alerts(redis(), principal, limit)})


@app.page("/api/audit/recent")
class RecentAudit(web.View):
    """The latest audited writes (admins only); the ``audit`` topic holds them all."""

    @guarded
    async def get(self, request: web.Request) -> web.Response:
        principal = authenticate(request)
        if principal.role is not Role.ADMIN:
            raise ApiError(403, "the audit trail is for admins")
        limit = query_int(request, "limit", 100, 1, 1000)
        raws = await redis().lrange(AUDIT_RECENT, 0, limit - 1)
        return json_response({"entries": [json.loads(r) for r in raws]})

