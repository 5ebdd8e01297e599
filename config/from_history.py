"""Build a city folder (districts, taxonomy, departments) from a history of appeals.

St Petersburg's history file carries, on every row, the district, a three-level
taxonomy and (on most rows) the responsible organisation. This writes the parts
of ``config/cities/spb/`` that are facts of that history; hand-written policy
(case kinds, SLAs, routing overrides, cameras) lives beside them and is kept.

Run: ``cityops build-city spb --history ../shared/datasets/complaints/spb_appeals_2020-10_2021-03.jsonl.gz``
"""

from __future__ import annotations

import gzip
import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

__all__ = ["build_spb", "convex_hull", "petition_count", "read_history", "slug"]

_CYRILLIC = "абвгдеёжзийклмнопрстуфхцчшщъыьэюя"
_LATIN = "a b v g d e e zh z i y k l m n o p r s t u f kh ts ch sh shch - y - e yu ya".split()  # noqa: SIM905
_TRANSLIT = dict(zip(_CYRILLIC, _LATIN, strict=True))


def slug(text: str) -> str:
    """ASCII identifier for a Russian (or any) label: 'Невский' -> 'nevskiy'."""
    out = "".join(_TRANSLIT.get(ch, ch) for ch in text.lower()).replace("-", "")
    return re.sub(r"[^a-z0-9]+", "_", out).strip("_")


def petition_count(row: dict[str, Any]) -> int:
    """An SPb row's petition count (``n_petitions``): 1 for a first appeal, or where missing or unreadable."""
    try:
        return max(1, int(row.get("n_petitions") or 1))
    except (TypeError, ValueError):
        return 1


def read_history(path: str | Path) -> Iterator[dict[str, Any]]:
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def convex_hull(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Andrew's monotone chain; returns the hull counter-clockwise without repeating the first point."""
    pts = sorted(set(points))
    if len(pts) < 3:
        return pts

    def cross(o: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower: list[tuple[float, float]] = []
    for p in pts:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    upper: list[tuple[float, float]] = []
    for p in reversed(pts):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    return lower[:-1] + upper[:-1]


def _trimmed(points: list[tuple[float, float]], keep: float = 0.96) -> list[tuple[float, float]]:
    """Drop the points farthest from the median: geocoding outliers would inflate the hull."""
    if len(points) < 20:
        return points
    mlat = sorted(p[0] for p in points)[len(points) // 2]
    mlon = sorted(p[1] for p in points)[len(points) // 2]
    ranked = sorted(points, key=lambda p: (p[0] - mlat) ** 2 + ((p[1] - mlon) * 0.5) ** 2)
    return ranked[: int(len(ranked) * keep)]


def build_spb(history: str | Path, out_dir: str | Path) -> dict[str, int]:
    """Write districts.yaml, taxonomy.yaml and departments.yaml for St Petersburg from ``history``."""
    out = Path(out_dir)
    points: dict[str, list[tuple[float, float]]] = defaultdict(list)
    tree: dict[str, dict[str, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
    executors: Counter[str] = Counter()
    executor_districts: dict[str, Counter[str]] = defaultdict(Counter)
    for row in read_history(history):
        district = row.get("district")
        if district and row.get("lat") and row.get("lon"):
            points[district].append((round(float(row["lat"]), 4), round(float(row["lon"]), 4)))
        if row.get("city_object") and row.get("category") and row.get("reason"):
            tree[row["city_object"]][row["category"]][row["reason"]] += 1
        if row.get("executor"):
            executors[row["executor"]] += 1
            if district:
                executor_districts[row["executor"]][district] += 1

    districts = []
    for name in sorted(points):
        pts = _trimmed(points[name])
        lat = sorted(p[0] for p in pts)[len(pts) // 2]
        lon = sorted(p[1] for p in pts)[len(pts) // 2]
        hull = [(round(a, 4), round(b, 4)) for a, b in convex_hull(pts)]
        districts.append(
            {"id": slug(name), "name": name, "center": {"lat": lat, "lon": lon}, "polygon": [list(p) for p in hull]}
        )

    nodes: list[dict[str, Any]] = []
    category_ids: dict[str, str] = {}
    for obj in sorted(tree):
        obj_id = "o." + slug(obj)[:40]
        nodes.append({"id": obj_id, "label": obj, "level": 0, "parent": None})
        for cat in sorted(tree[obj]):
            # A category can sit under several city objects; it is one node, under its most frequent object.
            if cat not in category_ids:
                category_ids[cat] = "c." + slug(cat)[:48]
                owner = max(tree, key=lambda o: sum(tree[o][cat].values()) if cat in tree[o] else -1)
                nodes.append({"id": category_ids[cat], "label": cat, "level": 1, "parent": "o." + slug(owner)[:40]})
    seen_reasons: set[str] = set()
    for obj in sorted(tree):
        for cat in sorted(tree[obj]):
            for reason in sorted(tree[obj][cat]):
                rid = "r." + slug(reason)[:60]
                if rid in seen_reasons:
                    continue
                seen_reasons.add(rid)
                nodes.append({"id": rid, "label": reason, "level": 2, "parent": category_ids[cat]})

    departments = []
    for name, _count in executors.most_common():
        served = [slug(d) for d, n in executor_districts[name].most_common() if n >= 0.02 * executors[name]]
        departments.append({"id": "org." + slug(name)[:60], "name": name, "districts": served})

    header = "# Generated by `cityops build-city spb` from the appeals history; edit the generator, not this file.\n"
    (out / "districts.yaml").write_text(header + yaml.safe_dump({"districts": districts}, allow_unicode=True))
    (out / "taxonomy.yaml").write_text(
        header
        + yaml.safe_dump(
            {"taxonomy": {"levels": ["city_object", "category", "reason"], "nodes": nodes}},
            allow_unicode=True,
            sort_keys=False,
        )
    )
    (out / "departments.yaml").write_text(
        header + yaml.safe_dump({"departments": departments}, allow_unicode=True, sort_keys=False)
    )
    return {"districts": len(districts), "taxonomy_nodes": len(nodes), "departments": len(departments)}
