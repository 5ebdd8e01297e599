"""The worker's runtime: the Faust app factory, and the per-process resources every stage uses.

:func:`create_app` builds the Faust app from :class:`~streams.settings.Settings` read
once at start; nothing here connects or reads the environment at import. Stages do
not touch the app: they declare what they read and write (:mod:`streams.stage`) and
the worker registers them. The web surfaces register their pages on ``app``
(:func:`current_app`) when the worker imports them.

Stages read and write raw bytes and go through :mod:`schemas.codec`, so an
unusable input is caught by the stage that got it and sent to ``deadletter``
with its original bytes instead of failing inside Faust's deserializer.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import time
from collections.abc import Awaitable
from typing import Any

import faust
import redis.asyncio as aioredis
from mode.utils.objects import cached_property

from config import CityConfig, load_city
from schemas.codec import encode
from schemas.records import DeadLetter, Record
from streams.metrics import DEADLETTERS, EVENTS_OUT
from streams.settings import Settings, current_settings
from streams.topics import TOPICS, TopicSpec, default_partitions

__all__ = [
    "Runtime",
    "city",
    "create_app",
    "current_app",
    "dead_letter_record",
    "produce",
    "redis",
    "runtime",
    "send_bytes",
    "topic",
]


log = logging.getLogger(__name__)
DEADLETTER_KEEP_BYTES = 1024 * 1024


def create_app(settings: Settings) -> faust.App:
    """The worker's Faust app (web server, timers, producer), configured from ``settings``."""
    app = faust.App(
        "cityops",
        broker=settings.kafka_url,
        store="memory://",
        datadir=str(settings.data_dir / settings.worker_id),
        web_host=settings.web_host,
        web_port=settings.web_port,
        web_bind=settings.web_bind,
        web_enabled=True,
        topic_partitions=default_partitions(),
        # Faust's own topics: 1 on the embedded broker, 3 on a real cluster.
        topic_replication_factor=settings.replication,
        topic_allow_declare=True,
        producer_acks=-1,
        # Gather records for a few ms into one produce request: the broker's cost is per request,
        # and a case step writes several records per observation (the durable embedded broker asks for more).
        producer_linger=(settings.producer_linger_ms if settings.producer_linger_ms is not None else 2) / 1000,
        producer_max_batch_size=512 * 1024,
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
    global _shared
    _shared = Runtime(settings, app)
    return app


class Runtime:
    """This process's settings, Faust app, and lazily made resources (one Redis pool, one parsed city)."""

    def __init__(self, settings: Settings, app: faust.App | None = None) -> None:
        self.settings = settings
        self._app = app

    @property
    def app(self) -> faust.App:
        if self._app is None:  # a surface used outside a worker (tests, tools): an app from the environment
            return create_app(self.settings)
        return self._app

    @cached_property
    def redis(self) -> aioredis.Redis:
        return aioredis.Redis.from_url(self.settings.redis_url, decode_responses=False, health_check_interval=30)

    @cached_property
    def city(self) -> CityConfig:
        return load_city(self.settings.city)


_shared: Runtime | None = None
_topics: dict[str, faust.TopicT] = {}


def runtime() -> Runtime:
    """This process's runtime (made from the environment on first use outside a worker)."""
    global _shared
    if _shared is None:
        _shared = Runtime(current_settings())
    return _shared


def current_app() -> faust.App:
    return runtime().app


def __getattr__(name: str) -> Any:
    # ``from streams.app import app`` in the web surfaces: the app the worker created.
    if name == "app":
        return current_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def redis() -> aioredis.Redis:
    return runtime().redis


def city() -> CityConfig:
    return runtime().city


def topic(spec: TopicSpec) -> faust.TopicT:
    """The Faust topic object for ``spec``, carrying raw bytes (stages decode and validate)."""
    if spec.name not in _topics:
        _topics[spec.name] = current_app().topic(
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


async def produce(spec: TopicSpec, key: str, record: Record, *, wait: bool = False) -> Any:
    """Send ``record`` to ``spec``'s topic; ``wait`` blocks until the broker has acknowledged it."""
    future = await send_bytes(spec, key, encode(record))
    return await future if wait else future


async def send_bytes(spec: TopicSpec, key: str, value: bytes) -> Awaitable[Any]:
    """Hand ``value`` to the producer (keyed: one key, one partition); returns the delivery future.

    Goes straight to the producer rather than through ``Topic.send``: the same
    partitioner and delivery guarantee, without Faust's per-message bookkeeping,
    which cost more than the send itself on the case stage's hot path.
    """
    EVENTS_OUT.labels(spec.name).inc()
    return await current_app().producer.send(spec.name, key.encode(), value, None, None, None)


def dead_letter_record(
    stage: str,
    reason: str,
    error_type: str,
    *,
    message: Any = None,
    key: bytes | None = None,
    value: bytes | None = None,
) -> DeadLetter:
    """The dead letter of an unusable input: its original bytes, stage and reason.

    Payloads over :data:`DEADLETTER_KEEP_BYTES` keep their first bytes, full size and SHA-256; the
    whole payload stays on its source topic at the partition and offset recorded.

    ``message`` is the consumed record (its topic, partition and offset tell an operator
    where it came from); ``key``/``value`` override its bytes.
    """
    raw_key = key if key is not None else (getattr(message, "key", None) or b"")
    raw_value = value if value is not None else (getattr(message, "value", None) or b"")
    if isinstance(raw_value, str):
        raw_value = raw_value.encode()
    if isinstance(raw_key, str):
        raw_key = raw_key.encode()
    DEADLETTERS.labels(stage, error_type).inc()
    return DeadLetter(
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
        truncated=len(raw_value) > DEADLETTER_KEEP_BYTES,
    )


def declared_topics() -> list[faust.TopicT]:
    """Every registry topic as a Faust topic (declared so the worker creates missing ones)."""
    return [topic(spec) for spec in TOPICS.values()]
