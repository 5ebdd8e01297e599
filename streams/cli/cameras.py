"""Camera-side producers: a live camera (:func:`ingest_camera`) and the demo's photo reels.

:func:`ingest_camera` samples a camera through :class:`detectors.vision.frames.FrameReader`,
lets :class:`~detectors.vision.frames.MotionGate` skip unchanged scenes and produces each
frame it keeps to ``camera-frames`` keyed by camera id, with aiokafka directly: ingest runs
at the camera's side, without Faust.

The demo camera feed is a folder of photos replayed as several fixed cameras.

Camera *i* of *N* shows photos *i*, *i + N*, *i + 2N* … of the folder, each for
``hold_s`` seconds (a fixed camera sees the same scene until something
changes), so the confirmation rules see a pile of garbage persist as they would
on a real street. Frames are spread over the cameras round-robin at ``rate``
frames per second in total, stamped with the time they are sent.

The shared demo photos are City of Amsterdam garbage inspection photos; the
demo places them at St Petersburg camera positions (``cameras.yaml``).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2

from config.models import Camera
from detectors.vision.dataset import IMAGE_SUFFIXES
from detectors.vision.frames import FrameReader, MotionGate, frame_record, jpeg_for_wire
from schemas.codec import encode
from streams.client import producer

__all__ = ["CameraReel", "IngestStats", "ingest_camera", "load_reels", "replay_cameras"]


@dataclass(frozen=True)
class CameraReel:
    """The photos one demo camera shows, already encoded as JPEG with their sizes."""

    camera_id: str
    frames: list[tuple[bytes, int, int]]

    def at(self, elapsed_s: float, hold_s: float) -> tuple[bytes, int, int]:
        return self.frames[int(elapsed_s // hold_s) % len(self.frames)]


def load_reels(
    folder: Path,
    cameras: Sequence[Camera],
    *,
    max_side: int = 960,
    max_bytes: int = 4_000_000,
    per_camera: int | None = None,
) -> list[CameraReel]:
    """Split the folder's photos over ``cameras`` and encode each once."""
    photos = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if len(photos) < len(cameras):
        raise ValueError(f"{folder}: {len(photos)} photos for {len(cameras)} cameras")
    reels = []
    for i, camera in enumerate(cameras):
        mine = photos[i :: len(cameras)][:per_camera]
        frames = []
        for path in mine:
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is not None:
                frames.append(jpeg_for_wire(image, max_side=max_side, max_bytes=max_bytes))
        reels.append(CameraReel(camera.id, frames))
    return reels


async def replay_cameras(
    reels: Sequence[CameraReel],
    bootstrap: str,
    *,
    topic: str,
    rate: float,
    hold_s: float,
    duration_s: float | None = None,
    limit: int | None = None,
    on_sent: Callable[[int], None] | None = None,
    stop: threading.Event | None = None,
) -> dict[str, float]:
    """Send frames round-robin over ``reels`` at ``rate`` frames/s until ``duration_s``, ``limit`` or ``stop``."""
    prod = await producer(bootstrap)
    sent = 0
    started = time.monotonic()
    try:
        while (limit is None or sent < limit) and (duration_s is None or time.monotonic() - started < duration_s):
            if stop is not None and stop.is_set():
                break
            reel = reels[sent % len(reels)]
            jpeg, width, height = reel.at(time.monotonic() - started, hold_s)
            record = frame_record(reel.camera_id, time.time(), jpeg, width, height)
            await prod.send(topic, key=reel.camera_id.encode(), value=encode(record))
            sent += 1
            if on_sent:
                on_sent(sent)
            if rate > 0:
                await asyncio.sleep(max(0.0, started + sent / rate - time.monotonic()))
        await prod.flush()
    finally:
        await prod.stop()
    seconds = time.monotonic() - started
    return {"sent": float(sent), "seconds": seconds, "rate": sent / max(seconds, 1e-9)}


@dataclass
class IngestStats:
    sampled: int = 0
    sent: int = 0
    skipped: int = 0
    reasons: dict[str, int] = field(default_factory=dict)


async def ingest_camera(
    camera_id: str,
    reader: FrameReader,
    bootstrap: str,
    *,
    topic: str,
    interval: float,
    gate: MotionGate,
    max_side: int = 960,
    max_bytes: int = 4_000_000,
    limit: int | None = None,
    on_frame: Callable[[IngestStats], None] | None = None,
) -> IngestStats:
    """Sample ``reader`` every ``interval`` seconds until it ends (or ``limit`` frames sent); returns counts."""
    stats = IngestStats()
    prod = await producer(bootstrap)
    try:
        next_at = time.monotonic()
        while limit is None or stats.sent < limit:
            image = await asyncio.to_thread(reader.read)
            if image is None:
                if not reader.live:
                    break
            else:
                stats.sampled += 1
                now = time.time()
                reason = gate.decide(image, now)
                if reason:
                    jpeg, width, height = jpeg_for_wire(image, max_side=max_side, max_bytes=max_bytes)
                    record = frame_record(camera_id, now, jpeg, width, height)
                    await prod.send(topic, key=camera_id.encode(), value=encode(record))
                    stats.sent += 1
                    stats.reasons[reason] = stats.reasons.get(reason, 0) + 1
                else:
                    stats.skipped += 1
                if on_frame:
                    on_frame(stats)
            next_at += interval
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        await prod.flush()
    finally:
        await prod.stop()
        reader.close()
    return stats
