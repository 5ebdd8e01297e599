"""Evidence snapshots: the frame an observation was confirmed on, with people made unrecognisable.

Every person box the detector found is pixelated (coarse blocks, then a blur, so
faces and clothing details cannot be recovered) before anything is stored; the
confirmed object is outlined so an operator sees what the camera reported.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from detectors.vision.image import encode_jpeg

__all__ = ["PRIVATE_CLASSES", "anonymise", "evidence_jpeg"]

PRIVATE_CLASSES = frozenset({"person"})
_BLOCK = 12


def anonymise(image: np.ndarray, boxes: Sequence[Sequence[float]], *, margin: float = 0.1) -> np.ndarray:
    """A copy of ``image`` with every xyxy pixel box (grown by ``margin``) pixelated and blurred."""
    out = image.copy()
    height, width = out.shape[:2]
    for box in boxes:
        x0, y0, x1, y1 = (float(v) for v in box)
        dx, dy = (x1 - x0) * margin, (y1 - y0) * margin
        left, top = max(0, int(x0 - dx)), max(0, int(y0 - dy))
        right, bottom = min(width, int(np.ceil(x1 + dx))), min(height, int(np.ceil(y1 + dy)))
        if right - left < 2 or bottom - top < 2:
            continue
        region = out[top:bottom, left:right]
        small = cv2.resize(
            region,
            (max(1, (right - left) // _BLOCK), max(1, (bottom - top) // _BLOCK)),
            interpolation=cv2.INTER_AREA,
        )
        coarse = cv2.resize(small, (right - left, bottom - top), interpolation=cv2.INTER_NEAREST)
        out[top:bottom, left:right] = cv2.GaussianBlur(coarse, (0, 0), sigmaX=_BLOCK / 2)
    return out


def evidence_jpeg(
    image: np.ndarray,
    private_boxes: Sequence[Sequence[float]],
    subject: Sequence[float],
    *,
    max_side: int = 960,
    quality: int = 80,
) -> bytes:
    """JPEG of ``image`` with ``private_boxes`` anonymised and the ``subject`` box outlined."""
    snapshot = anonymise(image, private_boxes)
    x0, y0, x1, y1 = (round(float(v)) for v in subject)
    cv2.rectangle(snapshot, (x0, y0), (x1, y1), (0, 0, 255), max(2, snapshot.shape[1] // 400))
    scale = max_side / max(snapshot.shape[:2])
    if scale < 1:
        snapshot = cv2.resize(snapshot, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return encode_jpeg(snapshot, quality=quality)
