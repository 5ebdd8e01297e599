"""Real complaint files -> ``HotlineEvent`` records, in time order, at a chosen rate.

Reads any city's history file through its history format (:mod:`config.history`)
and turns each record into the report a hotline would have produced. The
report's own creation time is kept as its event time, so replaying history
exercises the merge windows the way the real days did.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from pathlib import Path

from config.history import HistoryFormat, HistoryRecord, history_format
from config.history.ids import CityLabels, city_history
from config.models import CityConfig
from schemas.codec import encode
from schemas.records import SCHEMA_VERSION, HotlineEvent
from streams.client import producer
from streams.topics import HOTLINE_EVENTS

__all__ = ["SPB_FILE", "history_file", "load_events", "record_to_event", "replay_events"]

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "datasets" / "complaints"
SPB_FILE = SHARED / "spb_appeals_2020-10_2021-03.jsonl.gz"


def record_to_event(record: HistoryRecord, fmt: HistoryFormat, labels: CityLabels | None = None) -> HotlineEvent:
    """One history record as the hotline event it once was (without the labels it got later).

    :param labels: the city's lookups; without them the district id is the format's own id of its name
    """
    if labels is not None:
        district = labels.district(record.district)
    else:
        district = fmt.district_id(record.district) if record.district else ""
    return HotlineEvent(
        schema_version=SCHEMA_VERSION, event_id=f"{fmt.event_prefix}-{record.id}", channel="replay",
        received_at=record.epoch, text=record.text[:20000] or "(no description)", lat=record.lat, lon=record.lon,
        address=record.address[:500], district=district, language=fmt.language, petition=record.petition,
    )  # fmt: skip


def history_file(city: CityConfig | None, path: str | Path | None) -> Path:
    """``path``, or the city's own history file when none is given."""
    if path:
        return Path(path)
    if city is not None and city.history is not None and city.history.data is not None:
        return city.history.data
    return SPB_FILE


def load_events(
    path: str | Path | None, limit: int | None = None, latest: bool = False, city: CityConfig | None = None
) -> list[HotlineEvent]:
    """Events of ``path`` (default: the city's history) in time order; ``limit`` keeps the first (or last) N.

    :param city: read with the city's history format and map districts to its ids; without one the format
        is recognised from the file's first row
    """
    if city is not None:
        fmt, source = city_history(city, history_file(city, path))
        labels: CityLabels | None = CityLabels(city, fmt)
    else:
        source = history_file(None, path)
        fmt, labels = history_format(None, source), None
    events = sorted((record_to_event(r, fmt, labels) for r in fmt.read(source)), key=lambda e: e.received_at)
    if limit is not None:
        events = events[-limit:] if latest else events[:limit]
    return events


async def replay_events(
    bootstrap: str,
    events: list[HotlineEvent],
    rate: float,
    progress: Callable[[int, int], None] | None = None,
    stop: threading.Event | None = None,
) -> dict[str, float]:
    """Produce ``events`` to ``hotline-events`` at ``rate`` per second (0 = as fast as possible).

    ``stop`` ends the replay early (the demo sets it on Ctrl-C, before it stops the broker).
    """
    prod = await producer(bootstrap)
    started = time.monotonic()
    try:
        for n, event in enumerate(events, 1):
            if stop is not None and stop.is_set():
                break
            await prod.send(HOTLINE_EVENTS.name, key=event.event_id.encode(), value=encode(event))
            if rate > 0:
                ahead = n / rate - (time.monotonic() - started)
                if ahead > 0:
                    await asyncio.sleep(ahead)
            if progress and (n % 50 == 0 or n == len(events)):
                progress(n, len(events))
        await prod.flush()
    finally:
        await prod.stop()
    elapsed = time.monotonic() - started
    return {"sent": float(len(events)), "seconds": elapsed, "rate": len(events) / elapsed if elapsed else 0.0}
