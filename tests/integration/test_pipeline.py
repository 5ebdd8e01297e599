"""A complaint end to end through the real broker, Redis and worker; bad inputs go to the dead-letter topic."""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from typing import Any

from schemas.codec import encode
from schemas.records import HotlineEvent
from streams.client import fetch_metrics
from streams.replay import SPB_FILE, load_events

from .conftest import Stack, obs_id_of


def complaint(text: str = "Во дворе дома 5 на Невском проспекте третью неделю не вывозят мусор, контейнеры "
              "переполнены, мешки лежат на земле.", **kw: Any) -> HotlineEvent:
    fields: dict[str, Any] = {"schema_version": 2, "event_id": f"it-{uuid.uuid4().hex[:10]}", "channel": "phone",
                              "received_at": time.time(), "text": text, "lat": 59.9311, "lon": 30.3609}
    fields.update(kw)
    return HotlineEvent(**fields)


def test_complaint_becomes_observation_case_task_and_alert(stack: Stack) -> None:
    since = {t: stack.offsets(t) for t in ("observations", "case-events", "dispatch-tasks", "alerts")}
    event = complaint()
    stack.send("hotline-events", event.event_id, encode(event))
    obs_id = f"hotline:{event.event_id}"

    (obs,) = stack.read_json("observations", lambda d: d["observation_id"] == obs_id, 1, since=since["observations"])
    assert obs["source"] == "hotline" and obs["language"] == "ru" and 0 <= obs["confidence"] <= 1
    assert obs["lat"] == 59.9311 and obs["location_precision"] == "exact" and obs["district"]
    assert obs["route_source"] in ("rule", "model", "triage") and obs["department"]  # routed at intake

    (opened,) = stack.read_json("case-events", lambda d: obs_id_of(d) == obs_id, 1,
                                since=since["case-events"])
    case_id = opened["case_id"]
    assert opened["type"] in ("opened", "merged")
    (decision,) = stack.read_json("case-events", lambda d: d["case_id"] == case_id
                                  and d["type"] in ("dispatched", "triaged"), 1, since=since["case-events"])
    if opened["type"] == "opened":  # the case it opened keeps the intake stage's route
        assert decision["department"] == obs["department"]
        assert decision["type"] == ("triaged" if obs["route_source"] == "triage" else "dispatched")
    if decision["type"] == "dispatched":
        (task,) = stack.read_json("dispatch-tasks", lambda d: d["case_id"] == case_id, 1,
                                  since=since["dispatch-tasks"])
        assert task["department"] == decision["department"] and task["department"].startswith("org.")
        assert task["task_id"] == f"{case_id}/1"
    alerts = stack.read_json("alerts", lambda d: d["case_id"] == case_id and d["type"] in ("dispatched", "triaged"),
                             1, since=since["alerts"])
    assert alerts[0]["severity"] in ("info", "warning")
    doc = stack.case_doc(case_id, lambda d: d["status"] in ("dispatched", "triage"))
    assert doc["reports"] >= 1 and doc["timeline"][-1]["type"] == decision["type"]


def test_a_repeated_petition_is_marked_on_its_observation_and_case(stack: Stack) -> None:
    since = {t: stack.offsets(t) for t in ("observations", "case-events")}
    event = complaint("Повторно: в парадной не убирают, грязь на лестнице.", petition=2, lat=59.865, lon=30.321)
    stack.send("hotline-events", event.event_id, encode(event))
    obs_id = f"hotline:{event.event_id}"
    (obs,) = stack.read_json("observations", lambda d: d["observation_id"] == obs_id, 1, since=since["observations"])
    assert obs["petition"] == 2 and obs["department"]
    (case_event,) = stack.read_json("case-events", lambda d: obs_id_of(d) == obs_id, 1,
                                    since=since["case-events"])
    assert case_event["report"]["petition"] == 2  # a later re-routing of the case reads it again


def test_real_appeals_are_classified_and_dispatched(stack: Stack) -> None:
    events = load_events(SPB_FILE, 60, latest=True)
    run = uuid.uuid4().hex[:6]
    events = [HotlineEvent(**{**e.asdict(), "event_id": f"{run}-{e.event_id}"}) for e in events]
    since = stack.offsets("case-events")
    stack.send_many("hotline-events", [(e.event_id, encode(e)) for e in events])
    wanted = {f"hotline:{e.event_id}" for e in events}
    attached = stack.read_json("case-events", lambda d: obs_id_of(d) in wanted, len(events),
                               since=since, timeout_s=90)
    assert {obs_id_of(d) for d in attached} == wanted  # every complaint is in a case
    metrics = fetch_metrics(stack.web_url)
    assert metrics["cityops_hotline_to_dispatch_seconds_count"] > 0  # the latency histogram has real counts


def test_bad_inputs_are_dead_lettered_and_the_worker_keeps_going(stack: Stack) -> None:
    good = complaint()
    base = json.loads(encode(complaint()))
    bad: dict[str, bytes] = {
        "malformed": b'{"schema_version": 1, "event_id": ',
        "missing": json.dumps({"schema_version": 1, "event_id": "x1", "channel": "phone"}).encode(),
        "wrong-type": json.dumps(base | {"event_id": "x2", "received_at": "yesterday"}).encode(),
        "empty-text": json.dumps(base | {"event_id": "x3", "text": "   "}).encode(),
        "huge": json.dumps(base | {"event_id": "x4", "text": "garbage " * 700_000}).encode(),
        "lat-range": json.dumps(base | {"event_id": "x5", "lat": 123.4}).encode(),
        "version": json.dumps(base | {"event_id": "x6", "schema_version": 99}).encode(),
        "half-coords": json.dumps(base | {"event_id": "x7", "lon": None}).encode(),
    }
    assert len(bad["huge"]) > 5_000_000
    since = stack.offsets("deadletter")
    obs_since = stack.offsets("observations")
    stack.send_many("hotline-events", [(k, v) for k, v in bad.items()] + [(good.event_id, encode(good))])
    letters = stack.read_json("deadletter", lambda d: d["stage"] == "hotline", len(bad), since=since, timeout_s=60)
    by_key = {base64.b64decode(d["key_b64"]).decode(): d for d in letters}
    assert set(by_key) == set(bad)
    for key, raw in bad.items():
        kept = base64.b64decode(by_key[key]["value_b64"])
        assert raw.startswith(kept) and by_key[key]["value_size"] == len(raw)  # original bytes kept
        assert by_key[key]["value_sha256"] == hashlib.sha256(raw).hexdigest()
        assert by_key[key]["truncated"] == (len(raw) > len(kept))
        assert by_key[key]["topic"] == "hotline-events" and by_key[key]["offset"] >= 0
    assert by_key["malformed"]["error_type"] == "malformed_json"
    assert "required" in by_key["missing"]["reason"] or "must contain" in by_key["missing"]["reason"]
    assert "received_at" in by_key["wrong-type"]["reason"]
    assert "empty" in by_key["empty-text"]["reason"]
    assert by_key["huge"]["error_type"] in ("oversize", "wrong_schema")
    assert "lat" in by_key["lat-range"]["reason"]
    assert by_key["version"]["error_type"] == "unknown_version"
    assert "together" in by_key["half-coords"]["reason"]
    # the good report sent after all of them still goes through
    stack.read_json("observations", lambda d: d["observation_id"] == f"hotline:{good.event_id}", 1, since=obs_since)


def test_text_in_any_script_is_accepted(stack: Stack) -> None:
    texts = ["小区门口垃圾堆积很多天没有人清理，味道很大", "Overflowing garbage bags on the sidewalk 🗑️🗑️",
             "حاوية القمامة ممتلئة منذ أسبوع", "ゴミが回収されていません"]
    events = [complaint(t) for t in texts]
    since = stack.offsets("observations")
    stack.send_many("hotline-events", [(e.event_id, encode(e)) for e in events])
    ids = {f"hotline:{e.event_id}" for e in events}
    got = stack.read_json("observations", lambda d: d["observation_id"] in ids, len(ids), since=since)
    langs = {d["observation_id"]: d["language"] for d in got}
    assert langs[f"hotline:{events[0].event_id}"] == "zh" and langs[f"hotline:{events[1].event_id}"] == "en"


def test_health_readiness_and_metrics(stack: Stack) -> None:
    assert stack.get_json("/healthz")["status"] == "ok"
    ready = stack.get_json("/readyz")
    assert ready["ready"] is True and ready["seconds_since_heartbeat"] < 20
    before = fetch_metrics(stack.web_url).get('cityops_events_in_total{topic="hotline-events"}', 0.0)
    event = complaint()
    since = stack.offsets("observations")
    stack.send("hotline-events", event.event_id, encode(event))
    stack.read_json("observations", lambda d: d["observation_id"] == f"hotline:{event.event_id}", 1, since=since)
    metrics = fetch_metrics(stack.web_url)
    assert metrics['cityops_events_in_total{topic="hotline-events"}'] >= before + 1
    assert metrics['cityops_stage_batch_size_sum{stage="hotline"}'] >= 1
    assert metrics['cityops_stage_batch_seconds_count{stage="hotline"}'] >= 1
    assert metrics["process_cpu_seconds_total"] > 0 and not any(k.startswith("cityops_process_") for k in metrics)
    # lag per consumer group, topic and partition; Faust's assignor topic is not a city topic
    lag = [k for k in metrics if k.startswith("cityops_consumer_lag_records{")]
    assert any('topic="hotline-events"' in k and 'group="' in k and 'partition="' in k for k in lag), lag
    assert len({k.split('group="')[1].split('"')[0] for k in lag}) >= 2, lag  # Faust's group + a batch stage's
    assert not any("__assignor" in k for k in lag)


def test_end_to_end_latencies_are_real_and_positive(stack: Stack) -> None:
    """Every timestamp is seconds: the complaint -> dispatch histograms hold the time it really took."""
    events = load_events(SPB_FILE, 40, latest=True)
    run = uuid.uuid4().hex[:6]
    events = [HotlineEvent(**{**e.asdict(), "event_id": f"lat-{run}-{e.event_id}", "received_at": time.time()})
              for e in events]
    since = stack.offsets("dispatch-tasks")
    stack.send_many("hotline-events", [(e.event_id, encode(e)) for e in events])
    stack.read_json("dispatch-tasks", lambda d: True, 10, since=since, timeout_s=120)
    metrics = fetch_metrics(stack.web_url)
    for name in ("cityops_hotline_to_dispatch_seconds", "cityops_observation_to_task_seconds",
                 "cityops_event_to_alert_seconds"):
        count, total = metrics[f"{name}_count"], metrics[f"{name}_sum"]
        fastest = metrics[f'{name}_bucket{{le="0.005"}}']
        assert count >= 10 and 0.001 < total / count < 60, (name, count, total)
        assert fastest < count, f"{name}: every sample under 5 ms is a unit mistake, not speed"
