"""Frames as pixels: JPEG decode with readable errors, letterbox to the model input, batching.

The letterbox keeps the aspect ratio, pads with grey (114) to a square of the
model's input size, and remembers the scale and padding so boxes found in the
model's coordinates map back to the original frame (:meth:`Letterbox.to_frame`).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = [
    "FrameError",
    "Letterbox",
    "decode_jpeg",
    "encode_jpeg",
    "letterbox",
    "reduction_for",
    "stack_batch",
]

PAD_VALUE = 114


class FrameError(ValueError):
    """A frame that cannot be used; ``error_type`` names the kind of problem for the dead letter."""

    def __init__(self, reason: str, error_type: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.error_type = error_type


_REDUCED = {
    1: cv2.IMREAD_COLOR,
    2: cv2.IMREAD_REDUCED_COLOR_2,
    4: cv2.IMREAD_REDUCED_COLOR_4,
    8: cv2.IMREAD_REDUCED_COLOR_8,
}


def reduction_for(width: int, height: int, min_side: int) -> int:
    """The largest JPEG decode reduction (1, 2, 4, 8) that keeps the longer side at least ``min_side``.

    Decoding at 1/2 or 1/4 scale happens in the DCT domain and is several times faster than a
    full decode followed by a resize; the model never sees more than its input size anyway.
    """
    longer = max(width, height)
    return max((f for f in _REDUCED if longer // f >= min_side), default=1)


def decode_jpeg(data: bytes, *, max_bytes: int | None = None, reduce: int = 1) -> np.ndarray:
    """BGR pixels of an encoded image, optionally decoded at ``1/reduce`` scale.

    Raises :class:`FrameError` for oversize, empty or broken data.
    """
    if max_bytes is not None and len(data) > max_bytes:
        raise FrameError(f"JPEG of {len(data)} bytes exceeds the limit of {max_bytes} bytes", "oversize_jpeg")
    if not data:
        raise FrameError("empty image payload", "broken_jpeg")
    # OpenCV decodes a cut-off JPEG with a grey bottom instead of failing: refuse it here.
    if data[:2] == b"\xff\xd8" and not data.rstrip(b"\0").endswith(b"\xff\xd9"):
        raise FrameError(f"JPEG of {len(data)} bytes is truncated (no end-of-image marker)", "broken_jpeg")
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), _REDUCED.get(reduce, cv2.IMREAD_COLOR))
    if image is None or image.size == 0:
        raise FrameError(f"image payload of {len(data)} bytes cannot be decoded (not a JPEG/PNG)", "broken_jpeg")
    return image


def encode_jpeg(image: np.ndarray, *, quality: int = 85) -> bytes:
    """JPEG bytes of a BGR image."""
    ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise FrameError("OpenCV could not encode the image as JPEG", "encode_failed")
    return buffer.tobytes()


@dataclass(frozen=True)
class Letterbox:
    """How a frame was placed in the model input: ``input = frame * scale + (pad_x, pad_y)``."""

    scale: float
    pad_x: float
    pad_y: float
    width: int
    height: int

    def to_frame(self, boxes: np.ndarray) -> np.ndarray:
        """Map ``(N, 4)`` xyxy boxes from model-input pixels to frame pixels, clipped to the frame."""
        out = boxes.astype(np.float32).copy()
        out[:, [0, 2]] = (out[:, [0, 2]] - self.pad_x) / self.scale
        out[:, [1, 3]] = (out[:, [1, 3]] - self.pad_y) / self.scale
        out[:, [0, 2]] = out[:, [0, 2]].clip(0, self.width)
        out[:, [1, 3]] = out[:, [1, 3]].clip(0, self.height)
        return out

    def to_input(self, boxes: np.ndarray) -> np.ndarray:
        """Map ``(N, 4)`` xyxy boxes from frame pixels to model-input pixels (inverse of :meth:`to_frame`)."""
        out = boxes.astype(np.float32).copy()
        out[:, [0, 2]] = out[:, [0, 2]] * self.scale + self.pad_x
        out[:, [1, 3]] = out[:, [1, 3]] * self.scale + self.pad_y
        return out


def letterbox(image: np.ndarray, size: int) -> tuple[np.ndarray, Letterbox]:
    """Fit ``image`` (H, W, 3 BGR) centred into a ``size``-square grey canvas; returns canvas and geometry."""
    height, width = image.shape[:2]
    scale = min(size / height, size / width)
    new_w, new_h = round(width * scale), round(height * scale)
    resized = (
        image
        if (new_w, new_h) == (width, height)
        else cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    )
    pad_x, pad_y = (size - new_w) / 2, (size - new_h) / 2
    left, top = round(pad_x - 0.1), round(pad_y - 0.1)
    canvas = np.full((size, size, 3), PAD_VALUE, dtype=np.uint8)
    canvas[top : top + new_h, left : left + new_w] = resized
    return canvas, Letterbox(scale, float(left), float(top), width, height)


def stack_batch(canvases: list[np.ndarray]) -> np.ndarray:
    """``(B, 3, S, S)`` float32 RGB in 0..1 from letterboxed BGR canvases: the YOLOv8 input tensor."""
    batch = np.stack(canvases)[..., ::-1]  # BGR -> RGB
    return np.ascontiguousarray(batch.transpose(0, 3, 1, 2), dtype=np.float32) / np.float32(255.0)
