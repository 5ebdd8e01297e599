"""``cityops bench durable`` (fetch time against object count); ``cityops durable export`` (the log, from S3)."""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from streams.cli import command_group
from streams.durable_bench import FetchSample, probe_after_restart, run_durable_bench, write_chart
from streams.embedded import EmbeddedStack
from streams.object_log import LogRecord, partitions, read_partition
from streams.settings import settings
from streams.topics import TOPICS

__all__ = ["register"]


def _ms(value: float | None) -> str:
    return "STALLED" if value is None else f"{value:.1f} ms"


def _progress(sample: FetchSample) -> None:
    print(f"  {sample.objects:>7} objects: fetch {_ms(sample.fetch_ms)} (1-object partition "
          f"{_ms(sample.fetch_small_ms)}), produce {sample.produce_ms:.1f} ms", file=sys.stderr, flush=True)


def cmd_bench_durable(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="cityops-bench-durable-") as scratch:
        root = Path(scratch)
        stack = EmbeddedStack(root / "run", durable_dir=root / "data")
        print(f"starting SeaweedFS + Tansu (durable) under {root} ...", file=sys.stderr, flush=True)
        stack.run_dir.mkdir(parents=True, exist_ok=True)
        try:
            stack.start_object_store()
            stack.start_broker()
            result = asyncio.run(run_durable_bench(stack.bootstrap, args.batches, args.step, args.records,
                                                   args.rate / args.partitions, progress=_progress))
            # The same log read by a fresh broker (a restart): which batch objects can it still serve?
            stack.child("tansu").stop()
            stack.children.remove(stack.child("tansu"))
            stack.start_broker()
            written = result.samples[-1].objects if result.samples else 0
            probes = sorted({n for n in (1, 500, 999, 1000, 1001, written // 2, written) if 0 < n <= written})
            result.after_restart = asyncio.run(probe_after_restart(stack.bootstrap, result.topic, probes,
                                                                   args.records))
            print("  after a broker restart: " + ", ".join(f"object {n}: {_ms(ms)}"
                                                           for n, ms in result.after_restart.items()),
                  file=sys.stderr, flush=True)
        finally:
            stack.stop()
    png = write_chart(result, Path(args.out) / "durable_fetch_latency.png")
    out = result.as_dict() | {"chart_png": str(png)}
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        for key, value in out.items():
            if key != "samples":
                print(f"{key:>30}: {value}")
    return 0


def _text(data: bytes | None) -> dict[str, str] | None:
    if data is None:
        return None
    try:
        return {"utf8": data.decode("utf-8")}
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(data).decode()}


def _line(rec: LogRecord) -> str:
    return json.dumps({"partition": rec.partition, "offset": rec.offset, "timestamp_ms": rec.timestamp_ms,
                       "key": _text(rec.key), "value": _text(rec.value)}, ensure_ascii=False)


def cmd_durable_export(args: argparse.Namespace) -> int:
    """Every stored record of the chosen topics as JSON lines, read from the S3 objects (the stack must be down)."""
    durable = Path(args.dir).resolve()
    if not (durable / "seaweedfs").is_dir():
        raise RuntimeError(f"{durable} holds no durable data (no seaweedfs folder): was it `cityops up --durable`?")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="cityops-export-") as scratch:
        stack = EmbeddedStack(Path(scratch), durable_dir=durable)
        try:
            stack.lock_durable_dir()  # refuses while a stack runs on DIR
            stack.start_object_store()
            assert stack.store is not None
            for topic in args.topic or sorted(TOPICS):
                count = 0
                with open(out / f"{topic}.jsonl", "w", encoding="utf-8") as fh:
                    for partition in partitions(stack.store, topic):
                        for rec in read_partition(stack.store, topic, partition):
                            fh.write(_line(rec) + "\n")
                            count += 1
                print(f"{topic:>16}: {count} records -> {out / f'{topic}.jsonl'}", flush=True)
        finally:
            stack.stop()
    return 0


def register(sub: Any) -> None:
    d = sub.add_parser("durable", help="the durable mode's data (cityops up --durable DIR)")
    what = d.add_subparsers(dest="durable", required=True, metavar="WHAT")
    e = what.add_parser("export", help="every stored record as JSON lines, read from the S3 objects without the "
                                       "broker (reaches what a stalled Tansu no longer serves); stop the stack first")
    e.add_argument("dir", help="the DIR given to cityops up --durable")
    e.add_argument("--topic", action="append", help="topic to export (repeatable; default: every registry topic)")
    e.add_argument("--out", default=str(settings.data_dir / "export"), help="folder for <topic>.jsonl")
    e.set_defaults(func=cmd_durable_export)

    b = command_group(sub, "bench", "benchmarks (figures and ratios measured in one run)").add_parser(
        "durable", help="durable broker: fetch latency vs S3 objects per partition, extrapolated to a day")
    b.add_argument("--batches", type=int, default=12000, help="one-batch produce requests to write (default 12000)")
    b.add_argument("--step", type=int, default=1000, help="measure fetches every this many batches")
    b.add_argument("--records", type=int, default=10, help="records per batch")
    b.add_argument("--rate", type=float, default=25.0,
                   help="the demo's complaints/s, for the day's extrapolation (default 25, as `cityops demo`)")
    b.add_argument("--partitions", type=int, default=4,
                   help="partitions they spread over (each record its own batch at that rate; default 4)")
    b.add_argument("--json", action="store_true", help="print the result as JSON")
    b.add_argument("--out", default=str(settings.data_dir / "bench"), help="folder for the chart PNG")
    b.set_defaults(func=cmd_bench_durable)
