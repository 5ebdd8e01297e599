"""Cases through the real broker and Redis: merge across sources, field loop, Redis loss, races, SIGKILL."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any

from schemas.codec import encode
from schemas.records import FieldUpdate, Observation
from streams import redis_keys as keys

from .conftest import Stack, obs_id_of

NEVSKY = (59.9343, 30.3351)


def observation(n: int, lat: float, lon: float, source: str = "hotline", kind: str = "garbage", tag: str = "",
                camera: str = "") -> Observation:
    return Observation(
        observation_id=f"{source}:{tag or uuid.uuid4().hex[:8]}-{n}", source=source,
        source_id=str(n), observed_at=time.time(), ingested_at=time.time(), kind=kind,
        category="c.sanitarnoe_sostoyanie", reason="", lat=lat, lon=lon, district="tsentralnyy", confidence=0.91,
        text=f"garbage report {n}" if source != "camera" else "", camera_id=camera,
    )


def offset_meters(lat: float, lon: float, north_m: float) -> tuple[float, float]:
    return lat + north_m / 111_195.0, lon


def attached(stack: Stack, ids: set[str], since: dict[int, int], timeout_s: float = 90) -> dict[str, set[str]]:
    """observation id -> case ids it was attached to (opened/merged/reopened events)."""
    events = stack.read_json("case-events", lambda d: obs_id_of(d) in ids, len(ids),
                             since=since, timeout_s=timeout_s)
    out: dict[str, set[str]] = defaultdict(set)
    for ev in events:
        out[obs_id_of(ev)].add(ev["case_id"])
    return out


def test_camera_and_calls_about_one_pile_are_one_case_with_one_task(stack: Stack) -> None:
    lat, lon = offset_meters(*NEVSKY, 300)
    tag = uuid.uuid4().hex[:8]
    obs = [observation(0, lat, lon, "camera", tag=tag, camera="cam-nevsky-01")]
    obs += [observation(i, *offset_meters(lat, lon, 10 * i), tag=tag) for i in range(1, 4)]  # within 30 m
    far = observation(9, *offset_meters(lat, lon, 400), tag=tag)
    since = stack.offsets("case-events")
    tasks_since = stack.offsets("dispatch-tasks")
    stack.send_many("observations", [(o.observation_id, encode(o)) for o in [*obs, far]])
    cases = attached(stack, {o.observation_id for o in [*obs, far]}, since)
    assert len({c for o in obs for c in cases[o.observation_id]}) == 1  # four reports, one case
    (case_id,) = cases[obs[0].observation_id]
    assert cases[far.observation_id] != {case_id}
    doc = stack.case_doc(case_id, lambda d: d["reports"] == 4)
    assert doc["priority"] == "high" and doc["sources"] == {"camera": 1, "hotline": 3}
    time.sleep(3)
    tasks = stack.read_all_json("dispatch-tasks", lambda d: d["case_id"] == case_id, since=tasks_since)
    assert len(tasks) <= 1  # dispatched once (or sent to triage), never per report


def test_field_loop_acknowledge_resolve_and_wrong_department(stack: Stack) -> None:
    lat, lon = offset_meters(*NEVSKY, 900)
    o = observation(1, lat, lon, kind="street_vending")  # a routing rule sends vending to one department
    since = {t: stack.offsets(t) for t in ("case-events", "dispatch-tasks", "deadletter")}
    stack.send("observations", o.observation_id, encode(o))
    (task,) = stack.read_json("dispatch-tasks", lambda d: d["kind"] == "street_vending"
                              and d["first_observed_at"] == o.observed_at, 1, since=since["dispatch-tasks"])
    case_id, dept = task["case_id"], task["department"]

    def update(action: str, department: str = dept) -> tuple[str, bytes]:
        u = FieldUpdate(update_id=uuid.uuid4().hex, case_id=case_id, action=action,
                        at=time.time(), department=department, crew_id="crew-3", task_id=task["task_id"],
                        note=f"{action} by crew-3")
        return case_id, encode(u)

    other = "org.spb_gku_zha_nevskogo_rayona"
    stack.send_many("field-updates", [update("acknowledge"), update("resolve", other), update("resolve"),
                                      update("frobnicate")])
    events = stack.read_json("case-events", lambda d: d["case_id"] == case_id
                             and d["type"] in ("acknowledged", "resolved"), 2, since=since["case-events"])
    assert [e["type"] for e in events] == ["acknowledged", "resolved"]
    letters = stack.read_json("deadletter", lambda d: d["stage"] in ("cases", "field"), 2,
                              since=since["deadletter"])
    reasons = " | ".join(d["reason"] for d in letters)
    assert "does not hold case" in reasons and "action" in reasons


def test_redis_flushed_index_is_rebuilt_from_the_case_log(stack: Stack) -> None:
    lat, lon = offset_meters(*NEVSKY, 1500)
    first = observation(1, lat, lon)
    since = stack.offsets("case-events")
    tasks_since = stack.offsets("dispatch-tasks")
    stack.send("observations", first.observation_id, encode(first))
    (case_id,) = attached(stack, {first.observation_id}, since)[first.observation_id]
    stack.read_json("case-events", lambda d: d["case_id"] == case_id and d["type"] in ("dispatched", "triaged"),
                    1, since=since)
    stack.redis.flushall()
    time.sleep(1.5)
    again = observation(2, *offset_meters(lat, lon, 15))
    stack.send_many("observations", [(again.observation_id, encode(again)),
                                     (first.observation_id, encode(first))])  # and a redelivery of the first
    cases = attached(stack, {again.observation_id}, since)
    assert cases[again.observation_id] == {case_id}  # merged into the case Redis had forgotten
    assert stack.redis.exists("cityops:cases:index-ready")
    time.sleep(3)
    tasks = stack.read_all_json("dispatch-tasks", lambda d: d["case_id"] == case_id, since=tasks_since)
    assert len(tasks) <= 1  # the rebuilt dispatch claims stop a second task


def _attachments(stack: Stack, ids: set[str], since: dict[int, int]) -> Counter[str]:
    records = stack.read_json("case-events", lambda d: obs_id_of(d) in ids
                              and d["type"] in ("opened", "merged", "reopened"), len(ids), since=since,
                              timeout_s=180)
    pairs = {(obs_id_of(r), r["case_id"]) for r in records}
    return Counter(obs for obs, _ in pairs)


def test_two_workers_racing_on_one_place_open_one_case(own_stack: Callable[..., Stack]) -> None:
    stack = own_stack(workers=2)
    lat, lon = NEVSKY
    tag = uuid.uuid4().hex[:6]
    obs = [observation(i, *offset_meters(lat, lon, i % 5), tag=tag) for i in range(60)]
    assert len({hash(o.observation_id) % 4 for o in obs}) > 1
    since = stack.offsets("case-events")
    stack.send_many("observations", [(o.observation_id, encode(o)) for o in obs])
    cases = attached(stack, {o.observation_id for o in obs}, since, timeout_s=180)
    assert len({c for ids in cases.values() for c in ids}) == 1


def test_worker_killed_mid_stream_loses_nothing_and_doubles_nothing(own_stack: Callable[..., Stack]) -> None:
    stack = own_stack(workers=1)
    tag = uuid.uuid4().hex[:6]
    places = [offset_meters(*NEVSKY, 200 * p) for p in range(25)]
    obs = [observation(i, *places[i % len(places)], tag=tag, kind=("garbage", "street_vending")[i % 2])
           for i in range(400)]
    since = {t: stack.offsets(t) for t in ("case-events", "dispatch-tasks")}
    feed_done = threading.Event()

    def feed() -> None:
        for start in range(0, len(obs), 20):
            stack.send_many("observations", [(o.observation_id, encode(o)) for o in obs[start:start + 20]])
            time.sleep(0.05)
        feed_done.set()

    threading.Thread(target=feed, daemon=True).start()
    # Kill once the worker is visibly in the middle of the stream.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        seen = stack.read("case-events", since=since["case-events"], timeout_s=2)
        if len(seen) > 40:
            break
        time.sleep(0.2)
    stack.kill("worker-1")
    feed_done.wait(60)
    stack.start_worker("worker-1b")
    stack.wait_ready()

    ids = {o.observation_id for o in obs}
    per_obs = _attachments(stack, ids, since["case-events"])
    assert set(per_obs) == ids, f"lost: {len(ids - set(per_obs))}"
    assert max(per_obs.values()) == 1, "an observation ended in two cases"
    case_ids = {r["case_id"] for r in stack.read_all_json(
        "case-events", lambda d: obs_id_of(d) in ids, since=since["case-events"])}
    def decided(records: list[Any]) -> set[str]:
        return {d["case_id"] for d in map(json.loads, (r.value for r in records))
                if d["case_id"] in case_ids and d["type"] in ("dispatched", "triaged")}

    events = stack.read("case-events", until=lambda recs: decided(recs) >= case_ids, timeout_s=90,
                        since=since["case-events"])
    assert decided(events) == case_ids  # every case got its dispatch decision
    tasks: list[dict[str, Any]] = stack.read_all_json("dispatch-tasks", lambda d: d["case_id"] in case_ids,
                                                      since=since["dispatch-tasks"])
    per_task = Counter(t["task_id"] for t in tasks)
    assert per_task and max(per_task.values()) == 1, f"duplicated tasks: {[k for k, v in per_task.items() if v > 1]}"
    assert len({t["case_id"] for t in tasks}) == len(tasks)  # one dispatch per case
    # After the restart each case is the fold of its events: no partition was handled before its state came back.
    log = [json.loads(r.value) for r in stack.read("case-events", since=since["case-events"])]
    contents: dict[str, set[str]] = defaultdict(set)
    for ev in log:
        contents[ev["event_id"]].add(json.dumps(ev, sort_keys=True))
    assert not [k for k, v in contents.items() if len(v) > 1], "a case-event id with two contents"
    states: dict[str, dict[str, Any]] = {}
    for rec in stack.read("case-state"):
        state = json.loads(rec.value)
        if state["case_id"] in case_ids and state["seq"] >= states.get(state["case_id"], {}).get("seq", -1):
            states[state["case_id"]] = state
    for case_id in case_ids:
        emitted = {ev["event_id"]: ev for ev in log if ev["case_id"] == case_id}
        last = max(emitted.values(), key=lambda ev: int(ev["event_id"].rsplit(":", 1)[1]))
        state = states[case_id]
        assert state["seq"] == int(last["event_id"].rsplit(":", 1)[1]) == len(emitted), case_id
        assert (state["status"], state["reports"]) == (last["status"], last["reports"]), case_id
        reported = {ev["report"]["observation_id"] for ev in emitted.values() if ev.get("report")}
        assert set(state["observation_ids"]) == reported, case_id


def test_a_pending_dispatch_claim_is_settled_by_reading_the_task_topic(stack: Stack) -> None:
    import asyncio

    from agents.cases.task_log import tasks_on_topic

    present = f"C-test{uuid.uuid4().hex[:8]}/1"
    task = {"schema_version": 2, "task_id": present, "case_id": present.split("/")[0]}
    stack.send("dispatch-tasks", "org.test", json.dumps(task).encode())
    absent = f"C-test{uuid.uuid4().hex[:8]}/1"
    assert asyncio.run(tasks_on_topic({present, absent}, bootstrap=stack.bootstrap)) == {present}


def test_batched_lua_assigns_like_the_reference_rule(stack: Stack) -> None:
    """The one-call-per-batch script on real Redis gives, in order, what the plain-Python rule gives."""
    import asyncio
    import random

    import redis.asyncio as aioredis

    from agents.cases.index import find_or_create_batch
    from agents.logic.dedupe import CaseSite, Match, find_or_create
    from config import load_city

    city = load_city("spb")
    kind = city.kind("garbage")
    rng = random.Random(7)
    tag = uuid.uuid4().hex[:8]
    base = offset_meters(*NEVSKY, -5000)
    start = time.time()
    obs = [Observation(observation_id=f"lua:{tag}:{i}", source="hotline", source_id=str(i), kind="garbage",
                       category="c.sanitarnoe_sostoyanie", lat=offset_meters(*base, rng.uniform(0, 400))[0],
                       lon=base[1], observed_at=start + i * 600.0, ingested_at=start, district="tsentralnyy",
                       confidence=0.9) for i in range(300)]
    obs += obs[:20]  # redelivered: each must get its first answer
    sites: list[CaseSite] = []
    assigned: dict[str, Match] = {}
    want = [find_or_create(sites, assigned, o.observation_id, o.lat, o.lon, o.observed_at,
                           kind.radius_m, kind.window_h * 3600.0) for o in obs]

    async def run() -> list[Match]:
        # A database of its own: these cases are not in the log, so they are not the workers' views.
        client = aioredis.Redis.from_url(stack.embedded.redis_url.rsplit("/", 1)[0] + "/15")
        try:
            return await find_or_create_batch(client, city, obs)
        finally:
            await client.aclose()

    got = asyncio.run(run())
    assert [(m.outcome, m.opened) for m in got] == [(m.outcome, m.opened) for m in want]
    assert len({m.case_id for m in got}) == len({m.case_id for m in want}) > 1


def test_sla_timer_reminds_and_escalates_a_case_past_its_deadline(stack: Stack) -> None:
    o = observation(1, *offset_meters(*NEVSKY, 1500), kind="street_vending")  # routed by rule: dispatched at once
    since = {t: stack.offsets(t) for t in ("case-events", "alerts")}
    stack.send("observations", o.observation_id, encode(o))
    (opened,) = stack.read_json("case-events", lambda d: obs_id_of(d) == o.observation_id, 1,
                                since=since["case-events"])
    case_id = opened["case_id"]
    doc = stack.case_doc(case_id, lambda d: d["status"] == "dispatched" and d["sla_deadline"] > time.time())
    # The clock moves on: the deadline the console and the timer read is now a few seconds ago.
    doc["sla_deadline"] = time.time() - 5
    stack.redis.set(keys.case_doc(case_id), json.dumps(doc))
    stack.redis.zadd(keys.SLA_DEADLINES, {case_id: doc["sla_deadline"]})
    events = stack.read_json("case-events", lambda d: d["case_id"] == case_id
                             and d["type"] in ("reminder", "escalated"), 2, since=since["case-events"], timeout_s=60)
    assert sorted(e["type"] for e in events) == ["escalated", "reminder"]
    (alert,) = stack.read_json("alerts", lambda d: d["case_id"] == case_id and d["type"] == "escalated", 1,
                               since=since["alerts"])
    assert alert["severity"] == "critical"
