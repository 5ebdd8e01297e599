"""Camera review: an operator's verdict on what a camera saw, kept as a labelled example for the next
detector training run. The verdict is a case command (``review``) and so a case event (``confirmed``, or
``closed`` with ``why = false_positive``); the example is folded from that event and the case's reports, so
the list of examples is a view that the log can rebuild (the frames themselves are kept like evidence).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from schemas.records import CaseEvent

__all__ = ["example_of_event", "frame_box", "review_example", "verdict_of"]


def _time(report: Mapping[str, Any]) -> float:
    for name in ("observed_at", "at"):
        try:
            value = float(report.get(name) or 0.0)
        except (TypeError, ValueError):
            continue
        if value > 0:
            return value
    return 0.0


def frame_box(value: Any) -> list[float]:
    """A report's camera box as four floats ([] when it has none or it is malformed)."""
    parts = value.split(",") if isinstance(value, str) and value else value if isinstance(value, list) else []
    try:
        box = [float(v) for v in parts]
    except (TypeError, ValueError):
        return []
    return box if len(box) == 4 else []


def review_example(case_id: str, category: str, kind: str, reports: Sequence[Mapping[str, Any]], verdict: str,
                   by: str, at: float) -> dict[str, Any] | None:
    """The example a verdict makes: the case's newest camera frame attached by ``at``, its box and class."""
    frames = [r for r in reports if r.get("evidence") and float(r.get("at") or 0.0) <= at]
    if not frames:
        return None
    frame = max(frames, key=_time)
    return {
        "case_id": case_id, "verdict": verdict, "by": by, "at": at,
        "observation_id": str(frame["observation_id"]), "camera_id": str(frame.get("camera_id") or ""),
        "category": category, "kind": kind, "bbox": frame_box(frame.get("bbox")),
        "confidence": float(frame.get("confidence") or 0.0),
    }


def verdict_of(ev: CaseEvent) -> str:
    """The review verdict a case event records ('' for any other event)."""
    if ev.type == "confirmed":
        return "confirmed"
    if ev.type == "closed" and ev.why == "false_positive":
        return "false_positive"
    return ""


def example_of_event(ev: CaseEvent, reports: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The labelled example of a review event, given the reports its case had (as the case document lists them)."""
    verdict = verdict_of(ev)
    if not verdict:
        return None
    return review_example(ev.case_id, ev.category, ev.kind, reports, verdict, ev.by, ev.at)
