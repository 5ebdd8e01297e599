"""Small helpers every web module shares: JSON bodies, query parsing, client address, rate limits,
and what every response gets on its way out (security headers, the session's CSRF token, refusals audited).

Faust's aiohttp driver hands views the aiohttp request itself, so the helpers
that need aiohttp's API (cookies, form bodies, streaming) cast to it here and
nowhere else.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping
from typing import Any, cast

from aiohttp import web as aioweb
from faust import web

from streams.app import app
from streams.web.access import Principal
from streams.web.audit import audit_refusal, refusal_worth_auditing
from streams.web.csrf import HEADER as CSRF_HEADER
from streams.web.metrics import RATE_LIMITED
from streams.web.ratelimit import TokenBucketLimiter, client_address, trusted_proxy_hops

__all__ = [
    "AUDITED",
    "CSRF",
    "PRINCIPAL",
    "SECURITY_HEADERS",
    "SESSION_COOKIE",
    "ApiError",
    "aiohttp_request",
    "check_rate",
    "client_of",
    "error_response",
    "guarded",
    "json_body",
    "json_response",
    "query_float",
    "query_int",
    "query_list",
]


SESSION_COOKIE = "cityops_session"  # the console's session (streams.web.auth)

# What the request carries for the response hook.
PRINCIPAL = aioweb.RequestKey("cityops.principal", Principal)  # the caller (streams.web.auth.authenticate)
CSRF = aioweb.RequestKey("cityops.csrf", str)  # the console session's CSRF token, returned in X-CSRF-Token
AUDITED = aioweb.RequestKey("cityops.refusal_audited", bool)  # a handler audited this refusal itself

# On every response unless the handler set its own: API answers (JSON, CSV, PNG, GeoJSON) carry people's
# complaints, so no browser may sniff them into another type and no cache (or shared proxy) may keep them.
SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}


class ApiError(Exception):
    """A refusal with an HTTP status and a message the caller can act on."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


def aiohttp_request(request: web.Request) -> aioweb.Request:
    """The aiohttp request behind a Faust view's request (the driver passes it through)."""
    return cast(aioweb.Request, request)


def json_response(
    data: Any,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    content_type: str = "application/json",
) -> web.Response:
    """A UTF-8 JSON response (non-ASCII text kept readable)."""
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)
    response = aioweb.Response(
        text=body, status=status, content_type=content_type, charset="utf-8", headers=headers
    )
    return cast(web.Response, response)


def error_response(exc: ApiError) -> web.Response:
    return json_response({"error": exc.message}, status=exc.status, headers=exc.headers)


async def json_body(request: web.Request, max_bytes: int = 8_000_000) -> dict[str, Any]:
    """The request's JSON object body ({} when empty); 400/413 when it is not one."""
    raw = await aiohttp_request(request).read()
    if len(raw) > max_bytes:
        raise ApiError(413, f"body of {len(raw)} bytes exceeds {max_bytes}")
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(400, f"body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ApiError(400, "body must be a JSON object")
    return data


def query_list(request: web.Request, name: str) -> list[str]:
    """A comma-separated (or repeated) query parameter as a list of non-empty values."""
    values = aiohttp_request(request).query.getall(name, [])
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def query_int(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(str(raw))
    except ValueError:
        raise ApiError(400, f"{name} must be an integer, got {raw!r}") from None
    return max(low, min(high, value))


def query_float(request: web.Request, name: str, default: float) -> float:
    raw = request.query.get(name)
    if raw in (None, ""):
        return default
    try:
        value = float(str(raw))
    except ValueError:
        raise ApiError(400, f"{name} must be a number, got {raw!r}") from None
    if not math.isfinite(value):
        raise ApiError(400, f"{name} must be finite")
    return value


def client_of(request: web.Request) -> str:
    """The caller's address, through trusted proxies (see :func:`client_address`)."""
    raw = aiohttp_request(request)
    return client_address(raw.remote, raw.headers, trusted_proxy_hops())


def check_rate(limiter: TokenBucketLimiter, request: web.Request, endpoint: str) -> None:
    """Take a token for this caller or refuse with 429 and ``Retry-After``."""
    wait = limiter.acquire(client_of(request))
    if wait > 0:
        RATE_LIMITED.labels(endpoint).inc()
        raise ApiError(429, "too many requests; slow down", {"Retry-After": str(max(1, math.ceil(wait)))})


def guarded(handler: Any) -> Any:
    """Decorate a view method so an :class:`ApiError` becomes its JSON error response."""

    @functools.wraps(handler)
    async def run(self: web.View, request: web.Request, **kwargs: Any) -> web.Response:
        try:
            return cast(web.Response, await handler(self, request, **kwargs))
        except ApiError as exc:
            return error_response(exc)

    return run


def _refusal_reason(response: aioweb.StreamResponse) -> str:
    """The error message of a JSON error body (ours or Open311's), for the audit entry."""
    body = getattr(response, "body", None)
    if not isinstance(body, bytes | bytearray) or len(body) > 4096:
        return ""
    try:
        data = json.loads(body)
    except ValueError:
        return ""
    if isinstance(data, list) and data and isinstance(data[0], dict):
        data = data[0]
    if isinstance(data, dict):
        return str(data.get("error") or data.get("description") or "")[:300]
    return ""


async def _on_response_prepare(request: aioweb.Request, response: aioweb.StreamResponse) -> None:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    csrf = request.get(CSRF)
    if csrf:
        response.headers[CSRF_HEADER] = csrf
    principal = request.get(PRINCIPAL)
    if request.get(AUDITED) or not refusal_worth_auditing(response.status, principal is not None):
        return
    auth = request.headers.get("Authorization", "")
    session = request.cookies.get(SESSION_COOKIE)
    presented = "bearer" if auth.lower().startswith("bearer ") else "cookie" if session else "none"
    await audit_refusal(
        principal.actor if principal is not None else "anonymous",
        request.method,
        request.path,
        response.status,
        client_of(cast(web.Request, request)),
        presented=presented,
        reason=_refusal_reason(response),
    )


# Registered when the web modules are imported, before the worker starts (aiohttp freezes its signals then).
cast(Any, app.web).web_app.on_response_prepare.append(_on_response_prepare)
