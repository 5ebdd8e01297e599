"""Open311 GeoReport v2 on the real stack: the spec's example POST becomes a hotline event on the broker,
and GET requests follows the case it became (agency and expected time once dispatched)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

import pytest

from .conftest import Stack
from .test_console_live import eventually

# Street vending is routed by a config rule: dispatched whatever the model thinks of the text.
CODE = "r.realizatsiya_tovarov_v_mestakh_ne_prednaznachennykh_dlya_tor"
SPEC_POST = (
    "jurisdiction_id=spb&service_code={code}&lat=59.9311&long=30.3609&address_string=1234+5th+street"
    "&email=smit333%40sfgov.edu&device_id=tt222111&account_id=123456&first_name=john&last_name=smith"
    "&phone=111111111&description=A+large+sinkhole+is+destroying+the+street"
    "&media_url=http%3A%2F%2Ffarm3.static.flickr.com%2F2002%2F2212426634_5ed477a060.jpg"
    "&attribute[WHISPAWN]=123456&attribute[WHISDORN]=COISL001"
)


def call(stack: Stack, path: str, form: str | None = None) -> tuple[int, Any]:
    data = form.encode() if form is not None else None
    request = urllib.request.Request(stack.web_url + path, data=data, method="POST" if data else "GET")
    if data is not None:
        request.add_header("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
    try:
        with urllib.request.urlopen(request, timeout=15) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_spec_example_goes_through_the_pipeline_and_is_tracked(stack: Stack) -> None:
    status, services = call(stack, "/open311/v2/services.json")
    assert status == 200 and any(s["service_code"] == CODE for s in services)

    since = stack.offsets("hotline-events")
    status, body = call(stack, "/open311/v2/requests.json", SPEC_POST.format(code=CODE))
    assert status == 200, body
    (answer,) = body
    request_id = answer["service_request_id"]
    assert "account_id" not in answer and answer["service_notice"]  # the schema wants a string or no field

    (event,) = stack.read_json("hotline-events", lambda d: d["event_id"] == request_id, 1, since=since)
    assert event["channel"] == "open311" and event["service_code"] == CODE
    assert event["text"] == "A large sinkhole is destroying the street"
    assert "smit333" not in json.dumps(event) and "111111111" not in json.dumps(event)  # no personal data kept

    def tracked() -> dict[str, Any] | None:
        code, views = call(stack, f"/open311/v2/requests/{request_id}.json")
        return views[0] if code == 200 and views[0]["expected_datetime"] else None

    view = eventually(tracked, 120, "the request's case to be dispatched")
    assert view["status"] == "open" and view["service_code"] == CODE
    assert view["requested_datetime"] <= view["updated_datetime"] < view["expected_datetime"]
    assert view["lat"] == 59.9311 and view["long"] == 30.3609
    listed = call(stack, f"/open311/v2/requests.json?service_request_id={request_id}")[1]
    assert [v["service_request_id"] for v in listed] == [request_id]


def test_errors_follow_the_spec(stack: Stack) -> None:
    assert call(stack, "/open311/v2/requests.json", "lat=59.93&long=30.36") == (
        400, [{"code": 400, "description": "service_code was not provided"}])
    status, body = call(stack, "/open311/v2/requests.json", SPEC_POST.format(code="001"))
    assert status == 404 and body[0]["description"] == "service_code '001' not found"
    assert call(stack, "/open311/v2/requests/does-not-exist.json")[0] == 404
    started = time.monotonic()
    assert call(stack, "/open311/v2/services.json")[0] == 200 and time.monotonic() - started < 5


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_a_third_party_client_reads_services_and_requests(stack: Stack, fmt: str) -> None:
    """The ``georeport`` client from PyPI, as a city app would use it, in both of the spec's formats."""
    from georeport import GeoReport

    client = GeoReport(f"{stack.web_url}/open311/v2", jurisdiction="spb", output_format=fmt)
    services = client.get_service_list()
    assert any(s["service_code"] == CODE for s in services)
    assert client.get_service_definition(CODE)["service_code"] == CODE
    status, body = call(stack, "/open311/v2/requests.json", SPEC_POST.format(code=CODE))
    assert status == 200, body
    request_id = body[0]["service_request_id"]
    one = client.get_service_request(request_id)
    assert one["service_request_id"] == request_id and one["status"] == "open"
    listed = client.get_service_requests(service_request_id=request_id)
    listed = listed if isinstance(listed, list) else [listed]  # xmltodict gives a lone <request> as a dict
    assert [r["service_request_id"] for r in listed] == [request_id]
    recent = client.get_service_requests(status="open")
    assert recent and all(r["status"] == "open" for r in (recent if isinstance(recent, list) else [recent]))
