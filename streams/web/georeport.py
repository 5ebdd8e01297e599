"""Open311 GeoReport v2: the city's taxonomy as services, requests in and out, in the spec's shapes.

Pure mapping, no HTTP: :mod:`streams.web.open311` serves it. A POSTed request
becomes a :class:`~schemas.records.HotlineEvent` (channel ``open311``, event id =
service_request_id); its status is read back from the case it joined.
Personal data the spec allows (email, names, phone, device and account ids) is
not kept: the city acts on the place and the problem, and the hotline stage
redacts what remains in the free text.
"""

from __future__ import annotations

import math
import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from agents.logic.analytics import RESOLVED_STATUSES
from agents.logic.open311 import open311_record
from config import CityConfig
from schemas.records import SCHEMA_VERSION, HotlineEvent, Open311Submission

__all__ = [
    "MAX_DESCRIPTION",
    "MAX_RESULTS",
    "Open311Error",
    "RequestQuery",
    "case_view",
    "check_jurisdiction",
    "coarsen",
    "new_request_id",
    "parse_post",
    "parse_query",
    "parse_w3c",
    "request_view",
    "service_notice",
    "services",
    "w3c",
]

MAX_DESCRIPTION = 4000
MAX_RESULTS = 1000
MAX_SPAN_S = 90 * 86400
# The page/page_size extension (as Chicago's Open311 has it): pages of 50 unless asked, at most 500.
PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
_M_PER_DEG = 111_320.0
_URL = re.compile(r"^https?://[^\s<>\"]{1,2000}$")


class Open311Error(Exception):
    """An error in the spec's form: HTTP status ``code`` and a ``description``."""

    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description

    def body(self) -> list[dict[str, Any]]:
        return [{"code": self.code, "description": self.description}]


def _leaf_ids(city: CityConfig) -> list[str]:
    """The problems a citizen can report: leaves of the taxonomy's last level (the reason, the descriptor),
    and leaves higher up unless their level names an object (SPb's ``city_object`` "cemetery" with nothing
    under it is a place, not a problem)."""
    parents = {n.parent for n in city.taxonomy.nodes if n.parent}
    levels = city.taxonomy.levels
    last = len(levels) - 1
    return [n.id for n in city.taxonomy.nodes
            if n.id not in parents and (n.level == last or "object" not in levels[n.level].lower())]


def services(city: CityConfig) -> list[dict[str, Any]]:
    """GET services: every problem the taxonomy names is a service, grouped under its parent."""
    nodes = city.taxonomy.by_id()
    out = []
    for node_id in _leaf_ids(city):
        node = nodes[node_id]
        path = []
        walk: str | None = node_id
        while walk:
            path.append(nodes[walk].label)
            walk = nodes[walk].parent
        parent = nodes[node.parent].label if node.parent else node.label
        out.append(
            {
                "service_code": node.id,
                "service_name": node.label,
                "description": " / ".join(reversed(path)),
                "metadata": False,
                "type": "realtime",
                "keywords": city.kind_for(node.id, node.parent),
                "group": parent,
            }
        )
    return out


_ids_of: dict[int, tuple[CityConfig, frozenset[str]]] = {}


def _service_ids(city: CityConfig) -> frozenset[str]:
    """The service codes of ``city``, computed once per loaded config (a search maps hundreds of cases)."""
    held = _ids_of.get(id(city))
    if held is None or held[0] is not city:
        held = _ids_of[id(city)] = (city, frozenset(_leaf_ids(city)))
    return held[1]


def service_notice(city: CityConfig, service_code: str) -> str:
    """What the citizen can expect: the SLA of the case kind the service belongs to."""
    node = city.taxonomy.by_id().get(service_code)
    kind = city.kind(city.kind_for(service_code, node.parent if node else None))
    return f"Registered. The responsible department is expected to act within {kind.sla.normal:g} hours."


def new_request_id() -> str:
    """A service_request_id: unique without coordination between workers."""
    return uuid.uuid4().hex


def _float(params: Mapping[str, str], name: str, low: float, high: float) -> float | None:
    raw = (params.get(name) or "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise Open311Error(400, f"{name} must be a number in WGS84 degrees, got {raw!r}") from None
    if not low <= value <= high:
        raise Open311Error(400, f"{name} must be between {low:g} and {high:g}, got {value:g}")
    return value


def _in_city(city: CityConfig, lat: float, lon: float, margin: float = 0.5) -> bool:
    """Whether a point lies within the districts' bounding box (plus ``margin`` degrees)."""
    points = [p for d in city.districts for p in d.polygon] or [(d.center.lat, d.center.lon) for d in city.districts]
    if not points:
        return True
    lats, lons = [p[0] for p in points], [p[1] for p in points]
    return min(lats) - margin <= lat <= max(lats) + margin and min(lons) - margin <= lon <= max(lons) + margin


def check_jurisdiction(params: Mapping[str, str], city: CityConfig) -> None:
    """One city per endpoint: jurisdiction_id is optional, and when given must be this city's id."""
    jurisdiction = (params.get("jurisdiction_id") or "").strip()
    if jurisdiction and jurisdiction != city.city.id:
        served = city.city.id
        raise Open311Error(404, f"jurisdiction_id {jurisdiction!r} not found; this endpoint serves {served}")


def parse_post(
    params: Mapping[str, str],
    city: CityConfig,
    *,
    locate: Callable[[str], tuple[float, float] | None] | None = None,
    request_id: str | None = None,
    now: float | None = None,
) -> tuple[HotlineEvent, dict[str, Any]]:
    """Validate a POST Service Request and map it to a hotline event and the stored request.

    A request without lat/long is placed by ``locate`` (the city's gazetteer); an address it cannot
    place is refused with a message the client can show, never quietly put at the city centre.

    :param params: the form (or JSON object) fields as strings
    :param locate: address -> (lat, lon), or ``None`` when the address is not known
    :returns: the event to produce and the request record kept for GET requests
    :raises Open311Error: 400 for a missing, malformed or unplaceable field, 404 for an unknown service or
        jurisdiction
    """
    check_jurisdiction(params, city)
    code = (params.get("service_code") or "").strip()
    if not code:
        raise Open311Error(400, "service_code was not provided")
    if code not in _service_ids(city):
        raise Open311Error(404, f"service_code {code!r} not found")
    lat = _float(params, "lat", -90, 90)
    lon = _float(params, "long", -180, 180)
    if (lat is None) != (lon is None):
        raise Open311Error(400, "lat and long must be sent together")
    address = (params.get("address_string") or "").strip()
    address_id = (params.get("address_id") or "").strip()
    if lat is not None and lon is not None and not _in_city(city, lat, lon):
        raise Open311Error(400, f"lat/long {lat:g},{lon:g} is outside the area this endpoint serves")
    if lat is None and not address and not address_id:
        raise Open311Error(400, "a location is required: lat & long, address_string or address_id")
    if len(address) > 500:
        raise Open311Error(400, "address_string is longer than 500 characters")
    precision = "exact"
    if lat is None:
        lat, lon = _place(address, address_id, locate, city)
        precision = "address"
    description = (params.get("description") or "").strip()
    if len(description) > MAX_DESCRIPTION:
        raise Open311Error(400, f"description is longer than {MAX_DESCRIPTION} characters")
    media_url = (params.get("media_url") or "").strip()
    if media_url and not _URL.match(media_url):
        raise Open311Error(400, "media_url must be an http(s) URL")
    node = city.taxonomy.by_id()[code]
    received = time.time() if now is None else now
    rid = request_id or new_request_id()
    event = HotlineEvent(
        schema_version=SCHEMA_VERSION,
        event_id=rid,
        channel="open311",
        received_at=received,
        text=description or node.label,
        lat=lat,
        lon=lon,
        address=address or address_id,
        service_code=code,
        open311=Open311Submission(description=description, address=address, address_id=address_id,
                                  media_url=media_url, location_precision=precision),
    )
    return event, open311_record(event)


def _place(
    address: str, address_id: str, locate: Callable[[str], tuple[float, float] | None] | None, city: CityConfig
) -> tuple[float, float]:
    if not address:
        raise Open311Error(400, f"address_id {address_id!r} is not an address known here: send lat and long, "
                                "or an address_string")
    found = locate(address) if locate is not None else None
    if found is None:
        raise Open311Error(400, f"address_string {address!r} could not be found in {city.city.name}: "
                                "check the street and house number, or send lat and long")
    return found


def coarsen(lat: float | None, lon: float | None, grid_m: float) -> tuple[float | None, float | None]:
    """The centre of the ``grid_m``-metre cell a point falls in (the point itself when ``grid_m`` is 0)."""
    if lat is None or lon is None or grid_m <= 0:
        return lat, lon
    step_lat = grid_m / _M_PER_DEG
    cell_lat = (math.floor(lat / step_lat) + 0.5) * step_lat
    step_lon = grid_m / (_M_PER_DEG * max(0.01, math.cos(math.radians(cell_lat))))
    cell_lon = (math.floor(lon / step_lon) + 0.5) * step_lon
    return round(cell_lat, 6), round(cell_lon, 6)


def w3c(ts: float, tz: str = "UTC") -> str:
    """Epoch seconds as a W3C/ISO 8601 datetime with its offset, e.g. ``2010-04-14T06:37:38+03:00``."""
    zone = UTC if tz == "UTC" else ZoneInfo(tz)
    text = datetime.fromtimestamp(ts, zone).replace(microsecond=0).isoformat()
    return text.replace("+00:00", "Z") if zone is UTC else text


def parse_w3c(text: str, name: str) -> float:
    """A W3C datetime (``2010-01-01T00:00:00Z`` or with an offset) as epoch seconds."""
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise Open311Error(400, f"{name} must be a W3C datetime such as 2010-01-01T00:00:00Z") from None
    if parsed.tzinfo is None:
        raise Open311Error(400, f"{name} must carry a time zone (Z or an offset such as +03:00)")
    return parsed.timestamp()


@dataclass(frozen=True)
class RequestQuery:
    """The filters of GET Service Requests."""

    ids: tuple[str, ...] = ()
    service_codes: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    start: float = 0.0
    end: float = 0.0
    page: int = 1
    page_size: int = PAGE_SIZE

    def page_of(self, views: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """One page of ``views`` (already newest first)."""
        first = (self.page - 1) * self.page_size
        return views[first : first + self.page_size]

    def matches(self, view: Mapping[str, Any], requested_at: float) -> bool:
        if self.service_codes and view["service_code"] not in self.service_codes:
            return False
        if self.statuses and view["status"] not in self.statuses:
            return False
        return self.start <= requested_at <= self.end


def _split(params: Mapping[str, str], name: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in (params.get(name) or "").split(",") if part.strip())


def parse_query(params: Mapping[str, str], city: CityConfig, now: float | None = None) -> RequestQuery:
    """Filters of GET requests.json; without dates, the most recent 90 days (the spec's default)."""
    check_jurisdiction(params, city)
    statuses = _split(params, "status")
    bad = [s for s in statuses if s not in ("open", "closed")]
    if bad:
        raise Open311Error(400, f"status must be open or closed, got {bad[0]!r}")
    current = time.time() if now is None else now
    start_raw, end_raw = params.get("start_date"), params.get("end_date")
    end = parse_w3c(end_raw, "end_date") if end_raw else current
    start = parse_w3c(start_raw, "start_date") if start_raw else end - MAX_SPAN_S
    if start_raw and not end_raw:
        end = min(current, start + MAX_SPAN_S)
    if start > end:
        raise Open311Error(400, "start_date is after end_date")
    if end - start > MAX_SPAN_S:
        raise Open311Error(400, "the date range may not span more than 90 days")
    ids, codes = _split(params, "service_request_id"), _split(params, "service_code")
    page = _positive(params, "page", 1, 1_000_000)
    page_size = _positive(params, "page_size", PAGE_SIZE, MAX_PAGE_SIZE)
    return RequestQuery(ids, codes, statuses, start, end, page, page_size)


def _positive(params: Mapping[str, str], name: str, default: int, high: int) -> int:
    raw = (params.get(name) or "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= high:
        raise Open311Error(400, f"{name} must be a whole number from 1 to {high}, got {raw!r}")
    return int(raw)


def _status_notes(case: Mapping[str, Any]) -> str | None:
    """The latest human-readable reason on the case's timeline (a crew's note, why it reopened)."""
    for entry in reversed(case.get("timeline") or []):
        detail = entry.get("detail") if isinstance(entry.get("detail"), Mapping) else {}
        text = detail.get("note") or detail.get("why")
        if text:
            return str(text)
    return None


def request_view(
    stored: Mapping[str, Any], case: Mapping[str, Any] | None, city: CityConfig
) -> dict[str, Any]:
    """GET Service Request: the stored request, with status and dates from its case when there is one."""
    tz = city.city.timezone
    nodes = city.taxonomy.by_id()
    code = str(stored["service_code"])
    requested = float(stored["requested_at"])
    status, notes, agency, expected, updated = "open", None, None, None, requested
    lat, lon = stored.get("lat"), stored.get("long")
    if case:
        status = "closed" if case.get("status") in RESOLVED_STATUSES else "open"
        notes = _status_notes(case)
        departments = {d.id: d.name for d in city.departments}
        department = str(case.get("department") or "")
        agency = departments.get(department) or None
        if case.get("sla_deadline"):
            expected = w3c(float(case["sla_deadline"]), tz)
        updated = float(case.get("updated_at") or requested)
        if lat is None and case.get("lat") is not None:
            lat, lon = case.get("lat"), case.get("lon")
    lat, lon = coarsen(lat, lon, city.open311.location_grid_m)
    return {
        "service_request_id": stored["service_request_id"],
        "status": status,
        "status_notes": notes,
        "service_name": nodes[code].label if code in nodes else code,
        "service_code": code,
        "description": stored.get("description") or None,
        "agency_responsible": agency,
        "service_notice": service_notice(city, code) if code in nodes else None,
        "requested_datetime": w3c(requested, tz),
        "updated_datetime": w3c(max(updated, requested), tz),
        "expected_datetime": expected,
        "address": stored.get("address") or None,
        "address_id": stored.get("address_id") or None,
        "zipcode": None,
        "lat": lat,
        "long": lon,
        "media_url": stored.get("media_url") or None,
    }



def case_view(case: Mapping[str, Any], city: CityConfig) -> dict[str, Any]:
    """A case that came from the hotline or a camera, as a public service request (its id is the case id).

    Its text is the hotline stage's redacted text, or nothing, and its place is coarsened, as the
    city's ``open311`` settings say; no address is published (a caller's address can be their home).
    """
    reason = str(case.get("reason") or "")
    code = reason if reason in _service_ids(city) else str(case.get("category") or reason or case.get("kind"))
    requested = float(case.get("first_observed_at") or case.get("opened_at") or case.get("updated_at") or 0.0)
    stored = {
        "service_request_id": case["case_id"],
        "service_code": code,
        "description": str(case.get("text") or "") if city.open311.case_text == "redacted" else "",
        "lat": case.get("lat"),
        "long": case.get("lon"),
        "requested_at": requested,
    }
    return request_view(stored, case, city)
