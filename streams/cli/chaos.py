"""``cityops chaos``: the fault run as one command, ending in a table of verdicts.

Starts its own embedded stack (Tansu, valkey, one worker, restarted like the
supervisor of ``cityops up`` does), replays real St Petersburg complaints, pauses
Redis (SIGSTOP/SIGCONT of valkey) while they flow, SIGKILLs the worker, waits
for the pipeline to settle and then reads ``observations``, ``case-events``,
``dispatch-tasks`` and ``deadletter`` back, plus every case document in Redis.
The verdicts are pure functions (:mod:`streams.cli.chaos_checks`). Exit status 1
when a check fails; the table is also written as markdown and PNG.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from schemas.records import HotlineEvent
from streams import redis_keys as keys
from streams.cli.chaos_checks import (
    Check,
    check_case_documents,
    check_complaints_in_one_case,
    check_event_ids,
    check_no_restart_from_pause,
    check_tasks,
    render_markdown,
    render_table,
    write_png,
)
from streams.client import wait_ready
from streams.embedded import ChildProcess, EmbeddedStack
from streams.log_reader import read_log
from streams.replay import SPB_FILE, load_events, replay_events
from streams.settings import settings
from streams.topics import CASE_EVENTS, DEADLETTER, DISPATCH_TASKS, OBSERVATIONS

__all__ = ["ChaosRun", "register", "run_chaos"]

WORKER = "worker-1"
READY_TIMEOUT_S = 240.0  # Tansu completes a consumer-group join after ~30 s; a restore comes on top


def _say(text: str) -> None:
    print(f"[chaos] {text}", file=sys.stderr, flush=True)


@dataclass
class ChaosRun:
    """The embedded stack under fault, with a watchdog that restarts a dead worker and counts it."""

    stack: EmbeddedStack
    web_port: int = 0
    restarts: int = 0
    timeline: list[tuple[float, str]] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    _stop: threading.Event = field(default_factory=threading.Event)

    def note(self, text: str) -> None:
        at = time.monotonic() - self.started
        self.timeline.append((round(at, 1), text))
        _say(f"t={at:6.1f}s {text}")

    def worker(self) -> ChildProcess:
        return self.stack.child(WORKER)

    def worker_pid(self) -> int | None:
        with contextlib.suppress(KeyError):
            child = self.worker()
            return child.proc.pid if child.alive() else None
        return None

    def start(self) -> None:
        self.stack.start()
        _, self.web_port = self.stack.start_worker(WORKER)
        threading.Thread(target=self._watch, name="chaos-watchdog", daemon=True).start()
        self.note(f"stack up (logs in {self.stack.run_dir}); waiting for the worker to join the group")
        self.wait_ready()

    def wait_ready(self) -> None:
        wait_ready(f"http://127.0.0.1:{self.web_port}", READY_TIMEOUT_S)
        self.note(f"worker ready (pid {self.worker_pid()})")

    def _watch(self) -> None:
        """The supervisor's job: a worker that died is started again on the same port."""
        while not self._stop.wait(0.5):
            with contextlib.suppress(KeyError):
                child = self.worker()
                if not child.alive() and not self._stop.is_set():
                    self.restarts += 1
                    self.note(f"worker exited with {child.proc.returncode}; restarting it (restart {self.restarts})")
                    self.stack.children.remove(child)
                    self.stack.start_worker(WORKER, self.web_port)

    def pause_redis(self, seconds: float) -> None:
        valkey = self.stack.child("valkey")
        valkey.proc.send_signal(signal.SIGSTOP)
        self.note(f"Redis paused (SIGSTOP valkey pid {valkey.proc.pid}) for {seconds:g} s")
        try:
            time.sleep(seconds)
        finally:
            valkey.proc.send_signal(signal.SIGCONT)
            self.note("Redis resumed (SIGCONT)")

    def kill_worker(self) -> None:
        child = self.worker()
        child.proc.send_signal(signal.SIGKILL)
        child.proc.wait(30)
        self.note(f"worker pid {child.proc.pid} SIGKILLed")

    def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(KeyError):
            self.stack.child("valkey").proc.send_signal(signal.SIGCONT)  # never leave it stopped
        self.stack.stop()


def _records(bootstrap: str, topic: str) -> list[dict[str, Any]]:
    """Every record of ``topic`` as JSON, to the fetches' high watermark (never ListOffsets: DESIGN.md).

    These topics hold only what the stages wrote: a record that is not JSON is a finding, so it raises.
    """
    out: list[dict[str, Any]] = []
    asyncio.run(read_log(bootstrap, topic, lambda rec: out.append(json.loads(rec.value))))
    return out


def _accounted(bootstrap: str, event_ids: list[str]) -> int:
    """Complaints already in a case or dead-lettered (the pipeline has settled when this stops moving)."""
    check = check_complaints_in_one_case(event_ids, _records(bootstrap, OBSERVATIONS.name),
                                         _records(bootstrap, CASE_EVENTS.name), _records(bootstrap, DEADLETTER.name))
    return check.counts["in_one_case"] + check.counts["dead_lettered"] + check.counts["in_several_cases"]


def _wait_settled(run: ChaosRun, event_ids: list[str], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    last, still_since = -1, time.monotonic()
    while time.monotonic() < deadline:
        done = _accounted(run.stack.bootstrap, event_ids)
        _say(f"  settled: {done}/{len(event_ids)} complaints in a case or dead-lettered")
        if done == len(event_ids):
            return
        if done != last:
            last, still_since = done, time.monotonic()
        elif time.monotonic() - still_since > 45:
            run.note(f"pipeline stopped moving at {done}/{len(event_ids)}")
            return
        time.sleep(5)
    run.note("settle timeout")


def _events(n: int, data: Path) -> list[HotlineEvent]:
    events = load_events(data, n, latest=True)
    # Shift history so its latest report is "now": merge windows and SLA clocks behave as live.
    shift = time.time() - events[-1].received_at if events else 0.0
    return [HotlineEvent(**{**e.asdict(), "received_at": e.received_at + shift}) for e in events]


def run_chaos(n: int, rate: float, pause_s: float, run_dir: Path, data: Path = SPB_FILE,
              settle_timeout_s: float = 300.0, progress: Callable[[int, int], None] | None = None
              ) -> tuple[list[Check], dict[str, Any]]:
    """The whole fault run; returns the checks and what happened when."""
    events = _events(n, data)
    event_ids = [e.event_id for e in events]
    run = ChaosRun(EmbeddedStack(run_dir))
    sent = {"n": 0}
    try:
        run.start()
        replay_done = threading.Event()

        def count(done: int, total: int) -> None:
            sent["n"] = done
            if progress:
                progress(done, total)

        def feed() -> None:
            try:
                asyncio.run(replay_events(run.stack.bootstrap, events, rate, count))
            finally:
                replay_done.set()

        feeder = threading.Thread(target=feed, name="chaos-replay", daemon=True)
        run.note(f"replaying {len(events)} real complaints at {rate:g}/s")
        feeder.start()
        while sent["n"] < len(events) / 3 and not replay_done.is_set():
            time.sleep(0.2)
        pid_before, restarts_before = run.worker_pid(), run.restarts
        run.pause_redis(pause_s)
        time.sleep(10.0)  # a worker that cannot ride out the pause dies within seconds of it
        pid_after, restarts_after = run.worker_pid(), run.restarts
        run.note(f"after the pause: worker pid {pid_before} -> {pid_after}, restarts {restarts_before} -> "
                 f"{restarts_after}")
        while sent["n"] < 2 * len(events) / 3 and not replay_done.is_set():
            time.sleep(0.2)
        run.kill_worker()
        time.sleep(1.0)  # the watchdog restarts it
        run.wait_ready()
        replay_done.wait()
        feeder.join()
        run.note(f"replay done ({sent['n']} sent); waiting for the pipeline to settle")
        _wait_settled(run, event_ids, settle_timeout_s)
        bootstrap = run.stack.bootstrap
        observations = _records(bootstrap, OBSERVATIONS.name)
        case_events = _records(bootstrap, CASE_EVENTS.name)
        tasks = _records(bootstrap, DISPATCH_TASKS.name)
        dead = _records(bootstrap, DEADLETTER.name)
        client = redis.Redis.from_url(run.stack.redis_url)
        case_ids = {str(ev["case_id"]) for ev in case_events if "case_id" in ev}
        docs = {cid: json.loads(raw) if (raw := client.get(keys.case_doc(cid))) else None for cid in case_ids}
        checks = [
            check_complaints_in_one_case(event_ids, observations, case_events, dead),
            check_case_documents(case_events, docs),
            check_event_ids(case_events),
            check_tasks(tasks),
            check_no_restart_from_pause(pid_before, pid_after, restarts_before, restarts_after, pause_s),
        ]
        facts = {"complaints": len(events), "rate": rate, "redis_pause_s": pause_s, "worker_restarts": run.restarts,
                 "records": {"observations": len(observations), "case_events": len(case_events),
                             "dispatch_tasks": len(tasks), "dead_letters": len(dead)},
                 "timeline": run.timeline, "run_dir": str(run_dir)}
        return checks, facts
    finally:
        run.stop()


def _progress(done: int, total: int) -> None:
    if done % 100 == 0 or done == total:
        _say(f"  replayed {done}/{total}")


def cmd_chaos(args: argparse.Namespace) -> int:
    out = Path(args.out)
    with tempfile.TemporaryDirectory(prefix="cityops-chaos-") as scratch:
        run_dir = Path(args.keep) if args.keep else Path(scratch)
        checks, facts = run_chaos(args.complaints, args.rate, args.pause, run_dir,
                                  Path(args.data) if args.data else SPB_FILE, progress=_progress)
    title = (f"cityops chaos: {facts['complaints']} SPb complaints at {facts['rate']:g}/s, Redis paused "
             f"{facts['redis_pause_s']:g} s, worker SIGKILLed ({facts['worker_restarts']} restart(s) in all)")
    md = out / "chaos.md"
    md.parent.mkdir(parents=True, exist_ok=True)
    md.write_text(render_markdown(checks, title))
    png = write_png(checks, out / "chaos.png", title)
    ok = all(c.ok for c in checks)
    if args.json:
        print(json.dumps({"ok": ok, "checks": [c.as_dict() for c in checks], **facts,
                          "markdown": str(md), "png": str(png)}, indent=2))
    else:
        print(title)
        print(render_table(checks))
        print(f"table: {md}  image: {png}")
    return 0 if ok else 1


def register(sub: Any) -> None:
    p = sub.add_parser("chaos", help="fault run: replay real complaints, pause Redis, SIGKILL the worker, check "
                                     "nothing was lost, duplicated or left stale (exit 1 if a check fails)")
    p.add_argument("--complaints", type=int, default=600, help="latest SPb complaints to replay (default 600)")
    p.add_argument("--rate", type=float, default=10.0, help="complaints per second (default 10)")
    p.add_argument("--pause", type=float, default=20.0, help="seconds Redis stays paused (default 20)")
    p.add_argument("--data", default=None, help="appeals file (default: ../shared SPb appeals)")
    p.add_argument("--json", action="store_true", help="print the verdicts and timeline as JSON")
    p.add_argument("--out", default=str(settings.data_dir / "chaos"), help="folder for chaos.md and chaos.png")
    p.add_argument("--keep", default=None, help="run the stack under this folder and keep its logs")
    p.set_defaults(func=cmd_chaos)
