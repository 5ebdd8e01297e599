"""Read and write a city's complaint-model artifacts: ``complaints-<city>.npz`` + ``complaints-<city>.json``.

The ``.npz`` holds plain arrays (vocabulary, idf, int8 weights with per-class
scales, tables, gazetteer); the ``.json`` holds labels, temperatures, the
auto-dispatch threshold and the training record. Nothing here needs
scikit-learn.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from config.models import CityConfig
from detectors.text.classifier import LinearHead, TaxonomyClassifier
from detectors.text.export import pack_strings, quantize, unpack_strings
from detectors.text.features import TextFeatures
from detectors.text.geocode import DistrictGrid, Gazetteer
from detectors.text.routing import DispatchModel, Router
from detectors.text.scoring import LinearScorer
from detectors.text.spatial import Scale, SpatialPrior, SpatialTable

__all__ = ["FORMAT", "MODELS_DIR", "Bundle", "artifact_paths", "load_bundle", "load_router", "save_bundle"]

FORMAT = 2  # 2: the dispatch model may carry a spatial prior
MODELS_DIR = Path(__file__).resolve().parents[2] / "onnx_models"


@dataclass
class Bundle:
    """Everything the complaint stages load for one city."""

    features: TextFeatures
    classifier: TaxonomyClassifier
    dispatch: DispatchModel | None
    gazetteer: Gazetteer
    grid: DistrictGrid
    info: dict[str, Any]

    @cached_property
    def scorer(self) -> LinearScorer:
        """One scorer for every taxonomy head and the dispatch model's text weights."""
        heads = {lv: (h.weights, h.bias) for lv, h in self.classifier.heads.items()}
        if self.dispatch is not None:
            text = self.dispatch.text_weights
            heads["dispatch"] = (text, np.zeros(text.shape[1], dtype=np.float32))
        return LinearScorer(self.features, heads)


def artifact_paths(city_id: str, models_dir: str | Path | None = None) -> tuple[Path, Path]:
    """``(npz, json)`` paths of a city's artifacts."""
    folder = Path(models_dir) if models_dir else MODELS_DIR
    return folder / f"complaints-{city_id}.npz", folder / f"complaints-{city_id}.json"


def _with_pad_row(weights: np.ndarray) -> np.ndarray:
    return np.vstack([weights, np.zeros((1, weights.shape[1]), dtype=np.float32)])


def _dequantized(arrays: Any, name: str) -> np.ndarray:
    return _with_pad_row(arrays[f"{name}.q"].astype(np.float32) * arrays[f"{name}.scale"])


def save_bundle(bundle: Bundle, city_id: str, models_dir: str | Path | None = None) -> tuple[Path, Path]:
    """Write ``bundle`` (weights quantised to int8) and return the two paths."""
    npz_path, json_path = artifact_paths(city_id, models_dir)
    npz_path.parent.mkdir(parents=True, exist_ok=True)
    f = bundle.features
    arrays: dict[str, np.ndarray] = {
        "features.words": pack_strings(f.words),
        "features.word_idf": f.word_idf.astype(np.float32),
        "features.alphabet": f.alphabet,
        "features.char_keys": f.char_keys,
        "features.char_idf": f.char_idf.astype(np.float32),
        "geo.addresses": pack_strings(bundle.gazetteer.keys),
        "geo.points": bundle.gazetteer.points.astype(np.float32),
        "geo.cell_keys": bundle.grid.cell_keys,
        "geo.cell_district": bundle.grid.cell_district.astype(np.int16),
    }
    clf = bundle.classifier
    for level, head in clf.heads.items():
        arrays[f"level.{level}.q"], arrays[f"level.{level}.scale"] = quantize(head.weights[:-1])
        arrays[f"level.{level}.bias"] = head.bias.astype(np.float32)
        if level in clf.marginals:
            arrays[f"level.{level}.marginal"] = clf.marginals[level].astype(np.float32)
    d = bundle.dispatch
    if d is not None:
        arrays["dispatch.q"], arrays["dispatch.scale"] = quantize(d.text_weights[:-1])
        arrays["dispatch.bias"] = d.bias.astype(np.float32)
        arrays["dispatch.reason_district"] = d.reason_district.astype(np.float16)
        arrays["dispatch.category_district"] = d.category_district.astype(np.float16)
        if d.repeat_weights is not None:
            arrays["dispatch.repeat_weights"] = d.repeat_weights.astype(np.float32)
        if d.spatial is not None and d.spatial_weights is not None:
            arrays["dispatch.spatial_weights"] = d.spatial_weights.astype(np.float32)
            arrays["dispatch.spatial.prior"] = d.spatial.district_prior.astype(np.float32)
            for k, table in enumerate(d.spatial.tables):
                for field in ("keys", "indptr", "classes", "counts"):
                    arrays[f"dispatch.spatial.{k}.{field}"] = getattr(table, field)
    np.savez_compressed(npz_path, **arrays)  # type: ignore[arg-type]
    info = dict(bundle.info)
    info.update(
        format=FORMAT,
        features={
            "char_range": list(f.char_range),
            "sublinear_tf": f.sublinear_tf,
            "meta": f.meta,
            "address_weight": f.address_weight,
        },
        levels=[
            {
                "name": lv,
                "labels": clf.heads[lv].labels,
                "temperature": clf.temperatures[lv],
                "mix": clf.mix.get(lv, 1.0),
                "confidence_map": clf.confidence_maps.get(lv),
            }
            for lv in clf.levels
        ],
        geo={"districts": bundle.grid.district_ids},
    )
    if d is not None:
        info["dispatch"] = {
            **info.get("dispatch", {}),
            "labels": d.labels,
            "reasons": d.reasons,
            "categories": d.categories,
            "districts": d.districts,
            "temperature": d.temperature,
            "confidence_map": d.confidence_map,
            "reason_head": d.reason_head,
            "reason_temperature": d.reason_temperature,
            "reason_top": d.reason_top,
        }
        if d.spatial is not None:
            info["dispatch"]["spatial"] = {
                "scales": [asdict(sc) for sc in d.spatial.scales],
                "ref_lat": d.spatial.ref_lat,
                "smoothing": d.spatial.smoothing,
                "n_groups": d.spatial.n_groups,
            }
    json_path.write_text(json.dumps(info, ensure_ascii=False, indent=1), encoding="utf-8")
    return npz_path, json_path


def _spatial(arrays: Any, spec: dict[str, Any] | None) -> SpatialPrior | None:
    if not spec:
        return None
    tables = [
        SpatialTable(*(arrays[f"dispatch.spatial.{k}.{f}"] for f in ("keys", "indptr", "classes", "counts")))
        for k in range(len(spec["scales"]))
    ]
    return SpatialPrior(
        [Scale(**sc) for sc in spec["scales"]], tables, arrays["dispatch.spatial.prior"], spec["ref_lat"],
        spec["smoothing"], spec["n_groups"],
    )  # fmt: skip


@lru_cache(maxsize=8)
def _load(npz_path: Path, json_path: Path, mtime: float) -> Bundle:
    info = json.loads(json_path.read_text(encoding="utf-8"))
    if info.get("format") != FORMAT:
        raise ValueError(f"{json_path}: format {info.get('format')!r}, this code reads format {FORMAT}")
    with np.load(npz_path, allow_pickle=False) as arrays:
        fi = info["features"]
        features = TextFeatures(
            words=unpack_strings(arrays["features.words"]),
            word_idf=arrays["features.word_idf"],
            alphabet=arrays["features.alphabet"],
            char_keys=arrays["features.char_keys"],
            char_idf=arrays["features.char_idf"],
            char_range=(fi["char_range"][0], fi["char_range"][1]),
            sublinear_tf=fi["sublinear_tf"],
            meta=fi["meta"],
            address_weight=fi["address_weight"],
        )
        levels = [lv["name"] for lv in info["levels"]]
        heads = {
            lv["name"]: LinearHead(
                lv["labels"], _dequantized(arrays, f"level.{lv['name']}"), arrays[f"level.{lv['name']}.bias"]
            )
            for lv in info["levels"]
        }
        marginals = {lv: arrays[f"level.{lv}.marginal"] for lv in levels[:-1]}
        classifier = TaxonomyClassifier(
            levels,
            heads,
            marginals,
            temperatures={lv["name"]: float(lv["temperature"]) for lv in info["levels"]},
            mix={lv["name"]: float(lv["mix"]) for lv in info["levels"]},
            confidence_maps={
                lv["name"]: (lv["confidence_map"][0], lv["confidence_map"][1])
                for lv in info["levels"]
                if lv.get("confidence_map")
            },
        )
        dispatch = None
        if "dispatch.q" in arrays:
            di = info["dispatch"]
            dispatch = DispatchModel(
                labels=di["labels"],
                text_weights=_dequantized(arrays, "dispatch"),
                bias=arrays["dispatch.bias"],
                reason_district=arrays["dispatch.reason_district"].astype(np.float32),
                category_district=arrays["dispatch.category_district"].astype(np.float32),
                reasons=di["reasons"],
                categories=di["categories"],
                districts=di["districts"],
                temperature=float(di["temperature"]),
                confidence_map=(di["confidence_map"][0], di["confidence_map"][1]),
                spatial=_spatial(arrays, di.get("spatial")),
                spatial_weights=arrays.get("dispatch.spatial_weights"),
                repeat_weights=arrays.get("dispatch.repeat_weights"),
                reason_head=di.get("reason_head", ""),
                reason_temperature=float(di.get("reason_temperature", 1.0)),
                reason_top=int(di.get("reason_top", 1)),
            )
        gazetteer = Gazetteer(unpack_strings(arrays["geo.addresses"]), arrays["geo.points"])
        grid = DistrictGrid(info["geo"]["districts"], arrays["geo.cell_keys"], arrays["geo.cell_district"])
    return Bundle(features, classifier, dispatch, gazetteer, grid, info)


def load_bundle(city: CityConfig, models_dir: str | Path | None = None) -> Bundle:
    """The city's artifacts, loaded once per process (reloaded when the files change)."""
    npz_path, json_path = artifact_paths(city.city.id, models_dir)
    if not npz_path.exists() or not json_path.exists():
        raise FileNotFoundError(
            f"no complaint model for city {city.city.id!r} at {npz_path}; build it with "
            f"`cityops train-text --city {city.city.id}`"
        )
    return _load(npz_path.resolve(), json_path.resolve(), max(npz_path.stat().st_mtime, json_path.stat().st_mtime))


def load_router(city: CityConfig, models_dir: str | Path | None = None, threshold: float | None = None) -> Router:
    """Router with the city's dispatch model from ``onnx_models/complaints-<city>.*`` (or ``models_dir``)."""
    bundle = load_bundle(city, models_dir)
    return Router(city, bundle.scorer, bundle.dispatch, threshold)
