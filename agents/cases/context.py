"""What the case stage's steps work with: the city, Redis, the case table and the dispatcher.

The worker builds one from its runtime (:func:`agents.cases.stage.case_stage`); a test builds
one over a throw-away Redis and an in-memory store (:mod:`tests.unit.agents.cases.harness`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import redis.asyncio as aioredis

from agents.cases.dispatch import Dispatcher
from config.models import CityConfig
from schemas.records import CaseState
from streams.batch_consumer import PartitionedStore

__all__ = ["CaseStage"]


@dataclass
class CaseStage:
    """The case stage's dependencies.

    :param bootstrap: the broker, for rebuilding the index from the case log
    :param store: the case table (state per owned partition of ``case-commands``)
    :param ensure_views: rebuilds Redis from the log if it lost its data (:func:`agents.views.ensure_views`)
    :param clock_skew_s: how far in the future an observation's time may be
    """

    city: CityConfig
    redis: aioredis.Redis
    bootstrap: str
    store: PartitionedStore[CaseState]
    dispatcher: Dispatcher
    ensure_views: Callable[[], Awaitable[None]]
    clock_skew_s: float = 300.0
