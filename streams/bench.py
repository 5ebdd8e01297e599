"""End-to-end benchmark of the running pipeline against the raw speed of the same broker.

``cityops bench hotline`` pushes N real appeals (fresh ids) into ``hotline-events``
as fast as the producer can, then reads the outputs back from the topics:
complaint -> case event (opened/merged) for every complaint, and complaint ->
dispatch decision for the ones that opened a case. In the same run it produces
and consumes N records of the same size with plain aiokafka, so the pipeline's
cost shows as a ratio to what the broker alone does on this machine.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from schemas.codec import encode
from schemas.records import HotlineEvent
from streams.client import StackInfo, producer, read_topic, topic_end_offsets
from streams.replay import SPB_FILE, load_events
from streams.topics import CASE_EVENTS, HOTLINE_EVENTS

__all__ = ["HotlineBench", "percentiles", "raw_consume_rate", "run_hotline_bench"]


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50": float("nan"), "p95": float("nan"), "p99": float("nan"), "max": float("nan")}
    arr = np.asarray(values)
    return {f"p{q}": round(float(np.percentile(arr, q)), 4) for q in (50, 95, 99)} | {
        "max": round(float(arr.max()), 4)
    }


@dataclass
class HotlineBench:
    n: int
    offered_rate: float = 0.0  # complaints/s pushed (0 = all at once)
    skipped_latest: int = 0  # the appeals pushed end this many before the file's latest one
    seconds_to_produce: float = 0.0
    complaint_to_case: dict[str, float] = field(default_factory=dict)
    complaint_to_dispatch: dict[str, float] = field(default_factory=dict)
    pipeline_throughput: float = 0.0
    cases_opened: int = 0
    merged: int = 0
    dispatched: int = 0
    triaged: int = 0
    missing: int = 0
    raw_consume_rate: float = 0.0
    ratio_to_raw: float = 0.0
    latencies: list[float] = field(default_factory=list, repr=False)

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "latencies"}
        out["pipeline_throughput"] = round(self.pipeline_throughput, 1)
        out["raw_consume_rate"] = round(self.raw_consume_rate, 1)
        out["ratio_to_raw"] = round(self.ratio_to_raw, 4)
        return out


async def raw_consume_rate(bootstrap: str, n: int, size: int) -> float:
    """Records/s a plain aiokafka consumer reads from this broker (records of ``size`` bytes)."""
    name = f"bench-raw-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, num_partitions=HOTLINE_EVENTS.partitions, replication_factor=1)])
    finally:
        await admin.close()
    prod = await producer(bootstrap)
    payload = b"x" * size
    try:
        for i in range(n):
            await prod.send(name, key=str(i).encode(), value=payload)
        await prod.flush()
    finally:
        await prod.stop()
    consumer = AIOKafkaConsumer(name, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest",
                                enable_auto_commit=False)
    await consumer.start()
    try:
        got = 0
        started = time.perf_counter()
        while got < n and time.perf_counter() - started < 120:
            batches = await consumer.getmany(timeout_ms=500, max_records=5000)
            got += sum(len(v) for v in batches.values())
        return got / (time.perf_counter() - started)
    finally:
        await consumer.stop()


async def run_hotline_bench(info: StackInfo, n: int, data: Path = SPB_FILE, timeout_s: float = 300.0,
                            progress: Any = None, rate: float = 0.0, skip: int = 0) -> HotlineBench:
    """Push ``n`` appeals (all at once, or paced at ``rate`` per second) and time them through the pipeline.

    The appeals are the file's latest ``n`` (after skipping the ``skip`` latest): a second run on the
    same stack should skip what the first pushed, or its reports merge into the first run's open cases.
    """
    run = uuid.uuid4().hex[:6]
    source = load_events(data, n + skip, latest=True)[:n]
    # Reports "arrive now": with their 2021 times every SLA would be long breached and the bench would
    # measure a storm of escalations instead of the intake path.
    now = time.time()
    events = [HotlineEvent(**{**e.asdict(), "event_id": f"bench-{run}-{i}", "received_at": now})
              for i, e in enumerate(source)]
    wanted = {f"hotline:{e.event_id}" for e in events}
    start_events = await topic_end_offsets(info.bootstrap, CASE_EVENTS.name)
    sent_at: dict[str, float] = {}
    prod = await producer(info.bootstrap)
    t0 = time.time()
    try:
        for i, e in enumerate(events, 1):
            sent_at[f"hotline:{e.event_id}"] = time.time()
            await prod.send(HOTLINE_EVENTS.name, key=e.event_id.encode(), value=encode(e))
            if rate > 0:
                await asyncio.sleep(max(0.0, t0 + i / rate - time.time()))
        await prod.flush()
    finally:
        await prod.stop()
    result = HotlineBench(n=len(events), seconds_to_produce=round(time.time() - t0, 3), offered_rate=rate,
                          skipped_latest=skip)

    seen: dict[str, tuple[float, str, str]] = {}

    def all_attached(records: list[Any]) -> bool:
        for rec in records[len(seen_offsets):]:
            seen_offsets.append(rec.offset)
            ev = json.loads(rec.value)
            obs_id = (ev.get("report") or {}).get("observation_id", "")
            if obs_id in wanted and obs_id not in seen:
                seen[obs_id] = (rec.timestamp / 1000.0, ev["type"], ev["case_id"])
        if progress:
            progress(len(seen), len(wanted))
        return len(seen) >= len(wanted)

    seen_offsets: list[int] = []
    await read_topic(info.bootstrap, CASE_EVENTS.name, until=all_attached, timeout_s=timeout_s,
                     from_offsets=start_events)
    opened = {case_id: obs_id for obs_id, (_, etype, case_id) in seen.items() if etype == "opened"}
    decided: dict[str, float] = {}

    def all_decided(records: list[Any]) -> bool:
        for rec in records:
            ev = json.loads(rec.value)
            if ev["type"] in ("dispatched", "triaged") and ev["case_id"] in opened:
                decided.setdefault(ev["case_id"], rec.timestamp / 1000.0)
                if ev["type"] == "dispatched":
                    dispatched.add(ev["case_id"])
        return len(decided) >= len(opened)

    dispatched: set[str] = set()
    await read_topic(info.bootstrap, CASE_EVENTS.name, until=all_decided, timeout_s=60.0,
                     from_offsets=start_events)
    to_case = [t - sent_at[o] for o, (t, _, _) in seen.items()]
    to_dispatch = [decided[c] - sent_at[o] for c, o in opened.items() if c in decided]
    result.latencies = to_case
    result.complaint_to_case = percentiles(to_case)
    result.complaint_to_dispatch = percentiles(to_dispatch)
    last = max([t for t, _, _ in seen.values()] + list(decided.values()), default=t0)
    result.pipeline_throughput = len(seen) / max(1e-6, last - t0)
    result.cases_opened = len(opened)
    result.merged = sum(1 for _, etype, _ in seen.values() if etype != "opened")
    result.dispatched = len(dispatched)
    result.triaged = len(decided) - len(dispatched)
    result.missing = len(wanted) - len(seen)
    size = int(np.mean([len(encode(e)) for e in events])) if events else 512
    result.raw_consume_rate = await raw_consume_rate(info.bootstrap, len(events), size)
    result.ratio_to_raw = result.pipeline_throughput / result.raw_consume_rate if result.raw_consume_rate else 0.0
    return result


def write_histogram(latencies: list[float], path: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.hist(np.asarray(latencies) * 1000, bins=50, color="#2b6cb0")
    ax.set_xlabel("latency (ms)")
    ax.set_ylabel("complaints")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path

