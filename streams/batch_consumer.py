"""Hot-path consumers: a plain aiokafka group member per stage step, batches of thousands per fetch.

Faust's streams hand an agent one event per event-loop turn (``take_events``
fills its buffer from a per-event drainer), so a stage that does its work in
batches was fed 10-40 events at a time and the case stage topped out at a few
hundred observations per second whatever the batch size. Every stage step
therefore reads its topic with a :class:`BatchConsumer`: ``getmany`` returns
everything fetched, the step handles it as one batch under
:func:`streams.stage.guarded` with a fresh outbox, and the offsets are committed
only after the batch's outputs were acknowledged by the broker (at-least-once).

State that belongs to a partition (the case table) lives in a
:class:`PartitionedStore`: one dict per owned partition, restored from a
compacted changelog topic when the group assigns the partition, dropped when it
is taken away, written back (same partition, key = case id) with every change.
No record of a partition is handled before its state is restored: the partition
is paused from the moment it is assigned until its restore is done.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError
from aiokafka.structs import ConsumerRecord

from schemas.codec import DecodeError, decode_own
from schemas.records import Record
from streams.log_reader import read_to_end
from streams.metrics import EVENTS_IN
from streams.outbox import Outbox
from streams.settings import current_settings
from streams.topics import TopicSpec

__all__ = ["RUNNING", "BatchConsumer", "PartitionedStore", "RecordEvent"]

log = logging.getLogger(__name__)
S = TypeVar("S", bound=Record)


@dataclass(frozen=True)
class RecordEvent:
    """A consumed record as a stage step sees it (``event.message.value``, ``.partition``, ``.offset``…)."""

    message: ConsumerRecord[bytes, bytes]


class PartitionedStore(Generic[S]):
    """Key -> state record, held per partition of the source topic and backed by a compacted changelog.

    :param changelog: the changelog topic; record partition = source partition, key = state key
    :param record: the state's record class (the changelog is read back as it)
    """

    def __init__(self, changelog: TopicSpec, record: type[S]) -> None:
        self.changelog = changelog
        self.record = record
        self._parts: dict[int, dict[str, S]] = {}

    def get(self, partition: int, key: str) -> S | None:
        return self._parts.get(partition, {}).get(key)

    def holds(self, partition: int) -> bool:
        """Whether ``partition``'s state is restored here."""
        return partition in self._parts

    def put(self, partition: int, key: str, state: S, outbox: Outbox) -> None:
        """Keep ``state`` and queue it for the changelog (same partition) in ``outbox``."""
        self._parts.setdefault(partition, {})[key] = state
        outbox.add_record(self.changelog, key, state, partition)

    def load(self, partition: int, states: dict[str, S]) -> None:
        """Hold ``states`` as ``partition``'s restored state (a restore, or a test's fixture)."""
        self._parts[partition] = states

    def drop(self, partitions: Sequence[int]) -> None:
        for p in partitions:
            self._parts.pop(p, None)

    def owned(self) -> dict[int, int]:
        """Partition -> number of keys held."""
        return {p: len(keys) for p, keys in self._parts.items()}

    def states(self) -> dict[str, S]:
        """Every state held, of every owned partition."""
        return {k: v for part in self._parts.values() for k, v in part.items()}

    async def restore(self, partitions: Sequence[int], bootstrap: str) -> None:
        """Read each partition's changelog from its start to its true end; the last value per key wins."""
        todo = [p for p in partitions if p not in self._parts]
        if not todo:
            return
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                    enable_auto_commit=False, max_partition_fetch_bytes=8 * 1024 * 1024)
        await consumer.start()
        try:
            tps = [TopicPartition(self.changelog.name, p) for p in todo]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            states: dict[int, dict[str, S]] = {p: {} for p in todo}

            def keep(rec: ConsumerRecord[bytes, bytes]) -> None:
                if rec.key is None:
                    return
                held = states[rec.partition]
                if not rec.value:
                    held.pop(rec.key.decode(), None)
                    return
                try:
                    held[rec.key.decode()] = decode_own(self.record, rec.value)
                except DecodeError as exc:  # written by this product only; a bad one was never a valid state
                    log.error("%s: unreadable state of %r skipped: %s", self.changelog.name, rec.key, exc.reason)

            await read_to_end(consumer, tps, keep)
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
        store = self.owner.store
        consumer = self.owner.consumer
        if store is not None and consumer is not None and assigned:
            # aiokafka fetches a new assignment while this callback runs: hold it until the state is here.
            consumer.pause(*assigned)
        delay = 0.5
        while store is not None:
            # Without its state a partition's commands cannot be applied: keep trying, never skip it.
            try:
                await store.restore([tp.partition for tp in assigned], self.owner.bootstrap)
                break
            except Exception as exc:
                log.warning("%s: restoring state failed, retrying in %.1fs: %r", self.owner.group, delay, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
        if store is not None and consumer is not None and assigned:
            consumer.resume(*assigned)
        self.owner.joined = True
        log.info("%s: assigned %s", self.owner.group, sorted(tp.partition for tp in assigned))


# The batch consumers running in this worker (their lag is reported with Faust's, :mod:`streams.lag`).
RUNNING: list[AIOKafkaConsumer] = []

Handle = Callable[[Sequence[RecordEvent]], Awaitable[None]]


class BatchConsumer:
    """One consumer-group member that hands whole fetches to ``handle`` and commits after each.

    :param stage: stage name (dead letters, logs)
    :param group: consumer group id (one per step, so steps scale independently)
    :param spec: the topic to read
    :param handle: called with each batch's events; returns once their outputs are acknowledged
    :param store: partition-local state to restore on assignment (optional)
    :param min_wait_ms: the least time a fetch may wait for records (a patient step: fewer idle fetches)
    """

    def __init__(self, stage: str, group: str, spec: TopicSpec, handle: Handle,
                 store: PartitionedStore[Any] | None = None, max_records: int = 2000,
                 min_wait_ms: int = 0) -> None:
        self.stage = stage
        self.min_wait_ms = min_wait_ms
        self.group = group
        self.spec = spec
        self.handle = handle
        self.store = store
        self.max_records = max_records
        self.joined = False
        self.handling = asyncio.Lock()
        self.consumer: AIOKafkaConsumer | None = None
        self.bootstrap = ""

    def has_joined(self) -> bool:
        """Whether the group has assigned this worker its partitions (and their state is restored)."""
        return self.joined

    def _consumer(self) -> AIOKafkaConsumer:
        settings = current_settings()
        self.bootstrap = settings.bootstrap_servers
        return AIOKafkaConsumer(
            bootstrap_servers=settings.bootstrap_servers,
            group_id=self.group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=8 * 1024 * 1024,
            # aiokafka's default on a real Kafka; a patient step waits longer (fewer idle fetches to pay for).
            fetch_max_wait_ms=max(settings.fetch_max_wait_ms or 500, self.min_wait_ms),
            # Tansu completes a join after ~30 s: long sessions so joins stay rare (as for Faust's group).
            session_timeout_ms=60_000,
            heartbeat_interval_ms=3_000,
            rebalance_timeout_ms=90_000,
            request_timeout_ms=90_000,
        )

    def _unrestored(self, fetched: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]) -> list[TopicPartition]:
        """Partitions of ``fetched`` whose state is not held (yet): none of their records may be handled."""
        if self.store is None:
            return []
        return [tp for tp in fetched if not self.store.holds(tp.partition)]

    async def run(self) -> None:
        """Consume until cancelled (the worker stopping); transient broker errors are retried."""
        consumer = self.consumer = self._consumer()
        await consumer.start()
        consumer.subscribe([self.spec.name], listener=_Listener(self))
        RUNNING.append(consumer)
        try:
            while True:
                try:
                    fetched = await consumer.getmany(timeout_ms=100, max_records=self.max_records)
                except KafkaError as exc:
                    log.warning("%s: fetch failed, retrying: %r", self.group, exc)
                    await asyncio.sleep(1.0)
                    continue
                for tp in self._unrestored(fetched):
                    consumer.seek(tp, fetched.pop(tp)[0].offset)  # read again once its state is restored
                records = [rec for recs in fetched.values() for rec in recs]
                if not records:
                    continue
                EVENTS_IN.labels(self.spec.name).inc(len(records))
                async with self.handling:
                    await self.handle([RecordEvent(rec) for rec in records])
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
