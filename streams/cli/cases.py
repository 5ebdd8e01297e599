"""``cityops eval dedupe`` and ``cityops bench cases``: the case stage on real history and real load."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import Any

from config import load_city
from streams.bench import write_histogram
from streams.cases_bench import evaluate_dedupe, run_cases_bench
from streams.cli import command_group
from streams.client import StackInfo
from streams.settings import settings

__all__ = ["register"]


def _bars(per_label: dict[str, dict[str, int]], path: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    top = list(per_label.items())[:15]
    fig, ax = plt.subplots(figsize=(9, 5))
    labels = [k[:40] for k, _ in top]
    ax.barh(labels, [v.get("reports", 0) for _, v in top], color="#a0aec0", label="reports")
    ax.barh(labels, [v.get("cases", 0) for _, v in top], color="#2b6cb0", label="cases")
    ax.invert_yaxis()
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def cmd_eval_dedupe(args: argparse.Namespace) -> int:
    city = load_city(args.city)
    result = evaluate_dedupe(city, Path(args.data) if args.data else None)
    name = city.city.id
    png = _bars(result.per_label, Path(args.out) / f"dedupe_{name}.png", f"reports vs cases ({city.city.name})")
    out = result.as_dict() | {"chart_png": str(png), "city": name}
    if not args.json:
        out["per_label"] = dict(list(out["per_label"].items())[:15])
    print(json.dumps(out, indent=2, ensure_ascii=False))
    return 0


def cmd_bench_cases(args: argparse.Namespace) -> int:
    info = StackInfo.find()
    result = asyncio.run(run_cases_bench(info, load_city(args.city), Path(args.data) if args.data else None, args.n,
                                         latency_rate=args.rate, routed=not args.unrouted))
    png = write_histogram(result.pop("latencies"), Path(args.out) / "cases_latency.png",
                          "observation -> dispatch task at 80% of capacity")
    print(json.dumps(result | {"histogram_png": str(png)}, indent=2))
    return 0 if result["lost"] == 0 else 1


def register(sub: Any) -> None:
    e = command_group(sub, "eval", "accuracy on real held-out data").add_parser(
        "dedupe", help="replay history in time order through the merge rule: reports vs cases, duplicate recall")
    e.add_argument("--data", default=None, help="history file in the city's format (default: the city's own)")
    e.add_argument("--city", default=settings.city, help="city whose history and case kinds (radius, window) apply")
    e.add_argument("--json", action="store_true", help="full JSON (all labels)")
    e.add_argument("--out", default=str(settings.data_dir / "eval"), help="folder for the chart PNG")
    e.set_defaults(func=cmd_eval_dedupe)

    b = command_group(sub, "bench", "benchmarks (figures and ratios measured in one run)").add_parser(
        "cases", help="observations/s through dedupe + dispatch, p99 observation -> task at 80%% of capacity")
    b.add_argument("--n", type=int, default=3000, help="observations in the capacity run")
    b.add_argument("--data", default=None, help="history file in the city's format (default: the city's own)")
    b.add_argument("--city", default=settings.city)
    b.add_argument("--rate", type=float, default=0.0,
                   help="observations/s of the latency run (default: 80%% of capacity)")
    b.add_argument("--unrouted", action="store_true",
                   help="observations without the hotline stage's route: the case stage routes every case it opens")
    b.add_argument("--json", action="store_true")
    b.add_argument("--out", default=str(settings.data_dir / "bench"))
    b.set_defaults(func=cmd_bench_cases)
