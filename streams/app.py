"""The Faust application every stage registers its agents with, and the helpers stages share.

Stages read and write raw bytes and go through :mod:`schemas.codec`, so an
unusable input is caught by the stage that got it and sent to ``deadletter``
with its original bytes instead of failing inside Faust's deserializer.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import faust
import redis.asyncio as aioredis
from aiokafka.errors import KafkaError
from mode.utils.objects import cached_property

from config import CityConfig, load_city
from schemas.codec import DecodeError, decode, decode_dict, encode, encode_dict
from schemas.records import SCHEMA_VERSION, DeadLetter
from streams.metrics import DEADLETTERS, EVENTS_IN, EVENTS_OUT
from streams.settings import settings
from streams.topics import DEADLETTER, TOPICS, TopicSpec, default_partitions

__all__ = [
    "app",
    "city",
    "consume",
    "dead_letter",
    "decode_dicts",
    "decode_events",
    "guarded",
    "produce",
    "produce_dict",
    "redis",
    "send_bytes",
    "topic",
]

R = TypeVar("R", bound=faust.Record)

log = logging.getLogger(__name__)
DEADLETTER_KEEP_BYTES = 1024 * 1024

app = faust.App(
    "cityops",
    broker=settings.kafka_url,
    store="memory://",
    datadir=str(settings.data_dir / settings.worker_id),
    web_host=settings.web_host,
    web_port=settings.web_port,
    web_enabled=True,
    topic_partitions=default_partitions(),
    # Faust's own topics (table changelogs): 1 on the embedded broker, 3 on a real cluster.
    topic_replication_factor=int(os.environ.get("CITYOPS_REPLICATION", "1")),
    topic_allow_declare=True,
    producer_acks=-1,
    # Gather records for a few ms into one produce request: the broker's cost is per request,
    # and a case step writes several records per observation.
    producer_linger=0.002,
    producer_max_batch_size=512 * 1024,
    # Commit often: on a crash fewer records are redelivered (redelivery is safe, only slower).
    broker_commit_every=200,
    broker_commit_interval=1.0,
    stream_buffer_maxsize=8192,
    table_cleanup_interval=30.0,
    # Tansu finishes a group join after ~30 s; keep sessions long so joins are rare.
    broker_session_timeout=60.0,
    broker_heartbeat_interval=3.0,
    broker_request_timeout=90.0,
    broker_rebalance_timeout=90.0,
    consumer_auto_offset_reset="earliest",
    # Inputs up to the codec's limit must be readable (and dead-letterable), not stuck at the fetch size.
    consumer_max_fetch_size=8 * 1024 * 1024,
    producer_max_request_size=4 * 1024 * 1024,
    logging_config=None,
)


class _Shared:
    """Lazily created per-process resources (one Redis pool, one parsed city config)."""

    @cached_property
    def redis(self) -> aioredis.Redis:
        return aioredis.Redis.from_url(settings.redis_url, decode_responses=False, health_check_interval=30)

    @cached_property
    def city(self) -> CityConfig:
        return load_city(settings.city)


_shared = _Shared()
_topics: dict[str, faust.TopicT] = {}


def redis() -> aioredis.Redis:
    return _shared.redis


def city() -> CityConfig:
    return _shared.city


def topic(spec: TopicSpec) -> faust.TopicT:
    """The Faust topic object for ``spec``, carrying raw bytes (stages decode and validate)."""
    if spec.name not in _topics:
        _topics[spec.name] = app.topic(
            spec.name,
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
            partitions=spec.partitions,
            retention=spec.retention_ms / 1000.0,
            compacting=spec.compacted,
        )
    return _topics[spec.name]


async def produce(spec: TopicSpec, key: str, record: faust.Record, *, wait: bool = False) -> Any:
    """Send ``record`` to ``spec``'s topic; ``wait`` blocks until the broker has acknowledged it."""
    future = await send_bytes(spec, key, encode(record))
    return await future if wait else future


async def produce_dict(spec: TopicSpec, key: str, data: dict[str, Any]) -> Awaitable[Any]:
    """Send a record held as a dict (already in its topic's shape); returns the delivery future."""
    return await send_bytes(spec, key, encode_dict(data))


async def send_bytes(spec: TopicSpec, key: str, value: bytes) -> Awaitable[Any]:
    """Hand ``value`` to the producer (keyed: one key, one partition); returns the delivery future.

    Goes straight to the producer rather than through ``Topic.send``: the same
    partitioner and delivery guarantee, without Faust's per-message bookkeeping,
    which cost more than the send itself on the case stage's hot path.
    """
    EVENTS_OUT.labels(spec.name).inc()
    return await app.producer.send(spec.name, key.encode(), value, None, None, None)


async def dead_letter(
    stage: str,
    reason: str,
    error_type: str,
    *,
    message: Any = None,
    key: bytes | None = None,
    value: bytes | None = None,
) -> None:
    """Record an unusable input on ``deadletter`` with its original bytes, stage and reason.

    Payloads over :data:`DEADLETTER_KEEP_BYTES` keep their first bytes, full size and SHA-256; the
    whole payload stays on its source topic at the partition and offset recorded.

    ``message`` is the Faust message the stage consumed (its topic, partition and
    offset tell an operator where it came from); ``key``/``value`` override its bytes.
    """
    raw_key = key if key is not None else (getattr(message, "key", None) or b"")
    raw_value = value if value is not None else (getattr(message, "value", None) or b"")
    if isinstance(raw_value, str):
        raw_value = raw_value.encode()
    if isinstance(raw_key, str):
        raw_key = raw_key.encode()
    truncated = len(raw_value) > DEADLETTER_KEEP_BYTES
    letter = DeadLetter(
        schema_version=SCHEMA_VERSION,
        stage=stage,
        reason=reason[:2000],
        error_type=error_type,
        at=time.time(),
        topic=str(getattr(message, "topic", "")),
        partition=int(getattr(message, "partition", -1)),
        offset=int(getattr(message, "offset", -1)),
        key_b64=base64.b64encode(raw_key).decode(),
        value_b64=base64.b64encode(raw_value[:DEADLETTER_KEEP_BYTES]).decode(),
        value_size=len(raw_value),
        value_sha256=hashlib.sha256(raw_value).hexdigest(),
        truncated=truncated,
    )
    DEADLETTERS.labels(stage, error_type).inc()
    await produce(DEADLETTER, stage, letter, wait=True)


# Errors of the infrastructure, not of the input: retrying later succeeds, dead-lettering would lose work.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    aioredis.ConnectionError,
    aioredis.TimeoutError,
    ConnectionError,
    asyncio.TimeoutError,
    KafkaError,
)


async def guarded(stage: str, events: Sequence[Any], handle: Callable[[Sequence[Any]], Awaitable[None]]) -> None:
    """Run ``handle(events)`` so that nothing stops the stage and nothing is silently dropped.

    Transient infrastructure errors are retried with backoff (the events stay
    unacknowledged meanwhile). Any other error is retried one event at a time,
    and only the events that still fail go to ``deadletter`` with the error as
    reason. Handlers are idempotent per event, so a retried event is harmless.
    """
    delay = 0.2
    while True:
        try:
            await handle(events)
            return
        except TRANSIENT_ERRORS as exc:
            log.warning("%s: transient error, retrying in %.1fs: %r", stage, delay, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)
        except Exception as exc:
            if len(events) == 1:
                log.exception("%s: event failed, dead-lettering it", stage)
                await dead_letter(stage, f"internal error in stage {stage}: {exc!r}", "stage_error",
                                  message=events[0].message)
                return
            log.warning("%s: batch of %d failed (%r); retrying one by one", stage, len(events), exc)
            for event in events:
                await guarded(stage, [event], handle)
            return


async def consume(stream: Any, stage: str, spec: TopicSpec,
                  handle: Callable[[Sequence[Any]], Awaitable[None]], batch: int, within_s: float) -> None:
    """The loop every stage runs: take a batch of events, count them, handle them under :func:`guarded`."""
    async for events in stream.take_events(batch, within=within_s):
        EVENTS_IN.labels(spec.name).inc(len(events))
        await guarded(stage, events, handle)


async def decode_events(stage: str, events: Sequence[Any], cls: type[R]) -> list[tuple[Any, R]]:
    """Each event with its value decoded as ``cls``; the ones that cannot be read go to ``deadletter``."""
    return await _decode_each(stage, events, lambda raw: decode(cls, raw))


async def decode_dicts(stage: str, events: Sequence[Any], cls: type[faust.Record]) -> list[tuple[Any, dict[str, Any]]]:
    """Like :func:`decode_events`, but each value as a validated dict (defaults filled), not a record."""
    return await _decode_each(stage, events, lambda raw: decode_dict(cls, raw))


T = TypeVar("T")


async def _decode_each(stage: str, events: Sequence[Any], decoder: Callable[[bytes], T]) -> list[tuple[Any, T]]:
    decoded: list[tuple[Any, T]] = []
    for event in events:
        try:
            decoded.append((event, decoder(event.message.value)))
        except DecodeError as exc:
            await dead_letter(stage, exc.reason, exc.error_type, message=event.message)
    return decoded


def declared_topics() -> list[faust.TopicT]:
    """Every registry topic as a Faust topic (declared so the worker creates missing ones)."""
    return [topic(spec) for spec in TOPICS.values()]
