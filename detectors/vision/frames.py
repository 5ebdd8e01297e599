"""Camera frames: sample frames from a camera, skip unchanged scenes, encode them for the wire.

A source is an RTSP/HTTP URL or a video file (read with OpenCV), an image file
(a still camera) or a folder of images (one image per sample, in name order).
Frames are sampled every ``interval`` seconds; :class:`MotionGate` sends a
frame only when the scene changed beyond a threshold since the last frame
sent, or when ``keepalive_s`` passed (so the confirmation rules still see a
static violation regularly). Each frame sent is resized, JPEG-encoded and
wrapped in a ``CameraFrame``. Sending it to Kafka is the camera-side producer's
job (:mod:`streams.cli.cameras`): perception knows frames, not brokers.
"""

from __future__ import annotations

import base64
import threading
from pathlib import Path

import cv2
import numpy as np

from detectors.vision.dataset import IMAGE_SUFFIXES
from detectors.vision.image import FrameError, encode_jpeg
from schemas.records import SCHEMA_VERSION, CameraFrame

__all__ = [
    "FrameReader",
    "MotionGate",
    "frame_record",
    "jpeg_for_wire",
]

_LIVE_SCHEMES = ("rtsp://", "rtsps://", "http://", "https://", "rtmp://", "udp://", "tcp://")


class MotionGate:
    """Decides whether a sampled frame is worth sending.

    The scene is compared as a small blurred greyscale thumbnail; the share of
    pixels whose brightness moved by more than ``pixel_delta`` against the last
    frame *sent* is the change (so slow drift accumulates until it is sent).

    :param threshold: share of changed pixels (0..1) that counts as a new scene
    :param keepalive_s: send anyway when this long passed since the last frame sent
    """

    def __init__(self, threshold: float = 0.02, keepalive_s: float = 60.0, pixel_delta: int = 25) -> None:
        self.threshold = threshold
        self.keepalive_s = keepalive_s
        self.pixel_delta = pixel_delta
        self._last: np.ndarray | None = None
        self._last_sent_at = -float("inf")

    @staticmethod
    def thumbnail(image: np.ndarray) -> np.ndarray:
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
        small = cv2.resize(grey, (96, 72), interpolation=cv2.INTER_AREA)
        return cv2.GaussianBlur(small, (5, 5), 0)

    def change(self, image: np.ndarray) -> float:
        """Share of the thumbnail that changed since the last frame sent (1.0 before the first)."""
        if self._last is None:
            return 1.0
        diff = cv2.absdiff(self.thumbnail(image), self._last)
        return float(np.count_nonzero(diff > self.pixel_delta)) / diff.size

    def decide(self, image: np.ndarray, now: float) -> str:
        """``"first"``, ``"motion"`` or ``"keepalive"`` if the frame should be sent, else ``""``."""
        if self._last is None:
            reason = "first"
        elif self.change(image) >= self.threshold:
            reason = "motion"
        elif now - self._last_sent_at >= self.keepalive_s:
            reason = "keepalive"
        else:
            return ""
        self._last = self.thumbnail(image)
        self._last_sent_at = now
        return reason


def jpeg_for_wire(image: np.ndarray, *, max_side: int, max_bytes: int, quality: int = 85) -> tuple[bytes, int, int]:
    """Resize so the longer side is at most ``max_side`` and encode, lowering quality until under ``max_bytes``."""
    scale = max_side / max(image.shape[:2])
    if scale < 1:
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    while True:
        jpeg = encode_jpeg(image, quality=quality)
        if len(jpeg) <= max_bytes or quality <= 30:
            break
        quality -= 15
    if len(jpeg) > max_bytes:
        raise FrameError(f"frame still {len(jpeg)} bytes at JPEG quality {quality}", "oversize_jpeg")
    return jpeg, image.shape[1], image.shape[0]


def frame_record(camera_id: str, captured_at: float, jpeg: bytes, width: int, height: int) -> CameraFrame:
    """The ``CameraFrame`` for one JPEG; its id is the camera and the capture time in milliseconds."""
    return CameraFrame(
        schema_version=SCHEMA_VERSION,
        camera_id=camera_id,
        frame_id=f"{camera_id}:{int(captured_at * 1000)}",
        captured_at=captured_at,
        jpeg_b64=base64.b64encode(jpeg).decode("ascii"),
        width=width,
        height=height,
    )


class FrameReader:
    """Frames from one source, one per :meth:`read` call (``None`` when a file source is exhausted).

    Live streams are read continuously on a background thread that keeps only the
    newest frame, so a sample is always current however slowly it is taken; the
    stream is reopened after a failure. Video files are sampled every
    ``interval`` seconds of video time; image folders give one image per read.
    """

    def __init__(self, source: str, *, interval: float, loop: bool = False) -> None:
        self.source = source
        self.interval = interval
        self.loop = loop
        self._images: list[Path] = []
        self._next = 0
        self._capture: cv2.VideoCapture | None = None
        self._latest: np.ndarray | None = None
        self._stop = threading.Event()
        self.live = source.lower().startswith(_LIVE_SCHEMES)
        path = Path(source)
        if self.live:
            threading.Thread(target=self._pump, name=f"capture {source}", daemon=True).start()
        elif path.is_dir():
            self._images = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not self._images:
                raise FileNotFoundError(f"{source}: no images ({', '.join(IMAGE_SUFFIXES)})")
        elif path.suffix.lower() in IMAGE_SUFFIXES:
            self._images = [path]
            self.loop = True
        elif path.exists():
            self._capture = cv2.VideoCapture(source)
            if not self._capture.isOpened():
                raise OSError(f"OpenCV cannot open video {source}")
        else:
            raise FileNotFoundError(f"{source}: no such file, folder or stream URL")

    def _pump(self) -> None:
        while not self._stop.is_set():
            capture = cv2.VideoCapture(self.source)
            while capture.isOpened() and not self._stop.is_set():
                ok, frame = capture.read()
                if not ok:
                    break
                self._latest = frame
            capture.release()
            self._stop.wait(2.0)  # reconnect after a dropped stream, without spinning

    def read(self) -> np.ndarray | None:
        if self.live:
            return self._latest
        if self._capture is not None:
            ok, frame = self._capture.read()
            if ok and self.interval > 0:
                fps = self._capture.get(cv2.CAP_PROP_FPS) or 25.0
                skip = max(0, round(self.interval * fps) - 1)
                position = self._capture.get(cv2.CAP_PROP_POS_FRAMES)
                self._capture.set(cv2.CAP_PROP_POS_FRAMES, position + skip)
            return frame if ok else None
        if self._next >= len(self._images):
            if not self.loop:
                return None
            self._next = 0
        image = cv2.imread(str(self._images[self._next]), cv2.IMREAD_COLOR)
        self._next += 1
        return image

    def close(self) -> None:
        self._stop.set()
        if self._capture is not None:
            self._capture.release()
