"""``cityops bench hotline``: end-to-end throughput and latency of the running pipeline."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from config import load_city
from streams.bench import run_hotline_bench, write_histogram
from streams.cli import command_group
from streams.client import StackInfo
from streams.replay import history_file
from streams.settings import settings

__all__ = ["register"]


def _progress(done: int, total: int) -> None:
    print(f"\r  complaints attached to cases: {done}/{total}", end="", file=sys.stderr, flush=True)


def cmd_bench_hotline(args: argparse.Namespace) -> int:
    sup = None
    try:
        info = StackInfo.find()
    except RuntimeError:
        if not args.start:
            raise
        from streams.cli.run import Supervisor

        sup = Supervisor(1, settings.city, settings.data_dir / "run" / "bench", settings.web_port)
        info = sup.start()
        sup.wait_ready()
    try:
        data = history_file(load_city(settings.city), args.data)
        result = asyncio.run(run_hotline_bench(info, args.n, data, progress=_progress, rate=args.rate,
                                               skip=args.skip))
    finally:
        print(file=sys.stderr)
        if sup is not None:
            sup.stop()
    png = write_histogram(result.latencies, Path(args.out) / "hotline_latency.png",
                          f"complaint -> case event, n={result.n}")
    out = result.as_dict() | {"histogram_png": str(png)}
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        for key, value in out.items():
            print(f"{key:>22}: {value}")
    return 0 if result.missing == 0 else 1


def register(sub: Any) -> None:
    h = command_group(sub, "bench", "benchmarks (figures and ratios measured in one run)").add_parser(
        "hotline", help="N real complaints end to end, vs raw aiokafka consume of the same broker")
    h.add_argument("--n", type=int, default=2000, help="complaints to push (default 2000)")
    h.add_argument("--data", default=None, help="history file (default: the city's own, CITYOPS_CITY)")
    h.add_argument("--rate", type=float, default=0.0,
                   help="complaints/s to push (0 = all at once: throughput; below capacity: latency)")
    h.add_argument("--skip", type=int, default=0,
                   help="skip the file's latest K appeals (a second run on one stack: skip what the first pushed, "
                        "or its reports merge into the first run's still-open cases)")
    h.add_argument("--json", action="store_true", help="print the result as JSON")
    h.add_argument("--out", default=str(settings.data_dir / "bench"), help="folder for the histogram PNG")
    h.add_argument("--start", action="store_true", help="start an embedded stack if none is running")
    h.set_defaults(func=cmd_bench_hotline)
