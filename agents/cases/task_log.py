"""Read the task topic back: was a task already produced? Settles dispatch claims left "pending".

A worker killed after the broker acknowledged a task but before Redis recorded it
leaves a claim in "pending". Only the log knows whether that task exists, so the
dispatch step reads the recent tail of ``dispatch-tasks`` (every partition, to the
fetches' high watermark: :mod:`streams.log_reader`) and looks for the task ids.
This runs only after a crash, for the claims it left.
"""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord

from schemas.codec import loads
from streams.log_reader import read_to_end
from streams.topics import DISPATCH_TASKS

__all__ = ["TAIL_RECORDS", "tasks_on_topic"]

# Records read back per partition: far more than one worker produces between a crash and its restart.
TAIL_RECORDS = 20_000


async def tasks_on_topic(task_ids: set[str], bootstrap: str) -> set[str]:
    """Which of ``task_ids`` are among the last :data:`TAIL_RECORDS` records of each task partition."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    found: set[str] = set()
    try:
        await consumer._client.force_metadata_update()
        partitions = consumer.partitions_for_topic(DISPATCH_TASKS.name) or set()
        tps = [TopicPartition(DISPATCH_TASKS.name, p) for p in sorted(partitions)]
        if not tps:
            return found
        consumer.assign(tps)
        # ListOffsets(latest) may fall short of the end on the embedded broker: it only places the start.
        ends = await consumer.end_offsets(tps)
        starts = await consumer.beginning_offsets(tps)
        for tp in tps:
            consumer.seek(tp, max(starts[tp], ends[tp] - TAIL_RECORDS))
        needles = {tid: tid.encode() for tid in task_ids}

        def look(rec: ConsumerRecord[bytes, bytes]) -> None:
            value = rec.value or b""
            for tid, needle in needles.items():
                if needle in value and loads(value).get("task_id") == tid:
                    found.add(tid)

        await read_to_end(consumer, tps, look)
    finally:
        await consumer.stop()
    return found
