"""The durable mode's data lifetime: retention the broker lacks, and a warning before its object limit.

Tansu writes one S3 object per produce batch and lists a partition's objects on
every fetch; it has no retention and no DeleteRecords. Measured with Tansu 0.6.0
on SeaweedFS 4.48 (``cityops bench durable``): fetches slow down with the
objects of a partition, past about 1,500 objects a fetch of the newest records
stops answering, and after a broker restart every batch from the 1,001st on is
out of reach. Consumers then stall.

:class:`LogUpkeep` runs in the supervisor of ``cityops up --durable`` once a
minute. It applies each topic's retention (``streams.topics``) by deleting
record-batch objects older than it, always keeping a partition's newest object,
like Kafka dropping old segments; a fetch below the oldest kept object is
answered from it. The heartbeats topic (a batch per partition every 2 s) keeps
10 minutes. Compacted topics keep everything. Then it warns, once per
threshold, as the fullest partition nears the stall.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

from streams.object_store import S3Store
from streams.topics import HEARTBEATS, TOPICS

__all__ = ["FETCH_MS_BASE", "FETCH_MS_PER_1000_OBJECTS", "STALL_OBJECTS", "WARN_AT", "LogUpkeep", "expired",
           "fetch_ms_estimate", "objects_per_partition", "retention_s"]

# Measured by `cityops bench durable` on the project's 2-core machine (see README, "Data lifetime"):
# fetch latency = base + slope * objects in the partition, below one listing page.
FETCH_MS_BASE = 5.3
FETCH_MS_PER_1000_OBJECTS = 11.5
# Past this, a restarted broker serves none of a partition's newer batches (Tansu 0.6.0, SeaweedFS 4.48).
STALL_OBJECTS = 1_000
WARN_AT = (STALL_OBJECTS // 2, STALL_OBJECTS * 8 // 10, STALL_OBJECTS)
# Readiness needs only the last few heartbeats; an hour of them (1,800 a partition) would pass the stall.
RETENTION_OVERRIDES_S = {HEARTBEATS.name: 600.0}


def fetch_ms_estimate(objects: int) -> float:
    """The fetch latency a partition of ``objects`` batches is expected to have (linear fit of the bench)."""
    return FETCH_MS_BASE + FETCH_MS_PER_1000_OBJECTS * objects / 1000.0


def _partition_of(key: str) -> tuple[str, int] | None:
    """(topic, partition) of a record-batch key
    (``clusters/<id>/topics/<topic>/partitions/<n>/records/<offset>.batch``), else ``None``."""
    parts = key.split("/")
    if len(parts) == 8 and parts[2] == "topics" and parts[6] == "records" and parts[7].endswith(".batch"):
        return parts[3], int(parts[5])
    return None


def objects_per_partition(keys: list[str]) -> Counter[str]:
    """``topic/partition`` -> record-batch objects."""
    counts: Counter[str] = Counter()
    for key in keys:
        where = _partition_of(key)
        if where:
            counts[f"{where[0]}/{where[1]}"] += 1
    return counts


def retention_s(topic: str) -> float | None:
    """How long the durable mode keeps ``topic``'s batches; ``None``: forever (compacted or unknown topics)."""
    if topic in RETENTION_OVERRIDES_S:
        return RETENTION_OVERRIDES_S[topic]
    spec = TOPICS.get(topic)
    if spec is None or spec.compacted:
        return None
    return spec.retention_ms / 1000.0


def expired(objects: list[tuple[str, float]], now: float,
            retention: Mapping[str, float | None] | None = None) -> list[str]:
    """Record-batch keys past their topic's retention; the newest object of each partition always stays."""
    by_partition: dict[tuple[str, int], list[tuple[str, float]]] = defaultdict(list)
    for key, modified in objects:
        where = _partition_of(key)
        if where:
            by_partition[where].append((key, modified))
    out: list[str] = []
    for (topic, _), items in by_partition.items():
        keep_s = retention[topic] if retention is not None and topic in retention else retention_s(topic)
        if keep_s is None:
            continue
        items.sort()  # zero-padded offsets: key order is offset order
        out.extend(key for key, modified in items[:-1] if modified < now - keep_s)
    return out


@dataclass
class LogUpkeep:
    """Every ``interval_s``: delete expired batches, then warn once per threshold the fullest partition passes."""

    interval_s: float = 60.0
    warned: set[int] = field(default_factory=set)
    last_check: float = 0.0
    deleted: int = 0

    def check(self, store: S3Store, now: float | None = None, wall: float | None = None) -> str | None:
        now = time.monotonic() if now is None else now
        if self.last_check and now - self.last_check < self.interval_s:
            return None
        self.last_check = now
        try:
            objects = store.objects("clusters/")
            gone = set(expired(objects, time.time() if wall is None else wall))
            for key in gone:
                store.delete(key)
            self.deleted += len(gone)
        except OSError as exc:
            return f"durable: could not list or trim the broker's objects ({exc})"
        return self.warning(objects_per_partition([key for key, _ in objects if key not in gone]))

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
