"""``cityops up``, ``cityops worker``, ``cityops demo``: run the product."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import time
from pathlib import Path
from types import FrameType
from typing import Any

from streams.client import StackInfo, wait_ready
from streams.durable import LogUpkeep
from streams.embedded import ChildProcess, EmbeddedStack, cpu_plan, free_port
from streams.replay import SHARED
from streams.settings import settings

__all__ = ["Supervisor", "register"]


class Supervisor:
    """Starts the embedded broker and Redis (unless URLs are given) and N workers; stops all of them."""

    def __init__(self, workers: int, city: str, run_dir: Path, web_port: int, pin: bool = False,
                 web_bind: str = "127.0.0.1", durable_dir: Path | None = None) -> None:
        self.workers = workers
        self.city = city
        self.run_dir = run_dir
        self.web_port = web_port
        self.web_bind = web_bind
        self.stack = EmbeddedStack(run_dir, durable_dir=durable_dir)
        self.upkeep = LogUpkeep()
        # --pin: each worker on a CPU of its own; the broker, Redis, this process and its shell on the rest.
        self.worker_cpus: list[set[int]] | None = None
        if pin:
            self.worker_cpus, self.stack.infra_cpus = cpu_plan(sorted(os.sched_getaffinity(0)), workers)
        self._cpus_of: dict[str, set[int]] = {}  # a restarted worker keeps its CPU
        self.external = "CITYOPS_KAFKA_URL" in os.environ and "CITYOPS_REDIS_URL" in os.environ
        self.worker_ports: dict[str, int] = {}
        self.info: StackInfo | None = None
        self._stopping = False

    def start(self) -> StackInfo:
        if self.stack.infra_cpus:
            os.sched_setaffinity(0, self.stack.infra_cpus)
            print(f"pinned: workers on CPUs {[sorted(c) for c in self.worker_cpus or []]}, "
                  f"broker, Redis and the rest on {sorted(self.stack.infra_cpus)}")
        if self.external:
            kafka, redis_url = os.environ["CITYOPS_KAFKA_URL"], os.environ["CITYOPS_REDIS_URL"]
            self.stack.kafka_port = int(kafka.rsplit(":", 1)[1])
            self.stack.redis_port = int(redis_url.rsplit(":", 1)[1].split("/")[0])
            print(f"using broker {kafka} and Redis {redis_url} from the environment")
            print("data: in the external broker and Redis (durable as they are configured)", flush=True)
        else:
            print(self.stack.describe_storage(), flush=True)
            print(f"starting embedded Kafka-protocol broker (Tansu) and Redis (valkey), logs under {self.run_dir} ...")
            self.stack.start()
            kafka, redis_url = self.stack.kafka_url, self.stack.redis_url
        for n in range(1, self.workers + 1):
            port = self.web_port if n == 1 and _port_free(self.web_port) else free_port()
            self._start_worker(f"worker-{n}", port)
        self.info = StackInfo(kafka, redis_url, [f"http://127.0.0.1:{p}" for p in self.worker_ports.values()])
        self.info.save()
        return self.info

    def _start_worker(self, worker_id: str, port: int) -> ChildProcess:
        if self.worker_cpus and worker_id not in self._cpus_of:
            self._cpus_of[worker_id] = self.worker_cpus[len(self._cpus_of)]
        cpus = self._cpus_of.get(worker_id)
        child, _ = self.stack.start_worker(worker_id, port, self.city, extra_env=self.worker_env(), cpus=cpus)
        self.worker_ports[worker_id] = port
        return child

    def worker_env(self) -> dict[str, str]:
        """What every worker is told beyond the stack's URLs: where to listen, which tokens file to read.

        A worker's data directory is per run, so without this it would look for tokens
        where ``cityops token new`` never writes.
        """
        return {"CITYOPS_WEB_BIND": self.web_bind, "CITYOPS_TOKENS_FILE": str(settings.tokens_file)}

    def wait_ready(self, timeout_s: float = 180.0) -> None:
        assert self.info is not None
        print("waiting for workers to join the consumer group (Tansu completes a join after ~30 s) ", end="",
              flush=True)
        shown = [0.0]

        def dot(elapsed: float) -> None:
            if elapsed - shown[0] >= 3:
                shown[0] = elapsed
                print(".", end="", flush=True)
            for child in self.stack.children:
                if not child.alive():
                    raise RuntimeError(f"{child.name} exited with {child.proc.returncode}:\n{child.log_tail()}")

        for url in self.info.web_urls:
            wait_ready(url, timeout_s, dot)
        print(" ready")

    def supervise(self) -> None:
        """Restart a worker that died (an operator expects the service to heal), until told to stop."""
        while not self._stopping:
            for name, port in list(self.worker_ports.items()):
                with contextlib.suppress(KeyError):
                    child = self.stack.child(name)
                    if not child.alive() and not self._stopping:
                        print(f"{name} exited with {child.proc.returncode}; restarting it", flush=True)
                        self.stack.children.remove(child)
                        self._start_worker(name, port)
            if self.stack.store is not None:
                warning = self.upkeep.check(self.stack.store)
                if warning:
                    print(warning, flush=True)
            time.sleep(1.0)

    def stop(self) -> None:
        self._stopping = True
        print("stopping workers, broker and Redis ...", flush=True)
        self.stack.stop()
        with contextlib.suppress(FileNotFoundError):
            (settings.data_dir / "stack.json").unlink()

    def describe(self) -> str:
        assert self.info is not None
        lines = [
            f"  broker    {self.info.kafka_url}",
            f"  redis     {self.info.redis_url}",
        ]
        for url in self.info.web_urls:
            lines.append(f"  worker    {url}   console {url}/console/   metrics {url}/metrics   ready {url}/readyz")
        exposed = "" if self.web_bind in _LOOPBACK else "  (reachable from other hosts)"
        lines.append(f"  listening {self.web_bind}{exposed}")
        tokens = settings.tokens_file
        lines.append(f"  tokens    {tokens}" if tokens.exists() else
                     f"  tokens    none yet: cityops token new --name ops --role operator  (writes {tokens})")
        lines.append(f"  logs      {self.run_dir}")
        return "\n".join(lines)


_LOOPBACK = ("127.0.0.1", "::1", "localhost")


def _port_free(port: int) -> bool:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def _install_stop_handlers(sup: Supervisor) -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def _supervisor(args: argparse.Namespace) -> Supervisor:
    durable = getattr(args, "durable", None)
    durable_dir = Path(durable).resolve() if durable else None
    run_dir = (durable_dir or settings.data_dir) / "run" / time.strftime("%Y%m%d-%H%M%S")
    return Supervisor(args.workers, args.city, run_dir, args.web_port, getattr(args, "pin", False), args.bind,
                      durable_dir)


def cmd_up(args: argparse.Namespace) -> int:
    sup = _supervisor(args)
    _install_stop_handlers(sup)
    try:
        sup.start()
        sup.wait_ready(args.ready_timeout)
        print("CityOps is up:\n" + sup.describe() + "\nCtrl-C stops everything.", flush=True)
        sup.supervise()
    except KeyboardInterrupt:
        pass
    finally:
        sup.stop()
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from streams.cli.worker import main as worker_main

    worker_main(args.loglevel)
    return 0


DEMO_OPERATOR = "demo-operator"


def demo_sign_in(info: StackInfo, city: str) -> str:
    """Issue this run's operator token (replacing the last demo's) and say, once, how to sign in with it."""
    from streams.cli.web import issue_token, revoke_token

    revoke_token(settings.tokens_file, DEMO_OPERATOR)
    token = issue_token(settings.tokens_file, DEMO_OPERATOR, "operator", city)
    print(f"sign in: open {info.web_urls[0]}/console/ and paste the operator token\n"
          f"    {token}\n  (shown only now; only its hash is stored, in {settings.tokens_file}; "
          f"revoked when the demo stops)", flush=True)
    return token


def cmd_demo(args: argparse.Namespace) -> int:
    from streams.cli.web import revoke_token
    from streams.demo import run_demo

    sup = _supervisor(args)
    _install_stop_handlers(sup)
    try:
        info = sup.start()
        sup.wait_ready(args.ready_timeout)
        print("CityOps is up:\n" + sup.describe(), flush=True)
        demo_sign_in(info, args.city)
        run_demo(info, args)
        if args.duration == 0:
            print("demo feed done; the stack keeps running. Ctrl-C stops everything.", flush=True)
            sup.supervise()
    except KeyboardInterrupt:
        pass
    finally:
        sup.stop()
        revoke_token(settings.tokens_file, DEMO_OPERATOR)
    return 0


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workers", type=int, default=1, help="worker processes in the consumer group (default 1)")
    p.add_argument("--city", default=settings.city, help="city folder under config/cities (default spb)")
    p.add_argument("--web-port", type=int, default=settings.web_port, help="first worker's web port (default 6066)")
    p.add_argument("--ready-timeout", type=float, default=180.0, help="seconds to wait for readiness")
    p.add_argument("--bind", default=settings.web_bind, metavar="ADDRESS",
                   help="interface the web servers listen on (default CITYOPS_WEB_BIND or 127.0.0.1; "
                        "0.0.0.0 exposes the console, Open311 and /metrics to the network)")
    p.add_argument("--durable", metavar="DIR", default=None,
                   help="keep the broker log, committed offsets and Redis (AOF) on disk under DIR, so a stop and "
                        "start brings every case and task back (default: in memory, lost on stop)")


def register(sub: Any) -> None:
    p = sub.add_parser("up", help="start broker, Redis and workers on this machine (or use CITYOPS_*_URL)")
    _common(p)
    p.add_argument("--pin", action="store_true",
                   help="Linux: each worker on a CPU of its own (0, 1, ...), the broker, Redis and this command on "
                        "the others; run a load generator on those too (taskset -c N cityops bench ...)")
    p.set_defaults(func=cmd_up)

    p = sub.add_parser("worker", help="run one worker (all stages + web) against CITYOPS_KAFKA_URL/REDIS_URL")
    p.add_argument("--loglevel", default="info", choices=["crit", "error", "warn", "info", "debug"])
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("demo", help="up + replay real sample feeds + a live summary in the terminal")
    _common(p)
    p.add_argument("--complaints", type=int, default=400, help="reports to replay (latest, in time order)")
    p.add_argument("--rate", type=float, default=25.0, help="complaints per second")
    p.add_argument("--duration", type=float, default=0.0,
                   help="seconds to keep showing the summary after the feed, then stop (0 = until Ctrl-C)")
    p.add_argument("--data", "--history", dest="data", default=None,
                   help="history file in the city's format (default: the city's own, history.yaml)")
    p.add_argument("--photos", default=str(SHARED.parent / "street-garbage-photos"),
                   help="folder of street photos replayed as the city's cameras")
    p.add_argument("--camera-seconds", type=float, default=240.0, help="how long to replay cameras (0 = none)")
    p.add_argument("--camera-rate", type=float, default=2.0, help="camera frames per second, all cameras")
    p.set_defaults(func=cmd_demo)

