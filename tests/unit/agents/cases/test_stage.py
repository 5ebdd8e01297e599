"""The case stage's rules over real records, without a broker (tests.unit.agents.cases.harness).

Merge across sources, one task per dispatch whatever is redelivered, triage and an
operator's assignment, the field loop and reopening, refusals as dead letters, a
worker killed between producing a task and recording it, and a restart that restores
the case table from its changelog.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter

from agents.cases.dispatch import Dispatcher
from detectors.text.routing import RouteDecision
from schemas.records import CaseCommand, FieldUpdate, Observation
from streams import redis_keys as keys
from tests.unit.agents.cases.harness import CaseHarness

NEVSKY = (59.9343, 30.3351)


def observation(n: int, north_m: float = 0.0, source: str = "hotline", kind: str = "garbage", camera: str = "",
                tag: str = "", **extra: object) -> Observation:
    now = time.time()
    return Observation(
        observation_id=f"{source}:{tag or 't'}-{n}", source=source, source_id=str(n), observed_at=now - 60,
        ingested_at=now - 1, kind=kind, category="c.sanitarnoe_sostoyanie", lat=NEVSKY[0] + north_m / 111_195.0,
        lon=NEVSKY[1], district="tsentralnyy", confidence=0.9, text="" if source == "camera" else f"мусор {n}",
        camera_id=camera, location_precision="camera" if camera else "exact", **extra,  # type: ignore[arg-type]
    )


def test_a_camera_and_three_calls_about_one_pile_are_one_case_with_one_task(cases: CaseHarness) -> None:
    pile = [observation(0, source="camera", camera="cam-nevsky-01"), *(observation(i, 10.0 * i) for i in (1, 2, 3))]
    far = observation(9, 400.0)
    cases.feed([*pile, far])
    attached = {e.report.observation_id: e.case_id for e in cases.events() if e.report is not None}
    assert len({attached[o.observation_id] for o in pile}) == 1
    case_id = attached[pile[0].observation_id]
    assert attached[far.observation_id] != case_id
    state = cases.state(case_id)
    assert state is not None and state.reports == 4 and state.priority == "high"
    assert state.sources == {"camera": 1, "hotline": 3} and state.cameras == ["cam-nevsky-01"]
    assert [t.case_id for t in cases.tasks()].count(case_id) == 1
    assert state.status == "dispatched" and state.department == cases.tasks()[0].department


def test_redelivery_of_observations_and_commands_changes_nothing(cases: CaseHarness) -> None:
    batch = [observation(i, 200.0 * i, tag=uuid.uuid4().hex[:6]) for i in range(5)]
    commands = cases.feed(batch)
    events, tasks = cases.events(), cases.tasks()
    again = cases.observe(batch)  # the merge step redelivered: the same cases
    assert [c.key for c in again] == [c.key for c in commands]
    cases.apply(again)  # the command step redelivered
    cases.apply(commands)
    replayed = cases.events()[len(events):]
    assert {e.event_id for e in replayed} <= {e.event_id for e in events}  # re-emitted, never re-decided
    by_id = {e.event_id: e for e in events}
    assert all(by_id[e.event_id] == e for e in replayed)  # the same id always carries the same content
    assert cases.tasks() == tasks  # no task twice
    assert not cases.dead_letters()


def test_a_case_the_router_is_unsure_of_goes_to_triage_until_an_operator_assigns_it(cases: CaseHarness) -> None:
    triage = cases.city.routing.triage_department

    class Unsure:
        def route(self, queries):
            return [RouteDecision(triage, 0.2, "triage", False) for _ in queries]

    cases.stage.dispatcher = Dispatcher(cases.city, cases.redis, Unsure, cases.tasks_on_topic)
    obs = observation(1, kind="general", tag=uuid.uuid4().hex[:6])
    (command,) = cases.feed([obs])
    case_id = command.key.decode()
    state = cases.state(case_id)
    assert state is not None and state.status == "triage" and not cases.tasks()
    department = cases.city.departments[3].id
    cases.command(CaseCommand(command_id="assign:1", case_id=case_id, type="assign", at=time.time(),
                              department=department, route_source="operator", by="operator:ops"))
    state = cases.state(case_id)
    assert state is not None and (state.status, state.department, state.route_source) == (
        "dispatched", department, "operator")
    (task,) = cases.tasks()
    assert task.department == department and task.route_source == "operator" and task.task_id == f"{case_id}/2"


def field(case_id: str, department: str, action: str, n: int, **extra: str) -> CaseCommand:
    update = FieldUpdate(update_id=f"u-{case_id}-{n}", case_id=case_id, action=action, at=time.time() + n,
                         department=department, task_id=f"{case_id}/1", crew_id="crew-7", **extra)
    return CaseCommand(command_id=f"field:{update.update_id}", case_id=case_id, type="field", at=update.at,
                       field=update)


def test_the_field_loop_resolves_and_a_new_report_reopens_and_dispatches_again(cases: CaseHarness) -> None:
    tag = uuid.uuid4().hex[:6]
    (command,) = cases.feed([observation(1, tag=tag)])
    case_id = command.key.decode()
    department = cases.tasks()[0].department
    for n, action in enumerate(("acknowledge", "start", "resolve"), 1):
        cases.command(field(case_id, department, action, n))
    state = cases.state(case_id)
    assert state is not None and state.status == "resolved" and state.resolved_at > 0
    cases.feed([observation(2, 5.0, tag=tag)])  # reported again on the spot
    state = cases.state(case_id)
    types = [e.type for e in cases.events() if e.case_id == case_id]
    assert types[-2:] == ["reopened", "dispatched"] and state is not None and state.dispatch_no == 2
    assert [t.task_id for t in cases.tasks()] == [f"{case_id}/1", f"{case_id}/2"]


def test_a_refused_field_update_is_a_dead_letter_and_changes_nothing(cases: CaseHarness) -> None:
    (command,) = cases.feed([observation(1, tag=uuid.uuid4().hex[:6])])
    case_id = command.key.decode()
    before, events = cases.state(case_id), cases.events()
    cases.command(field(case_id, "org.not_the_holder", "resolve", 1))
    (letter,) = cases.dead_letters()
    assert letter["error_type"] == "refused_command" and "does not hold case" in letter["reason"]
    after = cases.state(case_id)
    assert before is not None and after is not None
    assert (after.status, after.seq, after.department, after.resolved_at) == (
        before.status, before.seq, before.department, before.resolved_at)
    assert cases.events() == events  # no transition


def test_a_worker_killed_after_its_task_was_acknowledged_does_not_send_it_again(cases: CaseHarness) -> None:
    commands = cases.feed([observation(1, tag=uuid.uuid4().hex[:6])])
    case_id = commands[0].key.decode()
    # Killed after the broker had the batch's task, state and events, before the claim was marked sent:
    # the claim stays "pending" and the attach command (its offset never committed) comes again.
    cases.loop.run_until_complete(cases.redis.set(keys.dispatch_claim(case_id, 1), "pending"))
    cases.restart()
    cases.apply(commands)
    assert Counter(t.case_id for t in cases.tasks()) == {case_id: 1}


def test_a_worker_killed_before_its_task_was_produced_sends_it_once(cases: CaseHarness) -> None:
    obs = observation(1, tag=uuid.uuid4().hex[:6])
    commands = cases.observe([obs])
    case_id = commands[0].key.decode()
    # The earlier attempt took the claim and died before anything reached the broker.
    cases.loop.run_until_complete(cases.redis.set(keys.dispatch_claim(case_id, 1), "pending"))
    cases.apply(commands)
    cases.apply(commands)
    assert Counter(t.case_id for t in cases.tasks()) == {case_id: 1}


def test_a_restart_restores_every_case_as_the_fold_of_its_events(cases: CaseHarness) -> None:
    tag = uuid.uuid4().hex[:6]
    cases.feed([observation(i, 300.0 * (i % 3), tag=tag) for i in range(9)])
    before = cases.stage.store.states()
    cases.restart()
    assert cases.stage.store.states() == before
    for case_id, state in before.items():  # the state agrees with the events the case emitted
        emitted = [e for e in cases.events() if e.case_id == case_id]
        assert emitted[-1].status == state.status and emitted[-1].reports == state.reports
        assert sorted(e.report.observation_id for e in emitted if e.report) == sorted(state.observation_ids)
    more = [observation(10 + i, 300.0 * i, tag=tag) for i in range(3)]
    cases.feed(more)  # the restored cases go on merging
    after = cases.stage.store.states()
    assert set(after) == set(before) and sum(s.reports for s in after.values()) == 12
