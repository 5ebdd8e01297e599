"""``cityops bench vision``: model-only throughput vs the whole stage's path, and latency under load.

All measurements come from one process and one onnxruntime session per input
size and precision (one worker), on real photos of the demo feed; fp32 and int8
are measured in the same run, in alternating slices, and ``int8_vs_fp32`` is
their ratio:

- *model*: ``session.run`` on ready input tensors (batch 1 and batched), measured in
  short slices alternating with the stage's, so both see the same background load;
- *stage*: ``CameraFrame`` bytes -> decode -> letterbox/batch -> infer -> NMS ->
  zones/confirmation/homography -> evidence -> observation bytes, through
  :class:`~detectors.vision.pipeline.VisionStage`, exactly as the agent runs it;
- *latency*: frames arrive open-loop at 80 % of the batched stage capacity
  (evenly spaced, across cameras), a consumer takes up to ``max_batch`` frames
  waiting at most ``max_wait_s`` (as ``stream.take`` does) and processes them;
  latency is arrival -> processed, p50/p99 over the run.

Frames are stamped 10 s apart per camera (each camera's sampling interval), so
confirmations, evidence snapshots and observations happen during the run as
they would on the street.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from config.models import CityConfig
from detectors.vision.frames import frame_record
from detectors.vision.image import letterbox, stack_batch
from detectors.vision.pipeline import VisionStage
from detectors.vision.progress import Progress
from detectors.vision.session import Detector, default_threads
from schemas.codec import encode
from streams.cli.cameras import CameraReel, load_reels

__all__ = ["BenchResult", "int8_vs_fp32", "run_vision_bench", "write_latency_histogram"]


@dataclass
class BenchResult:
    """Figures for one input size."""

    input_size: int
    threads: int
    batch: int
    precision: str = "fp32"
    runtime: str = "cpu-fp32"
    model_fps_b1: float = 0.0
    model_fps_batched: float = 0.0
    stage_fps_b1: float = 0.0
    stage_fps_batched: float = 0.0
    model_cpu_ms: float = 0.0
    stage_cpu_ms: float = 0.0
    load_fps: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    observations: int = 0
    cpu_share: float = 0.0
    latencies: list[float] = field(default_factory=list, repr=False)

    def cameras_at(self, interval_s: float) -> int:
        """Cameras one worker serves at one frame per ``interval_s``, keeping 20 % headroom."""
        return int(self.stage_fps_batched * 0.8 * interval_s)

    def as_dict(self) -> dict[str, Any]:
        return {
            "input_size": self.input_size,
            "precision": self.precision,
            "runtime": self.runtime,
            "threads_per_worker": self.threads,
            "batch": self.batch,
            "model_fps_batch1": round(self.model_fps_b1, 2),
            "model_fps_batched": round(self.model_fps_batched, 2),
            "stage_fps_batch1": round(self.stage_fps_b1, 2),
            "stage_fps_batched": round(self.stage_fps_batched, 2),
            "stage_vs_model_batch1": round(self.stage_fps_b1 / max(self.model_fps_b1, 1e-9), 3),
            "stage_vs_model_batched": round(self.stage_fps_batched / max(self.model_fps_batched, 1e-9), 3),
            "model_cpu_ms_per_frame_batched": round(self.model_cpu_ms, 2),
            "stage_cpu_ms_per_frame_batched": round(self.stage_cpu_ms, 2),
            "stage_vs_model_by_cpu": round(self.model_cpu_ms / max(self.stage_cpu_ms, 1e-9), 3),
            "latency_load_fps": round(self.load_fps, 2),
            "latency_p50_ms": round(self.p50_ms, 1),
            "latency_p99_ms": round(self.p99_ms, 1),
            "latency_frames": len(self.latencies),
            "observations_emitted": self.observations,
            "cameras_per_worker_at_10s": self.cameras_at(10.0),
            "cameras_per_worker_at_60s": self.cameras_at(60.0),
            "cpu_share_of_worker_threads": round(self.cpu_share, 2),
        }


class _FrameFeed:
    """Encoded ``CameraFrame`` records, round-robin over the demo cameras, stamped 10 s apart per camera."""

    def __init__(self, reels: Sequence[CameraReel], hold_frames: int = 20) -> None:
        self.reels = reels
        self.hold_frames = hold_frames
        self.count = 0
        self.t0 = 1_700_000_000.0

    def next(self) -> bytes:
        reel = self.reels[self.count % len(self.reels)]
        step = self.count // len(self.reels)
        jpeg, width, height = reel.frames[(step // self.hold_frames) % len(reel.frames)]
        self.count += 1
        return encode(frame_record(reel.camera_id, self.t0 + 10.0 * step, jpeg, width, height))

    def take(self, n: int) -> list[bytes]:
        return [self.next() for _ in range(n)]


class _Meter:
    """Busy time, process CPU time and frames of one workload, measured in slices.

    CPU time (every thread of the process) moves less than wall time when other
    processes take the cores, so it is reported beside frames/s.
    """

    def __init__(self, run: Any, prepare: Any, per_call: int) -> None:
        self.run, self.prepare, self.per_call = run, prepare, per_call
        self.busy, self.cpu, self.frames = 0.0, 0.0, 0
        self.results: list[Any] = []

    def slice(self, seconds: float) -> None:
        """Run calls for about ``seconds``, timing ``run`` only (``prepare`` is the producer's work)."""
        spent = 0.0
        while spent < seconds:
            item = self.prepare()
            started, cpu_started = time.perf_counter(), time.process_time()
            self.results.append(self.run(item))
            elapsed = time.perf_counter() - started
            self.cpu += time.process_time() - cpu_started
            spent += elapsed
            self.busy += elapsed
            self.frames += self.per_call

    @property
    def fps(self) -> float:
        return self.frames / max(self.busy, 1e-9)

    @property
    def cpu_ms(self) -> float:
        """CPU milliseconds per frame."""
        return 1000 * self.cpu / max(self.frames, 1)


def _paired_fps(
    pairs: Sequence[tuple[Detector, VisionStage]], feed: _FrameFeed, batch: int, seconds: float, slice_s: float = 0.5
) -> list[tuple[_Meter, _Meter]]:
    """Model-only and whole-stage meters of each (detector, stage) pair, measured in alternating slices.

    The machine may be shared: alternating short slices (model, stage, next precision's
    model, ...) lets every workload see the same background load, so the ratios between
    them are fair even when the absolute numbers move.
    """
    sample = feed.take(batch)

    def run_stage(stage: VisionStage) -> Any:
        def run(values: list[bytes]) -> int:
            outcome = stage.process(values)
            for finding in outcome.findings:
                encode(finding.observation)
            return len(outcome.findings)

        return run

    meters = []
    for detector, stage in pairs:
        images = [stage.read(i, v).image for i, v in enumerate(sample)]
        tensor = stack_batch([letterbox(image, detector.input_size)[0] for image in images])
        detector.infer(tensor)  # warm-up: the first call allocates
        meters.append(
            (
                _Meter(detector.infer, lambda t=tensor: t, batch),
                _Meter(run_stage(stage), lambda: feed.take(batch), batch),
            )
        )
    while any(m.busy < seconds or w.busy < seconds for m, w in meters):
        for model, whole in meters:
            model.slice(slice_s)
            whole.slice(slice_s)
    return meters


def _latency(
    stage: VisionStage, feed: _FrameFeed, rate: float, seconds: float, max_batch: int, max_wait_s: float
) -> tuple[list[float], int]:
    """Open-loop arrivals at ``rate`` frames/s; returns arrival->processed latencies and observations."""
    arrivals: queue.Queue[tuple[float, bytes] | None] = queue.Queue()
    total = max(int(rate * seconds), max_batch)
    frames = feed.take(total)

    def produce() -> None:
        start = time.perf_counter()
        for i, value in enumerate(frames):
            time.sleep(max(0.0, start + i / rate - time.perf_counter()))
            arrivals.put((time.perf_counter(), value))
        arrivals.put(None)

    threading.Thread(target=produce, daemon=True).start()
    latencies: list[float] = []
    emitted = 0
    done = False
    while not done:
        first = arrivals.get()
        if first is None:
            break
        batch = [first]
        deadline = time.perf_counter() + max_wait_s
        while len(batch) < max_batch:
            try:
                item = arrivals.get(timeout=max(0.0, deadline - time.perf_counter()))
            except queue.Empty:
                break
            if item is None:
                done = True
                break
            batch.append(item)
        outcome = stage.process([value for _, value in batch])
        for finding in outcome.findings:
            encode(finding.observation)
        emitted += len(outcome.findings)
        finished = time.perf_counter()
        latencies.extend(finished - arrived for arrived, _ in batch)
    return latencies, emitted


def run_vision_bench(
    city: CityConfig,
    model: Path,
    photos: Path,
    *,
    sizes: Sequence[int] = (640, 320),
    precisions: Sequence[str] = ("fp32", "int8"),
    batch: int = 4,
    seconds: float = 8.0,
    latency_seconds: float = 20.0,
    max_wait_s: float = 0.05,
    threads: int | None = None,
    cameras: int = 8,
    progress: bool | None = None,
) -> list[BenchResult]:
    """Measure every input size in ``sizes`` for every precision (see the module docstring).

    :param precisions: what :class:`~detectors.vision.session.Detector` accepts (``fp32``, ``int8``,
        ``auto`` or a runtime key such as ``cuda-fp32``); all are measured in the same slices
    """
    threads = threads or default_threads()
    reels = load_reels(photos, city.cameras[:cameras], per_camera=6)
    results = []
    settings = city.vision
    bar = Progress(len(sizes) * (2 + len(precisions)), "bench vision", enabled=progress)
    try:
        for size in sizes:
            detectors = [
                Detector(
                    model,
                    input_size=size,
                    score_threshold=settings.score_threshold,
                    iou_threshold=settings.iou_threshold,
                    threads=threads,
                    precision=precision,
                )
                for precision in precisions
            ]
            pairs = [(d, VisionStage(city, d, max_model_batch=batch)) for d in detectors]
            runs = [BenchResult(size, threads, batch, d.precision, d.runtime) for d in detectors]
            feed = _FrameFeed(reels)
            for result, (alone, whole) in zip(runs, _paired_fps(pairs, feed, 1, seconds), strict=True):
                result.model_fps_b1, result.stage_fps_b1, result.observations = alone.fps, whole.fps, sum(whole.results)
            bar.advance()
            for result, (alone, whole) in zip(runs, _paired_fps(pairs, feed, batch, seconds), strict=True):
                result.model_fps_batched, result.stage_fps_batched = alone.fps, whole.fps
                result.model_cpu_ms, result.stage_cpu_ms = alone.cpu_ms, whole.cpu_ms
                result.observations += sum(whole.results)
            bar.advance()
            for result, detector in zip(runs, detectors, strict=True):
                cpu_started, wall_started = time.process_time(), time.perf_counter()
                result.load_fps = 0.8 * result.stage_fps_batched
                stage = VisionStage(city, detector, max_model_batch=batch)
                result.latencies, emitted_lat = _latency(
                    stage, _FrameFeed(reels), result.load_fps, latency_seconds, batch, max_wait_s
                )
                result.cpu_share = (time.process_time() - cpu_started) / (
                    (time.perf_counter() - wall_started) * min(threads, os.cpu_count() or 1)
                )
                result.observations += emitted_lat
                result.p50_ms = float(np.percentile(result.latencies, 50)) * 1000
                result.p99_ms = float(np.percentile(result.latencies, 99)) * 1000
                bar.advance()
            results.extend(runs)
    finally:
        bar.close()
    return results


def int8_vs_fp32(results: Sequence[BenchResult]) -> list[dict[str, Any]]:
    """Per input size, int8 frames/s over fp32 frames/s (model-only and whole stage), from the same run."""
    rows = []
    for size in dict.fromkeys(r.input_size for r in results):
        by = {r.precision: r for r in results if r.input_size == size}
        if "int8" not in by or "fp32" not in by:
            continue
        q, f = by["int8"], by["fp32"]
        rows.append(
            {
                "input_size": size,
                "runtimes": [q.runtime, f.runtime],
                "model_batch1": round(q.model_fps_b1 / max(f.model_fps_b1, 1e-9), 2),
                "model_batched": round(q.model_fps_batched / max(f.model_fps_batched, 1e-9), 2),
                "stage_batch1": round(q.stage_fps_b1 / max(f.stage_fps_b1, 1e-9), 2),
                "stage_batched": round(q.stage_fps_batched / max(f.stage_fps_batched, 1e-9), 2),
                "model_by_cpu": round(f.model_cpu_ms / max(q.model_cpu_ms, 1e-9), 2),
                "stage_by_cpu": round(f.stage_cpu_ms / max(q.stage_cpu_ms, 1e-9), 2),
                "cameras_per_worker_at_60s": {
                    "int8": q.cameras_at(60.0),
                    "fp32": f.cameras_at(60.0),
                },
            }
        )
    return rows


def write_latency_histogram(results: Sequence[BenchResult], path: Path) -> Path:
    """PNG histogram of frame latencies at 80 % load, one series per input size and runtime."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(7, 4))
    for r in results:
        ax.hist(
            np.asarray(r.latencies) * 1000,
            bins=50,
            alpha=0.6,
            label=f"{r.input_size}px {r.runtime} @ {r.load_fps:.1f} fps: p50 {r.p50_ms:.0f} ms, p99 {r.p99_ms:.0f} ms",
        )
    ax.set_xlabel("frame -> observation path latency (ms)")
    ax.set_ylabel("frames")
    ax.set_title("vision stage at 80 % of capacity, one worker")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
