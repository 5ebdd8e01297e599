"""The spatial prior: who answered the appeals made around a point before, smoothed toward the district."""

from __future__ import annotations

import numpy as np

from config import load_city
from detectors.text.features import TextFeatures
from detectors.text.routing import DispatchModel, RouteQuery, Router
from detectors.text.scoring import LinearScorer
from detectors.text.spatial import METRES_PER_DEGREE, Scale, SpatialPrior, held_out_features
from detectors.text.train_dispatch import department_roles, department_scores

LAT, LON = 59.95, 30.30
BUILDING = Scale(10.0, 0, False)
BLOCK = Scale(50.0, 1, False)


def _history():
    """Two districts; in district 0 one building (12 appeals) always went to class 2, the rest 0/1 evenly."""
    rng = np.random.default_rng(0)
    n = 400
    lat = LAT + rng.uniform(-0.02, 0.02, n)
    lon = LON + rng.uniform(-0.04, 0.04, n)
    labels = rng.integers(0, 2, n)
    districts = (lon > LON).astype(np.int64)
    lat[:12], lon[:12], labels[:12], districts[:12] = LAT + 0.00003, LON - 0.01, 2, 0
    return lat, lon, labels, np.zeros(n, np.int64), districts


def _prior(scales=(BUILDING, BLOCK)):
    lat, lon, labels, groups, districts = _history()
    return SpatialPrior.count(scales, lat, lon, labels, groups, districts, 3, 2, LAT)


def test_a_building_whose_history_went_to_one_class_favours_it():
    prior = _prior()
    f = prior.features(np.array([LAT + 0.00003]), np.array([LON - 0.01]), np.zeros(1, int), np.zeros(1, int))
    building = f[0, :3]
    assert building.argmax() == 2
    assert building[2] > np.log(3)  # 12 appeals of 12 against a district share of ~3 %: much more likely
    assert building[0] < 0 and building[1] < 0


def test_a_place_without_history_and_a_missing_point_fall_back_to_the_district():
    prior = _prior()
    far = prior.features(np.array([LAT + 0.5, np.nan]), np.array([LON + 0.5, np.nan]), np.zeros(2, int),
                         np.array([1, 2]))  # fmt: skip
    assert np.all(far == 0.0)  # log(p_district / p_district)
    # The district prior itself: district 1 never saw class 2, district 0 did (the building).
    assert prior.district_prior[1, 2] < 0.01 < prior.district_prior[0, 2]
    assert np.allclose(prior.district_prior.sum(1), 1.0)


def test_groups_keep_categories_apart():
    lat = np.full(6, LAT)
    lon = np.full(6, LON)
    labels = np.array([0, 0, 0, 1, 1, 1])
    groups = np.array([0, 0, 0, 1, 1, 1])
    prior = SpatialPrior.count([Scale(10.0, 0, True)], lat, lon, labels, groups, np.zeros(6, int), 2, 1, LAT,
                               n_groups=2)  # fmt: skip
    f = prior.features(np.full(2, LAT), np.full(2, LON), np.array([0, 1]), np.zeros(2, int))
    assert f[0].argmax() == 0 and f[1].argmax() == 1


def test_the_ring_reaches_the_next_cell_only():
    lat, lon = np.array([LAT]), np.array([LON])
    prior = SpatialPrior.count([BLOCK], lat, lon, np.array([1]), np.zeros(1, int), np.zeros(1, int), 2, 1, LAT)
    step = 50.0 / METRES_PER_DEGREE
    near = prior.counts(0, np.array([LAT + step]), lon, np.zeros(1, int))
    far = prior.counts(0, np.array([LAT + 3 * step]), lon, np.zeros(1, int))
    assert near.tolist() == [[0.0, 1.0]] and far.tolist() == [[0.0, 0.0]]


def test_batched_lookups_equal_one_by_one():
    prior = _prior()
    rng = np.random.default_rng(1)
    lat = np.concatenate([LAT + rng.uniform(-0.02, 0.02, 50), [LAT + 0.00003, np.nan]])
    lon = np.concatenate([LON + rng.uniform(-0.04, 0.04, 50), [LON - 0.01, np.nan]])
    groups, districts = np.zeros(52, int), (lon > LON).astype(int)
    batched = prior.features(lat, lon, groups, districts)
    single = np.vstack([prior.features(lat[i : i + 1], lon[i : i + 1], groups[:1], districts[i : i + 1])
                        for i in range(52)])  # fmt: skip
    assert np.array_equal(batched, single)
    assert np.any(batched[:50] != 0.0)


def test_training_rows_never_see_their_own_time_fold():
    # Rows alternate building / far away; four folds of two rows. Building appeals: class 0, 0, 0, then 1.
    lat = np.array([LAT, LAT + 0.1] * 4)
    lon = np.full(8, LON)
    labels = np.array([0, 1, 0, 1, 0, 1, 1, 1])
    f = held_out_features([BUILDING], lat, lon, labels, np.zeros(8, int), np.zeros(8, int), 2, 1, LAT, 4, 1)
    # The last building row sees only the three class-0 appeals there, not its own class-1 answer.
    assert f[6, 0] > 0 > f[6, 1]
    # The first one sees two class-0 appeals and the class-1 one: class 1 is less unlikely for it.
    assert f[0, 1] > f[6, 1]


def test_district_roles_share_one_role_and_keep_their_district():
    city = load_city("spb")
    deps = ["org.administratsiya_nevskogo_rayona", "org.administratsiya_kirovskogo_rayona",
            "org.spb_gku_zha_nevskogo_rayona", "org.spb_gku_tsentr_kompleksnogo_blagoustroystva"]  # fmt: skip
    roles = department_roles(city, deps)
    assert roles.of[0] == roles.of[1] != roles.of[2]
    district = [d.id for d in city.districts]
    assert district[roles.home[0]] == "nevskiy" and district[roles.home[1]] == "kirovskiy"
    assert roles.home[3] == -1  # "Центр комплексного благоустройства" is not the Central district's
    scores = np.zeros((1, len(roles.names)))
    scores[0, roles.of[0]] = 1.0
    out = department_scores(scores, np.array([district.index("kirovskiy")]), roles, len(district))
    assert out[0].argmax() == 1


def test_router_uses_the_point_of_the_query():
    """Same text, same district: the building's history decides between two departments."""
    city = load_city("spb")
    labels = ["org.a", "org.b", "org.c"]
    prior = _prior((BUILDING,))
    features = TextFeatures([], np.zeros(0), np.zeros(0, np.uint32), np.zeros(0, np.uint64), np.zeros(0), (3, 4), True)
    text = np.zeros((features.n_cols + 1, 3), np.float32)
    model = DispatchModel(
        labels=labels, text_weights=text, bias=np.array([0.5, 0.0, 0.0], np.float32),
        reason_district=np.zeros((1, 3, 3), np.float32), category_district=np.zeros((1, 3, 3), np.float32),
        reasons=[], categories=[], districts=["nevskiy", "kirovskiy"], temperature=3.0,
        spatial=prior, spatial_weights=np.eye(3, dtype=np.float32),
    )  # fmt: skip
    scorer = LinearScorer(features, {"dispatch": (text, np.zeros(3, np.float32))})
    router = Router(city, scorer, model, threshold=0.0)
    at_building = RouteQuery("general", "c.x", "r.x", "nevskiy", "", LAT + 0.00003, LON - 0.01)
    elsewhere = RouteQuery("general", "c.x", "r.x", "nevskiy", "", LAT + 0.5, LON + 0.5)
    no_point = RouteQuery("general", "c.x", "r.x", "nevskiy", "")
    decisions = router.route([at_building, elsewhere, no_point])
    assert [d.department for d in decisions] == ["org.c", "org.a", "org.a"]
    assert [d.department for q in (at_building, elsewhere, no_point) for d in router.route([q])] == [
        d.department for d in decisions
    ]


def test_evaluation_routes_with_the_geocoded_point_but_not_a_centre():
    from detectors.text.analyzer import ComplaintAnalysis
    from detectors.text.evaluate import _queries

    def analysis(precision):
        return ComplaintAnalysis("ru", "x", "", "c.x", "r.x", 0.9, 0.8, "general", LAT, LON, precision, "nevskiy")

    from schemas.records import HotlineEvent

    events = [
        HotlineEvent(schema_version=1, event_id=f"e{i}", channel="replay", received_at=1.0, text="x", address=address,
                     petition=petition)
        for i, (address, petition) in enumerate([("", 1), ("x", 2), ("", 1), ("", 1)])
    ]  # fmt: skip
    queries = _queries([analysis(p) for p in ("exact", "address", "district", "city")], events)
    assert [(q.lat, q.lon) for q in queries] == [(LAT, LON), (LAT, LON), (None, None), (None, None)]
    assert [q.has_address for q in queries] == [False, True, False, False]
    assert [q.petition for q in queries] == [1, 2, 1, 1]
