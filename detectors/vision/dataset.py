"""YOLO-format datasets: reading labels (boxes or polygons) and merging the shared sets.

A YOLO folder holds ``images/*.jpg``, ``labels/*.txt`` of the same stem and a
``data.yaml`` naming the classes. A label line is ``class cx cy w h`` or a
polygon ``class x1 y1 x2 y2 ...`` (all normalised); a polygon counts as its
bounding box, which is what detection training and evaluation use.

:func:`build_merged_dataset` makes the training set of ``cityops_detector``:
garbage bags and façade advertising in one class list, with a held-out split
chosen per file with a fixed seed, written outside the repository.
"""

from __future__ import annotations

import os
import random
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

__all__ = [
    "IMAGE_SUFFIXES",
    "MERGED_NAMES",
    "SOURCES",
    "LabelledImage",
    "SourceSet",
    "build_merged_dataset",
    "iter_yolo_folder",
    "read_label_file",
    "read_names",
]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")

MERGED_NAMES = ["garbage_bag", "cantilever", "signboard", "win_ad"]


@dataclass(frozen=True)
class SourceSet:
    """One shared dataset and how its class ids map onto :data:`MERGED_NAMES` (unmapped ids are dropped)."""

    folder: str
    class_map: dict[int, int]


SOURCES = [
    SourceSet("trash-bags", {0: 0, 1: 0}),  # general_trashbag, other_trashbag -> garbage_bag
    SourceSet("facade-ads", {1: 1, 3: 2, 4: 3}),  # cantilever, signboard, win_ad; window/arch/door dropped
]


@dataclass
class LabelledImage:
    """An image path and its boxes: ``classes`` (N,) int and ``boxes`` (N, 4) normalised cx, cy, w, h."""

    image: Path
    classes: np.ndarray
    boxes: np.ndarray = field(repr=False)


def read_names(data_yaml: Path) -> list[str]:
    """Class names of a ``data.yaml`` (``names`` as a list or an ``{id: name}`` mapping)."""
    data = yaml.safe_load(data_yaml.read_text(encoding="utf-8")) or {}
    names = data.get("names")
    if isinstance(names, dict):
        return [str(names[k]) for k in sorted(names, key=int)]
    if isinstance(names, list):
        return [str(n) for n in names]
    raise ValueError(f"{data_yaml}: 'names' must be a list or a mapping of id -> name")


def read_label_file(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Classes and normalised ``cx, cy, w, h`` boxes of one label file; polygons become their bounding box."""
    classes: list[int] = []
    boxes: list[tuple[float, float, float, float]] = []
    if path.exists():
        for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            parts = line.split()
            if not parts:
                continue
            values = [float(v) for v in parts[1:]]
            if len(values) == 4:
                cx, cy, w, h = values
            elif len(values) >= 6 and len(values) % 2 == 0:
                xs = np.clip(np.asarray(values[0::2]), 0.0, 1.0)
                ys = np.clip(np.asarray(values[1::2]), 0.0, 1.0)
                x0, x1, y0, y1 = float(xs.min()), float(xs.max()), float(ys.min()), float(ys.max())
                cx, cy, w, h = (x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0
            else:
                raise ValueError(f"{path}:{line_no}: expected 'class cx cy w h' or a polygon, got {line!r}")
            classes.append(int(float(parts[0])))
            boxes.append((cx, cy, w, h))
    return np.asarray(classes, dtype=np.int64), np.asarray(boxes, dtype=np.float64).reshape(-1, 4)


def iter_yolo_folder(folder: Path) -> Iterator[LabelledImage]:
    """Every image under ``folder/images`` with its labels from ``folder/labels`` (sorted by name)."""
    images = folder / "images"
    if not images.is_dir():
        raise FileNotFoundError(f"{folder}: no images/ folder (expected a YOLO-format dataset)")
    for image in sorted(p for p in images.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
        classes, boxes = read_label_file(folder / "labels" / f"{image.stem}.txt")
        yield LabelledImage(image, classes, boxes)


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.symlink(src.resolve(), dst)
    except OSError:
        shutil.copy2(src, dst)


def build_merged_dataset(
    shared_datasets: Path, out: Path, *, val_fraction: float = 0.15, seed: int = 0
) -> dict[str, int]:
    """Write the merged train/val dataset to ``out`` and return image counts per split.

    Layout: ``out/{train,val}/{images,labels}`` plus ``out/data.yaml`` for training and
    ``out/val/data.yaml`` so the held-out split is itself a YOLO folder for ``cityops eval``.
    Each source is split separately (same seed), so both kinds of scene are held out.
    """
    if out.exists():
        shutil.rmtree(out)
    counts = {"train": 0, "val": 0}
    for split in counts:
        (out / split / "images").mkdir(parents=True)
        (out / split / "labels").mkdir(parents=True)
    for source in SOURCES:
        items = list(iter_yolo_folder(shared_datasets / source.folder))
        random.Random(seed).shuffle(items)
        n_val = round(len(items) * val_fraction)
        for index, item in enumerate(items):
            split = "val" if index < n_val else "train"
            stem = f"{source.folder}__{item.image.stem}"
            _link_or_copy(item.image, out / split / "images" / f"{stem}{item.image.suffix.lower()}")
            lines = [
                f"{source.class_map[int(c)]} {b[0]:.6f} {b[1]:.6f} {b[2]:.6f} {b[3]:.6f}"
                for c, b in zip(item.classes, item.boxes, strict=True)
                if int(c) in source.class_map
            ]
            (out / split / "labels" / f"{stem}.txt").write_text("\n".join(lines) + ("\n" if lines else ""))
            counts[split] += 1
    names = dict(enumerate(MERGED_NAMES))
    (out / "data.yaml").write_text(
        yaml.safe_dump({"path": str(out), "train": "train/images", "val": "val/images", "names": names})
    )
    (out / "val" / "data.yaml").write_text(yaml.safe_dump({"path": ".", "val": "images", "names": names}))
    return counts
