"""Case stage: observations become cases; case commands move cases through their life.

Two steps, each a batch stage (:mod:`streams.stage`: whole fetches per batch,
offsets committed after the outputs were acknowledged):

* :mod:`agents.cases.merge` reads ``observations`` and decides, atomically in Redis,
  which case each belongs to (:mod:`agents.logic.dedupe`, :mod:`agents.cases.index`),
  then asks that case to attach it (``case-commands``, keyed by case id).
* :mod:`agents.cases.commands` reads ``case-commands`` and applies them to the case
  with :func:`agents.logic.lifecycle.apply`; case state (:class:`schemas.records.CaseState`)
  lives in the step's store (per owned partition, backed by the compacted ``case-state``
  topic). A case that needs a department (opened, reopened, rejected, assigned) is
  routed and dispatched in the same step (:mod:`agents.cases.dispatch`) and the
  decision is applied at once, so an observation reaches its task in two hops. Every
  transition goes to ``case-events``, alerts to ``alerts``, the state to ``case-state``
  (from which :mod:`agents.console` keeps the console's view).

Redelivery is harmless at both steps: an observation keeps the case Redis gave it
the first time, a command already applied re-emits its events (same ids), and a
dispatch claim already sent produces nothing.
"""

from __future__ import annotations

from functools import cache, partial

from agents.cases.commands import apply_commands
from agents.cases.context import CaseStage
from agents.cases.dispatch import Dispatcher
from agents.cases.merge import merge_observations
from agents.cases.task_log import tasks_on_topic
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

    return CaseStage(
        city=city(),
        redis=redis(),
        bootstrap=bootstrap,
        store=PartitionedStore(CASE_STATE, CaseState),
        dispatcher=Dispatcher(city(), redis(), router, tasks),
        clock_skew_s=current_settings().clock_skew_s,
    )


def stages() -> list[BatchStage]:
    """The merge step and the command step, over one case stage."""
    cases = case_stage()
    return [
        BatchStage("cases", "cityops-cases-merge", OBSERVATIONS, partial(merge_observations, cases),
                   writes=(CASE_COMMANDS, DEADLETTER)),
        BatchStage("cases", "cityops-cases", CASE_COMMANDS, partial(apply_commands, cases), store=cases.store,
                   writes=(CASE_EVENTS, CASE_STATE, DISPATCH_TASKS, ALERTS, DEADLETTER)),
    ]
