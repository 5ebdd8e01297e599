"""What the console's people read, computed from what the case documents already hold.

Pure functions (no Redis, no HTTP): human labels from the city's configuration,
the task card a crew works from, the case view with each report's own time and
its camera's name, and the routing model's top departments for a triaged case.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from config.models import CityConfig
from detectors.text.routing import RouteQuery, Router

__all__ = [
    "address_of",
    "case_view",
    "city_labels",
    "observation_time",
    "photo_of",
    "route_query_of",
    "suggestions",
    "task_card",
]

SUMMARY_CHARS = 280
SUGGESTIONS = 3


def city_labels(city: CityConfig) -> dict[str, str]:
    """Every id the console may show -> the city's word for it.

    Vision classes (``garbage_bag``, ``cantilever``) read as their case kind's name:
    that is what a camera case is about, whatever the detector calls the object.
    """
    labels = {n.id: n.label for n in city.taxonomy.nodes}
    kinds = {k.id: k.label for k in city.case_kinds}
    labels.update({cls: kinds.get(kind, kind) for cls, kind in city.vision.class_kinds.items()})
    labels.update(kinds)
    labels.update({d.id: d.name for d in city.districts})
    labels.update({d.id: d.name for d in city.departments})
    labels[city.routing.triage_department] = labels.get(city.routing.triage_department, "Triage queue")
    labels.update({c.id: c.name or c.id for c in city.cameras})
    return labels


def observation_time(obs: Mapping[str, Any]) -> float:
    """When the citizen reported or the camera saw it; the merge time only when the report lacks its own."""
    for name in ("observed_at", "at"):
        try:
            value = float(obs.get(name) or 0.0)
        except (TypeError, ValueError):
            continue
        if value > 0:
            return value
    return 0.0


def _camera_names(city: CityConfig) -> dict[str, str]:
    return {c.id: c.name or c.id for c in city.cameras}


def address_of(doc: Mapping[str, Any], city: CityConfig) -> str:
    """Where a crew must go: the address a reporter wrote, else the camera's place, else the district."""
    observations = doc.get("observations") or []
    for obs in observations:
        if obs.get("address"):
            return str(obs["address"])
    cameras = _camera_names(city)
    for obs in observations:
        if obs.get("camera_id") in cameras:
            return f"camera: {cameras[obs['camera_id']]}"
    for camera in doc.get("cameras") or []:
        if camera in cameras:
            return f"camera: {cameras[camera]}"
    districts = {d.id: d.name for d in city.districts}
    district = districts.get(str(doc.get("district") or ""), str(doc.get("district") or ""))
    lat, lon = doc.get("lat"), doc.get("lon")
    point = f"{float(lat):.5f}, {float(lon):.5f}" if lat is not None and lon is not None else ""
    return ", ".join(part for part in (district, point) if part)


def photo_of(doc: Mapping[str, Any]) -> str:
    """The observation id of the case's first kept camera frame ('' when the case has none)."""
    for obs in doc.get("observations") or []:
        if obs.get("evidence"):
            return str(obs["evidence"])
    return ""


def task_card(task: Mapping[str, Any], doc: Mapping[str, Any] | None, city: CityConfig, now: float) -> dict[str, Any]:
    """A board entry with what a crew needs at a glance: the complaint, the address, a photo, the clock."""
    doc = doc or {}
    text = str(task.get("summary") or doc.get("text") or "")
    deadline = float(task.get("sla_deadline") or doc.get("sla_deadline") or 0.0)
    # A case closed without the crew (an operator dismissed the detection) leaves nothing to do.
    case_closed = doc.get("status") in ("verified", "closed")
    open_task = task.get("status", "open") in ("open", "acknowledged", "in_progress") and not case_closed
    return {
        **task,
        "summary": text[:SUMMARY_CHARS],
        "address": address_of(doc, city) if doc else "",
        "photo": photo_of(doc),
        "case_status": doc.get("status", ""),
        "case_closed": case_closed,
        "close_reason": doc.get("close_reason", ""),
        "overdue": bool(open_task and deadline and now > deadline),
    }


def sort_board(cards: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Overdue first, then by deadline (soonest first); tasks without a deadline last."""
    return sorted(cards, key=lambda t: (not t.get("overdue"), float(t.get("sla_deadline") or 0.0) or float("inf"),
                                        str(t.get("task_id"))))


def case_view(doc: Mapping[str, Any], city: CityConfig) -> dict[str, Any]:
    """The case document with each report's own time, the camera names, and the address."""
    cameras = _camera_names(city)
    observations = []
    for obs in doc.get("observations") or []:
        item = dict(obs)
        item["reported_at"] = observation_time(obs)
        if obs.get("camera_id"):
            item["camera_name"] = cameras.get(str(obs["camera_id"]), str(obs["camera_id"]))
        observations.append(item)
    observations.sort(key=lambda o: o["reported_at"])
    return {
        **doc,
        "observations": observations,
        "address": address_of(doc, city),
        "camera_names": [cameras.get(c, c) for c in doc.get("cameras") or []],
    }


def route_query_of(doc: Mapping[str, Any]) -> RouteQuery:
    """What the router is asked about a case, from its document (the first report's place and flags)."""
    first = (doc.get("observations") or [{}])[0]
    precise = first.get("location_precision", "") in ("exact", "address", "camera")
    flag = first.get("has_address")
    return RouteQuery(
        str(doc.get("kind") or ""), str(doc.get("category") or ""), str(doc.get("reason") or ""),
        str(doc.get("district") or ""), str(doc.get("text") or ""),
        lat=doc.get("lat") if precise else None, lon=doc.get("lon") if precise else None,
        has_address=None if flag is None else str(flag) == "True",
        petition=max(1, int(first.get("petition") or 1)),
    )


def suggestions(router: Router, docs: Sequence[Mapping[str, Any]], city: CityConfig,
                top: int = SUGGESTIONS) -> list[list[dict[str, Any]]]:
    """The routing model's ``top`` departments per case with their probabilities, most likely first.

    Without a dispatch model (a city with rules only) every department is listed in the
    config's order at equal confidence, so the operator still picks from a short list.
    """
    names = {d.id: d.name for d in city.departments}
    if not docs:
        return []
    if router.model is None or router.scorer is None:
        even = [{"department": d.id, "name": d.name, "confidence": round(1.0 / len(names), 4)}
                for d in city.departments[:top]]
        return [list(even) for _ in docs]
    probs = router.model.probabilities(router.scorer, [route_query_of(d) for d in docs])
    out = []
    for row in np.asarray(probs):
        ranked = [i for i in np.argsort(-row) if router.model.labels[i] in names][:top]
        picks = [{"department": router.model.labels[i], "name": names[router.model.labels[i]],
                  "confidence": round(float(row[i]), 4)} for i in ranked]
        # A model trained on fewer departments than the city has still offers a choice of two.
        picks += [{"department": d, "name": n, "confidence": 0.0} for d, n in names.items()
                  if d not in {p["department"] for p in picks}][: max(0, min(top, 2) - len(picks))]
        out.append(picks)
    return out
