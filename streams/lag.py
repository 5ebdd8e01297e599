"""Consumer lag of this worker: per consumer group, topic and partition it is assigned, records not read yet.

Exported as ``cityops_consumer_lag_records{group, topic, partition}`` (the shape of kafka-exporter's
``kafka_consumergroup_lag``): a partition belongs to one worker of a group at a time, so summing over
workers never counts one twice. Faust's internal assignor topic carries no city data and is left out.
"""

from __future__ import annotations

import contextlib
from typing import Any, NamedTuple

from streams.metrics import CONSUMER_LAG

__all__ = ["PartitionLag", "consumer_lag", "is_internal", "refresh_lag"]


class PartitionLag(NamedTuple):
    group: str
    topic: str
    partition: int
    records: int


def is_internal(topic: str) -> bool:
    """Faust's partition-assignor topic (``<app>-__assignor-__leader``) and Kafka's own ``__*`` topics."""
    return topic.startswith("__") or "__assignor" in topic


def _group_of(consumer: Any, default: str) -> str:
    return str(getattr(consumer, "_group_id", None) or default)


async def consumer_lag(app: Any) -> list[PartitionLag]:
    """Lag of every partition this worker's consumers hold (high watermark - position), Faust's and the batch ones'."""
    from streams.batch_consumer import RUNNING

    app_group = str(app.conf.id)
    out: list[PartitionLag] = []
    consumers = [(app.consumer, app_group), *((c, _group_of(c, app_group)) for c in RUNNING)]
    for consumer, group in consumers:
        for tp in consumer.assignment():
            if is_internal(tp.topic):
                continue
            with contextlib.suppress(Exception):  # a partition revoked mid-scrape has no position any more
                high = consumer.highwater(tp)
                pos = await consumer.position(tp)
                if high is not None and pos is not None:
                    out.append(PartitionLag(group, tp.topic, int(tp.partition), max(0, int(high) - int(pos))))
    return out


async def refresh_lag(app: Any) -> None:
    """Set the lag gauge from scratch: partitions this worker no longer holds disappear from it."""
    with contextlib.suppress(Exception):
        lags = await consumer_lag(app)
        CONSUMER_LAG.clear()
        for lag in lags:
            CONSUMER_LAG.labels(lag.group, lag.topic, str(lag.partition)).set(lag.records)
