"""Entry point of one worker process: the stages it runs and the web server, in one Faust worker.

Started by ``cityops worker`` (or ``python -m streams.cli.worker``); reads the broker,
Redis and city from the environment once (see :mod:`streams.settings`). Scale out by
starting more workers in the same consumer groups.

:data:`STAGES` is the one list of stage modules: a new stage is a module with a
``stages()`` function (:mod:`streams.stage`) and a line here.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
from collections.abc import Callable, Sequence
from types import ModuleType

import faust

import agents.analytics
import agents.cases.stage
import agents.console
import agents.field
import agents.heartbeat
import agents.hotline
import agents.sla
import agents.views
import agents.vision
from agents.heartbeat import READINESS
from config import load_city
from streams.app import create_app, declared_topics
from streams.embedded import ensure_topics
from streams.kafka_tuning import apply_fetch_wait
from streams.settings import current_settings
from streams.stage import Stage, register
from streams.web import load_web

__all__ = ["STAGES", "main", "selected_stages", "stage_steps"]

STAGES: dict[str, ModuleType] = {
    "heartbeat": agents.heartbeat,  # always runs: readiness
    "hotline": agents.hotline,
    "cases": agents.cases.stage,
    "vision": agents.vision,
    "field": agents.field,
    "sla": agents.sla,
    "console": agents.console,
    "analytics": agents.analytics,
    "views": agents.views,  # rebuilds Redis from the log when it lost its data
}

# The case table is hundreds of thousands of small dicts that live for days. With CPython's default
# thresholds the cyclic collector rescanned them every few thousand allocations: 8-15 % of the case
# stage's CPU, growing with the table (``cityops_gc_seconds_total``). Young objects are collected less
# often; what start-up and state restores create is frozen out of the collector's sight (reference
# counting still frees it; only garbage cycles among it would wait for a restart).
GC_THRESHOLDS = (50_000, 20, 100)


def selected_stages(wanted_env: str | None = None) -> list[str]:
    """Stages this worker runs: all, or those named in ``CITYOPS_STAGES`` (e.g. ``vision`` for GPU nodes)."""
    raw = os.environ.get("CITYOPS_STAGES", "") if wanted_env is None else wanted_env
    wanted = [s.strip() for s in raw.split(",") if s.strip()]
    if not wanted:
        return list(STAGES)
    unknown = [s for s in wanted if s not in STAGES]
    if unknown:
        raise ValueError(f"CITYOPS_STAGES names unknown stages {unknown}; known: {sorted(STAGES)}")
    return ["heartbeat", *(s for s in wanted if s != "heartbeat")]


def stage_steps(names: Sequence[str]) -> list[Stage]:
    """Every step of the named stages, as their modules declare them."""
    steps: list[Stage] = []
    for name in names:
        declare: Callable[[], Sequence[Stage]] = STAGES[name].stages
        steps.extend(declare())
    return steps


def main(loglevel: str = "info") -> None:
    settings = current_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    load_city(settings.city)  # fail fast, naming the file and key, before any connection is made
    asyncio.run(ensure_topics(settings.bootstrap_servers))
    app = create_app(settings)
    apply_fetch_wait(settings.fetch_max_wait_ms)
    READINESS.running = register(app, stage_steps(selected_stages()))
    load_web()
    declared_topics()
    gc.set_threshold(*GC_THRESHOLDS)
    gc.freeze()
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    faust.Worker(app, loglevel=loglevel, quiet=True).execute_from_commandline()


if __name__ == "__main__":
    main()
