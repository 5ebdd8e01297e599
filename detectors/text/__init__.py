"""The complaint text model: language, redaction, taxonomy, geocoding and dispatch, in numpy.

The stream stages use four names::

    analyzer = ComplaintAnalyzer.load(city)        # onnx_models/complaints-<city>.npz + .json
    analyses = analyzer.analyze(events)            # batched HotlineEvents -> ComplaintAnalysis
    router = load_router(city)
    decisions = router.route([RouteQuery(a.kind, a.category, a.reason, a.district, a.text) ...])

Training (scikit-learn, a dev dependency) lives in :mod:`detectors.text.train`;
nothing imported here needs it.
"""

from detectors.text.analyzer import ComplaintAnalysis, ComplaintAnalyzer
from detectors.text.artifacts import load_router
from detectors.text.language import detect_language, detect_languages
from detectors.text.redact import redact
from detectors.text.routing import RouteDecision, RouteQuery, Router

__all__ = [
    "ComplaintAnalysis",
    "ComplaintAnalyzer",
    "RouteDecision",
    "RouteQuery",
    "Router",
    "detect_language",
    "detect_languages",
    "load_router",
    "redact",
]
