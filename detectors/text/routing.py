"""Which organisation must act on a case: explicit rules first, then a model learned from history.

The dispatch model scores every department from the complaint text (the shared
TF-IDF features), learned tables for (reason, district) and (category,
district), whether the report is a repeated petition and, when the case has a
point, who answered the appeals made around it before
(:mod:`detectors.text.spatial`). The reason table is read for the
classifier's few most probable reasons, weighted by their probabilities, when the
case's reason is one of them.
Its softmax confidence is calibrated on held-out data and compared with
``routing.auto_dispatch.threshold`` (chosen by ``train-text`` for the target
precision); below it the case goes to the triage queue.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from config.models import CityConfig, RoutingRule
from detectors.text.classifier import softmax
from detectors.text.scoring import LinearScorer
from detectors.text.spatial import SpatialPrior

__all__ = ["DispatchModel", "RouteDecision", "RouteQuery", "Router", "match_rule", "top_reasons"]


@dataclass(frozen=True)
class RouteQuery:
    """What the dispatch stage knows about a case when it routes it."""

    kind: str
    category: str
    reason: str
    district: str
    text: str
    lat: float | None = None
    lon: float | None = None
    has_address: bool | None = None  # the classifier's address flag; None: unknown, the reason alone is used
    petition: int = 1  # 2+: a repeated petition on the same problem (or a case reopened after its fix)


@dataclass(frozen=True)
class RouteDecision:
    """The department chosen for a case and whether it is dispatched without a human."""

    department: str
    confidence: float
    source: str  # "rule" | "model" | "triage"
    auto: bool

    def observation_fields(self) -> dict[str, Any]:
        """The route as an intake stage writes it on its observation (``schemas.records.Observation``)."""
        return {
            "department": self.department,
            "route_confidence": round(min(1.0, max(0.0, self.confidence)), 4),
            "route_source": self.source,
        }


def top_reasons(probs: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` most probable reasons per row and their probabilities, renormalised to sum to 1."""
    top = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    weight = np.take_along_axis(probs, top, axis=1).astype(np.float32)
    return top, weight / np.maximum(weight.sum(axis=1, keepdims=True), np.float32(1e-12))


@dataclass
class DispatchModel:
    """Linear department scorer; tables are indexed ``[reason or category, district]``, last index = unknown.

    With ``spatial``, ``spatial.features(point, category, district) @ spatial_weights`` is added to the scores
    (zero for a query without a point). With ``repeat_weights``, they are added for a repeated petition
    (``petition > 1``): in SPb the district administration answers most of those, whoever had the first.
    With ``reason_top > 1`` the reason table is read for the
    ``reason_top`` most probable reasons of the scorer's ``reason_head`` (``softmax(reason_temperature *
    scores)``, renormalised, scored with the query's ``has_address`` as the classifier scored it), as in
    training; a query whose reason is not among them (a reporter's service code, say) or whose address
    flag is unknown uses its own reason alone.
    """

    labels: list[str]
    text_weights: np.ndarray
    bias: np.ndarray
    reason_district: np.ndarray
    category_district: np.ndarray
    reasons: list[str]
    categories: list[str]
    districts: list[str]
    temperature: float
    confidence_map: tuple[list[float], list[float]] = ([0.0, 1.0], [0.0, 1.0])
    spatial: SpatialPrior | None = None
    spatial_weights: np.ndarray | None = None
    reason_head: str = ""
    reason_temperature: float = 1.0
    reason_top: int = 1
    repeat_weights: np.ndarray | None = None

    def __post_init__(self) -> None:
        self._reason = {r: i for i, r in enumerate(self.reasons)}
        self._category = {c: i for i, c in enumerate(self.categories)}
        self._district = {d: i for i, d in enumerate(self.districts)}

    def probabilities(self, scorer: LinearScorer, queries: Sequence[RouteQuery]) -> np.ndarray:
        """Temperature-scaled ``(n_queries, n_departments)`` probabilities; text scored by ``scorer``."""
        flagged = np.array([q.has_address is not None for q in queries], dtype=bool)
        soft = self.reason_top > 1 and bool(self.reason_head) and bool(flagged.any())
        texts = [q.text for q in queries]
        if soft:  # the address flag as the classifier used it, so its scores of the batch are reused
            scored = scorer.scores(texts, [bool(q.has_address) for q in queries], ("dispatch", self.reason_head))
        else:
            scored = scorer.scores(texts, heads=("dispatch",))
        r = np.array([self._reason.get(q.reason, len(self.reasons)) for q in queries], dtype=np.int64)[:, None]
        weight = np.ones(r.shape, dtype=np.float32)
        if soft:
            top, top_weight = top_reasons(softmax(self.reason_temperature * scored[self.reason_head]), self.reason_top)
            among = (top == r).any(axis=1) & flagged
            r = np.where(among[:, None], top, r)
            weight = np.where(among[:, None], top_weight, np.eye(1, self.reason_top, dtype=np.float32))
        c = np.array([self._category.get(q.category, len(self.categories)) for q in queries], dtype=np.int64)
        d = np.array([self._district.get(q.district, len(self.districts)) for q in queries], dtype=np.int64)
        reason = np.einsum("nk,nke->ne", weight, self.reason_district[r, d[:, None]])
        scores = scored["dispatch"] + self.bias + reason + self.category_district[c, d]
        if self.spatial is not None and self.spatial_weights is not None:
            lat = np.array([np.nan if q.lat is None else q.lat for q in queries], dtype=np.float64)
            lon = np.array([np.nan if q.lon is None else q.lon for q in queries], dtype=np.float64)
            scores = scores + self.spatial.features(lat, lon, c, d) @ self.spatial_weights
        if self.repeat_weights is not None:
            repeat = np.array([q.petition > 1 for q in queries], dtype=np.float32)
            scores = scores + repeat[:, None] * self.repeat_weights
        return softmax(self.temperature * scores)

    def decide(self, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Best department per row and its calibrated confidence (held-out accuracy at that probability)."""
        best = probs.argmax(axis=1)
        x, y = self.confidence_map
        return best, np.interp(probs[np.arange(len(best)), best], x, y)


def _specificity(rule: RoutingRule, node_levels: dict[str, int]) -> tuple[int, int]:
    named = sum(x is not None for x in (rule.kind, rule.category, rule.district))
    depth = node_levels.get(rule.category, -1) if rule.category else -1
    return named, depth


def match_rule(
    rules: Sequence[RoutingRule], query: RouteQuery, node_levels: dict[str, int], lineage: set[str]
) -> RoutingRule | None:
    """The most specific rule matching ``query`` (more named fields, then a deeper taxonomy node; file order).

    :param lineage: the query's reason and category with all their ancestors in the taxonomy
    """
    best: RoutingRule | None = None
    for rule in rules:
        if rule.kind is not None and rule.kind != query.kind:
            continue
        if rule.category is not None and rule.category not in lineage:
            continue
        if rule.district is not None and rule.district != query.district:
            continue
        if best is None or _specificity(rule, node_levels) > _specificity(best, node_levels):
            best = rule
    return best


class Router:
    """Routes cases: a matching rule wins; else the model, automatically only at or above the threshold.

    :param city: the city's configuration (rules, triage queue, threshold)
    :param scorer: scores the city's text heads, ``dispatch`` among them (``None``: rules and triage only)
    :param model: dispatch model (``None``: rules and triage only)
    :param threshold: overrides ``city.routing.auto_dispatch.threshold`` (evaluation of other artifacts)
    """

    def __init__(
        self,
        city: CityConfig,
        scorer: LinearScorer | None,
        model: DispatchModel | None,
        threshold: float | None = None,
    ) -> None:
        self.city = city
        self.scorer = scorer
        self.model = model
        self.threshold = city.routing.auto_dispatch.threshold if threshold is None else float(threshold)
        self._levels = {n.id: n.level for n in city.taxonomy.nodes}
        self._parent = {n.id: n.parent for n in city.taxonomy.nodes}

    def _lineage(self, query: RouteQuery) -> set[str]:
        out: set[str] = set()
        for node in (query.reason, query.category):
            while node and node not in out:
                out.add(node)
                node = self._parent.get(node) or ""
        return out

    def route(self, queries: Sequence[RouteQuery]) -> list[RouteDecision]:
        """One decision per query, batched through the model."""
        rules = self.city.routing.rules
        triage = self.city.routing.triage_department
        out: list[RouteDecision | None] = [None] * len(queries)
        pending = []
        for i, query in enumerate(queries):
            rule = match_rule(rules, query, self._levels, self._lineage(query)) if rules else None
            if rule is not None:
                out[i] = RouteDecision(rule.department, 1.0, "rule", True)
            else:
                pending.append(i)
        if pending and self.model is not None and self.scorer is not None:
            # Score the whole batch: the scorer usually still holds it from the classifier.
            best, confidences = self.model.decide(self.model.probabilities(self.scorer, queries))
            for i in pending:
                confidence = float(confidences[i])
                if confidence >= self.threshold:
                    out[i] = RouteDecision(self.model.labels[best[i]], confidence, "model", True)
                else:
                    out[i] = RouteDecision(triage, confidence, "triage", False)
        return [d if d is not None else RouteDecision(triage, 0.0, "triage", False) for d in out]
