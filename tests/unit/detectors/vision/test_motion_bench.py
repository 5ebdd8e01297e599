"""Motion gating measured on a simulated fixed camera: shake and noise are not motion, a new bag is."""

from __future__ import annotations

import numpy as np
import pytest

from detectors.vision.frames import MotionGate
from detectors.vision.motion_bench import bag_crops, camera_sample, run_motion_bench
from detectors.vision.session import Detector
from streams.settings import REPO_ROOT

SHARED = REPO_ROOT.parent / "shared" / "datasets"
PHOTOS = SHARED / "street-garbage-photos"
BAGS = SHARED / "trash-bags"
MODEL = REPO_ROOT / "onnx_models" / "cityops_detector.onnx"


def test_shake_flicker_and_noise_are_small_but_not_zero() -> None:
    rng = np.random.default_rng(0)
    scene = np.tile(np.linspace(0, 255, 320, dtype=np.uint8), (240, 1))[..., None].repeat(3, axis=2)
    sample = camera_sample(scene, rng)
    assert sample.shape == scene.shape and sample.dtype == np.uint8
    difference = np.abs(sample.astype(int) - scene.astype(int))
    assert 1.0 < difference.mean() < 12.0
    gate = MotionGate(0.02, keepalive_s=60.0)
    assert gate.decide(scene, 0.0) == "first"
    assert [gate.decide(camera_sample(scene, rng), t) for t in (10.0, 20.0, 30.0)] == ["", "", ""]


@pytest.mark.skipif(not (PHOTOS.exists() and BAGS.exists()), reason="shared photos not available")
def test_gate_run_counts_frames_and_finds_the_new_bag() -> None:
    assert all(min(c.shape[:2]) >= 80 for c in bag_crops(BAGS, 2))
    detector = Detector(MODEL, input_size=320, threads=2)
    run = run_motion_bench(detector, PHOTOS, BAGS, cameras=2, samples=12, change_at=9, keepalive_s=60.0)
    out = run.as_dict()
    assert out["frames_sampled"] == 24
    # Per camera: first frame, the keepalive at 60 s, then the change at 90 s (motion or the 120 s keepalive).
    assert out["sent_because"]["first"] == 2 and out["sent_because"]["keepalive"] >= 2
    assert out["frames_sent"] == sum(out["sent_because"].values()) < out["frames_sampled"]
    assert out["false_motion_sends"] == 0
    assert len(out["detection_delay_s"]["each"]) == 2
    assert all(d is None or 0.0 <= d <= 30.0 for d in out["detection_delay_s"]["each"])
