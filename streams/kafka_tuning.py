"""Consumer fetch wait for the broker in use.

Faust creates its aiokafka consumer with ``fetch_max_wait_ms=1500``. A real Kafka
answers a waiting fetch as soon as data arrives, so that only bounds idle
polling; the embedded Tansu broker holds the fetch for the whole wait, which
adds up to 1.5 s per hop. ``CITYOPS_FETCH_MAX_WAIT_MS`` sets the wait (the
embedded stack sets it short; unset, Faust's value stands).
"""

from __future__ import annotations

from typing import Any

from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

__all__ = ["apply_fetch_wait"]


def apply_fetch_wait(wait: int | None) -> None:
    """Faust's consumer waits at most ``wait`` ms for a fetch (None: Faust's own 1.5 s)."""
    if wait is None:
        return
    original = AIOKafkaConsumerThread._create_worker_consumer
    if getattr(original, "_cityops", False):
        return

    def create(self: Any, transport: Any) -> Any:
        consumer = original(self, transport)
        consumer._fetch_max_wait_ms = wait  # read by the fetcher when the consumer starts
        return consumer

    create._cityops = True  # type: ignore[attr-defined]
    AIOKafkaConsumerThread._create_worker_consumer = create  # type: ignore[method-assign]
