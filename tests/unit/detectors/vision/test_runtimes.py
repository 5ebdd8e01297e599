"""Which model file and providers run the detector, decided from the providers a machine offers (no GPU needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from detectors.vision.runtimes import RUNTIMES, choose_runtime, int8_path

CPU = ["CPUExecutionProvider"]
CUDA = ["CUDAExecutionProvider", "CPUExecutionProvider"]
TRT = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]


@pytest.fixture
def fp32(tmp_path: Path) -> Path:
    path = tmp_path / "detector.onnx"
    path.write_bytes(b"fp32")
    return path


@pytest.fixture
def with_int8(fp32: Path) -> Path:
    int8_path(fp32).write_bytes(b"int8")
    return fp32


def test_int8_file_sits_beside_the_fp32_one(fp32: Path) -> None:
    assert int8_path(fp32) == fp32.with_name("detector.int8.onnx")
    assert int8_path(int8_path(fp32)) == int8_path(fp32)


@pytest.mark.parametrize(
    ("offered", "key", "file"),
    [
        (CPU, "cpu-int8", "detector.int8.onnx"),
        (CUDA, "cuda-fp32", "detector.onnx"),
        (TRT, "tensorrt-fp16", "detector.onnx"),
    ],
)
def test_auto_is_int8_on_cpus_and_float_on_gpus(with_int8: Path, offered: list[str], key: str, file: str) -> None:
    runtime = choose_runtime(with_int8, "auto", offered)
    assert runtime.key == key
    assert runtime.model_file(with_int8).name == file


def test_auto_falls_back_to_fp32_on_cpu_without_the_int8_file(fp32: Path) -> None:
    assert choose_runtime(fp32, "auto", CPU).key == "cpu-fp32"


def test_providers_put_the_accelerator_first_and_cpu_last() -> None:
    trt = RUNTIMES["tensorrt-fp16"]().providers()
    assert trt[0] == ("TensorrtExecutionProvider", {"trt_fp16_enable": True})
    assert trt[-1] == "CPUExecutionProvider"
    assert RUNTIMES["cuda-fp32"]().providers() == CUDA
    assert RUNTIMES["cpu-int8"]().providers() == CPU


def test_explicit_precisions(with_int8: Path) -> None:
    assert choose_runtime(with_int8, "fp32", CPU).key == "cpu-fp32"
    assert choose_runtime(with_int8, "fp32", CUDA).key == "cuda-fp32"
    assert choose_runtime(with_int8, "int8", TRT).key == "cpu-int8"  # int8 is a CPU file, even on a GPU box
    assert choose_runtime(with_int8, "fp16", TRT).key == "tensorrt-fp16"
    assert choose_runtime(with_int8, "cpu-fp32", TRT).key == "cpu-fp32"


def test_impossible_or_unknown_choices_say_why(fp32: Path) -> None:
    with pytest.raises(FileNotFoundError, match="export-detector --int8"):
        choose_runtime(fp32, "int8", CPU)
    with pytest.raises(ValueError, match="TensorRT"):
        choose_runtime(fp32, "fp16", CUDA)
    with pytest.raises(ValueError, match="needs CUDAExecutionProvider"):
        choose_runtime(fp32, "cuda-fp32", CPU)
    with pytest.raises(ValueError, match="expected one of"):
        choose_runtime(fp32, "int4", CPU)
    with pytest.raises(FileNotFoundError):
        choose_runtime(fp32.with_name("missing.onnx"), "fp32", CPU)
