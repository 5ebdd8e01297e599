"""One batch's output records, handed to the broker as one record batch per partition.

The case stage emits several records per observation (the command, the case's
state, its events, the task, the alert). Sent one by one through
``AIOKafkaProducer.send``, each record costs a metadata check, a partitioner
call, a place in the accumulator and a delivery future of its own, whose
callbacks all run when the broker acknowledges; that was a fifth of the stage's
CPU. An :class:`Outbox` collects what one batch of inputs produces and sends it
with aiokafka's batch API: the same partitioner (so a key lands where
``send`` would put it), one future per partition, order kept within a
partition. :meth:`Outbox.send` returns after the broker acknowledged
everything: the caller commits its input offsets only then (at-least-once).

Every stage writes through an outbox (:mod:`streams.stage` hands each batch a fresh
one): records, and the dead letters of the inputs it could not use.
:class:`MemoryOutbox` keeps what is sent in memory, for tests that drive a stage
without a broker.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, cast

from aiokafka import AIOKafkaProducer
from aiokafka.errors import MessageSizeTooLargeError
from aiokafka.partitioner import DefaultPartitioner, murmur2
from faust.transport.drivers.aiokafka import Producer as FaustProducer

from schemas.codec import dumps
from schemas.records import Record
from streams.app import current_app, dead_letter_record
from streams.metrics import EVENTS_OUT
from streams.topics import DEADLETTER, TopicSpec

__all__ = ["MemoryOutbox", "Outbox", "key_hash"]

# murmur2 of a key (Kafka's own hash, pure Python in aiokafka: ~10 us a key). A case's id keys its
# command, state, events and alerts, and a department's its tasks: each is hashed once, not per record.
_HASHES: dict[bytes, int] = {}
_HASHES_MAX = 200_000


def key_hash(key: bytes) -> int:
    """The non-negative murmur2 hash the default partitioner takes modulo the partition count."""
    found = _HASHES.get(key)
    if found is None:
        if len(_HASHES) >= _HASHES_MAX:
            _HASHES.clear()
        found = _HASHES[key] = murmur2(key) & 0x7FFFFFFF
    return found


class Outbox:
    """Records to produce, in the order added; :meth:`send` delivers them all and waits for the acks."""

    def __init__(self, producer: Callable[[], AIOKafkaProducer] | None = None) -> None:
        self._records: list[tuple[str, bytes, bytes, int | None]] = []
        self._producer = producer or _producer

    def __len__(self) -> int:
        return len(self._records)

    def add(self, spec: TopicSpec, key: str, value: bytes, partition: int | None = None) -> None:
        """Queue ``value`` for ``spec``'s topic; the key's partition unless ``partition`` is given."""
        self._records.append((spec.name, key.encode(), value, partition))

    def add_dict(self, spec: TopicSpec, key: str, data: dict[str, Any], partition: int | None = None) -> None:
        """Queue a record held as a dict (already in its topic's shape)."""
        self.add(spec, key, dumps(data), partition)

    def add_record(self, spec: TopicSpec, key: str, record: Record, partition: int | None = None) -> None:
        """Queue a typed record for ``spec``'s topic."""
        self.add(spec, key, dumps(record), partition)

    def dead_letter(self, stage: str, reason: str, error_type: str, *, message: Any = None,
                    key: bytes | None = None, value: bytes | None = None) -> None:
        """Queue the dead letter of an input ``stage`` could not use (original bytes, stage, reason)."""
        letter = dead_letter_record(stage, reason, error_type, message=message, key=key, value=value)
        self.add_record(DEADLETTER, stage, letter)

    def records(self) -> list[tuple[str, bytes, bytes, int | None]]:
        """What is queued and not sent yet: (topic, key, value, partition)."""
        return list(self._records)

    async def send(self) -> None:
        """Produce everything queued, one record batch per partition, and wait until the broker has it all."""
        records, self._records = self._records, []
        if not records:
            return
        producer = self._producer()
        for topic in {r[0] for r in records}:
            await producer.client._wait_on_metadata(topic)
        hashed = isinstance(producer._partitioner, DefaultPartitioner)  # else: the configured one, per record
        partitions = {topic: list(producer._metadata.partitions_for_topic(topic)) for topic in {r[0] for r in records}}
        by_partition: dict[tuple[str, int], list[tuple[bytes, bytes]]] = {}
        for topic, key, value, partition in records:
            if len(key) + len(value) > producer._max_request_size:
                raise MessageSizeTooLargeError(f"a record of {len(value)} bytes for {topic} exceeds the request limit")
            if partition is None:
                if hashed:
                    known = partitions[topic]
                    partition = known[key_hash(key) % len(known)]
                else:
                    partition = producer._partition(topic, None, None, None, key, value)
            by_partition.setdefault((topic, partition), []).append((key, value))
        acks = []
        for (topic, partition), items in by_partition.items():
            batch = producer.create_batch()
            for key, value in items:
                if batch.append(timestamp=None, key=key, value=value) is None:
                    acks.append(await producer.send_batch(batch, topic, partition=partition))
                    batch = producer.create_batch()
                    batch.append(timestamp=None, key=key, value=value)  # a batch's first record always fits
            acks.append(await producer.send_batch(batch, topic, partition=partition))
            EVENTS_OUT.labels(topic).inc(len(items))
        await asyncio.gather(*acks)


def _producer() -> AIOKafkaProducer:
    """The aiokafka producer inside Faust's: the one the app started, with its connection and settings."""
    return cast(FaustProducer, current_app().producer)._ensure_producer()


class MemoryOutbox(Outbox):
    """An outbox whose :meth:`send` keeps the records in :attr:`sent` instead of producing them."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[str, bytes, bytes, int | None]] = []

    async def send(self) -> None:
        self.sent.extend(self.records())
        self._records = []
