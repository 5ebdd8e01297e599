"""``cityops replay-hotline``: real complaint files onto ``hotline-events``, in time order."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from config import load_city
from streams.client import StackInfo
from streams.replay import load_events, replay_events
from streams.settings import settings

__all__ = ["register"]


def _progress(done: int, total: int) -> None:
    width = 30
    filled = int(width * done / max(1, total))
    print(f"\r  replay [{'#' * filled}{'.' * (width - filled)}] {done}/{total}", end="", file=sys.stderr,
          flush=True)
    if done == total:
        print(file=sys.stderr)


def cmd_replay(args: argparse.Namespace) -> int:
    info = StackInfo.find()
    city = load_city(args.city)
    events = load_events(args.file, args.limit, latest=args.latest, city=city)
    print(f"replaying {len(events)} reports of {city.city.name} at {args.rate or 'max'}/s to {info.kafka_url}")
    stats = asyncio.run(replay_events(info.bootstrap, events, args.rate, _progress))
    print(f"sent {int(stats['sent'])} in {stats['seconds']:.1f}s ({stats['rate']:.0f}/s)")
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser("replay-hotline", help="replay a city's history file onto hotline-events, in time order")
    p.add_argument("file", nargs="?", default=None, help="history file in the city's format (default: its own)")
    p.add_argument("--city", default=settings.city, help="city id or folder (its history format and districts)")
    p.add_argument("--rate", type=float, default=50.0, help="reports per second (0 = as fast as possible)")
    p.add_argument("--limit", type=int, default=None, help="replay only this many reports")
    p.add_argument("--latest", action="store_true", help="with --limit: the latest reports instead of the first")
    p.set_defaults(func=cmd_replay)
