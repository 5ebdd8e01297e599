"""The committed ONNX detector and the stage's whole path, on a real shared photo (no broker)."""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np
import pytest

from config import load_city
from detectors.vision import Detector, VisionStage
from detectors.vision.frames import frame_record
from detectors.vision.image import decode_jpeg, encode_jpeg
from schemas.codec import decode, encode
from schemas.records import Observation
from streams.settings import REPO_ROOT

SHARED = REPO_ROOT.parent / "shared" / "datasets"
# Black garbage bags on a pavement by a bicycle and a scooter (City of Amsterdam inspection photo, 960x716).
PHOTO = SHARED / "street-garbage-photos" / "mdc_photo_mdc_776a50_cdv_photo_001_1470938736245.jpg"
MODEL = REPO_ROOT / "onnx_models" / "cityops_detector.onnx"

pytestmark = pytest.mark.skipif(not PHOTO.exists(), reason=f"shared photos not available at {PHOTO}")


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector(MODEL, input_size=320, score_threshold=0.35, iou_threshold=0.5, threads=2)


@pytest.fixture(scope="module")
def photo_jpeg() -> bytes:
    return PHOTO.read_bytes()


def test_model_has_fine_tuned_and_coco_classes(detector: Detector) -> None:
    assert detector.names[:4] == ["garbage_bag", "cantilever", "signboard", "win_ad"]
    assert {"person", "umbrella", "dining table", "bicycle"} <= set(detector.names)
    assert MODEL.stat().st_size < 30_000_000


@pytest.mark.parametrize("size", [320, 640])
def test_model_finds_garbage_bags_on_a_real_photo(detector: Detector, photo_jpeg: bytes, size: int) -> None:
    detector.input_size = size
    try:
        (found,) = detector.detect([decode_jpeg(photo_jpeg)])
    finally:
        detector.input_size = 320
    bags = [d for d in found if d.name == "garbage_bag"]
    assert len(bags) >= 2
    height, width = decode_jpeg(photo_jpeg).shape[:2]
    for bag in bags:
        x0, y0, x1, y1 = bag.box
        assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height


def test_batched_inference_equals_single(detector: Detector, photo_jpeg: bytes) -> None:
    image = decode_jpeg(photo_jpeg)
    flipped = np.ascontiguousarray(image[:, ::-1])
    single = detector.raw_detect([image])[0]
    batched = detector.raw_detect([flipped, image])[1]
    np.testing.assert_allclose(single.scores, batched.scores, atol=1e-4)
    np.testing.assert_allclose(single.boxes, batched.boxes, atol=0.05)


def _frame(camera: str, t: float, jpeg: bytes, width: int = 960, height: int = 716) -> bytes:
    return encode(frame_record(camera, t, jpeg, width, height))


def test_stage_confirms_garbage_and_rejects_bad_frames(detector: Detector, photo_jpeg: bytes) -> None:
    city = load_city("spb")
    stage = VisionStage(city, detector, clock=lambda: 2_000_000_000.0)
    camera = "cam-nevsky-gostiny"  # its no_vending zone (lower 55 %) watches garbage
    good = [_frame(camera, 1_700_000_000.0 + 30 * i, photo_jpeg) for i in range(6)]
    broken = _frame(camera, 1_700_000_500.0, b"\xff\xd8\xff\xe0garbage")
    unknown = _frame("cam-nowhere", 1_700_000_000.0, photo_jpeg)
    malformed = b'{"schema_version": 1, "camera_id": 5}'
    huge = _frame(camera, 1_700_000_600.0, b"\xff\xd8" + bytes(city.vision.max_jpeg_bytes) + b"\xff\xd9")
    outcome = stage.process([good[0], broken, unknown, malformed, *good[1:], huge])
    reasons = {r.index: r.error_type for r in outcome.rejections}
    assert reasons.keys() == {1, 2, 3, 9}
    assert (reasons[1], reasons[2], reasons[9]) == ("broken_jpeg", "unknown_camera", "oversize_jpeg")
    assert "camera" in next(r.reason for r in outcome.rejections if r.index == 2)
    assert outcome.frames == 6
    garbage = [f for f in outcome.findings if f.observation.kind == "garbage"]
    assert garbage, "a pile that stays for 150 s in 6 frames must be confirmed"
    finding = garbage[0]
    obs = finding.observation
    assert obs.source == "camera" and obs.camera_id == camera and obs.district == "tsentralnyy"
    assert obs.category == "garbage_bag" and obs.location_precision == "camera"
    assert obs.observed_at >= 1_700_000_000.0 + 120  # garbage must stand 120 s (case_kinds.yaml)
    assert abs(obs.lat - 59.9343) < 0.005 and abs(obs.lon - 30.3351) < 0.01
    assert decode(Observation, encode(obs)).observation_id == obs.observation_id
    assert decode_jpeg(finding.evidence).shape[1] <= 960
    assert finding.evidence_ttl_s == 48 * 3600


def test_stage_ids_are_the_same_on_redelivery(detector: Detector, photo_jpeg: bytes) -> None:
    city = load_city("spb")
    frames = [_frame("cam-sennaya", 1_700_000_000.0 + 30 * i, photo_jpeg) for i in range(6)]
    ids = []
    for _ in range(2):
        stage = VisionStage(city, detector)
        ids.append(sorted(f.observation.observation_id for f in stage.process(frames).findings))
    assert ids[0] and ids[0] == ids[1]


def test_frames_stamped_close_together_do_not_confirm_stationary_kinds(detector: Detector, photo_jpeg: bytes) -> None:
    stage = VisionStage(load_city("spb"), detector)
    frames = [_frame("cam-sennaya", 1_700_000_000.0 + 5 * i, photo_jpeg) for i in range(6)]
    assert stage.process(frames).findings == []  # 25 s < the 120 s a pile must stay


def test_people_are_pixelated_in_evidence() -> None:
    from detectors.vision.evidence import anonymise

    rng = np.random.default_rng(1)
    image = rng.integers(0, 255, (200, 200, 3), dtype=np.uint8)
    out = anonymise(image, [(50, 50, 150, 150)], margin=0.0)
    assert (out[:50] == image[:50]).all()
    region = out[60:140, 60:140].astype(float)
    assert region.std() < image[60:140, 60:140].astype(float).std() / 3


def test_frame_record_round_trip(photo_jpeg: bytes) -> None:
    record = frame_record("cam-x", 1234.5678, photo_jpeg, 960, 716)
    assert record.frame_id == "cam-x:1234567"
    assert base64.b64decode(record.jpeg_b64) == photo_jpeg


def test_encode_jpeg_round_trip() -> None:
    image = np.full((10, 20, 3), 128, np.uint8)
    assert decode_jpeg(encode_jpeg(image)).shape == (10, 20, 3)


def test_model_path_is_repo_relative() -> None:
    assert Path(load_city("spb").vision.model) == Path("onnx_models/cityops_detector.onnx")


INT8 = REPO_ROOT / "onnx_models" / "cityops_detector.int8.onnx"


@pytest.mark.skipif(not INT8.exists(), reason="no committed int8 model")
def test_int8_model_finds_the_same_bags_as_fp32(detector: Detector, photo_jpeg: bytes) -> None:
    int8 = Detector(MODEL, input_size=320, score_threshold=0.35, iou_threshold=0.5, threads=2, precision="int8")
    assert (int8.runtime, int8.precision, int8.path) == ("cpu-int8", "int8", INT8)
    assert int8.names == detector.names
    assert INT8.stat().st_size < 8_000_000
    image = decode_jpeg(photo_jpeg)
    (fp32_found,) = detector.raw_detect([image])
    (int8_found,) = int8.raw_detect([image])
    bag = detector.name_to_id["garbage_bag"]
    fp32_bags, int8_bags = fp32_found.boxes[fp32_found.classes == bag], int8_found.boxes[int8_found.classes == bag]
    assert len(int8_bags) >= 2
    # Each bag fp32 sees, int8 sees in the same place (boxes in pixels, scores in 0..1: the head stayed float).
    from detectors.vision.yolo import box_iou

    assert (box_iou(fp32_bags, int8_bags).max(axis=1) > 0.7).all()
    assert 0.35 < float(int8_found.scores.max()) <= 1.0


def test_auto_precision_runs_int8_on_this_cpu_machine() -> None:
    auto = Detector(MODEL, input_size=320, threads=1, precision="auto", providers=["CPUExecutionProvider"])
    assert auto.runtime == ("cpu-int8" if INT8.exists() else "cpu-fp32")
    assert auto.providers == ["CPUExecutionProvider"]
