"""Where the product finds its broker, Redis, city, web port and tokens: environment first, then defaults.

Read once, at first use (a worker reads them at start, :func:`current_settings`), never at import.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["REPO_ROOT", "Settings", "current_settings"]

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    kafka_url: str
    redis_url: str
    city: str
    web_host: str
    web_port: int
    data_dir: Path
    worker_id: str
    fetch_max_wait_ms: int | None = None
    web_bind: str = "127.0.0.1"
    replication: int = 1
    clock_skew_s: float = 300.0
    # One tokens file for ``cityops token`` and the workers (``cityops up`` hands it to them).
    tokens_file: Path = REPO_ROOT / ".cityops" / "tokens.yaml"
    producer_linger_ms: int | None = None

    @property
    def bootstrap_servers(self) -> str:
        """``host:port[,host:port]`` for aiokafka, from a ``kafka://`` URL."""
        return ",".join(part.removeprefix("kafka://") for part in self.kafka_url.split(";"))

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        data_dir = Path(env.get("CITYOPS_DATA_DIR", str(REPO_ROOT / ".cityops")))
        return cls(
            kafka_url=env.get("CITYOPS_KAFKA_URL", "kafka://127.0.0.1:9092"),
            redis_url=env.get("CITYOPS_REDIS_URL", "redis://127.0.0.1:6379/0"),
            city=env.get("CITYOPS_CITY", "spb"),
            web_host=env.get("CITYOPS_WEB_HOST", "127.0.0.1"),
            web_port=int(env.get("CITYOPS_WEB_PORT", "6066")),
            data_dir=data_dir,
            worker_id=env.get("CITYOPS_WORKER_ID", f"worker-{os.getpid()}"),
            # How long the broker may hold a fetch that found nothing (the embedded Tansu holds it all).
            fetch_max_wait_ms=int(env["CITYOPS_FETCH_MAX_WAIT_MS"]) if env.get("CITYOPS_FETCH_MAX_WAIT_MS") else None,
            # The interface the web server listens on: loopback unless asked (Kubernetes asks for 0.0.0.0).
            web_bind=env.get("CITYOPS_WEB_BIND") or "127.0.0.1",
            # Replicas of Faust's own topics: 1 on the embedded broker, 3 on a real cluster.
            replication=int(env.get("CITYOPS_REPLICATION", "1")),
            # How far in the future an input's own timestamp may be (clocks of phones and cameras drift).
            clock_skew_s=float(env.get("CITYOPS_CLOCK_SKEW_S", "300")),
            tokens_file=Path(env.get("CITYOPS_TOKENS_FILE") or data_dir / "tokens.yaml"),
            # How long a producer gathers records into one batch (the durable broker writes an object per batch).
            producer_linger_ms=(int(env["CITYOPS_PRODUCER_LINGER_MS"]) if env.get("CITYOPS_PRODUCER_LINGER_MS")
                                else None),
        )


_current: Settings | None = None


def current_settings() -> Settings:
    """This process's settings, read from the environment the first time they are asked for."""
    global _current
    if _current is None:
        _current = Settings.from_env()
    return _current


def __getattr__(name: str) -> Any:
    # ``from streams.settings import settings``: the process's settings, read at first use.
    if name == "settings":
        return current_settings()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
