"""Place a complaint on the map: given coordinates, a known address, or the district's centre.

The gazetteer is learned from the city's history: every normalised
``street + house`` seen with coordinates, at the median of its points. The
district of a point comes from a grid of historical points (majority district
per ~200 m cell), with the nearest known cell for points outside the grid.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from config.history import slug
from config.models import CityConfig
from detectors.text.features import KeyIndex

__all__ = ["DistrictGrid", "Gazetteer", "Geocoder", "Placement", "address_key"]

CELL_DEG = (0.002, 0.004)  # lat, lon: about 220 m x 220 m at 60°N
_OFFSET = 1 << 17

_STREET_TYPES = {
    "улица": "ул",
    "ул": "ул",
    "проспект": "пр",
    "пр": "пр",
    "просп": "пр",
    "пркт": "пр",
    "прт": "пр",
    "переулок": "пер",
    "пер": "пер",
    "шоссе": "ш",
    "ш": "ш",
    "набережная": "наб",
    "наб": "наб",
    "бульвар": "бул",
    "бул": "бул",
    "бр": "бул",
    "площадь": "пл",
    "пл": "пл",
    "проезд": "прд",
    "прд": "прд",
    "аллея": "ал",
    "линия": "лин",
    "лин": "лин",
    "дорога": "дор",
    "дор": "дор",
    "тупик": "туп",
    "street": "st",
    "st": "st",
    "avenue": "ave",
    "ave": "ave",
    "av": "ave",
    "boulevard": "blvd",
    "blvd": "blvd",
    "road": "rd",
    "rd": "rd",
    "place": "pl",
    "drive": "dr",
    "dr": "dr",
    "lane": "ln",
    "ln": "ln",
    "parkway": "pkwy",
    "pkwy": "pkwy",
    "court": "ct",
    "ct": "ct",
    "east": "e",
    "west": "w",
    "north": "n",
    "south": "s",
}
_TYPE_WORDS = set(_STREET_TYPES.values())
_LOCALITY = re.compile(r"^(?:город|пос[её]лок|поселение|муниципальный округ|пос\.|г\.|п\.|г\s|мо\s)\s*(.*)$")
_CITY_WORDS = {"санкт-петербург", "спб", "россия", "new york", "ny", "nyc", "санкт-петербург г"}
_HOUSE = re.compile(r"(?:^|\s)(?:дом|д\.?)\s*(\d+[а-яa-z]?(?:/\d+[а-яa-z]?)?)")
_BUILDING = re.compile(r"(?:корпус|корп\.?|к\.?)\s*(\d+)")
_STRUCTURE = re.compile(r"(?:строение|стр\.?)\s*(\d+)")
_LEADING_NUMBER = re.compile(r"^(\d+(?:-\d+)?[a-zа-я]?)\s+(.+)$")
_TRAILING_NUMBER = re.compile(
    r"^(.+?)\s+(\d+[а-яa-z]?(?:/\d+)?)(?:\s*(?:корпус|корп|к)\.?\s*(\d+))?(?:\s*(?:строение|стр|с)\.?\s*(\d+))?$"
)
_NUMBER_ONLY = re.compile(r"^\d+[а-яa-z]?(?:/\d+)?$")
_ORDINAL = re.compile(r"(\d+)(?:-?(?:я|й|ая|ий|ой|th|st|nd|rd))\b")
_HYPHEN_TYPES = re.compile(r"\b(пр-к?т|б-р|пр-д)\b")


def _street(part: str) -> str:
    part = _HYPHEN_TYPES.sub(lambda m: m.group(1).replace("-", ""), part)
    part = _ORDINAL.sub(r"\1", part)
    tokens = [_STREET_TYPES.get(t, t) for t in re.findall(r"[a-zа-я0-9]+", part)]
    return " ".join(sorted(tokens))


def _bare(street: str) -> str:
    """The street's name without its type word: the key when the writer omitted "ул."/"street"."""
    return " ".join(t for t in street.split() if t not in _TYPE_WORDS)


def address_key(address: str) -> tuple[str, str, str]:
    """``(locality, street, house)`` of a free-form address, normalised so spellings agree.

    ``"г.Санкт-Петербург, Мебельная улица, дом 47, корпус 1, литера А"`` and
    ``"ул. Мебельная, д. 47 к. 1"`` both give ``("", "ул мебельная", "47к1")``.
    """
    text = address.lower().replace("ё", "е").replace("\xa0", " ")
    locality, street, house, building, structure = "", "", "", "", ""
    for raw in re.split(r"[,;]", text):
        part = " ".join(raw.split())
        if not part or part in _CITY_WORDS:
            continue
        if m := _HOUSE.search(part):
            house = house or m.group(1)
            if b := _BUILDING.search(part[m.end() :]):
                building = b.group(1)
            continue
        if re.match(r"^(?:корпус|корп\.?|к\.?)\s*\d", part):
            building = _BUILDING.search(part).group(1)  # type: ignore[union-attr]
            continue
        if re.match(r"^(?:строение|стр\.?)\s*\d", part):
            structure = _STRUCTURE.search(part).group(1)  # type: ignore[union-attr]
            continue
        if re.match(r"^(?:литера|лит\.?)\s", part) or re.match(r"^(?:кв\.?|квартира)\s*\d", part):
            continue
        if _NUMBER_ONLY.match(part):
            house = house or part
            continue
        if m := _LOCALITY.match(part):
            name = m.group(1).strip()
            locality = "" if name in _CITY_WORDS else name
            continue
        if not street:
            if m := _LEADING_NUMBER.match(part):
                house, part = house or m.group(1), m.group(2)
            elif m := _TRAILING_NUMBER.match(part):
                part, house = m.group(1), house or m.group(2)
                building, structure = building or (m.group(3) or ""), structure or (m.group(4) or "")
            street = _street(part)
    house_key = house + (f"к{building}" if building else "") + (f"с{structure}" if structure else "")
    return locality, street, house_key


@dataclass(frozen=True)
class Placement:
    """Where a report is: point, how it was found (``exact``/``address``/``district``/``city``), district id."""

    lat: float
    lon: float
    precision: str
    district: str


class Gazetteer:
    """Historical addresses -> coordinates, with the nearest known house on the street as fallback."""

    MAX_HOUSE_GAP = 20

    def __init__(self, keys: Sequence[str], points: np.ndarray) -> None:
        self.keys = list(keys)
        self.points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        self._exact = {k: i for i, k in enumerate(self.keys)}
        self._any_locality: dict[str, list[int]] = defaultdict(list)
        self._street: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for i, key in enumerate(self.keys):
            locality, street, house = key.split("|")
            self._any_locality[f"{street}|{house}"].append(i)
            self._any_locality[f"{_bare(street)}|{house}"].append(i)
            number = re.match(r"\d+", house)
            if number:
                self._street[f"{locality}|{street}"].append((int(number.group(0)), i))

    @classmethod
    def build(cls, addresses: Sequence[str], lats: Sequence[float], lons: Sequence[float]) -> Gazetteer:
        """Median point of every normalised address seen in history."""
        groups: dict[str, list[tuple[float, float]]] = defaultdict(list)
        for address, lat, lon in zip(addresses, lats, lons, strict=True):
            locality, street, house = address_key(address)
            if street and house:
                groups[f"{locality}|{street}|{house}"].append((lat, lon))
        keys = sorted(groups)
        points = np.array([np.median(np.array(groups[k]), axis=0) for k in keys]).reshape(-1, 2)
        return cls(keys, points)

    def find(self, address: str) -> tuple[float, float] | None:
        """Coordinates of ``address``, or ``None`` when neither it nor a near house is known."""
        locality, street, house = address_key(address)
        if not street:
            return None
        at = self._exact.get(f"{locality}|{street}|{house}")
        if at is None and not locality:
            # Unique match elsewhere: the writer left out the town, or the street type ("5-я Советская").
            for key in (f"{street}|{house}", f"{_bare(street)}|{house}"):
                candidates = set(self._any_locality.get(key, []))
                if len(candidates) == 1:
                    at = candidates.pop()
                    break
        if at is None:
            number = re.match(r"\d+", house)
            houses = self._street.get(f"{locality}|{street}", [])
            if number and houses:
                wanted = int(number.group(0))
                gap, nearest = min((abs(n - wanted), i) for n, i in houses)
                # Numbers run by ~2 per house in St Petersburg, by ~100 per block in New York.
                at = nearest if gap <= max(self.MAX_HOUSE_GAP, 0.1 * wanted) else None
        return None if at is None else (float(self.points[at, 0]), float(self.points[at, 1]))


def _cell_keys(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    ilat = np.floor(lat / CELL_DEG[0]).astype(np.int64) + _OFFSET
    ilon = np.floor(lon / CELL_DEG[1]).astype(np.int64) + _OFFSET
    return ((ilat << 18) | ilon) + 1


class DistrictGrid:
    """Point -> district: majority district of the point's grid cell, else of the nearest cell."""

    def __init__(self, district_ids: Sequence[str], cell_keys: np.ndarray, cell_district: np.ndarray) -> None:
        self.district_ids = list(district_ids)
        self.cell_keys = np.asarray(cell_keys, dtype=np.int64)
        self.cell_district = np.asarray(cell_district, dtype=np.int64)
        self._index = KeyIndex(self.cell_keys.astype(np.uint64), np.arange(len(self.cell_keys)))
        raw = self.cell_keys - 1
        self._centres = np.stack(
            [((raw >> 18) - _OFFSET + 0.5) * CELL_DEG[0], ((raw & ((1 << 18) - 1)) - _OFFSET + 0.5) * CELL_DEG[1]], 1
        )

    @classmethod
    def build(
        cls, district_ids: Sequence[str], lats: np.ndarray, lons: np.ndarray, districts: Sequence[str]
    ) -> DistrictGrid:
        """Grid of the majority district per cell from historical points."""
        index = {d: i for i, d in enumerate(district_ids)}
        known = np.array([d in index for d in districts], dtype=bool)
        keys = _cell_keys(np.asarray(lats)[known], np.asarray(lons)[known])
        labels = np.array([index[d] for d in districts if d in index], dtype=np.int64)
        pair, counts = np.unique(keys * len(district_ids) + labels, return_counts=True)
        cell, label = pair // len(district_ids), pair % len(district_ids)
        order = np.lexsort((-counts, cell))  # per cell, the most frequent district first
        cell, label = cell[order], label[order]
        first = np.r_[True, cell[1:] != cell[:-1]][: len(cell)]
        return cls(district_ids, cell[first], label[first])

    def locate(self, lat: np.ndarray, lon: np.ndarray) -> list[str]:
        """District id of each point."""
        lat, lon = np.asarray(lat, dtype=np.float64), np.asarray(lon, dtype=np.float64)
        found = self._index.get(_cell_keys(lat, lon).astype(np.uint64))
        out = np.where(found >= 0, self.cell_district[np.maximum(found, 0)], -1)
        missing = np.flatnonzero(found < 0)
        scale = math.cos(math.radians(float(np.median(self._centres[:, 0])))) if len(self._centres) else 1.0
        for s in range(0, len(missing), 256):
            rows = missing[s : s + 256]
            d2 = (lat[rows, None] - self._centres[None, :, 0]) ** 2 + (
                (lon[rows, None] - self._centres[None, :, 1]) * scale
            ) ** 2
            out[rows] = self.cell_district[np.argmin(d2, axis=1)]
        return [self.district_ids[i] for i in out]


def _valid_point(lat: float, lon: float) -> bool:
    try:
        la, lo = float(lat), float(lon)
    except (TypeError, ValueError):
        return False
    return math.isfinite(la) and math.isfinite(lo) and -90 <= la <= 90 and -180 <= lo <= 180 and (la, lo) != (0.0, 0.0)


class Geocoder:
    """Coordinates first, then the gazetteer, then the district's centre (or the city centre)."""

    def __init__(self, city: CityConfig, gazetteer: Gazetteer, grid: DistrictGrid) -> None:
        self.city = city
        self.gazetteer = gazetteer
        self.grid = grid
        self._centres = {d.id: (d.center.lat, d.center.lon) for d in city.districts}
        self._by_name = {d.name.lower(): d.id for d in city.districts} | {slug(d.name): d.id for d in city.districts}

    def district_id(self, name: str) -> str:
        """A district id from an id or a display name; ``""`` when unknown."""
        if not name:
            return ""
        if name in self._centres:
            return name
        return self._by_name.get(name.lower()) or self._by_name.get(slug(name), "")

    def place(
        self,
        lats: Sequence[float | None],
        lons: Sequence[float | None],
        addresses: Sequence[str],
        districts: Sequence[str],
    ) -> list[Placement]:
        """One :class:`Placement` per report; the district comes from the report when it names one."""
        n = len(addresses)
        points: list[tuple[float, float] | None] = [None] * n
        precision = [""] * n
        for i in range(n):
            lat, lon = lats[i], lons[i]
            if lat is not None and lon is not None and _valid_point(lat, lon):
                points[i], precision[i] = (float(lat), float(lon)), "exact"
            elif addresses[i] and (found := self.gazetteer.find(addresses[i])) is not None:
                points[i], precision[i] = found, "address"
        given = [self.district_id(d) for d in districts]
        need = [(i, p) for i, p in enumerate(points) if p is not None and not given[i]]
        if need:
            located = self.grid.locate(np.array([p[0] for _, p in need]), np.array([p[1] for _, p in need]))
            for (i, _p), district in zip(need, located, strict=True):
                given[i] = district
        out = []
        for i in range(n):
            point = points[i]
            if point is not None:
                out.append(Placement(point[0], point[1], precision[i], given[i]))
            elif given[i]:
                lat, lon = self._centres[given[i]]
                out.append(Placement(lat, lon, "district", given[i]))
            else:
                out.append(Placement(self.city.city.center.lat, self.city.city.center.lon, "city", ""))
        return out
