"""The durable mode's data lifetime: retention per topic, objects per partition, a warning once per threshold."""

from __future__ import annotations

import os
from collections import Counter

import pytest

from streams.durable import (
    STALL_OBJECTS,
    WARN_AT,
    LogUpkeep,
    expired,
    fetch_ms_estimate,
    objects_per_partition,
    retention_s,
)
from streams.durable_bench import DurableBench, FetchSample, fit_line
from streams.embedded import EmbeddedStack


def _key(topic: str, partition: int, offset: int) -> str:
    return f"clusters/tansu_cluster/topics/{topic}/partitions/{partition:0>10}/records/{offset:0>20}.batch"


def test_only_record_batches_count_per_partition() -> None:
    keys = [_key("hotline-events", 0, 0), _key("hotline-events", 0, 7), _key("hotline-events", 3, 0),
            "clusters/tansu_cluster/topics/hotline-events/partitions/0000000000/watermark.json",
            "clusters/tansu_cluster/meta.json", "clusters/tansu_cluster/groups/consumers/g/offsets/x.json"]
    assert objects_per_partition(keys) == Counter({"hotline-events/0": 2, "hotline-events/3": 1})


def test_each_threshold_warns_once_naming_the_fullest_partition() -> None:
    watch = LogUpkeep()
    assert watch.warning(Counter({"a/0": WARN_AT[0] - 1})) is None
    first = watch.warning(Counter({"a/0": 10, "case-state/2": WARN_AT[0]}))
    assert first is not None and "case-state/2 holds 500" in first and "README" in first
    assert watch.warning(Counter({"case-state/2": WARN_AT[0] + 5})) is None
    last = watch.warning(Counter({"case-state/2": STALL_OBJECTS + 1}))
    assert last is not None and watch.warned == set(WARN_AT)


def test_retention_comes_from_the_topic_registry_heartbeats_kept_short_compacted_kept_forever() -> None:
    assert retention_s("hotline-events") == 30 * 86400
    assert retention_s("heartbeats") == 600
    assert retention_s("case-state") is None and retention_s("not-a-topic") is None


def test_expired_batches_go_but_the_newest_of_each_partition_and_compacted_topics_stay() -> None:
    now = 10_000.0
    objects = [(_key("heartbeats", 0, n), now - 3600 + n) for n in range(5)]  # all older than 10 min
    objects += [(_key("heartbeats", 1, 0), now - 3600), (_key("heartbeats", 1, 9), now - 5)]
    objects += [(_key("case-state", 0, 0), 0.0), (_key("case-state", 0, 1), 1.0)]
    objects += [(_key("hotline-events", 0, 0), now - 3600)]  # 30 days' retention: stays
    objects += [("clusters/tansu_cluster/topics/heartbeats/partitions/0000000000/watermark.json", 0.0)]
    assert sorted(expired(objects, now)) == sorted(
        [_key("heartbeats", 0, n) for n in range(4)] + [_key("heartbeats", 1, 0)])


def test_upkeep_trims_then_warns_on_what_is_left_at_most_once_per_interval() -> None:
    listed: list[str] = []
    deleted: list[str] = []

    class Store:
        def objects(self, prefix: str = "") -> list[tuple[str, float]]:
            listed.append(prefix)
            old = [(_key("heartbeats", 0, n), 0.0) for n in range(WARN_AT[0] + 10)]
            return old + [(_key("case-events", 0, n), 0.0) for n in range(WARN_AT[0] - 1)]

        def delete(self, key: str) -> None:
            deleted.append(key)

    upkeep = LogUpkeep(interval_s=60)
    # The heartbeats would pass the first threshold, but all of them but the newest expire first.
    assert upkeep.check(Store(), now=100.0, wall=10_000.0) is None  # type: ignore[arg-type]
    assert len(deleted) == WARN_AT[0] + 9 and upkeep.deleted == len(deleted)
    assert upkeep.check(Store(), now=130.0) is None  # type: ignore[arg-type]
    assert listed == ["clusters/"]


def test_fetch_estimate_grows_with_objects() -> None:
    assert fetch_ms_estimate(0) < fetch_ms_estimate(1000) < fetch_ms_estimate(5000)


def test_the_bench_fits_answered_fetches_and_reports_where_they_stalled() -> None:
    base, slope = fit_line([1000, 2000, 3000], [12.0, 22.0, 32.0])
    assert (round(base, 6), round(slope, 6)) == (2.0, 10.0)
    bench = DurableBench(batches_per_s=5.0, samples=[
        FetchSample(250, 4.5, 2.0, 3.0), FetchSample(500, 7.0, 2.0, 3.0), FetchSample(750, 9.5, 2.0, 3.0),
        FetchSample(1250, 900.0, 2.0, 3.0),  # past one listing page: off the line, left out of the fit
        FetchSample(1500, None, 2.0, 3.0)])
    out = bench.as_dict()
    assert (out["fetch_ms_base"], out["fetch_ms_per_1000_objects"]) == (2.0, 10.0)
    assert out["fetch_stalled_at_objects"] == 1500 and out["minutes_to_stall_at_that_rate"] == 5.0
    assert out["objects_per_partition_per_day"] == 432_000 and out["fetch_ms_after_a_day"] == -1


def test_start_up_says_whether_data_is_durable(tmp_path) -> None:
    assert "IN MEMORY" in EmbeddedStack(tmp_path).describe_storage()
    durable = EmbeddedStack(tmp_path, durable_dir=tmp_path / "d")
    assert durable.describe_storage().startswith(f"data: DURABLE under {tmp_path / 'd'}")
    assert durable.producer_env() == {"CITYOPS_PRODUCER_LINGER_MS": "50"}
    assert EmbeddedStack(tmp_path).producer_env() == {}


def test_a_stop_takes_workers_then_tansu_then_seaweedfs_then_valkey(tmp_path) -> None:
    stopped: list[str] = []

    class Child:
        def __init__(self, name: str) -> None:
            self.name = name

        def stop(self, timeout: float = 10.0) -> None:
            stopped.append(self.name)

    stack = EmbeddedStack(tmp_path, durable_dir=tmp_path / "d")
    # Start order, and a worker restarted later (appended last).
    stack.children = [Child(n) for n in ("seaweedfs", "valkey", "tansu", "worker-1", "worker-2")]  # type: ignore[misc]
    stack.stop()
    assert stopped == ["worker-1", "worker-2", "tansu", "seaweedfs", "valkey"]
    assert stack.children == []


def test_one_durable_folder_serves_one_stack_at_a_time(tmp_path) -> None:
    first = EmbeddedStack(tmp_path / "run-1", durable_dir=tmp_path / "d")
    first.lock_durable_dir()
    second = EmbeddedStack(tmp_path / "run-2", durable_dir=tmp_path / "d")
    with pytest.raises(RuntimeError, match=f"in use by another cityops stack \\(pid {os.getpid()}\\)"):
        second.lock_durable_dir()
    first.stop()
    second.lock_durable_dir()  # released with the first stack
    second.stop()
