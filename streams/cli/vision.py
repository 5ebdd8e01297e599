"""Vision commands: ``train-detector``, ``export-detector``, ``eval detector``, ``bench vision``,
``ingest-camera``, ``replay-cameras``."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from config import load_city
from streams.settings import REPO_ROOT, settings

__all__ = ["register"]

SHARED = REPO_ROOT.parent / "shared"
DEMO_PHOTOS = SHARED / "datasets" / "street-garbage-photos"
CALIBRATION_IMAGES = 144


def _model_path(arg: str | None) -> Path:
    model = Path(arg or load_city(settings.city).vision.model)
    return model if model.is_absolute() or model.exists() else REPO_ROOT / model


def _bootstrap(kafka: str | None) -> str:
    if kafka:
        return ",".join(part.removeprefix("kafka://") for part in kafka.split(";"))
    from streams.client import StackInfo

    return StackInfo.find().bootstrap


def _class_map(text: str | None) -> dict[str, str]:
    pairs = [p for p in (text or "").split(",") if p.strip()]
    if any("=" not in p for p in pairs):
        raise ValueError(f"--class-map expects name=model_name pairs separated by commas, got {text!r}")
    return {a.strip(): b.strip() for a, b in (p.split("=", 1) for p in pairs)}


def cmd_train(args: argparse.Namespace) -> int:
    from detectors.vision.training import TrainPlan, train_detector

    plan = TrainPlan(
        shared_datasets=Path(args.shared) / "datasets",
        work_dir=Path(args.work),
        base_model=Path(args.base or Path(args.shared) / "models" / "yolov8n.pt"),
        output=Path(args.output),
        imgsz=args.imgsz,
        epochs=args.epochs,
        time_hours=args.hours or None,
        batch=args.batch,
        device=args.device,
        resume=args.resume,
        int8=not args.no_int8,
    )
    print(json.dumps(train_detector(plan), indent=2))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from detectors.vision.dataset import build_merged_dataset
    from detectors.vision.quantize import calibration_images, quantize_detector
    from detectors.vision.runtimes import int8_path

    if not args.int8:
        raise ValueError("export-detector: nothing to do; pass --int8 (the fp32 file is written by train-detector)")
    fp32 = _model_path(args.model)
    datasets = Path(args.shared) / "datasets"
    merged = Path(args.work) / "merged"
    if not (merged / "train" / "images").is_dir():
        # The same split as train-detector (seed 0, 15 % held out): calibration never sees held-out images.
        build_merged_dataset(datasets, merged)
    images = calibration_images(datasets, merged / "train", count=args.calibration, seed=args.seed)
    output = Path(args.output) if args.output else int8_path(fp32)
    result = quantize_detector(fp32, output, images, imgsz=args.imgsz)
    print(json.dumps(result.as_dict() | {"fp32": str(fp32), "fp32_bytes": fp32.stat().st_size}, indent=2))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from detectors.vision.evaluate import evaluate_detector, write_pr_curves
    from detectors.vision.session import Detector

    vision = load_city(settings.city).vision
    detector = Detector(
        _model_path(args.model),
        input_size=args.imgsz or vision.input_size,
        score_threshold=vision.score_threshold,
        iou_threshold=vision.iou_threshold,
        precision=args.precision,
    )
    report = evaluate_detector(detector, Path(args.data), class_map=_class_map(args.class_map))
    png = write_pr_curves(
        report, Path(args.out) / f"pr_{Path(args.data).name}_{detector.input_size}_{detector.precision}.png"
    )
    out = report.as_dict() | {"runtime": detector.runtime, "precision": detector.precision, "pr_curve_png": str(png)}
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    print(
        f"{out['model']} ({out['runtime']}) on {out['data']} ({out['images']} images, input {out['input_size']}, "
        f"P/R at score >= {out['score_threshold']})"
    )
    print(f"{'class':<16}{'images':>8}{'inst':>7}{'P':>8}{'R':>8}{'mAP50':>8}{'mAP50-95':>10}")
    for row in [*out["classes"], {"class": "mean", "images": "", "instances": "", **out["mean"]}]:
        print(
            f"{row['class']:<16}{row['images']!s:>8}{row['instances']!s:>7}{row['precision']:>8.3f}"
            f"{row['recall']:>8.3f}{row['mAP50']:>8.3f}{row['mAP50-95']:>10.3f}"
        )
    if out["unmatched_dataset_classes"]:
        print(f"not evaluated (no model class of that name): {out['unmatched_dataset_classes']}")
    print(f"PR curves: {png}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from detectors.vision.bench import int8_vs_fp32, run_vision_bench, write_latency_histogram

    city = load_city(settings.city)
    model = _model_path(args.model)
    results = run_vision_bench(
        city,
        model,
        Path(args.photos),
        sizes=[int(s) for s in args.sizes.split(",")],
        precisions=[p.strip() for p in args.precisions.split(",") if p.strip()],
        batch=args.batch,
        seconds=args.seconds,
        latency_seconds=args.latency_seconds,
        threads=args.threads,
    )
    png = write_latency_histogram(results, Path(args.out) / "vision_latency.png")
    out: dict[str, Any] = {"results": [r.as_dict() for r in results], "int8_vs_fp32": int8_vs_fp32(results)}
    if args.gate_cameras:
        out["motion_gate"] = _gate_bench(args, city, model)
    out["histogram_png"] = str(png)
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    for row in out["results"]:
        print(" ".join(f"{k}={v}" for k, v in row.items()))
    for row in out["int8_vs_fp32"]:
        print("int8_vs_fp32 " + " ".join(f"{k}={v}" for k, v in row.items()))
    if "motion_gate" in out:
        print("motion_gate " + " ".join(f"{k}={v}" for k, v in out["motion_gate"].items()))
    print(f"latency histogram: {png}")
    return 0


def _gate_bench(args: argparse.Namespace, city: Any, model: Path) -> dict[str, Any]:
    from detectors.vision.motion_bench import run_motion_bench, write_gate_timeline
    from detectors.vision.session import Detector

    vision = city.vision
    detector = Detector(
        model,
        input_size=vision.input_size,
        score_threshold=vision.score_threshold,
        iou_threshold=vision.iou_threshold,
        threads=args.threads,
        precision=vision.precision,
    )
    run = run_motion_bench(
        detector,
        Path(args.photos),
        SHARED / "datasets" / "trash-bags",
        cameras=args.gate_cameras,
        interval_s=args.gate_interval,
        threshold=args.gate_threshold,
        keepalive_s=args.gate_keepalive,
    )
    png = write_gate_timeline(run, Path(args.out) / "motion_gate.png")
    return {"runtime": detector.runtime} | run.as_dict() | {"timeline_png": str(png)}


def cmd_ingest(args: argparse.Namespace) -> int:
    from detectors.vision.frames import FrameReader, MotionGate
    from streams.cli.cameras import ingest_camera
    from streams.topics import CAMERA_FRAMES

    city = load_city(settings.city)
    camera = city.camera(args.camera)
    if camera is None:
        raise ValueError(f"camera {args.camera!r} is not in {settings.city} cameras.yaml")
    interval = args.interval if args.interval is not None else camera.sample_interval_s
    source = args.source or camera.source
    if not source:
        raise ValueError(f"camera {camera.id} has no source in cameras.yaml; pass --source")
    reader = FrameReader(source, interval=interval, loop=args.loop)

    def show(stats: Any) -> None:
        if not sys.stderr.isatty():
            return
        print(
            f"\r  {camera.id}: sampled {stats.sampled}, sent {stats.sent}, unchanged {stats.skipped}",
            end="",
            file=sys.stderr,
            flush=True,
        )

    stats = asyncio.run(
        ingest_camera(
            camera.id,
            reader,
            _bootstrap(args.kafka),
            topic=CAMERA_FRAMES.name,
            interval=interval,
            gate=MotionGate(args.motion_threshold, args.keepalive),
            max_side=args.max_side,
            max_bytes=city.vision.max_jpeg_bytes,
            limit=args.limit,
            on_frame=show,
        )
    )
    print(file=sys.stderr)
    print(
        json.dumps(
            {
                "camera": camera.id,
                "sampled": stats.sampled,
                "sent": stats.sent,
                "unchanged_skipped": stats.skipped,
                "sent_because": stats.reasons,
            }
        )
    )
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from detectors.vision.progress import Progress
    from streams.cli.cameras import load_reels, replay_cameras
    from streams.topics import CAMERA_FRAMES

    city = load_city(settings.city)
    if args.cameras > len(city.cameras):
        raise ValueError(f"--cameras {args.cameras}: the city has {len(city.cameras)} cameras")
    reels = load_reels(Path(args.dir), city.cameras[: args.cameras], max_bytes=city.vision.max_jpeg_bytes)
    total = args.limit or (int(args.duration * args.rate) if args.duration and args.rate else 0)
    bar = Progress(total or 1, "replay-cameras", enabled=None if total else False)
    print(
        f"replaying {sum(len(r.frames) for r in reels)} photos as {len(reels)} cameras at {args.rate}/s "
        f"(each photo held {args.hold}s)",
        file=sys.stderr,
    )
    try:
        stats = asyncio.run(
            replay_cameras(
                reels,
                _bootstrap(args.kafka),
                topic=CAMERA_FRAMES.name,
                rate=args.rate,
                hold_s=args.hold,
                duration_s=args.duration,
                limit=args.limit,
                on_sent=lambda _: bar.advance(),
            )
        )
    finally:
        bar.close()
    print(json.dumps({k: round(v, 2) for k, v in stats.items()}))
    return 0


def _subcommands(sub: Any, name: str, help_text: str) -> Any:
    """The sub-command group ``name`` (e.g. ``bench``), shared with other modules: found or created."""
    parser = sub.choices.get(name)
    if parser is None:
        parser = sub.add_parser(name, help=help_text)
        parser.add_subparsers(dest=name, required=True, metavar="WHAT")
    # argparse has no public accessor for a parser's sub-command action.
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))


def register(sub: Any) -> None:
    p = sub.add_parser("train-detector", help="rebuild onnx_models/cityops_detector.onnx (needs the [train] extra)")
    p.add_argument("--shared", default=str(SHARED), help="the shared folder with datasets/ and models/")
    p.add_argument("--work", default=str(REPO_ROOT.parent / "train"), help="merged dataset, runs, last.pt")
    p.add_argument("--base", default=None, help="COCO checkpoint to start from (default shared yolov8n.pt)")
    p.add_argument("--output", default=str(REPO_ROOT / "onnx_models" / "cityops_detector.onnx"))
    p.add_argument("--imgsz", type=int, default=320)
    p.add_argument("--epochs", type=int, default=30, help="upper bound when --hours is set")
    p.add_argument("--hours", type=float, default=0.9, help="training time budget (0 = run all epochs)")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--device", default=None, help="'cpu' or a CUDA index (default: GPU when available)")
    p.add_argument("--resume", action="store_true", help="continue the interrupted run from its last.pt")
    p.add_argument("--no-int8", action="store_true", help="skip the int8 copy (see export-detector --int8)")
    p.set_defaults(func=cmd_train)

    x = sub.add_parser("export-detector", help="write the int8 copy of the detector (needs the onnx package)")
    x.add_argument("--int8", action="store_true", help="static int8 QDQ quantization, calibrated on real frames")
    x.add_argument("--model", default=None, help="the fp32 ONNX model (default: the city's vision.model)")
    x.add_argument("--output", default=None, help="default: <model>.int8.onnx beside it")
    x.add_argument("--shared", default=str(SHARED), help="the shared folder with datasets/")
    x.add_argument("--work", default=str(REPO_ROOT.parent / "train"), help="where the merged dataset is (or goes)")
    x.add_argument("--calibration", type=int, default=CALIBRATION_IMAGES, help="calibration frames")
    x.add_argument("--seed", type=int, default=0, help="which calibration frames are drawn")
    x.add_argument("--imgsz", type=int, default=320, help="calibration input size (the product's)")
    x.set_defaults(func=cmd_export)

    e = _subcommands(sub, "eval", "evaluate models on labelled data").add_parser(
        "detector", help="per-class P, R, mAP50, mAP50-95 of the ONNX detector on a YOLO-format folder"
    )
    e.add_argument("--data", required=True, help="folder with images/, labels/ and data.yaml")
    e.add_argument("--model", default=None, help="ONNX model (default: the city's vision.model)")
    e.add_argument("--imgsz", type=int, default=None, help="input size (default: the city's vision.input_size)")
    e.add_argument(
        "--precision",
        default="fp32",
        choices=["auto", "int8", "fp16", "fp32"],
        help="fp32: the --model file; int8: its .int8.onnx copy; auto: what this machine would run",
    )
    e.add_argument("--class-map", default=None, help="dataset=model class renames, e.g. trash=garbage_bag,ad=signboard")
    e.add_argument("--json", action="store_true")
    e.add_argument("--out", default=str(settings.data_dir / "eval"), help="folder for the PR-curve PNG")
    e.set_defaults(func=cmd_eval)

    b = _subcommands(sub, "bench", "benchmarks").add_parser(
        "vision",
        help="fp32 vs int8: model-only vs whole-stage throughput, latency at 80 %% load, cameras per worker; "
        "motion gate savings",
    )
    b.add_argument("--model", default=None)
    b.add_argument("--photos", default=str(DEMO_PHOTOS), help="folder of frames (default: the demo photos)")
    b.add_argument("--sizes", default="640,320", help="input sizes to measure")
    b.add_argument("--precisions", default="fp32,int8", help="measured in the same run (or runtime keys)")
    b.add_argument("--batch", type=int, default=4, help="batched measurements (and the stage's max batch)")
    b.add_argument("--seconds", type=float, default=8.0, help="time per throughput measurement")
    b.add_argument("--latency-seconds", type=float, default=20.0, help="time of each latency run")
    b.add_argument("--threads", type=int, default=None, help="intra-op threads (default: all usable cores)")
    b.add_argument("--gate-cameras", type=int, default=8, help="simulated cameras for the motion gate (0 = skip)")
    b.add_argument("--gate-interval", type=float, default=10.0, help="their sampling interval (camera seconds)")
    b.add_argument("--gate-keepalive", type=float, default=60.0, help="the gate's keepalive (as ingest-camera)")
    b.add_argument("--gate-threshold", type=float, default=0.02, help="the gate's motion threshold")
    b.add_argument("--json", action="store_true")
    b.add_argument("--out", default=str(settings.data_dir / "bench"), help="folder for the histogram PNG")
    b.set_defaults(func=cmd_bench)

    i = sub.add_parser("ingest-camera", help="sample a camera (RTSP/HTTP/video/image folder) onto camera-frames")
    i.add_argument("--camera", required=True, help="camera id from cameras.yaml")
    i.add_argument("--source", default=None, help="URL, video file, image or folder (default: the camera's source)")
    i.add_argument("--interval", type=float, default=None, help="seconds between samples (default: the camera's)")
    i.add_argument("--kafka", default=None, help="kafka://host:port (default: CITYOPS_KAFKA_URL or the local stack)")
    i.add_argument("--keepalive", type=float, default=60.0, help="send an unchanged scene at least this often (s)")
    i.add_argument("--motion-threshold", type=float, default=0.02, help="share of changed pixels that is motion")
    i.add_argument("--max-side", type=int, default=960, help="resize frames so the longer side is at most this")
    i.add_argument("--limit", type=int, default=None, help="stop after sending this many frames")
    i.add_argument("--loop", action="store_true", help="loop an image folder forever")
    i.set_defaults(func=cmd_ingest)

    r = sub.add_parser("replay-cameras", help="replay a photo folder as N demo cameras onto camera-frames")
    r.add_argument("--dir", default=str(DEMO_PHOTOS), help="photo folder (default: the Amsterdam garbage photos)")
    r.add_argument("--cameras", type=int, default=8, help="how many cameras of cameras.yaml to play")
    r.add_argument("--rate", type=float, default=2.0, help="frames per second over all cameras (0 = max)")
    r.add_argument("--hold", type=float, default=150.0, help="seconds each camera shows one photo")
    r.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    r.add_argument("--limit", type=int, default=None, help="stop after this many frames")
    r.add_argument("--kafka", default=None, help="kafka://host:port (default: CITYOPS_KAFKA_URL or the local stack)")
    r.set_defaults(func=cmd_replay)
