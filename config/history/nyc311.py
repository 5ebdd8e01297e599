"""NYC 311 service requests (NYC Open Data export): complaint type -> descriptor, agency, borough."""

from __future__ import annotations

from typing import Any

from config.history.base import HistoryFormat, HistoryRecord, number, parse_time, slug

__all__ = ["Nyc311", "nyc_text"]


def nyc_text(row: dict[str, Any]) -> str:
    """NYC 311 open data has no free text: the report is described by its descriptor and place."""
    parts = [row.get("descriptor"), row.get("location_type"), row.get("landmark")]
    return ". ".join(str(p) for p in parts if p and p != "Unspecified")


class Nyc311(HistoryFormat):
    """Rows ``unique_key, created_date, complaint_type, descriptor, agency, agency_name, borough, latitude, ...``."""

    name = "nyc311"
    language = "en"
    level_names = ("complaint_type", "descriptor")
    # The same descriptor ("Leak", "Other") sits under many complaint types: a node is named by its path.
    labels_identify_nodes = False
    event_prefix = "nyc"

    def matches(self, row: dict[str, Any]) -> bool:
        return "unique_key" in row and "complaint_type" in row

    def record(self, row: dict[str, Any]) -> HistoryRecord:
        borough = row.get("borough") or ""
        lat, lon = number(row.get("latitude")), number(row.get("longitude"))
        ctype = row.get("complaint_type") or ""
        return HistoryRecord(
            id=str(row["unique_key"]),
            created=parse_time(row["created_date"]),
            text=nyc_text(row),
            lat=lat if lon is not None else None,
            lon=lon if lat is not None else None,
            address=row.get("incident_address") or "",
            district="" if borough == "Unspecified" else borough,
            levels=(ctype, (row.get("descriptor") or "") if ctype else ""),
            department=row.get("agency") or "",
            department_name=row.get("agency_name") or "",
            duplicate="duplicate" in (row.get("resolution_description") or "").lower(),
        )

    def node_ids(self, paths: Any) -> dict[tuple[str, ...], str]:
        # Spellings changed over the years ("PLUMBING"/"Plumbing"): one node per slug.
        return {p: "c." + slug(p[0]) if len(p) == 1 else f"r.{slug(p[0])}.{slug(p[1])}" for p in paths}

    def order_key(self, path: tuple[str, ...], ids: dict[tuple[str, ...], str]) -> Any:
        return tuple(ids[path[: i + 1]] for i in range(len(path)))

    def department_id(self, key: str) -> str:
        return "org." + slug(key)

    def district_id(self, name: str) -> str:
        return slug(name)

    def district_name(self, name: str) -> str:
        return name.title()
