"""What the dispatch step asks the router: the case's point only when the report placed it precisely."""

from __future__ import annotations

from agents.dispatch import route_query
from agents.logic.lifecycle import apply
from config import load_city

CITY = load_city("spb")


def opened_event(precision: str, labels: dict | None = None) -> dict:
    obs = {"observation_id": f"o-{precision}", "source": "hotline", "observed_at": 1.0, "ingested_at": 1.0,
           "kind": "general", "category": "c.fasad", "reason": "r.x", "district": "tsentralnyy", "lat": 59.93,
           "lon": 30.33, "confidence": 0.9, "text": "фасад", "location_precision": precision,
           **({"labels": labels} if labels is not None else {})}
    cmd = {"command_id": f"attach:o-{precision}", "case_id": "C-1", "type": "attach", "at": 2.0, "observation": obs,
           "detail": {}}
    (event,) = apply(None, cmd, CITY).events
    return event


def test_a_precise_point_reaches_the_router() -> None:
    for precision in ("exact", "address", "camera"):
        query = route_query(opened_event(precision))
        assert (query.lat, query.lon) == (59.93, 30.33), precision
        assert (query.category, query.reason, query.district) == ("c.fasad", "r.x", "tsentralnyy")


def test_a_district_or_city_centre_is_not_a_place_with_history() -> None:
    for precision in ("district", "city"):
        query = route_query(opened_event(precision))
        assert query.lat is None and query.lon is None, precision


def test_the_address_flag_of_a_hotline_report_reaches_the_router() -> None:
    assert route_query(opened_event("exact", {"has_address": 1.0})).has_address is True
    assert route_query(opened_event("exact", {"has_address": 0.0})).has_address is False
    assert route_query(opened_event("exact")).has_address is None  # a camera's case: unknown
