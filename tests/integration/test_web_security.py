"""The README's token flow on a clean data directory: ``cityops token new``, then ``cityops up``, then sign in;
and the worker ``cityops up`` starts listens on loopback only."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from .test_up import _start_up


def _listening_addresses(port: int) -> set[str]:
    """Local addresses (hex, as /proc/net/tcp writes them) of the IPv4 and IPv6 sockets listening on ``port``."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, _, hex_port = local.rpartition(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.add(address)
    return found


def test_token_new_then_up_then_sign_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CITYOPS_TOKENS_FILE", "CITYOPS_WEB_BIND", "CITYOPS_KAFKA_URL", "CITYOPS_REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    env = {**os.environ, "CITYOPS_DATA_DIR": str(tmp_path)}
    issued = subprocess.run([sys.executable, "-m", "streams.cli", "token", "new", "--name", "ops-centre",
                             "--role", "operator"], env=env, capture_output=True, text=True, check=True)
    token = issued.stdout.strip()
    proc, lines = _start_up(tmp_path)
    try:
        web_url = re.search(r"worker\s+(http://127\.0\.0\.1:\d+)", "".join(lines))
        assert web_url is not None, lines
        request = urllib.request.Request(web_url[1] + "/api/session", data=json.dumps({"token": token}).encode(),
                                         headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(request, timeout=15) as resp:
            assert resp.status == 200 and json.loads(resp.read())["role"] == "operator"
        port = int(web_url[1].rsplit(":", 1)[1])
        assert _listening_addresses(port) == {"0100007F"}  # 127.0.0.1 only, not 0.0.0.0 (00000000)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(60)
