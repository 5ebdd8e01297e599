"""The stage seam (streams.stage): outages are ridden out, bad events dead-lettered alone, nothing half-sent."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

import pytest
import redis.asyncio as aioredis
from aiokafka.structs import ConsumerRecord

import streams.stage as stage
from schemas.records import HotlineEvent
from streams.batch_consumer import RecordEvent
from streams.outbox import MemoryOutbox, Outbox
from streams.stage import DEGRADED, TimerStage, decode_batch, guarded
from streams.topics import DEADLETTER, OBSERVATIONS


def event(n: int, value: bytes = b"{}") -> RecordEvent:
    return RecordEvent(ConsumerRecord("in", 0, n, 0, 0, str(n).encode(), value, None, 1, len(value), ()))


class Sinks:
    """Outboxes handed out by guarded, and what they sent."""

    def __init__(self) -> None:
        self.made: list[MemoryOutbox] = []

    def __call__(self) -> MemoryOutbox:
        self.made.append(MemoryOutbox())
        return self.made[-1]

    def sent(self, topic: str) -> list[tuple[str, bytes, bytes, int | None]]:
        return [r for out in self.made for r in out.sent if r[0] == topic]


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    async def instant(_: float) -> None:
        return None

    monkeypatch.setattr(stage.asyncio, "sleep", instant)
    DEGRADED.clear()


def test_an_outage_is_retried_until_it_ends_and_shows_as_degraded_meanwhile() -> None:
    calls: list[int] = []
    seen_degraded: list[dict[str, str]] = []

    async def handle(events: Sequence[RecordEvent], out: Outbox) -> None:
        calls.append(len(events))
        seen_degraded.append(dict(DEGRADED))
        out.add(OBSERVATIONS, "k", b"half")
        if len(calls) < 3:
            raise aioredis.TimeoutError("Timeout reading from socket")

    sinks = Sinks()
    asyncio.run(guarded("cases", [event(1), event(2)], handle, sinks))
    assert calls == [2, 2, 2]  # the whole batch again, never dead-lettered
    assert "Timeout" in seen_degraded[-1]["cases"] and "cases" not in DEGRADED  # healthy once it passed
    assert len(sinks.sent(OBSERVATIONS.name)) == 1  # the failed attempts' outputs never went out
    assert not sinks.sent(DEADLETTER.name)


def test_a_bug_fails_only_the_event_that_triggers_it() -> None:
    async def handle(events: Sequence[RecordEvent], out: Outbox) -> None:
        if any(e.message.offset == 2 for e in events):
            raise ValueError("cannot handle this one")
        for e in events:
            out.add(OBSERVATIONS, str(e.message.offset), b"ok")

    sinks = Sinks()
    asyncio.run(guarded("hotline", [event(1), event(2), event(3)], handle, sinks))
    assert sorted(r[1] for r in sinks.sent(OBSERVATIONS.name)) == [b"1", b"3"]
    (letter,) = sinks.sent(DEADLETTER.name)
    data = json.loads(letter[2])
    assert data["error_type"] == "stage_error" and "cannot handle this one" in data["reason"]
    assert (data["stage"], data["offset"]) == ("hotline", 2)


def test_a_timer_rides_out_an_outage_and_a_bug(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[Any] = []

    async def fake_send(self: Outbox) -> None:
        sent.extend(self.records())

    monkeypatch.setattr(Outbox, "send", fake_send)

    async def paused_redis(now: float, out: Outbox) -> None:
        raise aioredis.TimeoutError("Timeout reading from socket")

    async def buggy(now: float, out: Outbox) -> None:
        raise KeyError("status")

    async def fine(now: float, out: Outbox) -> None:
        out.add(OBSERVATIONS, "k", b"v")

    asyncio.run(stage._tick(TimerStage("sla", 15.0, paused_redis)))  # no exception escapes: the worker lives
    assert "Timeout" in DEGRADED["sla"]
    asyncio.run(stage._tick(TimerStage("sla", 15.0, buggy)))
    asyncio.run(stage._tick(TimerStage("sla", 15.0, fine)))
    assert "sla" not in DEGRADED and len(sent) == 1


def test_decode_batch_dead_letters_what_it_cannot_read() -> None:
    good = HotlineEvent(event_id="e1", channel="phone", received_at=1.7e9, text="мусор")
    from schemas.codec import encode

    out = MemoryOutbox()
    decoded = decode_batch("hotline", [event(1, encode(good)), event(2, b"{not json")], HotlineEvent, out)
    assert [r for _, r in decoded] == [good]
    (letter,) = [json.loads(r[2]) for r in out.records()]
    assert letter["error_type"] == "malformed_json" and letter["offset"] == 2


def test_a_failing_warm_up_is_reported_and_the_consumers_still_run() -> None:
    def broken_model() -> None:
        raise FileNotFoundError("complaints-xx.npz")

    running = stage.RunningStages(warm=[("hotline", broken_model)])
    asyncio.run(stage.warm_up(running))
    assert running.warmed and "complaints-xx.npz" in DEGRADED["hotline.warm-up"]
