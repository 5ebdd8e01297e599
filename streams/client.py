"""Talking to a running stack from outside a worker: find it, produce to it, read its topics.

``cityops up`` writes where everything is to ``.cityops/stack.json``; replay,
bench and demo read it (environment variables win, for a real cluster).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from streams.log_reader import read_to_end
from streams.settings import settings

__all__ = ["StackInfo", "fetch_json", "fetch_metrics", "producer", "read_topic", "topic_end_offsets", "wait_ready"]

STACK_FILE = settings.data_dir / "stack.json"


@dataclass
class StackInfo:
    kafka_url: str
    redis_url: str
    web_urls: list[str] = field(default_factory=list)

    @property
    def bootstrap(self) -> str:
        return ",".join(p.removeprefix("kafka://") for p in self.kafka_url.split(";"))

    def save(self, path: Path = STACK_FILE) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def find(cls, path: Path = STACK_FILE) -> StackInfo:
        """The running stack: ``CITYOPS_KAFKA_URL``/``CITYOPS_REDIS_URL`` if set, else ``stack.json``."""
        if "CITYOPS_KAFKA_URL" in os.environ:
            web = os.environ.get("CITYOPS_WEB_URL", f"http://{settings.web_host}:{settings.web_port}")
            return cls(os.environ["CITYOPS_KAFKA_URL"], settings.redis_url, [web])
        if not path.exists():
            raise RuntimeError(f"no running stack: start one with `cityops up` (looked for {path})")
        return cls(**json.loads(path.read_text()))


async def producer(bootstrap: str, **kwargs: Any) -> AIOKafkaProducer:
    """A started producer that waits for all in-sync replicas (no acknowledged record is lost).

    Its linger is ``CITYOPS_PRODUCER_LINGER_MS`` when set (the durable embedded broker writes an object per batch).
    """
    linger = settings.producer_linger_ms if settings.producer_linger_ms is not None else 5
    options: dict[str, Any] = {"acks": "all", "linger_ms": linger, "max_request_size": 8_000_000, **kwargs}
    prod = AIOKafkaProducer(bootstrap_servers=bootstrap, **options)
    await prod.start()
    return prod


async def topic_end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        parts = consumer.partitions_for_topic(topic)
        if not parts:
            await consumer._client.force_metadata_update()
            parts = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in parts]
        ends = await consumer.end_offsets(tps) if tps else {}
        return {tp.partition: off for tp, off in ends.items()}
    finally:
        await consumer.stop()


async def read_topic(
    bootstrap: str,
    topic: str,
    *,
    until: Callable[[list[Any]], bool] | None = None,
    timeout_s: float = 60.0,
    from_offsets: dict[int, int] | None = None,
) -> list[Any]:
    """Read ``topic`` from the beginning (or ``from_offsets``) until ``until(records)`` or the timeout.

    Without ``until`` it returns what is there now (reads to the fetches' high watermark:
    :mod:`streams.log_reader`).
    """
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                max_partition_fetch_bytes=8_000_000, fetch_max_bytes=64_000_000)
    await consumer.start()
    records: list[Any] = []
    try:
        parts = consumer.partitions_for_topic(topic)
        if not parts:
            await consumer._client.force_metadata_update()
            parts = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        consumer.assign(tps)
        for tp in tps:
            start = (from_offsets or {}).get(tp.partition)
            if start is None:
                await consumer.seek_to_beginning(tp)
            else:
                consumer.seek(tp, start)
        if until is None:
            await read_to_end(consumer, tps, records.append, stall_s=timeout_s)
            return records
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=200)
            for recs in batches.values():
                records.extend(recs)
            if until(records):
                break
        return records
    finally:
        await consumer.stop()


def fetch_json(url: str, timeout: float = 5.0) -> Any:
    """GET a JSON document; the body of an HTTP error is returned too (``/readyz`` answers 503 with JSON)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return json.loads(exc.read() or b"{}")


def wait_ready(
    web_url: str, timeout_s: float = 180.0, on_wait: Callable[[float], None] | None = None
) -> dict[str, Any]:
    """Poll ``/readyz`` until the worker really consumes; returns its last answer."""
    started = time.monotonic()
    last: dict[str, Any] = {}
    while time.monotonic() - started < timeout_s:
        try:
            last = fetch_json(f"{web_url}/readyz", timeout=2.0)
            if last.get("ready"):
                return last
        except OSError:
            pass
        if on_wait:
            on_wait(time.monotonic() - started)
        time.sleep(1.0)
    raise TimeoutError(f"{web_url} not ready after {timeout_s:.0f}s: {last}")


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def fetch_metrics(web_url: str, timeout: float = 5.0) -> dict[str, float]:
    """Prometheus text of a worker as {name{labels}: value}, plus {name: sum over labels}."""
    with urllib.request.urlopen(f"{web_url}/metrics", timeout=timeout) as resp:
        text = resp.read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name_labels, _, value = line.rpartition(" ")
        try:
            number = float(value)
        except ValueError:
            continue
        out[name_labels] = number
        base = name_labels.split("{", 1)[0]
        if "{" in name_labels:
            out[base] = out.get(base, 0.0) + number
    return out
