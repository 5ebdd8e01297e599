"""Open311 GeoReport v2 request/response mapping, built from the spec's examples.

The spec's POST example (``api_key=xyz&jurisdiction_id=city.gov&service_code=001
&lat=37.76524078&long=-122.4212043&address_string=1234+5th+street&email=…
&description=A+large+sinkhole+is+destroying+the+street&media_url=…&attribute[…]``)
is used as is, with only the city-specific values (jurisdiction, service code,
coordinates) replaced by this city's.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest

from config import load_city
from config.models import Open311Settings
from schemas.codec import decode, encode
from schemas.records import HotlineEvent
from streams.web.georeport import (
    MAX_DESCRIPTION,
    Open311Error,
    case_view,
    coarsen,
    parse_post,
    parse_query,
    parse_w3c,
    request_view,
    service_notice,
    services,
    w3c,
)

CITY = load_city("spb")
CODE = "r.skoplenie_musora"  # a leaf of the SPb taxonomy (garbage piling up)
SPEC_POST = (
    "api_key=xyz&jurisdiction_id=city.gov&service_code=001&lat=37.76524078&long=-122.4212043"
    "&address_string=1234+5th+street&email=smit333%40sfgov.edu&device_id=tt222111&account_id=123456"
    "&first_name=john&last_name=smith&phone=111111111&description=A+large+sinkhole+is+destroying+the+street"
    "&media_url=http%3A%2F%2Ffarm3.static.flickr.com%2F2002%2F2212426634_5ed477a060.jpg"
    "&attribute[WHISPAWN]=123456&attribute[WHISDORN]=COISL001"
)


def spec_form(**override: str) -> dict[str, str]:
    form = dict(parse_qsl(SPEC_POST))
    form.update(jurisdiction_id="spb", service_code=CODE, lat="59.93", long="30.36")
    form.update(override)
    return form


def test_services_are_the_taxonomy_problems_in_the_spec_shape() -> None:
    listed = services(CITY)
    parents = {n.parent for n in CITY.taxonomy.nodes}
    last = len(CITY.taxonomy.levels) - 1
    assert len(listed) == sum(1 for n in CITY.taxonomy.nodes if n.id not in parents and n.level == last)
    entry = next(s for s in listed if s["service_code"] == CODE)
    assert set(entry) == {"service_code", "service_name", "description", "metadata", "type", "keywords", "group"}
    assert entry["metadata"] is False and entry["type"] == "realtime"
    assert entry["keywords"] == "garbage"
    node = CITY.taxonomy.by_id()[CODE]
    assert entry["service_name"] == node.label
    assert node.parent is not None and entry["group"] == CITY.taxonomy.by_id()[node.parent].label


def test_spec_example_post_becomes_a_hotline_event_without_personal_data() -> None:
    event, stored = parse_post(spec_form(), CITY, request_id="293944", now=1_271_252_258.0)
    assert event.event_id == "293944" and event.channel == "open311"
    assert event.text == "A large sinkhole is destroying the street"
    assert (event.lat, event.lon) == (59.93, 30.36)
    assert event.address == "1234 5th street" and event.service_code == CODE
    assert event.received_at == 1_271_252_258.0
    assert decode(HotlineEvent, encode(event)) == event  # valid against the topic's schema
    kept = repr(to_plain(event)) + repr(stored)
    for personal in ("smit333", "john", "smith", "111111111", "tt222111", "123456", "WHISPAWN"):
        assert personal not in kept
    assert stored["media_url"].startswith("http://farm3.static.flickr.com/")


def to_plain(event: HotlineEvent) -> dict:
    return event.asdict()


def test_a_request_without_description_is_read_as_its_service_name() -> None:
    event, _ = parse_post(spec_form(description=""), CITY)
    assert event.text == CITY.taxonomy.by_id()[CODE].label


def test_an_address_alone_is_placed_by_the_gazetteer_or_refused_with_a_reason() -> None:
    form = spec_form(address_string="Невский проспект, д. 28")
    del form["lat"], form["long"]
    known = {"Невский проспект, д. 28": (59.9347, 30.3290)}
    event, stored = parse_post(form, CITY, locate=known.get)
    assert (event.lat, event.lon) == (59.9347, 30.3290) and event.address == "Невский проспект, д. 28"
    assert stored["location_precision"] == "address"
    assert parse_post(spec_form(), CITY, locate=known.get)[1]["location_precision"] == "exact"
    del form["address_string"]
    for fields, message in [({"address_string": "1234 5th street"}, "could not be found in Санкт-Петербург"),
                            ({"address_id": "A-77"}, "address_id 'A-77' is not an address known here")]:
        with pytest.raises(Open311Error, match=message) as info:
            parse_post({**form, **fields}, CITY, locate=known.get)  # never the city centre, unsaid
        assert info.value.code == 400


def test_services_are_problems_not_object_types() -> None:
    codes = {s["service_code"] for s in services(CITY)}
    assert "o.kladbishche" in CITY.taxonomy.by_id() and "o.kladbishche" not in codes  # a cemetery is a place
    last = len(CITY.taxonomy.levels) - 1
    assert codes and all(CITY.taxonomy.by_id()[c].level == last for c in codes)
    nyc = load_city("nyc")
    nyc_codes = {s["service_code"] for s in services(nyc)}
    assert "c.encampment" in nyc_codes  # a complaint type without descriptors is still a problem


def test_published_locations_snap_to_the_citys_grid() -> None:
    assert coarsen(59.93, 30.36, 0) == (59.93, 30.36)
    lat, lon = coarsen(59.93012, 30.36034, 250)
    assert lat is not None and lon is not None
    assert abs(lat - 59.93012) * 111_320 <= 125 and abs(lon - 30.36034) * 111_320 * 0.5 <= 126
    assert coarsen(59.93040, 30.36070, 250) == (lat, lon)  # a neighbour in the same cell reads the same
    assert coarsen(None, None, 250) == (None, None)


def test_a_hotline_case_is_a_public_request_with_redacted_text_and_a_coarse_place() -> None:
    case = {"case_id": "C-1", "status": "dispatched", "reason": CODE, "category": "c.x", "kind": "garbage",
            "text": "Мусор у дома, звонил [PHONE]", "lat": 59.93012, "lon": 30.36034,
            "first_observed_at": 1_271_226_658.0, "updated_at": 1_271_230_000.0, "department": "",
            "sla_deadline": 0.0, "timeline": []}
    view = case_view(case, CITY)
    assert view["service_request_id"] == "C-1" and view["service_code"] == CODE and view["status"] == "open"
    assert view["description"] == "Мусор у дома, звонил [PHONE]" and view["address"] is None
    assert view["requested_datetime"] == "2010-04-14T10:30:58+04:00"
    assert (view["lat"], view["long"]) == (59.93012, 30.36034)
    private = CITY.model_copy(update={"open311": Open311Settings(case_text="none", location_grid_m=500)})
    hidden = case_view(case, private)
    assert hidden["description"] is None and hidden["lat"] != 59.93012
    assert abs(hidden["lat"] - 59.93012) * 111_320 <= 250


def test_pages_of_search_results() -> None:
    q = parse_query({"page": "2", "page_size": "3"}, CITY)
    assert q.page_of([{"n": i} for i in range(8)]) == [{"n": 3}, {"n": 4}, {"n": 5}]
    assert parse_query({}, CITY).page_size == 50
    for bad in ({"page": "0"}, {"page_size": "501"}, {"page": "two"}):
        with pytest.raises(Open311Error, match="whole number"):
            parse_query(bad, CITY)


@pytest.mark.parametrize(
    ("override", "code", "message"),
    [
        ({"service_code": ""}, 400, "service_code was not provided"),
        ({"service_code": "001"}, 404, "service_code '001' not found"),
        ({"jurisdiction_id": "city.gov"}, 404, "jurisdiction_id 'city.gov' not found"),
        ({"lat": "north"}, 400, "lat must be a number"),
        ({"lat": "95"}, 400, "lat must be between -90 and 90"),
        ({"long": ""}, 400, "lat and long must be sent together"),
        ({"lat": "37.76524078", "long": "-122.4212043"}, 400, "outside the area"),
        ({"lat": "", "long": "", "address_string": ""}, 400, "a location is required"),
        ({"description": "x" * (MAX_DESCRIPTION + 1)}, 400, "longer than 4000"),
        ({"media_url": "javascript:alert(1)"}, 400, "media_url must be an http(s) URL"),
    ],
)
def test_invalid_posts_get_the_spec_error(override: dict, code: int, message: str) -> None:
    with pytest.raises(Open311Error) as info:
        parse_post(spec_form(**override), CITY)
    assert info.value.code == code and message in info.value.description
    assert info.value.body() == [{"code": code, "description": info.value.description}]


def test_service_notice_states_the_sla_of_the_service() -> None:
    assert "24 hours" in service_notice(CITY, CODE)  # garbage: 24 h at normal priority


def test_w3c_datetimes() -> None:
    assert w3c(1_271_226_658.0) == "2010-04-14T06:30:58Z"
    assert w3c(1_271_226_658.0, "Europe/Moscow") == "2010-04-14T10:30:58+04:00"
    assert parse_w3c("2010-04-14T06:37:38-08:00", "start_date") == 1_271_255_858.0
    assert parse_w3c("1994-11-05T13:15:30Z", "x") == parse_w3c("1994-11-05T08:15:30-05:00", "x")
    with pytest.raises(Open311Error, match="time zone"):
        parse_w3c("2010-04-14T06:37:38", "start_date")


def test_query_defaults_to_the_last_90_days_and_validates() -> None:
    now = 1_700_000_000.0
    q = parse_query({}, CITY, now=now)
    assert (q.start, q.end) == (now - 90 * 86400, now)
    q = parse_query({"service_request_id": "638344,638349", "status": "open,closed", "service_code": CODE}, CITY)
    assert q.ids == ("638344", "638349") and q.statuses == ("open", "closed") and q.service_codes == (CODE,)
    q = parse_query({"start_date": "2010-05-24T00:00:00Z", "end_date": "2010-06-24T00:00:00Z"}, CITY)
    assert q.end - q.start == 31 * 86400
    for params, message in [
        ({"status": "pending"}, "status must be open or closed"),
        ({"start_date": "2010-01-01T00:00:00Z", "end_date": "2010-06-24T00:00:00Z"}, "90 days"),
        ({"start_date": "2010-06-24T00:00:00Z", "end_date": "2010-05-24T00:00:00Z"}, "after end_date"),
        ({"jurisdiction_id": "elsewhere"}, "not found"),
    ]:
        with pytest.raises(Open311Error, match=message):
            parse_query(params, CITY, now=now)


SPEC_RESPONSE_FIELDS = {
    "service_request_id", "status", "status_notes", "service_name", "service_code", "description",
    "agency_responsible", "service_notice", "requested_datetime", "updated_datetime", "expected_datetime",
    "address", "address_id", "zipcode", "lat", "long", "media_url",
}


def test_request_view_before_the_case_exists_is_open() -> None:
    _, stored = parse_post(spec_form(), CITY, request_id="638344", now=1_271_226_658.0)
    view = request_view(stored, None, CITY)
    assert set(view) == SPEC_RESPONSE_FIELDS
    assert view["status"] == "open" and view["agency_responsible"] is None and view["expected_datetime"] is None
    assert view["requested_datetime"] == view["updated_datetime"] == "2010-04-14T10:30:58+04:00"
    assert (view["lat"], view["long"]) == (59.93, 30.36)


def test_request_view_takes_status_agency_and_deadline_from_its_case() -> None:
    _, stored = parse_post(spec_form(), CITY, request_id="638344", now=1_271_226_658.0)
    department = CITY.departments[0]
    case = {
        "status": "closed", "department": department.id, "sla_deadline": 1_271_313_058.0,
        "updated_at": 1_271_230_000.0,
        "timeline": [{"type": "resolved", "detail": {"command_id": "x", "note": "Duplicate request."}},
                     {"type": "closed", "detail": {"command_id": "y"}}],
    }
    view = request_view(stored, case, CITY)
    assert view["status"] == "closed" and view["status_notes"] == "Duplicate request."
    assert view["agency_responsible"] == department.name
    assert view["expected_datetime"] == "2010-04-15T10:30:58+04:00"
    assert view["updated_datetime"] == w3c(1_271_230_000.0, "Europe/Moscow")
    for status, expected in [("resolved", "closed"), ("verified", "closed"), ("dispatched", "open"),
                             ("reopened", "open"), ("triage", "open")]:
        assert request_view(stored, {**case, "status": status}, CITY)["status"] == expected


def test_xml_carries_any_text_a_citizen_sends() -> None:
    import xml.etree.ElementTree as ET

    from streams.web.georeport_xml import to_xml

    text = "Мусор\x0b у дома \x01 <b>&amp;</b> 🗑️"
    root = ET.fromstring(to_xml("service_requests", [{"description": text, "lat": 59.0, "status_notes": None}]))
    (request,) = root
    assert request.findtext("description") == "Мусор\ufffd у дома \ufffd <b>&amp;</b> 🗑️"
    assert request.findtext("lat") == "59.0" and request.findtext("status_notes") == ""
    with pytest.raises(ValueError, match="names no item element"):
        to_xml("service_requests", [{"keywords": ["a", "b"]}])
