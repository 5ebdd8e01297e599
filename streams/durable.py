"""The durable mode's data lifetime: how many objects the broker's log has become, and what that costs.

Tansu writes one S3 object per produce batch and lists a partition's objects on
every fetch; it has no retention and no DeleteRecords. A fetch therefore slows
down with the objects of its partition, and (measured with Tansu 0.6.0 on
SeaweedFS 4.48, ``cityops bench durable``) past about 1,000 objects a fetch of
the newest records stops answering: consumers stall. The supervisor of
``cityops up --durable`` counts the objects every minute and warns as a
partition approaches that; the README's data-lifetime plan says what to do then.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

from streams.object_store import S3Store

__all__ = ["FETCH_MS_BASE", "FETCH_MS_PER_1000_OBJECTS", "STALL_OBJECTS", "WARN_AT", "ObjectGrowthWatch",
           "fetch_ms_estimate", "objects_per_partition"]

# Measured by `cityops bench durable` on the project's 2-core machine (see README, "Data lifetime"):
# fetch latency = base + slope * objects in the partition, until the stall.
FETCH_MS_BASE = 8.0
FETCH_MS_PER_1000_OBJECTS = 10.0
# Where fetches of a partition's newest records stopped answering (Tansu 0.6.0, SeaweedFS 4.48).
STALL_OBJECTS = 1_000
WARN_AT = (STALL_OBJECTS // 2, STALL_OBJECTS * 8 // 10, STALL_OBJECTS)


def fetch_ms_estimate(objects: int) -> float:
    """The fetch latency a partition of ``objects`` batches is expected to have (linear fit of the bench)."""
    return FETCH_MS_BASE + FETCH_MS_PER_1000_OBJECTS * objects / 1000.0


def objects_per_partition(keys: list[str]) -> Counter[str]:
    """``topic/partition`` -> record-batch objects, from Tansu's keys
    (``clusters/<id>/topics/<topic>/partitions/<n>/records/<offset>.batch``)."""
    counts: Counter[str] = Counter()
    for key in keys:
        parts = key.split("/")
        if len(parts) == 8 and parts[2] == "topics" and parts[6] == "records":
            counts[f"{parts[3]}/{int(parts[5])}"] += 1
    return counts


@dataclass
class ObjectGrowthWatch:
    """Counts the log's objects every ``interval_s`` and says so once each threshold is passed."""

    interval_s: float = 60.0
    warned: set[int] = field(default_factory=set)
    last_check: float = 0.0

    def check(self, store: S3Store, now: float | None = None) -> str | None:
        now = time.monotonic() if now is None else now
        if self.last_check and now - self.last_check < self.interval_s:
            return None
        self.last_check = now
        try:
            counts = objects_per_partition(store.keys("clusters/"))
        except OSError as exc:
            return f"durable: could not count the broker's objects ({exc})"
        return self.warning(counts)

    def warning(self, counts: Counter[str]) -> str | None:
        """A warning for the highest threshold newly passed by the fullest partition, else ``None``."""
        if not counts:
            return None
        partition, biggest = counts.most_common(1)[0]
        passed = [t for t in WARN_AT if biggest >= t and t not in self.warned]
        if not passed:
            return None
        self.warned.update(passed)
        return (f"durable: WARNING {partition} holds {biggest} record-batch objects ({sum(counts.values())} in all); "
                f"each fetch lists them all (~{fetch_ms_estimate(biggest):.0f} ms) and past ~{STALL_OBJECTS} "
                f"fetches of new records stall. Roll the data over: see README, 'Data lifetime'.")
