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

from agents.logic.inputs import fingerprint, future_time, visible_text
from detectors.text import ComplaintAnalysis, ComplaintAnalyzer
from detectors.text.routing import RouteDecision, Router
from schemas.codec import encode
from schemas.records import HotlineEvent, Observation, fitted_id
from streams.app import city, redis
from streams.batch_consumer import RecordEvent
from streams.duplicates import CONFLICT, check_seen
from streams.metrics import MODEL_SECONDS, observe_batch
from streams.outbox import Outbox
from streams.settings import current_settings
from streams.stage import BatchStage, decode_batch
from streams.topics import DEADLETTER, HOTLINE_EVENTS, OBSERVATIONS

__all__ = ["check_report", "stages", "to_observation"]

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


def check_report(event: HotlineEvent, now: float, skew_s: float) -> str:
    """What makes a schema-valid report unusable, or '' if it is usable."""
    if not visible_text(event.text):
        return "text is empty, only whitespace or only invisible characters"
    if (event.lat is None) != (event.lon is None):
        return "lat and lon must be given together"
    if event.district and event.district not in {d.id for d in city().districts}:
        return f"unknown district {event.district!r}"
    return future_time("received_at", event.received_at, now, skew_s)


def to_observation(
    event: HotlineEvent, analysis: ComplaintAnalysis, route: RouteDecision, ingested_at: float
) -> Observation:
    return Observation(
        observation_id=fitted_id(f"hotline:{event.event_id}"),
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
        labels={"reason_confidence": round(analysis.reason_confidence, 4)},
        # The classifier's address flag (the router re-reads its reason scores with it) and the petition
        # count, which the router reads again when it re-routes the case.
        has_address=_has_address(event),
        petition=event.petition,
        address=(event.address or "")[:300],
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


async def _handle(events: Sequence[RecordEvent], out: Outbox) -> None:
    started = time.perf_counter()
    usable: list[tuple[RecordEvent, HotlineEvent]] = []
    now, skew = time.time(), current_settings().clock_skew_s
    for event, report in decode_batch(STAGE, events, HotlineEvent, out):
        problem = check_report(report, now, skew)
        if problem:
            out.dead_letter(STAGE, problem, "invalid_report", message=event.message)
            continue
        usable.append((event, report))
    seen = await check_seen(redis(), STAGE, [(r.event_id, fingerprint(encode(r))) for _, r in usable])
    good = []
    for (event, report), verdict in zip(usable, seen, strict=True):
        if verdict == CONFLICT:
            out.dead_letter(STAGE, f"event_id {report.event_id!r} was used before for another report",
                            "conflicting_duplicate", message=event.message)
        else:
            good.append((event, report))  # new, or a redelivery: downstream steps recognise their own work
    if not good:
        return
    analyses = await asyncio.get_running_loop().run_in_executor(None, _analyze, [report for _, report in good])
    for (event, report), analysis in zip(good, analyses, strict=True):
        if isinstance(analysis, Exception):
            out.dead_letter(STAGE, f"complaint model failed: {analysis!r}", "analysis_error", message=event.message)
            continue
        # Kafka stamps records in milliseconds; every time in a record is seconds.
        ingested_at = event.message.timestamp / 1000.0 if event.message.timestamp else time.time()
        obs = to_observation(report, *analysis, ingested_at)
        out.add_record(OBSERVATIONS, obs.observation_id, obs)
    observe_batch(STAGE, started, len(events))


def _warm() -> None:
    """Load the models and run them once, so the first complaints after readiness do not wait for the load."""
    _analyze_and_route([HotlineEvent(event_id="warm-up", channel="replay", received_at=time.time(),
                                     text="warm-up", district="")])


def stages() -> list[BatchStage]:
    # Read in whole fetches (see streams.batch_consumer): Faust would hand the models a few dozen at a time.
    return [BatchStage(STAGE, "cityops-hotline", HOTLINE_EVENTS, _handle, writes=(OBSERVATIONS, DEADLETTER),
                       max_records=BATCH, warm=_warm)]
