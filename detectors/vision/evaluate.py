"""``cityops eval detector``: per-class precision, recall, mAP50 and mAP50-95 of the ONNX model.

The model runs exactly as in the product (:class:`~detectors.vision.session.Detector`:
same letterbox, same decoding and NMS); only the score threshold is lowered to
0.001 so the precision-recall curve can be integrated, as the usual mAP protocol
does. Precision and recall are reported at the product's score threshold
(``vision.score_threshold``), which is what operators will experience.

AP per class and IoU threshold: detections sorted by score, each matched greedily
to the unmatched ground-truth box of the same class with the highest IoU; the
precision envelope is sampled at 101 recall points (as Ultralytics does). mAP50-95 averages
the ten IoU thresholds 0.50, 0.55 ... 0.95.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from detectors.vision.dataset import LabelledImage, iter_yolo_folder, read_names
from detectors.vision.image import decode_jpeg
from detectors.vision.progress import Progress
from detectors.vision.session import Detector
from detectors.vision.yolo import box_iou

__all__ = [
    "ClassMetrics",
    "EvalReport",
    "average_precision",
    "evaluate_detector",
    "match_classes",
    "write_pr_curves",
]

IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)
EVAL_SCORE_THRESHOLD = 0.001


@dataclass
class ClassMetrics:
    """Metrics of one dataset class (named as in the dataset, evaluated as ``model_class``)."""

    name: str
    model_class: str
    images: int
    instances: int
    precision: float
    recall: float
    map50: float
    map50_95: float
    curve_recall: list[float] = field(default_factory=list, repr=False)
    curve_precision: list[float] = field(default_factory=list, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "class": self.name,
            "model_class": self.model_class,
            "images": self.images,
            "instances": self.instances,
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "mAP50": round(self.map50, 4),
            "mAP50-95": round(self.map50_95, 4),
        }


@dataclass
class EvalReport:
    """The whole evaluation: one row per matched class, their mean, and what could not be matched."""

    model: str
    data: str
    input_size: int
    score_threshold: float
    images: int
    classes: list[ClassMetrics]
    unmatched: list[str]

    def as_dict(self) -> dict[str, Any]:
        rows = [c.as_dict() for c in self.classes]
        mean = {
            key: round(float(np.mean([r[key] for r in rows])), 4) if rows else 0.0
            for key in ("precision", "recall", "mAP50", "mAP50-95")
        }
        return {
            "model": self.model,
            "data": self.data,
            "input_size": self.input_size,
            "score_threshold": self.score_threshold,
            "images": self.images,
            "classes": rows,
            "mean": mean,
            "unmatched_dataset_classes": self.unmatched,
        }


def match_classes(
    dataset_names: list[str], model_names: list[str], class_map: dict[str, str] | None = None
) -> tuple[dict[int, int], list[str]]:
    """Dataset class id -> model class id, by name (``class_map`` renames dataset classes first)."""
    model_ids = {name: i for i, name in enumerate(model_names)}
    mapping: dict[int, int] = {}
    unmatched: list[str] = []
    for index, name in enumerate(dataset_names):
        target = (class_map or {}).get(name, name)
        if target in model_ids:
            mapping[index] = model_ids[target]
        else:
            unmatched.append(name)
    return mapping, unmatched


def average_precision(recall: np.ndarray, precision: np.ndarray) -> float:
    """Area under the precision envelope, interpolated at 101 recall points (trapezoids, as Ultralytics)."""
    r = np.concatenate(([0.0], recall, [1.0]))
    p = np.concatenate(([1.0], precision, [0.0]))
    p = np.flip(np.maximum.accumulate(np.flip(p)))
    samples = np.linspace(0, 1, 101)
    return float(np.trapezoid(np.interp(samples, r, p), samples))


def _match(pred_boxes: np.ndarray, scores: np.ndarray, gt_boxes: np.ndarray) -> np.ndarray:
    """``(N, 10)`` booleans: is prediction i a true positive at each IoU threshold (greedy by score)."""
    tp = np.zeros((len(pred_boxes), len(IOU_THRESHOLDS)), dtype=bool)
    if len(pred_boxes) == 0 or len(gt_boxes) == 0:
        return tp
    iou = box_iou(pred_boxes, gt_boxes)
    order = np.argsort(-scores, kind="stable")
    for t, threshold in enumerate(IOU_THRESHOLDS):
        taken = np.zeros(len(gt_boxes), dtype=bool)
        for i in order:
            candidates = np.where(~taken & (iou[i] >= threshold), iou[i], -1.0)
            best = int(candidates.argmax())
            if candidates[best] >= 0:
                taken[best] = True
                tp[i, t] = True
    return tp


def _gt_pixels(item: LabelledImage, width: int, height: int) -> np.ndarray:
    cx, cy, w, h = (item.boxes[:, i] for i in range(4))
    return np.stack([(cx - w / 2) * width, (cy - h / 2) * height, (cx + w / 2) * width, (cy + h / 2) * height], 1)


def evaluate_detector(
    detector: Detector,
    data: Path,
    *,
    class_map: dict[str, str] | None = None,
    batch: int = 8,
    progress: bool | None = None,
) -> EvalReport:
    """Evaluate ``detector`` on the YOLO folder ``data`` (see the module docstring)."""
    names = read_names(data / "data.yaml")
    mapping, unmatched = match_classes(names, detector.names, class_map)
    if not mapping:
        raise ValueError(f"no dataset class of {names} matches a model class (use --class-map a=b)")
    product_threshold = detector.score_threshold
    detector.score_threshold = EVAL_SCORE_THRESHOLD
    items = list(iter_yolo_folder(data))
    per_class: dict[int, dict[str, list[Any]]] = {c: {"tp": [], "scores": [], "n": [], "imgs": []} for c in mapping}
    bar = Progress(len(items), f"eval {data.name}", enabled=progress)
    try:
        for start in range(0, len(items), batch):
            chunk = items[start : start + batch]
            images = [decode_jpeg(item.image.read_bytes()) for item in chunk]
            for item, image, raw in zip(chunk, images, detector.raw_detect(images), strict=True):
                gt = _gt_pixels(item, image.shape[1], image.shape[0])
                for dataset_class, model_class in mapping.items():
                    gt_c = gt[item.classes == dataset_class]
                    keep = raw.classes == model_class
                    acc = per_class[dataset_class]
                    acc["tp"].append(_match(raw.boxes[keep], raw.scores[keep], gt_c))
                    acc["scores"].append(raw.scores[keep])
                    acc["n"].append(len(gt_c))
                    acc["imgs"].append(len(gt_c) > 0)
            bar.advance(len(chunk))
    finally:
        bar.close()
        detector.score_threshold = product_threshold
    rows = [
        _class_metrics(names[c], detector.names[mapping[c]], acc, product_threshold) for c, acc in per_class.items()
    ]
    return EvalReport(
        str(detector.path), str(data), detector.input_size, product_threshold, len(items), rows, unmatched
    )


def _class_metrics(name: str, model_class: str, acc: dict[str, list[Any]], threshold: float) -> ClassMetrics:
    n_gt = int(sum(acc["n"]))
    tp = np.concatenate(acc["tp"]) if acc["tp"] else np.zeros((0, len(IOU_THRESHOLDS)), bool)
    scores = np.concatenate(acc["scores"]) if acc["scores"] else np.zeros(0)
    order = np.argsort(-scores, kind="stable")
    tp, scores = tp[order], scores[order]
    cum_tp = np.cumsum(tp, axis=0)
    cum_fp = np.cumsum(~tp, axis=0)
    recall = cum_tp / max(n_gt, 1)
    precision = cum_tp / np.maximum(cum_tp + cum_fp, 1)
    aps = [average_precision(recall[:, t], precision[:, t]) if len(tp) else 0.0 for t in range(len(IOU_THRESHOLDS))]
    above = int(np.sum(scores >= threshold))
    p_at = float(precision[above - 1, 0]) if above else 0.0
    r_at = float(recall[above - 1, 0]) if above else 0.0
    return ClassMetrics(
        name=name,
        model_class=model_class,
        images=int(sum(acc["imgs"])),
        instances=n_gt,
        precision=p_at,
        recall=r_at,
        map50=aps[0] if n_gt else 0.0,
        map50_95=float(np.mean(aps)) if n_gt else 0.0,
        curve_recall=recall[:, 0].tolist(),
        curve_precision=precision[:, 0].tolist(),
    )


def write_pr_curves(report: EvalReport, path: Path) -> Path:
    """PNG of the precision-recall curve (IoU 0.5) of every evaluated class."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(7, 5))
    for row in report.classes:
        ax.plot(row.curve_recall, row.curve_precision, label=f"{row.name} (AP50 {row.map50:.2f})")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_title(f"{Path(report.model).name} on {Path(report.data).name}, input {report.input_size}")
    ax.legend(loc="lower left")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
