"""Who is calling: bearer tokens and the console's session cookie, checked against the tokens file.

Programs send ``Authorization: Bearer <token>``. The console signs in once with
``POST /api/session`` and then rides an HttpOnly, SameSite=Strict cookie, so the
browser's EventSource and ``<img>`` requests are authenticated too. A write that
rides the cookie must also come from the console's own origin and carry the
session's CSRF token (see :mod:`streams.web.csrf`): SameSite alone lets a page on
another port of the same host write. The tokens file is ``CITYOPS_TOKENS_FILE``
or ``tokens.yaml`` in the data directory; without one every protected call is
refused: there is no anonymous operator.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import NamedTuple, cast

from aiohttp import web as aioweb
from faust import web

from streams.app import app, city
from streams.settings import settings
from streams.web.access import AccessError, Principal, TokenStore
from streams.web.audit import audit
from streams.web.csrf import (
    HEADER,
    SAFE_METHODS,
    csrf_token,
    csrf_valid,
    new_session_id,
    request_origin,
    same_origin,
    session_cookie,
    split_session_cookie,
)
from streams.web.http import (
    AUDITED,
    CSRF,
    PRINCIPAL,
    SESSION_COOKIE,
    ApiError,
    aiohttp_request,
    check_rate,
    client_of,
    guarded,
    json_body,
    json_response,
)
from streams.web.ratelimit import RateLimit, TokenBucketLimiter

__all__ = ["COOKIE", "authenticate", "presented_token", "set_token_store", "token_store", "tokens_path"]

log = logging.getLogger(__name__)

COOKIE = SESSION_COOKIE
SESSION_S = 12 * 3600
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="cityops"'}
_store: TokenStore | None = None
_sign_ins = TokenBucketLimiter(RateLimit(10, 60))


def tokens_path() -> Path:
    """``CITYOPS_TOKENS_FILE``, else ``tokens.yaml`` in the data directory (where ``cityops token new`` writes)."""
    return settings.tokens_file


def token_store() -> TokenStore:
    """The worker's token store (created on first use)."""
    global _store
    if _store is None:
        departments = [d.id for d in city().departments] + [city().routing.triage_department]
        _store = TokenStore(tokens_path(), departments)
    return _store


def set_token_store(store: TokenStore | None) -> None:
    """Use ``store`` (tests, embedded runs); None goes back to ``CITYOPS_TOKENS_FILE``."""
    global _store
    _store = store


class _Presented(NamedTuple):
    token: str | None
    by_cookie: bool = False
    session_id: str = ""  # the console session's id (cookie only)


def _presented(request: web.Request) -> _Presented:
    """The Authorization header first, then the session cookie."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return _Presented(value.strip())
    cookie = aiohttp_request(request).cookies.get(COOKIE)
    if not cookie:
        return _Presented(None)
    session_id, token = split_session_cookie(cookie)
    return _Presented(token, True, session_id)


def presented_token(request: web.Request) -> str | None:
    """The token a request carries: the Authorization header first, then the session cookie."""
    return _presented(request).token


def _from_console_origin(request: web.Request) -> bool:
    origin = request_origin(request.headers)
    raw = aiohttp_request(request)
    schemes = {raw.scheme, request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip() or raw.scheme}
    return origin is not None and same_origin(origin, request.headers.get("Host", ""), schemes)


def _refuse_cross_site(request: web.Request, token: str, session_id: str) -> None:
    """403 unless a cookie-authenticated write comes from the console's origin with its session's CSRF token."""
    if not _from_console_origin(request):
        origin = request_origin(request.headers) or "none"
        raise ApiError(403, f"cross-site request refused: origin {origin[:100]!r} is not this console's")
    if not csrf_valid(token, session_id, request.headers.get(HEADER)):
        raise ApiError(403, f"missing or stale {HEADER} header: reload the console (or sign in again)")


def _lookup(token: str | None) -> Principal | None:
    store = token_store()
    if not store.configured:
        hint = f"create {store.path} with `cityops token new` (see config/tokens.example.yaml)"
        raise ApiError(401, f"no tokens file on this worker: {hint}", _CHALLENGE)
    try:
        return store.authenticate(token)
    except AccessError as exc:
        log.error("tokens file unusable: %s", exc)
        raise ApiError(503, f"tokens file unusable: {exc}") from exc


def authenticate(request: web.Request) -> Principal:
    """The caller, or 401 with what to do about it (403 for a cookie-authenticated write from elsewhere)."""
    token, by_cookie, session_id = _presented(request)
    if not token:
        raise ApiError(401, "sign in: send 'Authorization: Bearer <token>' or use /console/", _CHALLENGE)
    principal = _lookup(token)
    if principal is None:
        raise ApiError(401, "unknown or revoked token", _CHALLENGE)
    raw = aiohttp_request(request)
    raw[PRINCIPAL] = principal
    if by_cookie:  # a browser sends the cookie for pages of other origins on this site too
        if request.method not in SAFE_METHODS:
            _refuse_cross_site(request, token, session_id)
        if session_id:
            raw[CSRF] = csrf_token(token, session_id)
    return principal


def _whoami(principal: Principal) -> dict[str, str]:
    return {
        "name": principal.name,
        "role": principal.role.value,
        "department": principal.department,
        "crew_id": principal.crew_id,
    }


@app.page("/api/session")
class Session(web.View):
    """Sign in (POST a token), see who is signed in (GET), sign out (DELETE)."""

    @guarded
    async def get(self, request: web.Request) -> web.Response:
        return json_response(_whoami(authenticate(request)))

    @guarded
    async def post(self, request: web.Request) -> web.Response:
        check_rate(_sign_ins, request, "session")
        raw = aiohttp_request(request)
        if request_origin(request.headers) is not None and not _from_console_origin(request):
            raise ApiError(403, "cross-site sign-in refused")  # no signing a browser into someone else's session
        token = str((await json_body(request, max_bytes=4096)).get("token") or "").strip()
        principal = _lookup(token) if token else None
        if principal is None:
            await audit("anonymous", "session.open", "console", outcome="refused", client=client_of(request))
            raw[AUDITED] = True
            raise ApiError(401, "unknown or revoked token", _CHALLENGE)
        await audit(principal.actor, "session.open", "console", client=client_of(request))
        session_id = new_session_id()
        raw[CSRF] = csrf_token(token, session_id)
        response = cast(aioweb.Response, json_response({**_whoami(principal), "csrf": raw[CSRF]}))
        secure = raw.secure or request.headers.get("X-Forwarded-Proto") == "https"
        response.set_cookie(COOKIE, session_cookie(session_id, token), max_age=SESSION_S, path="/",
                            httponly=True, samesite="Strict", secure=secure)
        return cast(web.Response, response)

    @guarded
    async def delete(self, request: web.Request) -> web.Response:
        response = cast(aioweb.Response, json_response({"signed_out": True}))
        response.del_cookie(COOKIE, path="/")
        return cast(web.Response, response)
