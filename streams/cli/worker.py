"""Entry point of one worker process: every stage's agents and the web server, in one Faust worker.

Started by ``cityops worker`` (or ``python -m streams.cli.worker``); reads the broker,
Redis and city from the environment (see :mod:`streams.settings`). Scale out by
starting more workers in the same consumer group.
"""

from __future__ import annotations

import asyncio
import gc
import logging

import faust

from agents import load_stages
from config import load_city
from streams.app import app, declared_topics
from streams.embedded import ensure_topics
from streams.kafka_tuning import apply_fetch_wait
from streams.settings import settings
from streams.web import load_web

__all__ = ["main"]

# The case table is hundreds of thousands of small dicts that live for days. With CPython's default
# thresholds the cyclic collector rescanned them every few thousand allocations: 8-15 % of the case
# stage's CPU, growing with the table (``cityops_gc_seconds_total``). Young objects are collected less
# often; what start-up and state restores create is frozen out of the collector's sight (reference
# counting still frees it; only garbage cycles among it would wait for a restart).
GC_THRESHOLDS = (50_000, 20, 100)


def main(loglevel: str = "info") -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    load_city(settings.city)  # fail fast, naming the file and key, before any connection is made
    asyncio.run(ensure_topics(settings.bootstrap_servers))
    apply_fetch_wait()
    load_stages()
    load_web()
    declared_topics()
    gc.set_threshold(*GC_THRESHOLDS)
    gc.freeze()
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    faust.Worker(app, loglevel=loglevel, quiet=True).execute_from_commandline()


if __name__ == "__main__":
    main()
