"""Any CSV or JSON-lines history, described by a columns file (which column holds what).

::

    format: csv                            # csv | jsonl | json (gzip is fine)
    id: unique_key
    created: created_date
    text: [complaint_type, descriptor]     # one column or several, joined
    taxonomy: [category, complaint_type]   # levels, coarsest first
    department: agency_name
    lat: latitude                          # 0 or empty = unknown
    lon: longitude
    address: incident_address
    district: supervisor_district
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from config.history.base import HistoryError, HistoryFormat, HistoryRecord, number, parse_time, read_rows, stable_id

__all__ = ["Columns", "ColumnsFormat"]

_FILE_ORDER = datetime(2000, 1, 1)  # the time of row 0 in a file without a time column


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


class Columns(BaseModel):
    """Which column of the file holds each field of a :class:`HistoryRecord`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal["csv", "jsonl", "json"] = Field(default="csv", description="File kind (gzip or not)")
    id: str | None = Field(default=None, description="Unique id column; unset: the row number")
    created: str | None = Field(default=None, description="Creation time column (ISO, 'MM/DD/YYYY hh:mm:ss AM', "
                                "dd.mm.yyyy, epoch); unset: file order stands in for time (row n at 2000-01-01 + n s)")
    text: list[str] = Field(default_factory=list, description="Free-text column(s), joined with '. '")
    text_variants: list[str] = Field(default_factory=list, description="Columns holding the same report in "
                                     "different languages: one record per non-empty column, id suffixed ':column'")
    taxonomy: list[str] = Field(default_factory=list, description="Category columns, coarsest level first")
    department: str | None = Field(default=None, description="Column naming the department that acted")
    department_name: str | None = Field(default=None, description="Its display name, if another column")
    lat: str | None = Field(default=None, description="Latitude column; 0 or empty = unknown")
    lon: str | None = Field(default=None, description="Longitude column; 0 or empty = unknown")
    address: str | None = None
    district: str | None = Field(default=None, description="District name column")
    language: str = Field(default="", description="ISO 639-1 language of every row; empty = detect per report")

    _lists = field_validator("text", "text_variants", "taxonomy", mode="before")(_as_list)

    @model_validator(mode="after")
    def _one_text_rule(self) -> Columns:
        if self.text and self.text_variants:
            raise ValueError("give 'text' (columns joined) or 'text_variants' (one record per column), not both")
        return self

    def used(self) -> list[str]:
        """Every column this description reads."""
        single = [self.id, self.created, self.department, self.department_name, self.lat, self.lon, self.address,
                  self.district]  # fmt: skip
        return [c for c in (*single, *self.text, *self.text_variants, *self.taxonomy) if c]


class ColumnsFormat(HistoryFormat):
    """A history format described by :class:`Columns` instead of code."""

    name = "columns"
    # A label is read in its path's context ("Other" under two categories is two nodes): ids name the path.
    labels_identify_nodes = False

    def __init__(self, columns: Columns) -> None:
        self.columns = columns
        self.language = columns.language
        self.level_names = tuple(columns.taxonomy) or ("category",)

    def rows(self, path: str | Path) -> Any:
        return read_rows(path, self.columns.format)

    def node_ids(self, paths: Any) -> dict[tuple[str, ...], str]:
        return {p: f"t{len(p) - 1}." + ".".join(stable_id(label, 40) for label in p) for p in paths}

    def matches(self, row: dict[str, Any]) -> bool:
        return all(c in row for c in self.columns.used())

    def read(self, path: str | Path, limit: int | None = None) -> Any:
        first = next(iter(self.rows(path)), None)
        if first is not None and not self.matches(first[1]):
            missing = [c for c in self.columns.used() if c not in first[1]]
            raise HistoryError(f"{path}: the columns file names {missing}, which the file lacks "
                               f"(it has {sorted(first[1])[:20]})")  # fmt: skip
        return super().read(path, limit)

    def records(self, row: dict[str, Any], index: int) -> list[HistoryRecord]:
        base = self._record(row, index)
        if not self.columns.text_variants:
            return [base]
        texts = [(k, str(row.get(k) or "").strip()) for k in self.columns.text_variants]
        return [replace(base, id=f"{base.id}:{k}", text=t, twin=base.id) for k, t in texts if t]

    def record(self, row: dict[str, Any]) -> HistoryRecord:
        return self._record(row, 0)

    def _record(self, row: dict[str, Any], index: int) -> HistoryRecord:
        """The record of the ``index``-th row: the index stands in for a missing id or time column."""
        c = self.columns

        def cell(name: str | None) -> str:
            value = row.get(name) if name else None
            return "" if value is None else str(value).strip()

        lat, lon = number(cell(c.lat)), number(cell(c.lon))
        known = lat is not None and lon is not None and lat != 0 and lon != 0
        labels = [cell(k) for k in c.taxonomy]
        # A level is only known where every coarser one is: a path with a hole names no node.
        cut = labels.index("") if "" in labels else len(labels)
        return HistoryRecord(
            id=(cell(c.id) if c.id else "") or str(index),
            created=parse_time(row[c.created]) if c.created else _FILE_ORDER + timedelta(seconds=index),
            text=". ".join(t for t in (cell(k) for k in c.text) if t),
            lat=lat if known else None,
            lon=lon if known else None,
            address=cell(c.address),
            district=cell(c.district),
            levels=tuple(labels[:cut]) + ("",) * (len(labels) - cut),
            department=cell(c.department),
            department_name=cell(c.department_name),
        )
