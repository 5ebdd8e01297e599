"""Read the task topic back: was a task already produced? Settles dispatch claims left "pending".

A worker killed after the broker acknowledged a task but before Redis recorded it
leaves a claim in "pending". Only the log knows whether that task exists, so the
dispatch stage reads the recent tail of ``dispatch-tasks`` (every partition) and
looks for the task ids. This runs only after a crash, for the claims it left.
"""

from __future__ import annotations

import json

from aiokafka import AIOKafkaConsumer, TopicPartition

from streams.settings import settings
from streams.topics import DISPATCH_TASKS

__all__ = ["TAIL_RECORDS", "tasks_on_topic"]

# Records read back per partition: far more than one worker produces between a crash and its restart.
TAIL_RECORDS = 20_000


async def tasks_on_topic(task_ids: set[str], bootstrap: str | None = None) -> set[str]:
    """Which of ``task_ids`` are among the last :data:`TAIL_RECORDS` records of each task partition."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap or settings.bootstrap_servers, group_id=None,
                                enable_auto_commit=False)
    await consumer.start()
    found: set[str] = set()
    try:
        await consumer._client.force_metadata_update()
        partitions = consumer.partitions_for_topic(DISPATCH_TASKS.name) or set()
        tps = [TopicPartition(DISPATCH_TASKS.name, p) for p in sorted(partitions)]
        if not tps:
            return found
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        starts = await consumer.beginning_offsets(tps)
        for tp in tps:
            consumer.seek(tp, max(starts[tp], ends[tp] - TAIL_RECORDS))
        remaining = {tp for tp in tps if ends[tp] > starts[tp]}
        needles = {tid: tid.encode() for tid in task_ids}
        while remaining:
            batches = await consumer.getmany(*remaining, timeout_ms=1000)
            for records in batches.values():
                for rec in records:
                    value = rec.value or b""
                    for tid, needle in needles.items():
                        if needle in value and json.loads(value).get("task_id") == tid:
                            found.add(tid)
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
    finally:
        await consumer.stop()
    return found
