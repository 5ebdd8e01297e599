"""Frames as pixels: letterbox geometry, JPEG decode errors, reduced decode."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from detectors.vision.image import FrameError, decode_jpeg, encode_jpeg, letterbox, reduction_for, stack_batch


def _photo(width: int = 400, height: int = 240) -> np.ndarray:
    rng = np.random.default_rng(0)
    return cv2.GaussianBlur(rng.integers(0, 255, (height, width, 3), dtype=np.uint8), (9, 9), 3)


@pytest.mark.parametrize(
    ("width", "height", "size"), [(400, 240, 320), (240, 400, 320), (960, 720, 640), (64, 64, 320)]
)
def test_letterbox_round_trip(width: int, height: int, size: int) -> None:
    canvas, box = letterbox(_photo(width, height), size)
    assert canvas.shape == (size, size, 3)
    frame_boxes = np.array([[0, 0, width, height], [10.5, 20.25, 100.0, 200.0]], dtype=np.float32)
    back = box.to_frame(box.to_input(frame_boxes))
    np.testing.assert_allclose(back, np.minimum(frame_boxes, [width, height, width, height]), atol=1e-3)
    # The whole frame lands inside the canvas, centred, with grey padding around it.
    x0, y0, x1, y1 = box.to_input(frame_boxes[:1])[0]
    assert min(x0, y0) >= 0 and max(x1, y1) <= size + 0.5
    assert abs(x0 - (size - x1)) <= 1 and abs(y0 - (size - y1)) <= 1


def test_letterbox_pads_grey_and_keeps_content() -> None:
    image = np.zeros((100, 200, 3), np.uint8)
    canvas, box = letterbox(image, 200)
    assert box.scale == 1.0 and box.pad_y == 50
    assert (canvas[:50] == 114).all() and (canvas[50:150] == 0).all() and (canvas[150:] == 114).all()


def test_stack_batch_is_rgb_nchw_float() -> None:
    canvas = np.zeros((32, 32, 3), np.uint8)
    canvas[..., 2] = 255  # red in BGR
    batch = stack_batch([canvas, canvas])
    assert batch.shape == (2, 3, 32, 32) and batch.dtype == np.float32
    assert batch[0, 0].max() == 1.0 and batch[0, 2].max() == 0.0


def test_decode_good_jpeg() -> None:
    image = decode_jpeg(encode_jpeg(_photo()))
    assert image.shape == (240, 400, 3)


def test_reduced_decode_is_smaller() -> None:
    jpeg = encode_jpeg(_photo(960, 720))
    assert decode_jpeg(jpeg, reduce=2).shape[:2] == (360, 480)
    assert reduction_for(960, 720, 320) == 2
    assert reduction_for(960, 720, 640) == 1
    assert reduction_for(0, 0, 320) == 1


@pytest.mark.parametrize(
    "payload",
    [b"", b"not a jpeg at all", b"\xff\xd8\xff\xe0" + bytes(200)],
    ids=["empty", "text", "header-only"],
)
def test_broken_jpeg_is_refused(payload: bytes) -> None:
    with pytest.raises(FrameError) as err:
        decode_jpeg(payload)
    assert err.value.error_type == "broken_jpeg"


def test_truncated_jpeg_is_refused() -> None:
    jpeg = encode_jpeg(_photo())
    with pytest.raises(FrameError, match="truncated"):
        decode_jpeg(jpeg[: len(jpeg) // 2])


def test_oversize_jpeg_is_refused_before_decoding() -> None:
    jpeg = encode_jpeg(_photo())
    with pytest.raises(FrameError) as err:
        decode_jpeg(jpeg, max_bytes=len(jpeg) - 1)
    assert err.value.error_type == "oversize_jpeg"
