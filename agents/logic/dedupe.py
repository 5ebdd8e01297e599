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


# One call assigns a whole batch, in order, atomically (a later observation of the batch sees the
# cases the earlier ones opened). KEYS: first, per dedupe group g (1-based), KEYS[2g-1] the GEO set of
# its open cases and KEYS[2g] the zset case -> last report time; then one assignment key per
# observation. ARGV[1] is the number of groups, ARGV[2] the assignment TTL (s), then per observation one
# string "g lon lat radius_m observed_at window_s new_case_id" (one argument, not seven: packing the
# arguments of a 500-observation call was the largest client-side cost of the call).
# Returns a flat list {case_id, outcome, opened(0/1)} per observation.
# (On Redis Cluster the keys of one call must share a slot: give them a common hash tag.)
FIND_OR_CREATE_LUA = """
local groups, ttl = tonumber(ARGV[1]), ARGV[2]
local out = {}
for i = 1, #ARGV - 2 do
  local g, lon, lat, radius, t, w, new_id =
    string.match(ARGV[i + 2], '^(%d+) (%S+) (%S+) (%S+) (%S+) (%S+) (%S+)$')
  g, t, w = tonumber(g), tonumber(t), tonumber(w)
  local geo, seen_at, assigned = KEYS[2 * g - 1], KEYS[2 * g], KEYS[2 * groups + i]
  local case_id, outcome, opened
  local prior = redis.call('GET', assigned)
  if prior then
    local sep = string.find(prior, '|', 1, true)
    case_id, outcome, opened = string.sub(prior, 1, sep - 1), 'dup', string.sub(prior, sep + 1)
  else
    local hits = redis.call('GEOSEARCH', geo, 'FROMLONLAT', lon, lat, 'BYRADIUS', radius, 'm', 'ASC')
    for _, id in ipairs(hits) do
      local seen = tonumber(redis.call('ZSCORE', seen_at, id))
      if seen and seen >= t - w then
        if t > seen then redis.call('ZADD', seen_at, t, id) end
        redis.call('SET', assigned, id .. '|0', 'EX', ttl)
        case_id, outcome, opened = id, 'merged', '0'
        break
      end
    end
    if not case_id then
      redis.call('GEOADD', geo, lon, lat, new_id)
      redis.call('ZADD', seen_at, t, new_id)
      redis.call('SET', assigned, new_id .. '|1', 'EX', ttl)
      case_id, outcome, opened = new_id, 'opened', '1'
    end
  end
  out[#out + 1] = case_id
  out[#out + 1] = outcome
  out[#out + 1] = opened
end
return out
"""
