"""The demo: real appeals replayed into a running stack, with a live summary in the terminal."""

from __future__ import annotations

import argparse
import asyncio
import json
import threading
import time

import redis

from config import load_city
from streams import redis_keys as keys
from streams.client import StackInfo, fetch_metrics
from streams.replay import SPB_FILE, load_events, replay_events

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
        "observations": totals.get('cityops_events_in_total{topic="observations"}', 0.0),
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


def run_demo(info: StackInfo, args: argparse.Namespace) -> None:
    client = redis.Redis.from_url(info.redis_url)
    events = load_events(args.data or SPB_FILE, args.complaints, latest=True)
    print(f"replaying the latest {len(events)} real St Petersburg appeals at {args.rate:.0f}/s ...", flush=True)
    done = threading.Event()

    def feed() -> None:
        try:
            asyncio.run(replay_events(info.bootstrap, events, args.rate))
        finally:
            done.set()

    threading.Thread(target=feed, daemon=True).start()
    started = time.monotonic()
    header = f"{'t(s)':>6} {'reports in':>10} {'cases open':>10} {'dispatched':>10} {'triage':>7} {'dead letters':>12}"
    print(header)
    last: dict[str, float] = {}
    settled_since: float | None = None
    while True:
        time.sleep(2.0)
        s = summary(info, client)
        print(f"{time.monotonic() - started:6.0f} {s['reports_in']:10.0f} {s['cases_open']:10.0f} "
              f"{s['dispatched']:10.0f} {s['triage']:7.0f} {s['dead_letters']:12.0f}", flush=True)
        settled = done.is_set() and s == last
        settled_since = (settled_since or time.monotonic()) if settled else None
        last = s
        if settled_since and time.monotonic() - settled_since > 4:
            break
        if args.duration and time.monotonic() - started > args.duration + len(events) / max(args.rate, 1):
            break
    print("\nrecently dispatched cases:")
    show_cases(client, args.city)
    for url in info.web_urls:
        print(f"\nconsole: {url}/console/   metrics: {url}/metrics")

