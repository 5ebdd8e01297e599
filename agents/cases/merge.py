"""The merge step: each observation goes to the open case of its problem, or opens one.

Reads ``observations``; the case is decided atomically in Redis over the geo index of
open cases (:func:`agents.cases.index.find_or_create_batch`), and remembered per
observation so a redelivered one lands in the same case. Each observation then
becomes an ``attach`` command for its case (``case-commands``, keyed by case id).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from agents.cases.context import CaseStage
from agents.cases.index import find_or_create_batch
from agents.logic.inputs import future_time
from config.models import CityConfig
from schemas.records import CaseCommand, Observation
from streams.batch_consumer import RecordEvent
from streams.metrics import CASES_MERGED, CASES_OPENED, observe_batch
from streams.outbox import Outbox
from streams.stage import decode_batch
from streams.topics import CASE_COMMANDS

__all__ = ["check_observation", "merge_observations"]

STAGE = "cases"


def check_observation(obs: Observation, city: CityConfig, now: float, skew_s: float) -> str:
    """Why a schema-valid observation cannot become part of a case here, or ''."""
    kinds, districts = _known(city)
    if obs.kind not in kinds:
        return f"unknown case kind {obs.kind!r}; this city has {sorted(kinds)}"
    if obs.district not in districts:
        return f"unknown district {obs.district!r}"
    return future_time("observed_at", obs.observed_at, now, skew_s)


_KNOWN: dict[int, tuple[frozenset[str], frozenset[str]]] = {}


def _known(city: CityConfig) -> tuple[frozenset[str], frozenset[str]]:
    """The city's case kinds and districts, as sets (made once per city, not per observation)."""
    if id(city) not in _KNOWN:
        _KNOWN[id(city)] = (frozenset(k.id for k in city.case_kinds), frozenset(d.id for d in city.districts))
    return _KNOWN[id(city)]


async def merge_observations(cases: CaseStage, events: Sequence[RecordEvent], out: Outbox) -> None:
    """Attach each observation of the batch to its case (commands queued in ``out``)."""
    started = time.perf_counter()
    now = time.time()
    observations = []
    for event, obs in decode_batch(STAGE, events, Observation, out):
        problem = check_observation(obs, cases.city, now, cases.clock_skew_s)
        if problem:
            out.dead_letter(STAGE, problem, "invalid_observation", message=event.message)
        else:
            observations.append(obs)
    if not observations:
        return
    await cases.ensure_views()  # never match against a Redis that lost its index
    matches = await find_or_create_batch(cases.redis, cases.city, observations)
    for obs, match in zip(observations, matches, strict=True):
        (CASES_OPENED if match.opened and match.outcome == "opened" else CASES_MERGED).labels(obs.kind).inc()
        command = CaseCommand(command_id=f"attach:{obs.observation_id}", case_id=match.case_id, type="attach",
                              at=now, observation=obs, opened=match.opened)
        out.add_record(CASE_COMMANDS, match.case_id, command)
    observe_batch("cases.merge", started, len(events))
