"""The int8 export: what stays float, calibration frames, and the committed int8 file's structure."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")

from detectors.vision.quantize import (  # noqa: E402
    CalibrationFrames,
    calibration_images,
    check_output_float,
    float_nodes,
    float_weights,
)
from streams.settings import REPO_ROOT  # noqa: E402

FP32 = REPO_ROOT / "onnx_models" / "cityops_detector.onnx"
INT8 = REPO_ROOT / "onnx_models" / "cityops_detector.int8.onnx"


@pytest.fixture(scope="module")
def fp32_model() -> object:
    return float_weights(onnx.load(str(FP32)))


def test_committed_fp16_storage_is_folded_back_to_float32_weights(fp32_model: object) -> None:
    graph = fp32_model.graph  # type: ignore[attr-defined]
    assert not [n for n in graph.node if n.op_type == "Cast" and n.input[0].endswith("__fp16")]
    initializers = {t.name: t for t in graph.initializer}
    convs = [n for n in graph.node if n.op_type == "Conv"]
    assert len(convs) > 90
    assert all(initializers[n.input[1]].data_type == onnx.TensorProto.FLOAT for n in convs)


def test_decoding_and_the_output_stay_float_and_learned_layers_do_not(fp32_model: object) -> None:
    kept = set(float_nodes(fp32_model))
    graph = fp32_model.graph  # type: ignore[attr-defined]
    producer = next(n.name for n in graph.node if "output0" in n.output)
    for head in ("/first.22/", "/second.22/"):
        assert {f"{head}Sigmoid", f"{head}dfl/Softmax", f"{head}dfl/conv/Conv", f"{head}Concat_26"} <= kept
    assert {producer, "/Concat", "/Concat_1", "/Slice"} <= kept
    # Every learned convolution (backbone, necks, the heads' box and class branches) is quantized.
    learned = [n.name for n in graph.node if n.op_type == "Conv" and "/dfl/" not in n.name]
    assert learned and not kept.intersection(learned)
    assert "/first.22/cv3.0/cv3.0.2/Conv" in learned and "/second.22/cv2.2/cv2.2.2/Conv" in learned
    assert Counter(n.split("/")[1] for n in kept if n.count("/") > 1).keys() == {"first.22", "second.22"}


def test_a_graph_without_a_detection_head_is_refused() -> None:
    from onnx import TensorProto, helper

    node = helper.make_node("Relu", ["x"], ["y"], name="/model.0/Relu")
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    with pytest.raises(ValueError, match="dfl"):
        float_nodes(helper.make_model(graph))


def test_an_output_computed_from_dequantized_values_is_refused() -> None:
    from onnx import TensorProto, helper

    def model(nodes: list[object]) -> object:
        graph = helper.make_graph(
            nodes,
            "g",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
            [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [4])],
            initializer=[
                helper.make_tensor("s", TensorProto.FLOAT, [], [0.1]),
                helper.make_tensor("z", TensorProto.UINT8, [], [0]),
            ],
        )
        return helper.make_model(graph)

    concat_float = helper.make_node("Concat", ["x", "x"], ["output0"], axis=0)
    check_output_float(model([concat_float]))
    quantize = helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"])
    dequantize = helper.make_node("DequantizeLinear", ["q", "s", "z"], ["dq"])
    concat_dq = helper.make_node("Concat", ["dq", "x"], ["output0"], axis=0)
    with pytest.raises(ValueError, match="must stay float"):
        check_output_float(model([quantize, dequantize, concat_dq]))


def _touch(folder: Path, names: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(b"")


def test_calibration_draws_every_source_and_never_the_held_out_split(tmp_path: Path) -> None:
    train = tmp_path / "merged" / "train"
    _touch(train / "images", [f"trash-bags__{i}.jpg" for i in range(20)] + [f"facade-ads__{i}.jpg" for i in range(20)])
    _touch(tmp_path / "merged" / "val" / "images", [f"trash-bags__v{i}.jpg" for i in range(5)])
    _touch(tmp_path / "datasets" / "street-garbage-photos", [f"p{i}.jpg" for i in range(20)])
    picked = calibration_images(tmp_path / "datasets", train, count=30)
    assert len(picked) == 30
    assert Counter(p.parent.name if p.parent.name != "images" else p.name.split("__")[0] for p in picked) == {
        "trash-bags": 10,
        "facade-ads": 10,
        "street-garbage-photos": 10,
    }
    assert not any("val" in p.parts for p in picked)
    assert picked == calibration_images(tmp_path / "datasets", train, count=30)  # a fixed draw
    with pytest.raises(FileNotFoundError):
        calibration_images(tmp_path / "nowhere", None)


def test_calibration_frames_are_letterboxed_batches(tmp_path: Path) -> None:
    import cv2

    paths = []
    for i in range(3):
        path = tmp_path / f"{i}.jpg"
        cv2.imwrite(str(path), np.full((60, 80, 3), 40 * i, np.uint8))
        paths.append(path)
    reader = CalibrationFrames(paths, input_name="images", imgsz=64, batch=2)
    shapes = []
    while (batch := reader.get_next()) is not None:
        shapes.append(batch["images"].shape)
    assert shapes == [(2, 3, 64, 64), (1, 3, 64, 64)]
    reader.rewind()
    assert reader.get_next() is not None


@pytest.mark.skipif(not INT8.exists(), reason="no committed int8 model")
def test_committed_int8_file_is_quantized_except_its_decoding() -> None:
    model = onnx.load(str(INT8))
    graph = model.graph
    ops = Counter(n.op_type for n in graph.node)
    assert ops["QuantizeLinear"] > 100 and ops["DequantizeLinear"] > 100
    int8_weights = [t for t in graph.initializer if t.data_type == onnx.TensorProto.INT8]
    assert len(int8_weights) >= 99  # every learned Conv's weight
    producers = {o: n for n in graph.node for o in n.output}
    final = producers["output0"]
    assert final.op_type == "Concat"
    assert all(producers[i].op_type != "DequantizeLinear" for i in final.input)
    softmax_inputs = [i for n in graph.node if n.op_type == "Softmax" for i in n.input]
    assert softmax_inputs and all(producers[i].op_type != "DequantizeLinear" for i in softmax_inputs)
    assert INT8.stat().st_size < FP32.stat().st_size * 0.6  # and about a quarter of the float32 weights
    assert {p.key for p in model.metadata_props} >= {"names", "imgsz"}
