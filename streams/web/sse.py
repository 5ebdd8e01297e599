"""Live alerts to consoles over server-sent events.

Each worker holds one Redis subscription to ``ALERTS_CHANNEL`` (the console
projection publishes every alert there) and fans it out to the consoles
connected to that worker, so any worker serves any console. A console that
connects (or reconnects with ``Last-Event-ID``) first gets the recent alerts it
missed from ``ALERTS_RECENT``, then the live ones; each is filtered by what its
caller may see. A stream lives for hours, so its token is checked again every
:data:`REVALIDATE_S` seconds (the tokens file is re-read when it changes): once the
token is revoked, or now means someone else, the stream sends ``event: revoked`` and ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from typing import Any, cast

import redis.asyncio as aioredis
from aiohttp import web as aioweb
from faust import web

from streams import redis_keys as keys
from streams.app import app, redis
from streams.web import store
from streams.web.access import AccessError, Principal, can_see_alert
from streams.web.auth import authenticate, presented_token, token_store
from streams.web.http import ApiError, aiohttp_request, error_response
from streams.web.metrics import CONSOLE_CLIENTS

__all__ = ["HUB", "AlertHub", "backlog_after", "sse_event"]

log = logging.getLogger(__name__)

KEEPALIVE_S = 15.0
REVALIDATE_S = 2.0
BACKLOG = 50
_QUEUE = 256


def sse_event(data: Any, *, event: str = "alert", event_id: str | None = None) -> bytes:
    """One server-sent event (JSON data on a single line)."""
    lines = []
    if event_id:
        lines.append(f"id: {event_id}")
    lines.append(f"event: {event}")
    lines.append("data: " + json.dumps(data, ensure_ascii=False, separators=(",", ":")))
    return ("\n".join(lines) + "\n\n").encode()


def backlog_after(
    recent_newest_first: list[dict[str, Any]], last_event_id: str | None, limit: int
) -> list[dict[str, Any]]:
    """Alerts to replay to a (re)connecting console, oldest first.

    After ``last_event_id`` when the console names one still in the recent list;
    otherwise the latest ``limit``.
    """
    if last_event_id:
        for i, alert in enumerate(recent_newest_first):
            if alert.get("alert_id") == last_event_id:
                return list(reversed(recent_newest_first[:i]))
    return list(reversed(recent_newest_first[:limit]))


class AlertHub:
    """One pub/sub subscription per worker, fanned out to per-console queues.

    Subscribes when the first console connects and lets go when the last leaves.
    A console too slow to keep up loses its oldest queued alerts, never the worker's memory.
    """

    def __init__(self, client: Callable[[], aioredis.Redis], channel: str = keys.ALERTS_CHANNEL) -> None:
        self._client = client
        self.channel = channel
        self._queues: set[asyncio.Queue[dict[str, Any] | None]] = set()
        self._task: asyncio.Task[None] | None = None
        self.ready = asyncio.Event()

    def subscribe(self) -> asyncio.Queue[dict[str, Any] | None]:
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(_QUEUE)
        self._queues.add(queue)
        if self._task is None or self._task.done():
            self.ready = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._listen())
        return queue

    def unsubscribe(self, queue: asyncio.Queue[dict[str, Any] | None]) -> None:
        self._queues.discard(queue)
        if not self._queues and self._task is not None:
            self._task.cancel()
            self._task = None

    def publish(self, alert: dict[str, Any] | None) -> None:
        """Hand ``alert`` to every connected console (None tells them to close)."""
        for queue in list(self._queues):
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(alert)

    async def close(self) -> None:
        """Ask every console stream on this worker to end (the worker is stopping)."""
        self.publish(None)
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _listen(self) -> None:
        backoff = 0.5
        while True:
            pubsub = self._client().pubsub()
            try:
                await pubsub.subscribe(self.channel)
                self.ready.set()
                backoff = 0.5
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=KEEPALIVE_S)
                    if message and message.get("type") == "message":
                        try:
                            self.publish(json.loads(message["data"]))
                        except (ValueError, TypeError):
                            log.warning("unreadable alert on %s: %r", self.channel, message["data"][:200])
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis restarts must not end live consoles: resubscribe
                log.warning("alert subscription lost (%s); retrying in %.1fs", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(10.0, backoff * 2)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()


HUB = AlertHub(redis)


async def _close_hub(_: aioweb.Application) -> None:
    await HUB.close()


cast(Any, app.web).web_app.on_shutdown.append(_close_hub)


def _still_held(principal: Principal, token: str) -> bool:
    """Whether ``token`` still names ``principal`` (an unusable tokens file ends streams too: fail closed)."""
    try:
        return token_store().authenticate(token) == principal
    except AccessError:
        return False


async def _stream(
    response: aioweb.StreamResponse, principal: Principal, token: str, last_event_id: str | None
) -> None:
    queue = HUB.subscribe()
    CONSOLE_CLIENTS.inc()
    loop = asyncio.get_running_loop()
    try:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(HUB.ready.wait(), 5.0)
        await response.write(b"retry: 3000\n\n")
        recent = await store.recent_alerts(redis(), principal, 200)
        replayed = set()
        for alert in backlog_after(recent, last_event_id, BACKLOG):
            replayed.add(alert.get("alert_id"))
            await response.write(sse_event(alert, event_id=alert.get("alert_id")))
        written = checked = loop.time()
        while True:
            quiet = False
            try:
                live = await asyncio.wait_for(queue.get(), REVALIDATE_S)
            except TimeoutError:
                live, quiet = {}, True
            now = loop.time()
            if quiet or now - checked >= REVALIDATE_S:
                if not _still_held(principal, token):
                    await response.write(sse_event({"reason": "token revoked"}, event="revoked"))
                    return
                checked = now
            if live is None:
                return  # the worker is stopping
            if quiet:
                if now - written >= KEEPALIVE_S:
                    await response.write(b": keepalive\n\n")
                    written = now
                continue
            if live.get("alert_id") in replayed or not can_see_alert(principal, live):
                continue
            await response.write(sse_event(live, event_id=live.get("alert_id")))
            written = loop.time()
    except (ConnectionError, RuntimeError):
        return  # the console went away
    finally:
        HUB.unsubscribe(queue)
        CONSOLE_CLIENTS.dec()


@app.page("/api/alerts/stream")
class AlertStream(web.View):
    """``text/event-stream`` of alerts: recent ones first, then live, plus a keep-alive comment."""

    async def get(self, request: web.Request) -> web.Response:
        try:
            principal = authenticate(request)
        except ApiError as exc:
            return error_response(exc)
        raw = aiohttp_request(request)
        response = aioweb.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
            }
        )
        await response.prepare(raw)
        await _stream(response, principal, presented_token(request) or "", request.headers.get("Last-Event-ID"))
        return cast(web.Response, response)
