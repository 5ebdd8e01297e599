"""The durable embedded mode: a stop and a start bring back every record, committed offset, case and task.

Real SeaweedFS, Tansu and valkey in a temporary folder. Tansu completes a
consumer-group join after ~30 s, so the ``cityops up --durable`` test waits for
two worker start-ups (about 3 minutes in all).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from streams.cli.chaos_checks import check_complaints_in_one_case
from streams.client import StackInfo, producer, read_topic, wait_ready
from streams.durable import expired
from streams.embedded import EmbeddedStack, free_port
from streams.log_reader import read_log
from streams.object_log import partitions, read_partition
from streams.replay import SPB_FILE, load_events, replay_events
from streams.topics import CASE_EVENTS, DEADLETTER, DISPATCH_TASKS, HEARTBEATS, HOTLINE_EVENTS, OBSERVATIONS

pytestmark = pytest.mark.integration

GROUP = "durable-test"


async def _produce(bootstrap: str, n: int) -> None:
    prod = await producer(bootstrap, linger_ms=20)
    try:
        for i in range(n):
            await prod.send(HOTLINE_EVENTS.name, key=f"k{i}".encode(), value=f"v{i}".encode(), partition=i % 2)
        await prod.flush()
    finally:
        await prod.stop()


async def _commit(bootstrap: str, offsets: dict[int, int]) -> None:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=GROUP, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = {TopicPartition(HOTLINE_EVENTS.name, p): OffsetAndMetadata(o, "") for p, o in offsets.items()}
        consumer.assign(list(tps))
        await consumer.commit(tps)
    finally:
        await consumer.stop()


async def _committed(bootstrap: str, partitions: list[int]) -> dict[int, int | None]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=GROUP, enable_auto_commit=False)
    await consumer.start()
    try:
        return {p: await consumer.committed(TopicPartition(HOTLINE_EVENTS.name, p)) for p in partitions}
    finally:
        await consumer.stop()


def test_records_and_committed_offsets_survive_a_sigterm_of_the_whole_stack(tmp_path: Path) -> None:
    data = tmp_path / "data"
    stack = EmbeddedStack(tmp_path / "run-1", durable_dir=data).start()
    try:
        asyncio.run(_produce(stack.bootstrap, 300))
        asyncio.run(_commit(stack.bootstrap, {0: 120, 1: 7}))
        names = [c.name for c in stack.children]
    finally:
        stack.stop()  # SIGTERM each, in order
    assert names == ["seaweedfs", "valkey", "tansu"]
    assert (data / "valkey").is_dir() and (data / "seaweedfs").is_dir()

    again = EmbeddedStack(tmp_path / "run-2", durable_dir=data).start()
    try:
        records = asyncio.run(read_topic(again.bootstrap, HOTLINE_EVENTS.name, until=lambda r: len(r) >= 300,
                                         timeout_s=60))
        assert sorted(r.value for r in records) == sorted(f"v{i}".encode() for i in range(300))
        assert asyncio.run(_committed(again.bootstrap, [0, 1])) == {0: 120, 1: 7}
        # The same log read from the S3 objects without the broker (cityops durable export).
        assert again.store is not None
        direct = [r for p in partitions(again.store, HOTLINE_EVENTS.name)
                  for r in read_partition(again.store, HOTLINE_EVENTS.name, p)]
        assert sorted(r.value for r in direct) == sorted(f"v{i}".encode() for i in range(300))
        assert {(r.partition, r.offset) for r in direct} == {(r.partition, r.offset) for r in records}
    finally:
        again.stop()


def test_batches_past_their_retention_are_deleted_and_fetches_resume_at_the_oldest_kept(tmp_path: Path) -> None:
    stack = EmbeddedStack(tmp_path / "run", durable_dir=tmp_path / "data").start()
    assert stack.store is not None

    async def go() -> tuple[int, bytes]:
        prod = await producer(stack.bootstrap, linger_ms=0)
        try:
            for n in range(5):  # five produce requests: five objects
                await prod.send_and_wait(HEARTBEATS.name, f"beat-{n}".encode(), partition=0)
        finally:
            await prod.stop()
        assert stack.store is not None
        # An hour later: every heartbeat batch but the newest is past its 10 minutes.
        gone = expired(stack.store.objects("clusters/"), time.time() + 3600)
        assert len([k for k in gone if "/heartbeats/partitions/0000000000/" in k]) == 4
        for key in gone:
            stack.store.delete(key)
        consumer = AIOKafkaConsumer(bootstrap_servers=stack.bootstrap, fetch_max_wait_ms=20)
        await consumer.start()
        try:
            tp = TopicPartition(HEARTBEATS.name, 0)
            consumer.assign([tp])
            consumer.seek(tp, 0)
            rec = await asyncio.wait_for(consumer.getone(tp), 30)
            return rec.offset, rec.value
        finally:
            await consumer.stop()

    try:
        assert asyncio.run(go()) == (4, b"beat-4")
    finally:
        stack.stop()


def _up(data_dir: Path, durable: Path) -> tuple[subprocess.Popen[str], list[str]]:
    env = {**os.environ, "CITYOPS_DATA_DIR": str(data_dir), "PYTHONUNBUFFERED": "1"}
    env.pop("CITYOPS_KAFKA_URL", None)
    env.pop("CITYOPS_REDIS_URL", None)
    proc = subprocess.Popen([sys.executable, "-m", "streams.cli", "up", "--durable", str(durable),
                             "--web-port", str(free_port())],
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
    pytest.fail("cityops up --durable did not become ready:\n" + "".join(lines[-40:]))


def _json(bootstrap: str, topic: str) -> list[dict]:
    """Every record of ``topic`` as JSON, to the fetches' high watermark."""
    out: list[dict] = []
    asyncio.run(read_log(bootstrap, topic, lambda rec: out.append(json.loads(rec.value))))
    return out


def _settled(info: StackInfo, event_ids: list[str], timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        check = check_complaints_in_one_case(event_ids, _json(info.bootstrap, OBSERVATIONS.name),
                                             _json(info.bootstrap, CASE_EVENTS.name),
                                             _json(info.bootstrap, DEADLETTER.name))
        if check.ok:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"complaints not settled: {check.summary}")
        time.sleep(3)


def _cases_and_tasks(info: StackInfo) -> tuple[set[str], set[str]]:
    events = _json(info.bootstrap, CASE_EVENTS.name)
    tasks = _json(info.bootstrap, DISPATCH_TASKS.name)
    return {e["case_id"] for e in events if e["type"] == "opened"}, {t["task_id"] for t in tasks}


def _worker_committed(bootstrap: str, records: int, timeout_s: float = 120) -> None:
    """Wait until the hotline stage's group ("cityops-hotline") committed ``records`` events: each was handled."""

    async def committed() -> int:
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id="cityops-hotline",
                                    enable_auto_commit=False)
        await consumer.start()
        try:
            parts = consumer.partitions_for_topic(HOTLINE_EVENTS.name)
            if not parts:
                await consumer._client.force_metadata_update()
                parts = consumer.partitions_for_topic(HOTLINE_EVENTS.name) or set()
            offsets = [await consumer.committed(TopicPartition(HOTLINE_EVENTS.name, p)) for p in parts]
            return sum(o or 0 for o in offsets)
        finally:
            await consumer.stop()

    deadline = time.monotonic() + timeout_s
    while (done := asyncio.run(committed())) < records:
        if time.monotonic() > deadline:
            pytest.fail(f"the workers committed {done} of {records} hotline events")
        time.sleep(2)


def _stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    return out


def test_up_durable_restarted_keeps_cases_and_tasks_and_a_replay_adds_none(tmp_path: Path) -> None:
    durable = tmp_path / "durable"
    events = load_events(SPB_FILE, 20, latest=True)
    # History shifted to "now", as the demo does: merge windows and SLA clocks then behave as live.
    shift = time.time() - events[-1].received_at
    events = [type(e)(**{**e.asdict(), "received_at": e.received_at + shift}) for e in events]
    event_ids = [e.event_id for e in events]

    proc, lines = _up(tmp_path, durable)
    try:
        assert any(line.startswith(f"data: DURABLE under {durable}") for line in lines), lines
        info = StackInfo.find(tmp_path / "stack.json")
        asyncio.run(replay_events(info.bootstrap, events, rate=0))
        _settled(info, event_ids)
        cases, tasks = _cases_and_tasks(info)
        assert cases, "the replay opened no case"
    finally:
        _stop(proc)

    proc, lines = _up(tmp_path, durable)
    try:
        info = StackInfo.find(tmp_path / "stack.json")
        assert _cases_and_tasks(info) == (cases, tasks)  # the log came back whole
        wait_ready(info.web_urls[0], 60)
        asyncio.run(replay_events(info.bootstrap, events, rate=0))
        _worker_committed(info.bootstrap, 2 * len(events))
        time.sleep(5)  # what the second replay made (if anything) reaches the topics
        assert _cases_and_tasks(info) == (cases, tasks)
    finally:
        _stop(proc)
