"""The stage seam: a stage step declares what it reads, what it writes and its handler; the worker runs it.

Two kinds of step, one idiom each:

* :class:`BatchStage` reads one topic in whole fetches (a :class:`~streams.batch_consumer.BatchConsumer`
  in its own consumer group) and handles each batch with a fresh :class:`~streams.outbox.Outbox`;
* :class:`TimerStage` runs on an interval (a Faust timer, on one worker if ``on_leader``).

A stage module builds its steps in a ``stages()`` function and the worker names the
module in its list (:mod:`streams.cli.worker`); nothing registers itself on import.
Both kinds run under :func:`guarded`: a Redis or broker outage is retried with
backoff and marks the step degraded (``/readyz`` says so) instead of stopping the
worker; any other error is retried event by event and only the event that still
fails is dead-lettered.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import faust
import mode
import redis.asyncio as aioredis
from aiokafka.errors import KafkaError

from schemas.codec import DecodeError, decode
from schemas.records import Record
from streams.batch_consumer import BatchConsumer, PartitionedStore, RecordEvent
from streams.outbox import Outbox
from streams.topics import TopicSpec

__all__ = [
    "DEGRADED",
    "TRANSIENT_ERRORS",
    "BatchStage",
    "Handler",
    "RunningStages",
    "Stage",
    "TimerStage",
    "decode_batch",
    "guarded",
    "register",
]

log = logging.getLogger(__name__)

R = TypeVar("R", bound=Record)

# A batch handler: the batch's records and the outbox its outputs and dead letters go to.
Handler = Callable[[Sequence[RecordEvent], Outbox], Awaitable[None]]
# A timer's tick: the time it runs at and the outbox its commands go to.
Tick = Callable[[float, Outbox], Awaitable[Any]]


@dataclass(frozen=True)
class BatchStage:
    """A step that reads ``reads`` in whole fetches, in consumer group ``group``.

    :param name: the stage's name (dead letters, metrics, logs)
    :param writes: the topics its handler produces to (documentation and the topology test)
    :param store: partition-local state restored before any record of a partition is handled
    :param warm: called before the worker reports ready (e.g. load the models the handler needs)
    :param patient: what the step feeds is read by people or reports, not by the next hop of a dispatch
        (console views, boards, analytics, heartbeats, crews' updates, camera frames): its fetches may
        wait up to 250 ms for data. A real Kafka answers as soon as data arrives, so there it only spares
        idle polling; the embedded broker holds a fetch for its whole wait, so there it adds up to 250 ms
    """

    name: str
    group: str
    reads: TopicSpec
    handle: Handler
    writes: tuple[TopicSpec, ...] = ()
    store: PartitionedStore[Any] | None = None
    max_records: int = 2000
    warm: Callable[[], Any] | None = None
    patient: bool = False


PATIENT_WAIT_MS = 250


@dataclass(frozen=True)
class TimerStage:
    """A step that runs every ``interval_s`` seconds (on the group's leader worker only if ``on_leader``)."""

    name: str
    interval_s: float
    tick: Tick
    writes: tuple[TopicSpec, ...] = ()
    on_leader: bool = False


Stage = BatchStage | TimerStage

# Errors of the infrastructure, not of the input: retrying later succeeds, dead-lettering would lose work.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    aioredis.ConnectionError,
    aioredis.TimeoutError,
    ConnectionError,
    asyncio.TimeoutError,
    KafkaError,
)
# Step name -> the transient error it is riding out now (empty once it succeeds again); read by /readyz.
DEGRADED: dict[str, str] = {}


def decode_batch(stage: str, events: Sequence[RecordEvent], cls: type[R], out: Outbox) -> list[tuple[RecordEvent, R]]:
    """Each event with its value read as a ``cls`` record; the unreadable ones are dead-lettered in ``out``."""
    decoded: list[tuple[RecordEvent, R]] = []
    for event in events:
        try:
            decoded.append((event, decode(cls, event.message.value)))
        except DecodeError as exc:
            out.dead_letter(stage, exc.reason, exc.error_type, message=event.message)
    return decoded


async def _send(stage: str, out: Outbox) -> None:
    """Send ``out`` (dead letters, mostly), riding out outages: it must not be lost or stop the step."""
    delay = 0.2
    while True:
        try:
            await out.send()
            return
        except TRANSIENT_ERRORS as exc:
            DEGRADED[stage] = repr(exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)


async def guarded(stage: str, events: Sequence[Any], handle: Handler,
                  new_outbox: Callable[[], Outbox] = Outbox) -> None:
    """Run ``handle(events, outbox)`` and send the outbox, so that nothing stops the step or is silently dropped.

    Each attempt gets a fresh outbox, so a failed attempt's half-made outputs never go out.
    Transient infrastructure errors are retried with backoff (the events stay unacknowledged
    meanwhile). Any other error is retried one event at a time, and only the events that still
    fail go to ``deadletter`` with the error as reason. Handlers are idempotent per event.
    """
    delay = 0.2
    while True:
        out = new_outbox()
        try:
            await handle(events, out)
            await out.send()
            DEGRADED.pop(stage, None)
            return
        except TRANSIENT_ERRORS as exc:
            DEGRADED[stage] = repr(exc)
            log.warning("%s: transient error, retrying in %.1fs: %r", stage, delay, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)
        except Exception as exc:
            if len(events) == 1:
                log.exception("%s: event failed, dead-lettering it", stage)
                letter = new_outbox()
                letter.dead_letter(stage, f"internal error in stage {stage}: {exc!r}", "stage_error",
                                   message=events[0].message)
                await _send(stage, letter)
                return
            log.warning("%s: batch of %d failed (%r); retrying one by one", stage, len(events), exc)
            for event in events:
                await guarded(stage, [event], handle, new_outbox)
            return


async def _tick(step: TimerStage) -> None:
    """One run of a timer step; an outage or a bug is logged and the next tick tries again."""
    out = Outbox()
    try:
        await step.tick(time.time(), out)
        await out.send()
        DEGRADED.pop(step.name, None)
    except TRANSIENT_ERRORS as exc:
        DEGRADED[step.name] = repr(exc)
        log.warning("%s: transient error, next tick in %.0fs: %r", step.name, step.interval_s, exc)
    except Exception:
        log.exception("%s: tick failed; next tick in %.0fs", step.name, step.interval_s)


@dataclass
class RunningStages:
    """The steps this worker runs: their batch consumers (for readiness and lag) and warm-up hooks."""

    consumers: list[BatchConsumer] = field(default_factory=list)
    warm: list[tuple[str, Callable[[], Any]]] = field(default_factory=list)
    warmed: bool = False

    def joined(self) -> bool:
        return all(c.joined for c in self.consumers)


class _BatchStages(mode.Service):
    """Runs the batch consumers; started with the app, so their joins run alongside Faust's."""

    def __init__(self, running: RunningStages, **kwargs: Any) -> None:
        self.running = running
        super().__init__(**kwargs)

    @mode.Service.task
    async def _consume(self) -> None:
        await warm_up(self.running)
        await asyncio.gather(*(consumer.run() for consumer in self.running.consumers))


async def warm_up(running: RunningStages) -> None:
    """Run the steps' warm-ups off the event loop; one that fails is reported, not fatal."""
    loop = asyncio.get_running_loop()
    for name, warm in running.warm:  # before the consumers join: not ready until these are done
        try:
            await loop.run_in_executor(None, warm)
        except Exception as exc:  # the step loads what it needs at first use instead; say so on /readyz
            log.exception("%s: warm-up failed", name)
            DEGRADED[f"{name}.warm-up"] = repr(exc)
    running.warmed = True


def _timer(step: TimerStage) -> Callable[[], Awaitable[None]]:
    async def timer() -> None:  # no parameters: Faust passes the app to a task function that takes one
        await _tick(step)

    return timer


def _batch_consumer(step: BatchStage) -> BatchConsumer:
    async def handle(events: Sequence[RecordEvent]) -> None:
        await guarded(step.name, events, step.handle)

    return BatchConsumer(step.name, step.group, step.reads, handle, store=step.store, max_records=step.max_records,
                         min_wait_ms=PATIENT_WAIT_MS if step.patient else 0)


def register(app: faust.App, steps: Sequence[Stage]) -> RunningStages:
    """Run ``steps`` in ``app``: batch steps as consumers of a service of the app, timers as Faust timers."""
    running = RunningStages()
    for step in steps:
        if isinstance(step, BatchStage):
            running.consumers.append(_batch_consumer(step))
            if step.warm is not None:
                running.warm.append((step.name, step.warm))
        else:
            app.timer(interval=step.interval_s, on_leader=step.on_leader, name=step.name)(_timer(step))
    app.add_dependency(_BatchStages(running))
    return running
