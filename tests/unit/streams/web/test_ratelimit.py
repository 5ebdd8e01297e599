"""Token buckets per client and the client address behind trusted proxies."""

from __future__ import annotations

import pytest

from streams.web.ratelimit import RateLimit, TokenBucketLimiter, client_address, parse_rate


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_bucket_allows_a_burst_then_refills_at_the_rate() -> None:
    clock = Clock()
    limiter = TokenBucketLimiter(RateLimit(3, 30), clock=clock)  # 3 at once, one per 10 s
    assert [limiter.acquire("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = limiter.acquire("a")
    assert wait == pytest.approx(10.0)
    clock.now += 5
    assert limiter.acquire("a") == pytest.approx(5.0)  # refused tries do not spend tokens
    clock.now += 5
    assert limiter.acquire("a") == 0.0
    assert limiter.acquire("a") > 0


def test_clients_have_their_own_buckets() -> None:
    limiter = TokenBucketLimiter(RateLimit(1, 60), clock=Clock())
    assert limiter.acquire("10.0.0.1") == 0.0
    assert limiter.acquire("10.0.0.1") > 0
    assert limiter.acquire("10.0.0.2") == 0.0


def test_bucket_never_holds_more_than_its_capacity() -> None:
    clock = Clock()
    limiter = TokenBucketLimiter(RateLimit(2, 2), clock=clock)
    limiter.acquire("a")
    clock.now += 3600
    assert [limiter.acquire("a") for _ in range(2)] == [0.0, 0.0]
    assert limiter.acquire("a") > 0


def test_least_recently_seen_clients_are_forgotten() -> None:
    limiter = TokenBucketLimiter(RateLimit(1, 60), max_clients=2, clock=Clock())
    for client in ("a", "b", "c"):
        limiter.acquire(client)
    assert len(limiter) == 2
    assert limiter.acquire("a") == 0.0  # forgotten, so a fresh bucket
    assert limiter.acquire("c") > 0


def test_parse_rate() -> None:
    assert parse_rate("10/60") == RateLimit(10, 60.0)
    assert parse_rate("5") == RateLimit(5, 1.0)
    for bad in ("ten/60", "0/60", "3/0"):
        with pytest.raises(ValueError, match="rate"):
            parse_rate(bad)


def test_client_address_trusts_only_the_proxies_it_is_told_about() -> None:
    forged = {"X-Forwarded-For": "6.6.6.6, 203.0.113.9"}
    assert client_address("10.1.0.5", forged, hops=0) == "10.1.0.5"
    assert client_address("10.1.0.5", forged, hops=1) == "203.0.113.9"
    assert client_address("10.1.0.5", {}, hops=1) == "10.1.0.5"
    assert client_address(None, {}, hops=0) == "unknown"
