"""How the dedupe rule behaves on real history: replay reports in time order, count merges.

Runs the same rule as the Redis script (:func:`agents.logic.dedupe.find_or_create`
semantics: same group, within radius, last report within the window) over a
grid index, so 42k appeals replay in seconds without a broker. Reports of any
city's history (read through :mod:`config.history`) are grouped by their true
taxonomy labels (this measures dedupe, not the classifier); where the city closed
rows as duplicates (NYC 311's resolutions say so) they are the check: a good rule
merges them into an earlier report.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agents.logic.dedupe import dedupe_group, haversine_m
from config.history.ids import read_city_history
from config.models import CityConfig
from detectors.text.classifier import field_levels

__all__ = ["DedupeReplay", "Report", "SiteGrid", "history_reports", "replay"]


@dataclass(frozen=True)
class Report:
    report_id: str
    group: str
    label: str
    lat: float
    lon: float
    at: float
    marked_duplicate: bool = False
    original_in_data: bool = False  # an earlier report of the same thing at the same address is in the file


def history_reports(city: CityConfig, path: str | Path | None = None) -> list[Report]:
    """The city's history (or ``path``, in the city's format) as dedupe reports: placed rows with a category.

    ``original_in_data`` marks a duplicate whose earlier same-category report at the same address is in the
    file (NYC's slices are a few hours each, so many marked duplicates' originals are not).
    """
    out = []
    seen: set[tuple[str, str]] = set()
    records = sorted(read_city_history(city, path), key=lambda pair: pair[0].created)
    for record, labels in records:
        ids = labels.levels(record)
        fields = field_levels(ids)
        cid, rid = ids[fields["category"]], ids[fields["reason"]] if "reason" in fields else ""
        if record.lat is None or record.lon is None or not cid:
            continue
        kind = city.kind_for(rid, cid)
        label = kind if kind != city.default_kind else record.levels[fields["category"]]
        place = (cid, record.address)
        out.append(Report(record.id, dedupe_group(city, kind, cid, rid), label, record.lat, record.lon,
                          record.epoch, marked_duplicate=record.duplicate,
                          original_in_data=record.duplicate and place in seen))  # fmt: skip
        seen.add(place)
    return out


class SiteGrid:
    """Open cases of one group on a lat/lon grid whose cells are at least one radius wide."""

    def __init__(self, radius_m: float) -> None:
        self.radius_m = radius_m
        self.cell_deg = max(radius_m / 111_000.0, 1e-5)
        self.cells: dict[tuple[int, int], list[list[Any]]] = defaultdict(list)

    def _cell(self, lat: float, lon: float) -> tuple[int, int]:
        scale = self.cell_deg / max(math.cos(math.radians(lat)), 0.1)
        return int(lat // self.cell_deg), int(lon // scale)

    def nearest_open(self, lat: float, lon: float, at: float, window_s: float) -> list[Any] | None:
        ci, cj = self._cell(lat, lon)
        best: tuple[float, list[Any]] | None = None
        for di in (-1, 0, 1):
            for dj in (-1, 0, 1):
                for site in self.cells.get((ci + di, cj + dj), ()):
                    if site[3] < at - window_s:
                        continue
                    d = haversine_m(lat, lon, site[1], site[2])
                    if d <= self.radius_m and (best is None or d < best[0]):
                        best = (d, site)
        return best[1] if best else None

    def add(self, case_id: str, lat: float, lon: float, at: float) -> list[Any]:
        site = [case_id, lat, lon, at]
        self.cells[self._cell(lat, lon)].append(site)
        return site


@dataclass
class DedupeReplay:
    reports: int = 0
    cases: int = 0
    per_label: dict[str, dict[str, int]] = field(default_factory=dict)
    marked_duplicates: int = 0
    marked_duplicates_merged: int = 0
    originals_in_data: int = 0
    originals_in_data_merged: int = 0
    unmarked_merged: int = 0
    largest_cases: list[tuple[str, str, int]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "reports": self.reports,
            "cases": self.cases,
            "merge_rate": round(1 - self.cases / self.reports, 4) if self.reports else 0.0,
            "per_label": self.per_label,
            "largest_cases": [{"case": c, "label": lab, "reports": n} for c, lab, n in self.largest_cases],
        }
        if self.marked_duplicates:
            out["marked_duplicates"] = self.marked_duplicates
            out["marked_duplicates_merged"] = self.marked_duplicates_merged
            out["duplicate_recall"] = round(self.marked_duplicates_merged / self.marked_duplicates, 4)
            out["marked_duplicates_with_original_in_data"] = self.originals_in_data
            out["duplicate_recall_where_original_in_data"] = (
                round(self.originals_in_data_merged / self.originals_in_data, 4) if self.originals_in_data else None
            )
            out["unmarked_merged"] = self.unmarked_merged
        return out


def replay(reports: Iterable[Report], params: dict[str, tuple[float, float]],
           default: tuple[float, float]) -> DedupeReplay:
    """Replay ``reports`` (time order) with per-group (radius_m, window_s); counts cases and merges."""
    grids: dict[str, SiteGrid] = {}
    result = DedupeReplay()
    case_size: Counter[str] = Counter()
    case_label: dict[str, str] = {}
    per_label: dict[str, Counter[str]] = defaultdict(Counter)
    for rep in sorted(reports, key=lambda r: r.at):
        radius, window = params.get(rep.group, default)
        grid = grids.setdefault(rep.group, SiteGrid(radius))
        site = grid.nearest_open(rep.lat, rep.lon, rep.at, window)
        result.reports += 1
        per_label[rep.label]["reports"] += 1
        if site is None:
            site = grid.add(f"case-{result.cases}", rep.lat, rep.lon, rep.at)
            result.cases += 1
            per_label[rep.label]["cases"] += 1
            case_label[site[0]] = rep.label
            merged = False
        else:
            site[3] = max(site[3], rep.at)
            merged = True
        case_size[site[0]] += 1
        if rep.marked_duplicate:
            result.marked_duplicates += 1
            result.marked_duplicates_merged += int(merged)
            if rep.original_in_data:
                result.originals_in_data += 1
                result.originals_in_data_merged += int(merged)
        elif merged:
            result.unmarked_merged += 1
    result.per_label = {label: dict(c) for label, c in sorted(per_label.items(), key=lambda kv: -kv[1]["reports"])}
    result.largest_cases = [(c, case_label[c], n) for c, n in case_size.most_common(5)]
    return result
