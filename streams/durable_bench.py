"""``cityops bench durable``: how a fetch slows down as the durable broker's log grows, and where a day leads.

Tansu on S3 writes one object per produce batch and lists a partition's objects
on every fetch. The bench starts its own durable stack (SeaweedFS + Tansu) in a
scratch folder, writes N one-batch produce requests to partition 0 of a fresh
topic, and every ``step`` batches times fetches of the newest record of that
partition and of partition 1 (which holds one batch: the fixed cost). A linear
fit of fetch time against objects, times the objects a day of demo traffic
makes, gives the fetch time after a day.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

__all__ = ["DurableBench", "FetchSample", "fit_line", "probe_after_restart", "run_durable_bench", "write_chart"]

# Past one S3 listing page (1,000 keys) the fetch time leaves the line (and then stalls): fit below it.
LINEAR_UP_TO = 1000


@dataclass
class FetchSample:
    objects: int  # record-batch objects in partition 0 when measured
    fetch_ms: float | None  # median fetch of partition 0's newest record; None: it did not arrive in time
    fetch_small_ms: float | None  # the same on partition 1 (one object): a fetch without the listing's cost
    produce_ms: float  # median one-batch produce (acks=all) over the last step


@dataclass
class DurableBench:
    topic: str = ""
    samples: list[FetchSample] = field(default_factory=list)
    after_restart: dict[int, float | None] = field(default_factory=dict)  # Nth object -> fetch ms (None: stalled)
    batches_per_s: float = 0.0  # per partition, the demo's rate (input of the extrapolation)
    seconds: float = 0.0

    @property
    def answered(self) -> list[FetchSample]:
        return [s for s in self.samples if s.fetch_ms is not None]

    @property
    def stalled_at(self) -> int | None:
        """The first object count at which the newest record could not be fetched (``None``: never)."""
        return next((s.objects for s in self.samples if s.fetch_ms is None), None)

    @property
    def fit(self) -> tuple[float, float]:
        """(ms at zero objects, ms per 1000 objects) of the big partition's fetch up to one listing page."""
        linear = [s for s in self.answered if s.objects <= LINEAR_UP_TO]
        return fit_line([s.objects for s in linear], [s.fetch_ms or 0.0 for s in linear])

    def day(self) -> dict[str, float]:
        """A day at ``batches_per_s``: the objects, and the fetch time then (-1 when fetches stall before)."""
        base, slope = self.fit
        objects = self.batches_per_s * 86_400
        stalled = self.stalled_at is not None and objects >= (self.stalled_at or 0)
        return {"objects_per_partition_per_day": round(objects),
                "fetch_ms_after_a_day": -1 if stalled else round(base + slope * objects / 1000, 1),
                "objects_at_200ms_fetch": round((200 - base) / slope * 1000) if slope > 0 and not stalled else -1,
                "hours_to_200ms_fetch": round((200 - base) / slope * 1000 / self.batches_per_s / 3600, 1)
                if slope > 0 and self.batches_per_s > 0 and not stalled else -1}

    def as_dict(self) -> dict[str, Any]:
        base, slope = self.fit
        stalled = self.stalled_at
        return {"samples": [asdict(s) for s in self.samples], "fetch_ms_base": round(base, 2),
                "fetch_ms_per_1000_objects": round(slope, 2), "batches_per_s_per_partition": self.batches_per_s,
                "fetch_stalled_at_objects": stalled if stalled is not None else -1,
                "minutes_to_stall_at_that_rate": round(stalled / self.batches_per_s / 60, 1)
                if stalled is not None and self.batches_per_s > 0 else -1,
                "after_restart_fetch_ms_by_object": self.after_restart,
                "seconds": round(self.seconds, 1)} | self.day()


def fit_line(xs: list[int], ys: list[float]) -> tuple[float, float]:
    """Least squares ``y = a + b * x / 1000``; returns ``(a, b)``."""
    if len(xs) < 2:
        return (ys[0] if ys else 0.0, 0.0)
    slope, intercept = np.polyfit(np.asarray(xs, dtype=float) / 1000.0, np.asarray(ys, dtype=float), 1)
    return float(intercept), float(slope)


async def _fetch_ms(consumer: AIOKafkaConsumer, tp: TopicPartition, offset: int, repeats: int,
                    timeout_s: float) -> float | None:
    """Median time from a seek to the record at ``offset`` arriving (one fetch round trip); ``None``: it never came."""
    times = []
    for _ in range(repeats):
        consumer.seek(tp, offset)
        started = time.perf_counter()
        try:
            await asyncio.wait_for(consumer.getone(tp), timeout=timeout_s)
        except TimeoutError:
            return None
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


async def run_durable_bench(bootstrap: str, batches: int, step: int, records_per_batch: int = 10,
                            batches_per_s: float = 6.25, repeats: int = 5, timeout_s: float = 10.0,
                            progress: Callable[[FetchSample], None] | None = None) -> DurableBench:
    """Write ``batches`` one-batch requests; every ``step``, time fetches. Stops after two stalled fetches."""
    topic = f"bench-durable-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30000)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])
    finally:
        await admin.close()
    big, small = TopicPartition(topic, 0), TopicPartition(topic, 1)
    prod = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
    # Tansu holds a fetch that finds nothing for its whole wait: keep the wait short (see streams.kafka_tuning).
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                fetch_max_wait_ms=20)
    await prod.start()
    await consumer.start()
    result = DurableBench(topic=topic, batches_per_s=batches_per_s)
    started = time.monotonic()
    payload = b"x" * 200
    try:
        consumer.assign([big, small])
        await (await prod.send(topic, payload, partition=1))
        produce_ms: list[float] = []
        for n in range(1, batches + 1):
            batch = prod.create_batch()
            for i in range(records_per_batch):
                batch.append(key=str(i).encode(), value=payload, timestamp=None)
            t0 = time.perf_counter()
            await (await prod.send_batch(batch, topic, partition=0))
            produce_ms.append((time.perf_counter() - t0) * 1000)
            if n % step == 0 or n == batches:
                sample = FetchSample(
                    objects=n, fetch_ms=_round(await _fetch_ms(consumer, big, n * records_per_batch - 1, repeats,
                                                               timeout_s)),
                    fetch_small_ms=_round(await _fetch_ms(consumer, small, 0, repeats, timeout_s)),
                    produce_ms=round(statistics.median(produce_ms), 2))
                produce_ms.clear()
                result.samples.append(sample)
                if progress:
                    progress(sample)
                if sum(1 for s in result.samples if s.fetch_ms is None) >= 2:
                    break
    finally:
        await consumer.stop()
        await prod.stop()
    result.seconds = time.monotonic() - started
    return result


async def probe_after_restart(bootstrap: str, topic: str, objects: list[int], records_per_batch: int = 10,
                              timeout_s: float = 10.0) -> dict[int, float | None]:
    """After a broker restart: fetch time of the first record of the Nth batch object of partition 0 (None: stalled)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                fetch_max_wait_ms=20)
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        return {n: _round(await _fetch_ms(consumer, tp, (n - 1) * records_per_batch, 1, timeout_s)) for n in objects}
    finally:
        await consumer.stop()


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def write_chart(result: DurableBench, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = result.answered
    base, slope = result.fit
    day = result.day()
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.plot([s.objects for s in ok], [s.fetch_ms or 0.0 for s in ok], "o",
            label="fetch, partition of N objects (median)")
    small = [s for s in result.samples if s.fetch_small_ms is not None]
    ax.plot([s.objects for s in small], [s.fetch_small_ms or 0.0 for s in small], "s", ms=4,
            label="fetch, partition of 1 object")
    ax.plot([s.objects for s in result.samples], [s.produce_ms for s in result.samples], "^", ms=4,
            label="produce one batch (median)")
    line = [x for x in (s.objects for s in ok) if x <= LINEAR_UP_TO]
    ax.plot(line, [base + slope * x / 1000 for x in line], "-", lw=1,
            label=f"fit up to {LINEAR_UP_TO}: {base:.1f} ms + {slope:.1f} ms/1000 objects")
    if result.stalled_at is not None:
        ax.axvline(result.stalled_at, color="red", ls="--", lw=1,
                   label=f"newest record not fetched within 10 s from {result.stalled_at} objects (Tansu 0.6.0)")
        minutes = result.stalled_at / result.batches_per_s / 60
        when = f"stall at {result.stalled_at} objects ({minutes:.0f} min)"
    else:
        when = f"fetch ~{day['fetch_ms_after_a_day']:.0f} ms after a day"
    ax.set_yscale("log")
    ax.set_xlabel("record-batch objects in the partition")
    ax.set_ylabel("ms (log scale)")
    ax.set_title(f"Tansu on SeaweedFS at the demo's {result.batches_per_s:g} batches/s/partition: {when}",
                 fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
