"""The outbox partitions keyed records exactly as the producer's default partitioner does."""

from __future__ import annotations

import random

from aiokafka.partitioner import DefaultPartitioner

from streams.outbox import key_hash


def test_cached_hash_picks_the_partition_the_default_partitioner_picks() -> None:
    rng = random.Random(7)
    keys = [f"case-{rng.getrandbits(64):x}".encode() for _ in range(500)] + ["org.адм_района".encode(), b""]
    for n in (1, 3, 12, 24):
        parts = list(range(n))
        for key in keys * 2:  # the second pass reads the cache
            assert parts[key_hash(key) % n] == DefaultPartitioner()(key, parts, parts)
