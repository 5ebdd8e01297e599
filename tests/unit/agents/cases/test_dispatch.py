"""What the dispatch step asks the router: the case's point only when the report placed it precisely."""

from __future__ import annotations

import dataclasses
from typing import Any

from agents.cases.dispatch import Dispatcher, intake_route, route_query
from agents.logic.lifecycle import apply
from config import load_city
from detectors.text.routing import RouteDecision
from schemas.records import CaseCommand, CaseEvent, Observation

CITY = load_city("spb")
DEPARTMENT = CITY.departments[0].id
T0 = 1_700_000_000.0


def opened_event(precision: str, *, route: dict[str, Any] | None = None, **report: Any) -> CaseEvent:
    obs = Observation(observation_id=f"o-{precision}", source="hotline", source_id="1", observed_at=T0,
                      ingested_at=T0, kind="general", category="c.fasad", reason="r.x", district="tsentralnyy",
                      lat=59.93, lon=30.33, confidence=0.9, text="фасад", location_precision=precision,
                      **report, **(route or {}))
    cmd = CaseCommand(command_id=f"attach:o-{precision}", case_id="C-1", type="attach", at=T0 + 1, observation=obs)
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
    assert route_query(opened_event("exact", has_address=True)).has_address is True
    assert route_query(opened_event("exact", has_address=False)).has_address is False
    assert route_query(opened_event("exact")).has_address is None  # a camera's case: unknown


def intake(department: str = DEPARTMENT, source: str = "model") -> dict[str, Any]:
    return {"department": department, "route_confidence": 0.93, "route_source": source}


def test_the_route_made_at_intake_travels_with_the_opened_event() -> None:
    route = opened_event("exact", route=intake()).route
    assert route is not None and (route.department, route.confidence, route.source) == (DEPARTMENT, 0.93, "model")
    assert opened_event("exact").route is None  # a camera's or a raw producer's report


def test_an_intake_route_is_used_only_for_a_known_department_and_source() -> None:
    departments = {d.id for d in CITY.departments} | {CITY.routing.triage_department}
    assert intake_route(opened_event("exact", route=intake()), departments) == RouteDecision(
        DEPARTMENT, 0.93, "model", True
    )
    triage = intake_route(opened_event("exact", route=intake(CITY.routing.triage_department, "triage")), departments)
    assert triage is not None and not triage.auto
    assert intake_route(opened_event("exact", route=intake("org.nobody")), departments) is None
    reopened = dataclasses.replace(opened_event("exact", route=intake()), type="reopened")
    assert intake_route(reopened, departments) is None  # a later event is routed afresh


def test_decide_asks_the_router_only_about_cases_without_an_intake_route() -> None:
    asked: list = []

    class Router:
        def route(self, queries):
            asked.extend(queries)
            return [RouteDecision("org.from_router", 0.5, "model", True) for _ in queries]

    async def no_tasks(_: set[str]) -> set[str]:
        return set()

    dispatcher = Dispatcher(CITY, None, Router, no_tasks)  # type: ignore[arg-type]
    routed, unrouted = opened_event("exact", route=intake()), opened_event("address")
    decisions = dispatcher.decide([routed, unrouted, routed])
    assert [d.department for d in decisions] == [DEPARTMENT, "org.from_router", DEPARTMENT]
    assert len(asked) == 1 and asked[0].text == "фасад"


def test_a_repeated_petition_reaches_the_router_and_a_reopened_case_is_one() -> None:
    assert route_query(opened_event("exact", has_address=True, petition=2)).petition == 2
    first = opened_event("exact", has_address=True, petition=1)
    assert first.report is not None and first.report.petition == 1 and route_query(first).petition == 1
    assert route_query(opened_event("exact")).petition == 1  # a camera's case
    assert route_query(dataclasses.replace(first, type="reopened")).petition == 2  # reported again after its fix
    third = opened_event("exact", petition=3)
    assert route_query(dataclasses.replace(third, type="reopened")).petition == 3
