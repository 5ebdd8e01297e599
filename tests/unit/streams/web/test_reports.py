"""Reports over HTTP from analytics facts in a real Redis: JSON, CSV, GeoJSON, heat layer and PNG."""

from __future__ import annotations

import csv
import io
import json
import time

import h3

from agents.logic.analytics import CaseFacts
from streams.redis_keys import ANALYTICS_FACTS
from tests.unit.streams.web.harness import DEPT_A, DEPT_B, WebHarness, api, web

__all__ = ["api", "web"]

H = 3600.0


def seed_facts(api: WebHarness) -> float:
    now = time.time()
    spot = (59.9343, 30.3351)
    cases = [
        CaseFacts(f"A{i}", status="resolved" if i < 4 else "dispatched", kind="garbage",
                  category="c.sanitarnoe_sostoyanie", district="tsentralnyy", department=DEPT_A,
                  lat=spot[0], lon=spot[1],
                  cell=h3.latlng_to_cell(*spot, 8), opened_at=now - 10 * H, first_observed_at=now - 10 * H,
                  sla_deadline=now - 2 * H, resolved_at=now - 8 * H if i < 4 else 0.0, reports=2 if i == 0 else 1)
        for i in range(5)
    ]
    cases += [
        CaseFacts(f"B{i}", status="dispatched", kind="street_vending", category="c.torg", district="nevskiy",
                  department=DEPT_B, lat=59.88, lon=30.45, cell=h3.latlng_to_cell(59.88, 30.45, 8),
                  opened_at=now - 5 * H, sla_deadline=now - H)
        for i in range(3)
    ]
    cases.append(CaseFacts("OLD", status="closed", district="nevskiy", department=DEPT_B, opened_at=now - 400 * 24 * H))
    api.run(api.redis.hset(ANALYTICS_FACTS, mapping={c.case_id: json.dumps(c.to_json()) for c in cases}))
    return now


def test_report_rates_ranks_and_labels(api: WebHarness) -> None:
    seed_facts(api)
    reply = api.call("GET", "/api/reports?days=30", who="operator")
    assert reply.status == 200
    body = reply.body
    assert body["cases"] == 8 and body["took_s"] < 5  # the case opened 400 days ago is outside the window
    assert body["city"]["volume"] == 8 and body["city"]["resolved"] == 4
    districts = {row["district"]: row for row in body["districts"]}
    centre = districts["tsentralnyy"]
    assert centre["name"] == "Центральный" and centre["rank"] == 1
    assert centre["resolution_rate"] == 0.8 and centre["on_time_rate"] == 0.8 and centre["repeat_rate"] == 0.2
    assert centre["median_hours_to_resolve"] == 2.0
    assert centre["top_problems"][0]["label"] == "Санитарное состояние"
    assert districts["nevskiy"]["rating"] is None  # three cases: too few to rate
    spot = body["hot_spots"][0]
    assert spot["cases"] == 5 and spot["districts"] == ["tsentralnyy"]
    everything = api.call("GET", "/api/reports?days=0", who="operator").body
    assert everything["cases"] == 9


def test_a_department_report_covers_only_its_cases_and_crews_get_none(api: WebHarness) -> None:
    seed_facts(api)
    body = api.call("GET", "/api/reports", who="dept_b").body
    assert body["cases"] == 3 and [r["department"] for r in body["departments"]] == [DEPT_B]
    assert api.call("GET", "/api/reports", who="crew_a").status == 403


def rows_of(body: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body.decode())))


def test_csv_exports(api: WebHarness) -> None:
    seed_facts(api)
    reply = api.call("GET", "/api/reports/districts.csv", who="operator")
    assert reply.status == 200 and reply.headers["Content-Type"].startswith("text/csv")
    assert 'filename="districts.csv"' in reply.headers["Content-Disposition"]
    rows = rows_of(reply.body)
    assert rows[0]["district"] == "tsentralnyy" and rows[0]["rank"] == "1" and rows[0]["volume"] == "5"
    departments = rows_of(api.call("GET", "/api/reports/departments.csv", who="admin").body)
    assert {r["department"] for r in departments} == {DEPT_A, DEPT_B}
    cases = rows_of(api.call("GET", "/api/reports/cases.csv", who="operator").body)
    assert len(cases) == 8 and {"case_id", "status", "sla_deadline", "resolved_at"} <= set(cases[0])


def test_geojson_exports(api: WebHarness) -> None:
    seed_facts(api)
    points = api.call("GET", "/api/reports/cases.geojson", who="operator").body
    assert points["type"] == "FeatureCollection" and len(points["features"]) == 8
    assert points["features"][0]["geometry"]["type"] == "Point"
    spots = api.call("GET", "/api/reports/hotspots.geojson?min_cases=3", who="operator").body
    assert [f["properties"]["cases"] for f in spots["features"]] == [5, 3]
    assert spots["features"][0]["geometry"]["type"] == "Polygon"


def test_heat_layer_and_png(api: WebHarness) -> None:
    seed_facts(api)
    heat = api.call("GET", "/api/reports/heat", who="operator").body
    assert heat["resolution"] == 8 and [c["cases"] for c in heat["cells"]] == [5, 3]
    assert len(heat["cells"][0]["boundary"]) == 6
    png = api.call("GET", "/api/reports/heatmap.png", who="operator")
    assert png.status == 200 and png.headers["Content-Type"] == "image/png"
    assert png.body[:8] == b"\x89PNG\r\n\x1a\n" and len(png.body) > 10_000
