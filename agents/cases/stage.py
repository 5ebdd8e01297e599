"""The case stage as the worker runs it: its two steps over this process's city, Redis and case table."""

from __future__ import annotations

from functools import cache, partial

from agents.cases.commands import apply_commands
from agents.cases.context import CaseStage
from agents.cases.dispatch import Dispatcher
from agents.cases.merge import merge_observations
from agents.cases.task_log import tasks_on_topic
from agents.views import ensure_views
from detectors.text import Router, load_router
from schemas.records import CaseState
from streams.app import city, redis
from streams.batch_consumer import PartitionedStore
from streams.settings import current_settings
from streams.stage import BatchStage
from streams.topics import ALERTS, CASE_COMMANDS, CASE_EVENTS, CASE_STATE, DEADLETTER, DISPATCH_TASKS, OBSERVATIONS

__all__ = ["case_stage", "stages"]


def case_stage() -> CaseStage:
    """The case stage of this worker: its city, Redis, case table and dispatcher."""
    bootstrap = current_settings().bootstrap_servers

    @cache
    def router() -> Router:
        return load_router(city())

    async def tasks(task_ids: set[str]) -> set[str]:
        return await tasks_on_topic(task_ids, bootstrap)

    async def views() -> None:
        await ensure_views(redis(), city(), bootstrap)

    return CaseStage(
        city=city(),
        redis=redis(),
        bootstrap=bootstrap,
        store=PartitionedStore(CASE_STATE, CaseState),
        dispatcher=Dispatcher(city(), redis(), router, tasks),
        ensure_views=views,
        clock_skew_s=current_settings().clock_skew_s,
    )


def stages() -> list[BatchStage]:
    """The merge step and the command step, over one case stage."""
    cases = case_stage()
    return [
        BatchStage("cases", "cityops-cases-merge", OBSERVATIONS, partial(merge_observations, cases),
                   writes=(CASE_COMMANDS, DEADLETTER)),
        BatchStage("cases", "cityops-cases", CASE_COMMANDS, partial(apply_commands, cases), store=cases.store,
                   writes=(CASE_EVENTS, CASE_STATE, DISPATCH_TASKS, ALERTS, DEADLETTER),
                   warm=cases.dispatcher.router),  # the first camera or re-routed case must not wait for the load
    ]
