"""YOLOv8 output decoding and NMS on crafted tensors."""

from __future__ import annotations

import numpy as np

from detectors.vision.yolo import box_iou, decode_output, nms


def test_box_iou() -> None:
    a = np.array([[0, 0, 10, 10]], np.float32)
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]], np.float32)
    np.testing.assert_allclose(box_iou(a, b)[0], [1.0, 50 / 150, 0.0], rtol=1e-6)


def test_nms_keeps_best_of_overlapping_and_separate_boxes() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60], [0, 0, 10, 9]], np.float32)
    scores = np.array([0.8, 0.9, 0.7, 0.3], np.float32)
    assert nms(boxes, scores, 0.5).tolist() == [1, 2]
    assert sorted(nms(boxes, scores, 0.99).tolist()) == [0, 1, 2, 3]


def _anchor(cx: float, cy: float, w: float, h: float, scores: list[float]) -> list[float]:
    return [cx, cy, w, h, *scores]


def test_decode_output_crafted_tensor() -> None:
    # 3 classes, 5 anchors: two overlapping class-0 boxes, one class-2 box on top of them, one weak, one class-1.
    anchors = [
        _anchor(50, 50, 20, 20, [0.9, 0.0, 0.1]),
        _anchor(51, 51, 20, 20, [0.6, 0.0, 0.0]),
        _anchor(50, 50, 20, 20, [0.0, 0.1, 0.8]),
        _anchor(10, 10, 4, 4, [0.2, 0.0, 0.0]),
        _anchor(100, 80, 40, 10, [0.0, 0.7, 0.0]),
    ]
    output = np.array(anchors, np.float32).T[None]  # (1, 4 + 3, 5)
    (found,) = decode_output(output, score_threshold=0.25, iou_threshold=0.5)
    scores = [round(float(s), 2) for s in found.scores]
    got = sorted(zip(found.classes.tolist(), scores, found.boxes.tolist(), strict=True))
    assert [(c, s) for c, s, _ in got] == [(0, 0.9), (1, 0.7), (2, 0.8)]  # class-aware NMS keeps class 2
    assert got[0][2] == [40.0, 40.0, 60.0, 60.0]
    assert got[1][2] == [80.0, 75.0, 120.0, 85.0]


def test_decode_output_batch_and_empty() -> None:
    output = np.zeros((2, 6, 4), np.float32)
    output[1, :, 0] = [30, 30, 10, 10, 0.0, 0.95]
    empty, one = decode_output(output, score_threshold=0.5, iou_threshold=0.5)
    assert len(empty) == 0 and empty.boxes.shape == (0, 4)
    assert len(one) == 1 and one.classes.tolist() == [1]
