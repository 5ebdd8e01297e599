"""Labelled complaint histories of any city, as the records the text models learn from.

Rows are read by the city's history format (:mod:`config.history`: SPb portal, NYC 311,
Open311, Chinese hotline, or any file described by a columns file) and their labels are
mapped to the ids of the city's configuration: taxonomy node ids per level, district ids
and department ids, by :class:`config.history.ids.CityLabels`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from config.history.ids import read_city_history
from config.models import CityConfig

__all__ = [
    "LabeledComplaint",
    "read_complaints",
    "time_split",
]


@dataclass(frozen=True)
class LabeledComplaint:
    """One historical complaint with the answers the models learn (``""`` where unknown)."""

    id: str
    created: datetime
    text: str
    address: str
    lat: float | None
    lon: float | None
    district: str
    levels: tuple[str, ...]
    department: str
    # The appeal's petition count: 1 for a first appeal, n for the n-th on the same problem (SPb
    # ``n_petitions``). The department recorded is the one that answered the latest petition.
    petition: int = 1
    # Id shared by the same report written in several languages (a columns file's text_variants), else "".
    twin: str = ""


def read_complaints(
    city: CityConfig, path: str | Path | None = None, limit: int | None = None
) -> list[LabeledComplaint]:
    """Labelled complaints of ``path`` (default: the city's history file, ``history.yaml``), oldest first.

    :param limit: read only the first ``limit`` rows of the file (tests, quick looks)
    """
    out = [
        LabeledComplaint(
            id=r.id, created=r.created, text=r.text, address=r.address, lat=r.lat, lon=r.lon,
            district=ids.district(r.district), levels=ids.levels(r), department=ids.department(r.department),
            petition=r.petition, twin=r.twin,
        )
        for r, ids in read_city_history(city, path, limit)
    ]  # fmt: skip
    out.sort(key=lambda c: c.created)
    return out


def time_split(
    rows: Sequence[LabeledComplaint], split_date: datetime | None = None, later_share: float = 0.2
) -> tuple[list[LabeledComplaint], list[LabeledComplaint], datetime]:
    """Earlier rows for training, later ones for testing; default split leaves ``later_share`` for testing."""
    ordered = sorted(rows, key=lambda c: c.created)
    if split_date is None:
        cut = ordered[int(len(ordered) * (1 - later_share))].created
        split_date = datetime(cut.year, cut.month, cut.day)
        if ordered[0].created >= split_date:  # a history of one day (or in file order): split at the row itself
            split_date = cut
    early = [c for c in ordered if c.created < split_date]
    late = [c for c in ordered if c.created >= split_date]
    return early, late, split_date
