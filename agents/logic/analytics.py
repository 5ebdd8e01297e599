"""Reports on cases: volumes, rates, hot spots and ratings per district and per department.

The analytics stage folds every case event into one compact :class:`CaseFacts`
per case; a report is a pass over those facts, so a city's report takes seconds
whatever the size of the case log. Definitions (what every number means):

- **volume**: cases opened in the window;
- **resolution rate**: share of them resolved (resolved, verified or closed now);
- **on-time rate**: resolved by the SLA deadline, over the cases that are *due*
  (resolved, or open past their deadline) — leaving cases open cannot raise it;
- **repeat rate**: share of cases reported more than once (citizens had to ask again);
- **reopen rate**: share of ever-resolved cases that were reopened (the fix did not hold);
- **median hours to resolve**: first observation to resolution, over resolved cases;
- **satisfaction rate**: where citizens rated the outcome, the share satisfied (None where unknown);
- **rating** (0–100), in the spirit of Kazakhstan's akim ratings and Ho Chi Minh City's per-ward
  satisfaction index: a weighted mean of four rates, each taken at the lower bound of its 95 %
  Wilson interval, so a rate over few cases counts for little (1 of 1 counts 0.21, 19 of 20 counts 0.76)::

      rating = 100 × Σ wᵢ·wilson_low(kᵢ, nᵢ) / Σ wᵢ   over the terms with nᵢ > 0
      resolution   w=0.30  k = resolved,                 n = volume
      on-time      w=0.40  k = resolved by the deadline, n = due
      held         w=0.15  k = resolved, never reopened, n = ever resolved
      satisfaction w=0.15  k = satisfied,                n = rated (only where citizens rate)

  A unit with nothing resolved scores 0, not a free share for "nothing reopened". Units with fewer
  than ``min_volume`` cases, and units nobody is accountable for (cases not yet routed, the triage
  desk), get no rating and no rank; ranks are by rating, best first.

Nothing here knows about Kafka or Redis.
"""

from __future__ import annotations

import csv
import io
import math
import statistics
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import h3

__all__ = [
    "RATING_WEIGHTS",
    "RESOLVED_STATUSES",
    "CaseFacts",
    "Window",
    "apply_event",
    "cases_geojson",
    "group_report",
    "heat_cells",
    "hot_spots",
    "hotspots_geojson",
    "rate_counts",
    "rating",
    "summarize",
    "to_csv",
    "wilson_low",
]

RESOLVED_STATUSES = frozenset({"resolved", "verified", "closed"})
_SEEN_EVENTS = 32  # event ids remembered per case, so a redelivered event is not counted twice
_MIN_VOLUME = 5


@dataclass
class CaseFacts:
    """What reports need to know about one case, folded from its events."""

    case_id: str
    status: str = "new"
    kind: str = ""
    category: str = ""
    reason: str = ""
    district: str = ""
    department: str = ""
    priority: str = "normal"
    lat: float = 0.0
    lon: float = 0.0
    cell: str = ""
    reports: int = 1
    opened_at: float = 0.0
    first_observed_at: float = 0.0
    sla_deadline: float = 0.0
    resolved_at: float = 0.0
    updated_at: float = 0.0
    reopened: int = 0
    satisfied: bool | None = None  # the citizen's verdict on the outcome, where the city asks for one
    sources: list[str] = field(default_factory=list)
    seen: list[str] = field(default_factory=list)

    @property
    def resolved(self) -> bool:
        return self.status in RESOLVED_STATUSES

    @property
    def started_at(self) -> float:
        """When the problem was first seen (the clock of time-to-resolve)."""
        return self.first_observed_at or self.opened_at

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CaseFacts:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def apply_event(facts: CaseFacts | None, event: Mapping[str, Any], h3_resolution: int) -> CaseFacts | None:
    """Fold one case event (a ``CaseEvent`` as a dict) into the case's facts.

    Returns the new facts, or None when the event changes nothing (already applied,
    or older than what the facts hold: a redelivery).
    """
    case_id = str(event["case_id"])
    facts = facts if facts is not None else CaseFacts(case_id=case_id)
    event_id = str(event.get("event_id") or "")
    at = float(event.get("at") or 0.0)
    if (event_id and event_id in facts.seen) or at < facts.updated_at:
        return None
    for name in ("status", "kind", "category", "reason", "district", "department", "priority"):
        value = event.get(name)
        if value:
            setattr(facts, name, str(value))
    lat, lon = event.get("lat"), event.get("lon")
    if lat is not None and lon is not None and (float(lat), float(lon)) != (facts.lat, facts.lon):
        facts.lat, facts.lon = float(lat), float(lon)
        facts.cell = h3.latlng_to_cell(facts.lat, facts.lon, h3_resolution)
    facts.reports = max(facts.reports, int(event.get("reports") or 1))
    for name in ("opened_at", "first_observed_at", "sla_deadline"):
        value = float(event.get(name) or 0.0)
        if value:
            setattr(facts, name, value)
    kind = str(event.get("type") or "")
    if kind == "resolved" or (kind in ("verified", "closed") and not facts.resolved_at):
        facts.resolved_at = at
    if kind == "reopened":
        facts.reopened += 1
    verdict = event.get("satisfied")  # a citizen's verdict, where a city's feedback channel records one
    if verdict is not None:
        facts.satisfied = str(verdict).lower() in ("true", "1", "yes")
    report = event.get("report") or {}
    source = str(report.get("source") or "")
    if source and source not in facts.sources:
        facts.sources.append(source)
    facts.updated_at = at
    if event_id:
        facts.seen = [*facts.seen, event_id][-_SEEN_EVENTS:]
    return facts


@dataclass(frozen=True)
class Window:
    """Cases opened in ``[since, until)`` (epoch seconds; 0 means unbounded)."""

    since: float = 0.0
    until: float = 0.0

    def holds(self, facts: CaseFacts) -> bool:
        opened = facts.opened_at or facts.updated_at
        return opened >= self.since and (not self.until or opened < self.until)


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


RATING_WEIGHTS = {"resolution": 0.30, "on_time": 0.40, "held": 0.15, "satisfaction": 0.15}
_Z95 = 1.96


def wilson_low(k: int, n: int, z: float = _Z95) -> float:
    """Lower bound of the Wilson score interval of ``k`` successes in ``n`` (0 when ``n`` is 0)."""
    if n <= 0:
        return 0.0
    p = k / n
    centre = p + z * z / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, (centre - spread) / (1 + z * z / n))


def rating(counts: Mapping[str, tuple[int, int]]) -> float | None:
    """Score 0–100 from each term's (successes, trials) (see the module docstring); None with no term."""
    terms = [(RATING_WEIGHTS[name], k, n) for name, (k, n) in counts.items() if n > 0]
    if not terms:
        return None
    total = sum(w for w, _, _ in terms)
    return round(100.0 * sum(w * wilson_low(k, n) for w, k, n in terms) / total, 1)


def rate_counts(cases: Sequence[CaseFacts], now: float) -> dict[str, tuple[int, int]]:
    """Each rating term as (successes, trials) over ``cases`` at ``now``."""
    resolved = sum(1 for c in cases if c.resolved)
    due = [c for c in cases if c.sla_deadline and (c.resolved or now > c.sla_deadline)]
    on_time = sum(1 for c in due if c.resolved and c.resolved_at and c.resolved_at <= c.sla_deadline)
    ever_resolved = [c for c in cases if c.resolved_at]
    rated = [c for c in cases if c.satisfied is not None]
    return {
        "resolution": (resolved, len(cases)),
        "on_time": (on_time, len(due)),
        "held": (sum(1 for c in ever_resolved if not c.reopened), len(ever_resolved)),
        "satisfaction": (sum(1 for c in rated if c.satisfied), len(rated)),
    }


def summarize(cases: Sequence[CaseFacts], now: float, top: int = 5) -> dict[str, Any]:
    """The numbers of one group of cases (the module docstring defines each)."""
    volume = len(cases)
    resolved = [c for c in cases if c.resolved]
    counts = rate_counts(cases, now)
    hours = [
        (c.resolved_at - c.started_at) / 3600.0 for c in resolved if c.resolved_at and c.started_at
    ]
    overdue = sum(1 for c in cases if not c.resolved and c.sla_deadline and now > c.sla_deadline)
    problems = Counter(c.category or c.kind for c in cases)
    return {
        "volume": volume,
        "open": volume - len(resolved),
        "resolved": len(resolved),
        "overdue": overdue,
        "resolution_rate": _rate(*counts["resolution"]),
        "on_time_rate": _rate(*counts["on_time"]),
        "repeat_rate": _rate(sum(1 for c in cases if c.reports > 1), volume),
        "reopen_rate": _rate(counts["held"][1] - counts["held"][0], counts["held"][1]),
        "satisfaction_rate": _rate(*counts["satisfaction"]),
        "median_hours_to_resolve": round(statistics.median(hours), 2) if hours else None,
        "top_problems": [{"category": k, "cases": n} for k, n in problems.most_common(top)],
    }


def group_report(
    cases: Iterable[CaseFacts],
    by: str,
    now: float,
    *,
    labels: Mapping[str, str] | None = None,
    min_volume: int = _MIN_VOLUME,
    unranked: Collection[str] = (),
) -> list[dict[str, Any]]:
    """One row per district or department (``by``), rated and ranked best first.

    Units with fewer than ``min_volume`` cases get no rating or rank: a rate over
    two cases says nothing about a district head. Nor do ``unranked`` units (the
    triage desk) and cases not yet routed: no one there answers for the outcome.
    """
    if by not in ("district", "department"):
        raise ValueError(f"cannot group by {by!r}: use district or department")
    groups: dict[str, list[CaseFacts]] = {}
    for case in cases:
        groups.setdefault(getattr(case, by) or "unassigned", []).append(case)
    rows = []
    for key, members in groups.items():
        row: dict[str, Any] = {by: key, "name": (labels or {}).get(key, key), **summarize(members, now)}
        rated = len(members) >= min_volume and key != "unassigned" and key not in unranked
        row["rating"] = rating(rate_counts(members, now)) if rated else None
        rows.append(row)
    rows.sort(key=lambda r: (r["rating"] is None, -(r["rating"] or 0.0), -r["volume"], r[by]))
    rank = 0
    for row in rows:
        if row["rating"] is not None:
            rank += 1
            row["rank"] = rank
        else:
            row["rank"] = None
    return rows


def heat_cells(cases: Iterable[CaseFacts]) -> dict[str, int]:
    """H3 cell -> number of cases there (the heat map)."""
    counts: Counter[str] = Counter(c.cell for c in cases if c.cell)
    return dict(counts)


def hot_spots(cases: Iterable[CaseFacts], *, min_cases: int = 3, top: int = 20) -> list[dict[str, Any]]:
    """The H3 cells with the most cases (at least ``min_cases``), with what dominates each."""
    by_cell: dict[str, list[CaseFacts]] = {}
    for case in cases:
        if case.cell:
            by_cell.setdefault(case.cell, []).append(case)
    spots = []
    for cell, members in by_cell.items():
        if len(members) < min_cases:
            continue
        lat, lon = h3.cell_to_latlng(cell)
        category, n = Counter(c.category or c.kind for c in members).most_common(1)[0]
        spots.append(
            {
                "cell": cell,
                "cases": len(members),
                "open": sum(1 for c in members if not c.resolved),
                "lat": round(lat, 6),
                "lon": round(lon, 6),
                "top_category": category,
                "top_category_cases": n,
                "districts": sorted({c.district for c in members if c.district}),
            }
        )
    spots.sort(key=lambda s: (-s["cases"], -s["open"], s["cell"]))
    return spots[:top]


def _ring(cell: str) -> list[list[float]]:
    ring = [[round(lon, 6), round(lat, 6)] for lat, lon in h3.cell_to_boundary(cell)]
    return [*ring, ring[0]]


def hotspots_geojson(spots: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Hot spots as a GeoJSON FeatureCollection of hexagons (lon/lat order, closed rings)."""
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "Polygon", "coordinates": [_ring(str(spot["cell"]))]},
            "properties": {k: v for k, v in spot.items() if k not in ("lat", "lon")},
        }
        for spot in spots
    ]
    return {"type": "FeatureCollection", "features": features}


_CASE_PROPERTIES = (
    "case_id", "status", "kind", "category", "district", "department", "priority",
    "reports", "opened_at", "sla_deadline", "resolved_at",
)


def cases_geojson(cases: Iterable[CaseFacts]) -> dict[str, Any]:
    """Cases as GeoJSON points (for GIS tools)."""
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [case.lon, case.lat]},
            "properties": {name: getattr(case, name) for name in _CASE_PROPERTIES},
        }
        for case in cases
    ]
    return {"type": "FeatureCollection", "features": features}


def _cell(value: Any) -> Any:
    if isinstance(value, list):
        return "; ".join(
            f"{v.get('category')} ({v.get('cases')})" if isinstance(v, Mapping) else str(v) for v in value
        )
    return "" if value is None else value


def to_csv(rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """CSV text of ``rows`` with a header of ``columns`` (lists flattened to ``a (n); b (m)``)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(col)) for col in columns])
    return out.getvalue()
