"""Vision stage through the real broker and Redis: frames in, observations, evidence and dead letters out.

Uses the session ``stack`` (Tansu + valkey + one worker). Frames of one demo camera
show the same real photo of garbage bags, stamped 30 s apart, so the garbage rule
(3 of 5 frames, 120 s in place) confirms it; bad frames must land on ``deadletter``
with the vision stage's reasons while the stage keeps going.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from schemas.codec import encode
from streams.redis_keys import evidence
from streams.settings import REPO_ROOT

PHOTO = (
    REPO_ROOT.parent
    / "shared"
    / "datasets"
    / "street-garbage-photos"
    / "mdc_photo_mdc_776a50_cdv_photo_001_1470938736245.jpg"
)
CAMERA = "cam-vo-6-line"

pytestmark = [
    pytest.mark.skipif(not PHOTO.exists(), reason="shared demo photos not available"),
]


def _frame(camera: str, captured_at: float, jpeg: bytes) -> bytes:
    from detectors.vision.frames import frame_record

    return encode(frame_record(camera, captured_at, jpeg, 960, 716))


def test_frames_become_observations_and_bad_frames_dead_letters(stack: Any) -> None:
    jpeg = PHOTO.read_bytes()
    start = time.time() - 600  # six frames 30 s apart, ending in the past
    obs_since = stack.offsets("observations")
    dl_since = stack.offsets("deadletter")
    items = [(CAMERA, _frame(CAMERA, start + 30 * i, jpeg)) for i in range(3)]
    items += [
        (CAMERA, _frame(CAMERA, start + 95, b"\xff\xd8\xff\xe0 this is not a picture")),
        ("cam-nowhere", _frame("cam-nowhere", start, jpeg)),
        (CAMERA, b'{"schema_version": 1, "camera_id": "' + CAMERA.encode() + b'"'),
    ]
    items += [(CAMERA, _frame(CAMERA, start + 30 * i, jpeg)) for i in range(3, 6)]
    stack.send_many("camera-frames", items)

    letters = stack.read_json("deadletter", lambda d: d["stage"] == "vision", 3, timeout_s=120, since=dl_since)
    kinds = sorted(d["error_type"] for d in letters)
    assert "broken_jpeg" in kinds and "unknown_camera" in kinds and len(kinds) >= 3
    assert all(d["value_size"] > 0 and d["reason"] for d in letters)

    found = stack.read_json(
        "observations",
        lambda d: d.get("camera_id") == CAMERA and d["kind"] == "garbage",
        1,
        timeout_s=120,
        since=obs_since,
    )
    obs = found[0]
    assert obs["source"] == "camera" and obs["district"] == "vasileostrovskiy"
    assert obs["observed_at"] - start >= 120
    assert stack.redis.get(evidence(obs["observation_id"]))[:2] == b"\xff\xd8"
    assert stack.redis.ttl(evidence(obs["observation_id"])) > 3600

    # Redelivering the same frames does not make a new observation id.
    stack.send_many("camera-frames", items[-3:])
    time.sleep(5)
    again = stack.read_json("observations", lambda d: d.get("camera_id") == CAMERA, 1, since=obs_since)
    assert {d["observation_id"] for d in again} == {obs["observation_id"]}
    assert len(obs["bbox"]) == 4
