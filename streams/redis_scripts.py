"""Lua scripts registered once per Redis client and called by SHA (EVALSHA, reloaded if Redis forgot them)."""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis

__all__ = ["script"]

_registered: dict[tuple[int, str], Any] = {}


def script(client: aioredis.Redis, source: str) -> Any:
    """The callable script ``source`` on ``client``: ``await script(client, src)(keys=[...], args=[...])``."""
    key = (id(client), source)
    if key not in _registered:
        _registered[key] = client.register_script(source)
    return _registered[key]
