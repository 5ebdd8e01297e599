"""Reports and exports: per district and per department, hot spots, heat map (JSON, CSV, GeoJSON, PNG).

Everything is computed on request from the analytics facts (one Redis hash, see
:mod:`agents.analytics`) with :mod:`agents.logic.analytics`, in a thread so the
worker's event loop keeps consuming. A department sees reports on its own cases.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import h3
from faust import web

from agents.logic import analytics
from agents.logic.analytics import CaseFacts, Window
from streams.app import app, city, redis
from streams.web import store
from streams.web.access import Principal, can_read_reports
from streams.web.auth import authenticate
from streams.web.heatmap import render_heatmap
from streams.web.http import ApiError, guarded, json_response, query_float, query_int
from streams.web.metrics import REPORT_SECONDS

__all__ = ["REPORT_COLUMNS", "build_report"]

T = TypeVar("T")

REPORT_COLUMNS = (
    "rank", "name", "volume", "open", "resolved", "overdue", "resolution_rate", "on_time_rate",
    "repeat_rate", "reopen_rate", "satisfaction_rate", "median_hours_to_resolve", "rating", "top_problems",
)
_CASE_COLUMNS = (
    "case_id", "status", "kind", "category", "district", "department", "priority", "reports",
    "lat", "lon", "opened_at", "sla_deadline", "resolved_at", "reopened",
)


@dataclass(frozen=True)
class Scope:
    """Whose cases, which window."""

    principal: Principal
    window: Window
    now: float


async def _scope(request: web.Request) -> Scope:
    principal = authenticate(request)
    if not can_read_reports(principal):
        raise ApiError(403, "reports are for operators, departments and admins")
    now = time.time()
    days = query_float(request, "days", 30.0)
    since = query_float(request, "since", now - days * 86400 if days > 0 else 0.0)
    until = query_float(request, "until", 0.0)
    return Scope(principal, Window(since, until), now)


async def _facts(scope: Scope) -> list[CaseFacts]:
    return [f for f in await store.load_facts(redis(), scope.principal) if scope.window.holds(f)]


async def _timed(name: str, fn: Callable[[], T]) -> T:
    started = time.perf_counter()
    try:
        return await asyncio.to_thread(fn)
    finally:
        REPORT_SECONDS.labels(name).observe(time.perf_counter() - started)


def _labels() -> dict[str, str]:
    c = city()
    labels = {n.id: n.label for n in c.taxonomy.nodes}
    labels.update({k.id: k.label for k in c.case_kinds})
    # A camera case's category is the detector's class: it reads as its case kind's name.
    labels.update({cls: labels.get(kind, kind) for cls, kind in c.vision.class_kinds.items()})
    labels.update({d.id: d.name for d in c.districts})
    labels.update({d.id: d.name for d in c.departments})
    return labels


def _label_problems(rows: list[dict[str, Any]], labels: dict[str, str]) -> None:
    for row in rows:
        for problem in row.get("top_problems", []):
            problem["label"] = labels.get(problem["category"], problem["category"])


def _groups(facts: list[CaseFacts], by: str, now: float, labels: dict[str, str]) -> list[dict[str, Any]]:
    """Districts or departments rated and ranked; the triage desk is listed but never ranked."""
    return analytics.group_report(facts, by, now, labels=labels, unranked=(city().routing.triage_department,))


def build_report(facts: list[CaseFacts], now: float, labels: dict[str, str]) -> dict[str, Any]:
    """The full report: city totals, districts and departments rated and ranked, hot spots."""
    city_row = analytics.summarize(facts, now, top=10)
    districts = _groups(facts, "district", now, labels)
    departments = _groups(facts, "department", now, labels)
    _label_problems([city_row, *districts, *departments], labels)
    spots = analytics.hot_spots(facts)
    for spot in spots:
        spot["top_category_label"] = labels.get(str(spot["top_category"]), spot["top_category"])
    return {"city": city_row, "districts": districts, "departments": departments, "hot_spots": spots}


@app.page("/api/reports")
class Report(web.View):
    """The report as JSON (``days``, or ``since``/``until`` in epoch seconds)."""

    @guarded
    async def get(self, request: web.Request) -> web.Response:
        scope = await _scope(request)
        started = time.perf_counter()
        facts = await _facts(scope)
        labels = _labels()
        body = await _timed("report", lambda: build_report(facts, scope.now, labels))
        body.update(
            generated_at=scope.now,
            window={"since": scope.window.since, "until": scope.window.until or scope.now},
            cases=len(facts),
            took_s=round(time.perf_counter() - started, 3),
        )
        return json_response(body)


def _csv(name: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{name}"'}


@app.page("/api/reports/{group:(?:districts|departments)}.csv")
class GroupCsv(web.View):
    """Districts or departments with every rate, rating and rank, as CSV."""

    @guarded
    async def get(self, request: web.Request, group: str) -> web.Response:
        scope = await _scope(request)
        facts = await _facts(scope)
        labels = _labels()
        by = group.removesuffix("s")
        text = await _timed(
            f"{group}.csv",
            lambda: analytics.to_csv(
                _groups(facts, by, scope.now, labels), (by, *REPORT_COLUMNS)
            ),
        )
        return self.text(text, content_type="text/csv", headers=_csv(f"{group}.csv"))


@app.page("/api/reports/cases.csv")
class CasesCsv(web.View):
    """Every case in the window, one row each, as CSV."""

    @guarded
    async def get(self, request: web.Request) -> web.Response:
        facts = await _facts(await _scope(request))
        rows = [f.to_json() for f in facts]
        text = await _timed("cases.csv", lambda: analytics.to_csv(rows, _CASE_COLUMNS))
        return self.text(text, content_type="text/csv", headers=_csv("cases.csv"))


@app.page("/api/reports/cases.geojson")
class CasesGeojson(web.View):
    """Every case in the window as GeoJSON points."""

    @guarded
    async def get(self, request: web.Request) -> web.Response:
        facts = await _facts(await _scope(request))
        return json_response(analytics.cases_geojson(facts), content_type="application/geo+json")


@app.page("/api/reports/hotspots.geojson")
class HotspotsGeojson(web.View):
    """Hot spots (H3 cells with the most cases) as GeoJSON hexagons."""

    @guarded
    async def get(self, request: web.Request) -> web.Response:
        facts = await _facts(await _scope(request))
        top = query_int(request, "top", 20, 1, 500)
        min_cases = query_int(request, "min_cases", 3, 1, 100_000)
        spots = analytics.hot_spots(facts, min_cases=min_cases, top=top)
        return json_response(analytics.hotspots_geojson(spots), content_type="application/geo+json")


@app.page("/api/reports/heat")
class Heat(web.View):
    """The heat layer of the console's map: H3 cells with counts and outlines ([lat, lon])."""

    @guarded
    async def get(self, request: web.Request) -> web.Response:
        facts = await _facts(await _scope(request))
        cells = analytics.heat_cells(facts)
        return json_response(
            {
                "resolution": city().city.h3_resolution,
                "cells": [
                    {"cell": cell, "cases": n,
                     "boundary": [[round(a, 6), round(b, 6)] for a, b in h3.cell_to_boundary(cell)]}
                    for cell, n in sorted(cells.items(), key=lambda kv: -kv[1])
                ],
            }
        )


@app.page("/api/reports/heatmap.png")
class HeatmapPng(web.View):
    """The heat map as a PNG picture (matplotlib, offline)."""

    @guarded
    async def get(self, request: web.Request) -> web.Response:
        scope = await _scope(request)
        facts = await _facts(scope)
        c = city()
        days = (scope.now - scope.window.since) / 86400 if scope.window.since else None
        title = f"{c.city.name}: {len(facts)} cases" + (f", last {days:.0f} days" if days else "")
        png = await _timed(
            "heatmap.png",
            lambda: render_heatmap(
                c.districts, analytics.heat_cells(facts), title=title, hot_spots=analytics.hot_spots(facts)
            ),
        )
        return self.bytes(png, content_type="image/png")  # no-store, as every data answer (streams.web.http)
