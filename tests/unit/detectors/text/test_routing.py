"""Rules override the dispatch model (most specific wins); low confidence goes to triage."""

from __future__ import annotations

import numpy as np

from config import load_city
from config.models import RoutingRule
from detectors.text.features import TextFeatures
from detectors.text.routing import DispatchModel, RouteQuery, Router, match_rule
from detectors.text.scoring import LinearScorer


def _model(departments, favourite):
    """A dispatch model with no text weights that always prefers ``favourite``."""
    features = TextFeatures([], np.zeros(0), np.zeros(0, np.uint32), np.zeros(0, np.uint64), np.zeros(0), (3, 4), True)
    bias = np.zeros(len(departments), np.float32)
    bias[departments.index(favourite)] = 4.0
    text = np.zeros((features.n_cols + 1, len(departments)), np.float32)
    model = DispatchModel(
        labels=departments,
        text_weights=text,
        bias=bias,
        reason_district=np.zeros((1, 1, len(departments)), np.float32),
        category_district=np.zeros((1, 1, len(departments)), np.float32),
        reasons=[],
        categories=[],
        districts=[],
        temperature=1.0,
    )
    return LinearScorer(features, {"dispatch": (text, np.zeros(len(departments), np.float32))}), model


def test_rule_overrides_model_and_model_routes_the_rest():
    city = load_city("spb")
    departments = ["org.spb_gku_zha_nevskogo_rayona", "org.spb_gku_tsentr_kompleksnogo_blagoustroystva"]
    scorer, model = _model(departments, "org.spb_gku_zha_nevskogo_rayona")
    router = Router(city, scorer, model, threshold=0.5)
    vending = RouteQuery(
        "street_vending", "c.nezakonnaya_realizatsiya_tovarov_s_torgovogo_obo", "", "nevskiy", "торговля"
    )
    other = RouteQuery("general", "c.soderzhanie_mkd", "", "nevskiy", "грязно в парадной")
    rule, by_model = router.route([vending, other])
    assert (rule.department, rule.source, rule.auto) == (
        "org.spb_gku_tsentr_kompleksnogo_blagoustroystva",
        "rule",
        True,
    )
    assert (by_model.department, by_model.source, by_model.auto) == ("org.spb_gku_zha_nevskogo_rayona", "model", True)
    assert 0.9 < by_model.confidence <= 1.0


def test_below_threshold_goes_to_triage():
    city = load_city("spb")
    scorer, model = _model(["org.a", "org.b"], "org.a")
    decision = Router(city, scorer, model, threshold=0.999).route([RouteQuery("general", "", "", "", "")])[0]
    assert (decision.department, decision.source, decision.auto) == (city.routing.triage_department, "triage", False)
    assert 0 <= decision.confidence < 0.999


def test_without_a_model_everything_unruled_is_triaged():
    city = load_city("spb")
    decisions = Router(city, None, None).route([RouteQuery("general", "c.fasad", "", "nevskiy", "x")])
    assert decisions[0].source == "triage"


def test_most_specific_rule_wins():
    city = load_city("nyc")
    levels = {n.id: n.level for n in city.taxonomy.nodes}
    rules = [
        RoutingRule(department="org.nypd", kind="noise"),
        RoutingRule(department="org.dep", category="c.noise"),
        RoutingRule(department="org.hpd", category="c.noise", district="bronx"),
    ]
    query = RouteQuery("noise", "c.noise", "r.noise.noise_construction_before_after_hours", "brooklyn", "")
    lineage = {query.category, query.reason}
    assert match_rule(rules, query, levels, lineage).department == "org.dep"
    bronx = RouteQuery("noise", "c.noise", "", "bronx", "")
    assert match_rule(rules, bronx, levels, {"c.noise"}).department == "org.hpd"
    street = RouteQuery("noise", "c.noise_street_sidewalk", "", "bronx", "")
    assert match_rule(rules, street, levels, {"c.noise_street_sidewalk"}).department == "org.nypd"


def test_rule_on_a_parent_node_matches_its_children():
    city = load_city("nyc")
    router = Router(city, None, None)
    reason = next(n for n in city.taxonomy.nodes if n.parent == "c.heating")
    decision = router.route([RouteQuery("general", "", reason.id, "queens", "")])[0]
    assert (decision.department, decision.source) == ("org.hpd", "rule")


def test_the_reason_table_is_read_for_the_most_probable_reasons():
    """Reason head 0.6 / 0.4 between r.a and r.b: the reason table is read for both, weighted."""
    features = TextFeatures([], np.zeros(0), np.zeros(0, np.uint32), np.zeros(0, np.uint64), np.zeros(0), (3, 4), True)
    zeros = np.zeros((features.n_cols + 1, 2), np.float32)
    reason_bias = np.log(np.array([0.6, 0.4, 1e-6], np.float32))
    scorer = LinearScorer(
        features,
        {"reason": (np.zeros((features.n_cols + 1, 3), np.float32), reason_bias), "dispatch": (zeros, np.zeros(2))},
    )
    table = np.zeros((4, 1, 2), np.float32)  # [reason (r.a, r.b, r.c, unknown), district, department]
    table[0, 0, 0], table[1, 0, 1], table[2, 0, 1] = 1.0, 2.0, 3.0
    model = DispatchModel(
        labels=["org.a", "org.b"], text_weights=zeros, bias=np.zeros(2, np.float32), reason_district=table,
        category_district=np.zeros((1, 1, 2), np.float32), reasons=["r.a", "r.b", "r.c"], categories=[],
        districts=[], temperature=1.0, reason_head="reason", reason_top=2,
    )  # fmt: skip
    among = RouteQuery("general", "", "r.a", "", "x", has_address=False)
    outside = RouteQuery("general", "", "r.c", "", "x", has_address=False)
    unflagged = RouteQuery("general", "", "r.a", "", "x")
    probs = model.probabilities(scorer, [among, outside, unflagged])
    np.testing.assert_allclose(np.log(probs[0, 1] / probs[0, 0]), 0.4 * 2.0 - 0.6 * 1.0, atol=1e-5)
    np.testing.assert_allclose(np.log(probs[1, 1] / probs[1, 0]), 3.0, atol=1e-5)  # not among them: its own
    np.testing.assert_allclose(np.log(probs[2, 1] / probs[2, 0]), -1.0, atol=1e-5)  # flag unknown: its own


def test_a_repeated_petition_adds_the_repeat_weights():
    """First petitions go to the favourite; a second or later petition gets the learned repeat shift."""
    departments = ["org.zha", "org.administration"]
    scorer, model = _model(departments, "org.zha")
    model.repeat_weights = np.array([0.0, 6.0], np.float32)
    first, second, third = (RouteQuery("general", "", "", "", "парадная", petition=p) for p in (1, 2, 3))
    probs = model.probabilities(scorer, [first, second, third])
    assert probs[0].argmax() == 0 and probs[1].argmax() == 1
    np.testing.assert_allclose(np.log(probs[1, 1] / probs[1, 0]), 2.0, atol=1e-5)  # bias 4 for org.zha, +6
    np.testing.assert_allclose(probs[2], probs[1])  # a third petition is a repeat like the second
    model.repeat_weights = None  # a model from a history without repeated petitions
    assert model.probabilities(scorer, [second]).argmax() == 0
