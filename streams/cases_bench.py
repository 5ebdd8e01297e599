"""``bench cases`` and ``eval dedupe``: the case stage measured on real places and real history.

The bench writes observations built from a city's real history (the reports'
coordinates and true categories, read through :mod:`config.history`) straight onto ``observations`` and reads the
case stage's outputs back: first as fast as it can (capacity), then at 80 % of
that rate (latency: observation -> case event for every observation, and
observation -> dispatch task for the ones that opened a case).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path
from typing import Any

from agents.logic.dedupe_eval import DedupeReplay, history_reports, replay
from config import CityConfig
from config.history.ids import read_city_history
from detectors.text.artifacts import load_router
from detectors.text.classifier import field_levels
from detectors.text.routing import RouteQuery
from schemas.codec import encode
from schemas.records import SCHEMA_VERSION, Observation
from streams.bench import percentiles
from streams.client import StackInfo, fetch_metrics, producer, read_topic, topic_end_offsets
from streams.topics import CASE_EVENTS, DISPATCH_TASKS, OBSERVATIONS

__all__ = ["evaluate_dedupe", "history_observations", "run_cases_bench"]


def evaluate_dedupe(city: CityConfig, data: Path | None = None) -> DedupeReplay:
    """The city's merge rule replayed over its history (or ``data``, a file in the city's format)."""
    default = city.kind(city.default_kind)
    params = {k.id: (k.radius_m, k.window_h * 3600.0) for k in city.case_kinds}
    return replay(history_reports(city, data), params, (default.radius_m, default.window_h * 3600.0))


def history_observations(path: Path | None, city: CityConfig, n: int, run: str, routed: bool = True
                         ) -> list[Observation]:  # fmt: skip
    """N observations with the places and true categories of real reports of the city (fresh ids, times now).

    Each run moves every place by the same whole number of quarter-degrees of longitude
    (derived from ``run``): distances between the places, which is all dedupe looks at,
    are unchanged, and a second run on the same stack does not merge into the first
    run's still-open cases.

    :param routed: carry the route as the hotline stage writes it (the city's router on the real place,
        before the timed run); ``False``: no route, so the case stage routes every case it opens
    """
    now = time.time()
    shift = 0.25 * (int(run, 16) % 1400 + 1)
    rows, queries = [], []
    for record, labels in read_city_history(city, path):
        ids = labels.levels(record)
        fields = field_levels(ids)
        cid, rid = ids[fields["category"]], ids[fields["reason"]] if "reason" in fields else ""
        district = labels.district(record.district)
        if record.lat is None or record.lon is None or not cid or not district:
            continue
        text = record.text[:300]
        rows.append((record, cid, rid, city.kind_for(rid, cid), text, district, record.lat, record.lon))
        queries.append(RouteQuery(rows[-1][3], cid, rid, district, text, record.lat, record.lon,
                                  bool(record.address), record.petition))
        if len(rows) >= n:
            break
    routes = [d.observation_fields() for d in load_router(city).route(queries)] if routed else [{}] * len(rows)
    return [
        Observation(
            schema_version=SCHEMA_VERSION, observation_id=f"bench:{run}:{rec.id}", source="hotline",
            source_id=rec.id, observed_at=now, ingested_at=now, kind=kind, category=cid, reason=rid,
            lat=lat, lon=(lon + shift + 180.0) % 360.0 - 180.0, district=district,
            confidence=0.95, text=text, **route, has_address=bool(rec.address), petition=rec.petition,
        )
        for (rec, cid, rid, kind, text, district, lat, lon), route in zip(rows, routes, strict=True)
    ]


def _workers_cpu_s(info: StackInfo) -> tuple[float, float]:
    """CPU seconds used so far by all the stack's workers, and of those in the garbage collector."""
    cpu = gc = 0.0
    for url in info.web_urls:
        metrics = fetch_metrics(url)
        cpu += metrics.get("process_cpu_seconds_total", 0.0)
        gc += metrics.get("cityops_gc_seconds_total", 0.0)
    return cpu, gc


async def _push(info: StackInfo, observations: list[Observation], rate: float) -> dict[str, float]:
    prod = await producer(info.bootstrap)
    sent: dict[str, float] = {}
    started = time.monotonic()
    try:
        for i, obs in enumerate(observations, 1):
            sent[obs.observation_id] = time.time()
            await prod.send(OBSERVATIONS.name, key=obs.observation_id.encode(), value=encode(obs))
            if rate > 0:
                ahead = i / rate - (time.monotonic() - started)
                if ahead > 0:
                    await asyncio.sleep(ahead)
        await prod.flush()
    finally:
        await prod.stop()
    return sent


async def _outputs(info: StackInfo, sent: dict[str, float], since_events: dict[int, int],
                   since_tasks: dict[int, int] | None) -> tuple[dict[str, float], dict[str, float], dict[str, str]]:
    """Per observation: time its case event was written; per opening observation: time of its task.

    Case events are read until every observation is in a case and every case it opened has its
    dispatch decision; then (``since_tasks`` given) the tasks of the cases dispatched automatically.
    """
    attached: dict[str, float] = {}
    opened_by: dict[str, str] = {}
    decided: dict[str, str] = {}

    def done(records: list[Any]) -> bool:
        for rec in records[len(done_at):]:
            done_at.append(rec.offset)
            ev = json.loads(rec.value)
            oid = (ev.get("report") or {}).get("observation_id", "")
            if oid in sent and oid not in attached:
                attached[oid] = rec.timestamp / 1000.0
                if ev["type"] == "opened":
                    opened_by[ev["case_id"]] = oid
            if ev["type"] in ("dispatched", "triaged"):
                decided.setdefault(ev["case_id"], ev["type"])
        return len(attached) >= len(sent) and all(case in decided for case in opened_by)

    done_at: list[int] = []
    await read_topic(info.bootstrap, CASE_EVENTS.name, until=done, timeout_s=300, from_offsets=since_events)
    tasks: dict[str, float] = {}
    if since_tasks is None:
        return attached, tasks, opened_by
    expected = {case for case in opened_by if decided.get(case) == "dispatched"}

    def tasks_done(records: list[Any]) -> bool:
        for rec in records[len(task_offsets):]:
            task_offsets.append(rec.offset)
            task = json.loads(rec.value)
            if task["case_id"] in expected:
                tasks.setdefault(opened_by[task["case_id"]], rec.timestamp / 1000.0)
        return len(tasks) >= len(expected)

    task_offsets: list[int] = []
    await read_topic(info.bootstrap, DISPATCH_TASKS.name, until=tasks_done, timeout_s=60, from_offsets=since_tasks)
    return attached, tasks, opened_by


async def run_cases_bench(info: StackInfo, city: CityConfig, data: Path | None, n: int,
                          latency_seconds: float = 20.0, latency_rate: float = 0.0,
                          routed: bool = True) -> dict[str, Any]:
    """Capacity (all ``n`` at once), then latency at ``latency_rate`` (default 80 % of capacity).

    :param routed: observations carry the hotline stage's route (see :func:`history_observations`)
    """
    run = uuid.uuid4().hex[:6]
    pool = history_observations(data, city, n * 2, run, routed)
    first, second = pool[:n], pool[n:]
    since_e = await topic_end_offsets(info.bootstrap, CASE_EVENTS.name)
    cpu_before, gc_before = _workers_cpu_s(info)
    sent = await _push(info, first, 0)
    attached, _tasks, _opened = await _outputs(info, sent, since_e, None)
    cpu_after, gc_after = _workers_cpu_s(info)
    cpu_s, gc_s = cpu_after - cpu_before, gc_after - gc_before
    t0 = min(sent.values())
    capacity = len(attached) / max(1e-6, max(attached.values(), default=t0) - t0)
    rate = latency_rate or 0.8 * capacity
    m = min(len(second), max(50, int(rate * latency_seconds)))
    since_e = await topic_end_offsets(info.bootstrap, CASE_EVENTS.name)
    since_t = await topic_end_offsets(info.bootstrap, DISPATCH_TASKS.name)
    sent2 = await _push(info, second[:m], rate)
    attached2, tasks2, opened2 = await _outputs(info, sent2, since_e, since_t)
    to_case = [attached2[o] - sent2[o] for o in attached2]
    to_task = [tasks2[o] - sent2[o] for o in tasks2]
    return {
        "observations_routed_at_intake": routed,
        "observations_capacity_run": len(first),
        "capacity_obs_per_s": round(capacity, 1),
        # The workers' own CPU for the capacity run: what one worker with a core to itself would do,
        # on a machine where the broker, Redis and this load generator take their share of the cores.
        "worker_cpu_ms_per_observation": round(1000.0 * cpu_s / len(first), 3) if cpu_s > 0 else None,
        "obs_per_worker_cpu_second": round(len(first) / cpu_s, 1) if cpu_s > 0 else None,
        "worker_gc_ms_per_observation": round(1000.0 * gc_s / len(first), 3),
        "latency_run_rate_obs_per_s": round(rate, 1),
        "latency_run_observations": m,
        "observation_to_case_event_s": percentiles(to_case),
        "observation_to_task_s": percentiles(to_task),
        "cases_opened_in_latency_run": len(opened2),
        "tasks_in_latency_run": len(tasks2),
        "lost": len(sent) - len(attached) + len(sent2) - len(attached2),
        "latencies": to_task,
    }
