"""Hot-path consumers: a plain aiokafka group member per stage, batches of thousands per fetch.

Faust's streams hand an agent one event per event-loop turn (``take_events``
fills its buffer from a per-event drainer), so a stage that does its work in
batches was fed 10-40 events at a time and the case stage topped out at a few
hundred observations per second whatever the batch size. The case stage
therefore reads its topics with :class:`BatchConsumer`: ``getmany`` returns
everything fetched, the stage handles it as one batch under
:func:`streams.app.guarded`, and the offsets are committed only after the
batch's outputs were acknowledged by the broker (at-least-once, as before).

State that belongs to a partition (the case table) lives in a
:class:`PartitionedStore`: one dict per owned partition, restored from a
compacted changelog topic when the group assigns the partition, dropped when it
is taken away, written back (same partition, key = case id) with every change.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import mode
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError
from aiokafka.structs import ConsumerRecord

from schemas.codec import loads
from streams.app import app, guarded
from streams.metrics import EVENTS_IN
from streams.outbox import Outbox
from streams.settings import settings
from streams.topics import TopicSpec

__all__ = ["REGISTERED", "RUNNING", "BatchConsumer", "PartitionedStore", "RecordEvent", "batch_stage"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RecordEvent:
    """A consumed record in the shape stages expect of a Faust event (``event.message.value``…)."""

    message: ConsumerRecord[bytes, bytes]


class PartitionedStore:
    """Key -> JSON state, held per partition of the source topic and backed by a compacted changelog.

    :param changelog: the changelog topic; record partition = source partition, key = state key
    """

    def __init__(self, changelog: TopicSpec) -> None:
        self.changelog = changelog
        self._parts: dict[int, dict[str, dict[str, Any]]] = {}

    def get(self, partition: int, key: str) -> dict[str, Any] | None:
        return self._parts.get(partition, {}).get(key)

    def put(self, partition: int, key: str, state: dict[str, Any], outbox: Outbox) -> None:
        """Keep ``state`` and queue it for the changelog (same partition) in ``outbox``."""
        self._parts.setdefault(partition, {})[key] = state
        outbox.add_dict(self.changelog, key, state, partition)

    def drop(self, partitions: Sequence[int]) -> None:
        for p in partitions:
            self._parts.pop(p, None)

    def owned(self) -> dict[int, int]:
        """Partition -> number of keys held."""
        return {p: len(keys) for p, keys in self._parts.items()}

    async def restore(self, partitions: Sequence[int]) -> None:
        """Read each partition's changelog from its start to its current end; the last value per key wins."""
        todo = [p for p in partitions if p not in self._parts]
        if not todo:
            return
        consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap_servers, group_id=None,
                                    enable_auto_commit=False, max_partition_fetch_bytes=8 * 1024 * 1024)
        await consumer.start()
        try:
            tps = [TopicPartition(self.changelog.name, p) for p in todo]
            consumer.assign(tps)
            ends = await consumer.end_offsets(tps)
            await consumer.seek_to_beginning(*tps)
            remaining = {tp for tp in tps if ends[tp] > await consumer.position(tp)}
            states: dict[int, dict[str, dict[str, Any]]] = {p: {} for p in todo}
            while remaining:
                batches = await consumer.getmany(*remaining, timeout_ms=500, max_records=5000)
                for tp, records in batches.items():
                    held = states[tp.partition]
                    for rec in records:
                        if rec.offset >= ends[tp] or rec.key is None:
                            continue
                        if rec.value:
                            held[rec.key.decode()] = loads(rec.value)
                        else:
                            held.pop(rec.key.decode(), None)
                for tp in list(remaining):
                    if await consumer.position(tp) >= ends[tp]:
                        remaining.discard(tp)
            self._parts.update(states)
            gc.freeze()  # restored states are long-lived: out of the cyclic collector's scans (see streams.cli.worker)
            log.info("%s: restored %s", self.changelog.name, {p: len(s) for p, s in states.items()})
        finally:
            await consumer.stop()


class _Listener(ConsumerRebalanceListener):
    def __init__(self, owner: BatchConsumer) -> None:
        self.owner = owner

    async def on_partitions_revoked(self, revoked: Sequence[TopicPartition]) -> None:
        # Let the batch in hand finish and commit: its state writes belong to the partitions going away.
        async with self.owner.handling:
            if self.owner.store is not None:
                self.owner.store.drop([tp.partition for tp in revoked])

    async def on_partitions_assigned(self, assigned: Sequence[TopicPartition]) -> None:
        delay = 0.5
        while self.owner.store is not None:
            # Without its state a partition's commands cannot be applied: keep trying, never skip it.
            try:
                await self.owner.store.restore([tp.partition for tp in assigned])
                break
            except Exception as exc:
                log.warning("%s: restoring state failed, retrying in %.1fs: %r", self.owner.group, delay, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
        self.owner.joined = True
        log.info("%s: assigned %s", self.owner.group, sorted(tp.partition for tp in assigned))


# The batch consumers running in this worker (their lag is reported with Faust's, :mod:`streams.lag`).
RUNNING: list[AIOKafkaConsumer] = []


class BatchConsumer:
    """One consumer-group member that hands whole fetches to ``handle`` and commits after each.

    :param stage: stage name (dead letters, logs)
    :param group: consumer group id (one per stage, so stages scale independently)
    :param spec: the topic to read
    :param handle: called with the batch's events (see :class:`RecordEvent`)
    :param store: partition-local state to restore on assignment (optional)
    """

    def __init__(self, stage: str, group: str, spec: TopicSpec,
                 handle: Callable[[Sequence[Any]], Awaitable[None]],
                 store: PartitionedStore | None = None, max_records: int = 2000) -> None:
        self.stage = stage
        self.group = group
        self.spec = spec
        self.handle = handle
        self.store = store
        self.max_records = max_records
        self.joined = False
        self.handling = asyncio.Lock()

    def has_joined(self) -> bool:
        """Whether the group has assigned this worker its partitions (and their state is restored)."""
        return self.joined

    def _consumer(self) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            bootstrap_servers=settings.bootstrap_servers,
            group_id=self.group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=8 * 1024 * 1024,
            fetch_max_wait_ms=settings.fetch_max_wait_ms or 500,  # aiokafka's default on a real Kafka
            # Tansu completes a join after ~30 s: long sessions so joins stay rare (as for Faust's group).
            session_timeout_ms=60_000,
            heartbeat_interval_ms=3_000,
            rebalance_timeout_ms=90_000,
            request_timeout_ms=90_000,
        )

    async def run(self) -> None:
        """Consume until cancelled (the worker stopping); transient broker errors are retried."""
        consumer = self._consumer()
        await consumer.start()
        consumer.subscribe([self.spec.name], listener=_Listener(self))
        RUNNING.append(consumer)
        try:
            while True:
                fetched = await consumer.getmany(timeout_ms=100, max_records=self.max_records)
                records = [rec for recs in fetched.values() for rec in recs]
                if not records:
                    continue
                EVENTS_IN.labels(self.spec.name).inc(len(records))
                async with self.handling:
                    await guarded(self.stage, [RecordEvent(rec) for rec in records], self.handle)
                # Outside the lock: a commit can wait on a rebalance, which waits for the lock.
                await self._commit(consumer, {tp: recs[-1].offset + 1 for tp, recs in fetched.items() if recs})
        finally:
            RUNNING.remove(consumer)
            with contextlib.suppress(Exception):
                await consumer.stop()

    async def _commit(self, consumer: AIOKafkaConsumer, offsets: dict[TopicPartition, int]) -> None:
        """Commit what was handled; a commit lost to a rebalance only means those records come again."""
        delay = 0.2
        while True:
            try:
                await consumer.commit(offsets)
                return
            except CommitFailedError as exc:
                log.warning("%s: commit refused after a rebalance (%r); the batch will be redelivered",
                            self.group, exc)
                return
            except KafkaError as exc:
                log.warning("%s: commit failed, retrying in %.1fs: %r", self.group, delay, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)


# Every batch consumer the imported stages declared; they run as one service of the app.
REGISTERED: list[BatchConsumer] = []


class _BatchStages(mode.Service):
    """Runs the registered batch consumers; started with the app, so their joins run alongside Faust's."""

    @mode.Service.task
    async def _consume(self) -> None:
        await asyncio.gather(*(consumer.run() for consumer in REGISTERED))


def batch_stage(stage: str, group: str, spec: TopicSpec, handle: Callable[[Sequence[Any]], Awaitable[None]],
                *, store: PartitionedStore | None = None, max_records: int = 2000) -> BatchConsumer:
    """Declare a stage step that reads ``spec`` in whole fetches (call at import, before the app starts)."""
    consumer = BatchConsumer(stage, group, spec, handle, store=store, max_records=max_records)
    if not REGISTERED:
        app.add_dependency(_BatchStages())
    REGISTERED.append(consumer)
    return consumer
