"""The console API over HTTP on a real Redis: filters, case detail, evidence, boards, crew actions, RBAC."""

from __future__ import annotations

import base64
import json

from schemas.records import FieldUpdate
from streams import redis_keys as keys
from tests.unit.streams.web.harness import DEPT_A, DEPT_B, TOKENS, WebHarness, api, make_case, web

__all__ = ["api", "web"]  # fixtures used by this module

JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 32 + b"\xff\xd9"


def seed(api: WebHarness) -> None:
    api.put_case(make_case("C-a1", DEPT_A, updated_at=1_700_000_300.0, sources={"camera": 1},
                           observations=[{"observation_id": "camera:cam-1:f9", "source": "camera"}]))
    api.put_case(make_case("C-a2", DEPT_A, status="in_progress", district="tsentralnyy", updated_at=1_700_000_200.0))
    api.put_case(make_case("C-b1", DEPT_B, kind="street_vending", category="c.torg", updated_at=1_700_000_100.0))
    api.put_case(make_case("C-t1", "", status="triage", route_confidence=0.21, updated_at=1_700_000_050.0))

    async def more() -> None:
        await api.redis.set(keys.observation_case("camera:cam-1:f9"), "C-a1|1")
        await api.redis.set(keys.evidence("camera:cam-1:f9"), JPEG)
        await api.redis.set(keys.observation_case("camera:cam-2:f1"), "C-b1|1")
        await api.redis.set(keys.evidence("camera:cam-2:f1"), JPEG)
        for dept, task_id, case_id in [(DEPT_A, "C-a1/1", "C-a1"), (DEPT_B, "C-b1/1", "C-b1")]:
            task = {"task_id": task_id, "case_id": case_id, "department": dept, "status": "open",
                    "created_at": 1_700_000_000.0, "kind": "garbage", "priority": "normal"}
            await api.redis.hset(keys.tasks_of(dept), task_id, json.dumps(task))

    api.run(more())


def ids(reply_body: dict) -> list[str]:
    return [c["case_id"] for c in reply_body["cases"]]


def test_operator_sees_every_case_newest_first_and_filters_work(api: WebHarness) -> None:
    seed(api)
    assert ids(api.call("GET", "/api/cases", who="operator").body) == ["C-a1", "C-a2", "C-b1", "C-t1"]
    assert ids(api.call("GET", "/api/cases?status=triage,in_progress", who="operator").body) == ["C-a2", "C-t1"]
    assert ids(api.call("GET", "/api/cases?district=tsentralnyy", who="operator").body) == ["C-a2"]
    assert ids(api.call("GET", "/api/cases?kind=street_vending", who="operator").body) == ["C-b1"]
    assert ids(api.call("GET", "/api/cases?category=c.torg", who="operator").body) == ["C-b1"]
    assert ids(api.call("GET", f"/api/cases?department={DEPT_B}", who="operator").body) == ["C-b1"]
    assert ids(api.call("GET", "/api/cases?source=camera", who="operator").body) == ["C-a1"]
    listed = api.call("GET", "/api/cases?limit=1", who="operator").body
    assert ids(listed) == ["C-a1"] and listed["truncated"] is True
    assert "observations" not in listed["cases"][0] and listed["cases"][0]["sources"] == ["camera"]


def test_a_department_cannot_read_another_departments_cases(api: WebHarness) -> None:
    seed(api)
    assert ids(api.call("GET", "/api/cases", who="dept_a").body) == ["C-a1", "C-a2"]
    assert ids(api.call("GET", f"/api/cases?department={DEPT_B}", who="dept_a").body) == []
    assert ids(api.call("GET", "/api/cases", who="crew_a").body) == ["C-a1", "C-a2"]
    own = api.call("GET", "/api/cases/C-a1", who="dept_a")
    assert own.status == 200 and own.body["observations"][0]["observation_id"] == "camera:cam-1:f9"
    other = api.call("GET", "/api/cases/C-b1", who="dept_a")
    assert other.status == 404 and other.body == {"error": "no case C-b1"}  # existence does not leak
    assert api.call("GET", "/api/cases/C-b1", who="crew_a").status == 404
    assert api.call("GET", "/api/cases/C-b1", who="dept_b").status == 200
    assert api.call("GET", "/api/cases/C-t1", who="dept_a").status == 404  # triage is the centre's


def test_evidence_is_served_to_whoever_may_read_its_case(api: WebHarness) -> None:
    seed(api)
    reply = api.call("GET", "/api/evidence/camera:cam-1:f9", who="crew_a")
    assert reply.status == 200 and reply.body == JPEG and reply.headers["Content-Type"] == "image/jpeg"
    assert api.call("GET", "/api/evidence/camera:cam-2:f1", who="crew_a").status == 404
    assert api.call("GET", "/api/evidence/camera:cam-2:f1", who="operator").status == 200
    assert api.call("GET", "/api/evidence/camera:nope", who="operator").status == 404


def test_a_department_cannot_read_another_departments_tasks(api: WebHarness) -> None:
    seed(api)
    own = api.call("GET", "/api/tasks", who="dept_a")
    assert own.status == 200 and own.body["department"] == DEPT_A
    assert [t["task_id"] for t in own.body["tasks"]] == ["C-a1/1"]
    other = api.call("GET", f"/api/tasks?department={DEPT_B}", who="dept_a")
    assert other.status == 403
    assert api.call("GET", f"/api/tasks?department={DEPT_B}", who="crew_a").status == 403
    assert [t["task_id"] for t in api.call("GET", f"/api/tasks?department={DEPT_B}", who="operator").body["tasks"]] == [
        "C-b1/1"
    ]
    assert api.call("GET", "/api/tasks", who="operator").status == 400
    assert api.call("GET", "/api/tasks?department=nope", who="admin").status == 404


def test_triage_queue_is_for_the_management_centre(api: WebHarness) -> None:
    seed(api)
    reply = api.call("GET", "/api/triage", who="operator")
    assert ids(reply.body) == ["C-t1"] and reply.body["cases"][0]["route_confidence"] == 0.21
    assert api.call("GET", "/api/triage", who="dept_a").status == 403


def test_a_crew_resolves_its_task_with_a_note_and_photo(api: WebHarness) -> None:
    seed(api)
    photo = base64.b64encode(JPEG).decode()
    reply = api.call("POST", "/api/tasks/C-a1/1/resolve", who="crew_a", json={"note": "Cleared", "photo_b64": photo})
    assert reply.status == 202 and reply.body["status"] == "resolved" and reply.body["action"] == "resolve"
    (topic, key, update), = api.produced
    assert topic == "field-updates" and key == "C-a1" and isinstance(update, FieldUpdate)
    assert (update.action, update.task_id, update.department, update.crew_id) == ("resolve", "C-a1/1", DEPT_A, "crew-7")
    assert update.note == "Cleared" and update.photo_b64 == photo
    (entry,) = api.audited
    assert entry["actor"] == f"field_crew:crew_a@{DEPT_A}" and entry["action"] == "task.resolve"
    assert entry["target"] == "C-a1/1" and entry["detail"]["update_id"] == update.update_id
    recent = api.run(api.redis.lrange("cityops:audit:recent", 0, -1))
    assert json.loads(recent[0])["audit_id"] == entry["audit_id"]


def test_crew_actions_are_refused_outside_their_board_and_state(api: WebHarness) -> None:
    seed(api)
    assert api.call("POST", "/api/tasks/C-b1/1/ack", who="crew_a").status == 404
    assert api.call("POST", "/api/tasks/C-a1/1/ack", who="operator").status == 403
    assert api.call("POST", "/api/tasks/C-a1/1/reject", who="crew_a", json={}).status == 400
    bad_dept = api.call("POST", "/api/tasks/C-a1/1/reject", who="crew_a", json={"suggested_department": "x"})
    assert bad_dept.status == 400 and "not a department" in bad_dept.body["error"]
    not_jpeg = base64.b64encode(b"GIF89a").decode()
    assert api.call("POST", "/api/tasks/C-a1/1/resolve", who="crew_a", json={"photo_b64": not_jpeg}).status == 400
    assert api.call("POST", "/api/tasks/C-a1/1/explode", who="crew_a").status in (404, 405)
    api.run(api.redis.hset(keys.tasks_of(DEPT_A), "C-a1/1", json.dumps(
        {"task_id": "C-a1/1", "case_id": "C-a1", "department": DEPT_A, "status": "resolved"})))
    conflict = api.call("POST", "/api/tasks/C-a1/1/start", who="crew_a")
    assert conflict.status == 409 and "resolved" in conflict.body["error"]
    assert api.produced == []
    refused = [(e["action"], e["detail"]["status"], e["target"]) for e in api.audited]
    assert refused == [("request.refused", 404, "POST /api/tasks/C-b1/1/ack"),
                       ("request.refused", 403, "POST /api/tasks/C-a1/1/ack")]  # 400s and 409s are not probing
    rejected = api.call("POST", "/api/tasks/C-b1/1/reject", who="admin",
                        json={"suggested_department": DEPT_A, "note": "their street"})
    assert rejected.status == 202 and api.produced[0][2].suggested_department == DEPT_A


def test_recent_alerts_are_filtered_by_department(api: WebHarness) -> None:
    alerts = [{"alert_id": f"alert:{i}", "case_id": f"C-{i}", "department": d, "severity": "info"}
              for i, d in enumerate([DEPT_A, DEPT_B, DEPT_A])]
    api.put_alerts(alerts)
    assert [a["alert_id"] for a in api.call("GET", "/api/alerts/recent", who="dept_a").body["alerts"]] == [
        "alert:2", "alert:0"]
    assert len(api.call("GET", "/api/alerts/recent?limit=2", who="operator").body["alerts"]) == 2


def test_a_departments_alert_history_is_its_own_not_a_window_of_the_citys(api: WebHarness) -> None:
    own = [{"alert_id": f"own:{i}", "case_id": f"C-{i}", "department": DEPT_A, "severity": "info"} for i in range(25)]
    others = [{"alert_id": f"other:{i}", "case_id": f"O-{i}", "department": DEPT_B, "severity": "info"}
              for i in range(190)]
    api.put_alerts(own[:12] + others + own[12:])  # the city's latest 200 hold only 13 of the 25
    city = api.call("GET", "/api/alerts/recent?limit=200", who="operator").body["alerts"]
    assert len(city) == 200 and sum(a["department"] == DEPT_A for a in city) == 13
    mine = api.call("GET", "/api/alerts/recent?limit=200", who="dept_a").body["alerts"]
    assert [a["alert_id"] for a in mine] == [f"own:{i}" for i in reversed(range(25))]


def test_meta_describes_the_city_for_the_console(api: WebHarness) -> None:
    meta = api.call("GET", "/api/meta", who="dept_a").body
    assert meta["city"]["id"] == "spb" and len(meta["districts"]) == 18
    assert all(d["polygon"] for d in meta["districts"])
    assert [d["id"] for d in meta["departments"]] == [DEPT_A]  # a department is offered only itself
    assert len(api.call("GET", "/api/meta", who="operator").body["departments"]) > 50
    assert meta["me"]["role"] == "department" and "triage" in meta["statuses"]
    assert meta["labels"]["r.skoplenie_musora"] == "Скопление мусора"  # every taxonomy node has its label


def test_audit_trail_is_for_admins(api: WebHarness) -> None:
    assert api.call("GET", "/api/audit/recent", who="operator").status == 403
    entries = api.call("GET", "/api/audit/recent", who="admin").body["entries"]
    # The operator's attempt is in the trail the admin reads.
    assert [(e["actor"], e["action"], e["detail"]["status"]) for e in entries] == [
        ("operator:operator", "request.refused", 403)]


def test_console_signs_in_with_a_cookie_and_out_again(api: WebHarness) -> None:
    refused = api.call("POST", "/api/session", json={"token": "wrong"})
    assert refused.status == 401 and api.audited[-1]["outcome"] == "refused"
    reply = api.call("POST", "/api/session", json={"token": TOKENS["operator"][0]})
    assert reply.status == 200 and reply.body["role"] == "operator"
    cookie = reply.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "cityops_session=" in cookie
    assert api.audited[-1]["action"] == "session.open" and api.audited[-1]["actor"] == "operator:operator"
    assert api.call("GET", "/api/session").status == 200  # the test client keeps the cookie
    api.call("DELETE", "/api/session")
    api.client.session.cookie_jar.clear()
    assert api.call("GET", "/api/session").status == 401


def test_operator_assigns_a_triaged_case_and_departments_cannot(api: WebHarness) -> None:
    seed(api)
    reply = api.call("POST", "/api/cases/C-t1/assign", who="operator", json={"department": DEPT_B})
    assert reply.status == 202 and reply.body["department"] == DEPT_B
    (topic, key, command), = api.produced
    assert topic == "case-commands" and key == "C-t1"
    assert (command.type, command.department, command.route_source) == ("assign", DEPT_B, "operator")
    assert api.audited[0]["action"] == "case.assign"
    assert api.call("POST", "/api/cases/C-t1/assign", who="dept_a", json={"department": DEPT_A}).status == 403
    assert api.call("POST", "/api/cases/C-t1/assign", who="operator", json={"department": "org.nope"}).status == 400
    assert api.call("POST", "/api/cases/C-none/assign", who="operator", json={"department": DEPT_B}).status == 404


def test_protected_api_needs_a_token(api: WebHarness) -> None:
    reply = api.call("GET", "/api/cases")
    assert reply.status == 401
    assert "Bearer" in reply.headers["WWW-Authenticate"]
    assert api.call("GET", "/api/cases", headers={"Authorization": "Bearer not-a-token"}).status == 401


def test_whoami_names_role_and_department(api: WebHarness) -> None:
    reply = api.call("GET", "/api/session", who="crew_a")
    assert reply.status == 200
    assert reply.body == {"name": "crew_a", "role": "field_crew", "department": DEPT_A, "crew_id": "crew-7"}
