"""Open311 GeoReport v2 requests export: a JSON array of service requests."""

from __future__ import annotations

import json

from config.history import history_format

REQUESTS = [
    {"service_request_id": "638344", "status": "closed", "service_name": "Pothole", "service_code": "006",
     "description": "Large hole in the bike lane", "agency_responsible": "Streets Dept",
     "requested_datetime": "2010-04-14T06:37:38-08:00", "address": "8TH AVE and JUDAH ST", "lat": 37.762,
     "long": -122.466},
    {"service_request_id": "638349", "service_name": "Graffiti", "service_code": "007", "description": "",
     "requested_datetime": "2010-04-19T06:37:38-08:00", "lat": 0, "long": 0},
]  # fmt: skip


def test_an_export_is_recognised_and_read(tmp_path):
    path = tmp_path / "requests.json"
    path.write_text(json.dumps(REQUESTS))
    fmt = history_format(None, path)
    assert fmt.name == "open311"
    first, second = list(fmt.read(path))
    assert first.created.hour == 14  # -08:00 read as UTC
    assert (first.text, first.levels, first.department) == ("Large hole in the bike lane", ("Pothole",), "Streets Dept")
    assert (first.lat, first.lon) == (37.762, -122.466)
    assert second.text == "Graffiti" and second.lat is None  # 0,0 is no place; the service stands in for text
