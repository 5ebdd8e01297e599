"""``cityops eval detector``: AP arithmetic, class matching, and a run of the real model on shared photos."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest
import yaml

from detectors.vision.evaluate import _match, average_precision, evaluate_detector, match_classes, write_pr_curves
from detectors.vision.session import Detector
from streams.settings import REPO_ROOT

FACADES = REPO_ROOT.parent / "shared" / "datasets" / "facade-ads"
MODEL = REPO_ROOT / "onnx_models" / "cityops_detector.onnx"


def test_perfect_ranking_has_ap_one_and_a_bad_one_less() -> None:
    # 0.995, not 1: the last trapezoid meets the sentinel point (recall 1, precision 0), as in Ultralytics.
    assert average_precision(np.array([0.5, 1.0]), np.array([1.0, 1.0])) == pytest.approx(0.995, abs=1e-6)
    # One false positive ranked first, then both true boxes.
    recall, precision = np.array([0.0, 0.5, 1.0]), np.array([0.0, 0.5, 2 / 3])
    assert 0.6 < average_precision(recall, precision) < 0.7


def test_matching_is_one_to_one_per_iou_threshold() -> None:
    gt = np.array([[0, 0, 10, 10]], np.float32)
    preds = np.array([[0, 0, 10, 10], [0, 0, 10, 9], [1, 0, 11, 10]], np.float32)
    tp = _match(preds, np.array([0.9, 0.8, 0.7], np.float32), gt)
    assert tp[:, 0].tolist() == [True, False, False]  # the duplicate is a false positive
    assert tp[0].all()  # the exact box matches at every IoU threshold


def test_class_matching_by_name_and_map() -> None:
    mapping, unmatched = match_classes(
        ["window", "signboard", "trash"], ["garbage_bag", "signboard"], {"trash": "garbage_bag"}
    )
    assert mapping == {1: 1, 2: 0}
    assert unmatched == ["window"]


@pytest.mark.skipif(not FACADES.exists(), reason="shared facade-ads dataset not available")
def test_eval_runs_the_product_model_on_a_yolo_folder(tmp_path: Path) -> None:
    data = tmp_path / "facades"
    (data / "images").mkdir(parents=True)
    (data / "labels").mkdir()
    for stem in ("img_1", "img_10", "img_100"):
        (data / "images" / f"{stem}.jpg").symlink_to(FACADES / "images" / f"{stem}.jpg")
        (data / "labels" / f"{stem}.txt").write_text((FACADES / "labels" / f"{stem}.txt").read_text())
    (data / "data.yaml").write_text(
        yaml.safe_dump({"names": yaml.safe_load((FACADES / "data.yaml").read_text())["names"]})
    )
    detector = Detector(MODEL, input_size=320, score_threshold=0.35, threads=2)
    report = evaluate_detector(detector, data, progress=False)
    rows = {row["class"]: row for row in report.as_dict()["classes"]}
    assert set(rows) == {"cantilever", "signboard", "win_ad"}
    assert report.unmatched == ["window", "arch", "door"]
    assert all(0.0 <= r["mAP50-95"] <= r["mAP50"] <= 1.0 for r in rows.values())
    assert detector.score_threshold == 0.35  # restored after the low-threshold sweep
    assert write_pr_curves(report, tmp_path / "pr.png").stat().st_size > 1000


def test_cli_registers_into_shared_groups() -> None:
    from streams.cli import vision

    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    bench = sub.add_parser("bench").add_subparsers(dest="bench")
    bench.add_parser("hotline")
    vision.register(sub)
    assert parser.parse_args(["bench", "hotline"]).bench == "hotline"
    args = parser.parse_args(["bench", "vision", "--json"])
    assert args.func is vision.cmd_bench and args.json
    args = parser.parse_args(["eval", "detector", "--data", "d", "--class-map", "a=b"])
    assert vision._class_map(args.class_map) == {"a": "b"}
    assert parser.parse_args(["replay-cameras", "--cameras", "3"]).cameras == 3
    assert parser.parse_args(["ingest-camera", "--camera", "c", "--source", "x"]).func is vision.cmd_ingest
