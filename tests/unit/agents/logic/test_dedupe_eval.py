"""The dedupe replay over a city's history: reports grouped by their true categories, duplicates checked."""

from __future__ import annotations

import json

from agents.logic.dedupe_eval import history_reports, replay
from config import load_city
from streams.cli import main


def test_history_reports_merge_near_same_category_reports(tmp_path):
    rows = [
        {"unique_key": "1", "created_date": "2020-01-01T10:00:00", "complaint_type": "Noise", "descriptor": "Loud",
         "agency": "NYPD", "borough": "BRONX", "latitude": 40.85, "longitude": -73.9, "incident_address": "1 A St"},
        {"unique_key": "2", "created_date": "2020-01-01T11:00:00", "complaint_type": "Noise", "descriptor": "Loud",
         "agency": "NYPD", "borough": "BRONX", "latitude": 40.85001, "longitude": -73.9, "incident_address": "1 A St",
         "resolution_description": "duplicate of an earlier report"},
        {"unique_key": "3", "created_date": "2020-01-01T12:00:00", "complaint_type": "Pothole", "descriptor": "Big",
         "agency": "DOT", "borough": "BRONX", "latitude": 40.85, "longitude": -73.9, "incident_address": "1 A St"},
    ]  # fmt: skip
    (tmp_path / "nyc.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    folder = tmp_path / "city"
    assert main(["build-city", str(folder), "--history", str(tmp_path / "nyc.jsonl")]) == 0
    city = load_city(str(folder))
    reports = history_reports(city)
    assert [r.group for r in reports] == ["general:r.noise.loud", "general:r.noise.loud", "general:r.pothole.big"]
    assert [r.marked_duplicate for r in reports] == [False, True, False] and reports[1].original_in_data
    result = replay(reports, {}, (30.0, 72 * 3600.0))
    assert (result.reports, result.cases, result.marked_duplicates_merged) == (3, 2, 1)
