"""Readiness canary: each worker proves it really consumes by reading heartbeats off the broker.

A worker that is up but not yet in the consumer groups (Tansu completes a join
after ~30 s) is alive but not ready; ``/readyz`` says so until a heartbeat made
after start-up has come back through the broker, every stage step's group has
assigned it partitions (their state restored), and the steps' warm-ups (the
complaint models) are done. A step riding out a Redis or broker outage is
reported as degraded meanwhile.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from streams.batch_consumer import RecordEvent
from streams.outbox import Outbox
from streams.settings import current_settings
from streams.stage import DEGRADED, BatchStage, RunningStages, TimerStage
from streams.topics import HEARTBEATS

__all__ = ["READINESS", "Readiness", "stages"]


class Readiness:
    """When this worker last consumed a heartbeat (from any worker) and what it was assigned."""

    def __init__(self, started_at: float, stale_after_s: float = 20.0) -> None:
        self.started_at = started_at
        self.stale_after_s = stale_after_s
        self.last_consumed_at = 0.0
        self.last_roundtrip_s = 0.0
        self.running = RunningStages()

    def consumed(self, sent_at: float, now: float) -> None:
        if sent_at >= self.started_at:
            self.last_consumed_at = now
            self.last_roundtrip_s = max(0.0, now - sent_at)

    def ready(self, now: float) -> bool:
        heartbeat = self.last_consumed_at > 0 and now - self.last_consumed_at <= self.stale_after_s
        # The stage steps' groups (case stage, projections) must have assigned this worker too.
        return heartbeat and self.running.joined() and self.running.warmed

    def describe(self, now: float) -> dict[str, Any]:
        return {
            "ready": self.ready(now),
            "worker": current_settings().worker_id,
            "seconds_since_heartbeat": round(now - self.last_consumed_at, 3) if self.last_consumed_at else None,
            "heartbeat_roundtrip_s": round(self.last_roundtrip_s, 4),
            "uptime_s": round(now - self.started_at, 1),
            "models_warm": self.running.warmed,
            "groups_joined": {consumer.group: consumer.joined for consumer in self.running.consumers},
            "degraded": dict(DEGRADED),
        }


READINESS = Readiness(started_at=time.time())


async def send_heartbeats(now: float, out: Outbox) -> None:
    """One heartbeat per partition, so whichever partitions this worker owns, some come back."""
    worker = current_settings().worker_id
    value = json.dumps({"worker": worker, "at": now}).encode()
    for partition in range(HEARTBEATS.partitions):
        out.add(HEARTBEATS, worker, value, partition)


async def read_heartbeats(events: Sequence[RecordEvent], out: Outbox) -> None:
    for event in events:
        try:
            sent_at = float(json.loads(event.message.value or b"")["at"])
        except (ValueError, KeyError, TypeError):
            continue  # heartbeats are the product's own canary, not input; a bad one only delays readiness
        READINESS.consumed(sent_at, time.time())


def stages() -> list[BatchStage | TimerStage]:
    return [
        TimerStage("heartbeat", 2.0, send_heartbeats, writes=(HEARTBEATS,)),
        BatchStage("heartbeat", "cityops-heartbeats", HEARTBEATS, read_heartbeats, patient=True),
    ]
