"""The console on the real stack (Tansu, valkey, a worker): headless Chromium sees a live alert arrive and
the case appear on the map; the API keeps departments out of each other's cases and boards.

The worker reads tokens from ``tokens.yaml`` in its data directory (re-read on change), which these
tests write. The browser test needs Debian's ``chromium``; it is skipped, saying so, only without it.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

from schemas.codec import encode
from schemas.records import HotlineEvent
from streams.web.access import token_entry

from .conftest import Stack

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
OPERATOR = "it-operator-" + uuid.uuid4().hex


def write_tokens(stack: Stack, **departments: str) -> dict[str, str]:
    """Tokens for an operator and one department token per keyword; returns name -> token."""
    tokens = {"operator": OPERATOR, **{name: f"it-{name}-{uuid.uuid4().hex}" for name in departments}}
    entries = [token_entry(OPERATOR, "it-operator", "operator")]
    entries += [token_entry(tokens[name], name, "department", dept) for name, dept in departments.items()]
    path = stack.embedded.run_dir / "data" / "tokens.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump({"tokens": entries}), encoding="utf-8")
    tmp.replace(path)
    return tokens


def http(stack: Stack, path: str, token: str | None = None, method: str = "GET", body: Any = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(stack.web_url + path, data=data, method=method)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=15) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def eventually(check: Callable[[], Any], timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}")


def case_of(stack: Stack, obs_key: str) -> str:
    """The case an observation joined ('' until the case stage has placed it)."""
    raw: Any = stack.redis.get(obs_key)
    return bytes(raw or b"").decode().split("|", 1)[0]


def complaint(text: str, lat: float, lon: float) -> HotlineEvent:
    return HotlineEvent(event_id=f"it-console-{uuid.uuid4().hex[:10]}", channel="phone",
                        received_at=time.time(), text=text, lat=lat, lon=lon)


@pytest.fixture(scope="module")
def console(stack: Stack) -> Stack:
    status, _ = http(stack, "/api/session")
    if status == 404:
        pytest.fail("the worker does not serve the console API: streams.web.* modules are missing from WEB_MODULES")
    return stack


def dispatched_case(stack: Stack, event: HotlineEvent, token: str, timeout_s: float = 120.0) -> dict[str, Any]:
    """Send a complaint and wait until its case is dispatched to a department (or triaged)."""
    stack.send("hotline-events", event.event_id, encode(event))
    obs_key = f"cityops:obs:hotline:{event.event_id}"

    def case() -> dict[str, Any] | None:
        case_id = case_of(stack, obs_key)
        if not case_id:
            return None
        status, doc = http(stack, f"/api/cases/{case_id}", token)
        return doc if status == 200 and doc["status"] in ("dispatched", "triage") else None

    return eventually(case, timeout_s, f"the case of {event.event_id} to be dispatched")


def test_department_cannot_read_another_departments_case_or_board(console: Stack) -> None:
    tokens = write_tokens(console)
    event = complaint("Во дворе дома 12 на Садовой улице не вывозят мусор, контейнеры переполнены.", 59.9262, 30.3181)
    doc = dispatched_case(console, event, tokens["operator"])
    if doc["status"] != "dispatched":
        pytest.skip("the router sent this complaint to triage; no department owns it")
    own = doc["department"]
    other = next(d for d in ("org.spb_gku_zha_nevskogo_rayona", "org.spb_gku_zha_tsentralnogo_rayona") if d != own)
    tokens = write_tokens(console, owner=own, stranger=other)
    case_path = f"/api/cases/{doc['case_id']}"
    assert http(console, case_path, tokens["owner"])[0] == 200
    assert http(console, case_path, tokens["stranger"]) == (404, {"error": f"no case {doc['case_id']}"})
    listed = http(console, "/api/cases?limit=2000", tokens["stranger"])[1]["cases"]
    assert doc["case_id"] not in {c["case_id"] for c in listed}
    assert all(c["department"] == other for c in listed)

    task_id = f"{doc['case_id']}/1"
    board = eventually(lambda: [t for t in http(console, "/api/tasks", tokens["owner"])[1]["tasks"]
                                if t["task_id"] == task_id], 60, "the task on its department's board")
    assert board[0]["status"] == "open"
    assert http(console, f"/api/tasks?department={own}", tokens["stranger"])[0] == 403
    assert http(console, f"/api/tasks/{task_id}/ack", tokens["stranger"], "POST", {})[0] == 404
    status, body = http(console, f"/api/tasks/{task_id}/ack", tokens["owner"], "POST", {})
    assert status == 202 and body["status"] == "acknowledged"
    eventually(lambda: any(t["task_id"] == task_id and t["status"] == "acknowledged"
                           for t in http(console, "/api/tasks", tokens["owner"])[1]["tasks"]), 60,
               "the acknowledgement on the board")


def test_console_shows_a_live_alert_and_the_case_on_the_map(console: Stack) -> None:
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"Chromium is not installed ({CHROMIUM}); apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    tokens = write_tokens(console)
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("requestfailed", lambda req: errors.append(f"failed: {req.url}")
                    if not req.url.startswith(console.web_url) else None)
            page.goto(console.web_url + "/console/")
            page.fill("#token", tokens["operator"])
            page.click("#login-form button[type=submit]")
            page.wait_for_selector("body[data-ready=true]", timeout=30_000)
            assert page.locator("#map path.district").count() == 18  # district outlines drawn from the config
            page.wait_for_selector("#live.on", timeout=15_000)
            time.sleep(2.0)  # past the replay burst: what arrives now is live

            event = complaint("На Невском проспекте у дома 30 уличная торговля с лотка, мусор на тротуаре.",
                              59.9358, 30.3275)
            # Playwright's sync API runs an event loop in this thread; the producer needs its own.
            with ThreadPoolExecutor(1) as pool:
                pool.submit(console.send, "hotline-events", event.event_id, encode(event)).result(60)
            obs_key = f"cityops:obs:hotline:{event.event_id}"
            case_id = eventually(lambda: case_of(console, obs_key), 120, "the complaint's case")
            alert = page.wait_for_selector(f'#alerts li.new[data-case-id="{case_id}"]', timeout=120_000)
            assert alert is not None
            # The live alert put the case on the map (a marker, or inside a cluster until zoomed in).
            eventually(lambda: page.evaluate("document.querySelectorAll('.leaflet-marker-icon').length") > 0, 30,
                       "the case on the map")
            alert.click()
            panel = page.wait_for_selector(f'#case-panel[data-case-id="{case_id}"]', timeout=15_000)
            status = panel.get_attribute("data-status")
            assert status in ("dispatched", "triage", "new") and "Timeline" in panel.inner_text()
            shot = ARTIFACTS / "console-live.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
            page.click("#case-panel button.close")

            page.click('#tabs button[data-view="triage"]')
            page.wait_for_selector("#triage-list .triage-card, #triage-list p.muted")
            page.click('#tabs button[data-view="reports"]')
            page.wait_for_selector("#report-districts tbody tr", timeout=30_000)
            eventually(lambda: page.eval_on_selector("#report-heatmap", "img => img.complete && img.naturalWidth"),
                       30, "the heat map picture")
            page.screenshot(path=str(ARTIFACTS / "console-reports.png"), full_page=True)
            department = http(console, f"/api/cases/{case_id}", tokens["operator"])[1]["department"]
            page.click('#tabs button[data-view="tasks"]')
            if status == "dispatched":
                page.select_option("#board-department", department)
                page.wait_for_selector(f'#board .task[data-task-id="{case_id}/1"]', timeout=30_000)
            assert not errors, errors
        finally:
            browser.close()
