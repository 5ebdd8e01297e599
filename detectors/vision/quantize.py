"""``cityops export-detector --int8``: a static int8 copy of the detector for CPUs.

onnxruntime's quantizer writes QDQ pairs (per-channel int8 weights, uint8
activations: the U8S8 form that AVX-512 VNNI runs fastest), calibrated on real
frames: training images of both fine-tune sources (never the held-out split)
and the demo camera photos.

The detection head's decoding stays float: the box distribution (DFL softmax and
its fixed 0..15 convolution), the anchor arithmetic that turns it into pixel
boxes, the class sigmoid and the concatenations that put boxes (0..input size)
and scores (0..1) in one output tensor. One per-tensor scale over that tensor
cannot hold both ranges, so a naive quantization scores every box 0 (mAP 0).
Only the head's learned convolution branches (``cv2`` boxes, ``cv3`` classes)
are quantized. :func:`float_nodes` names what stays float; the unit tests pin it.

Needs the ``onnx`` package (dev and ``[train]`` extras); imported inside the
functions so the runtime never loads it.
"""

from __future__ import annotations

import random
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from detectors.vision.dataset import IMAGE_SUFFIXES
from detectors.vision.image import decode_jpeg, letterbox, stack_batch
from detectors.vision.progress import Progress

__all__ = [
    "QUANTIZED_OP_TYPES",
    "CalibrationFrames",
    "calibration_images",
    "check_output_float",
    "float_nodes",
    "float_weights",
    "quantize_detector",
]

# Ops with int8 kernels on onnxruntime's CPU provider; SiLU is Sigmoid + Mul, kept int8 so Convs chain.
QUANTIZED_OP_TYPES = ("Conv", "Sigmoid", "Mul", "Add", "Concat", "MaxPool", "Resize", "Split")
# The head's learned branches (YOLOv8 Detect: cv2 = box distribution, cv3 = class logits).
_HEAD_BRANCHES = ("cv2.", "cv3.")


def float_weights(model: Any) -> Any:
    """Undo the float16 storage of the committed file (``Cast(fp16 initializer)`` nodes) in place.

    The quantizer only quantizes weights that are float32 initializers feeding a node directly.
    """
    from onnx import TensorProto, numpy_helper

    graph = model.graph
    initializers = {t.name: t for t in graph.initializer}
    folded: set[str] = set()
    for node in list(graph.node):
        source = initializers.get(node.input[0]) if node.op_type == "Cast" and node.input else None
        if source is None or source.data_type != TensorProto.FLOAT16:
            continue
        weight = numpy_helper.from_array(numpy_helper.to_array(source).astype(np.float32), node.output[0])
        graph.initializer.append(weight)
        graph.node.remove(node)
        folded.add(source.name)
    kept = [t for t in graph.initializer if t.name not in folded]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    return model


def _head_prefixes(model: Any) -> list[str]:
    """Name prefixes of the detection heads: the module that owns a ``/dfl/`` node (``/first.22/``)."""
    prefixes = {n.name.split("dfl/")[0] for n in model.graph.node if "/dfl/" in n.name}
    if not prefixes:
        raise ValueError("no YOLOv8 detection head (no '/dfl/' node) in the model: cannot tell what to keep float")
    return sorted(prefixes)


def float_nodes(model: Any) -> list[str]:
    """Nodes that stay float: each head's decoding and everything joining the heads into the output.

    A node is decoding when it sits in a head module outside its learned ``cv2``/``cv3`` branches,
    or outside every numbered module (the join of the two heads), or is a node producing the output.
    """
    prefixes = _head_prefixes(model)
    outputs = {o.name for o in model.graph.output}
    kept = []
    for node in model.graph.node:
        in_head = next((p for p in prefixes if node.name.startswith(p)), None)
        if in_head is not None:
            decoding = not node.name[len(in_head) :].startswith(_HEAD_BRANCHES)
        else:
            # Module nodes are named /<module>/<op>; the heads' join is /<op> at top level.
            decoding = node.name.count("/") <= 1
        if decoding or outputs.intersection(node.output):
            kept.append(node.name)
    return kept


def check_output_float(model: Any) -> None:
    """Refuse a quantized model whose output is computed from dequantized (per-tensor int8) values."""
    producers = {o: n for n in model.graph.node for o in n.output}
    for output in model.graph.output:
        node = producers.get(output.name)
        if node is not None and (
            node.op_type == "DequantizeLinear"
            or any(producers.get(i) is not None and producers[i].op_type == "DequantizeLinear" for i in node.input)
        ):
            raise ValueError(f"output {output.name!r} would be quantized: the decoding head must stay float")


def calibration_images(
    shared_datasets: Path, train_split: Path | None, *, count: int = 144, seed: int = 0
) -> list[Path]:
    """Calibration frames: a fixed draw from the training split (both sources) and the demo photos.

    Never the held-out split, so the int8 model's mAP is measured on frames it has not seen.
    """
    pools: list[list[Path]] = []
    if train_split is not None and (train_split / "images").is_dir():
        images = sorted(p for p in (train_split / "images").iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        for source in sorted({p.name.split("__")[0] for p in images}):
            pools.append([p for p in images if p.name.startswith(f"{source}__")])
    photos = shared_datasets / "street-garbage-photos"
    if photos.is_dir():
        pools.append(sorted(p for p in photos.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES))
    pools = [p for p in pools if p]
    if not pools:
        raise FileNotFoundError(f"no calibration frames under {train_split} or {photos}")
    rng = random.Random(seed)
    per_pool = max(1, count // len(pools))
    return [p for pool in pools for p in rng.sample(pool, min(per_pool, len(pool)))]


class CalibrationFrames:
    """Letterboxed calibration batches for the quantizer (its ``CalibrationDataReader`` protocol)."""

    def __init__(self, images: Sequence[Path], *, input_name: str, imgsz: int, batch: int = 8) -> None:
        self.images = list(images)
        self.input_name = input_name
        self.imgsz = imgsz
        self.batch = batch
        self._batches: Iterator[dict[str, np.ndarray]] | None = None
        self.progress = Progress(len(self.images), "calibrating int8")

    def _iter(self) -> Iterator[dict[str, np.ndarray]]:
        for start in range(0, len(self.images), self.batch):
            chunk = self.images[start : start + self.batch]
            canvases = [letterbox(decode_jpeg(p.read_bytes()), self.imgsz)[0] for p in chunk]
            self.progress.advance(len(chunk))
            yield {self.input_name: stack_batch(canvases)}

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self._batches is None:
            self._batches = self._iter()
        return next(self._batches, None)

    def rewind(self) -> None:
        self._batches = None


@dataclass(frozen=True)
class Int8Result:
    """What :func:`quantize_detector` wrote."""

    path: Path
    float_nodes: list[str]
    calibration_images: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "int8": str(self.path),
            "bytes": self.path.stat().st_size,
            "float_nodes": len(self.float_nodes),
            "calibration_images": self.calibration_images,
        }


def quantize_detector(
    fp32: Path,
    output: Path,
    images: Sequence[Path],
    *,
    imgsz: int = 320,
    per_channel: bool = True,
    method: str = "Percentile",
) -> Int8Result:
    """Write the static int8 (QDQ) copy of ``fp32`` to ``output``, calibrated on ``images``.

    ``method`` is onnxruntime's calibration: ``Percentile`` (99.999 %, the default) clips the
    rare extreme activations that ``MinMax`` spends the 256 levels on (held-out figures for
    both, and how much the calibration draw moves them, are in the model card).
    """
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    model = float_weights(onnx.load(str(fp32)))
    metadata = {p.key: p.value for p in model.metadata_props}
    with tempfile.TemporaryDirectory(prefix="cityops-int8-") as tmp:
        plain, prepared = Path(tmp) / "fp32.onnx", Path(tmp) / "prepared.onnx"
        onnx.save(model, str(plain))
        # Shape inference and constant folding, as onnxruntime recommends before static quantization.
        quant_pre_process(str(plain), str(prepared), skip_symbolic_shape=True)
        keep_float = float_nodes(onnx.load(str(prepared)))  # names as the quantizer will see them
        reader = CalibrationFrames(images, input_name=model.graph.input[0].name, imgsz=imgsz)
        try:
            quantize_static(
                str(prepared),
                str(output),
                reader,  # duck-typed CalibrationDataReader: get_next() and rewind()
                quant_format=QuantFormat.QDQ,
                per_channel=per_channel,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                op_types_to_quantize=list(QUANTIZED_OP_TYPES),
                nodes_to_exclude=keep_float,
                calibrate_method=CalibrationMethod[method],
            )
        finally:
            reader.progress.close()
    quantized = onnx.load(str(output))
    check_output_float(quantized)
    present = {p.key for p in quantized.metadata_props}
    for key, value in metadata.items():
        if key not in present:
            quantized.metadata_props.add(key=key, value=value)
    onnx.save(quantized, str(output))
    return Int8Result(output, keep_float, len(images))
