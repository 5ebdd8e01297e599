"""The hotline stage's complaint analysis: redact, detect language, classify, place on the map."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from config.models import CityConfig
from detectors.text.artifacts import Bundle, load_bundle
from detectors.text.classifier import field_levels
from detectors.text.geocode import Geocoder
from detectors.text.language import UNDETERMINED, detect_languages
from detectors.text.redact import redact
from detectors.text.routing import RouteQuery

__all__ = ["ComplaintAnalysis", "ComplaintAnalyzer", "HotlineReport"]


class HotlineReport(Protocol):
    """The fields of :class:`schemas.records.HotlineEvent` the analysis reads."""

    text: str
    lat: float | None
    lon: float | None
    address: str
    district: str
    language: str
    service_code: str


@dataclass(frozen=True)
class ComplaintAnalysis:
    """What the text model concludes about one complaint (text already redacted)."""

    language: str
    text: str
    city_object: str
    category: str
    reason: str
    confidence: float
    reason_confidence: float
    kind: str
    lat: float
    lon: float
    precision: str
    district: str

    def route_query(self, has_address: bool, petition: int = 1) -> RouteQuery:
        """What the router is asked about this complaint: its point only if the report or its address gave one.

        A district's or the city's centre stands for "no point", so the spatial prior is not read there.

        :param petition: the report's petition count (``HotlineEvent.petition``)
        """
        placed = self.precision in ("exact", "address")
        return RouteQuery(self.kind, self.category, self.reason, self.district, self.text,
                          lat=self.lat if placed else None, lon=self.lon if placed else None,
                          has_address=has_address, petition=petition)  # fmt: skip


class ComplaintAnalyzer:
    """Batched analysis of hotline events for one city."""

    def __init__(self, city: CityConfig, bundle: Bundle) -> None:
        self.city = city
        self.bundle = bundle
        self.geocoder = Geocoder(city, bundle.gazetteer, bundle.grid)
        levels = bundle.classifier.levels
        self._field = {name: levels[i] for name, i in field_levels(levels).items()}
        self._field_of_level = {level: name for name, level in self._field.items()}
        self._nodes = city.taxonomy.by_id()

    @classmethod
    def load(cls, city: CityConfig, models_dir: str | Path | None = None) -> ComplaintAnalyzer:
        """Analyzer with the city's artifacts from ``onnx_models/complaints-<city>.*`` (or ``models_dir``)."""
        return cls(city, load_bundle(city, models_dir))

    def analyze(self, events: Sequence[HotlineReport]) -> list[ComplaintAnalysis]:
        """One analysis per event, in order; never raises on odd text (any script, emoji, empty, huge)."""
        if not events:
            return []
        texts = [redact(e.text).text for e in events]
        detected = detect_languages(texts)
        languages = [
            e.language if lang == UNDETERMINED and e.language else lang
            for e, lang in zip(events, detected, strict=True)
        ]
        scores = self.bundle.scorer.scores(texts, [bool((e.address or "").strip()) for e in events])
        levels = self.bundle.classifier.predict(scores)
        places = self.geocoder.place(
            [e.lat for e in events],
            [e.lon for e in events],
            [e.address or "" for e in events],
            [e.district or "" for e in events],
        )
        empty = [""] * len(events)
        obj = levels[self._field["city_object"]].labels if "city_object" in self._field else empty
        category = levels[self._field["category"]]
        reason = levels[self._field["reason"]] if "reason" in self._field else None
        out = []
        for i, place in enumerate(places):
            category_id, category_conf = category.labels[i], float(category.confidence[i])
            reason_id = reason.labels[i] if reason is not None else ""
            reason_conf = float(reason.confidence[i]) if reason is not None else 0.0
            chosen = self._chosen(getattr(events[i], "service_code", ""), reason_id)
            if chosen is not None:
                (category_id, reason_id), category_conf = chosen, 1.0
                reason_conf = 1.0 if reason_id == chosen[1] and reason_id else reason_conf
            out.append(
                ComplaintAnalysis(
                    language=languages[i],
                    text=texts[i],
                    city_object=obj[i],
                    category=category_id,
                    reason=reason_id,
                    confidence=category_conf,
                    reason_confidence=reason_conf,
                    kind=self.city.kind_for(reason_id, category_id),
                    lat=place.lat,
                    lon=place.lon,
                    precision=place.precision,
                    district=place.district,
                )
            )
        return out

    def _chosen(self, service_code: str, predicted_reason: str) -> tuple[str, str] | None:
        """(category, reason) the reporter chose from the city's service list (Open311), if a known node.

        A reason-level code fixes both; a category-level code fixes the category and keeps the
        model's reason only if it lies inside it. Other levels or unknown codes: the model decides.
        """
        node = self._nodes.get(service_code) if service_code else None
        if node is None:
            return None
        field = self._field_of_level.get(self.city.taxonomy.levels[node.level])
        if field == "reason":
            parent = self._nodes.get(node.parent or "")
            return (parent.id if parent is not None else ""), node.id
        if field == "category":
            inside = self._nodes.get(predicted_reason)
            return node.id, predicted_reason if inside is not None and inside.parent == node.id else ""
        return None
