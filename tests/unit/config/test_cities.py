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


def test_nyc_folder_is_what_the_generator_writes(tmp_path):
    import pytest

    from config.loader import CITIES_DIR
    from detectors.text.cities import build_nyc
    from detectors.text.datasets import DEFAULT_DATA

    if not DEFAULT_DATA["nyc"].exists():
        pytest.skip("shared NYC data not available")
    build_nyc(out_dir=tmp_path)
    for name in ("districts.yaml", "taxonomy.yaml", "departments.yaml"):
        assert (tmp_path / name).read_text(encoding="utf-8") == (CITIES_DIR / "nyc" / name).read_text(encoding="utf-8")


def test_cn_folder_builds_and_loads(tmp_path):
    import pytest

    from detectors.text.cities import build_cn
    from detectors.text.datasets import DEFAULT_DATA

    if not DEFAULT_DATA["cn"].exists():
        pytest.skip("shared Chinese data not available")
    city = load_city(build_cn(tmp_path / "cn"))
    top = [n for n in city.taxonomy.nodes if n.level == 0]
    assert city.taxonomy.levels == ["level1", "level2", "level3"] and len(top) == 15
    assert {n.label for n in top} >= {"城乡建设", "环境保护", "交通运输"}
