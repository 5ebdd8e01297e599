"""Camera ingest without a broker: motion gating, JPEG sizing, image-folder sources, demo reels."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from config import load_city
from detectors.vision.frames import FrameReader, MotionGate, jpeg_for_wire
from detectors.vision.image import FrameError, decode_jpeg
from streams.cli.cameras import load_reels


def _scene(seed: int = 0, size: tuple[int, int] = (480, 640)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur(rng.integers(0, 255, (*size, 3), dtype=np.uint8), (15, 15), 5)


def test_static_scene_is_sent_once_then_only_as_keepalive() -> None:
    gate = MotionGate(threshold=0.02, keepalive_s=60)
    scene = _scene()
    decisions = [gate.decide(scene, float(t)) for t in range(0, 130, 10)]
    assert decisions[0] == "first"
    assert [t * 10 for t, d in enumerate(decisions) if d == "keepalive"] == [60, 120]
    assert sum(1 for d in decisions if d) == 3


def test_sensor_noise_is_not_motion_but_a_change_is() -> None:
    gate = MotionGate(threshold=0.02, keepalive_s=600)
    scene = _scene()
    gate.decide(scene, 0)
    noisy = np.clip(scene.astype(int) + np.random.default_rng(1).integers(-4, 5, scene.shape), 0, 255).astype(np.uint8)
    assert gate.decide(noisy, 10) == ""
    changed = scene.copy()
    cv2.rectangle(changed, (200, 200), (400, 450), (20, 20, 20), -1)  # something was put down
    assert gate.decide(changed, 20) == "motion"
    assert gate.decide(changed, 30) == ""  # compared with the last frame sent


def test_jpeg_for_wire_resizes_and_respects_the_byte_limit() -> None:
    image = _scene(size=(1080, 1920))
    jpeg, width, height = jpeg_for_wire(image, max_side=960, max_bytes=4_000_000)
    assert (width, height) == (960, 540)
    assert decode_jpeg(jpeg).shape[:2] == (540, 960)
    small, _, _ = jpeg_for_wire(image, max_side=960, max_bytes=len(jpeg) // 2)
    assert len(small) <= len(jpeg) // 2
    with pytest.raises(FrameError):
        jpeg_for_wire(image, max_side=960, max_bytes=500)


def test_folder_source_reads_images_in_name_order(tmp_path: Path) -> None:
    for i in (2, 0, 1):
        cv2.imwrite(str(tmp_path / f"frame_{i}.jpg"), np.full((20, 30, 3), i * 100, np.uint8))
    (tmp_path / "notes.txt").write_text("not an image")
    reader = FrameReader(str(tmp_path), interval=0)
    shades = []
    while (image := reader.read()) is not None:
        shades.append(int(image.mean() // 50))
    assert shades == [0, 2, 4]


def test_missing_source_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        FrameReader(str(tmp_path / "nope.mp4"), interval=1)


def test_video_file_is_sampled_by_interval(tmp_path: Path) -> None:
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (64, 48))
    if not writer.isOpened():
        pytest.skip("this OpenCV build cannot write MJPG video")
    for i in range(50):
        writer.write(np.full((48, 64, 3), i * 5, np.uint8))
    writer.release()
    reader = FrameReader(str(path), interval=1.0)  # 10 fps: every 10th frame
    frames = []
    while (image := reader.read()) is not None:
        frames.append(image)
    assert len(frames) == 5


def test_demo_reels_split_photos_over_cameras(tmp_path: Path) -> None:
    for i in range(10):
        cv2.imwrite(str(tmp_path / f"p{i:02d}.jpg"), _scene(i, (120, 160)))
    cameras = load_city("spb").cameras[:3]
    reels = load_reels(tmp_path, cameras)
    assert [r.camera_id for r in reels] == [c.id for c in cameras]
    assert [len(r.frames) for r in reels] == [4, 3, 3]
    assert reels[0].at(0, 150) == reels[0].at(149, 150) != reels[0].at(151, 150)
