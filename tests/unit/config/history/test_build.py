"""build-city from a file the project has never seen: a small CSV described by a columns file."""

from __future__ import annotations

import json
import random
from collections import Counter

import pytest
import yaml

from config import load_city
from config.history import Columns, ColumnsFormat, HistoryError
from config.history.build import convex_hull, geojson_districts, taxonomy_nodes
from config.history.ids import CityLabels
from streams.cli import main

COLUMNS = """format: csv
id: unique_key
created: created_date
text: [complaint_type, descriptor]
taxonomy: [category, complaint_type]
department: agency_name
lat: latitude
lon: longitude
address: incident_address
district: supervisor_district
"""
KINDS = [("Streets", "Pothole", "Public Works"), ("Streets", "Graffiti", "Public Works"),
         ("Housing", "No heat", "Building Inspection"), ("Housing", "Other", "Building Inspection"),
         ("Parks", "Other", "Recreation and Parks")]  # fmt: skip


def _history(path, rows=120):
    rnd = random.Random(7)
    lines = ["unique_key,created_date,category,complaint_type,descriptor,agency_name,latitude,longitude,"
             "incident_address,supervisor_district"]  # fmt: skip
    for i in range(rows):
        cat, ctype, agency = KINDS[i % len(KINDS)]
        district = ("District 1", "District 2")[i % 2]
        lat = 37.70 + 0.05 * (i % 2) + rnd.random() * 0.04
        lon = -122.50 + rnd.random() * 0.05
        place = f"{lat:.5f},{lon:.5f}" if i % 10 else "0,0"
        lines.append(f"{i},2024-01-{1 + i % 28:02d}T10:00:00,{cat},{ctype},{ctype} near house {i},{agency},{place},"
                     f"{i} Market St,{district}")  # fmt: skip
    path.write_text("\n".join(lines) + "\n")


def test_a_city_is_built_from_a_described_csv_and_check_config_accepts_it(tmp_path, capsys, monkeypatch):
    _history(tmp_path / "sf.csv")
    (tmp_path / "sf.columns.yaml").write_text(COLUMNS)
    folder = tmp_path / "cities" / "sf"
    assert main(["build-city", str(folder), "--history", str(tmp_path / "sf.csv"),
                 "--columns", str(tmp_path / "sf.columns.yaml"), "--name", "San Francisco"]) == 0  # fmt: skip
    assert {p.name for p in folder.iterdir()} == {"city.yaml", "districts.yaml", "taxonomy.yaml", "departments.yaml",
                                                  "routing.yaml", "case_kinds.yaml", "cameras.yaml", "history.yaml"}
    monkeypatch.setenv("CITYOPS_CITY", str(folder))
    assert main(["check-config"]) == 0
    assert "ok — 2 districts, 8 taxonomy nodes, 3 departments" in capsys.readouterr().out
    city = load_city(str(folder))
    assert city.city.name == "San Francisco" and city.cameras == [] and city.city.languages == ["en"]
    assert {d.name for d in city.departments} == {"Public Works", "Building Inspection", "Recreation and Parks"}
    for district in city.districts:  # outlines from the points of each district, 0,0 left out
        assert len(district.polygon) >= 3 and all(37.6 < lat < 37.8 for lat, _ in district.polygon)
    # "Other" under Housing and under Parks are two nodes; every row maps to configured ids.
    others = [n for n in city.taxonomy.nodes if n.label == "Other"]
    assert len(others) == 2 and len({n.parent for n in others}) == 2
    labels = CityLabels(city, ColumnsFormat(city.history.columns))
    records = list(ColumnsFormat(city.history.columns).read(city.history.data))
    assert all(all(labels.levels(r)) and labels.department(r.department) and labels.district(r.district)
               for r in records)  # fmt: skip


def test_districts_come_from_geojson_when_given(tmp_path):
    square = [[-122.5, 37.7], [-122.4, 37.7], [-122.4, 37.8], [-122.5, 37.8], [-122.5, 37.7]]
    geo = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": "Mission"},
         "geometry": {"type": "Polygon", "coordinates": [square]}},
        {"type": "Feature", "properties": {"code": "X"}, "geometry": {"type": "Point", "coordinates": [0, 0]}}]}
    path = tmp_path / "d.geojson"
    path.write_text(json.dumps(geo))
    fmt = ColumnsFormat(Columns())
    with pytest.raises(HistoryError, match=r"feature 1 .X. is not a Polygon"):
        geojson_districts(fmt, path)
    geo["features"].pop()
    path.write_text(json.dumps(geo))
    (district,) = geojson_districts(fmt, path)
    assert district["id"] == "mission" and district["polygon"][1] == [37.7, -122.4]
    assert district["center"] == {"lat": 37.74, "lon": -122.46}


def test_taxonomy_nodes_take_the_commonest_parent_and_hull_is_convex():
    fmt = ColumnsFormat(Columns(taxonomy=["a", "b"]))
    nodes = taxonomy_nodes(fmt, Counter({("X", "y"): 3, ("Z", "y"): 1, ("Z", "w"): 1}))
    assert [(n["label"], n["level"]) for n in nodes] == [("X", 0), ("y", 1), ("Z", 0), ("w", 1), ("y", 1)]
    assert len({n["id"] for n in nodes}) == 5  # a label under two parents is two nodes in a columns city
    square = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0), (0.5, 0.5)]
    assert sorted(convex_hull(square)) == sorted(square[:4])


def test_history_yaml_lets_later_commands_need_only_the_city(tmp_path):
    _history(tmp_path / "h.csv", rows=30)
    (tmp_path / "c.yaml").write_text(COLUMNS)
    folder = tmp_path / "town"
    assert main(["build-city", str(folder), "--history", str(tmp_path / "h.csv"), "--columns",
                 str(tmp_path / "c.yaml")]) == 0  # fmt: skip
    mapping = yaml.safe_load((folder / "history.yaml").read_text())["history"]
    assert mapping["format"] == "columns" and mapping["columns"]["taxonomy"] == ["category", "complaint_type"]
    assert load_city(str(folder)).history.data == (tmp_path / "h.csv").resolve()


def test_a_history_without_coordinates_takes_the_given_centre(tmp_path, capsys):
    (tmp_path / "h.csv").write_text("id,text,cat,region\n1,Жол нашар,дороги,Астана\n2,Су жоқ,ЖКХ,Алматы\n")
    (tmp_path / "c.yaml").write_text("id: id\ntext: text\ntaxonomy: cat\ndistrict: region\n")
    folder = tmp_path / "kz"
    assert main(["build-city", str(folder), "--history", str(tmp_path / "h.csv"), "--columns",
                 str(tmp_path / "c.yaml"), "--center", "51.16,71.47"]) == 0  # fmt: skip
    city = load_city(str(folder))
    assert (city.city.center.lat, city.city.center.lon) == (51.16, 71.47)
    assert [(d.name, d.center.lat, d.polygon) for d in city.districts] == [("Алматы", 51.16, []), ("Астана", 51.16, [])]
    assert main(["build-city", str(folder), "--history", str(tmp_path / "h.csv"), "--columns",
                 str(tmp_path / "c.yaml"), "--center", "north"]) != 0  # fmt: skip
    assert "--center: expected LAT,LON" in capsys.readouterr().err
