"""Every view in Redis comes back from the log after a FLUSHALL, equal to what it was."""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from typing import Any

import pytest
import redis as redis_sync

from schemas.codec import encode
from schemas.records import CaseCommand, FieldUpdate
from streams import redis_keys as keys

from .conftest import Stack
from .test_cases import NEVSKY, attached, observation, offset_meters
from .test_console_live import eventually
from .test_open311_live import CODE, SPEC_POST, call

pytestmark = pytest.mark.integration

# Not views of the log: locks and markers, what the inputs' ids were first seen with, rate limits, and
# what is kept for a while only (camera evidence, the cameras' latest frames).
# Crews' photos are kept for a while like camera evidence; reviewed frames (not their examples) are kept until
# exported (the verdict itself is a command on the log).
_NOT_VIEWS = ("cityops:cases:index-", "cityops:seen-input:", "cityops:evidence:", "cityops:camera:",
              "cityops:ratelimit", "cityops:session", "cityops:field-photo:",
              "cityops:case-photos:", "cityops:review:frame:")


def views(client: redis_sync.Redis) -> dict[str, Any]:
    """Every view key with its content (JSON parsed, sets and lists as sorted lists)."""
    out: dict[str, Any] = {}
    for raw_key in client.scan_iter("cityops:*", count=1000):
        key = raw_key.decode()
        if key.startswith(_NOT_VIEWS):
            continue
        kind = client.type(raw_key).decode()
        if kind == "string":
            value = client.get(raw_key) or b""
            out[key] = json.loads(value) if value[:1] in (b"{", b"[") else value.decode()
            if key.startswith("cityops:open311:request:"):
                out[key].pop("case_id", None)  # remembered at the first GET, whether before or after a rebuild
        elif kind == "hash":
            out[key] = {k.decode(): json.loads(v) for k, v in client.hgetall(raw_key).items()}
        elif kind == "zset":
            out[key] = sorted((m.decode(), round(s, 3)) for m, s in client.zrange(raw_key, 0, -1, withscores=True))
        elif kind == "list":
            out[key] = sorted(x.decode() for x in client.lrange(raw_key, 0, -1))
    return out


def settled(stack: Stack, quiet_s: float = 4.0, timeout_s: float = 90.0) -> dict[str, Any]:
    """The views once they stopped changing for ``quiet_s`` (the projections have caught up)."""
    deadline = time.monotonic() + timeout_s
    last, since = views(stack.redis), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(1.0)
        now = views(stack.redis)
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            return now
    raise AssertionError("the views never settled")


def _open311_request(stack: Stack) -> str:
    """A request from a third-party app, followed until its case is known; returns its id."""
    status, body = call(stack, "/open311/v2/requests.json", SPEC_POST.format(code=CODE))
    assert status == 200, body
    request_id = body[0]["service_request_id"]

    def joined() -> dict[str, Any] | None:
        call(stack, f"/open311/v2/requests/{request_id}.json")
        raw = stack.redis.get(keys.open311_request(request_id))
        return json.loads(raw) if raw and b'"case_id"' in raw else None

    eventually(joined, 120, "the Open311 request to join its case")
    return str(request_id)


def test_a_flushed_redis_gets_every_view_back_from_the_log(stack: Stack) -> None:
    request_id = _open311_request(stack)
    lat, lon = offset_meters(*NEVSKY, 2500)
    tag = uuid.uuid4().hex[:6]
    obs = [observation(i, *offset_meters(lat, lon, 120 * i), kind="street_vending", tag=tag) for i in range(3)]
    since = {t: stack.offsets(t) for t in ("case-events", "dispatch-tasks")}
    stack.send_many("observations", [(o.observation_id, encode(o)) for o in obs])
    cases = attached(stack, {o.observation_id for o in obs}, since["case-events"])
    tasks = stack.read_json("dispatch-tasks", lambda d: d["case_id"] in {c for s in cases.values() for c in s},
                            3, since=since["dispatch-tasks"])
    updates = []
    for task, action in zip(tasks, ("acknowledge", "resolve", "reject"), strict=True):
        u = FieldUpdate(update_id=uuid.uuid4().hex, case_id=task["case_id"], task_id=task["task_id"], action=action,
                        at=time.time(), department=task["department"], crew_id="crew-9", note=f"{action}d")
        updates.append((u.case_id, encode(u)))
    stack.send_many("field-updates", updates)
    stack.read_json("case-events", lambda d: d["case_id"] in {t["case_id"] for t in tasks}
                    and d["type"] in ("acknowledged", "resolved", "rejected"), 3, since=since["case-events"])
    # An operator dismisses a camera detection: its labelled example is a view of the verdict's event.
    frame = dataclasses.replace(observation(9, *offset_meters(lat, lon, 900), "camera", kind="illegal_ads", tag=tag,
                                            camera="cam-nevsky-gostiny"), bbox=[0.2, 0.1, 0.5, 0.4])
    frame = dataclasses.replace(frame, evidence=frame.observation_id)
    since_frame = stack.offsets("case-events")
    stack.send("observations", frame.observation_id, encode(frame))
    (camera_case,) = attached(stack, {frame.observation_id}, since_frame)[frame.observation_id]
    review = CaseCommand(command_id=f"review:{tag}", case_id=camera_case, type="review", at=time.time(),
                         verdict="false_positive", by="operator:it")
    stack.send("case-commands", camera_case, encode(review))
    stack.read_json("case-events", lambda d: d["case_id"] == camera_case and d["type"] == "closed", 1,
                    since=since_frame)
    before = settled(stack)
    assert any(k.startswith("cityops:tasks:") for k in before) and keys.ANALYTICS_FACTS in before
    assert before[keys.ALERTS_RECENT]
    assert any(k.startswith(keys.ALERTS_RECENT + ":") for k in before)  # a department's own alert list
    stack.redis.flushall()
    deadline = time.monotonic() + 120
    while not stack.redis.exists(keys.CASE_INDEX_READY):  # the views timer notices within seconds
        assert time.monotonic() < deadline, "no worker rebuilt the views"
        time.sleep(0.5)
    after = settled(stack)
    missing = sorted(set(before) - set(after))
    assert not missing, f"views not rebuilt: {missing[:10]}"
    example = after[keys.REVIEW_EXAMPLES][camera_case]
    assert (example["verdict"], example["observation_id"], example["bbox"], example["by"]) == (
        "false_positive", frame.observation_id, [0.2, 0.1, 0.5, 0.4], "operator:it")
    differ = sorted(k for k in before if before[k] != after[k])
    assert not differ, f"views rebuilt differently: {differ[:5]}: {before[differ[0]]!r} != {after[differ[0]]!r}"
    status, (view,) = call(stack, f"/open311/v2/requests/{request_id}.json")  # a third-party app still finds it
    assert status == 200 and view["service_request_id"] == request_id and view["status"] in ("open", "closed")
