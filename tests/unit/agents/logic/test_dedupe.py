"""Dedupe geometry and grouping, without Redis (the Lua script follows the same rule)."""

from __future__ import annotations

from agents.logic.dedupe import CaseSite, Match, dedupe_group, find_or_create, haversine_m, new_case_id
from config import load_city

CITY = load_city("spb")


def test_haversine_known_distance() -> None:
    # One degree of latitude is ~111.2 km; 0.00045 degrees is ~50 m.
    assert abs(haversine_m(59.9, 30.3, 60.9, 30.3) - 111_226) < 200
    assert 49 < haversine_m(59.9, 30.3, 59.90045, 30.3) < 51


def test_named_kinds_merge_across_taxonomy_general_ones_per_reason() -> None:
    assert dedupe_group(CITY, "garbage", "c.a", "r.x") == dedupe_group(CITY, "garbage", "c.b", "") == "garbage"
    assert dedupe_group(CITY, "general", "c.a", "r.x") != dedupe_group(CITY, "general", "c.a", "r.y")


def test_merge_within_radius_and_window_else_open() -> None:
    sites: list[CaseSite] = []
    assigned: dict[str, Match] = {}
    first = find_or_create(sites, assigned, "o1", 59.9, 30.3, 1000.0, radius_m=50, window_s=3600)
    near = find_or_create(sites, assigned, "o2", 59.9003, 30.3, 1500.0, radius_m=50, window_s=3600)
    far = find_or_create(sites, assigned, "o3", 59.91, 30.3, 1600.0, radius_m=50, window_s=3600)
    late = find_or_create(sites, assigned, "o4", 59.9, 30.3, 1500.0 + 3601, radius_m=50, window_s=3600)
    assert first.outcome == "opened" and first.case_id == new_case_id("o1")
    assert near == Match(first.case_id, "merged", False)
    assert far.outcome == "opened" and far.case_id != first.case_id
    assert late.outcome == "opened"  # the window counts from the case's latest report


def test_redelivered_observation_gets_its_first_answer() -> None:
    sites: list[CaseSite] = []
    assigned: dict[str, Match] = {}
    a = find_or_create(sites, assigned, "o1", 59.9, 30.3, 0.0, radius_m=50, window_s=3600)
    b = find_or_create(sites, assigned, "o1", 59.9, 30.3, 0.0, radius_m=50, window_s=3600)
    assert b == Match(a.case_id, "dup", True) and len(sites) == 1


def test_grid_replay_agrees_with_the_reference_rule() -> None:
    import random

    from agents.logic.dedupe_eval import Report, replay

    rng = random.Random(7)
    reports = [Report(f"r{i}", "garbage", "garbage", 59.9 + rng.uniform(0, 0.003), 30.3 + rng.uniform(0, 0.006),
                      i * 600.0) for i in range(400)]
    result = replay(reports, {"garbage": (50.0, 4 * 3600.0)}, (30.0, 3600.0))
    sites: list[CaseSite] = []
    assigned: dict[str, Match] = {}
    for r in reports:
        find_or_create(sites, assigned, r.report_id, r.lat, r.lon, r.at, radius_m=50, window_s=4 * 3600)
    assert result.cases == len(sites)
    assert 0 < result.cases < len(reports)
