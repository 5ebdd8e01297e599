"""SLA arithmetic: reminders, escalations, verification by camera, closing, district digests."""

from __future__ import annotations

from typing import Any

from agents.logic.sla import district_digests, due_actions
from config import load_city

CITY = load_city("spb")
H = 3600.0
DEADLINE = 1_700_000_000.0


def case(**kw: Any) -> dict[str, Any]:
    base = {"case_id": "C1", "status": "dispatched", "kind": "garbage", "district": "nevskiy", "department": "org.a",
            "sla_deadline": DEADLINE, "reminded": 0.0, "escalated": 0.0, "resolved_at": 0.0, "cameras": [],
            "first_observed_at": DEADLINE - 24 * H}
    return base | kw


def whats(c: dict[str, Any], now: float, frames: dict[str, float] | None = None) -> list[str]:
    return [a.what for a in due_actions(c, CITY, now, frames)]


def test_nothing_due_early_then_reminder_then_escalation() -> None:
    assert whats(case(), DEADLINE - 5 * H) == []
    assert whats(case(), DEADLINE - 3 * H) == ["reminder"]  # garbage: reminder 4 h before
    assert whats(case(reminded=DEADLINE), DEADLINE - 1 * H) == []
    assert whats(case(reminded=DEADLINE), DEADLINE + 1) == ["escalate"]
    assert whats(case(reminded=DEADLINE, escalated=DEADLINE), DEADLINE + 10 * H) == []


def test_a_new_deadline_earns_a_new_reminder() -> None:
    # Priority raised: the deadline moved earlier, the old reminder does not count for it.
    assert whats(case(reminded=DEADLINE, sla_deadline=DEADLINE - 6 * H), DEADLINE - 8 * H) == ["reminder"]


def test_command_ids_are_deterministic() -> None:
    a = due_actions(case(), CITY, DEADLINE + 1, None)
    b = due_actions(case(), CITY, DEADLINE + 100, None)
    assert [x.command_id for x in a] == [x.command_id for x in b]


def test_hotline_case_closes_after_the_reopen_window() -> None:
    resolved = case(status="resolved", resolved_at=DEADLINE)
    assert whats(resolved, DEADLINE + 71 * H) == []
    assert whats(resolved, DEADLINE + 73 * H) == ["close"]


def test_camera_case_is_verified_once_the_camera_looked_again() -> None:
    resolved = case(status="resolved", resolved_at=DEADLINE, cameras=["cam-1"])
    window = CITY.kind("garbage").confirmation.window_s
    assert whats(resolved, DEADLINE + 100 * H, {"cam-1": DEADLINE + window - 1}) == []
    assert whats(resolved, DEADLINE + 100 * H, {"cam-1": DEADLINE + window}) == ["verify"]
    assert whats(resolved, DEADLINE + 100 * H, {}) == []  # camera silent: not verified, not closed by time


def test_district_digests_count_unresolved_and_overdue() -> None:
    cases = [case(case_id="A"), case(case_id="B", sla_deadline=DEADLINE + 10 * H), case(case_id="C", status="closed"),
             case(case_id="D", district="tsentralnyy", kind="illegal_ads")]
    digests = {d["district"]: d for d in district_digests(cases, DEADLINE + 1)}
    assert set(digests) == {"nevskiy", "tsentralnyy"}
    assert digests["nevskiy"]["unresolved"] == 2 and digests["nevskiy"]["overdue"] == 1
    assert digests["tsentralnyy"]["by_kind"] == {"illegal_ads": 1}
