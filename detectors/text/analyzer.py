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

__all__ = ["ComplaintAnalysis", "ComplaintAnalyzer", "HotlineReport"]


class HotlineReport(Protocol):
    """The fields of :class:`schemas.records.HotlineEvent` the analysis reads."""

    text: str
    lat: float | None
    lon: float | None
    address: str
    district: str
    language: str


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


class ComplaintAnalyzer:
    """Batched analysis of hotline events for one city."""

    def __init__(self, city: CityConfig, bundle: Bundle) -> None:
        self.city = city
        self.bundle = bundle
        self.geocoder = Geocoder(city, bundle.gazetteer, bundle.grid)
        levels = bundle.classifier.levels
        self._field = {name: levels[i] for name, i in field_levels(levels).items()}

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
            reason_id = reason.labels[i] if reason is not None else ""
            out.append(
                ComplaintAnalysis(
                    language=languages[i],
                    text=texts[i],
                    city_object=obj[i],
                    category=category.labels[i],
                    reason=reason_id,
                    confidence=float(category.confidence[i]),
                    reason_confidence=float(reason.confidence[i]) if reason is not None else 0.0,
                    kind=self.city.kind_for(reason_id, category.labels[i]),
                    lat=place.lat,
                    lon=place.lon,
                    precision=place.precision,
                    district=place.district,
                )
            )
        return out
