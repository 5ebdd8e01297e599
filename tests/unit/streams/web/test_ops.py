"""/readyz waits for the Redis views a fresh stack rebuilds from the log, once; a later loss un-readies nobody."""

from __future__ import annotations

import asyncio

import pytest

from streams.web import ops


class FakeRedis:
    def __init__(self) -> None:
        self.keys: set[str] = set()
        self.down = False

    async def exists(self, key: str) -> int:
        if self.down:
            raise ConnectionError("redis is down")
        return int(key in self.keys)


def test_ready_only_once_the_views_were_built(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeRedis()
    monkeypatch.setattr(ops, "redis", lambda: fake)
    monkeypatch.setattr(ops, "_views_seen", [False])
    fake.down = True
    assert asyncio.run(ops.views_built()) is False  # Redis unreachable: not ready, no crash
    fake.down = False
    assert asyncio.run(ops.views_built()) is False
    fake.keys.add(ops.keys.CASE_INDEX_READY)
    assert asyncio.run(ops.views_built()) is True
    fake.keys.clear()
    fake.down = True
    assert asyncio.run(ops.views_built()) is True  # rebuilt elsewhere soon; pods stay reachable
