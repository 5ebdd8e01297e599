"""The agent's batch handling without a broker: failures become dead-letter reasons, never a stopped stage."""

from __future__ import annotations

import pytest

import agents.vision as vision
from detectors.vision.pipeline import BatchOutcome


class _Flaky:
    """A stage whose batch call fails, and which fails again on one poisoned frame."""

    def process(self, values: list[bytes]) -> BatchOutcome:
        if len(values) > 1 or values[0] == b"poison":
            raise RuntimeError("inference blew up")
        return BatchOutcome(frames=1)


def test_a_failing_batch_is_retried_frame_by_frame(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vision, "vision_stage", lambda: _Flaky())
    outcome = vision._process([b"a", b"poison", b"c"])
    assert outcome.frames == 2
    assert [(r.index, r.error_type) for r in outcome.rejections] == [(1, "vision_error")]
    assert "inference blew up" in outcome.rejections[0].reason


def test_a_missing_model_dead_letters_every_frame(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> None:
        raise FileNotFoundError("ONNX model onnx_models/missing.onnx does not exist")

    monkeypatch.setattr(vision, "vision_stage", broken)
    outcome = vision._process([b"a", b"b"])
    assert [r.error_type for r in outcome.rejections] == ["vision_unavailable"] * 2
    assert "missing.onnx" in outcome.rejections[0].reason
