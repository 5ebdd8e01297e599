"""What SREs and Kubernetes probe: ``/healthz`` (alive), ``/readyz`` (really consuming), ``/metrics``."""

from __future__ import annotations

import time
from typing import Any

from faust import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from agents.heartbeat import READINESS
from streams.app import app
from streams.lag import refresh_lag
from streams.metrics import REGISTRY

__all__: list[str] = []


@app.page("/healthz")
async def healthz(self: web.View, request: web.Request) -> web.Response:
    return self.json({"status": "ok", "uptime_s": round(time.time() - READINESS.started_at, 1)})


@app.page("/readyz")
async def readyz(self: web.View, request: web.Request) -> web.Response:
    state: dict[str, Any] = READINESS.describe(time.time())
    return self.json(state, status=200 if state["ready"] else 503)


@app.page("/metrics")
async def metrics(self: web.View, request: web.Request) -> web.Response:
    await refresh_lag(app)
    return self.bytes(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST.split(";")[0])
