"""Motion gating, measured: how many sampled frames a static scene saves, and how late a new object is seen.

Each simulated camera watches one real street photo (the demo photos) sampled every
``interval_s`` seconds. Every sample is the same scene with what a fixed camera adds:
a small shake (up to ``jitter_px`` pixels), a brightness flicker and sensor noise. At
``change_at`` a real change happens: a garbage bag cut from a labelled training photo
(its labelled box) is put down in the lower half of the scene and stays.

:class:`~detectors.vision.frames.MotionGate` (the camera-side gate of ``ingest-camera``)
decides per sample; the frames it sends go through the detector. Reported: frames
sampled vs sent (by reason), and per camera the camera-time delay from the change to the
first sent frame in which the detector finds a ``garbage_bag`` over the new bag
(IoU >= 0.3), plus the gate's false sends (motion before anything changed). The change
falls between two keepalives, so a change the gate misses waits for the next keepalive.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from detectors.vision.dataset import IMAGE_SUFFIXES, read_label_file
from detectors.vision.frames import MotionGate
from detectors.vision.image import decode_jpeg
from detectors.vision.session import Detector
from detectors.vision.yolo import box_iou

__all__ = ["GateRun", "bag_crops", "camera_sample", "run_motion_bench", "write_gate_timeline"]


def camera_sample(
    scene: np.ndarray, rng: np.random.Generator, *, jitter_px: float = 2.0, noise: float = 4.0
) -> np.ndarray:
    """One sample of a fixed camera: ``scene`` shaken by up to ``jitter_px``, flickered by ±3 %, plus noise."""
    dx, dy = rng.uniform(-jitter_px, jitter_px, 2)
    shift = np.array([[1, 0, dx], [0, 1, dy]], dtype=np.float32)
    moved = cv2.warpAffine(scene, shift, (scene.shape[1], scene.shape[0]), borderMode=cv2.BORDER_REFLECT)
    gain = rng.uniform(0.97, 1.03)
    noisy = np.asarray(moved, np.float32) * np.float32(gain) + rng.normal(0.0, noise, scene.shape).astype(np.float32)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def bag_crops(bags_dataset: Path, count: int, *, seed: int = 0, min_side: int = 80) -> list[np.ndarray]:
    """Garbage bags cut out of labelled photos (their labelled boxes), at least ``min_side`` pixels."""
    images = sorted(p for p in (bags_dataset / "images").iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    random.Random(seed).shuffle(images)
    crops: list[np.ndarray] = []
    for path in images:
        if len(crops) >= count:
            break
        _, boxes = read_label_file(bags_dataset / "labels" / f"{path.stem}.txt")
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None or not len(boxes):
            continue
        height, width = image.shape[:2]
        cx, cy, w, h = boxes[int(np.argmax(boxes[:, 2] * boxes[:, 3]))]
        x0, y0 = int((cx - w / 2) * width), int((cy - h / 2) * height)
        x1, y1 = int((cx + w / 2) * width), int((cy + h / 2) * height)
        if min(x1 - x0, y1 - y0) >= min_side:
            crops.append(image[max(0, y0) : y1, max(0, x0) : x1].copy())
    if not crops:
        raise FileNotFoundError(f"{bags_dataset}: no labelled bag of at least {min_side} px")
    return crops


def _put_down(scene: np.ndarray, bag: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``scene`` with ``bag`` pasted (a quarter of the frame's width) in its lower half, and the bag's box."""
    height, width = scene.shape[:2]
    scale = 0.25 * width / bag.shape[1]
    bag = cv2.resize(bag, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)[: height // 2]
    bh, bw = bag.shape[:2]
    x0 = int(rng.integers(0, width - bw))
    y0 = int(rng.integers(height // 2, height - bh + 1))
    changed = scene.copy()
    changed[y0 : y0 + bh, x0 : x0 + bw] = bag
    return changed, np.array([x0, y0, x0 + bw, y0 + bh], dtype=np.float64)


@dataclass
class GateRun:
    """What the gate did over every simulated camera."""

    cameras: int
    interval_s: float
    threshold: float
    keepalive_s: float
    sampled: int = 0
    sent: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    false_motion: int = 0
    delays_s: list[float | None] = field(default_factory=list)
    sends: list[list[tuple[float, str]]] = field(default_factory=list, repr=False)
    change_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        found = [d for d in self.delays_s if d is not None]
        return {
            "cameras": self.cameras,
            "sample_interval_s": self.interval_s,
            "motion_threshold": self.threshold,
            "keepalive_s": self.keepalive_s,
            "frames_sampled": self.sampled,
            "frames_sent": self.sent,
            "sent_share": round(self.sent / max(self.sampled, 1), 3),
            "sent_because": dict(self.reasons),
            "false_motion_sends": self.false_motion,
            "new_object_detected_on": f"{len(found)}/{len(self.delays_s)} cameras",
            "detection_delay_s": {
                "median": float(np.median(found)) if found else None,
                "max": max(found) if found else None,
                "each": self.delays_s,
            },
        }


def run_motion_bench(
    detector: Detector,
    photos: Path,
    bags_dataset: Path,
    *,
    cameras: int = 8,
    samples: int = 40,
    change_at: int = 33,
    interval_s: float = 10.0,
    threshold: float = 0.02,
    keepalive_s: float = 60.0,
    seed: int = 0,
) -> GateRun:
    """Simulate ``cameras`` fixed cameras for ``samples`` samples each (see the module docstring)."""
    scenes = sorted(p for p in photos.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)[:: max(1, cameras)][:cameras]
    bags = bag_crops(bags_dataset, len(scenes), seed=seed)
    rng = np.random.default_rng(seed)
    bag_id = detector.name_to_id.get("garbage_bag")
    run = GateRun(len(scenes), interval_s, threshold, keepalive_s, change_s=change_at * interval_s)
    for scene_path, bag in zip(scenes, bags, strict=False):
        scene = decode_jpeg(scene_path.read_bytes())
        changed, bag_box = _put_down(scene, bag, rng)
        gate = MotionGate(threshold, keepalive_s)
        delay: float | None = None
        run.sends.append([])
        for step in range(samples):
            now = step * interval_s
            frame = camera_sample(changed if step >= change_at else scene, rng)
            run.sampled += 1
            reason = gate.decide(frame, now)
            if not reason:
                continue
            run.sent += 1
            run.reasons[reason] += 1
            run.sends[-1].append((now, reason))
            if reason == "motion" and step < change_at:
                run.false_motion += 1
            if step >= change_at and delay is None and bag_id is not None:
                (found,) = detector.raw_detect([frame])
                boxes = found.boxes[found.classes == bag_id]
                if len(boxes) and float(box_iou(bag_box[None], boxes).max()) >= 0.3:
                    delay = now - change_at * interval_s
        run.delays_s.append(delay)
    return run


def write_gate_timeline(run: GateRun, path: Path) -> Path:
    """PNG: one row per simulated camera, a mark per frame sent (by reason), the change and each detection."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(8, 0.45 * run.cameras + 2.0))
    colours = {"first": "tab:blue", "keepalive": "tab:grey", "motion": "tab:orange"}
    for row, (sends, delay) in enumerate(zip(run.sends, run.delays_s, strict=True)):
        for reason, colour in colours.items():
            times = [t for t, r in sends if r == reason]
            ax.scatter(times, [row] * len(times), c=colour, s=18, label=reason if row == 0 else None)
        if delay is not None:
            ax.scatter(
                [run.change_s + delay],
                [row],
                marker="*",
                s=200,
                facecolors="none",
                edgecolors="tab:red",
                label="new bag detected" if row == 0 else None,
            )
    ax.axvline(run.change_s, color="tab:red", linestyle=":", label="bag put down")
    ax.set_xlabel("camera time (s)")
    ax.set_ylabel("camera")
    ax.set_title(
        f"motion gate: {run.sent} of {run.sampled} samples sent (every {run.interval_s:g} s, "
        f"threshold {run.threshold:g}, keepalive {run.keepalive_s:g} s)"
    )
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), fontsize=8, ncols=5)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
