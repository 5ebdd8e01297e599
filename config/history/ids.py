"""From the labels a history file wrote to the ids of the city's configuration."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from config.history import HistoryError, HistoryFormat, HistoryRecord, history_format
from config.models import CityConfig

__all__ = ["CityLabels", "city_history", "read_city_history"]


class CityLabels:
    """Label -> id lookups built from the city's configuration, with the format's own id rules as fallback."""

    def __init__(self, city: CityConfig, fmt: HistoryFormat) -> None:
        self.fmt = fmt
        self.node_by_label: dict[tuple[int, str], str] = {}
        for node in city.taxonomy.nodes:
            self.node_by_label.setdefault((node.level, node.label), node.id)
        self.nodes = {n.id for n in city.taxonomy.nodes}
        self.districts = {d.id for d in city.districts}
        self.district_by_name = {d.name.lower(): d.id for d in city.districts}
        self.departments = {d.id for d in city.departments}
        self.department_by_name = {d.name.lower(): d.id for d in city.departments}

    def district(self, name: str) -> str:
        if not name:
            return ""
        key = self.fmt.district_id(name)
        return key if key in self.districts else self.district_by_name.get(name.lower(), "")

    def department(self, key: str) -> str:
        if not key:
            return ""
        dep = self.fmt.department_id(key)
        return dep if dep in self.departments else self.department_by_name.get(key.lower(), "")

    def levels(self, record: HistoryRecord) -> tuple[str, ...]:
        """Taxonomy ids of the record's labels, level by level (``""`` where unknown or not configured)."""
        out = []
        for level, label in enumerate(record.levels):
            if not label:
                out.append("")
                continue
            path = record.levels[: level + 1]
            found = self.node_by_label.get((level, label)) if self.fmt.labels_identify_nodes else None
            fallback = self.fmt.node_ids([path])[path] if found is None and not self.fmt.numbered_ids else ""
            out.append(found or (fallback if fallback in self.nodes else ""))
        return tuple(out)


def city_history(city: CityConfig, path: str | Path | None = None) -> tuple[HistoryFormat, Path]:
    """The city's history format and file (``path`` overrides the file, not the format)."""
    source = Path(path) if path else (city.history.data if city.history else None)
    if source is None:
        raise HistoryError(f"city {city.city.id!r} names no history file (history.yaml); pass --data FILE")
    if not source.exists():
        raise HistoryError(f"{source}: history file not found")
    return history_format(city.history, source), source


def read_city_history(city: CityConfig, path: str | Path | None = None, limit: int | None = None
                      ) -> Iterator[tuple[HistoryRecord, CityLabels]]:  # fmt: skip
    """Records of the city's history with the lookups that map their labels to the city's ids."""
    fmt, source = city_history(city, path)
    labels = CityLabels(city, fmt)
    for record in fmt.read(source, limit):
        yield record, labels
