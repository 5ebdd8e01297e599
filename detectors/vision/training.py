"""Rebuild ``onnx_models/cityops_detector.onnx``: merge the shared datasets, fine-tune, export.

The product runs one ONNX model per frame. It is built from two YOLOv8n
checkpoints that share their backbone: the stock COCO model (people for the
evidence blur, and the objects that hint at street vending) and a copy
fine-tuned on garbage bags and façade advertising with the backbone frozen
(layers 0-9, batch-norm statistics included), so the backbone weights stay
identical. The export runs that backbone once and both necks and heads on its
features, and concatenates the two outputs along the anchor axis with each
head's scores padded by zeros for the other head's classes: an ordinary
``(B, 4 + C, A)`` YOLOv8 output with C = 4 + 80 class names.

This is the only module of the package that uses torch/Ultralytics (the
``[train]`` extra); it imports them inside the functions, so the runtime never
loads them. Ultralytics prints per-epoch progress bars.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from detectors.vision.dataset import build_merged_dataset

__all__ = ["SHARED_LAYERS", "TrainPlan", "export_merged", "train_detector"]

# Layers 0..9 of YOLOv8 are the backbone (through SPPF); the fine-tune freezes exactly these.
SHARED_LAYERS = 10


@dataclass(frozen=True)
class TrainPlan:
    """What one training run does; the defaults are the run recorded in the model card."""

    shared_datasets: Path
    work_dir: Path
    base_model: Path
    output: Path
    imgsz: int = 320
    epochs: int = 30
    time_hours: float | None = 0.9
    batch: int = 16
    seed: int = 0
    val_fraction: float = 0.15
    device: str | None = None
    resume: bool = False
    int8: bool = True  # also write the int8 copy (cityops export-detector --int8)


def _prepare_ultralytics(work_dir: Path) -> None:
    # Ultralytics downloads fonts and checkpoints unless told it is offline and given a config folder.
    config_dir = work_dir / "ultralytics-config"
    config_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("YOLO_CONFIG_DIR", str(config_dir))
    os.environ.setdefault("YOLO_OFFLINE", "1")


def _device(requested: str | None) -> str:
    if requested:
        return requested
    import torch

    return "0" if torch.cuda.is_available() else "cpu"


def _inference_ready(model: Any) -> Any:
    from ultralytics.nn.modules import C2f, Detect

    model = model.float().eval().fuse()
    for module in model.modules():
        if isinstance(module, Detect):
            module.dynamic, module.export, module.format, module.shape = True, True, "onnx", None
        elif isinstance(module, C2f):
            module.forward = module.forward_split
    return model


def _two_heads(finetuned: Any, coco: Any) -> Any:
    import torch

    class TwoHeads(torch.nn.Module):
        """Backbone once, then both models' neck + head; outputs joined along the anchor axis."""

        def __init__(self) -> None:
            super().__init__()
            self.first, self.second = finetuned.model, coco.model
            self.save = set(finetuned.save) | set(coco.save)

        def _run(self, layers: Any, x: Any, y: list[Any]) -> Any:
            for layer in layers:
                if layer.f != -1:
                    x = y[layer.f] if isinstance(layer.f, int) else [x if j == -1 else y[j] for j in layer.f]
                x = layer(x)
                y.append(x if layer.i in self.save else None)
            return x

        def forward(self, images: Any) -> Any:
            y: list[Any] = []
            features = self._run(self.first[:SHARED_LAYERS], images, y)
            a = self._run(self.first[SHARED_LAYERS:], features, list(y))
            b = self._run(self.second[SHARED_LAYERS:], features, list(y))
            a_scores, b_scores = a[:, 4:], b[:, 4:]
            a_full = torch.cat([a[:, :4], a_scores, torch.zeros_like(b_scores)], 1)
            b_full = torch.cat([b[:, :4], torch.zeros_like(a_scores), b_scores], 1)
            return torch.cat([a_full, b_full], 2)

    return TwoHeads()


def _check_shared_backbone(finetuned: Any, coco: Any) -> None:
    own, base = finetuned.state_dict(), coco.state_dict()
    for key, value in own.items():
        in_backbone = key.startswith("model.") and int(key.split(".")[1]) < SHARED_LAYERS
        if in_backbone and value.dtype.is_floating_point and (value.float() - base[key].float()).abs().max() > 0:
            raise ValueError(f"backbone tensor {key} differs from the COCO checkpoint: was it frozen?")


def export_merged(finetuned_pt: Path, coco_pt: Path, output: Path, *, imgsz: int, note: str = "") -> Path:
    """Export the fine-tuned and the COCO checkpoint as one ONNX model (dynamic batch and image size)."""
    import onnx
    import onnxslim
    import torch
    from ultralytics import YOLO

    finetuned, coco = YOLO(str(finetuned_pt)).model, YOLO(str(coco_pt)).model
    _check_shared_backbone(finetuned, coco)
    names = [*finetuned.names.values(), *coco.names.values()]
    if len(set(names)) != len(names):
        raise ValueError(f"class names clash between the two heads: {names}")
    model = _two_heads(_inference_ready(finetuned), _inference_ready(coco))
    output.parent.mkdir(parents=True, exist_ok=True)
    raw = output.with_suffix(".raw.onnx")
    with torch.no_grad():
        torch.onnx.export(
            model,
            torch.zeros(1, 3, imgsz, imgsz),
            str(raw),
            opset_version=17,
            input_names=["images"],
            output_names=["output0"],
            dynamic_axes={
                "images": {0: "batch", 2: "height", 3: "width"},
                "output0": {0: "batch", 2: "anchors"},
            },
            dynamo=False,
        )
    slim = onnxslim.slim(onnx.load(str(raw)))
    raw.unlink()
    metadata = {
        "names": str(dict(enumerate(names))),
        "stride": "32",
        "imgsz": str([imgsz, imgsz]),
        "task": "detect",
        "description": "CityOps detector: garbage/advertising head + COCO head on one YOLOv8n backbone",
        "sources": f"{finetuned_pt.name} (fine-tuned) + {coco_pt.name} (COCO)",
        "license": "AGPL-3.0 (Ultralytics YOLOv8 weights)",
        "note": note,
    }
    for key, value in metadata.items():
        slim.metadata_props.add(key=key, value=value)
    onnx.save(store_weights_half(slim), str(output))
    return output


def store_weights_half(model: Any) -> Any:
    """Keep float weights as float16 in the file, each behind a Cast back to float32.

    The file is half the size (it is committed); onnxruntime folds the Casts when the
    session loads, so inference still computes in float32 (held-out mAP50 unchanged
    to the third decimal).
    """
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    graph = model.graph
    kept, casts = [], []
    for tensor in graph.initializer:
        if tensor.data_type == TensorProto.FLOAT and int(np.prod(tensor.dims or [1])) >= 16:
            half = numpy_helper.from_array(numpy_helper.to_array(tensor).astype(np.float16), tensor.name + "__fp16")
            kept.append(half)
            casts.append(helper.make_node("Cast", [half.name], [tensor.name], to=TensorProto.FLOAT,
                                          name=tensor.name + "__cast"))
        else:
            kept.append(tensor)
    nodes = list(graph.node)
    del graph.initializer[:]
    graph.initializer.extend(kept)
    del graph.node[:]
    graph.node.extend(casts + nodes)
    return model


def train_detector(plan: TrainPlan) -> dict[str, Any]:
    """Run the whole rebuild; returns paths of the dataset, the checkpoint and the ONNX file."""
    _prepare_ultralytics(plan.work_dir)
    from ultralytics import YOLO

    dataset = plan.work_dir / "merged"
    run_dir = plan.work_dir / "runs"
    name = "cityops_detector"
    last = run_dir / name / "weights" / "last.pt"
    if plan.resume and last.exists():
        YOLO(str(last)).train(resume=True)
    else:
        counts = build_merged_dataset(plan.shared_datasets, dataset, val_fraction=plan.val_fraction, seed=plan.seed)
        print(f"merged dataset at {dataset}: {counts['train']} train / {counts['val']} held-out images")
        extra: dict[str, Any] = {"time": plan.time_hours} if plan.time_hours else {}
        YOLO(str(plan.base_model)).train(
            data=str(dataset / "data.yaml"),
            imgsz=plan.imgsz,
            epochs=plan.epochs,
            batch=plan.batch,
            freeze=SHARED_LAYERS,
            device=_device(plan.device),
            workers=2,
            cache="ram",
            seed=plan.seed,
            close_mosaic=2,
            val=False,
            plots=False,
            project=str(run_dir),
            name=name,
            exist_ok=True,
            **extra,
        )
    best = run_dir / name / "weights" / "best.pt"
    weights = best if best.exists() else last
    onnx_path = export_merged(weights, plan.base_model, plan.output, imgsz=plan.imgsz)
    out = {"dataset": str(dataset), "weights": str(weights), "onnx": str(onnx_path)}
    if plan.int8:
        from detectors.vision.quantize import calibration_images, quantize_detector
        from detectors.vision.runtimes import int8_path

        images = calibration_images(plan.shared_datasets, dataset / "train", seed=plan.seed)
        out["onnx_int8"] = str(quantize_detector(onnx_path, int8_path(onnx_path), images, imgsz=plan.imgsz).path)
    return out
