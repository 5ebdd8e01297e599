"""Refused requests are audited, so an admin sees probing; a flood of them cannot flood the trail."""

from __future__ import annotations

from typing import Any

import pytest

import streams.web.audit as audit_module
import streams.web.auth as auth_module
from streams.web.metrics import AUDIT_EVENTS
from streams.web.ratelimit import RateLimit, TokenBucketLimiter
from tests.unit.streams.web.harness import DEPT_A, WebHarness, api, make_case, web

__all__ = ["api", "web"]


def refusals(api: WebHarness) -> list[tuple[str, str, int, str]]:
    return [(e["actor"], e["target"], e["detail"]["status"], e["detail"]["presented"])
            for e in api.audited if e["action"] == "request.refused"]


def test_401_403_and_404_on_protected_things_are_audited(api: WebHarness) -> None:
    api.put_case(make_case("C-a1", DEPT_A))
    api.call("GET", "/api/cases")
    api.call("GET", "/api/cases", headers={"Authorization": "Bearer guessed"})
    api.call("GET", "/api/triage", who="crew_a")
    api.call("GET", "/api/cases/C-a1", who="dept_b")  # another department's case reads as not found
    assert refusals(api) == [
        ("anonymous", "GET /api/cases", 401, "none"),
        ("anonymous", "GET /api/cases", 401, "bearer"),
        (f"field_crew:crew_a@{DEPT_A}", "GET /api/triage", 403, "bearer"),
        ("department:dept_b@org.spb_gku_zha_tsentralnogo_rayona", "GET /api/cases/C-a1", 404, "bearer"),
    ]
    assert api.audited[1]["detail"]["reason"] == "unknown or revoked token"
    assert all(e["outcome"] == "refused" and e["client"] == "127.0.0.1" for e in api.audited)


def test_public_not_found_and_other_errors_are_not_probing(api: WebHarness) -> None:
    assert api.call("GET", "/open311/v2/requests/nope.json").status == 404
    assert api.call("GET", "/no/such/page").status == 404
    assert api.call("GET", "/api/cases?limit=x", who="operator").status == 400
    assert refusals(api) == []


def test_429_is_audited(api: WebHarness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth_module, "_sign_ins", TokenBucketLimiter(RateLimit(1, 60)))
    api.call("POST", "/api/session", json={"token": "wrong"})
    assert api.call("POST", "/api/session", json={"token": "wrong"}).status == 429
    assert [e["action"] for e in api.audited] == ["session.open", "request.refused"]  # each refusal once
    assert refusals(api) == [("anonymous", "POST /api/session", 429, "none")]


def test_refusals_are_audited_at_a_limited_rate(api: WebHarness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(audit_module, "_refusals_per_client", TokenBucketLimiter(RateLimit(3, 60)))
    suppressed = AUDIT_EVENTS.labels("request.refused", "suppressed")
    before = suppressed._value.get()
    for _ in range(5):
        assert api.call("GET", "/api/cases").status == 401
    assert len(refusals(api)) == 3
    assert suppressed._value.get() - before == 2


def test_a_refusal_is_answered_even_when_its_audit_fails(api: WebHarness, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: Any) -> Any:
        raise ConnectionError("broker down")

    monkeypatch.setattr(audit_module, "topic", broken)
    assert api.call("GET", "/api/cases").status == 401
