"""Cross-site request forgery defences for the console's cookie sessions (pure: no HTTP framework here).

``SameSite=Strict`` is not enough: a page on the same host but another port
(``http://127.0.0.1:18999``) is the *same site*, and the browser sends it the
console's cookie. So a write authenticated by the cookie must also

- come from the console's own origin (``Origin``, else the ``Referer``'s origin), and
- carry the session's CSRF token in the ``X-CSRF-Token`` header.

The CSRF token is an HMAC of a per-session random id keyed with the session's
API token: any worker can check it without shared state, a new sign-in makes the
old one useless, and nobody who cannot read the HttpOnly cookie can compute it.
Calls with ``Authorization: Bearer`` need neither: a browser never adds that header
to another site's request.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable, Mapping

from yarl import URL

__all__ = [
    "HEADER",
    "SAFE_METHODS",
    "csrf_token",
    "csrf_valid",
    "new_session_id",
    "request_origin",
    "same_origin",
    "session_cookie",
    "split_session_cookie",
]

HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_CONTEXT = b"cityops-csrf-v1:"


def new_session_id() -> str:
    """A random id for one console sign-in (no dot: it leads the cookie value)."""
    return secrets.token_urlsafe(16)


def session_cookie(session_id: str, token: str) -> str:
    """The cookie value of a console session: ``<session id>.<token>``."""
    return f"{session_id}.{token}"


def split_session_cookie(value: str) -> tuple[str, str]:
    """(session id, token) of a cookie value; a cookie from before sessions had ids gives ("", value)."""
    session_id, dot, token = value.partition(".")
    if dot and session_id and token:
        return session_id, token
    return "", value


def csrf_token(token: str, session_id: str) -> str:
    """The CSRF token of the session ``session_id`` signed in with ``token``."""
    return hmac.new(token.encode("utf-8"), _CONTEXT + session_id.encode("utf-8"), hashlib.sha256).hexdigest()


def csrf_valid(token: str, session_id: str, presented: str | None) -> bool:
    """Whether ``presented`` is this session's CSRF token (constant-time)."""
    if not session_id or not presented:
        return False
    return hmac.compare_digest(presented.encode("utf-8"), csrf_token(token, session_id).encode("utf-8"))


def request_origin(headers: Mapping[str, str]) -> str | None:
    """Where a browser says the request comes from: ``Origin``, else the ``Referer`` (None: neither)."""
    origin = headers.get("Origin")
    if origin:
        return origin.strip()
    referer = headers.get("Referer")
    return referer.strip() if referer else None


def _origin_of(url: str) -> tuple[str, str, int | None] | None:
    try:
        parsed = URL(url)
    except (ValueError, TypeError):
        return None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        return None
    return parsed.scheme, parsed.host.lower(), parsed.port  # yarl fills in 80/443


def same_origin(origin: str, host: str, schemes: Iterable[str]) -> bool:
    """Whether ``origin`` (or a Referer URL) is the console's own: one of ``schemes`` on the ``Host`` it was asked as.

    Ports count: ``http://127.0.0.1:18999`` is not ``http://127.0.0.1:6066``.
    """
    theirs = _origin_of(origin)
    if theirs is None or not host:
        return False
    return any(theirs == _origin_of(f"{scheme}://{host}") for scheme in schemes)
