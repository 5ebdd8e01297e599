"""Real complaint files -> ``HotlineEvent`` records, in time order, at a chosen rate.

Reads the shared history files (St Petersburg appeals, NYC 311, Chinese hotline
messages) and turns each row into the record a hotline would produce. The
report's own creation time is kept as its event time, so replaying history
exercises the merge windows the way the real days did.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from config.from_history import petition_count, read_history, slug
from schemas.codec import encode
from schemas.records import SCHEMA_VERSION, HotlineEvent
from streams.client import producer
from streams.topics import HOTLINE_EVENTS

__all__ = ["detect_format", "load_events", "replay_events", "row_to_event"]

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "datasets" / "complaints"
SPB_FILE = SHARED / "spb_appeals_2020-10_2021-03.jsonl.gz"
NYC_FILE = SHARED / "nyc311_slices.jsonl.gz"


def _epoch(text: str) -> float:
    for fmt in ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S",
                "%Y/%m/%d %H:%M:%S", "%m/%d/%Y %I:%M:%S %p"):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=UTC).timestamp()
        except ValueError:
            continue
    raise ValueError(f"unrecognised time {text!r}")


def detect_format(row: dict[str, Any]) -> str:
    if "unique_key" in row and "complaint_type" in row:
        return "nyc311"
    if ("reason" in row and "executor" in row) or "city_object" in row:
        return "spb"
    if "subject" in row and "text" in row:
        return "cn"
    raise ValueError(f"unknown complaint format (keys: {sorted(row)[:8]})")


def _float(value: Any) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def row_to_event(row: dict[str, Any], fmt: str) -> HotlineEvent:
    """One history row as the hotline event it once was (without the labels it got later)."""
    if fmt == "spb":
        return HotlineEvent(
            schema_version=SCHEMA_VERSION, event_id=f"spb-{row['id']}", channel="replay",
            received_at=_epoch(row["created"]), text=row.get("text") or "", lat=_float(row.get("lat")),
            lon=_float(row.get("lon")), address=(row.get("address") or "")[:500],
            district=slug(row["district"]) if row.get("district") else "", language="ru",
            petition=petition_count(row),
        )
    if fmt == "nyc311":
        text = " / ".join(x for x in (row.get("complaint_type"), row.get("descriptor")) if x)
        borough = row.get("borough") or ""
        lat, lon = _float(row.get("latitude")), _float(row.get("longitude"))
        return HotlineEvent(
            schema_version=SCHEMA_VERSION, event_id=f"nyc-{row['unique_key']}", channel="replay",
            received_at=_epoch(row["created_date"]), text=text or "(no description)",
            lat=lat if lon is not None else None, lon=lon if lat is not None else None,
            address=(row.get("incident_address") or "")[:500],
            district=slug(borough) if borough and borough != "Unspecified" else "", language="en",
        )
    text = f"{row.get('subject', '')}\n{(row.get('text') or '').strip()}".strip()
    return HotlineEvent(
        schema_version=SCHEMA_VERSION, event_id=f"cn-{row['id']}", channel="replay",
        received_at=_epoch(row["created"]), text=text[:20000], language="zh",
    )


def load_events(path: str | Path, limit: int | None = None, latest: bool = False) -> list[HotlineEvent]:
    """Events of ``path`` in time order; ``limit`` keeps the first (or with ``latest``, the last) N."""
    rows = list(read_history(path))
    if not rows:
        return []
    fmt = detect_format(rows[0])
    events = sorted((row_to_event(r, fmt) for r in rows), key=lambda e: e.received_at)
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
