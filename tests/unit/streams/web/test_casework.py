"""Case work over HTTP on a real Redis: task cards and triage suggestions, crews' photos, camera review
(a dismissal closes the case through a ``review`` command and keeps a labelled example), the filtered heat
layer and the health report."""

from __future__ import annotations

import base64
import io
import json
import time
import zipfile

from agents.logic.analytics import CaseFacts
from schemas.records import CaseCommand
from streams import redis_keys as keys
from tests.unit.streams.web.harness import DEPT_A, DEPT_B, WebHarness, api, make_case, web

__all__ = ["api", "web"]

JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 32 + b"\xff\xd9"
FRAME = "camera:cam-nevsky-gostiny:f1"


def seed(api: WebHarness) -> None:
    now = time.time()
    api.put_case(make_case("C-cam", "", status="triage", kind="illegal_ads", category="cantilever",
                           district="tsentralnyy", updated_at=now, cameras=["cam-nevsky-gostiny"],
                           sources={"camera": 1}, observations=[
                               {"observation_id": FRAME, "source": "camera", "camera_id": "cam-nevsky-gostiny",
                                "evidence": FRAME, "bbox": "0.2,0.1,0.5,0.4", "observed_at": str(now - 60),
                                "at": now, "confidence": "0.78"}]))
    api.put_case(make_case("C-late", DEPT_A, text="Мусор во дворе", updated_at=now - 10, sla_deadline=now - 5,
                           observations=[{"observation_id": "hotline:1", "address": "ул. Ленина, 1"}],
                           timeline=[{"type": "resolved", "detail": {"command_id": "field:u1"}}]))
    api.put_case(make_case("C-soon", DEPT_A, text="Сломана скамейка", updated_at=now - 20, sla_deadline=now + 600))
    api.put_case(make_case("C-tri", "", status="triage", text="Не вывозят мусор, контейнеры переполнены",
                           updated_at=now - 30))

    async def more() -> None:
        await api.redis.set(keys.observation_case(FRAME), "C-cam|1")
        await api.redis.set(keys.evidence(FRAME), JPEG)
        for case_id, deadline in (("C-soon", now + 600), ("C-late", now - 5)):
            task = {"task_id": f"{case_id}/1", "case_id": case_id, "department": DEPT_A, "status": "open",
                    "created_at": now, "kind": "garbage", "priority": "normal", "sla_deadline": deadline}
            await api.redis.hset(keys.tasks_of(DEPT_A), task["task_id"], json.dumps(task))
        for update_id in ("u1", "u2"):  # u2: an update the case stage refused (not on the case's timeline)
            await api.redis.set(keys.field_photo(update_id), JPEG)
            await api.redis.hset(keys.case_photos("C-late"), update_id, json.dumps(
                {"update_id": update_id, "action": "resolve", "at": now, "crew_id": "crew-7", "note": "done"}))

    api.run(more())


def test_task_items_carry_summary_and_address_overdue_first(api: WebHarness) -> None:
    seed(api)
    tasks = api.call("GET", "/api/tasks", who="crew_a").body["tasks"]
    assert [t["task_id"] for t in tasks] == ["C-late/1", "C-soon/1"]
    assert tasks[0]["overdue"] and tasks[0]["summary"] == "Мусор во дворе" and tasks[0]["address"] == "ул. Ленина, 1"
    assert not tasks[1]["overdue"] and tasks[1]["address"].startswith("Невский")


def test_triage_items_carry_the_models_suggestions(api: WebHarness) -> None:
    seed(api)
    cases = {c["case_id"]: c for c in api.call("GET", "/api/triage", who="operator").body["cases"]}
    picks = cases["C-tri"]["suggestions"]
    assert len(picks) >= 2 and {"department", "name", "confidence"} <= set(picks[0])
    assert [p["confidence"] for p in picks] == sorted((p["confidence"] for p in picks), reverse=True)
    assert cases["C-tri"]["text"].startswith("Не вывозят") and cases["C-cam"]["photo"] == FRAME
    assert cases["C-cam"]["category_label"] == "Незаконная реклама / illegal advertising"
    detail = api.call("GET", "/api/cases/C-tri", who="operator").body
    assert [p["department"] for p in detail["suggestions"]] == [p["department"] for p in picks]
    assert "suggestions" not in api.call("GET", "/api/cases/C-late", who="operator").body  # already routed


def test_case_detail_shows_the_crews_photo_to_whoever_may_read_the_case(api: WebHarness) -> None:
    seed(api)
    doc = api.call("GET", "/api/cases/C-late", who="dept_a").body
    assert [p["update_id"] for p in doc["field_photos"]] == ["u1"] and doc["address"] == "ул. Ленина, 1"
    photo = api.call("GET", "/api/cases/C-late/photos/u1", who="dept_a")
    assert photo.status == 200 and photo.body == JPEG and photo.headers["Content-Type"] == "image/jpeg"
    assert api.call("GET", "/api/cases/C-late/photos/u1", who="dept_b").status == 404
    assert api.call("GET", "/api/cases/C-soon/photos/u1", who="dept_a").status == 404  # not that case's photo


def test_dismissing_a_false_positive_closes_the_case_and_keeps_a_labelled_example(api: WebHarness) -> None:
    seed(api)
    assert api.call("POST", "/api/cases/C-cam/review", who="dept_a", json={"verdict": "false_positive"}).status == 403
    assert api.call("POST", "/api/cases/C-cam/review", who="operator", json={"verdict": "meh"}).status == 400
    assert api.call("POST", "/api/cases/C-late/review", who="operator", json={"verdict": "confirmed"}).status == 409
    queue = api.call("GET", "/api/review/queue", who="operator").body["cases"]
    assert [c["case_id"] for c in queue] == ["C-cam"] and queue[0]["bbox"] == [0.2, 0.1, 0.5, 0.4]
    assert queue[0]["camera_id"] == "cam-nevsky-gostiny"
    reply = api.call("POST", "/api/cases/C-cam/review", who="operator", json={"verdict": "false_positive"})
    assert reply.status == 202
    ((topic, key, command),) = api.produced
    assert topic == "case-commands" and key == "C-cam" and isinstance(command, CaseCommand)
    assert command.type == "review" and command.verdict == "false_positive" and command.by.startswith("operator")
    (example,) = api.call("GET", "/api/review/examples", who="operator").body["examples"]
    assert example["observation_id"] == FRAME and example["bbox"] == [0.2, 0.1, 0.5, 0.4] and example["frame_kept"]
    assert api.run(api.redis.get(keys.review_frame(FRAME))) == JPEG
    assert api.call("GET", "/api/review/queue", who="operator").body["cases"] == []
    assert api.call("GET", "/api/cases/C-cam", who="operator").body["review"]["verdict"] == "false_positive"
    export = api.call("GET", "/api/review/examples.zip", who="operator")
    with zipfile.ZipFile(io.BytesIO(export.body)) as z:
        stem = FRAME.replace(":", "_")
        assert z.read(f"images/{stem}.jpg") == JPEG and z.read(f"labels/{stem}.txt") == b""  # a hard negative


def test_a_confirmed_detection_exports_as_a_yolo_box(api: WebHarness) -> None:
    seed(api)
    assert api.call("POST", "/api/cases/C-cam/review", who="operator", json={"verdict": "confirmed"}).status == 202
    with zipfile.ZipFile(io.BytesIO(api.call("GET", "/api/review/examples.zip", who="operator").body)) as z:
        assert z.read("classes.txt") == b"cantilever\n"
        assert z.read(f"labels/{FRAME.replace(':', '_')}.txt") == b"0 0.350000 0.250000 0.300000 0.300000\n"


def test_the_heat_layer_counts_only_the_filtered_cases(api: WebHarness) -> None:
    facts = [CaseFacts(case_id=f"H{i}", status=status, kind="garbage", category="garbage_bag", district="nevskiy",
                       department=DEPT_A if i else DEPT_B, cell=cell, sources=["camera" if i == 3 else "hotline"],
                       updated_at=time.time())
             for i, (status, cell) in enumerate([("triage", "881f1d4ab3fffff"), ("dispatched", "881f1d4ab3fffff"),
                                                  ("triage", "881f1d4a93fffff"), ("closed", "881f1d4a93fffff")])]

    async def put() -> None:
        for f in facts:
            await api.redis.hset(keys.ANALYTICS_FACTS, f.case_id, json.dumps(f.to_json()))

    api.run(put())
    everything = api.call("GET", "/api/map/heat", who="operator").body["cells"]
    assert {c["cell"]: c["cases"] for c in everything} == {"881f1d4ab3fffff": 2, "881f1d4a93fffff": 2}
    triage = api.call("GET", "/api/map/heat?status=triage", who="operator").body["cells"]
    assert {c["cell"]: c["cases"] for c in triage} == {"881f1d4ab3fffff": 1, "881f1d4a93fffff": 1}
    cameras = api.call("GET", "/api/map/heat?source=camera", who="operator").body["cells"]
    assert [(c["cell"], c["cases"]) for c in cameras] == [("881f1d4a93fffff", 1)]
    assert sum(c["cases"] for c in api.call("GET", "/api/map/heat", who="dept_b").body["cells"]) == 1
    assert len(everything[0]["boundary"]) == 6


def test_a_districts_health_report_has_rates_trend_and_hot_spots(api: WebHarness) -> None:
    now = time.time()
    facts = [CaseFacts(case_id=f"F{i}", status="closed" if i % 2 else "dispatched", category="garbage_bag",
                       district="nevskiy", department=DEPT_B, cell="881f1d4ab3fffff", opened_at=now - i * 86400,
                       first_observed_at=now - i * 86400, sla_deadline=now - i * 86400 + 7200,
                       resolved_at=now - i * 86400 + 3600 if i % 2 else 0.0) for i in range(1, 7)]

    async def put() -> None:
        for f in facts:
            await api.redis.hset(keys.ANALYTICS_FACTS, f.case_id, json.dumps(f.to_json()))

    api.run(put())
    report = api.call("GET", "/api/health/district/nevskiy?days=30", who="operator").body
    assert report["name"] == "Невский" and report["summary"]["volume"] == 6
    assert report["summary"]["resolution_rate"] == 0.5 and report["summary"]["on_time_rate"] == 0.5
    assert report["summary"]["top_problems"][0]["label"] == "Мусор / exposed garbage"
    assert sum(w["opened"] for w in report["trend"]) == 6 and report["hot_spots"][0]["cases"] == 6
    assert api.call("GET", "/api/health/district/nowhere", who="operator").status == 404
    assert api.call("GET", f"/api/health/department/{DEPT_A}", who="dept_a").body["summary"]["volume"] == 0
    assert api.call("GET", "/api/health/district/nevskiy", who="crew_a").status == 403


def test_a_crews_resolve_photo_is_kept_for_its_case(api: WebHarness) -> None:
    seed(api)
    photo = base64.b64encode(JPEG).decode()
    reply = api.call("POST", "/api/tasks/C-soon/1/resolve", who="crew_a", json={"note": "Fixed", "photo_b64": photo})
    assert reply.status == 202
    update_id = reply.body["update_id"]
    assert api.run(api.redis.get(keys.field_photo(update_id))) == JPEG
    kept = json.loads(api.run(api.redis.hget(keys.case_photos("C-soon"), update_id)))
    assert kept["action"] == "resolve" and kept["crew_id"] == "crew-7" and kept["note"] == "Fixed"
    assert api.call("GET", f"/api/cases/C-soon/photos/{update_id}", who="dept_a").body == JPEG


def test_an_expired_frame_is_no_photo_rather_than_a_broken_one(api: WebHarness) -> None:
    seed(api)
    gone = "camera:cam-sennaya:old"
    api.put_case(make_case("C-old", DEPT_A, status="dispatched", kind="garbage", updated_at=time.time(),
                           sources={"camera": 1}, observations=[
                               {"observation_id": gone, "source": "camera", "camera_id": "cam-sennaya",
                                "evidence": gone, "at": time.time()}]))
    api.run(api.redis.hset(keys.tasks_of(DEPT_A), "C-old/1", json.dumps(
        {"task_id": "C-old/1", "case_id": "C-old", "department": DEPT_A, "status": "open", "created_at": 1.0})))
    cards = {t["task_id"]: t for t in api.call("GET", "/api/tasks", who="dept_a").body["tasks"]}
    assert cards["C-old/1"]["photo"] == ""
    (report,) = api.call("GET", "/api/cases/C-old", who="dept_a").body["observations"]
    assert report["evidence_kept"] is False
    assert api.call("GET", "/api/cases/C-cam", who="operator").body["observations"][0]["evidence_kept"] is True
    queue = [c["case_id"] for c in api.call("GET", "/api/review/queue", who="operator").body["cases"]]
    assert queue == ["C-cam"]  # nothing left to judge on C-old
