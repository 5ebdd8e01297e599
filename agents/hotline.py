"""Hotline stage: citizen reports become observations (language, redaction, taxonomy, place, route).

Reads ``hotline-events`` in batches, validates each record (bad ones go to
``deadletter`` with the reason), runs the complaint model once per batch off the
event loop (:class:`detectors.text.ComplaintAnalyzer`) and writes one
``Observation`` per report, keyed ``hotline:<event_id>`` so a redelivered report
is recognised downstream.

The batch is routed here too (:class:`detectors.text.routing.Router`): the
dispatch head reads the text features the classifier has just built, so the
route costs a few table lookups here, where the case stage would build the
features again. The observation carries the decision (``department``,
``route_confidence``, ``route_source``); the case stage uses it for the case the
report opens.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from functools import cache
from typing import Any

from detectors.text import ComplaintAnalysis, ComplaintAnalyzer
from detectors.text.routing import RouteDecision, Router
from schemas.records import SCHEMA_VERSION, HotlineEvent, Observation
from streams.app import city, dead_letter, decode_events, produce
from streams.batch_consumer import batch_stage
from streams.metrics import MODEL_SECONDS, STAGE_SECONDS
from streams.topics import HOTLINE_EVENTS, OBSERVATIONS

__all__ = ["READ_COMPLAINTS", "check_report", "to_observation"]

STAGE = "hotline"
# Complaints per batch: the models are batched, and 1,000 take ~0.1 s to analyse.
BATCH = 1000


@cache
def _analyzer() -> ComplaintAnalyzer:
    return ComplaintAnalyzer.load(city())


@cache
def _router() -> Router:
    """The city's router over the analyzer's own artifacts: its scorer still holds the batch's scores."""
    bundle = _analyzer().bundle
    return Router(city(), bundle.scorer, bundle.dispatch)


def check_report(event: HotlineEvent) -> str:
    """What makes a schema-valid report unusable, or '' if it is usable."""
    if not event.text.strip():
        return "text is empty or only whitespace"
    if (event.lat is None) != (event.lon is None):
        return "lat and lon must be given together"
    if event.district and event.district not in {d.id for d in city().districts}:
        return f"unknown district {event.district!r}"
    return ""


def to_observation(
    event: HotlineEvent, analysis: ComplaintAnalysis, route: RouteDecision, ingested_at: float
) -> Observation:
    return Observation(
        schema_version=SCHEMA_VERSION,
        observation_id=f"hotline:{event.event_id}",
        source="open311" if event.channel == "open311" else "hotline",
        source_id=event.event_id,
        observed_at=event.received_at,
        ingested_at=ingested_at,
        kind=analysis.kind,
        category=analysis.category,
        reason=analysis.reason,
        lat=analysis.lat,
        lon=analysis.lon,
        district=analysis.district,
        confidence=round(analysis.confidence, 4),
        location_precision=analysis.precision,
        text=analysis.text,
        language=analysis.language,
        # has_address: the classifier's address flag, with which the router re-reads its reason scores;
        # petition: the report's petition count, which the router reads again when it re-routes the case.
        labels={
            "reason_confidence": round(analysis.reason_confidence, 4),
            "has_address": float(_has_address(event)),
            "petition": float(event.petition),
        },
        **route.observation_fields(),
    )


def _has_address(event: HotlineEvent) -> bool:
    return bool((event.address or "").strip())


def _analyze_and_route(events: Sequence[HotlineEvent]) -> list[tuple[ComplaintAnalysis, RouteDecision]]:
    analyses = _analyzer().analyze(events)
    routes = _router().route(
        [a.route_query(_has_address(e), e.petition) for a, e in zip(analyses, events, strict=True)]
    )
    return list(zip(analyses, routes, strict=True))


def _analyze(events: Sequence[HotlineEvent]) -> list[tuple[ComplaintAnalysis, RouteDecision] | Exception]:
    """Analyze and route a batch; if the batch fails, one by one so one bad report fails alone."""
    started = time.perf_counter()
    try:
        results: list[tuple[ComplaintAnalysis, RouteDecision] | Exception] = list(_analyze_and_route(events))
    except Exception:
        results = []
        for event in events:
            try:
                results.append(_analyze_and_route([event])[0])
            except Exception as exc:
                results.append(exc)
    MODEL_SECONDS.labels("complaints").observe(time.perf_counter() - started)
    return results


async def _handle(events: Sequence[Any]) -> None:
    started = time.perf_counter()
    good: list[tuple[Any, HotlineEvent]] = []
    for event, report in await decode_events(STAGE, events, HotlineEvent):
        problem = check_report(report)
        if problem:
            await dead_letter(STAGE, problem, "invalid_report", message=event.message)
            continue
        good.append((event, report))
    if not good:
        return
    analyses = await asyncio.get_running_loop().run_in_executor(None, _analyze, [report for _, report in good])
    pending = []
    for (event, report), analysis in zip(good, analyses, strict=True):
        if isinstance(analysis, Exception):
            await dead_letter(STAGE, f"complaint model failed: {analysis!r}", "analysis_error",
                              message=event.message)
            continue
        ingested_at = event.message.timestamp or time.time()
        obs = to_observation(report, *analysis, ingested_at)
        pending.append(await produce(OBSERVATIONS, obs.observation_id, obs))
    await asyncio.gather(*pending)
    STAGE_SECONDS.labels(STAGE).observe((time.perf_counter() - started) / len(events))


# Read in whole fetches (see streams.batch_consumer): Faust would hand the models a few dozen at a time.
READ_COMPLAINTS = batch_stage(STAGE, "cityops-hotline", HOTLINE_EVENTS, _handle, max_records=BATCH)
