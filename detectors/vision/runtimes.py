"""Detector runtimes: which model file and which onnxruntime providers run the detector on this machine.

Each runtime is one small class with a type key, found by key in :data:`RUNTIMES`
(Frigate's detector-plugin shape), so a new accelerator is one class here.

``precision: auto`` (the default of ``vision.precision``) picks per machine:

- TensorRT offered -> ``tensorrt-fp16`` (the fp32 file, built as an fp16 engine by TensorRT);
- CUDA offered -> ``cuda-fp32``;
- otherwise the CPU: ``cpu-int8`` when the int8 file exists beside the fp32 one, else ``cpu-fp32``.

The int8 file is a QDQ model tuned for CPU int8 kernels (VNNI); GPUs get the float file.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar, Literal

__all__ = [
    "PRECISIONS",
    "RUNTIMES",
    "CpuFp32",
    "CpuInt8",
    "CudaFp32",
    "DetectorRuntime",
    "Precision",
    "TensorrtFp16",
    "choose_runtime",
    "int8_path",
]

Precision = Literal["auto", "int8", "fp16", "fp32"]
PRECISIONS: tuple[str, ...] = ("auto", "int8", "fp16", "fp32")
_CPU = "CPUExecutionProvider"
_CUDA = "CUDAExecutionProvider"
_TENSORRT = "TensorrtExecutionProvider"


def int8_path(fp32: Path) -> Path:
    """Where the int8 copy of ``fp32`` lives: ``name.int8.onnx`` beside it (unchanged if already int8)."""
    if fp32.name.endswith(".int8.onnx"):
        return fp32
    return fp32.with_name(f"{fp32.stem}.int8{fp32.suffix}")


class DetectorRuntime(ABC):
    """One way to run the detector: a model file derived from the fp32 file, and a provider list."""

    key: ClassVar[str]
    precision: ClassVar[str]
    requires: ClassVar[str]  # the onnxruntime provider this runtime needs

    def model_file(self, fp32: Path) -> Path:
        """The file this runtime loads, given the configured (fp32) model path."""
        return fp32

    @abstractmethod
    def providers(self) -> list[Any]:
        """onnxruntime providers in order, names or ``(name, options)`` pairs; CPU last as fallback."""


class CpuFp32(DetectorRuntime):
    key, precision, requires = "cpu-fp32", "fp32", _CPU

    def providers(self) -> list[Any]:
        return [_CPU]


class CpuInt8(DetectorRuntime):
    key, precision, requires = "cpu-int8", "int8", _CPU

    def model_file(self, fp32: Path) -> Path:
        return int8_path(fp32)

    def providers(self) -> list[Any]:
        return [_CPU]


class CudaFp32(DetectorRuntime):
    key, precision, requires = "cuda-fp32", "fp32", _CUDA

    def providers(self) -> list[Any]:
        return [_CUDA, _CPU]


class TensorrtFp16(DetectorRuntime):
    key, precision, requires = "tensorrt-fp16", "fp16", _TENSORRT

    def providers(self) -> list[Any]:
        return [(_TENSORRT, {"trt_fp16_enable": True}), _CUDA, _CPU]


RUNTIMES: dict[str, type[DetectorRuntime]] = {r.key: r for r in (TensorrtFp16, CudaFp32, CpuInt8, CpuFp32)}


def choose_runtime(fp32: Path, precision: str = "auto", offered: list[str] | None = None) -> DetectorRuntime:
    """The runtime for ``precision`` on a machine whose onnxruntime offers ``offered`` providers.

    :param fp32: the configured model (the int8 file is looked for beside it)
    :param precision: ``auto``, ``int8``, ``fp16``, ``fp32``, or a runtime key of :data:`RUNTIMES`
    :param offered: provider names (default: what this onnxruntime build offers)
    :raises ValueError: an unknown precision, or one this machine cannot run
    :raises FileNotFoundError: ``int8`` asked for and the int8 file is missing
    """
    if offered is None:
        import onnxruntime as ort

        offered = list(ort.get_available_providers())
    if precision in RUNTIMES:
        chosen = RUNTIMES[precision]()
        if chosen.requires not in offered:
            raise ValueError(f"runtime {precision!r} needs {chosen.requires}, which this onnxruntime does not offer")
    elif precision == "auto":
        gpu = [r for r in (TensorrtFp16, CudaFp32) if r.requires in offered]
        cpu = CpuInt8 if int8_path(fp32).exists() else CpuFp32
        chosen = (gpu[0] if gpu else cpu)()
    elif precision == "int8":
        chosen = CpuInt8()
    elif precision == "fp16":
        if _TENSORRT not in offered:
            raise ValueError("precision fp16 runs on TensorRT only, and this onnxruntime does not offer it")
        chosen = TensorrtFp16()
    elif precision == "fp32":
        chosen = CudaFp32() if _CUDA in offered else CpuFp32()
    else:
        raise ValueError(f"precision {precision!r}: expected one of {', '.join(PRECISIONS)} or {', '.join(RUNTIMES)}")
    path = chosen.model_file(fp32)
    if not path.exists():
        hint = " (make it with: cityops export-detector --int8)" if chosen.precision == "int8" else ""
        raise FileNotFoundError(f"{chosen.key} runtime: model {path} does not exist{hint}")
    return chosen
