"""``cityops up --pin``: which CPUs the workers and the rest get, and that a child really runs there."""

from __future__ import annotations

import os
import sys

import pytest

from streams.embedded import cpu_plan, start_child


def test_each_worker_gets_a_cpu_and_the_rest_go_to_the_broker_and_redis() -> None:
    assert cpu_plan(2, 1) == ([{0}], {1})
    assert cpu_plan(8, 3) == ([{0}, {1}, {2}], {3, 4, 5, 6, 7})


@pytest.mark.parametrize(("n_cpus", "workers"), [(1, 1), (2, 2), (4, 0)])
def test_pinning_that_leaves_no_cpu_beside_the_workers_is_refused(n_cpus: int, workers: int) -> None:
    with pytest.raises(ValueError, match="more CPUs than workers"):
        cpu_plan(n_cpus, workers)


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="CPU affinity is Linux-only")
def test_a_child_started_with_cpus_runs_only_on_them(tmp_path) -> None:
    cpu = min(os.sched_getaffinity(0))
    child = start_child("probe", [sys.executable, "-c", "import os; print(sorted(os.sched_getaffinity(0)))"],
                        tmp_path, cpus={cpu})
    assert child.proc.wait(30) == 0
    assert child.log_path.read_text().strip() == str([cpu])
