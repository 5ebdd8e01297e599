"""The NYC city folder loads and hangs together."""

from __future__ import annotations

from config import load_city


def test_nyc_loads():
    city = load_city("nyc")
    assert city.city.id == "nyc"
    assert {d.id for d in city.districts} == {"bronx", "brooklyn", "manhattan", "queens", "staten_island"}
    assert city.taxonomy.levels == ["complaint_type", "descriptor"]
    assert city.default_kind == "general"
    assert "org.nypd" in {d.id for d in city.departments}


def test_nyc_taxonomy_and_kinds():
    city = load_city("nyc")
    nodes = city.taxonomy.by_id()
    assert all(n.parent in nodes for n in city.taxonomy.nodes if n.level == 1)
    assert city.kind_for("", "c.noise_residential") == "noise"
    assert city.kind_for("r.heating.heat", "c.heating") == "general"
    for district in city.districts:
        assert 40.4 < district.center.lat < 41.0 and -74.3 < district.center.lon < -73.6
