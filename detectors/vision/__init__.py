"""Perception for street cameras: ONNX detection, rules, confirmation, evidence.

The runtime needs only onnxruntime, OpenCV and numpy (never torch):

- :mod:`.image` — JPEG decode with reasons, letterbox, batch tensor
- :mod:`.yolo` — YOLOv8 output decoding and NMS
- :mod:`.session` — :class:`Detector`, one onnxruntime session per worker
- :mod:`.runtimes` — which file and providers run it here: int8 on CPUs, TensorRT fp16 / CUDA fp32 on GPUs
- :mod:`.geometry` — zones (point in polygon) and the ground-plane homography
- :mod:`.confirm` — k-of-n, stationary-time confirmation per camera and kind
- :mod:`.evidence` — snapshots with people pixelated
- :mod:`.pipeline` — :class:`VisionStage`, the stage's whole path without Kafka
- :mod:`.ingest`, :mod:`.replay` — camera capture with motion gating; the demo feed
- :mod:`.evaluate`, :mod:`.bench`, :mod:`.motion_bench` — ``cityops eval detector`` and ``cityops bench vision``
- :mod:`.quantize` — ``cityops export-detector --int8`` (needs the ``onnx`` package)
- :mod:`.dataset`, :mod:`.training` — the training set and ``cityops train-detector`` (``[train]`` extra)
"""

from __future__ import annotations

from detectors.vision.pipeline import VisionStage
from detectors.vision.session import Detection, Detector

__all__ = ["Detection", "Detector", "VisionStage"]
