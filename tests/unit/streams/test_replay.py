"""Replay reads any city's history through its format: events in time order, districts as the city names them."""

from __future__ import annotations

from config import load_city
from streams.cli import main
from streams.replay import load_events

CSV = """n,when,what,kind,area,lat,lon
2,2024-05-02 10:00:00,Trash on the corner,Garbage,North,51.1,71.4
1,2024-05-01 09:00:00,Pothole again,Roads,South,51.2,71.5
"""


def test_a_built_city_replays_its_history_in_time_order(tmp_path):
    (tmp_path / "h.csv").write_text(CSV)
    (tmp_path / "c.yaml").write_text("id: n\ncreated: when\ntext: what\ntaxonomy: kind\ndistrict: area\nlat: lat\n"
                                     "lon: lon\n")  # fmt: skip
    folder = tmp_path / "astana"
    assert main(["build-city", str(folder), "--history", str(tmp_path / "h.csv"), "--columns",
                 str(tmp_path / "c.yaml")]) == 0  # fmt: skip
    events = load_events(None, city=load_city(str(folder)))
    assert [(e.event_id, e.text, e.district) for e in events] == [("h-1", "Pothole again", "south"),
                                                                  ("h-2", "Trash on the corner", "north")]
    assert events[0].received_at == 1714554000.0 and events[0].language == ""  # detected by the hotline stage
    assert [e.event_id for e in load_events(None, 1, latest=True, city=load_city(str(folder)))] == ["h-2"]
