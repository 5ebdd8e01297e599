"""Integration fixtures: the real embedded broker (Tansu) and Redis (valkey-server), and real workers.

``stack`` (session scope) starts Tansu + valkey + one worker once per test
session — Tansu completes a consumer-group join after ~30 s, so tests share one
long-lived worker. Tests that kill workers use ``own_stack`` (a fresh broker,
Redis and worker of their own) so they cannot disturb the others.

Helpers on the ``Stack`` object: ``send(topic, key, value_bytes)``,
``read(topic, until=..., timeout_s=...)``, ``offsets(topic)``, ``redis`` (sync
client), ``web_url``, ``start_worker()``, ``kill(worker_id)``.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis as redis_sync

from streams.client import StackInfo, producer, read_topic, topic_end_offsets, wait_ready
from streams.embedded import EmbeddedStack

READY_TIMEOUT_S = 240.0


def obs_id_of(case_event: dict[str, Any]) -> str:
    """The observation a case event (as JSON) attached, or ''."""
    return str((case_event.get("report") or {}).get("observation_id") or "")


class Stack:
    def __init__(self, run_dir: Path, workers: int = 1) -> None:
        self.embedded = EmbeddedStack(run_dir).start()
        self.redis = redis_sync.Redis.from_url(self.embedded.redis_url)
        self.web_urls: dict[str, str] = {}
        for n in range(1, workers + 1):
            self.start_worker(f"worker-{n}")
        self.wait_ready()

    @property
    def bootstrap(self) -> str:
        return self.embedded.bootstrap

    @property
    def web_url(self) -> str:
        return next(iter(self.web_urls.values()))

    @property
    def info(self) -> StackInfo:
        return StackInfo(self.embedded.kafka_url, self.embedded.redis_url, list(self.web_urls.values()))

    def start_worker(self, worker_id: str, extra_env: dict[str, str] | None = None) -> None:
        _, port = self.embedded.start_worker(worker_id, extra_env=extra_env)
        self.web_urls[worker_id] = f"http://127.0.0.1:{port}"

    def wait_ready(self, timeout_s: float = READY_TIMEOUT_S) -> None:
        for worker_id, url in self.web_urls.items():
            def alive(_: float, wid: str = worker_id) -> None:
                child = self.embedded.child(wid)
                if not child.alive():
                    raise RuntimeError(f"{wid} died:\n{child.log_tail(40)}")

            wait_ready(url, timeout_s, alive)

    def kill(self, worker_id: str, sig: int = signal.SIGKILL) -> None:
        child = self.embedded.child(worker_id)
        child.proc.send_signal(sig)
        child.proc.wait(30)
        self.embedded.children.remove(child)
        del self.web_urls[worker_id]

    def send(self, topic: str, key: str, value: bytes) -> None:
        async def go() -> None:
            prod = await producer(self.bootstrap)
            try:
                await prod.send_and_wait(topic, key=key.encode(), value=value)
            finally:
                await prod.stop()

        asyncio.run(go())

    def send_many(self, topic: str, items: list[tuple[str, bytes]]) -> None:
        async def go() -> None:
            prod = await producer(self.bootstrap)
            try:
                for key, value in items:
                    await prod.send(topic, key=key.encode(), value=value)
                await prod.flush()
            finally:
                await prod.stop()

        asyncio.run(go())

    def offsets(self, topic: str) -> dict[int, int]:
        return asyncio.run(topic_end_offsets(self.bootstrap, topic))

    def read(self, topic: str, until: Callable[[list[Any]], bool] | None = None, timeout_s: float = 60.0,
             since: dict[int, int] | None = None) -> list[Any]:
        return asyncio.run(read_topic(self.bootstrap, topic, until=until, timeout_s=timeout_s, from_offsets=since))

    def read_json(self, topic: str, count_where: Callable[[dict[str, Any]], bool], n: int, timeout_s: float = 60.0,
                  since: dict[int, int] | None = None) -> list[dict[str, Any]]:
        """Records of ``topic`` (as JSON) matching ``count_where``, waiting until there are ``n``."""
        def enough(records: list[Any]) -> bool:
            return sum(1 for r in records if count_where(json.loads(r.value))) >= n

        records = self.read(topic, until=enough, timeout_s=timeout_s, since=since)
        return [d for d in (json.loads(r.value) for r in records) if count_where(d)]

    def read_all_json(self, topic: str, where: Callable[[dict[str, Any]], bool],
                      since: dict[int, int] | None = None) -> list[dict[str, Any]]:
        """Every record of ``topic`` up to its current end (as JSON) that matches ``where``."""
        return [d for d in (json.loads(r.value) for r in self.read(topic, since=since)) if where(d)]

    def case_doc(self, case_id: str, where: Callable[[dict[str, Any]], bool],
                 timeout_s: float = 30.0) -> dict[str, Any]:
        """The console's document of a case (projected from ``case-state``), once it satisfies ``where``."""
        deadline = time.monotonic() + timeout_s
        while True:
            raw = self.redis.get(f"cityops:case:{case_id}")
            doc = json.loads(raw) if raw else None
            if doc is not None and where(doc):
                return doc
            if time.monotonic() > deadline:
                raise AssertionError(f"case document {case_id} never matched: {doc}")
            time.sleep(0.1)

    def get_json(self, path: str) -> Any:
        with urllib.request.urlopen(self.web_url + path, timeout=10) as resp:
            return json.loads(resp.read())

    def stop(self) -> None:
        self.embedded.stop()


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    s = Stack(tmp_path_factory.mktemp("stack"))
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture
def own_stack(tmp_path: Path) -> Iterator[Callable[..., Stack]]:
    """Factory of a private stack (broker, Redis, N workers) for tests that kill or restart things."""
    made: list[Stack] = []

    def make(workers: int = 1) -> Stack:
        made.append(Stack(tmp_path / f"own-{len(made)}", workers))
        return made[-1]

    try:
        yield make
    finally:
        for s in made:
            s.stop()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # The fault run takes minutes: only when the -m expression names it (pytest -m chaos).
    chaos_asked = "chaos" in (config.getoption("-m") or "")
    for item in items:
        if "tests/integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)
        if item.get_closest_marker("chaos") and not chaos_asked:
            item.add_marker(pytest.mark.skip(reason="the fault run takes ~4 min: run it with -m chaos"))
