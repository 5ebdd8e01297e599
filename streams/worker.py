"""Entry point of one worker process: every stage's agents and the web server, in one Faust worker.

Started by ``cityops worker`` (or ``python -m streams.worker``); reads the broker,
Redis and city from the environment (see :mod:`streams.settings`). Scale out by
starting more workers in the same consumer group.
"""

from __future__ import annotations

import asyncio
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


def main(loglevel: str = "info") -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    load_city(settings.city)  # fail fast, naming the file and key, before any connection is made
    asyncio.run(ensure_topics(settings.bootstrap_servers))
    apply_fetch_wait()
    load_stages()
    load_web()
    declared_topics()
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    faust.Worker(app, loglevel=loglevel, quiet=True).execute_from_commandline()


if __name__ == "__main__":
    main()
