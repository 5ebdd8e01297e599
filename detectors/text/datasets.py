"""Read labelled complaint histories (SPb portal, NYC 311, Chinese hotline) into one record type.

Labels are mapped to the ids of the city's configuration: taxonomy node ids per
level, district ids and department ids ``org.<slug>``, with
:func:`config.from_history.slug` as the generator of ``config/cities/spb`` does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from config.from_history import petition_count, read_history, slug
from config.models import CityConfig

__all__ = [
    "DEFAULT_DATA",
    "LabeledComplaint",
    "nyc_text",
    "read_complaints",
    "time_split",
]

_SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "datasets" / "complaints"
DEFAULT_DATA = {
    "spb": _SHARED / "spb_appeals_2020-10_2021-03.jsonl.gz",
    "nyc": _SHARED / "nyc311_slices.jsonl.gz",
    "cn": _SHARED / "cn_messages_labeled.jsonl.gz",
}


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


def _when(value: str) -> datetime:
    value = value.strip()
    for fmt in ("%m/%d/%Y %I:%M:%S %p", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M"):
        try:
            return datetime.strptime(value, fmt)
        except ValueError:
            continue
    return datetime.fromisoformat(value.replace("Z", ""))


def _float(value: Any) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if out == out else None  # NaN -> None


class _Ids:
    """Label -> id lookups built from the city's configuration."""

    def __init__(self, city: CityConfig) -> None:
        self.levels = city.taxonomy.levels
        self.node_by_label: dict[tuple[int, str], str] = {}
        for node in city.taxonomy.nodes:
            self.node_by_label.setdefault((node.level, node.label), node.id)
        self.nodes = {n.id for n in city.taxonomy.nodes}
        self.districts = {d.id for d in city.districts}
        self.district_by_name = {d.name.lower(): d.id for d in city.districts}
        self.departments = {d.id for d in city.departments}

    def district(self, name: str | None) -> str:
        if not name:
            return ""
        key = slug(name)
        if key in self.districts:
            return key
        return self.district_by_name.get(name.lower(), "")

    def department(self, name: str | None) -> str:
        dep = "org." + slug(name)[:60] if name else ""
        return dep if dep in self.departments else ""

    def node(self, level: int, label: str | None, fallback: str) -> str:
        if not label:
            return ""
        found = self.node_by_label.get((level, label))
        if found:
            return found
        return fallback if fallback in self.nodes else ""


def _spb(row: dict[str, Any], ids: _Ids) -> LabeledComplaint:
    # Same id rules as config.from_history.build_spb (slug truncated per level).
    levels = (
        ids.node(0, row.get("city_object"), "o." + slug(row.get("city_object") or "")[:40]),
        ids.node(1, row.get("category"), "c." + slug(row.get("category") or "")[:48]),
        ids.node(2, row.get("reason"), "r." + slug(row.get("reason") or "")[:60]),
    )
    return LabeledComplaint(
        id=str(row["id"]),
        created=_when(row["created"]),
        text=row.get("text") or "",
        address=row.get("address") or "",
        lat=_float(row.get("lat")),
        lon=_float(row.get("lon")),
        district=ids.district(row.get("district")),
        levels=levels,
        department=ids.department(row.get("executor")),
        petition=petition_count(row),
    )


def nyc_text(row: dict[str, Any]) -> str:
    """NYC 311 open data has no free text: the report is described by its descriptor and place."""
    parts = [row.get("descriptor"), row.get("location_type"), row.get("landmark")]
    return ". ".join(str(p) for p in parts if p and p != "Unspecified")


def nyc_ids(row: dict[str, Any]) -> tuple[str, str]:
    """Taxonomy ids of a NYC row: ``c.<complaint_type>`` and ``r.<complaint_type>.<descriptor>``."""
    ctype = slug(row.get("complaint_type") or "")
    desc = slug(row.get("descriptor") or "")
    return ("c." + ctype if ctype else "", f"r.{ctype}.{desc}" if ctype and desc else "")


def _nyc(row: dict[str, Any], ids: _Ids) -> LabeledComplaint:
    category, reason = nyc_ids(row)
    return LabeledComplaint(
        id=str(row.get("unique_key")),
        created=_when(row["created_date"]),
        text=nyc_text(row),
        address=row.get("incident_address") or "",
        lat=_float(row.get("latitude")),
        lon=_float(row.get("longitude")),
        district=ids.district(row.get("borough")),
        levels=tuple(x if x in ids.nodes else "" for x in (category, reason)),
        department=ids.department(row.get("agency")),
    )


def _cn(row: dict[str, Any], ids: _Ids) -> LabeledComplaint:
    subject = " ".join(str(row.get("subject") or "").split())
    body = " ".join(str(row.get("text") or "").split())
    text = f"{subject}。{body}" if subject else body
    return LabeledComplaint(
        id=str(row.get("id")),
        created=_when(row["created"]),
        text=text,
        address="",
        lat=None,
        lon=None,
        district="",
        levels=(ids.node(0, row.get("level1"), "c." + slug(row.get("level1") or "")),),
        department="",
    )


def read_complaints(
    city: CityConfig, path: str | Path | None = None, limit: int | None = None
) -> list[LabeledComplaint]:
    """Labelled complaints of ``path`` (default: the city's shared history), oldest first.

    :param limit: read only the first ``limit`` rows of the file (tests, quick looks)
    """
    source = Path(path) if path else DEFAULT_DATA.get(city.city.id)
    if source is None:
        raise ValueError(f"no default history for city {city.city.id!r}; pass --data FILE")
    ids = _Ids(city)
    out: list[LabeledComplaint] = []
    for row in read_history(source):
        if limit is not None and len(out) >= limit:
            break
        if "reason" in row and "city_object" in row:
            out.append(_spb(row, ids))
        elif "complaint_type" in row:
            out.append(_nyc(row, ids))
        elif "level1" in row:
            out.append(_cn(row, ids))
        else:
            raise ValueError(f"{source}: row {row.get('id', '?')} is in no known format (SPb, NYC 311, CN)")
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
    early = [c for c in ordered if c.created < split_date]
    late = [c for c in ordered if c.created >= split_date]
    return early, late, split_date
