"""What SREs and Kubernetes probe: ``/healthz`` (alive), ``/readyz`` (really consuming), ``/metrics``."""

from __future__ import annotations

import time
from typing import Any

from faust import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from agents.heartbeat import READINESS
from streams import redis_keys as keys
from streams.app import app, redis
from streams.lag import refresh_lag
from streams.metrics import REGISTRY

__all__: list[str] = []


@app.page("/healthz")
async def healthz(self: web.View, request: web.Request) -> web.Response:
    return self.json({"status": "ok", "uptime_s": round(time.time() - READINESS.started_at, 1)})


_views_seen = [False]


async def views_built() -> bool:
    """Whether the Redis views exist: a fresh stack rebuilds them from the log, and complaints taken before
    that wait seconds for it (p99 3.8 s on the first paced run). Once seen, a later loss does not make every
    worker unready at once: the rebuild takes seconds and the pods must stay reachable meanwhile."""
    if not _views_seen[0]:
        try:
            _views_seen[0] = bool(await redis().exists(keys.CASE_INDEX_READY))
        except Exception:  # Redis unreachable: not ready yet, and /readyz must still answer
            return False
    return _views_seen[0]


@app.page("/readyz")
async def readyz(self: web.View, request: web.Request) -> web.Response:
    state: dict[str, Any] = READINESS.describe(time.time())
    state["views_built"] = await views_built()
    state["ready"] = state["ready"] and state["views_built"]
    return self.json(state, status=200 if state["ready"] else 503)


@app.page("/metrics")
async def metrics(self: web.View, request: web.Request) -> web.Response:
    await refresh_lag(app)
    return self.bytes(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST.split(";")[0])
