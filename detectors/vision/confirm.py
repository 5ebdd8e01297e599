"""Confirmation: only what persists becomes an observation.

One :class:`ConfirmationTracker` per camera and case kind follows the objects of
that kind seen in the camera's zones. An object is the same from frame to frame
while its box overlaps its first box (IoU) or its centre stays close to it, so a
track's position is anchored where the object first appeared: something that
walks away starts new tracks and never accumulates time in one place.

A track is confirmed when, among the camera's last ``n`` frames within
``window_s`` seconds, at least ``k`` show it, and it has been in place for at
least ``min_stationary_s`` seconds. A passer-by fails both: it is in few frames,
and each sighting is somewhere else. A confirmed object is reported once, and
again only if it is still there ``repeat_after_s`` later (so a resolved case can
be re-opened by the camera that still sees the problem, without every frame
counting as a new report).
"""

from __future__ import annotations

import hashlib
import math
from collections import deque
from dataclasses import dataclass, field

from config.models import Confirmation

__all__ = ["ConfirmationTracker", "Confirmed", "Sighting", "observation_id"]

REPEAT_AFTER_S = 3600.0


@dataclass(frozen=True)
class Sighting:
    """One detection of the tracked kind in one frame; ``box`` is xyxy normalised to 0..1."""

    box: tuple[float, float, float, float]
    score: float
    name: str
    zone: str


@dataclass
class _Track:
    anchor: tuple[float, float, float, float]
    box: tuple[float, float, float, float]
    zone: str
    first_seen: float
    last_seen: float
    hits: list[float]
    labels: dict[str, float] = field(default_factory=dict)
    reported_at: float | None = None


@dataclass(frozen=True)
class Confirmed:
    """A confirmed object: what the stage turns into an ``Observation``."""

    observation_id: str
    kind: str
    zone: str
    box: tuple[float, float, float, float]
    score: float
    labels: dict[str, float]
    first_seen: float
    confirmed_at: float
    hits: int
    frames: int


def observation_id(camera_id: str, kind: str, zone: str, window_start: float) -> str:
    """Deterministic id: the same camera, kind, zone and confirmation window give the same id again."""
    digest = hashlib.blake2b(f"{camera_id}|{kind}|{zone}|{window_start:.0f}".encode(), digest_size=10)
    return f"cam-{digest.hexdigest()}"


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _same_place(anchor: tuple[float, ...], box: tuple[float, ...], min_iou: float, max_shift: float) -> float:
    """How well ``box`` matches ``anchor`` (0 = not the same object): IoU, or closeness of centres.

    The centre may move by ``max_shift`` of the anchor's width sideways and of its height
    up or down: a person (tall, narrow) who takes a step is elsewhere; a bag that the
    detector frames a little differently is not.
    """
    iou = _iou(anchor, box)
    if iou >= min_iou:
        return 1.0 + iou
    width, height = max(anchor[2] - anchor[0], 1e-6), max(anchor[3] - anchor[1], 1e-6)
    dx = abs((box[0] + box[2]) - (anchor[0] + anchor[2])) / 2 / (max_shift * width)
    dy = abs((box[1] + box[3]) - (anchor[1] + anchor[3])) / 2 / (max_shift * height)
    return 1.0 - max(dx, dy) if max(dx, dy) <= 1.0 else 0.0


class ConfirmationTracker:
    """k-of-n, stationary-time confirmation for one camera and one case kind.

    :param rule: the case kind's ``confirmation`` settings
    :param min_iou: IoU with the first box above which a box is the same object
    :param max_shift: ... or centre shift below this fraction of the first box's size
    :param repeat_after_s: seconds before a still-present object is reported again
    """

    def __init__(
        self,
        camera_id: str,
        kind: str,
        rule: Confirmation,
        *,
        min_iou: float = 0.3,
        max_shift: float = 0.5,
        repeat_after_s: float = REPEAT_AFTER_S,
    ) -> None:
        self.camera_id = camera_id
        self.kind = kind
        self.rule = rule
        self.min_iou = min_iou
        self.max_shift = max_shift
        self.repeat_after_s = repeat_after_s
        self.frames: deque[float] = deque(maxlen=rule.n)
        self.tracks: list[_Track] = []

    def update(self, frame_time: float, sightings: list[Sighting]) -> list[Confirmed]:
        """Account for one frame of the camera (with or without sightings); returns newly confirmed objects.

        Frames must come in capture order; a frame not newer than the last one (a redelivered
        duplicate) changes nothing.
        """
        if self.frames and frame_time <= self.frames[-1]:
            return []
        self.frames.append(frame_time)
        while self.frames and self.frames[0] < frame_time - self.rule.window_s:
            self.frames.popleft()
        self._match(frame_time, sightings)
        oldest = self.frames[0]
        for track in self.tracks:
            track.hits = [t for t in track.hits if t >= oldest]
        self.tracks = [t for t in self.tracks if t.hits]
        return [self._confirm(track, frame_time) for track in self.tracks if self._due(track, frame_time)]

    def _match(self, frame_time: float, sightings: list[Sighting]) -> None:
        free = list(self.tracks)
        for sighting in sorted(sightings, key=lambda s: -s.score):
            scored = [(_same_place(t.anchor, sighting.box, self.min_iou, self.max_shift), t) for t in free]
            quality, best = max(scored, key=lambda p: p[0], default=(0.0, None))
            if best is None or quality <= 0:
                best = _Track(sighting.box, sighting.box, sighting.zone, frame_time, frame_time, [])
                self.tracks.append(best)
            else:
                free.remove(best)
            best.box, best.last_seen = sighting.box, frame_time
            best.hits.append(frame_time)
            best.labels[sighting.name] = max(best.labels.get(sighting.name, 0.0), round(sighting.score, 4))

    def _due(self, track: _Track, now: float) -> bool:
        if track.last_seen != now or len(track.hits) < self.rule.k:
            return False
        if now - track.first_seen < self.rule.min_stationary_s:
            return False
        return track.reported_at is None or now - track.reported_at >= self.repeat_after_s

    def _confirm(self, track: _Track, now: float) -> Confirmed:
        track.reported_at = now
        window_start = math.floor(now / self.rule.window_s) * self.rule.window_s
        return Confirmed(
            observation_id=observation_id(self.camera_id, self.kind, track.zone, window_start),
            kind=self.kind,
            zone=track.zone,
            box=track.box,
            score=max(track.labels.values()),
            labels=dict(track.labels),
            first_seen=track.first_seen,
            confirmed_at=now,
            hits=len(track.hits),
            frames=len(self.frames),
        )
