"""Open311 GeoReport v2 requests (``GET /requests.json`` export, JSON array or JSON lines)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from config.history.base import HistoryFormat, HistoryRecord, number, parse_time, read_rows

__all__ = ["Open311Requests"]


class Open311Requests(HistoryFormat):
    """Rows ``service_request_id, requested_datetime, service_name, description, agency_responsible, lat, long, ...``.

    GeoReport requests carry one level of taxonomy (the service) and no district; the description is the
    citizen's free text, and the service name stands in where it is empty.
    """

    name = "open311"
    level_names = ("service",)
    event_prefix = "o311"

    def rows(self, path: str | Path) -> Any:
        return read_rows(path, "json" if str(path).removesuffix(".gz").endswith(".json") else "jsonl")

    def matches(self, row: dict[str, Any]) -> bool:
        return "service_request_id" in row and ("service_code" in row or "service_name" in row)

    def record(self, row: dict[str, Any]) -> HistoryRecord:
        service = str(row.get("service_name") or row.get("service_code") or "")
        lat, lon = number(row.get("lat")), number(row.get("long"))
        known = lat is not None and lon is not None and (lat, lon) != (0.0, 0.0)
        return HistoryRecord(
            id=str(row["service_request_id"]),
            created=parse_time(row["requested_datetime"]),
            text=str(row.get("description") or service),
            lat=lat if known else None,
            lon=lon if known else None,
            address=str(row.get("address") or ""),
            levels=(service,),
            department=str(row.get("agency_responsible") or ""),
        )
