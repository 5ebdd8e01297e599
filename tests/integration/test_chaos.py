"""A short fault run end to end: real complaints, Redis paused, the worker SIGKILLed, and every verdict holds.

Takes about 4 minutes (two consumer-group joins of Tansu), so it runs only when asked: ``pytest -m chaos``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.cli.chaos import run_chaos
from streams.cli.chaos_checks import render_table

pytestmark = [pytest.mark.integration, pytest.mark.chaos]


def test_a_short_fault_run_loses_duplicates_and_restarts_nothing(tmp_path: Path) -> None:
    checks, facts = run_chaos(100, rate=10.0, pause_s=5.0, run_dir=tmp_path)
    assert [c.name for c in checks] == [
        "every complaint in exactly one case",
        "every case document lists all its observations",
        "no case-event id with two contents",
        "no task twice",
        "no worker restart caused by the Redis pause",
    ]
    assert facts["worker_restarts"] == 1  # the SIGKILL, and only it
    assert all(c.ok for c in checks), render_table(checks)
