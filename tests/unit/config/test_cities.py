"""The committed city folders load, hang together, and are what ``cityops build-city`` writes."""

from __future__ import annotations

import pytest

from config import load_city
from config.loader import CITIES_DIR
from streams.cli import main


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


@pytest.mark.parametrize("city", ["nyc", "spb"])
def test_the_city_folder_is_what_build_city_writes(tmp_path, city):
    history = load_city(city).history.data
    if not history.exists():
        pytest.skip(f"shared {city} data not available")
    out = tmp_path / city
    assert main(["build-city", city, "--history", str(history), "--out", str(out)]) == 0
    for name in ("districts.yaml", "taxonomy.yaml", "departments.yaml"):
        assert (out / name).read_text(encoding="utf-8") == (CITIES_DIR / city / name).read_text(encoding="utf-8")
    assert load_city(str(out)).history == load_city(city).history
