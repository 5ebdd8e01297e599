"""The audit trail: every write through the web layer says who did what to which thing, and when.

An entry goes to three places: a JSON log line (logger ``cityops.audit``), the
``audit`` topic (the durable record, keyed by actor) and a capped Redis list
that admins read from ``/api/audit/recent``.
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

__all__ = ["AUDIT", "audit", "audit_entry"]

log = logging.getLogger("cityops.audit")

_KEEP_RECENT = 1000
_declared = False


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
