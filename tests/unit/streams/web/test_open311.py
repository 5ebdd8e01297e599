"""Open311 GeoReport v2 over HTTP on a real Redis: the spec's example requests and responses."""

from __future__ import annotations

import json

import pytest

from schemas.records import HotlineEvent
from streams import redis_keys as keys
from streams.web import open311
from streams.web.ratelimit import RateLimit, TokenBucketLimiter
from tests.unit.streams.web.harness import DEPT_A, TOKENS, WebHarness, api, make_case, web
from tests.unit.streams.web.test_georeport import CODE, SPEC_POST

__all__ = ["api", "web"]

FORM = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}


def spec_body(api_key: str = "") -> str:
    """The spec's example POST body with this city's jurisdiction, service, coordinates and ``api_key``.

    Submissions are public here, so the example's key is dropped unless one is given.
    """
    return (
        SPEC_POST.replace("api_key=xyz&", f"api_key={api_key}&" if api_key else "")
        .replace("jurisdiction_id=city.gov", "jurisdiction_id=spb")
        .replace("service_code=001", f"service_code={CODE}")
        .replace("lat=37.76524078&long=-122.4212043", "lat=59.93&long=30.36")
    )


@pytest.fixture(autouse=True)
def fresh_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(open311, "_submissions", TokenBucketLimiter(RateLimit(10, 60)))
    monkeypatch.setattr(open311, "_reads", TokenBucketLimiter(RateLimit(120, 60)))


def test_services_list_is_public(api: WebHarness) -> None:
    reply = api.call("GET", "/open311/v2/services.json")
    assert reply.status == 200 and reply.headers["Access-Control-Allow-Origin"] == "*"
    assert any(s["service_code"] == CODE for s in reply.body)
    definition = api.call("GET", f"/open311/v2/services/{CODE}.json").body
    assert definition == {"service_code": CODE, "attributes": []}
    missing = api.call("GET", "/open311/v2/services/001.json")
    assert missing.status == 404 and missing.body == [{"code": 404, "description": "service_code '001' not found"}]


def test_discovery_points_at_the_v2_endpoint(api: WebHarness) -> None:
    body = api.call("GET", "/open311/discovery.json").body
    (endpoint,) = body["endpoints"]
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["url"].endswith("/open311/v2") and endpoint["formats"] == ["application/json"]


def test_spec_example_post_produces_a_hotline_event_and_answers_in_the_spec_shape(api: WebHarness) -> None:
    reply = api.call("POST", "/open311/v2/requests.json", data=spec_body(), headers=FORM)
    assert reply.status == 200, reply.body
    (answer,) = reply.body
    assert set(answer) == {"service_request_id", "service_notice", "account_id"}
    assert answer["account_id"] is None and "24 hours" in answer["service_notice"]
    request_id = answer["service_request_id"]
    (topic, key, event), = api.produced
    assert topic == "hotline-events" and key == request_id and isinstance(event, HotlineEvent)
    assert event.event_id == request_id and event.channel == "open311" and event.service_code == CODE
    assert event.text == "A large sinkhole is destroying the street"
    (entry,) = api.audited
    assert entry["action"] == "open311.request" and entry["target"] == request_id
    assert entry["actor"] == "open311:127.0.0.1"  # anonymous: named by the client address


def test_json_posts_are_accepted_too(api: WebHarness) -> None:
    body = {"service_code": CODE, "lat": 59.95, "long": 30.31, "description": "Мусор у подъезда"}
    reply = api.call("POST", "/open311/v2/requests.json", json=body)
    assert reply.status == 200
    assert api.produced[0][2].text == "Мусор у подъезда" and api.produced[0][2].lat == 59.95


def test_a_known_api_key_names_the_submitter(api: WebHarness) -> None:
    body = spec_body(api_key=TOKENS["operator"][0])
    assert api.call("POST", "/open311/v2/requests.json", data=body, headers=FORM).status == 200
    assert api.audited[0]["actor"] == "operator:operator"
    invalid = api.call("POST", "/open311/v2/requests.json", data=spec_body(api_key="xyz"), headers=FORM)
    assert invalid.status == 403 and invalid.body == [{"code": 403, "description": "Invalid api_key"}]
    assert len(api.produced) == 1


def test_errors_are_in_the_spec_format(api: WebHarness) -> None:
    missing = api.call("POST", "/open311/v2/requests.json", data="lat=59.9&long=30.3", headers=FORM)
    assert missing.status == 400
    assert missing.body == [{"code": 400, "description": "service_code was not provided"}]
    unknown = api.call("POST", "/open311/v2/requests.json", data="service_code=001&lat=59.9&long=30.3", headers=FORM)
    assert unknown.status == 404 and unknown.body[0]["code"] == 404
    bad_json = api.call("POST", "/open311/v2/requests.json", data="{", headers={"Content-Type": "application/json"})
    assert bad_json.status == 400 and "not valid JSON" in bad_json.body[0]["description"]
    xml = api.call("GET", "/open311/v2/services.xml")
    assert xml.status == 400 and xml.body == [{"code": 400, "description": "format not supported: use .json"}]
    assert api.produced == []


def test_submissions_are_rate_limited_per_client(api: WebHarness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(open311, "_submissions", TokenBucketLimiter(RateLimit(2, 60)))
    statuses = [api.call("POST", "/open311/v2/requests.json", data=spec_body(), headers=FORM).status
                for _ in range(3)]
    assert statuses == [200, 200, 429]
    refused = api.call("POST", "/open311/v2/requests.json", data=spec_body(), headers=FORM)
    assert refused.body[0]["code"] == 429 and int(refused.headers["Retry-After"]) >= 1
    assert len(api.produced) == 2


def test_get_requests_follows_the_case_the_request_joined(api: WebHarness) -> None:
    first = api.call("POST", "/open311/v2/requests.json", data=spec_body(), headers=FORM).body[0]
    second = api.call("POST", "/open311/v2/requests.json", data=spec_body(), headers=FORM).body[0]
    rid = first["service_request_id"]
    pending = api.call("GET", f"/open311/v2/requests/{rid}.json")
    assert pending.status == 200
    (view,) = pending.body
    assert view["service_request_id"] == rid and view["status"] == "open" and view["agency_responsible"] is None
    assert view["description"] == "A large sinkhole is destroying the street" and view["service_code"] == CODE

    case = make_case("C-311", DEPT_A, status="resolved", sla_deadline=1_700_090_000.0, updated_at=1_700_080_000.0,
                     timeline=[{"type": "resolved", "detail": {"note": "Cleaned up"}}])
    api.put_case(case)
    api.run(api.redis.set(keys.observation_case(f"hotline:{rid}"), "C-311|1"))
    (view,) = api.call("GET", f"/open311/v2/requests/{rid}.json").body
    assert view["status"] == "closed" and view["status_notes"] == "Cleaned up"
    assert view["agency_responsible"] and view["expected_datetime"].startswith("2023-11-")
    stored = json.loads(api.run(api.redis.get(f"cityops:open311:request:{rid}")))
    assert stored["case_id"] == "C-311"  # remembered after the observation's mapping expires

    both = api.call("GET", f"/open311/v2/requests.json?service_request_id={rid},{second['service_request_id']}")
    assert {v["service_request_id"] for v in both.body} == {rid, second["service_request_id"]}
    closed = api.call("GET", "/open311/v2/requests.json?status=closed").body
    assert [v["service_request_id"] for v in closed] == [rid]
    listed = api.call("GET", "/open311/v2/requests.json").body
    assert [v["service_request_id"] for v in listed] == [second["service_request_id"], rid]  # newest first
    assert api.call("GET", "/open311/v2/requests.json?service_code=r.other").body == []
    old = api.call("GET", "/open311/v2/requests.json?start_date=2010-05-24T00:00:00Z&end_date=2010-06-24T00:00:00Z")
    assert old.status == 200 and old.body == []


def test_unknown_request_is_a_spec_404(api: WebHarness) -> None:
    reply = api.call("GET", "/open311/v2/requests/638344.json")
    assert reply.status == 404 and reply.body == [{"code": 404, "description": "service_request_id 638344 not found"}]
