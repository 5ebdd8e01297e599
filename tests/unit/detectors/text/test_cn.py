"""The Chinese hotline city ``cn``: its configuration, and the shipped model on a Chinese complaint."""

from __future__ import annotations

import pytest

from config import load_city
from config.loader import CITIES_DIR
from detectors.text import ComplaintAnalyzer, RouteQuery, load_router
from detectors.text.artifacts import artifact_paths
from schemas.records import HotlineEvent
from streams.cli import main


def test_cn_config_has_the_three_level_taxonomy_and_a_bureau_per_top_class():
    city = load_city("cn")
    assert city.taxonomy.levels == ["level1", "level2", "level3"]
    nodes = city.taxonomy.by_id()
    top = [n for n in city.taxonomy.nodes if n.level == 0]
    assert len(top) == 15
    assert len({n.label for n in city.taxonomy.nodes if n.level == 1}) == 103
    assert len({n.label for n in city.taxonomy.nodes if n.level == 2}) == 390
    assert all(nodes[n.parent].level == n.level - 1 for n in city.taxonomy.nodes if n.parent)
    rules = {r.category: r.department for r in city.routing.rules}
    departments = {d.id for d in city.departments}
    assert {n.id for n in top} == set(rules) and set(rules.values()) == departments
    assert city.city.languages == ["zh"] and city.districts == []


def test_cn_config_is_what_build_city_writes(tmp_path):
    history = load_city("cn").history.data
    if not history.with_name("cn_taxonomy.jsonl").exists():
        pytest.skip("shared Chinese taxonomy not available")
    out = tmp_path / "cn"
    out.mkdir()
    # Hand-written policy is kept by build-city; the sample names no department, so the bureaus are policy too.
    for name in ("city.yaml", "case_kinds.yaml", "routing.yaml", "departments.yaml"):
        (out / name).write_text((CITIES_DIR / "cn" / name).read_text(encoding="utf-8"), encoding="utf-8")
    assert main(["build-city", "cn", "--history", str(history), "--out", str(out)]) == 0
    built, shipped = load_city(str(out)).model_dump(), load_city("cn").model_dump()
    assert built == shipped


def test_a_chinese_complaint_is_classified_redacted_and_routed_to_its_bureau():
    if not artifact_paths("cn")[0].exists():
        pytest.skip("no shipped cn model")
    city = load_city("cn")
    text = "我们小区附近的工地每天晚上施工到凌晨，噪音太大，严重影响居民休息，请有关部门尽快处理。联系电话13812345678"
    event = HotlineEvent(
        schema_version=1, event_id="cn-1", channel="web", received_at=0.0, text=text, lat=None, lon=None,
        address="", district="", language="", service_code="",
    )  # fmt: skip
    analysis = ComplaintAnalyzer.load(city).analyze([event])[0]
    assert analysis.language == "zh"
    assert "13812345678" not in analysis.text and "[PHONE]" in analysis.text
    nodes = city.taxonomy.by_id()
    assert nodes[analysis.category].level == 0 and 0.0 <= analysis.confidence <= 1.0
    decision = load_router(city).route(
        [RouteQuery(analysis.kind, analysis.category, analysis.reason, analysis.district, analysis.text)]
    )[0]
    bureau = {r.category: r.department for r in city.routing.rules}[analysis.category]
    assert (decision.department, decision.source, decision.auto) == (bureau, "rule", True)
