"""Case work beyond the task board: crews' photos, camera review, the filtered heat layer, health reports.

Camera review is Frigate's loop for a city: an operator confirms what a camera saw
or dismisses it as a false positive (which closes the case with reason
``false_positive``); either way the frame and its box are kept in Redis as a
labelled example, listed at ``/api/review/examples`` and exported for the next
detector training run as YOLO files (``/api/review/examples.zip``).
"""

from __future__ import annotations

import asyncio
import io
import json
import time
import uuid
import zipfile
from collections import Counter
from typing import Any

import h3
from faust import web

from agents.logic import analytics
from agents.logic.review import frame_box, review_example
from schemas.records import SCHEMA_VERSION, CaseCommand
from streams import redis_keys as keys
from streams.app import app, city, produce, redis
from streams.topics import CASE_COMMANDS
from streams.web import store, workbench
from streams.web.access import Principal, can_read_case, can_read_reports, can_triage
from streams.web.api import case_filter
from streams.web.audit import audit
from streams.web.auth import authenticate
from streams.web.http import ApiError, client_of, guarded, json_body, json_response, query_float, query_int

__all__ = ["health_report", "yolo_export"]

VERDICTS = ("confirmed", "false_positive")
_WEEK = 7 * 86400.0


async def _readable_case(principal: Principal, case_id: str) -> dict[str, Any]:
    doc = await store.load_case(redis(), case_id)
    if doc is None or not can_read_case(principal, doc):
        raise ApiError(404, f"no case {case_id}")
    return doc


@app.page("/api/cases/{case_id}/photos/{update_id}")
class FieldPhoto(web.View):
    """A photo a crew attached to an update of this case (a resolve's proof of the fix)."""

    @guarded
    async def get(self, request: web.Request, case_id: str, update_id: str) -> web.Response:
        await _readable_case(authenticate(request), case_id)
        if not await redis().hexists(keys.case_photos(case_id), update_id):
            raise ApiError(404, f"case {case_id} has no photo {update_id}")
        jpeg: Any = await redis().get(keys.field_photo(update_id))
        if not jpeg:
            raise ApiError(404, f"photo {update_id} has expired")
        return self.bytes(jpeg, content_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})


def _first_frame(doc: dict[str, Any]) -> dict[str, Any]:
    return next((o for o in doc.get("observations") or [] if o.get("evidence")), {})


@app.page("/api/cases/{case_id}/review")
class Review(web.View):
    """Confirm a camera case, or dismiss it as a false positive (closes it); either is a training label."""

    @guarded
    async def post(self, request: web.Request, case_id: str) -> web.Response:
        principal = authenticate(request)
        if not can_triage(principal):
            raise ApiError(403, "camera review is the management centre's (operator or admin)")
        body = await json_body(request)
        verdict = str(body.get("verdict") or "")
        if verdict not in VERDICTS:
            raise ApiError(400, f"verdict must be one of {', '.join(VERDICTS)}")
        doc = await _readable_case(principal, case_id)
        if doc.get("status") in ("verified", "closed"):
            raise ApiError(409, f"case {case_id} is {doc.get('status')}; it cannot be reviewed")
        at = time.time()
        example = review_example(case_id, str(doc.get("category") or ""), str(doc.get("kind") or ""),
                                 doc.get("observations") or [], verdict, principal.actor, at)
        if example is None:
            raise ApiError(409, f"case {case_id} has no camera frame to review")
        client = redis()
        # Evidence expires with the case window; the labelled frame must outlive it until training.
        jpeg: Any = await client.get(keys.evidence(example["observation_id"]))
        pipe = client.pipeline(transaction=True)
        if jpeg:
            pipe.set(keys.review_frame(example["observation_id"]), jpeg)
        pipe.hset(keys.REVIEW_EXAMPLES, case_id, json.dumps(example))
        await pipe.execute()
        command = CaseCommand(
            schema_version=SCHEMA_VERSION, command_id=f"review:{uuid.uuid4().hex}", case_id=case_id,
            type="review", at=example["at"], verdict=verdict, by=principal.actor,
        )
        await produce(CASE_COMMANDS, case_id, command, wait=True)
        await audit(principal.actor, f"case.review.{verdict}", case_id, client=client_of(request))
        return json_response({"case_id": case_id, "verdict": verdict, "example": example}, status=202)


@app.page("/api/review/queue")
class ReviewQueue(web.View):
    """Open camera cases nobody has reviewed yet, newest first, with their address and latest frame."""

    @guarded
    async def get(self, request: web.Request) -> web.Response:
        principal = authenticate(request)
        if not can_triage(principal):
            raise ApiError(403, "camera review is the management centre's (operator or admin)")
        limit = query_int(request, "limit", 100, 1, 500)
        flt = store.CaseFilter(sources=("camera",))
        docs, truncated = await store.load_cases(redis(), principal, flt, limit * 2)
        reviewed = set(await redis().hkeys(keys.REVIEW_EXAMPLES)) if docs else set()
        reviewed = {r.decode() if isinstance(r, bytes) else r for r in reviewed}
        # A frame must still be there to be judged (evidence expires with its case kind's window).
        kept = await store.kept_evidence(redis(), [workbench.photo_of(d) for d in docs])
        cases = [{**store.summary_of(d), "address": workbench.address_of(d, city()), "photo": workbench.photo_of(d),
                  "bbox": frame_box(_first_frame(d).get("bbox")), "camera_id": _first_frame(d).get("camera_id", "")}
                 for d in docs if d["case_id"] not in reviewed and d.get("status") not in ("verified", "closed")
                 and workbench.photo_of(d) in kept][:limit]
        return json_response({"cases": cases, "count": len(cases), "truncated": truncated})


async def _examples() -> list[dict[str, Any]]:
    raw = await redis().hgetall(keys.REVIEW_EXAMPLES)
    return sorted((json.loads(v) for v in raw.values()), key=lambda e: -float(e.get("at") or 0.0))


@app.page("/api/review/examples")
class ReviewExamples(web.View):
    """Reviewed camera frames, newest first: the next detector training run's labelled examples."""

    @guarded
    async def get(self, request: web.Request) -> web.Response:
        if not can_triage(authenticate(request)):
            raise ApiError(403, "camera review is the management centre's (operator or admin)")
        examples = await _examples()
        if examples:  # evidence expires; a reviewed frame is kept until exported (or lost with Redis)
            kept = await redis().mget([keys.review_frame(e["observation_id"]) for e in examples])
            for example, frame in zip(examples, kept, strict=True):
                example["frame_kept"] = bool(frame)
        return json_response({"examples": examples, "count": len(examples),
                              "by_verdict": dict(Counter(e["verdict"] for e in examples))})


def yolo_export(examples: list[dict[str, Any]], frames: dict[str, bytes]) -> bytes:
    """A zip of YOLO files: ``images/*.jpg``, ``labels/*.txt`` (a false positive's file is empty: a hard
    negative), ``classes.txt`` and ``examples.jsonl`` with every verdict and the box it was about."""
    classes = sorted({e["category"] for e in examples if e["verdict"] == "confirmed"})
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("classes.txt", "".join(f"{c}\n" for c in classes))
        z.writestr("examples.jsonl", "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in examples))
        for e in examples:
            jpeg = frames.get(e["observation_id"])
            if not jpeg:
                continue
            stem = e["observation_id"].replace(":", "_").replace("/", "_")
            z.writestr(f"images/{stem}.jpg", jpeg)
            label = ""
            if e["verdict"] == "confirmed" and len(e["bbox"]) == 4:
                x0, y0, x1, y1 = e["bbox"]
                label = f"{classes.index(e['category'])} {(x0 + x1) / 2:.6f} {(y0 + y1) / 2:.6f} " \
                        f"{x1 - x0:.6f} {y1 - y0:.6f}\n"
            z.writestr(f"labels/{stem}.txt", label)
    return out.getvalue()


@app.page("/api/review/examples.zip")
class ReviewExport(web.View):
    """The labelled examples as a YOLO training folder (zip)."""

    @guarded
    async def get(self, request: web.Request) -> web.Response:
        if not can_triage(authenticate(request)):
            raise ApiError(403, "camera review is the management centre's (operator or admin)")
        examples = await _examples()
        ids = [e["observation_id"] for e in examples]
        raws = await redis().mget([keys.review_frame(i) for i in ids]) if ids else []
        frames: dict[str, bytes] = {i: r for i, r in zip(ids, raws, strict=True) if isinstance(r, bytes) and r}
        body = await asyncio.to_thread(yolo_export, examples, frames)
        return self.bytes(body, content_type="application/zip",
                          headers={"Content-Disposition": 'attachment; filename="review-examples.zip"'})


@app.page("/api/map/heat")
class FilteredHeat(web.View):
    """The map's heat layer for exactly the cases the console's filters admit: H3 cells with counts.

    Counted over every case's analytics facts (compact, one read), not only the newest ones the map lists.
    """

    @guarded
    async def get(self, request: web.Request) -> web.Response:
        principal = authenticate(request)
        flt = case_filter(request)
        facts = await store.load_facts(redis(), principal)
        counts = Counter(f.cell for f in facts if f.cell and flt.matches(f.to_json()))
        cells = [{"cell": cell, "cases": n,
                  "boundary": [[round(a, 6), round(b, 6)] for a, b in h3.cell_to_boundary(cell)]}
                 for cell, n in counts.most_common()]
        return json_response({"resolution": city().city.h3_resolution, "cells": cells})


def _trend(facts: list[analytics.CaseFacts], now: float, weeks: int) -> list[dict[str, Any]]:
    """Cases opened and resolved per week, oldest week first."""
    rows = []
    for w in range(weeks, 0, -1):
        start, end = now - w * _WEEK, now - (w - 1) * _WEEK
        rows.append({"week_start": start,
                     "opened": sum(1 for f in facts if start <= (f.opened_at or f.first_observed_at) < end),
                     "resolved": sum(1 for f in facts if f.resolved_at and start <= f.resolved_at < end)})
    return rows


def health_report(facts: list[analytics.CaseFacts], group: str, unit: str, now: float, since: float,
                  labels: dict[str, str]) -> dict[str, Any]:
    """One district's or department's health: volume, top problems, rates, weekly trend, hot spots."""
    mine = [f for f in facts if getattr(f, group) == unit and (not since or f.started_at >= since)]
    summary = analytics.summarize(mine, now, top=8)
    for problem in summary["top_problems"]:
        problem["label"] = labels.get(problem["category"], problem["category"])
    spots = analytics.hot_spots(mine, min_cases=2, top=10)
    for spot in spots:
        spot["top_category_label"] = labels.get(str(spot["top_category"]), spot["top_category"])
        spot["districts"] = [labels.get(d, d) for d in spot["districts"]]
    weeks = max(1, min(26, round((now - since) / _WEEK))) if since else 12
    return {"group": group, "id": unit, "name": labels.get(unit, unit), "generated_at": now, "since": since,
            "summary": summary, "trend": _trend(mine, now, weeks), "hot_spots": spots}


@app.page("/api/health/{group:(?:district|department)}/{unit}")
class HealthReport(web.View):
    """A district's or department's health report (``days``: the window, default 30)."""

    @guarded
    async def get(self, request: web.Request, group: str, unit: str) -> web.Response:
        principal = authenticate(request)
        if not can_read_reports(principal):
            raise ApiError(403, "reports are for operators, departments and admins")
        labels = workbench.city_labels(city())
        known = {d.id for d in city().districts} if group == "district" else {d.id for d in city().departments}
        if unit not in known:
            raise ApiError(404, f"no {group} {unit}")
        now = time.time()
        days = query_float(request, "days", 30.0)
        since = now - days * 86400 if days > 0 else 0.0
        facts = await store.load_facts(redis(), principal)
        limit = query_int(request, "top", 8, 1, 50)
        body = await asyncio.to_thread(health_report, facts, group, unit, now, since, labels)
        body["summary"]["top_problems"] = body["summary"]["top_problems"][:limit]
        body["timezone"] = city().city.timezone
        return json_response(body)
