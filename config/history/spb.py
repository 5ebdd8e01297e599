"""St Petersburg appeals ("Наш Санкт-Петербург" portal export): three-level taxonomy, executor, petitions."""

from __future__ import annotations

from typing import Any

from config.history.base import HistoryFormat, HistoryRecord, number, parse_time, slug

__all__ = ["SpbAppeals"]

# Id prefix and slug length per level, as config/cities/spb was first generated (kept so ids stay stable).
_LEVEL_IDS = (("o.", 40), ("c.", 48), ("r.", 60))


def _petition(value: Any) -> int:
    """1 for a first appeal, or where missing or unreadable."""
    try:
        return max(1, int(value or 1))
    except (TypeError, ValueError):
        return 1


class SpbAppeals(HistoryFormat):
    """Rows ``id, created, text, lat, lon, address, district, city_object, category, reason, executor, n_petitions``."""

    name = "spb"
    language = "ru"
    level_names = ("city_object", "category", "reason")
    event_prefix = "spb"
    label_by_count = False
    interleaved_levels = 2  # city objects with their categories, then the reasons (as first generated)

    def matches(self, row: dict[str, Any]) -> bool:
        return ("reason" in row and "executor" in row) or "city_object" in row

    def record(self, row: dict[str, Any]) -> HistoryRecord:
        return HistoryRecord(
            id=str(row["id"]),
            created=parse_time(row["created"]),
            text=row.get("text") or "",
            lat=number(row.get("lat")),
            lon=number(row.get("lon")),
            address=row.get("address") or "",
            district=row.get("district") or "",
            levels=tuple(row.get(k) or "" for k in self.level_names),
            department=row.get("executor") or "",
            petition=_petition(row.get("n_petitions")),
        )

    def node_ids(self, paths: Any) -> dict[tuple[str, ...], str]:
        return {p: _LEVEL_IDS[len(p) - 1][0] + slug(p[-1])[: _LEVEL_IDS[len(p) - 1][1]] for p in paths}

    def department_id(self, key: str) -> str:
        return "org." + slug(key)[:60]

    def district_id(self, name: str) -> str:
        return slug(name)
