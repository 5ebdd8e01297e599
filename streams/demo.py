"""The demo: real appeals replayed into a running stack, with a live summary in the terminal."""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import threading
import time
from pathlib import Path

import redis

from config import CityConfig, load_city
from schemas.records import HotlineEvent
from streams import redis_keys as keys
from streams.client import StackInfo, fetch_metrics
from streams.replay import load_events, replay_events
from streams.settings import settings

__all__ = ["run_demo", "summary"]

OPEN = ("new", "triage", "dispatched", "acknowledged", "in_progress", "rejected", "reopened")


def summary(info: StackInfo, client: redis.Redis) -> dict[str, float]:
    """Counts an operator watches: reports in, cases open, dispatched, in triage, dead letters."""
    totals: dict[str, float] = {}
    for url in info.web_urls:
        try:
            for name, value in fetch_metrics(url).items():
                totals[name] = totals.get(name, 0.0) + value
        except OSError:
            continue
    return {
        "reports_in": totals.get('cityops_events_in_total{topic="hotline-events"}', 0.0),
        "frames_in": totals.get('cityops_events_in_total{topic="camera-frames"}', 0.0),
        "cases_open": float(sum(client.zcard(keys.cases_by_status(s)) for s in OPEN)),
        "dispatched": sum(v for k, v in totals.items() if k.startswith('cityops_dispatches_total{outcome="auto"')),
        "triage": float(client.zcard(keys.cases_by_status("triage"))),
        "dead_letters": totals.get("cityops_deadletters_total", 0.0),
    }


def _labels(city_id: str) -> tuple[dict[str, str], dict[str, str]]:
    city = load_city(city_id)
    return {n.id: n.label for n in city.taxonomy.nodes}, {d.id: d.name for d in city.departments}


def show_cases(client: redis.Redis, city_id: str, count: int = 5) -> None:
    """A few recently dispatched cases, with what was understood and where they went."""
    nodes, departments = _labels(city_id)
    ids: list[bytes] = client.zrevrange(keys.cases_by_status("dispatched"), 0, count - 1)  # type: ignore[assignment]
    for raw_id in ids:
        raw = client.get(keys.case_doc(raw_id.decode()))
        if not raw:
            continue
        case = json.loads(raw)
        label = nodes.get(case["reason"] or case["category"], case["category"])
        print(f"  {case['case_id']}  [{case['kind']}] {label}")
        print(f"      text: {case.get('text', '')[:110].replace(chr(10), ' ')}")
        print(f"      → {departments.get(case['department'], case['department'])}  "
              f"(route confidence {case.get('route_confidence', 0):.2f}, {case.get('route_source')}), "
              f"district {case['district']}, reports {case['reports']}, priority {case['priority']}")


def _photos_with_violations(folder: Path, city: CityConfig, model: Path, cameras: int) -> Path:
    """A folder of links to the photos in which the detector sees a mapped violation.

    The detector finds bags in only about a fifth of these Amsterdam photos (it was fine-tuned on
    other bag photos; see onnx_models/cityops_detector.md), so the demo shows the cameras scenes
    it can confirm instead of 5-minute scenes of nothing.
    """
    import cv2

    from detectors.vision.session import Detector

    detector = Detector(model, input_size=city.vision.input_size, score_threshold=city.vision.score_threshold)
    picked = settings.data_dir / "demo-photos"
    shutil.rmtree(picked, ignore_errors=True)
    picked.mkdir(parents=True)
    photos = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    hits = scanned = 0
    for path in photos:
        scanned += 1
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            continue
        if any(d.name in city.vision.class_kinds for d in detector.detect([image])[0]):
            (picked / path.name).symlink_to(path.resolve())
            hits += 1
        if hits >= 4 * cameras:
            break
    print(f"camera feed: {hits} of {scanned} photos scanned show a violation the detector sees; "
          f"only those are replayed")
    return picked if hits >= cameras else folder


def _camera_feed(info: StackInfo, args: argparse.Namespace, stop: threading.Event) -> threading.Thread | None:
    """Replay the shared street-garbage photos as the city's demo cameras, if it has cameras and a model."""
    from streams.cli.cameras import load_reels, replay_cameras
    from streams.settings import REPO_ROOT
    from streams.topics import CAMERA_FRAMES

    city = load_city(args.city)
    photos = Path(args.photos)
    if not city.cameras or not (REPO_ROOT / city.vision.model).exists() or not photos.is_dir():
        print("(no cameras, detector model or photo folder: camera feed skipped)")
        return None
    shown = _photos_with_violations(photos, city, REPO_ROOT / city.vision.model, len(city.cameras))
    reels = load_reels(shown, city.cameras, per_camera=4)
    # Long enough for garbage (the kind these photos show) to be confirmed as stationary.
    hold = city.kind("garbage").confirmation.min_stationary_s + 30
    print(f"replaying {sum(len(r.frames) for r in reels)} street photos as {len(reels)} cameras "
          f"(each scene held {hold:.0f}s, {args.camera_rate:g} frames/s in total) ...", flush=True)

    def feed() -> None:
        asyncio.run(replay_cameras(reels, info.bootstrap, topic=CAMERA_FRAMES.name, rate=args.camera_rate,
                                   hold_s=hold, duration_s=args.camera_seconds, stop=stop))

    thread = threading.Thread(target=feed, daemon=True)
    thread.start()
    return thread


def show_camera_cases(client: redis.Redis, count: int = 3) -> None:
    """Cases that cameras opened, with where their evidence snapshot is served."""
    shown = 0
    ids: list[bytes] = client.zrevrange(keys.CASES_UPDATED, 0, 500)  # type: ignore[assignment]
    for raw_id in ids:
        raw = client.get(keys.case_doc(raw_id.decode()))
        case = json.loads(raw) if raw else {}
        if not case.get("sources", {}).get("camera"):
            continue
        evidence = next((o.get("observation_id") for o in case.get("observations", []) if o.get("evidence")), "")
        print(f"  {case['case_id']}  [{case['kind']}] camera {', '.join(case.get('cameras', []))}, status "
              f"{case['status']}, evidence /api/evidence/{evidence}")
        shown += 1
        if shown >= count:
            break
    if not shown:
        print("  (no camera case yet: confirmation needs a scene to persist for minutes)")


def run_demo(info: StackInfo, args: argparse.Namespace) -> None:
    client = redis.Redis.from_url(info.redis_url)
    city = load_city(args.city)
    events = load_events(args.data, args.complaints, latest=True, city=city)
    # Shift the history so its latest report is "now": SLA clocks and merge windows then behave as live.
    shift = time.time() - events[-1].received_at if events else 0.0
    events = [HotlineEvent(**{**e.asdict(), "received_at": e.received_at + shift}) for e in events]
    print(f"replaying the latest {len(events)} real reports of {city.city.name} at {args.rate:.0f}/s ...", flush=True)
    done = threading.Event()
    stop = threading.Event()  # set on the way out (Ctrl-C too): the feeds stop before the broker does
    cameras = _camera_feed(info, args, stop) if args.camera_seconds > 0 else None

    def feed() -> None:
        try:
            asyncio.run(replay_events(info.bootstrap, events, args.rate, stop=stop))
        finally:
            if cameras is not None:
                cameras.join()
            done.set()

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    try:
        _watch(info, client, args, events, done)
    finally:
        stop.set()
        feeder.join(timeout=10)


def _watch(info: StackInfo, client: redis.Redis, args: argparse.Namespace, events: list[HotlineEvent],
           done: threading.Event) -> None:
    """Print the pipeline's progress until the feeds are done and the numbers settle, then the results."""
    started = time.monotonic()
    header = (f"{'t(s)':>6} {'reports in':>10} {'frames in':>9} {'cases open':>10} {'dispatched':>10} "
              f"{'triage':>7} {'dead letters':>12}")
    print(header)
    last: dict[str, float] = {}
    settled_since: float | None = None
    while True:
        time.sleep(2.0)
        s = summary(info, client)
        print(f"{time.monotonic() - started:6.0f} {s['reports_in']:10.0f} {s['frames_in']:9.0f} "
              f"{s['cases_open']:10.0f} {s['dispatched']:10.0f} {s['triage']:7.0f} {s['dead_letters']:12.0f}",
              flush=True)
        settled = done.is_set() and s == last
        settled_since = (settled_since or time.monotonic()) if settled else None
        last = s
        if settled_since and time.monotonic() - settled_since > 4:
            break
        if args.duration and time.monotonic() - started > args.duration + len(events) / max(args.rate, 1) \
                + args.camera_seconds:
            break
    print("\nrecently dispatched cases:")
    show_cases(client, args.city)
    show_camera_cases(client)
    for url in info.web_urls:
        print(f"\nconsole: {url}/console/   metrics: {url}/metrics")

