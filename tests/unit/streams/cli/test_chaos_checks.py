"""The fault run's verdicts on fixtures: each check passes on a clean run and names what broke otherwise."""

from __future__ import annotations

import base64
from pathlib import Path

from streams.cli.chaos_checks import (
    check_case_documents,
    check_complaints_in_one_case,
    check_event_ids,
    check_no_restart_from_pause,
    check_tasks,
    render_markdown,
    render_table,
    write_png,
)


def _obs(event_id: str) -> dict:
    return {"observation_id": f"hotline:{event_id}", "source_id": event_id}


def _ev(event_id: str, case_id: str, type_: str, obs: str = "", **extra) -> dict:
    report = {"observation_id": obs, "source": "hotline"} if obs else None
    return {"event_id": event_id, "case_id": case_id, "type": type_, "report": report, **extra}


def _dead(key: str, reason: str = "invalid_report") -> dict:
    return {"key_b64": base64.b64encode(key.encode()).decode(), "reason": reason}


CLEAN_EVENTS = [
    _ev("c1:1", "c1", "opened", "hotline:a"),
    _ev("c1:2", "c1", "merged", "hotline:b"),
    _ev("c1:3", "c1", "dispatched"),
    _ev("c2:1", "c2", "opened", "hotline:c"),
]


def test_a_clean_run_puts_every_complaint_in_one_case_and_counts_dead_letters_as_accounted() -> None:
    check = check_complaints_in_one_case(["a", "b", "c", "d"], [_obs(x) for x in "abc"], CLEAN_EVENTS, [_dead("d")])
    assert check.ok, check.summary
    assert check.counts["in_one_case"] == 3 and check.counts["dead_lettered"] == 1


def test_a_complaint_in_two_cases_or_lost_fails_and_is_named() -> None:
    events = [*CLEAN_EVENTS, _ev("c3:1", "c3", "opened", "hotline:a")]  # a re-opened from scratch after a restart
    check = check_complaints_in_one_case(["a", "b", "c", "e"], [_obs(x) for x in "abc"], events, [])
    assert not check.ok
    assert check.counts["in_several_cases"] == 1 and check.counts["lost"] == 1
    assert any(ex.startswith("a in ['c1', 'c3']") for ex in check.examples)
    assert any(ex.startswith("e: no observation") for ex in check.examples)


def test_an_observation_dead_lettered_by_the_case_stage_is_accounted_for() -> None:
    check = check_complaints_in_one_case(["a"], [_obs("a")], [], [_dead("hotline:a", "wrong_schema")])
    assert not check.ok  # nothing at all made it into a case: the run proves nothing
    check = check_complaints_in_one_case(["a", "b"], [_obs("a"), _obs("b")], CLEAN_EVENTS[:1],
                                         [_dead("hotline:b", "wrong_schema")])
    assert check.ok and check.counts["dead_lettered"] == 1


def test_case_documents_must_list_every_assigned_observation() -> None:
    docs = {"c1": {"observations": [{"observation_id": "hotline:a"}, {"observation_id": "hotline:b"}]},
            "c2": {"observations": [{"observation_id": "hotline:c"}]}}
    assert check_case_documents(CLEAN_EVENTS, docs).ok
    docs["c1"] = {"observations": [{"observation_id": "hotline:a"}]}
    del docs["c2"]
    check = check_case_documents(CLEAN_EVENTS, docs)
    assert not check.ok
    assert check.counts == {"cases": 2, "complete": 0, "missing_document": 1, "missing_observations": 1}
    assert "c1: lacks ['hotline:b']" in check.examples


def test_a_redelivered_identical_event_is_fine_but_one_id_with_two_contents_fails() -> None:
    check = check_event_ids([*CLEAN_EVENTS, dict(CLEAN_EVENTS[0])])
    assert check.ok and check.counts["identical_copies"] == 1
    changed = _ev("c1:2", "c1", "merged", "hotline:z")
    check = check_event_ids([*CLEAN_EVENTS, changed])
    assert not check.ok and check.examples == ["c1:2"]


def _task(task_id: str, case_id: str, no: int = 1, **extra) -> dict:
    return {"task_id": task_id, "case_id": case_id, "dispatch_no": no, "department": "roads", **extra}


def test_one_task_per_dispatch_redeliveries_allowed_second_task_or_changed_task_fails() -> None:
    tasks = [_task("t1", "c1"), _task("t2", "c1", 2), _task("t1", "c1")]
    assert check_tasks(tasks).ok
    check = check_tasks([*tasks, _task("t9", "c1")])
    assert not check.ok and check.counts["dispatches_with_two_tasks"] == 1
    check = check_tasks([*tasks, _task("t2", "c1", 2, department="parks")])
    assert not check.ok and check.counts["task_ids_with_two_contents"] == 1


def test_a_restart_across_the_redis_pause_fails() -> None:
    assert check_no_restart_from_pause(101, 101, 0, 0, 20).ok
    assert not check_no_restart_from_pause(101, 202, 0, 1, 20).ok
    assert not check_no_restart_from_pause(101, None, 0, 0, 20).ok  # dead and not yet restarted


def test_the_table_markdown_and_image_show_each_verdict(tmp_path: Path) -> None:
    checks = [check_event_ids(CLEAN_EVENTS), check_no_restart_from_pause(1, 2, 0, 1, 20)]
    table = render_table(checks)
    assert "PASS" in table and "FAIL" in table
    md = render_markdown(checks, "run")
    assert "| no case-event id with two contents | PASS |" in md and "**FAIL**" in md
    png = write_png(checks, tmp_path / "chaos.png", "run")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
