"""``cityops train-text`` and ``cityops eval dispatch``: build and judge the complaint text models.

``train-text --city spb`` (same as ``--all``) first trains a time-split variant
(earlier 80 % of the history) into ``artifacts/text-split/`` and evaluates it on
the later 20 %, then trains the shipped artifacts on all rows into
``onnx_models/`` with a model card carrying the split's numbers, and writes the
chosen auto-dispatch threshold into the city's ``routing.yaml``.
``--split-date`` trains and evaluates only the split variant.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from config import load_city
from config.models import CityConfig
from streams.cli import command_group

__all__ = ["register"]

SPLIT_DIR = Path(__file__).resolve().parents[2] / "artifacts" / "text-split"


def _progress(started: float) -> Any:
    def say(message: str) -> None:
        # stderr: stdout carries the report alone (``--json`` output stays parseable)
        print(f"[{time.monotonic() - started:7.1f}s] {message}", file=sys.stderr, flush=True)

    return say


def register(subparsers: Any) -> None:
    """Add ``train-text`` and ``eval dispatch``."""
    train = subparsers.add_parser("train-text", help="train the complaint text models of a city")
    train.add_argument("--city", default="spb", help="city id (config/cities/<id>)")
    train.add_argument("--data", type=Path, help="labelled history (default: the city's file in ../shared)")
    when = train.add_mutually_exclusive_group()
    when.add_argument("--split-date", help="YYYY-MM-DD: train on earlier rows only, evaluate on the rest")
    when.add_argument("--all", action="store_true", help="ship models trained on all rows (default)")
    train.add_argument(
        "--out",
        type=Path,
        help="folder for the shipped artifacts (default onnx_models); with --split-date, for the "
        "split variant (default artifacts/text-split)",
    )
    train.add_argument("--debug", action="store_true", help="show tracebacks")
    train.set_defaults(func=_train)

    dispatch = command_group(subparsers, "eval", "evaluate models on labelled data").add_parser(
        "dispatch", help="taxonomy, dispatch, geocoding and throughput of the complaint models on a labelled file"
    )
    dispatch.add_argument("--city", default="spb")
    dispatch.add_argument("--data", type=Path, help="labelled file in the SPb / NYC 311 format")
    dispatch.add_argument("--models", type=Path, help="artifact folder (default: onnx_models, as the product)")
    dispatch.add_argument(
        "--all-rows", action="store_true", help="evaluate every row, also those the artifacts were trained on"
    )
    dispatch.add_argument("--json", action="store_true", help="print the report as JSON")
    dispatch.add_argument("--out", type=Path, help="write eval-<city>.json and the confusion matrix PNG here")
    dispatch.add_argument("--debug", action="store_true")
    dispatch.set_defaults(func=_eval)


def _data_path(city: CityConfig, data: Path | None) -> Path:
    path = data or (city.history.data if city.history else None)
    if path is None or not Path(path).exists():
        raise FileNotFoundError(f"no data file for {city.city.id!r} (looked for {path}); pass --data FILE")
    return Path(path)


def _evaluate(city: CityConfig, rows: Sequence[Any], models: Path | None, all_rows: bool, say: Any) -> Any:
    """Evaluate on the rows after the artifacts' training period (all rows, flagged in-sample, if none)."""
    from detectors.text.artifacts import load_bundle
    from detectors.text.evaluate import evaluate

    trained_to = datetime.fromisoformat(load_bundle(city, models).info["trained_to"])
    later = [r for r in rows if r.created > trained_to]
    chosen = list(rows) if all_rows or not later else later
    which = "all rows" if chosen is not later else f"rows after {trained_to:%Y-%m-%d %H:%M}"
    say(f"evaluating {len(chosen)} {which} with {models or 'onnx_models'} (3 timed passes)")
    seen = {r.text for r in rows if r.created <= trained_to}
    result = evaluate(city, chosen, models, seen_texts=seen)
    result.report["in_sample"] = chosen is not later
    return result


def _save(result: Any, city: CityConfig, out: Path) -> list[Path]:
    from detectors.text.evaluate import plot_confusion

    out.mkdir(parents=True, exist_ok=True)
    report = result.report
    labels = {n.id: n.label for n in city.taxonomy.nodes}
    title = f"{city.city.name}: category, rows {report['from'][:10]} → {report['to'][:10]}"
    png = plot_confusion(result.category_truth, result.category_predicted, labels,
                         out / f"confusion-{city.city.id}-category.png", title)  # fmt: skip
    path = out / f"eval-{city.city.id}.json"
    path.write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    return [path, png]


def _train(args: argparse.Namespace) -> int:
    """Split variant + evaluation; unless ``--split-date``, then the shipped artifacts, card and threshold."""
    from detectors.text.artifacts import MODELS_DIR, artifact_paths, load_bundle, save_bundle
    from detectors.text.datasets import read_complaints, time_split
    from detectors.text.modelcard import format_report, history_profile, shown_path, write_card
    from detectors.text.train import train_models, write_threshold

    say = _progress(time.monotonic())
    city = load_city(args.city)
    data = _data_path(city, args.data)
    rows = read_complaints(city, data)
    say(f"{len(rows)} labelled rows from {data.name}, {rows[0].created:%Y-%m-%d} → {rows[-1].created:%Y-%m-%d}")
    split = datetime.strptime(args.split_date, "%Y-%m-%d") if args.split_date else None
    early, late, split = time_split(rows, split)
    split_dir = args.out if args.split_date and args.out else SPLIT_DIR
    say(f"time split at {split:%Y-%m-%d}: {len(early)} rows to train, {len(late)} later rows to test")
    save_bundle(train_models(city, early, progress=say), city.city.id, split_dir)
    result = _evaluate(city, rows, split_dir, False, say)
    _save(result, city, split_dir)
    report = result.report
    print(format_report(report))
    if args.split_date:
        return 0

    say(f"training the shipped artifacts on all {len(rows)} rows")
    out = args.out or MODELS_DIR
    bundle = train_models(city, rows, progress=say)
    npz, _ = save_bundle(bundle, city.city.id, out)
    threshold = bundle.info.get("dispatch", {}).get("threshold")
    if threshold is not None and out == MODELS_DIR:
        say(f"auto-dispatch threshold {threshold} written to {write_threshold(args.city, threshold)}")
        say(_regenerate_manifests())
    command = f"cityops train-text --city {city.city.id} --all" + (f" --data {shown_path(data)}" if args.data else "")
    card = write_card(
        npz.with_suffix(".md"),
        city,
        data,
        load_bundle(city, out).info,
        load_bundle(city, split_dir).info,
        report,
        command,
        notes="\n\n".join(n for n in (history_profile(rows), _notes(city.city.id)) if n),
    )
    say(f"wrote {', '.join(str(p) for p in (*artifact_paths(city.city.id, out), card))}")
    return 0


def _regenerate_manifests() -> str:
    """Write the Kubernetes manifests again: their ConfigMap carries the city's routing.yaml and its threshold."""
    import subprocess

    script = Path(__file__).resolve().parents[2] / "deploy" / "k8s" / "generate.py"
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=False)
    return (done.stdout + done.stderr).strip() or "Kubernetes manifests already up to date"


def _notes(city_id: str) -> str:
    if city_id == "nyc":
        return (
            "NYC 311 open data carries no free text: a report's text is its descriptor, location type and "
            "landmark, so the taxonomy levels are nearly given away and this city is a smoke test of the "
            "pipeline; agency is almost decided by complaint type (routing rules cover noise and heating). "
            "The city folder's boroughs, taxonomy and agencies come from the same file via "
            "`cityops build-city nyc --history ../shared/datasets/complaints/nyc311_slices.jsonl.gz`."
        )
    if city_id == "cn":
        return (
            'Provenance: Chinese government-hotline messages and taxonomy from the public 2020 "智慧政务" '
            "competition sample (../shared/datasets/complaints/cn_*). Only the level-1 class is labelled (495 "
            "messages; 7 of the 15 level-1 classes occur), so the model classifies level 1 only; levels 2 and 3 "
            "of the configured taxonomy (config/cities/cn, built by `cityops build-city cn`) are not "
            "predicted. The sample names no handling department: config routes each level-1 class to its bureau "
            "by rule, so there is no dispatch model and no department accuracy to report. The messages carry no "
            "coordinates and name only anonymised districts, so the city has no districts and reports are placed "
            "at the nominal city centre. 99 test messages is a small sample: the accuracy's 95 % interval is "
            "roughly ±0.09."
        )
    if city_id != "spb":
        return ""
    return (
        'Provenance: appeals to the St Petersburg portal "Наш Санкт-Петербург" scraped by a public research '
        "repository (no licence: training and evaluation only, raw rows never redistributed)."
    )


def _eval(args: argparse.Namespace) -> int:
    """Evaluate artifacts as the product loads them; print Markdown (or JSON), optionally save JSON + PNG."""
    from detectors.text.datasets import read_complaints
    from detectors.text.modelcard import format_report

    say = _progress(time.monotonic())
    city = load_city(args.city)
    data = _data_path(city, args.data)
    rows = read_complaints(city, data)
    result = _evaluate(city, rows, args.models, args.all_rows, say)
    if args.out:
        for path in _save(result, city, args.out):
            say(f"wrote {path}")
    report = result.report
    print(json.dumps(report, ensure_ascii=False, indent=1) if args.json else format_report(report))
    return 0
