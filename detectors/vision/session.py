"""One onnxruntime session per worker process, running a YOLOv8 ONNX model on batches of frames.

Which file and which providers run is a :mod:`~detectors.vision.runtimes` choice
(``precision``: int8 on CPUs, fp16/fp32 on GPUs when ``auto``); on CPU the
intra-op thread count is set explicitly so several workers on one machine do not
oversubscribe its cores. Class names come from the model's metadata (``names``,
written by the export).
"""

from __future__ import annotations

import ast
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from detectors.vision.image import Letterbox, letterbox, stack_batch
from detectors.vision.runtimes import choose_runtime
from detectors.vision.yolo import RawDetections, decode_output

__all__ = ["Detection", "Detector", "default_threads"]


@dataclass(frozen=True)
class Detection:
    """One object in one frame: ``box`` is xyxy in frame pixels."""

    name: str
    score: float
    box: tuple[float, float, float, float]


def default_threads() -> int:
    """Intra-op threads: ``CITYOPS_VISION_THREADS`` or every core this process may use."""
    if env := os.environ.get("CITYOPS_VISION_THREADS"):
        return max(1, int(env))
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


class Detector:
    """A YOLOv8 ONNX model with its pre- and post-processing: frames in, :class:`Detection` lists out.

    :param model: path of the fp32 ``.onnx`` file (the int8 copy is found beside it)
    :param precision: ``auto``, ``int8``, ``fp16``, ``fp32`` or a runtime key
        (:func:`~detectors.vision.runtimes.choose_runtime`); ``runtime`` says which one ran
    :param providers: the providers to choose among (default: those this onnxruntime offers)
    :param input_size: square input side (the export has dynamic shapes, so 640 and 320 both run)
    :param threads: intra-op threads on CPU; ``None`` means :func:`default_threads`
    """

    def __init__(
        self,
        model: str | Path,
        *,
        input_size: int = 640,
        score_threshold: float = 0.35,
        iou_threshold: float = 0.5,
        threads: int | None = None,
        precision: str = "fp32",
        providers: list[str] | None = None,
    ) -> None:
        runtime = choose_runtime(Path(model), precision, offered=providers)
        self.runtime = runtime.key
        self.precision = runtime.precision
        self.path = runtime.model_file(Path(model))
        self.input_size = input_size
        self.score_threshold = score_threshold
        self.iou_threshold = iou_threshold
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or default_threads()
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(self.path), options, providers=runtime.providers())
        self.input_name = self.session.get_inputs()[0].name
        self.names = self._names(self.session.get_modelmeta().custom_metadata_map)
        self.name_to_id = {name: i for i, name in enumerate(self.names)}
        self.last_infer_seconds = 0.0
        # Sessions may be shared across threads, but one batch at a time keeps latency predictable.
        self._lock = threading.Lock()

    @staticmethod
    def _names(metadata: dict[str, str]) -> list[str]:
        raw = metadata.get("names")
        if not raw:
            raise ValueError("the ONNX model carries no 'names' metadata (export it with cityops train-detector)")
        parsed: Any = ast.literal_eval(raw)
        if isinstance(parsed, dict):
            return [str(parsed[k]) for k in sorted(parsed, key=int)]
        return [str(n) for n in parsed]

    @property
    def providers(self) -> list[str]:
        return list(self.session.get_providers())

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """Raw model output for a ``(B, 3, S, S)`` float32 batch."""
        with self._lock:
            start = time.perf_counter()
            (output,) = self.session.run(None, {self.input_name: batch})[:1]
            self.last_infer_seconds = time.perf_counter() - start
        return np.asarray(output)

    def prepare(self, images: list[np.ndarray]) -> tuple[np.ndarray, list[Letterbox]]:
        """Letterbox and stack ``images`` into one input batch."""
        canvases, boxes = zip(*(letterbox(image, self.input_size) for image in images), strict=True)
        return stack_batch(list(canvases)), list(boxes)

    def raw_detect(self, images: list[np.ndarray]) -> list[RawDetections]:
        """Detections per image in frame pixels, as arrays (what evaluation consumes)."""
        if not images:
            return []
        batch, geometry = self.prepare(images)
        decoded = decode_output(
            self.infer(batch), score_threshold=self.score_threshold, iou_threshold=self.iou_threshold
        )
        return [RawDetections(g.to_frame(d.boxes), d.scores, d.classes) for d, g in zip(decoded, geometry, strict=True)]

    def detect(self, images: list[np.ndarray]) -> list[list[Detection]]:
        """Named detections per image, boxes in frame pixels."""
        return [
            [
                Detection(self.names[int(c)], float(s), (float(b[0]), float(b[1]), float(b[2]), float(b[3])))
                for b, s, c in zip(raw.boxes, raw.scores, raw.classes, strict=True)
            ]
            for raw in self.raw_detect(images)
        ]
