"""The analyzer and router on real-looking complaints, with a small model trained here from shared data."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from config import load_city
from detectors.text import ComplaintAnalyzer, RouteQuery, load_router
from detectors.text.artifacts import artifact_paths, save_bundle
from detectors.text.datasets import read_complaints
from schemas.records import HotlineEvent

pytest.importorskip("sklearn")
from detectors.text.train import TrainSettings, train_models
from tests import REPO_ROOT

REPO = REPO_ROOT
COMPLAINTS = [
    ("Во дворе не вывозят мусор уже неделю, контейнеры переполнены", 59.9343, 30.3351, ""),
    ("Надписи и объявления на стенах парадной, грязно", None, None, "ул. Мебельная, д. 47 к. 1"),
    ("Не горит фонарь у дома, на улице темно. Тел. +7 921 123-45-67", None, None, ""),
    ("Сосульки на крыше над входом, опасно", 59.87, 30.26, "г.Санкт-Петербург, Ленинский проспект, дом 147, литера А"),
    ("Незаконная торговля овощами с лотка у метро", 59.95, 30.41, ""),
    ("", None, None, ""),
    ("😀😀😀 " * 2000, 0.0, 0.0, ""),
    ("Garbage near the bus stop, nobody cleans it", 59.93, 30.31, ""),
    ("楼下垃圾没人清理", None, None, ""),
]


def _event(text, lat, lon, address, district=""):
    return HotlineEvent(
        schema_version=1,
        event_id="t",
        channel="app",
        received_at=0.0,
        text=text,
        lat=lat,
        lon=lon,
        address=address,
        district=district,
        language="",
        service_code="",
    )


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    if not load_city("spb").history.data.exists():
        pytest.skip("shared SPb data not available")
    city = load_city("spb")
    rows = read_complaints(city, limit=900)
    bundle = train_models(city, rows, TrainSettings(folds=2), progress=lambda _m: None)
    folder = tmp_path_factory.mktemp("models")
    save_bundle(bundle, "spb", folder)
    return city, folder


def test_analyze_gives_valid_ids_and_confidences(models):
    city, folder = models
    analyzer = ComplaintAnalyzer.load(city, folder)
    nodes = city.taxonomy.by_id()
    districts = {d.id for d in city.districts}
    kinds = {k.id for k in city.case_kinds}
    out = analyzer.analyze([_event(*c) for c in COMPLAINTS])
    assert len(out) == len(COMPLAINTS)
    for a in out:
        assert nodes[a.city_object].level == 0 and nodes[a.category].level == 1 and nodes[a.reason].level == 2
        assert (
            nodes[a.reason].parent == a.category or a.reason == "r.neubrannyy_sneg"
        )  # one reason sits in two categories
        assert 0.0 <= a.confidence <= 1.0 and 0.0 <= a.reason_confidence <= 1.0
        assert a.kind in kinds and a.kind == city.kind_for(a.reason, a.category)
        assert a.precision in {"exact", "address", "district", "city"}
        assert a.district in districts or a.precision == "city"
    assert out[0].precision == "exact" and out[0].language == "ru"
    assert "[PHONE]" in out[2].text and "921" not in out[2].text
    assert out[5].language == "und" and out[6].precision == "city"  # (0, 0) is no place
    assert len(out[6].text) <= 4000
    assert (out[7].language, out[8].language) == ("en", "zh")
    assert analyzer.analyze([]) == []


def test_district_named_by_the_event_is_kept(models):
    city, folder = models
    a = ComplaintAnalyzer.load(city, folder).analyze([_event("мусор", None, None, "", "Невский")])[0]
    assert (a.district, a.precision) == ("nevskiy", "district")


def test_router_on_analyses(models):
    city, folder = models
    analyses = ComplaintAnalyzer.load(city, folder).analyze([_event(*c) for c in COMPLAINTS[:5]])
    router = load_router(city, folder)
    decisions = router.route([RouteQuery(a.kind, a.category, a.reason, a.district, a.text) for a in analyses])
    departments = {d.id for d in city.departments} | {city.routing.triage_department}
    for d in decisions:
        assert d.department in departments and 0.0 <= d.confidence <= 1.0
        assert d.source in {"rule", "model", "triage"} and d.auto == (d.source != "triage")


def test_runtime_needs_neither_sklearn_nor_scipy(models):
    _city, folder = models
    code = (
        "import sys; sys.modules['sklearn'] = None; sys.modules['scipy'] = None\n"
        "from config import load_city\nfrom detectors.text import ComplaintAnalyzer, load_router\n"
        f"c = load_city('spb'); a = ComplaintAnalyzer.load(c, {str(folder)!r}); load_router(c, {str(folder)!r})\n"
        "class E: text='мусор во дворе'; lat=None; lon=None; address=''; district=''; language=''\n"
        "print(a.analyze([E()])[0].category)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().startswith("c.")


@pytest.mark.parametrize("city_id", ["spb", "nyc"])
def test_shipped_artifacts_load_and_analyze(city_id):
    npz, _json = artifact_paths(city_id)
    if not npz.exists():
        pytest.skip(f"no shipped artifacts for {city_id}")
    city = load_city(city_id)
    analyses = ComplaintAnalyzer.load(city).analyze(
        [_event("Loud music party all night", None, None, ""), _event("Мусор во дворе", 59.93, 30.31, "")]
    )
    nodes = city.taxonomy.by_id()
    assert all(a.category in nodes and 0 <= a.confidence <= 1 for a in analyses)


def test_spatial_prior_survives_save_and_load(models, tmp_path):
    """The trained dispatch model carries its place history; written again and read back it routes the same."""
    city, folder = models
    from detectors.text.artifacts import load_bundle

    bundle = load_bundle(city, folder)
    model = bundle.dispatch
    assert model is not None and model.spatial is not None and model.spatial_weights is not None
    assert all(len(t.keys) > 0 and np.all(np.diff(t.keys) > 0) for t in model.spatial.tables)
    save_bundle(bundle, "spb", tmp_path)
    again = load_bundle(city, tmp_path)
    rows = read_complaints(city, limit=60)
    queries = [RouteQuery("general", "c.soderzhanie_mkd", "", r.district, r.text, r.lat, r.lon) for r in rows]
    first = model.probabilities(bundle.scorer, queries)
    second = again.dispatch.probabilities(again.scorer, queries)
    assert np.allclose(first, second, atol=1e-4)
    # Repeated petitions in the history (SPb n_petitions > 1) give the model its repeat weights, kept on save.
    assert any(r.petition > 1 for r in read_complaints(city, limit=900))
    assert model.repeat_weights is not None and again.dispatch.repeat_weights is not None
    repeats = [RouteQuery(q.kind, q.category, q.reason, q.district, q.text, q.lat, q.lon, petition=2) for q in queries]
    assert np.allclose(model.probabilities(bundle.scorer, repeats), again.dispatch.probabilities(again.scorer, repeats),
                       atol=1e-4)
    assert not np.allclose(first, model.probabilities(bundle.scorer, repeats), atol=1e-3)
    # Where the appeals were made matters: the same queries without their points score differently.
    pointless = [RouteQuery(q.kind, q.category, q.reason, q.district, q.text) for q in queries]
    assert not np.allclose(first, model.probabilities(bundle.scorer, pointless), atol=1e-3)


def test_an_open311_service_code_is_the_reporters_own_classification():
    """A leaf code fixes reason and category; a category code keeps the model's reason only inside it."""
    city = load_city("spb")
    analyzer = ComplaintAnalyzer.load(city)
    nodes = city.taxonomy.by_id()
    text = "A large sinkhole is destroying the street"
    leaf = "r.realizatsiya_tovarov_v_mestakh_ne_prednaznachennykh_dlya_tor"
    by_model, by_leaf, by_category, unknown = analyzer.analyze([
        _event(text, 59.9311, 30.3609, ""),
        HotlineEvent(**{**_event(text, 59.9311, 30.3609, "").asdict(), "service_code": leaf}),
        HotlineEvent(**{**_event(text, 59.9311, 30.3609, "").asdict(), "service_code": "c.sanitarnoe_sostoyanie"}),
        HotlineEvent(**{**_event(text, 59.9311, 30.3609, "").asdict(), "service_code": "no-such-code"}),
    ])
    assert (by_leaf.reason, by_leaf.category) == (leaf, nodes[leaf].parent)
    assert by_leaf.kind == "street_vending" and by_leaf.confidence == by_leaf.reason_confidence == 1.0
    assert by_category.category == "c.sanitarnoe_sostoyanie" and by_category.kind == "garbage"
    assert by_category.reason == "" or nodes[by_category.reason].parent == "c.sanitarnoe_sostoyanie"
    assert (unknown.category, unknown.reason, unknown.confidence) == (
        by_model.category, by_model.reason, by_model.confidence)


def test_the_shipped_model_sends_a_repeated_petition_to_the_district_administration():
    """A first stairwell or lift appeal goes to the district's housing agency, a repeat to its administration."""
    city = load_city("spb")
    analyzer, router = ComplaintAnalyzer.load(city), load_router(city)
    texts = ("В парадной не убирают уже месяц, грязь на лестнице и мусор.", "Не работает лифт во втором подъезде")
    for lat, lon, district in ((59.865, 30.321, "moskovskogo"), (59.838, 30.245, "kirovskogo")):
        for text in texts:
            first, repeat = (
                router.route([analyzer.analyze([HotlineEvent(**{**_event(text, lat, lon, "").asdict(),
                                                                "petition": p})])[0].route_query(False, p)])[0]
                for p in (1, 2)
            )  # fmt: skip
            assert first.department == f"org.spb_gku_zha_{district}_rayona", (text, first)
            assert repeat.department == f"org.administratsiya_{district}_rayona", (text, repeat)
