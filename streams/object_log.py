"""Read the durable broker's log straight from S3, without Tansu.

Tansu stores each produce batch as one object,
``clusters/<id>/topics/<topic>/partitions/<n>/records/<base offset>.batch``,
holding a plain Kafka v2 record batch whose own base offset is 0: a record's
offset is the key's base offset plus its delta. Reading the objects directly
reaches every batch, also those a restarted Tansu no longer serves (past the
first 1,000 of a partition, see :mod:`streams.durable`): the first step of a
rollover, and a way out when consumers stall.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from aiokafka.record.default_records import DefaultRecordBatch

from streams.object_store import S3Store

__all__ = ["LogRecord", "batch_records", "partitions", "read_partition"]

CLUSTER = "tansu_cluster"  # Tansu's default --cluster-id, which the embedded stack keeps


@dataclass(frozen=True)
class LogRecord:
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None


def batch_records(raw: bytes, base_offset: int, partition: int = 0) -> list[LogRecord]:
    """The records of one stored batch; ``base_offset`` comes from its key."""
    batch = DefaultRecordBatch(bytearray(raw))
    return [LogRecord(partition, base_offset + rec.offset, rec.timestamp, rec.key, rec.value) for rec in batch]


def _prefix(topic: str, partition: int | None = None) -> str:
    base = f"clusters/{CLUSTER}/topics/{topic}/partitions/"
    return base if partition is None else f"{base}{partition:0>10}/records/"


def partitions(store: S3Store, topic: str) -> list[int]:
    """The partitions of ``topic`` that hold at least one stored batch."""
    found = set()
    for key in store.keys(_prefix(topic)):
        parts = key.split("/")
        if len(parts) == 8 and parts[6] == "records":
            found.add(int(parts[5]))
    return sorted(found)


def read_partition(store: S3Store, topic: str, partition: int) -> Iterator[LogRecord]:
    """Every stored record of one partition, in offset order."""
    for key in sorted(store.keys(_prefix(topic, partition))):
        if key.endswith(".batch"):
            base = int(key.rsplit("/", 1)[1].removesuffix(".batch"))
            yield from batch_records(store.get(key), base, partition)
