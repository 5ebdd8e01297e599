"""Inputs seen before: the same id with the same content is a redelivery, with other content a conflict.

A producer that reuses an id (a hotline event id, a field update id) for different
content would otherwise vanish silently downstream, where the id alone makes the
second one a redelivery. Each stage records ``id -> fingerprint`` in Redis the first
time (one script call per batch) and learns, per input, whether it is new, a
redelivery of what it saw, or a conflicting duplicate to dead-letter.
"""

from __future__ import annotations

from collections.abc import Sequence

import redis.asyncio as aioredis

from streams import redis_keys as keys
from streams.redis_scripts import script

__all__ = ["CONFLICT", "NEW", "SAME", "SEEN_TTL_S", "check_seen"]

NEW, SAME, CONFLICT = "new", "same", "conflict"
# Longer than any redelivery takes, as the observation -> case assignments are kept.
SEEN_TTL_S = 14 * 24 * 3600

_SEEN_LUA = """
local out = {}
for i, key in ipairs(KEYS) do
  local fp = ARGV[i + 1]
  if redis.call('SET', key, fp, 'NX', 'EX', ARGV[1]) then
    out[i] = 'new'
  elseif redis.call('GET', key) == fp then
    out[i] = 'same'
  else
    out[i] = 'conflict'
  end
end
return out
"""


async def check_seen(client: aioredis.Redis, namespace: str, items: Sequence[tuple[str, str]]) -> list[str]:
    """For each ``(id, fingerprint)``: :data:`NEW`, :data:`SAME` (a redelivery) or :data:`CONFLICT`.

    Within one batch, a second item with an id the batch already holds is judged against the first.
    """
    if not items:
        return []
    replies = await script(client, _SEEN_LUA)(
        keys=[keys.input_seen(namespace, item_id) for item_id, _ in items],
        args=[SEEN_TTL_S, *(fp for _, fp in items)],
    )
    return [r.decode() if isinstance(r, bytes) else str(r) for r in replies]
