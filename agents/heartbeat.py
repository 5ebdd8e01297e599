"""Readiness canary: each worker proves it really consumes by reading heartbeats off the broker.

A worker that is up but not yet in the consumer group (Tansu completes a join
after ~30 s) is alive but not ready; ``/readyz`` says so until a heartbeat made
after start-up has come back through the broker.
"""

from __future__ import annotations

import json
import time
from typing import Any

from streams.app import app, topic
from streams.batch_consumer import REGISTERED
from streams.settings import settings
from streams.topics import HEARTBEATS

__all__ = ["READINESS", "Readiness"]


class Readiness:
    """When this worker last consumed a heartbeat (from any worker) and what it was assigned."""

    def __init__(self, started_at: float, stale_after_s: float = 20.0) -> None:
        self.started_at = started_at
        self.stale_after_s = stale_after_s
        self.last_consumed_at = 0.0
        self.last_roundtrip_s = 0.0

    def consumed(self, sent_at: float, now: float) -> None:
        if sent_at >= self.started_at:
            self.last_consumed_at = now
            self.last_roundtrip_s = max(0.0, now - sent_at)

    def ready(self, now: float) -> bool:
        heartbeat = self.last_consumed_at > 0 and now - self.last_consumed_at <= self.stale_after_s
        # The batch consumers' groups (case stage, projections) must have assigned this worker too.
        return heartbeat and all(consumer.joined for consumer in REGISTERED)

    def describe(self, now: float) -> dict[str, Any]:
        return {
            "ready": self.ready(now),
            "worker": settings.worker_id,
            "seconds_since_heartbeat": round(now - self.last_consumed_at, 3) if self.last_consumed_at else None,
            "heartbeat_roundtrip_s": round(self.last_roundtrip_s, 4),
            "uptime_s": round(now - self.started_at, 1),
            "groups_joined": {consumer.group: consumer.joined for consumer in REGISTERED},
        }


READINESS = Readiness(started_at=time.time())


@app.timer(interval=2.0)
async def send_heartbeats() -> None:
    """One heartbeat per partition, so whichever partitions this worker owns, some come back."""
    value = json.dumps({"worker": settings.worker_id, "at": time.time()}).encode()
    heartbeats = topic(HEARTBEATS)
    for partition in range(HEARTBEATS.partitions):
        await heartbeats.send(key=settings.worker_id.encode(), value=value, partition=partition)


@app.agent(topic(HEARTBEATS))
async def read_heartbeats(stream: Any) -> None:
    async for value in stream:
        try:
            sent_at = float(json.loads(value)["at"])
        except (ValueError, KeyError, TypeError):
            continue  # heartbeats are the product's own canary, not input; a bad one only delays readiness
        READINESS.consumed(sent_at, time.time())
