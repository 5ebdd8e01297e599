"""Read partitions of a topic to their true end: the high watermark of the fetch responses.

The embedded Tansu broker answers ListOffsets(latest) with the base offset of
its newest record batch + 1, not the end of the log: with multi-record batches
``end_offsets`` can name an offset inside the last batch (4,921 where the log
ended at 4,950), and a reader that stops there misses the newest records. Every
"read to the end" in the product (state restore, index rebuild, the dispatch
claim check) goes through :func:`read_to_end`, which stops at the high watermark
the broker returns with each fetch.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord

__all__ = ["read_log", "read_to_end"]

# A partition whose fetches have returned no high watermark for this long is reported, not waited on forever.
_STALL_S = 60.0


async def read_to_end(
    consumer: AIOKafkaConsumer,
    partitions: Sequence[TopicPartition],
    on_record: Callable[[ConsumerRecord[bytes, bytes]], None],
    *,
    max_records: int = 5000,
    stall_s: float = _STALL_S,
) -> dict[TopicPartition, int]:
    """Hand every record of ``partitions`` from the consumer's positions to the high watermark to ``on_record``.

    The consumer must already be assigned ``partitions`` and positioned. Returns the end
    reached per partition. Raises :class:`TimeoutError` if a partition's fetches give no
    high watermark within ``stall_s`` (the broker is unreachable), so a caller can retry.
    """
    remaining = set(partitions)
    ends: dict[TopicPartition, int] = {}
    started = time.monotonic()
    while remaining:
        batches = await consumer.getmany(*remaining, timeout_ms=500, max_records=max_records)
        for records in batches.values():
            for rec in records:
                on_record(rec)
        for tp in list(remaining):
            high = consumer.highwater(tp)
            if high is None:
                continue  # no fetch response for it yet
            if await consumer.position(tp) >= high:
                ends[tp] = high
                remaining.discard(tp)
        if remaining and time.monotonic() - started > stall_s:
            raise TimeoutError(f"no end of log reached for {sorted(str(tp) for tp in remaining)} in {stall_s:.0f} s")
    return ends


async def read_log(
    bootstrap: str,
    topic: str,
    on_record: Callable[[ConsumerRecord[bytes, bytes]], None],
    *,
    tail: int | None = None,
) -> None:
    """Every record of ``topic`` (or the last ``tail`` of each partition), partition by partition, to its end."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                max_partition_fetch_bytes=8 * 1024 * 1024)
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            await consumer._client.force_metadata_update()  # a fresh consumer may not have the metadata yet
            partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        if not tps:
            return
        consumer.assign(tps)
        if tail is None:
            await consumer.seek_to_beginning(*tps)
        else:  # ListOffsets only places the start here; the end is the fetches' high watermark
            ends = await consumer.end_offsets(tps)
            starts = await consumer.beginning_offsets(tps)
            for tp in tps:
                consumer.seek(tp, max(starts[tp], ends[tp] - tail))
        await read_to_end(consumer, tps, on_record)
    finally:
        await consumer.stop()
