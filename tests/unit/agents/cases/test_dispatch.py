"""What the dispatch step asks the router: the case's point only when the report placed it precisely."""

from __future__ import annotations

import pytest

import agents.dispatch as dispatch
from agents.dispatch import decide, intake_route, route_query
from agents.logic.lifecycle import apply
from config import load_city
from detectors.text.routing import RouteDecision

CITY = load_city("spb")
DEPARTMENT = CITY.departments[0].id


def opened_event(precision: str, labels: dict | None = None, route: dict | None = None) -> dict:
    obs = {"observation_id": f"o-{precision}", "source": "hotline", "observed_at": 1.0, "ingested_at": 1.0,
           "kind": "general", "category": "c.fasad", "reason": "r.x", "district": "tsentralnyy", "lat": 59.93,
           "lon": 30.33, "confidence": 0.9, "text": "фасад", "location_precision": precision,
           **({"labels": labels} if labels is not None else {}), **(route or {})}
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


def intake(department: str = DEPARTMENT, source: str = "model") -> dict:
    return {"department": department, "route_confidence": 0.93, "route_source": source}


def test_the_route_made_at_intake_travels_with_the_opened_event() -> None:
    detail = opened_event("exact", route=intake())["detail"]
    assert (detail["route_department"], detail["route_confidence"], detail["route_source"]) == (
        DEPARTMENT, "0.93", "model",
    )  # fmt: skip
    assert "route_department" not in opened_event("exact")["detail"]  # a camera's or a raw producer's report


def test_an_intake_route_is_used_only_for_a_known_department_and_source() -> None:
    departments = {d.id for d in CITY.departments} | {CITY.routing.triage_department}
    assert intake_route(opened_event("exact", route=intake()), departments) == RouteDecision(
        DEPARTMENT, 0.93, "model", True
    )
    triage = intake_route(opened_event("exact", route=intake(CITY.routing.triage_department, "triage")), departments)
    assert triage is not None and not triage.auto
    assert intake_route(opened_event("exact", route=intake("org.nobody")), departments) is None
    assert intake_route(opened_event("exact", route=intake(source="operator")), departments) is None
    reopened = {**opened_event("exact", route=intake()), "type": "reopened"}
    assert intake_route(reopened, departments) is None  # a later event is routed afresh


def test_decide_asks_the_router_only_about_cases_without_an_intake_route(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list = []

    class Router:
        def route(self, queries):
            asked.extend(queries)
            return [RouteDecision("org.from_router", 0.5, "model", True) for _ in queries]

    monkeypatch.setattr(dispatch, "city", lambda: CITY)
    monkeypatch.setattr(dispatch, "_router", Router)
    routed, unrouted = opened_event("exact", route=intake()), opened_event("address")
    decisions = decide([routed, unrouted, routed])
    assert [d.department for d in decisions] == [DEPARTMENT, "org.from_router", DEPARTMENT]
    assert len(asked) == 1 and asked[0].text == "фасад"


def test_a_repeated_petition_reaches_the_router_and_a_reopened_case_is_one() -> None:
    assert route_query(opened_event("exact", {"has_address": 1.0, "petition": 2.0})).petition == 2
    first = opened_event("exact", {"has_address": 1.0, "petition": 1.0})
    assert "petition" not in first["detail"] and route_query(first).petition == 1
    assert route_query(opened_event("exact")).petition == 1  # a camera's case
    assert route_query({**first, "type": "reopened"}).petition == 2  # reported again after its fix
    third = opened_event("exact", {"petition": 3.0})
    assert route_query({**third, "type": "reopened"}).petition == 3
    odd = {**first, "detail": {**first["detail"], "petition": "2.5"}}
    assert route_query(odd).petition == 1  # not a count (a foreign producer's event): a first petition
