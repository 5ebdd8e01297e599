"""The audit trail: every write through the web layer says who did what to which thing, and when.

An entry goes to three places: a JSON log line (logger ``cityops.audit``), the
``audit`` topic (the durable record, keyed by actor) and a capped Redis list
that admins read from ``/api/audit/recent``.

Refused requests are audited too (``request.refused``), so an admin sees probing:
every 401, 403 and 429, and a 404 answered to a signed-in caller (another
department's case reads as "not found"). A prober must not be able to flood the
trail or the broker with them, so they are rate-limited per client and per
worker; the ones over the limit are only counted
(``cityops_audit_events_total{action="request.refused",outcome="suppressed"}``).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any, cast

from streams.app import redis, topic
from streams.redis_keys import AUDIT_RECENT
from streams.topics import AUDIT
from streams.web.metrics import AUDIT_EVENTS
from streams.web.ratelimit import RateLimit, TokenBucketLimiter

__all__ = ["AUDIT", "REFUSAL_LIMITS", "audit", "audit_entry", "audit_refusal", "refusal_worth_auditing"]

log = logging.getLogger("cityops.audit")

_KEEP_RECENT = 1000
_declared = False
# Refusals audited per client address and per worker (the rest are counted, not written).
REFUSAL_LIMITS = (RateLimit(30, 60), RateLimit(600, 60))
_refusals_per_client = TokenBucketLimiter(REFUSAL_LIMITS[0])
_refusals_per_worker = TokenBucketLimiter(REFUSAL_LIMITS[1])


def audit_entry(
    actor: str, action: str, target: str, *, outcome: str = "ok", client: str = "", **detail: Any
) -> dict[str, Any]:
    """One audit entry (pure): ``actor`` did ``action`` to ``target`` with ``outcome``."""
    return {
        "audit_id": uuid.uuid4().hex,
        "at": time.time(),
        "actor": actor,
        "action": action,
        "target": target,
        "outcome": outcome,
        "client": client,
        "detail": {k: v for k, v in detail.items() if v not in (None, "")},
    }


async def audit(
    actor: str, action: str, target: str, *, outcome: str = "ok", client: str = "", **detail: Any
) -> dict[str, Any]:
    """Record an audit entry everywhere it belongs; waits for the broker so it cannot be lost."""
    entry = audit_entry(actor, action, target, outcome=outcome, client=client, **detail)
    line = json.dumps(entry, ensure_ascii=False, separators=(",", ":"))
    log.info("%s", line)
    AUDIT_EVENTS.labels(action, outcome).inc()
    global _declared
    channel = cast(Any, topic(AUDIT))
    if not _declared:  # produced to, never consumed here: Faust only creates it when asked
        await channel.maybe_declare()
        _declared = True
    delivered = await channel.send(key=actor.encode(), value=line.encode())
    await delivered  # acknowledged by the broker
    pipe = redis().pipeline(transaction=True)
    pipe.lpush(AUDIT_RECENT, line)
    pipe.ltrim(AUDIT_RECENT, 0, _KEEP_RECENT - 1)
    await pipe.execute()
    return entry


def refusal_worth_auditing(status: int, signed_in: bool) -> bool:
    """401, 403 and 429 always; 404 when the caller is signed in (a protected thing it may not see)."""
    return status in (401, 403, 429) or (status == 404 and signed_in)


async def audit_refusal(
    actor: str, method: str, path: str, status: int, client: str, **detail: Any
) -> dict[str, Any] | None:
    """Audit a refused request unless its client or this worker is over the refusal limit (None then)."""
    if _refusals_per_client.acquire(client) > 0 or _refusals_per_worker.acquire("") > 0:
        AUDIT_EVENTS.labels("request.refused", "suppressed").inc()
        return None
    try:
        return await audit(actor, "request.refused", f"{method} {path[:300]}", outcome="refused", client=client,
                           status=status, **detail)
    except Exception as exc:  # the refusal is answered whatever happens to its audit entry
        log.warning("refused %s %s (%d) from %s not audited: %r", method, path[:300], status, client, exc)
        return None
