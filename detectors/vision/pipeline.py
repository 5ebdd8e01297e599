"""The vision stage's processing path, free of Kafka: frame records in, observations out.

:class:`VisionStage` takes the raw bytes of ``CameraFrame`` records, rejects the
unusable ones with a reason (malformed record, unknown camera, oversize or
broken JPEG), runs the detector once over all good frames (in model batches),
maps classes to case kinds, keeps detections inside the camera's zones, feeds
the per-camera confirmation trackers, and for each confirmed object builds an
``Observation`` placed on the map through the camera's homography, with an
anonymised evidence snapshot. The Faust agent, the benchmark and the tests all
drive this one class.
"""

from __future__ import annotations

import base64
import binascii
import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from config.models import Camera, CityConfig
from detectors.vision.confirm import ConfirmationTracker, Confirmed, Sighting
from detectors.vision.evidence import PRIVATE_CLASSES, evidence_jpeg
from detectors.vision.geometry import GroundProjector, camera_projector, ground_point, zone_of
from detectors.vision.image import FrameError, decode_jpeg, reduction_for
from detectors.vision.session import Detection, Detector, default_threads
from schemas.codec import DecodeError, decode
from schemas.records import SCHEMA_VERSION, CameraFrame, Observation

__all__ = ["BatchOutcome", "Finding", "Rejection", "VisionStage"]

# A projected ground point farther than this from the camera is a bad fit (or above the horizon).
MAX_RANGE_M = 500.0


@dataclass(frozen=True)
class Rejection:
    """Input ``index`` of the batch is unusable: the reason and error type for the dead letter."""

    index: int
    reason: str
    error_type: str


@dataclass(frozen=True)
class Finding:
    """An observation confirmed on input ``index``, with its evidence JPEG and how long to keep it."""

    index: int
    observation: Observation
    evidence: bytes
    evidence_ttl_s: int
    captured_at: float


@dataclass
class BatchOutcome:
    """What one batch produced."""

    findings: list[Finding] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    frames: int = 0
    model_seconds: float = 0.0


@dataclass
class _Frame:
    """A usable frame: ``image`` may be decoded at reduced scale; ``scale`` maps it to frame pixels."""

    index: int
    record: CameraFrame
    camera: Camera
    image: np.ndarray
    jpeg: bytes
    scale: float

    @property
    def size(self) -> tuple[int, int]:
        """Width and height of the full frame."""
        return round(self.image.shape[1] * self.scale), round(self.image.shape[0] * self.scale)


def _metres(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    dy = (lat2 - lat1) * 111_320.0
    dx = (lon2 - lon1) * 111_320.0 * math.cos(math.radians((lat1 + lat2) / 2))
    return math.hypot(dx, dy)


def _scaled(detection: Detection, scale: float) -> Detection:
    x0, y0, x1, y1 = detection.box
    return Detection(detection.name, detection.score, (x0 * scale, y0 * scale, x1 * scale, y1 * scale))


class VisionStage:
    """Frames to observations for one city, with one detector (see the module docstring).

    :param max_model_batch: most frames per inference call
    :param clock: time source for ``ingested_at`` (tests pass a fixed one)
    :param decode_threads: JPEGs of one batch decoded in parallel (OpenCV releases the GIL);
        with an int8 model decoding is a large share of a frame. ``None``: as many as the
        detector's threads (:func:`~detectors.vision.session.default_threads`)
    """

    def __init__(
        self,
        city: CityConfig,
        detector: Detector,
        *,
        max_model_batch: int = 16,
        clock: Callable[[], float] = time.time,
        decode_threads: int | None = None,
    ) -> None:
        self.city = city
        self.detector = detector
        self.max_model_batch = max_model_batch
        self.clock = clock
        self.class_kinds = dict(city.vision.class_kinds)
        self.max_jpeg_bytes = city.vision.max_jpeg_bytes
        self.cameras = {cam.id: cam for cam in city.cameras}
        self.projectors: dict[str, GroundProjector | None] = {c.id: camera_projector(c) for c in city.cameras}
        self.trackers: dict[tuple[str, str], ConfirmationTracker] = {}
        self.kinds = sorted(set(self.class_kinds.values()))
        threads = max(1, decode_threads or default_threads())
        self._decoders = ThreadPoolExecutor(threads, thread_name_prefix="vision-decode")

    def read(self, index: int, value: bytes) -> _Frame:
        """Parse and check one record; raises :class:`DecodeError` or :class:`FrameError` with the reason."""
        record = decode(CameraFrame, value)
        camera = self.cameras.get(record.camera_id)
        if camera is None:
            raise FrameError(f"unknown camera {record.camera_id!r} (not in cameras.yaml)", "unknown_camera")
        # base64 is 4/3 of the bytes: refuse an oversize frame before decoding anything.
        if len(record.jpeg_b64) * 3 // 4 > self.max_jpeg_bytes + 3:
            raise FrameError(
                f"JPEG of about {len(record.jpeg_b64) * 3 // 4} bytes exceeds the limit of {self.max_jpeg_bytes} bytes",
                "oversize_jpeg",
            )
        try:
            jpeg = base64.b64decode(record.jpeg_b64, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise FrameError(f"jpeg_b64 is not valid base64: {exc}", "broken_jpeg") from exc
        reduce = reduction_for(record.width, record.height, self.detector.input_size)
        image = decode_jpeg(jpeg, max_bytes=self.max_jpeg_bytes, reduce=reduce)
        return _Frame(index, record, camera, image, jpeg, float(reduce))

    def _read_or_reject(self, index: int, value: bytes) -> _Frame | Rejection:
        try:
            return self.read(index, value)
        except (DecodeError, FrameError) as exc:
            return Rejection(index, exc.reason, exc.error_type)

    def process(self, values: Sequence[bytes]) -> BatchOutcome:
        """Run the whole path over one batch of raw ``camera-frames`` values."""
        outcome = BatchOutcome()
        frames: list[_Frame] = []
        read = (
            self._decoders.map(self._read_or_reject, range(len(values)), values)
            if len(values) > 1
            else [self._read_or_reject(0, values[0])] if values else []
        )
        for item in read:
            if isinstance(item, Rejection):
                outcome.rejections.append(item)
            else:
                frames.append(item)
        outcome.frames = len(frames)
        detections: list[list[Detection]] = []
        for start in range(0, len(frames), self.max_model_batch):
            chunk = frames[start : start + self.max_model_batch]
            for frame, found in zip(chunk, self.detector.detect([f.image for f in chunk]), strict=True):
                detections.append([_scaled(d, frame.scale) for d in found] if frame.scale != 1.0 else found)
            outcome.model_seconds += self.detector.last_infer_seconds
        order = sorted(range(len(frames)), key=lambda i: frames[i].record.captured_at)
        for i in order:
            outcome.findings.extend(self._apply_rules(frames[i], detections[i]))
        return outcome

    def _tracker(self, camera_id: str, kind: str) -> ConfirmationTracker:
        key = (camera_id, kind)
        if key not in self.trackers:
            self.trackers[key] = ConfirmationTracker(camera_id, kind, self.city.kind(kind).confirmation)
        return self.trackers[key]

    def _apply_rules(self, frame: _Frame, detections: list[Detection]) -> list[Finding]:
        width, height = frame.size
        by_kind: dict[str, list[Sighting]] = {kind: [] for kind in self.kinds}
        for det in detections:
            kind = self.class_kinds.get(det.name)
            if kind is None:
                continue
            zone = zone_of(det.box, width, height, frame.camera.zones, kind)
            if zone is None:
                continue
            x0, y0, x1, y1 = det.box
            by_kind[kind].append(
                Sighting((x0 / width, y0 / height, x1 / width, y1 / height), det.score, det.name, zone.name)
            )
        findings: list[Finding] = []
        for kind, sightings in by_kind.items():
            for confirmed in self._tracker(frame.camera.id, kind).update(frame.record.captured_at, sightings):
                findings.append(self._finding(frame, detections, confirmed))
        return findings

    def _place(self, camera: Camera, box_px: tuple[float, float, float, float]) -> tuple[float, float]:
        projector = self.projectors.get(camera.id)
        point = projector.project(*ground_point(box_px)) if projector else None
        if point is None or _metres(point[0], point[1], camera.location.lat, camera.location.lon) > MAX_RANGE_M:
            return camera.location.lat, camera.location.lon
        return point

    def _finding(self, frame: _Frame, detections: list[Detection], confirmed: Confirmed) -> Finding:
        width, height = frame.size
        nx0, ny0, nx1, ny1 = confirmed.box
        box_px = (nx0 * width, ny0 * height, nx1 * width, ny1 * height)
        lat, lon = self._place(frame.camera, box_px)
        category = max(confirmed.labels, key=lambda name: confirmed.labels[name])
        observation = Observation(
            schema_version=SCHEMA_VERSION,
            observation_id=confirmed.observation_id,
            source="camera",
            source_id=frame.record.frame_id,
            observed_at=frame.record.captured_at,
            ingested_at=self.clock(),
            kind=confirmed.kind,
            category=category,
            lat=round(lat, 7),
            lon=round(lon, 7),
            district=frame.camera.district,
            confidence=round(confirmed.score, 4),
            location_precision="camera",
            camera_id=frame.camera.id,
            evidence=confirmed.observation_id,
            bbox=[round(v, 4) for v in confirmed.box],
            labels={**confirmed.labels, "hits": float(confirmed.hits), "frames": float(confirmed.frames)},
        )
        private = [d.box for d in detections if d.name in PRIVATE_CLASSES]
        ttl = max(60, int(self.city.kind(confirmed.kind).window_h * 3600))
        full = decode_jpeg(frame.jpeg) if frame.scale != 1.0 else frame.image
        return Finding(
            frame.index,
            observation,
            evidence_jpeg(full, private, box_px),
            ttl,
            frame.record.captured_at,
        )
