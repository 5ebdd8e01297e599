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
    wilson_low,
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


def test_wilson_lower_bound_discounts_small_samples() -> None:
    assert wilson_low(0, 0) == 0.0 and wilson_low(0, 10) == 0.0
    assert wilson_low(1, 1) == pytest.approx(0.2065, abs=1e-4)
    assert wilson_low(19, 20) == pytest.approx(0.7639, abs=1e-4)
    assert wilson_low(950, 1000) > 0.93 and wilson_low(20, 20) < 1.0


def test_rating_is_the_documented_weighted_mean_of_discounted_rates() -> None:
    counts = {"resolution": (3, 5), "on_time": (2, 4), "held": (2, 3), "satisfaction": (0, 0)}
    expected = 100 * (0.30 * wilson_low(3, 5) + 0.40 * wilson_low(2, 4) + 0.15 * wilson_low(2, 3)) / 0.85
    assert rating(counts) == pytest.approx(expected, abs=0.05)
    with_satisfaction = {**counts, "satisfaction": (40, 50)}
    assert rating(with_satisfaction) == pytest.approx(
        100 * (0.85 * expected / 100 + 0.15 * wilson_low(40, 50)), abs=0.05)
    assert rating({"resolution": (0, 0), "on_time": (0, 0), "held": (0, 0), "satisfaction": (0, 0)}) is None


def _district(name: str, n: int, resolved: int, *, reopened: int = 0, late: int = 0) -> list[CaseFacts]:
    """``n`` cases of one district opened 48 h ago (deadline 24 h later): ``resolved`` of them resolved at
    4 h (the first ``late`` at 30 h, past the deadline; the first ``reopened`` reopened once), the rest
    open and not due yet."""
    out = []
    for i in range(n):
        if i < resolved:
            at = NOW - (18 if i < late else 44) * H
            out.append(facts(f"{name}{i}", district=name, status="resolved", resolved_at=at,
                             reopened=int(i < reopened)))
        else:
            out.append(facts(f"{name}{i}", district=name, status="dispatched", sla_deadline=NOW + H))
    return out


def test_nothing_resolved_scores_zero_not_twenty_from_the_reopen_term() -> None:
    rows = group_report(_district("idle", 20, 0), "district", NOW)
    assert rows[0]["rating"] == 0.0 and rows[0]["reopen_rate"] is None


def test_one_early_resolution_does_not_put_a_district_first() -> None:
    lucky = _district("lucky", 25, 1)  # 4 % resolved, that one on time
    steady = _district("steady", 25, 20, reopened=1, late=2)  # 80 % resolved, 90 % on time
    rows = group_report(lucky + steady, "district", NOW)
    assert [r["district"] for r in rows] == ["steady", "lucky"]
    assert rows[0]["rating"] > 50 > 20 > rows[1]["rating"]


def test_too_few_cases_and_units_nobody_answers_for_get_no_rank() -> None:
    good = [facts(f"g{i}", district="good", status="resolved", resolved_at=NOW - 47 * H) for i in range(5)]
    small = [facts("s1", district="small")]
    rows = group_report(sample() + good + small, "district", NOW, labels={"good": "Good district"})
    assert [r["district"] for r in rows] == ["good", "nevskiy", "small"]
    assert rows[0]["name"] == "Good district" and rows[0]["rank"] == 1
    assert rows[0]["rating"] == pytest.approx(100 * wilson_low(5, 5), abs=0.05)  # perfect, but only 5 cases
    assert rows[1]["rank"] == 2 and rows[1]["rating"] < rows[0]["rating"]
    assert rows[2]["rating"] is None and rows[2]["rank"] is None  # one case says nothing about a district
    triage = [facts(f"t{i}", department="triage", status="resolved", resolved_at=NOW - 47 * H) for i in range(9)]
    unrouted = [facts(f"u{i}", department="") for i in range(9)]
    by_department = group_report(sample() + triage + unrouted, "department", NOW, unranked=("triage",))
    ranked = {r["department"]: r["rank"] for r in by_department}
    assert ranked == {"dept.a": 1, "triage": None, "unassigned": None}
    with pytest.raises(ValueError, match="cannot group by"):
        group_report([], "kind", NOW)


def test_satisfaction_is_folded_where_citizens_rate() -> None:
    folded = apply_event(None, event("c1", "verified", NOW, "verified", 1, satisfied=False), RES)
    assert folded is not None and folded.satisfied is False
    assert apply_event(None, event("c2", "resolved", NOW, "resolved", 1), RES).satisfied is None  # type: ignore[union-attr]
    s = summarize([folded, facts("x", satisfied=True), facts("y")], NOW)
    assert s["satisfaction_rate"] == 0.5


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
