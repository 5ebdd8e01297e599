"""YOLOv8 output decoding and non-maximum suppression, in numpy.

A YOLOv8 detection model exported to ONNX returns ``(B, 4 + C, A)``: for each of
A anchor points a box (centre x, centre y, width, height in input pixels) and
one score per class (already sigmoid-ed). The runtime and the evaluation both
use these functions, so ``cityops eval`` measures what the product runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["RawDetections", "box_iou", "decode_output", "nms"]


@dataclass(frozen=True)
class RawDetections:
    """Detections of one image: ``boxes`` (N, 4) xyxy, ``scores`` (N,), ``classes`` (N,) int."""

    boxes: np.ndarray
    scores: np.ndarray
    classes: np.ndarray

    def __len__(self) -> int:
        return len(self.scores)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of ``(N, 4)`` and ``(M, 4)`` xyxy boxes: an ``(N, M)`` matrix."""
    a = np.asarray(a, dtype=np.float32).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float32).reshape(-1, 4)
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(bottom_right - top_left, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0).astype(np.float32)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Indices of the boxes kept by greedy NMS, highest score first."""
    order = np.argsort(-scores, kind="stable")
    boxes = boxes.astype(np.float32)
    areas = np.prod(boxes[:, 2:] - boxes[:, :2], axis=1)
    keep: list[int] = []
    while order.size:
        best = int(order[0])
        keep.append(best)
        rest = order[1:]
        top_left = np.maximum(boxes[best, :2], boxes[rest, :2])
        bottom_right = np.minimum(boxes[best, 2:], boxes[rest, 2:])
        inter = np.prod(np.clip(bottom_right - top_left, 0, None), axis=1)
        iou = inter / np.maximum(areas[best] + areas[rest] - inter, 1e-9)
        order = rest[iou <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


def decode_output(
    output: np.ndarray,
    *,
    score_threshold: float,
    iou_threshold: float,
    max_detections: int = 300,
    max_candidates: int = 30_000,
) -> list[RawDetections]:
    """Per-image detections from a ``(B, 4 + C, A)`` YOLOv8 output: threshold, then class-aware NMS.

    Each anchor keeps its best class (as in Ultralytics' default ``multi_label=False``);
    NMS runs per class by offsetting boxes of different classes apart.
    """
    if output.ndim != 3 or output.shape[1] < 5:
        raise ValueError(f"expected a (batch, 4 + classes, anchors) YOLOv8 output, got shape {output.shape}")
    results: list[RawDetections] = []
    for pred in output:
        class_scores = pred[4:]
        classes = class_scores.argmax(axis=0)
        scores = class_scores[classes, np.arange(class_scores.shape[1])]
        mask = scores > score_threshold
        if not mask.any():
            results.append(RawDetections(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64)))
            continue
        cxcywh, scores, classes = pred[:4, mask].T, scores[mask], classes[mask]
        if scores.size > max_candidates:
            top = np.argsort(-scores)[:max_candidates]
            cxcywh, scores, classes = cxcywh[top], scores[top], classes[top]
        boxes = np.empty_like(cxcywh)
        boxes[:, :2] = cxcywh[:, :2] - cxcywh[:, 2:] / 2
        boxes[:, 2:] = cxcywh[:, :2] + cxcywh[:, 2:] / 2
        offset = classes[:, None].astype(np.float32) * 7680.0  # larger than any input side
        keep = nms(boxes + offset, scores, iou_threshold)[:max_detections]
        results.append(RawDetections(boxes[keep], scores[keep].astype(np.float32), classes[keep].astype(np.int64)))
    return results
