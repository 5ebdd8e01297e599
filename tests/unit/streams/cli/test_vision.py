"""``cityops eval detector`` and ``cityops bench vision`` JSON on tiny real runs, both precisions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from streams.cli import main
from streams.settings import REPO_ROOT

SHARED = REPO_ROOT.parent / "shared" / "datasets"
INT8 = REPO_ROOT / "onnx_models" / "cityops_detector.int8.onnx"

pytestmark = pytest.mark.skipif(
    not (SHARED.exists() and INT8.exists()), reason="shared datasets or the int8 model not available"
)


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> dict:  # type: ignore[type-arg]
    assert main(argv) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def test_eval_detector_runs_either_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "bags"
    (data / "images").mkdir(parents=True)
    (data / "labels").mkdir()
    source = SHARED / "trash-bags"
    for image in sorted((source / "images").iterdir())[:3]:
        (data / "images" / image.name).symlink_to(image)
        (data / "labels" / f"{image.stem}.txt").write_text((source / "labels" / f"{image.stem}.txt").read_text())
    (data / "data.yaml").write_text(yaml.safe_dump({"names": ["garbage_bag", "other_bag"]}))
    common = ["eval", "detector", "--data", str(data), "--imgsz", "320", "--json", "--out", str(tmp_path)]
    fp32 = _run(common, capsys)
    int8 = _run([*common, "--precision", "int8"], capsys)
    assert (fp32["runtime"], int8["runtime"]) == ("cpu-fp32", "cpu-int8")
    assert int8["model"].endswith("cityops_detector.int8.onnx")
    assert Path(fp32["pr_curve_png"]) != Path(int8["pr_curve_png"])  # one picture per precision
    for report in (fp32, int8):
        (bags,) = (row for row in report["classes"] if row["class"] == "garbage_bag")
        assert bags["instances"] > 0 and 0.0 < bags["mAP50"] <= 1.0


def test_bench_vision_measures_both_precisions_in_one_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = _run(
        [
            "bench", "vision", "--sizes", "320", "--batch", "2", "--seconds", "0.2", "--latency-seconds", "0.5",
            "--gate-cameras", "1", "--json", "--out", str(tmp_path),
        ],
        capsys,
    )  # fmt: skip
    assert [r["runtime"] for r in out["results"]] == ["cpu-fp32", "cpu-int8"]
    for row in out["results"]:
        assert row["model_fps_batch1"] > 0 and row["stage_fps_batched"] > 0
        # fps is rounded in the JSON and the camera count floored, hence the tolerance.
        assert abs(row["cameras_per_worker_at_60s"] - row["stage_fps_batched"] * 0.8 * 60) < 1.5
    (ratio,) = out["int8_vs_fp32"]
    fp32, int8 = out["results"]
    assert ratio["model_batched"] == pytest.approx(int8["model_fps_batched"] / fp32["model_fps_batched"], abs=0.02)
    assert ratio["stage_batched"] == pytest.approx(int8["stage_fps_batched"] / fp32["stage_fps_batched"], abs=0.02)
    assert set(ratio["cameras_per_worker_at_60s"]) == {"int8", "fp32"}
    gate = out["motion_gate"]
    assert gate["frames_sampled"] == 40 and 0 < gate["frames_sent"] < gate["frames_sampled"]
    assert Path(out["histogram_png"]).stat().st_size > 1000
    assert Path(gate["timeline_png"]).stat().st_size > 1000


def test_export_and_train_flags(capsys: pytest.CaptureFixture[str]) -> None:
    from streams.cli import build_parser, vision

    parser = build_parser()
    args = parser.parse_args(["export-detector", "--int8", "--calibration", "12"])
    assert args.func is vision.cmd_export and args.int8 and args.calibration == 12
    assert parser.parse_args(["train-detector", "--no-int8"]).no_int8
    assert main(["export-detector"]) == 1  # nothing asked for: a clear error, not a silent no-op
    assert "pass --int8" in capsys.readouterr().err
