"""The task board's status machine (agents.logic.tasks)."""

from __future__ import annotations

import pytest

from agents.logic.tasks import next_task_status, status_after


def test_task_actions_follow_the_board() -> None:
    assert next_task_status("ack", "open") == ("acknowledge", "acknowledged")
    assert next_task_status("resolve", "in_progress") == ("resolve", "resolved")
    assert next_task_status("reject", "acknowledged") == ("reject", "rejected")
    with pytest.raises(ValueError, match="cannot resolve a task that is rejected"):
        next_task_status("resolve", "rejected")
    with pytest.raises(KeyError):
        next_task_status("delete", "open")


def test_status_after_each_field_action() -> None:
    assert [status_after(a) for a in ("acknowledge", "start", "resolve", "reject")] == [
        "acknowledged", "in_progress", "resolved", "rejected"]
