"""Report arithmetic (agents.logic.analytics) on hand-made cases whose numbers are known."""

from __future__ import annotations

import csv
import io
import time

import h3
import pytest

from agents.analytics import fold_events
from agents.logic.analytics import (
    CaseFacts,
    Window,
    apply_event,
    cases_geojson,
    group_report,
    heat_cells,
    hot_spots,
    hotspots_geojson,
    rating,
    summarize,
    to_csv,
)

H = 3600.0
NOW = 1_700_000_000.0
RES = 8


def event(case_id: str, etype: str, at: float, status: str, seq: int, **extra: object) -> dict:
    base = {
        "event_id": f"{case_id}:{seq}", "case_id": case_id, "type": etype, "at": at, "status": status,
        "kind": "garbage", "category": "c.sanitary", "reason": "r.pile", "district": "nevskiy",
        "lat": 59.90, "lon": 30.45, "priority": "normal", "reports": 1, "department": "dept.a",
        "sla_deadline": 0.0, "opened_at": 0.0, "first_observed_at": 0.0,
    }
    source = extra.pop("source", "")
    if source:  # the report the event attached, as a CaseEvent carries it
        base["report"] = {"observation_id": f"{source}:{seq}", "source": source, "observed_at": at, "ingested_at": at}
    base.update(extra)
    return base


def test_events_fold_into_facts_with_resolution_time_and_reopenings() -> None:
    t0 = NOW - 10 * H
    events = [
        event("C1", "opened", t0, "new", 1, opened_at=t0, first_observed_at=t0 - 600, source="hotline"),
        event("C1", "dispatched", t0 + 60, "dispatched", 2, sla_deadline=t0 + 24 * H),
        event("C1", "merged", t0 + H, "dispatched", 3, reports=2, source="camera"),
        event("C1", "resolved", t0 + 5 * H, "resolved", 4),
        event("C1", "reopened", t0 + 6 * H, "reopened", 5, reports=3),
        event("C1", "resolved", t0 + 8 * H, "resolved", 6),
    ]
    facts = None
    for ev in events:
        facts = apply_event(facts, ev, RES) or facts
    assert facts is not None
    assert facts.status == "resolved" and facts.resolved
    assert facts.resolved_at == t0 + 8 * H
    assert facts.reopened == 1 and facts.reports == 3
    assert facts.sources == ["hotline", "camera"]
    assert facts.started_at == t0 - 600
    assert facts.cell == h3.latlng_to_cell(59.90, 30.45, RES)
    assert CaseFacts.from_json(facts.to_json()) == facts


def test_a_redelivered_or_older_event_changes_nothing() -> None:
    first = event("C1", "opened", NOW, "new", 1, opened_at=NOW)
    reopened = event("C1", "reopened", NOW + 10, "reopened", 2)
    facts = apply_event(apply_event(None, first, RES), reopened, RES)
    assert facts is not None and facts.reopened == 1
    assert apply_event(facts, reopened, RES) is None  # same event id again
    assert apply_event(facts, event("C1", "merged", NOW + 5, "new", 9), RES) is None  # older than the facts
    assert facts.reopened == 1 and facts.status == "reopened"


def test_fold_events_returns_only_changed_cases() -> None:
    current: dict = {"C9": None}
    changed = fold_events(current, [event("C9", "opened", NOW, "new", 1), event("C9", "opened", NOW, "new", 1)], RES)
    assert list(changed) == ["C9"] and current["C9"].status == "new"


def facts(case_id: str, **kw: object) -> CaseFacts:
    base = {"district": "nevskiy", "department": "dept.a", "category": "c.sanitary", "kind": "garbage",
            "opened_at": NOW - 48 * H, "first_observed_at": NOW - 48 * H, "status": "dispatched",
            "sla_deadline": NOW - 24 * H}
    base.update(kw)
    return CaseFacts(case_id=case_id, **base)  # type: ignore[arg-type]


def sample() -> list[CaseFacts]:
    """Five cases of district nevskiy whose rates are worked out by hand below."""
    return [
        facts("1", status="resolved", resolved_at=NOW - 40 * H),  # 8 h, on time
        facts("2", status="closed", resolved_at=NOW - 12 * H, reports=3),  # 36 h, late, repeat
        facts("3", status="resolved", resolved_at=NOW - 44 * H, reopened=1),  # 4 h, on time, reopened once
        facts("4", status="dispatched"),  # open past its deadline: due and late
        facts("5", status="dispatched", sla_deadline=NOW + H, reports=2),  # open, not due yet, repeat
    ]


def test_summary_rates_follow_their_definitions() -> None:
    s = summarize(sample(), NOW)
    assert s["volume"] == 5 and s["resolved"] == 3 and s["open"] == 2
    assert s["overdue"] == 1
    assert s["resolution_rate"] == 0.6
    assert s["on_time_rate"] == 0.5  # 2 on time out of 4 due (3 resolved + 1 open past deadline)
    assert s["repeat_rate"] == 0.4  # cases 2 and 5
    assert s["reopen_rate"] == pytest.approx(1 / 3, abs=1e-4)
    assert s["median_hours_to_resolve"] == 8.0  # of 4, 8 and 36 hours
    assert s["top_problems"] == [{"category": "c.sanitary", "cases": 5}]


def test_empty_groups_have_no_rates() -> None:
    s = summarize([], NOW)
    assert s["volume"] == 0 and s["on_time_rate"] is None and s["median_hours_to_resolve"] is None


def test_rating_formula_and_ranking() -> None:
    assert rating(1.0, 1.0, 0.0) == 100.0
    assert rating(0.5, 0.6, 1 / 3) == pytest.approx(100 * (0.25 + 0.18 + 0.2 * (2 / 3)), abs=0.1)
    good = [facts(f"g{i}", district="good", status="resolved", resolved_at=NOW - 47 * H) for i in range(5)]
    small = [facts("s1", district="small")]
    rows = group_report(sample() + good + small, "district", NOW, labels={"good": "Good district"})
    assert [r["district"] for r in rows] == ["good", "nevskiy", "small"]
    assert rows[0]["name"] == "Good district" and rows[0]["rating"] == 100.0 and rows[0]["rank"] == 1
    assert rows[1]["rank"] == 2
    assert rows[2]["rating"] is None and rows[2]["rank"] is None  # one case says nothing about a district
    with pytest.raises(ValueError, match="cannot group by"):
        group_report([], "kind", NOW)


def test_department_report_groups_unassigned_cases() -> None:
    rows = group_report([facts("1", department=""), facts("2")], "department", NOW, min_volume=1)
    assert {r["department"] for r in rows} == {"unassigned", "dept.a"}


def test_window_selects_cases_by_opening_time() -> None:
    window = Window(since=NOW - 10 * H, until=NOW)
    assert window.holds(facts("new", opened_at=NOW - H))
    assert not window.holds(facts("old", opened_at=NOW - 20 * H))
    assert not window.holds(facts("future", opened_at=NOW + H))
    assert Window().holds(facts("any"))


def test_hot_spots_are_the_cells_with_most_cases() -> None:
    here = h3.latlng_to_cell(59.90, 30.45, RES)
    there = h3.latlng_to_cell(59.95, 30.30, RES)
    cases = [facts(f"h{i}", cell=here, category="c.ads" if i == 0 else "c.sanitary") for i in range(4)]
    cases += [facts(f"t{i}", cell=there, status="resolved", resolved_at=NOW) for i in range(3)]
    cases += [facts("lonely", cell=h3.latlng_to_cell(59.80, 30.10, RES))]
    assert heat_cells(cases)[here] == 4
    spots = hot_spots(cases, min_cases=3)
    assert [s["cell"] for s in spots] == [here, there]
    assert spots[0]["cases"] == 4 and spots[0]["open"] == 4
    assert spots[0]["top_category"] == "c.sanitary" and spots[0]["top_category_cases"] == 3
    assert spots[1]["open"] == 0
    geo = hotspots_geojson(spots)
    ring = geo["features"][0]["geometry"]["coordinates"][0]
    assert ring[0] == ring[-1] and len(ring) == 7
    lon, lat = ring[0]
    assert 30.0 < lon < 31.0 and 59.0 < lat < 61.0  # GeoJSON order is lon, lat


def test_cases_geojson_and_csv_exports() -> None:
    cases = sample()[:2]
    geo = cases_geojson(cases)
    assert geo["features"][0]["geometry"] == {"type": "Point", "coordinates": [0.0, 0.0]}
    assert geo["features"][1]["properties"]["reports"] == 3
    rows = group_report(sample(), "district", NOW)
    text = to_csv(rows, ("district", "volume", "on_time_rate", "rating", "top_problems"))
    parsed = list(csv.DictReader(io.StringIO(text)))
    assert parsed[0]["district"] == "nevskiy" and parsed[0]["volume"] == "5"
    assert parsed[0]["on_time_rate"] == "0.5" and parsed[0]["top_problems"] == "c.sanitary (5)"


def test_a_city_sized_report_takes_seconds_not_days() -> None:
    cells = [h3.latlng_to_cell(59.8 + i * 0.003, 30.1 + i * 0.004, RES) for i in range(100)]
    many = [
        facts(str(i), district=f"d{i % 18}", department=f"dep{i % 40}", cell=cells[i % 100],
              status="resolved" if i % 3 else "dispatched", resolved_at=NOW - 30 * H if i % 3 else 0.0)
        for i in range(50_000)
    ]
    started = time.perf_counter()
    group_report(many, "district", NOW)
    group_report(many, "department", NOW)
    hot_spots(many)
    assert time.perf_counter() - started < 10.0
