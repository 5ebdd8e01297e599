"""Lag per consumer group, topic and partition, from fake consumers with known watermarks and positions."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any, NamedTuple

import pytest
from prometheus_client import generate_latest

from streams import batch_consumer, lag
from streams.metrics import REGISTRY


class TP(NamedTuple):
    topic: str
    partition: int


class FakeConsumer:
    def __init__(self, positions: dict[TP, tuple[int, int]], group: str | None = None) -> None:
        self.positions = positions
        self._group_id = group

    def assignment(self) -> set[TP]:
        return set(self.positions)

    def highwater(self, tp: TP) -> int:
        return self.positions[tp][0]

    async def position(self, tp: TP) -> int:
        if tp.partition == 99:
            raise RuntimeError("revoked while scraping")
        return self.positions[tp][1]


def _app(consumer: FakeConsumer) -> Any:
    return SimpleNamespace(consumer=consumer, conf=SimpleNamespace(id="cityops"))


def test_lag_is_per_group_topic_and_partition_without_faust_internals(monkeypatch: pytest.MonkeyPatch) -> None:
    faust = FakeConsumer({TP("hotline-events", 0): (120, 100), TP("hotline-events", 1): (50, 50),
                          TP("cityops-__assignor-__leader", 0): (9, 0), TP("alerts", 99): (5, 0)})
    cases = FakeConsumer({TP("observations", 2): (10, 3)}, group="cityops-cases")
    monkeypatch.setattr(batch_consumer, "RUNNING", [cases])
    found = sorted(asyncio.run(lag.consumer_lag(_app(faust))))
    assert found == [
        lag.PartitionLag("cityops", "hotline-events", 0, 20),
        lag.PartitionLag("cityops", "hotline-events", 1, 0),
        lag.PartitionLag("cityops-cases", "observations", 2, 7),
    ]
    asyncio.run(lag.refresh_lag(_app(faust)))
    text = generate_latest(REGISTRY).decode()
    assert 'cityops_consumer_lag_records{group="cityops-cases",partition="2",topic="observations"} 7.0' in text
    assert "__assignor" not in text
    # a partition this worker lost disappears instead of reporting its last value for ever
    monkeypatch.setattr(batch_consumer, "RUNNING", [])
    asyncio.run(lag.refresh_lag(_app(faust)))
    assert 'topic="observations"' not in generate_latest(REGISTRY).decode()
