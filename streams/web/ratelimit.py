"""Token-bucket rate limits for the public endpoints, one bucket per client address.

The limit holds per worker process: behind a load balancer spreading clients
over N workers a client gets at most N times the rate, which is what a public
write path needs (stop floods, never block a worker on Redis to count).
"""

from __future__ import annotations

import os
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass

__all__ = ["RateLimit", "TokenBucketLimiter", "client_address", "parse_rate"]


@dataclass(frozen=True)
class RateLimit:
    """``capacity`` requests at once, refilled at ``capacity / per_seconds`` per second."""

    capacity: int
    per_seconds: float

    @property
    def refill_per_second(self) -> float:
        return self.capacity / self.per_seconds


def parse_rate(text: str) -> RateLimit:
    """``"10/60"`` -> 10 requests per 60 seconds (the bucket holds 10)."""
    try:
        count, _, seconds = text.partition("/")
        limit = RateLimit(int(count), float(seconds or 1))
    except ValueError:
        raise ValueError(f"rate {text!r}: expected COUNT/SECONDS, e.g. 10/60") from None
    if limit.capacity < 1 or limit.per_seconds <= 0:
        raise ValueError(f"rate {text!r}: count must be >= 1 and seconds > 0")
    return limit


class TokenBucketLimiter:
    """Buckets keyed by client; the least recently seen clients are forgotten past ``max_clients``.

    A forgotten client starts again with a full bucket, which only ever errs towards
    letting a request through.
    """

    def __init__(
        self, limit: RateLimit, *, max_clients: int = 50_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.max_clients = max_clients
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def acquire(self, client: str) -> float:
        """Take one token for ``client``; 0.0 if allowed, else seconds until a token is available."""
        now = self._clock()
        tokens, last = self._buckets.pop(client, (float(self.limit.capacity), now))
        tokens = min(float(self.limit.capacity), tokens + (now - last) * self.limit.refill_per_second)
        if tokens >= 1.0:
            self._buckets[client] = (tokens - 1.0, now)
            wait = 0.0
        else:
            self._buckets[client] = (tokens, now)
            wait = (1.0 - tokens) / self.limit.refill_per_second
        while len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)
        return wait

    def __len__(self) -> int:
        return len(self._buckets)


def trusted_proxy_hops() -> int:
    """How many reverse proxies in front of the workers append to ``X-Forwarded-For``."""
    return int(os.environ.get("CITYOPS_TRUSTED_PROXY_HOPS", "0"))


def client_address(peer: str | None, headers: Mapping[str, str], hops: int) -> str:
    """The address a request really came from.

    With ``hops`` trusted proxies (an ingress controller is one) the client is the
    ``hops``-th address from the right of ``X-Forwarded-For``: entries further left
    were written by the client and can be forged.
    """
    if hops > 0:
        chain = [part.strip() for part in headers.get("X-Forwarded-For", "").split(",") if part.strip()]
        if len(chain) >= hops:
            return chain[-hops]
    return peer or "unknown"
