"""``cityops eval dispatch``: run the artifacts exactly as the product loads them on a labelled file.

Reports accuracy and macro-F1 per taxonomy level, department accuracy on the
cases dispatched automatically, the auto-dispatch rate and its trade-off curve,
throughput (batched and one at a time), where reports were placed and how
precisely, and draws the category confusion matrix.
"""

from __future__ import annotations

import math
import statistics
import time
import warnings
from collections import Counter, defaultdict
from collections.abc import Sequence, Set
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from config.models import CityConfig
from detectors.text.analyzer import ComplaintAnalysis, ComplaintAnalyzer
from detectors.text.artifacts import Bundle, load_bundle
from detectors.text.classifier import field_levels
from detectors.text.datasets import LabeledComplaint
from detectors.text.metrics import accuracy, curve_points, macro_f1, precision_coverage
from detectors.text.routing import RouteDecision, RouteQuery, Router
from schemas.records import HotlineEvent

__all__ = ["Evaluation", "evaluate", "plot_confusion", "to_event"]

BATCH = 1000
ONE_BY_ONE = 500
TIMED_PASSES = 3


@dataclass(frozen=True)
class Evaluation:
    """The report (JSON-ready) and the category pairs behind the confusion matrix."""

    report: dict[str, Any]
    category_truth: list[str]
    category_predicted: list[str]


def to_event(row: LabeledComplaint) -> HotlineEvent:
    """The hotline event the product would receive for a historical row (district left to the geocoder)."""
    return HotlineEvent(
        schema_version=1, event_id=row.id, channel="history", received_at=row.created.timestamp(), text=row.text,
        lat=row.lat, lon=row.lon, address=row.address, district="", language="", service_code="",
        petition=row.petition,
    )  # fmt: skip


def _queries(analyses: Sequence[ComplaintAnalysis], events: Sequence[HotlineEvent]) -> list[RouteQuery]:
    """Route queries as the hotline stage asks them (geocoded point, address flag, petition count)."""
    return [
        a.route_query(bool((e.address or "").strip()), e.petition) for a, e in zip(analyses, events, strict=True)
    ]


def _run(
    analyzer: ComplaintAnalyzer, router: Router, events: Sequence[HotlineEvent]
) -> tuple[list[ComplaintAnalysis], list[RouteDecision], dict[str, Any]]:
    """Analyse and route everything in batches; time it (median of passes) and one item at a time."""
    analyses: list[ComplaintAnalysis] = []
    decisions: list[RouteDecision] = []
    rates = []
    for attempt in range(TIMED_PASSES):
        started = time.perf_counter()
        for s in range(0, len(events), BATCH):
            batch = analyzer.analyze(events[s : s + BATCH])
            routed = router.route(_queries(batch, events[s : s + BATCH]))
            if attempt == 0:
                analyses.extend(batch)
                decisions.extend(routed)
        rates.append(len(events) / (time.perf_counter() - started))
    single = events[:ONE_BY_ONE]
    started = time.perf_counter()
    for event in single:
        router.route(_queries(analyzer.analyze([event]), [event]))
    elapsed = time.perf_counter() - started
    throughput = {
        "batched_items_per_s": round(statistics.median(rates), 1),
        "batched_passes_items_per_s": [round(r, 1) for r in rates],
        "batch_size": BATCH,
        "one_at_a_time_items_per_s": round(len(single) / elapsed, 1) if single else None,
        "includes": "redact + language + classify + geocode + route",
    }
    return analyses, decisions, throughput


def _levels(
    city: CityConfig, levels: Sequence[str], rows: Sequence[LabeledComplaint], analyses: Sequence[ComplaintAnalysis]
) -> dict:
    """Accuracy per field over the taxonomy levels the model classifies (those its history labels)."""
    out = {}
    for name, index in field_levels(levels).items():
        pairs = [(r.levels[index], getattr(a, name)) for r, a in zip(rows, analyses, strict=True) if r.levels[index]]
        truth, pred = [p[0] for p in pairs], [p[1] for p in pairs]
        out[name] = {
            "level": city.taxonomy.levels[index],
            "rows": len(pairs),
            "classes": len(set(truth)),
            "accuracy": round(accuracy(truth, pred), 4),
            "macro_f1": round(macro_f1(truth, pred), 4),
        }
    return out


def _dispatch(
    bundle: Bundle, router: Router, rows: Sequence[LabeledComplaint], events: Sequence[HotlineEvent],
    analyses: Sequence[ComplaintAnalysis], decisions: Sequence[RouteDecision],
) -> dict[str, Any]:  # fmt: skip
    labelled = [(r, a, d) for r, a, d in zip(rows, analyses, decisions, strict=True) if r.department]
    labelled_events = [e for r, e in zip(rows, events, strict=True) if r.department]
    auto = [(r, d) for r, _a, d in labelled if d.auto]
    out: dict[str, Any] = {
        "threshold": router.threshold,
        "rows_with_department": len(labelled),
        "auto_rate": round(len(auto) / max(len(labelled), 1), 4),
        "auto_accuracy": round(accuracy([r.department for r, _ in auto], [d.department for _, d in auto]), 4),
        "by_source": dict(Counter(d.source for _r, _a, d in labelled)),
    }
    model = bundle.dispatch
    if model is not None and labelled:
        queries = _queries([a for _r, a, _d in labelled], labelled_events)
        best, confidence = model.decide(model.probabilities(bundle.scorer, queries))
        truth = [r.department for r, _a, _d in labelled]
        correct = np.array([model.labels[b] == t for b, t in zip(best, truth, strict=True)])
        _cut, coverage, precision = precision_coverage(confidence, correct)
        reached = np.flatnonzero(precision >= 0.9)
        out["model_accuracy_all"] = round(float(correct.mean()), 4)
        out["coverage_at_precision_0.90"] = round(float(coverage[reached.max()]), 4) if len(reached) else 0.0
        out["curve"] = curve_points(confidence, correct)
    return out


def _metres(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    dy = (lat2 - lat1) * 111_195.0
    dx = (lon2 - lon1) * 111_195.0 * math.cos(math.radians((lat1 + lat2) / 2))
    return math.hypot(dx, dy)


def _geocoding(analyzer: ComplaintAnalyzer, rows: Sequence[LabeledComplaint]) -> dict[str, Any]:
    """Hide coordinates and see how well addresses stand in for them; check point -> district."""
    known = [(r, r.lat, r.lon) for r in rows if r.lat is not None and r.lon is not None]
    with_address = [(r, lat, lon) for r, lat, lon in known if r.address]
    n = len(with_address)
    places = analyzer.geocoder.place([None] * n, [None] * n, [r.address for r, _, _ in with_address], [""] * n)
    found = [
        (p, r, lat, lon) for p, (r, lat, lon) in zip(places, with_address, strict=True) if p.precision == "address"
    ]
    errors = [_metres(p.lat, p.lon, lat, lon) for p, _r, lat, lon in found]
    pointed = [(r, lat, lon) for r, lat, lon in known if r.district]
    located = analyzer.geocoder.grid.locate(
        np.array([lat for _, lat, _ in pointed], float), np.array([lon for _, _, lon in pointed], float)
    )
    return {
        "address_only_rows": n,
        "address_only_precision": dict(Counter(p.precision for p in places)),
        "address_error_m_median": round(float(np.median(errors)), 1) if errors else None,
        "address_error_m_p90": round(float(np.percentile(errors, 90)), 1) if errors else None,
        "address_district_accuracy": round(
            accuracy([r.district for _, r, _, _ in found], [p.district for p, *_ in found]), 4
        ),
        "point_to_district_rows": len(pointed),
        "point_to_district_accuracy": round(accuracy([r.district for r, _, _ in pointed], located), 4),
    }


def twin_agreement(
    rows: Sequence[LabeledComplaint], analyses: Sequence[ComplaintAnalysis], seen_texts: Set[str] = frozenset()
) -> dict[str, Any]:
    """How often one report written in several languages (twins) gets one category; empty without twins.

    This measures consistency across languages, not accuracy: the twin texts may be machine-written.
    :param seen_texts: texts the models were trained on; twins none of whose texts is among them are
        counted apart (a history with repeated texts otherwise flatters the figure)
    """
    groups: dict[str, list[tuple[LabeledComplaint, ComplaintAnalysis]]] = defaultdict(list)
    for row, analysis in zip(rows, analyses, strict=True):
        if row.twin:
            groups[row.twin].append((row, analysis))
    pairs = [g for g in groups.values() if len(g) >= 2]
    if not pairs:
        return {}
    unseen = [g for g in pairs if not any(r.text in seen_texts for r, _ in g)]

    def agreement(twins: list[list[tuple[LabeledComplaint, ComplaintAnalysis]]]) -> float | None:
        agree = sum(len({a.category for _, a in g}) == 1 for g in twins)
        return round(agree / len(twins), 4) if twins else None

    languages = Counter("+".join(sorted(a.language for _, a in g)) for g in pairs)
    return {"reports": len(pairs), "category_agreement": agreement(pairs), "unseen_reports": len(unseen),
            "category_agreement_unseen": agreement(unseen), "languages": dict(languages.most_common(4))}  # fmt: skip


def evaluate(
    city: CityConfig, rows: Sequence[LabeledComplaint], models_dir: str | Path | None = None,
    threshold: float | None = None, seen_texts: Set[str] = frozenset(),
) -> Evaluation:  # fmt: skip
    """All reported numbers for ``rows`` with the artifacts in ``models_dir`` (default: the shipped ones).

    :param threshold: auto-dispatch threshold; default: the one recorded with the artifacts when they are
        not the shipped ones, else the city's ``routing.auto_dispatch.threshold`` (what the product uses)
    """
    bundle = load_bundle(city, models_dir)
    recorded = bundle.info.get("dispatch", {}).get("threshold")
    if threshold is None and models_dir is not None and recorded is not None:
        threshold = float(recorded)
    analyzer, router = ComplaintAnalyzer(city, bundle), Router(city, bundle.scorer, bundle.dispatch, threshold)
    events = [to_event(r) for r in rows]
    analyzer.analyze(events[:50])  # warm caches before timing
    analyses, decisions, throughput = _run(analyzer, router, events)
    report = {
        "city": city.city.id,
        "rows": len(rows),
        "from": rows[0].created.isoformat(timespec="seconds") if rows else None,
        "to": rows[-1].created.isoformat(timespec="seconds") if rows else None,
        "artifacts": str(models_dir or "onnx_models"),
        "trained_on": {k: bundle.info.get(k) for k in ("trained_rows", "trained_from", "trained_to")},
        "levels": _levels(city, bundle.classifier.levels, rows, analyses),
        "dispatch": _dispatch(bundle, router, rows, events, analyses, decisions),
        "throughput": throughput,
        "placement": dict(Counter(a.precision for a in analyses)),
        "geocoding": _geocoding(analyzer, rows),
        "languages": dict(Counter(a.language for a in analyses).most_common(8)),
    }
    twins = twin_agreement(rows, analyses, seen_texts)
    if twins:
        report["twins"] = twins
    case_level = field_levels(bundle.classifier.levels)["category"]
    return Evaluation(report, [r.levels[case_level] for r in rows], [a.category for a in analyses])


def plot_confusion(
    truth: Sequence[str], predicted: Sequence[str], labels: dict[str, str], path: Path, title: str
) -> Path:
    """Row-normalised confusion matrix of the category level (30 most frequent classes) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pairs = [(t, p) for t, p in zip(truth, predicted, strict=True) if t]
    classes = [c for c, _ in Counter(t for t, _ in pairs).most_common(30)]
    index = {c: i for i, c in enumerate(classes)}
    m = np.zeros((len(classes), len(classes)))
    for t, p in pairs:
        if t in index and p in index:
            m[index[t], index[p]] += 1
    m = m / np.maximum(m.sum(1, keepdims=True), 1)
    size = max(6.0, 0.45 * len(classes) + 3)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(m, cmap="Blues", vmin=0, vmax=1)
    # The bundled font has no CJK glyphs: such labels are shown by their node id.
    names = [c if any(ord(ch) >= 0x2E80 for ch in labels.get(c, c)) else labels.get(c, c)[:38] for c in classes]
    ax.set_xticks(range(len(classes)), names, rotation=90, fontsize=7)
    ax.set_yticks(range(len(classes)), names, fontsize=7)
    for i in range(len(classes)):
        for j in range(len(classes)):
            if m[i, j] >= 0.01:
                color = "white" if m[i, j] > 0.5 else "black"
                ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center", fontsize=6, color=color)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():  # a CJK city name in the title only loses its glyphs
        warnings.filterwarnings("ignore", message="Glyph .* missing")
        fig.tight_layout()
        fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
