"""Live alerts over server-sent events: replay of recent alerts, live fan-out from Redis pub/sub, RBAC."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from streams import redis_keys as keys
from streams.web.access import TokenStore, token_entry
from streams.web.sse import HUB, backlog_after, sse_event
from tests.unit.streams.web.harness import DEPT_A, DEPT_B, TOKENS, WebHarness, api, web

__all__ = ["api", "web"]


def alert(n: int, department: str) -> dict[str, Any]:
    return {"alert_id": f"alert:C-{n}:1", "case_id": f"C-{n}", "type": "dispatched", "severity": "info",
            "title": "New case dispatched", "department": department, "at": 1_700_000_000.0 + n}


def test_sse_event_format() -> None:
    assert sse_event({"a": "б"}, event_id="x1") == 'id: x1\nevent: alert\ndata: {"a":"б"}\n\n'.encode()
    assert b"\n" not in sse_event({"text": "two\nlines"}).split(b"data: ")[1][:-2]


def test_backlog_replays_what_a_reconnecting_console_missed() -> None:
    recent = [{"alert_id": f"a{i}"} for i in (5, 4, 3, 2, 1)]  # newest first
    assert [a["alert_id"] for a in backlog_after(recent, "a3", 50)] == ["a4", "a5"]
    assert [a["alert_id"] for a in backlog_after(recent, "gone", 2)] == ["a4", "a5"]
    assert [a["alert_id"] for a in backlog_after(recent, None, 10)] == ["a1", "a2", "a3", "a4", "a5"]


async def read_events(resp: Any, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []

    async def go() -> None:
        block: list[str] = []
        while len(events) < count:
            line = (await resp.content.readline()).decode().rstrip("\n")
            if line:
                block.append(line)
                continue
            fields = dict(part.split(": ", 1) for part in block if ": " in part and not part.startswith(":"))
            if fields.get("event") == "alert":
                events.append({"id": fields.get("id"), **json.loads(fields["data"])})
            block = []

    await asyncio.wait_for(go(), timeout)
    return events


def test_console_gets_recent_then_live_alerts_of_its_department(api: WebHarness) -> None:
    api.put_alerts([alert(n, d) for n, d in [(1, DEPT_A), (2, DEPT_B), (3, DEPT_A)]])

    async def scenario() -> tuple[list[dict], list[dict]]:
        headers = {"Authorization": f"Bearer {TOKENS['dept_a'][0]}"}
        async with api.client.get("/api/alerts/stream", headers=headers) as resp:
            assert resp.status == 200 and resp.headers["Content-Type"] == "text/event-stream"
            replayed = await read_events(resp, 2)
            await HUB.ready.wait()
            for n, dept in [(4, DEPT_B), (5, DEPT_A)]:
                await api.redis.publish(keys.ALERTS_CHANNEL, json.dumps(alert(n, dept)))
            live = await read_events(resp, 1)
            return replayed, live

    replayed, live = api.run(scenario())
    assert [a["case_id"] for a in replayed] == ["C-1", "C-3"]  # oldest first, other department filtered out
    assert [a["case_id"] for a in live] == ["C-5"] and live[0]["id"] == "alert:C-5:1"


def test_stream_resumes_after_last_event_id_and_needs_a_token(api: WebHarness) -> None:
    api.run(api.redis.lpush(keys.ALERTS_RECENT, *[json.dumps(alert(n, DEPT_A)) for n in (1, 2, 3)]))
    assert api.call("GET", "/api/alerts/stream").status == 401

    async def scenario() -> list[dict]:
        headers = {"Authorization": f"Bearer {TOKENS['operator'][0]}", "Last-Event-ID": "alert:C-1:1"}
        async with api.client.get("/api/alerts/stream", headers=headers) as resp:
            return await read_events(resp, 2)

    assert [a["case_id"] for a in api.run(scenario())] == ["C-2", "C-3"]


def test_stream_ends_within_seconds_of_its_tokens_revocation(
    api: WebHarness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import streams.web.auth as auth_module
    import streams.web.sse as sse_module

    monkeypatch.setattr(sse_module, "REVALIDATE_S", 0.2)
    tokens_file = tmp_path / "tokens.yaml"
    keep = token_entry("keeper-token-0001", "keeper", "operator")
    tokens_file.write_text(yaml.safe_dump({"tokens": [token_entry("leaver-token-0001", "leaver", "operator"), keep]}))
    monkeypatch.setattr(auth_module, "_store", TokenStore(tokens_file))

    async def scenario() -> tuple[list[dict], bytes, float]:
        headers = {"Authorization": "Bearer leaver-token-0001"}
        async with api.client.get("/api/alerts/stream", headers=headers) as resp:
            assert resp.status == 200
            await HUB.ready.wait()
            await api.redis.publish(keys.ALERTS_CHANNEL, json.dumps(alert(1, DEPT_A)))
            before = await read_events(resp, 1)
            tokens_file.write_text(yaml.safe_dump({"tokens": [keep]}))  # `cityops token revoke --name leaver`
            revoked_at = time.monotonic()
            rest = await asyncio.wait_for(resp.content.read(), 5.0)  # the server ends the stream
            return before, rest, time.monotonic() - revoked_at

    before, rest, took = api.run(scenario())
    assert [a["case_id"] for a in before] == ["C-1"]
    assert b"event: revoked" in rest
    assert took < 2.0
    assert api.call("GET", "/api/alerts/stream", headers={"Authorization": "Bearer leaver-token-0001"}).status == 401
