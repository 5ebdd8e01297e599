"""Stage time is observed per batch with the batch's size beside it; process metrics use the standard names."""

from __future__ import annotations

import time

from prometheus_client import generate_latest

from streams.metrics import REGISTRY, observe_batch


def _value(name: str, stage: str) -> float:
    return REGISTRY.get_sample_value(name, {"stage": stage}) or 0.0


def test_a_batch_is_one_observation_of_its_time_and_one_of_its_size() -> None:
    started = time.perf_counter() - 0.2  # a batch of 40 records that took 0.2 s
    observe_batch("test.stage", started, 40)
    observe_batch("test.stage", time.perf_counter(), 0)  # an empty fetch is no batch
    assert _value("cityops_stage_batch_seconds_count", "test.stage") == 1
    assert 0.2 <= _value("cityops_stage_batch_seconds_sum", "test.stage") < 1.0
    assert _value("cityops_stage_batch_size_sum", "test.stage") == 40
    per_record = _value("cityops_stage_batch_seconds_sum", "test.stage") / _value(
        "cityops_stage_batch_size_sum", "test.stage")
    assert 0.005 <= per_record < 0.025


def test_process_metrics_have_the_standard_names() -> None:
    text = generate_latest(REGISTRY).decode()
    assert "\nprocess_cpu_seconds_total " in text and "\nprocess_resident_memory_bytes " in text
    assert "cityops_process_" not in text
