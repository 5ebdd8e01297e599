"""Prometheus metrics of every stage, served at ``/metrics`` by each worker."""

from __future__ import annotations

import gc
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector

__all__ = [
    "CASES_MERGED",
    "CASES_OPENED",
    "CONSUMER_LAG",
    "DEADLETTERS",
    "DISPATCHES",
    "EVENTS_IN",
    "EVENTS_OUT",
    "FRAME_TO_OBSERVATION",
    "GC_SECONDS",
    "HOTLINE_TO_DISPATCH",
    "LATENCY_BUCKETS",
    "MODEL_SECONDS",
    "OBSERVATION_TO_TASK",
    "OPEN_CASES",
    "REGISTRY",
    "REMINDERS",
    "SLA_BREACHES",
    "STAGE_BATCH_SECONDS",
    "STAGE_BATCH_SIZE",
    "observe_batch",
]

REGISTRY = CollectorRegistry(auto_describe=True)
# CPU, memory, fds and start time of the worker process under the standard process_* names that stock
# dashboards and the node/process alerts look for (the case bench reads process_cpu_seconds_total too).
ProcessCollector(registry=REGISTRY)
BATCH_SIZE_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

EVENTS_IN = Counter("cityops_events_in", "Records consumed, by topic", ["topic"], registry=REGISTRY)
EVENTS_OUT = Counter("cityops_events_out", "Records produced, by topic", ["topic"], registry=REGISTRY)
DEADLETTERS = Counter(
    "cityops_deadletters", "Inputs sent to the dead-letter topic", ["stage", "error_type"], registry=REGISTRY
)
# Stages work on whole batches, so the time is observed once per batch with the batch's size beside it:
# rate(_sum of seconds) / rate(_sum of size) is the mean time per record; the seconds' quantiles are per batch.
STAGE_BATCH_SECONDS = Histogram(
    "cityops_stage_batch_seconds", "Time one stage spends on one batch of records", ["stage"],
    buckets=LATENCY_BUCKETS, registry=REGISTRY,
)
STAGE_BATCH_SIZE = Histogram(
    "cityops_stage_batch_size", "Records in one batch a stage handled", ["stage"],
    buckets=BATCH_SIZE_BUCKETS, registry=REGISTRY,
)
MODEL_SECONDS = Histogram(
    "cityops_model_seconds", "Inference time per batch, by model", ["model"],
    buckets=LATENCY_BUCKETS, registry=REGISTRY,
)
HOTLINE_TO_DISPATCH = Histogram(
    "cityops_hotline_to_dispatch_seconds", "Complaint received -> dispatch task produced",
    buckets=LATENCY_BUCKETS, registry=REGISTRY,
)
OBSERVATION_TO_TASK = Histogram(
    "cityops_observation_to_task_seconds", "Observation ingested -> dispatch task produced",
    buckets=LATENCY_BUCKETS, registry=REGISTRY,
)
FRAME_TO_OBSERVATION = Histogram(
    "cityops_frame_to_observation_seconds", "Frame captured -> observation produced",
    buckets=LATENCY_BUCKETS, registry=REGISTRY,
)
EVENT_TO_ALERT = Histogram(
    "cityops_event_to_alert_seconds", "First report's event time -> operator alert produced",
    buckets=LATENCY_BUCKETS, registry=REGISTRY,
)
CASES_OPENED = Counter("cityops_cases_opened", "Cases opened, by kind", ["kind"], registry=REGISTRY)
CASES_MERGED = Counter("cityops_cases_merged", "Observations merged into an open case", ["kind"], registry=REGISTRY)
DISPATCHES = Counter(
    "cityops_dispatches", "Dispatch decisions, by outcome (auto/triage) and source", ["outcome", "source"],
    registry=REGISTRY,
)
REMINDERS = Counter("cityops_sla_reminders", "SLA reminders and escalations", ["type"], registry=REGISTRY)
SLA_BREACHES = Counter("cityops_sla_breaches", "Cases past their deadline, by kind", ["kind"], registry=REGISTRY)
OPEN_CASES = Gauge(
    "cityops_open_cases", "Open cases city-wide, by status (set by the leader's SLA timer)", ["status"],
    registry=REGISTRY,
)
# Named and labelled like kafka-exporter's kafka_consumergroup_lag, with the unit in the name.
CONSUMER_LAG = Gauge(
    "cityops_consumer_lag_records",
    "Records on a partition this worker consumes that its group has not read yet (high watermark - position)",
    ["group", "topic", "partition"], registry=REGISTRY,
)
GC_SECONDS = Counter(
    "cityops_gc_seconds", "Time the worker spent in Python's cyclic garbage collector, by generation",
    ["generation"], registry=REGISTRY,
)
_gc_started = [0.0]


def observe_batch(stage: str, started: float, size: int) -> None:
    """Record one batch of ``stage``: its time since ``started`` (``time.perf_counter()``) and its size."""
    if size <= 0:
        return  # an empty fetch did no work for anyone: it would only drag the per-record mean down
    STAGE_BATCH_SECONDS.labels(stage).observe(time.perf_counter() - started)
    STAGE_BATCH_SIZE.labels(stage).observe(size)


def _time_gc(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _gc_started[0] = time.perf_counter()
    else:
        GC_SECONDS.labels(str(info["generation"])).inc(time.perf_counter() - _gc_started[0])


gc.callbacks.append(_time_gc)
