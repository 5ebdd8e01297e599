"""Open311 GeoReport v2 over HTTP on a real Redis: the spec's example requests and responses."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from config.models import Open311Settings
from schemas.records import HotlineEvent
from streams import redis_keys as keys
from streams.app import city
from streams.web import open311, open311_keys
from streams.web.open311_keys import ApiKeyStore
from streams.web.ratelimit import RateLimit, TokenBucketLimiter
from tests.unit.streams.web.georeport_schemas import check_json, check_xml
from tests.unit.streams.web.harness import DEPT_A, TOKENS, Reply, WebHarness, api, make_case, web
from tests.unit.streams.web.test_georeport import CODE, SPEC_POST

__all__ = ["api", "web"]

NOW = time.time()  # cases written "now", so they fall in the default 90-day search window
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
    body = check_json("discovery", api.call("GET", "/open311/discovery.json").body)
    (endpoint,) = body["endpoints"]
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["url"].endswith("/open311/v2") and endpoint["formats"] == ["text/xml", "application/json"]
    assert body["key_service"].startswith("api_key is optional")
    xml = check_xml("discovery", api.call("GET", "/open311/discovery.xml").body)
    assert xml == body


def test_spec_example_post_produces_a_hotline_event_and_answers_in_the_spec_shape(api: WebHarness) -> None:
    reply = api.call("POST", "/open311/v2/requests.json", data=spec_body(), headers=FORM)
    assert reply.status == 200, reply.body
    (answer,) = reply.body
    assert set(answer) == {"service_request_id", "service_notice"}  # no account_id: not a string here
    check_json("posted", reply.body)
    assert "24 hours" in answer["service_notice"]
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
    other = api.call("GET", "/open311/v2/services.csv")
    assert other.status == 400 and "use .xml or .json" in check_json("errors", other.body)[0]["description"]
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


def _as_data(kind: str, fmt: str, reply: Reply) -> Any:
    """The answer checked against the spec's schema for ``kind`` in its format, as data."""
    if fmt == "xml":
        assert reply.headers["Content-Type"].startswith("text/xml"), reply.headers
        return check_xml(kind, reply.body)
    assert reply.headers["Content-Type"].startswith("application/json"), reply.headers
    return check_json(kind, reply.body)


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_every_call_answers_in_the_spec_shape_of_its_format(api: WebHarness, fmt: str) -> None:
    listed = _as_data("services", fmt, api.call("GET", f"/open311/v2/services.{fmt}"))
    assert isinstance(listed, list) and any(s["service_code"] == CODE for s in listed)
    definition = _as_data("service_definition", fmt, api.call("GET", f"/open311/v2/services/{CODE}.{fmt}"))
    assert definition == {"service_code": CODE, "attributes": []}
    missing = api.call("GET", f"/open311/v2/services/001.{fmt}")
    assert missing.status == 404 and _as_data("errors", fmt, missing) == [
        {"code": 404, "description": "service_code '001' not found"}]

    posted = api.call("POST", f"/open311/v2/requests.{fmt}", data=spec_body(), headers=FORM)
    assert posted.status == 200
    (answer,) = _as_data("posted", fmt, posted)
    rid = answer["service_request_id"]
    api.put_case(make_case("C-HOT", DEPT_A, status="in_progress", updated_at=NOW, first_observed_at=NOW - 60,
                           text="Мусор во дворе"))
    api.put_case(make_case("C-OLD", DEPT_A, status="closed", updated_at=1_000_000.0))  # outside 90 days
    listing = _as_data("requests", fmt, api.call("GET", f"/open311/v2/requests.{fmt}"))
    assert [v["service_request_id"] for v in listing] == [rid, "C-HOT"]
    one = _as_data("requests", fmt, api.call("GET", f"/open311/v2/requests/{rid}.{fmt}"))
    assert [v["service_request_id"] for v in one] == [rid]
    case = _as_data("requests", fmt, api.call("GET", f"/open311/v2/requests/C-HOT.{fmt}"))
    assert case[0]["description"] == "Мусор во дворе" and case[0]["status"] == "open"
    unknown = api.call("GET", f"/open311/v2/requests/638344.{fmt}")
    assert unknown.status == 404 and _as_data("errors", fmt, unknown)[0]["code"] == 404
    refused = api.call("POST", f"/open311/v2/requests.{fmt}", data="lat=59.9&long=30.3", headers=FORM)
    assert refused.status == 400 and _as_data("errors", fmt, refused) == [
        {"code": 400, "description": "service_code was not provided"}]


def test_xml_and_json_carry_the_same_data(api: WebHarness) -> None:
    rid = api.call("POST", "/open311/v2/requests.json", data=spec_body(), headers=FORM).body[0]["service_request_id"]
    as_json = check_json("requests", api.call("GET", f"/open311/v2/requests/{rid}.json").body)
    as_xml = check_xml("requests", api.call("GET", f"/open311/v2/requests/{rid}.xml").body)
    assert as_xml == as_json and as_json[0]["lat"] == 59.93
    assert check_xml("services", api.call("GET", "/open311/v2/services.xml").body) == check_json(
        "services", api.call("GET", "/open311/v2/services.json").body)


def test_cors_preflight_allows_any_origin_to_post(api: WebHarness) -> None:
    headers = {"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}
    for path in ("/open311/v2/requests.json", "/open311/v2/requests.xml", "/open311/v2/services.json",
                 f"/open311/v2/services/{CODE}.xml", "/open311/v2/requests/1.json", "/open311/discovery.json"):
        reply = api.call("OPTIONS", path, headers=headers)
        assert reply.status == 204, path
        assert reply.headers["Access-Control-Allow-Origin"] == "*"
        assert "POST" in reply.headers["Access-Control-Allow-Methods"]
        assert "Content-Type" in reply.headers["Access-Control-Allow-Headers"]


def test_another_citys_jurisdiction_is_refused_on_every_call(api: WebHarness) -> None:
    for path in ("/open311/v2/services.json", f"/open311/v2/services/{CODE}.xml", "/open311/v2/requests.json",
                 "/open311/v2/requests/1.json"):
        reply = api.call("GET", f"{path}?jurisdiction_id=nyc")
        assert reply.status == 404, path
        body = check_xml("errors", reply.body) if path.endswith(".xml") else check_json("errors", reply.body)
        assert body[0]["description"].startswith("jurisdiction_id 'nyc' not found")
    assert api.call("GET", "/open311/v2/services.json?jurisdiction_id=spb").status == 200
    posted = api.call("POST", "/open311/v2/requests.json", data=spec_body().replace("=spb", "=nyc"), headers=FORM)
    assert posted.status == 404 and api.produced == []


@pytest.fixture
def app_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ApiKeyStore:
    store = ApiKeyStore(tmp_path / "open311_keys.yaml")
    monkeypatch.setattr(open311_keys, "_store", [store])
    return store


def _city_with(monkeypatch: pytest.MonkeyPatch, **settings: object) -> None:
    changed = city().model_copy(update={"open311": Open311Settings.model_validate(settings)})
    monkeypatch.setattr(open311, "city", lambda: changed)


def test_apps_submit_with_the_key_the_city_issued(
    api: WebHarness, app_keys: ApiKeyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    issued = _issue(app_keys, "neighbours")
    ok = api.call("POST", "/open311/v2/requests.json", data=spec_body(api_key=issued), headers=FORM)
    assert ok.status == 200 and api.audited[-1]["actor"] == "app:neighbours"
    wrong = api.call("POST", "/open311/v2/requests.xml", data=spec_body(api_key="xyz"), headers=FORM)
    assert wrong.status == 403 and check_xml("errors", wrong.body) == [{"code": 403, "description": "Invalid api_key"}]

    _city_with(monkeypatch, anonymous_submissions=False)
    anonymous = api.call("POST", "/open311/v2/requests.json", data=spec_body(), headers=FORM)
    assert anonymous.status == 403 and "api_key is required" in anonymous.body[0]["description"]
    assert api.call("POST", "/open311/v2/requests.json", data=spec_body(api_key=issued), headers=FORM).status == 200
    assert api.call("GET", "/open311/discovery.json").body["key_service"].startswith("api_key is required")
    assert len(api.produced) == 2


def _issue(store: ApiKeyStore, name: str) -> str:
    """A key written to the store's file the way the CLI does, returned in clear."""
    import contextlib
    import io

    from streams.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["open311-key", "new", "--name", name, "--file", str(store.path)]) == 0
    key = out.getvalue().strip()
    assert key and key not in store.path.read_text()  # only its hash is kept
    return key


def test_every_case_is_a_public_request_and_a_joined_case_is_listed_once(
    api: WebHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    rid = api.call("POST", "/open311/v2/requests.json", data=spec_body(), headers=FORM).body[0]["service_request_id"]
    api.put_case(make_case("C-311", DEPT_A, updated_at=NOW, first_observed_at=NOW - 30))
    api.run(api.redis.set(keys.observation_case(f"hotline:{rid}"), "C-311|1"))
    for n in range(3):
        api.put_case(make_case(f"C-CAM-{n}", DEPT_A, updated_at=NOW + n, first_observed_at=NOW - 100 + n,
                               status="resolved" if n == 0 else "dispatched", sources={"camera": 1},
                               text="", lat=59.93012, lon=30.36034))
    listed = check_json("requests", api.call("GET", "/open311/v2/requests.json").body)
    assert [v["service_request_id"] for v in listed] == [rid, "C-CAM-2", "C-CAM-1", "C-CAM-0"]
    closed = api.call("GET", "/open311/v2/requests.json?status=closed").body
    assert [v["service_request_id"] for v in closed] == ["C-CAM-0"]
    page = api.call("GET", "/open311/v2/requests.json?page=2&page_size=2").body
    assert [v["service_request_id"] for v in page] == ["C-CAM-1", "C-CAM-0"]
    _city_with(monkeypatch, case_text="none", location_grid_m=500)
    (private,) = api.call("GET", "/open311/v2/requests/C-CAM-1.json").body
    assert private["description"] is None and private["address"] is None
    assert private["lat"] != 59.93012 and abs(private["lat"] - 59.93012) * 111_320 <= 250


def test_an_address_only_request_is_placed_or_refused_plainly(api: WebHarness) -> None:
    form = spec_body().replace("lat=59.93&long=30.36&", "").replace(
        "address_string=1234+5th+street", "address_string=Невский+проспект,+д.+28")
    placed = api.call("POST", "/open311/v2/requests.json", data=form, headers=FORM)
    assert placed.status == 200, placed.body
    assert "Placed at the address given" in placed.body[0]["service_notice"]
    event = api.produced[0][2]
    centre = city().city.center
    assert event.lat is not None and (event.lat, event.lon) != (centre.lat, centre.lon)
    assert abs(event.lat - 59.935) < 0.01 and abs(event.lon - 30.33) < 0.01
    nowhere = api.call("POST", "/open311/v2/requests.xml", data=spec_body().replace("lat=59.93&long=30.36&", ""),
                       headers=FORM)
    assert nowhere.status == 400 and len(api.produced) == 1
    assert "'1234 5th street' could not be found" in check_xml("errors", nowhere.body)[0]["description"]
