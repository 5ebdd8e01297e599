"""``cityops up --pin``: which CPUs the workers and the rest get, and that a child really runs there."""

from __future__ import annotations

import os
import sys

import pytest

from streams.embedded import cpu_plan, start_child


def test_each_worker_gets_a_cpu_and_the_rest_go_to_the_broker_and_redis() -> None:
    assert cpu_plan(range(2), 1) == ([{0}], {1})
    assert cpu_plan(range(8), 3) == ([{0}, {1}, {2}], {3, 4, 5, 6, 7})


def test_the_plan_uses_the_cpus_this_process_may_use() -> None:
    assert cpu_plan([5, 3, 9], 1) == ([{3}], {5, 9})  # a cpuset that does not start at 0


@pytest.mark.parametrize(("n_cpus", "workers"), [(1, 1), (2, 2), (4, 0)])
def test_pinning_that_leaves_no_cpu_beside_the_workers_is_refused(n_cpus: int, workers: int) -> None:
    with pytest.raises(ValueError, match="more CPUs than workers"):
        cpu_plan(range(n_cpus), workers)


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="CPU affinity is Linux-only")
def test_a_child_started_with_cpus_runs_only_on_them(tmp_path) -> None:
    cpu = min(os.sched_getaffinity(0))
    child = start_child("probe", [sys.executable, "-c", "import os; print(sorted(os.sched_getaffinity(0)))"],
                        tmp_path, cpus={cpu})
    assert child.proc.wait(30) == 0
    assert child.log_path.read_text().strip() == str([cpu])


def test_a_restarted_worker_keeps_its_cpu(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    from streams.cli.run import Supervisor

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {4, 5, 6})
    sup = Supervisor(2, "spb", tmp_path, 6066, pin=True)
    started: list = []
    monkeypatch.setattr(sup.stack, "start_worker",
                        lambda wid, port, city, extra_env=None, cpus=None:
                        (started.append((wid, cpus)), (None, port))[1])
    for worker_id in ("worker-1", "worker-2", "worker-2", "worker-1"):  # then both die and come back
        sup._start_worker(worker_id, 0)
    assert started == [("worker-1", {4}), ("worker-2", {5}), ("worker-2", {5}), ("worker-1", {4})]
    assert sup.stack.infra_cpus == {6}
