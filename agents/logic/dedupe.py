"""Which open case an observation belongs to: the same problem, close enough, recently enough.

Reports of one problem kind within that kind's radius and time window are one
case, whatever their source. The decision is made atomically in Redis by
:data:`FIND_OR_CREATE_LUA` so two workers never open two cases for one problem;
:func:`find_or_create` is the same rule in plain Python, used by tests and by
anyone reasoning about the Lua.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

from config.models import CityConfig

__all__ = [
    "FIND_OR_CREATE_LUA",
    "CaseSite",
    "Match",
    "dedupe_group",
    "find_or_create",
    "haversine_m",
    "new_case_id",
]

EARTH_RADIUS_M = 6_372_797.560856  # the radius Redis GEO uses, so both agree on what "50 m" is


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(a))


def dedupe_group(city: CityConfig, kind: str, category: str, reason: str) -> str:
    """The set of cases an observation may merge into.

    Named kinds (garbage, vending, ads…) merge across sources and taxonomy
    branches; the catch-all kind merges only reports of the same reason (or
    category), or a broken lift and a leaking roof next door would become one case.
    """
    if kind != city.default_kind:
        return kind
    return f"{kind}:{reason or category}"


def new_case_id(observation_id: str) -> str:
    """Case id derived from the observation that opened it, so a retried open yields the same id."""
    return "C-" + hashlib.blake2b(observation_id.encode(), digest_size=8).hexdigest()


@dataclass(frozen=True)
class CaseSite:
    case_id: str
    lat: float
    lon: float
    last_seen: float


@dataclass(frozen=True)
class Match:
    case_id: str
    outcome: str  # "opened" | "merged" | "dup"
    opened: bool


def find_or_create(
    sites: list[CaseSite],
    assigned: dict[str, Match],
    observation_id: str,
    lat: float,
    lon: float,
    observed_at: float,
    radius_m: float,
    window_s: float,
) -> Match:
    """Reference implementation of the Lua script over in-memory state (mutates ``sites``/``assigned``)."""
    if observation_id in assigned:
        prior = assigned[observation_id]
        return Match(prior.case_id, "dup", prior.opened)
    nearby = sorted(
        (haversine_m(lat, lon, s.lat, s.lon), i) for i, s in enumerate(sites)
        if haversine_m(lat, lon, s.lat, s.lon) <= radius_m
    )
    for _dist, i in nearby:
        site = sites[i]
        if site.last_seen >= observed_at - window_s:
            sites[i] = CaseSite(site.case_id, site.lat, site.lon, max(site.last_seen, observed_at))
            assigned[observation_id] = Match(site.case_id, "merged", False)
            return assigned[observation_id]
    case_id = new_case_id(observation_id)
    sites.append(CaseSite(case_id, lat, lon, observed_at))
    assigned[observation_id] = Match(case_id, "opened", True)
    return assigned[observation_id]


# KEYS[1] GEO set of the group's open cases, KEYS[2] zset case -> last report time,
# KEYS[3] the observation's assignment key.
# ARGV: lon, lat, radius_m, observed_at, window_s, new_case_id, assignment_ttl_s.
# Returns {case_id, outcome, opened(0/1)}.
FIND_OR_CREATE_LUA = """
local prior = redis.call('GET', KEYS[3])
if prior then
  local sep = string.find(prior, '|', 1, true)
  return {string.sub(prior, 1, sep - 1), 'dup', string.sub(prior, sep + 1)}
end
local t = tonumber(ARGV[4])
local w = tonumber(ARGV[5])
local hits = redis.call('GEOSEARCH', KEYS[1], 'FROMLONLAT', ARGV[1], ARGV[2], 'BYRADIUS', ARGV[3], 'm', 'ASC')
for _, id in ipairs(hits) do
  local seen = tonumber(redis.call('ZSCORE', KEYS[2], id))
  if seen and seen >= t - w then
    if t > seen then redis.call('ZADD', KEYS[2], t, id) end
    redis.call('SET', KEYS[3], id .. '|0', 'EX', ARGV[7])
    return {id, 'merged', '0'}
  end
end
redis.call('GEOADD', KEYS[1], ARGV[1], ARGV[2], ARGV[6])
redis.call('ZADD', KEYS[2], t, ARGV[6])
redis.call('SET', KEYS[3], ARGV[6] .. '|1', 'EX', ARGV[7])
return {ARGV[6], 'opened', '1'}
"""
