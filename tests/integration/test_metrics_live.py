"""Metrics an SRE can trust, after real traffic on the real stack: the open-case gauges agree with the API
case for case, status by status, after a case has moved through acknowledged, in progress and resolved."""

from __future__ import annotations

from collections import Counter

import pytest

from agents.logic.lifecycle import OPEN_STATUSES
from streams.client import fetch_metrics

from .conftest import Stack
from .test_console_live import complaint, console, dispatched_case, eventually, http, write_tokens

__all__ = ["console"]


def test_open_case_gauges_equal_the_api_counts_per_status(console: Stack) -> None:
    tokens = write_tokens(console)
    event = complaint("У дома 5 на Литейном проспекте переполнены мусорные контейнеры, мусор не вывозят.",
                      59.9400, 30.3480)
    doc = dispatched_case(console, event, tokens["operator"])
    if doc["status"] != "dispatched":
        pytest.skip("the router sent this complaint to triage; no department owns it")
    tokens = write_tokens(console, owner=doc["department"])
    task_id = f"{doc['case_id']}/1"
    eventually(lambda: any(t["task_id"] == task_id for t in http(console, "/api/tasks", tokens["owner"])[1]["tasks"]),
               60, "the task on its department's board")
    for verb, status in (("ack", "acknowledged"), ("start", "in_progress"), ("resolve", "resolved")):
        assert http(console, f"/api/tasks/{task_id}/{verb}", tokens["owner"], "POST", {"note": "it"})[0] == 202
        eventually(lambda s=status: http(console, f"/api/cases/{doc['case_id']}", tokens["operator"])[1]["status"] == s,
                   60, f"the case to be {status}")

    def agree() -> tuple[dict[str, float], Counter[str]] | None:
        listed = http(console, "/api/cases?limit=2000", tokens["operator"])[1]
        assert not listed["truncated"]
        by_status = Counter(c["status"] for c in listed["cases"])
        metrics = fetch_metrics(console.web_url)
        gauges = {s: metrics.get(f'cityops_open_cases{{status="{s}"}}', 0.0) for s in OPEN_STATUSES}
        same = all(gauges[s] == by_status.get(s, 0) for s in OPEN_STATUSES)
        return (gauges, by_status) if same and by_status["resolved"] >= 1 else None

    # the leader's SLA timer sets the gauges every CITYOPS_SLA_INTERVAL_S (15 s)
    gauges, by_status = eventually(agree, 60, "the open-case gauges to equal the API's counts per status")
    assert gauges["acknowledged"] == by_status.get("acknowledged", 0)  # the resolved case left its old sets
