"""Who is calling: bearer tokens and the console's session cookie, checked against the tokens file.

Programs send ``Authorization: Bearer <token>``. The console signs in once with
``POST /api/session`` and then rides an HttpOnly, SameSite=Strict cookie, so the
browser's EventSource and ``<img>`` requests are authenticated too and no other
site can make a signed-in browser write. The tokens file is ``CITYOPS_TOKENS_FILE``
or ``tokens.yaml`` in the data directory; without one every protected call is
refused: there is no anonymous operator.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import cast

from aiohttp import web as aioweb
from faust import web

from streams.app import app, city
from streams.settings import settings
from streams.web.access import AccessError, Principal, TokenStore
from streams.web.audit import audit
from streams.web.http import (
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

COOKIE = "cityops_session"
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


def presented_token(request: web.Request) -> str | None:
    """The token a request carries: the Authorization header first, then the session cookie."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return aiohttp_request(request).cookies.get(COOKIE) or None


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
    """The caller, or 401 with what to do about it."""
    token = presented_token(request)
    if not token:
        raise ApiError(401, "sign in: send 'Authorization: Bearer <token>' or use /console/", _CHALLENGE)
    principal = _lookup(token)
    if principal is None:
        raise ApiError(401, "unknown or revoked token", _CHALLENGE)
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
        token = str((await json_body(request, max_bytes=4096)).get("token") or "").strip()
        principal = _lookup(token) if token else None
        if principal is None:
            await audit("anonymous", "session.open", "console", outcome="refused", client=client_of(request))
            raise ApiError(401, "unknown or revoked token", _CHALLENGE)
        await audit(principal.actor, "session.open", "console", client=client_of(request))
        response = cast(aioweb.Response, json_response(_whoami(principal)))
        secure = aiohttp_request(request).secure or request.headers.get("X-Forwarded-Proto") == "https"
        response.set_cookie(
            COOKIE, token, max_age=SESSION_S, path="/", httponly=True, samesite="Strict", secure=secure
        )
        return cast(web.Response, response)

    @guarded
    async def delete(self, request: web.Request) -> web.Response:
        response = cast(aioweb.Response, json_response({"signed_out": True}))
        response.del_cookie(COOKIE, path="/")
        return cast(web.Response, response)
