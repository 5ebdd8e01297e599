"""The case state machine: transitions, priorities, SLA, and idempotency under redelivery."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from agents.logic.lifecycle import apply, priority_for, sla_deadline
from config import load_city
from schemas.records import CaseCommand, CaseEvent, CaseState, FieldUpdate, Observation

CITY = load_city("spb")
T0 = 1_700_000_000.0


def obs(n: int, kind: str = "garbage", source: str = "hotline", at: float = T0, camera: str = "",
        **extra: Any) -> Observation:
    return Observation(
        observation_id=f"{source}:{n}", source=source, source_id=str(n), observed_at=at, ingested_at=at + 1,
        kind=kind, category="c.blagoustroystvo", reason="", lat=59.9, lon=30.3, district="nevskiy",
        confidence=0.9, text=f"report {n}", camera_id=camera, **extra,
    )


def attach(case: str, n: int, **kw: Any) -> CaseCommand:
    return CaseCommand(command_id=f"attach:{n}", case_id=case, type="attach", at=T0 + n, observation=obs(n, **kw))


def dispatched(case: str, no: int, dept: str = "org.a", ctype: str = "dispatched") -> CaseCommand:
    return CaseCommand(command_id=f"dispatch:{case}:{no}", case_id=case, type=ctype, at=T0 + 100, department=dept,
                       confidence=0.93, route_source="model", dispatch_no=no)


def field(case: str, n: int, action: str, dept: str = "org.a", **kw: str) -> CaseCommand:
    update = FieldUpdate(update_id=f"u{n}", case_id=case, action=action, at=T0 + 200 + n, department=dept,
                         crew_id="crew-7", note="done", **kw)
    return CaseCommand(command_id=f"field:u{n}", case_id=case, type="field", at=T0 + 200 + n, field=update)


def run(*commands: CaseCommand) -> tuple[CaseState | None, list[CaseEvent]]:
    state: CaseState | None = None
    events: list[CaseEvent] = []
    for cmd in commands:
        out = apply(state, cmd, CITY)
        assert not out.refused, out.refused
        state = out.state
        events.extend(out.events)
    return state, events


def test_first_report_opens_later_ones_merge_and_raise_priority() -> None:
    state, events = run(*(attach("C1", n) for n in range(1, 7)))
    assert state is not None
    assert [e.type for e in events] == [
        "opened", "merged", "merged", "priority_raised", "merged", "merged", "merged", "priority_raised"]
    assert state.reports == 6 and state.priority == "urgent"
    assert [e.event_id for e in events] == [f"C1:{i}" for i in range(1, 9)]


def test_redelivered_attach_adds_nothing_and_replays_the_same_events() -> None:
    state, first = run(attach("C1", 1))
    again = apply(state, attach("C1", 1), CITY)
    assert again.duplicate and again.state == state
    assert [e.event_id for e in again.events] == [e.event_id for e in first]


def test_dispatch_sets_department_and_deadline_from_kind_and_priority() -> None:
    state, events = run(attach("C1", 1), dispatched("C1", 1))
    assert state is not None and state.status == "dispatched" and state.department == "org.a"
    assert state.sla_deadline == T0 + 24 * 3600  # garbage, normal priority: 24 h from the first report
    assert events[-1].type == "dispatched"
    # the same dispatch redelivered is a duplicate: no second "dispatched" event
    out = apply(state, dataclasses.replace(dispatched("C1", 1), command_id="other-id"), CITY)
    assert out.duplicate and not out.events


def test_low_confidence_goes_to_triage() -> None:
    state, events = run(attach("C1", 1), dispatched("C1", 1, "triage", ctype="triaged"))
    assert state is not None and state.status == "triage" and events[-1].type == "triaged"


def test_field_loop_and_reopen_on_new_report() -> None:
    state, events = run(attach("C1", 1), dispatched("C1", 1), field("C1", 1, "acknowledge"),
                        field("C1", 2, "start"), field("C1", 3, "resolve"), attach("C1", 9))
    assert [e.type for e in events][-4:] == ["acknowledged", "started", "resolved", "reopened"]
    assert state is not None and state.status == "reopened"


def test_other_department_cannot_act_on_a_case() -> None:
    state, _ = run(attach("C1", 1), dispatched("C1", 1, "org.a"))
    out = apply(state, field("C1", 1, "resolve", dept="org.b"), CITY)
    assert "does not hold case" in out.refused and not out.events


def test_reject_records_who_rejected_and_reroute_is_a_new_dispatch() -> None:
    state, events = run(attach("C1", 1), dispatched("C1", 1, "org.a"),
                        field("C1", 1, "reject", suggested_department="org.b"), dispatched("C1", 2, "org.b"))
    assert state is not None and state.rejected_by == ["org.a"] and state.department == "org.b"
    assert [e.type for e in events][-2:] == ["rejected", "rerouted"]
    assert events[-2].suggested_department == "org.b"


def test_camera_verification_closes_or_reopens() -> None:
    base = (attach("C1", 1, source="camera", camera="cam-1"), dispatched("C1", 1), field("C1", 1, "resolve"))
    verify = CaseCommand(command_id="v1", case_id="C1", type="verify", at=T0 + 500, violation="absent", by="cam-1")
    state, events = run(*base, verify)
    assert state is not None and state.status == "closed"
    assert [e.type for e in events][-2:] == ["verified", "closed"]
    state, events = run(*base, dataclasses.replace(verify, violation="present"))
    assert state is not None and state.status == "reopened"


@pytest.mark.parametrize(("reports", "expected"), [(1, "normal"), (3, "high"), (6, "urgent")])
def test_priority_for(reports: int, expected: str) -> None:
    assert priority_for(reports) == expected
    assert priority_for(1, "urgent") == "urgent"  # never lowered


def test_sla_deadline_per_kind_and_priority() -> None:
    assert sla_deadline(CITY, "street_vending", "urgent", T0) == T0 + 3600
    assert sla_deadline(CITY, "illegal_ads", "normal", T0) == T0 + 120 * 3600


def test_operator_assigns_a_triaged_case() -> None:
    state, _ = run(attach("C1", 1), dispatched("C1", 1, "triage", ctype="triaged"))
    assign = CaseCommand(command_id="assign:1", case_id="C1", type="assign", at=T0 + 300, department="org.b",
                         by="operator-2")
    out = apply(state, assign, CITY)
    assert [e.type for e in out.events] == ["assigned"]
    assert out.events[0].route is not None and out.events[0].route.department == "org.b"
    assert out.events[0].by == "operator-2"
    state, _ = run(attach("C1", 1), dispatched("C1", 1, "triage", ctype="triaged"), assign,
                   dispatched("C1", 2, "org.b"))
    assert state is not None and state.status == "dispatched" and state.department == "org.b"


def test_apply_never_mutates_the_state_it_is_given() -> None:
    import copy

    state, _ = run(attach("C1", 1, source="camera", camera="cam-1"), dispatched("C1", 1))
    snapshot = copy.deepcopy(state)
    for cmd in (attach("C1", 2, camera="cam-2"), field("C1", 1, "reject", suggested_department="org.b"),
                field("C1", 2, "resolve"), dispatched("C1", 2, "org.b")):
        apply(state, cmd, CITY)
        assert state == snapshot


def review(case: str, verdict: str, n: int = 1) -> CaseCommand:
    return CaseCommand(command_id=f"review:{n}", case_id=case, type="review", at=T0 + 300 + n, verdict=verdict,
                       by="operator:ops")


def test_a_confirmed_detection_keeps_its_case_and_a_false_positive_closes_it_with_that_reason() -> None:
    state, _ = run(attach("C1", 1, source="camera", camera="cam-1"), dispatched("C1", 1))
    confirmed = apply(state, review("C1", "confirmed"), CITY)
    assert confirmed.state is not None and confirmed.state.status == "dispatched"
    assert [e.type for e in confirmed.events] == ["confirmed"]
    dismissed = apply(confirmed.state, review("C1", "false_positive", 2), CITY)
    assert dismissed.state is not None and dismissed.state.status == "closed"
    assert dismissed.state.close_reason == "false_positive"
    (event,) = dismissed.events
    assert event.type == "closed" and event.why == "false_positive" and event.by == "operator:ops"
    again = apply(dismissed.state, review("C1", "false_positive", 3), CITY)
    assert again.refused == "cannot review a case that is closed"


def test_an_unknown_review_verdict_is_refused_and_changes_nothing() -> None:
    state, _ = run(attach("C1", 1, source="camera", camera="cam-1"))
    out = apply(state, review("C1", "maybe"), CITY)
    assert out.refused == "unknown review verdict 'maybe'" and out.state is not None
    assert out.state.status == "new" and not out.events


def test_a_reports_address_and_camera_box_reach_its_event() -> None:
    cmd = attach("C1", 1, source="camera", camera="cam-1", address="Nevsky 30", bbox=[0.1, 0.2, 0.3, 0.4])
    (event,) = apply(None, cmd, CITY).events
    assert event.report is not None
    assert event.report.address == "Nevsky 30" and event.report.bbox == [0.1, 0.2, 0.3, 0.4]
