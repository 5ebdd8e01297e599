"""``cityops up`` starts broker, Redis and a worker; Ctrl-C (or even SIGKILL of it) leaves no process behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from streams.embedded import free_port


def _children_of(root: int) -> set[int]:
    """Every live descendant of ``root`` (walks /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                parents[int(entry.name)] = int(fields[1])
            except (OSError, IndexError, ValueError):
                continue
    found: set[int] = set()
    frontier = {root}
    while frontier:
        frontier = {pid for pid, ppid in parents.items() if ppid in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _start_up(tmp_path: Path) -> tuple[subprocess.Popen[str], list[str]]:
    env = {**os.environ, "CITYOPS_DATA_DIR": str(tmp_path), "PYTHONUNBUFFERED": "1"}
    env.pop("CITYOPS_KAFKA_URL", None)
    env.pop("CITYOPS_REDIS_URL", None)
    proc = subprocess.Popen([sys.executable, "-m", "streams.cli", "up", "--web-port", str(free_port())],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    lines: list[str] = []
    deadline = time.monotonic() + 240
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "Ctrl-C stops everything" in line:
            return proc, lines
    proc.kill()
    pytest.fail("cityops up did not become ready:\n" + "".join(lines[-40:]))


def _wait_gone(pids: set[int], timeout_s: float) -> set[int]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        left = {p for p in pids if _alive(p)}
        if not left:
            return set()
        time.sleep(0.2)
    return {p for p in pids if _alive(p)}


def test_up_then_ctrl_c_leaves_nothing_behind(tmp_path: Path) -> None:
    proc, lines = _start_up(tmp_path)
    text = "".join(lines)
    assert "broker    kafka://127.0.0.1:" in text and "/console/" in text and "/metrics" in text
    children = _children_of(proc.pid)
    names = {Path(f"/proc/{p}/exe").resolve().name for p in children if _alive(p)}
    assert any(n.startswith("tansu") for n in names) and "valkey-server" in names, names
    proc.send_signal(signal.SIGINT)
    assert proc.wait(60) == 0
    assert _wait_gone(children, 15) == set()


def test_supervisor_killed_outright_takes_its_children_with_it(tmp_path: Path) -> None:
    proc, _ = _start_up(tmp_path)
    children = _children_of(proc.pid)
    assert children
    proc.kill()  # SIGKILL: no handler runs; PR_SET_PDEATHSIG makes each child stop anyway
    proc.wait(10)
    assert _wait_gone(children, 30) == set()
