"""The workbench in headless Chromium on the real stack, as an operator, a department and a field crew,
at desktop and phone widths: every view is screenshotted, no page error, console error or failed request.

What it proves end to end: the triage card preselects the model's first suggestion; a crew's resolve with a
photo shows that photo in the case; a camera case dismissed as a false positive is closed with reason
``false_positive`` and its frame is kept as a labelled example. Cases are seeded as observations (the
intake stages' output) so their route is known: one for the department, one for triage, one from a camera.
Screenshots go to ``artifacts/workbench/`` (the path is printed).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from schemas.codec import encode
from schemas.records import Observation
from streams import redis_keys as keys
from streams.web.access import token_entry

from .conftest import Stack
from .test_console_live import ARTIFACTS, CHROMIUM, CHROMIUM_FLAGS, eventually, http

SHOTS = ARTIFACTS / "workbench"
DEPT = "org.spb_gku_zha_nevskogo_rayona"
DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
PHOTOS = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "street-garbage-photos"
RUN = uuid.uuid4().hex[:8]


def jpeg(seed: int, text: str) -> bytes:
    """A real street photo when the shared set is there, else a drawn picture (both JPEG)."""
    photos = sorted(PHOTOS.glob("*.jpg")) if PHOTOS.exists() else []
    if photos:
        image = cv2.imread(str(photos[seed % len(photos)]))
        image = cv2.resize(image, (640, int(640 * image.shape[0] / image.shape[1])))
    else:
        image = np.full((360, 640, 3), (60 + seed * 40) % 255, np.uint8)
    cv2.putText(image, text, (20, 40), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (255, 255, 255), 2)
    return bytes(cv2.imencode(".jpg", image)[1])


def observation(name: str, **fields: Any) -> Observation:
    now = time.time()
    base: dict[str, Any] = dict(
        observation_id=f"wb-{RUN}-{name}", source="hotline", source_id=f"{RUN}-{name}",
        observed_at=now - 3600, ingested_at=now, kind="garbage", category="c.sanitarnoe_sostoyanie",
        lat=59.9305, lon=30.4010, district="nevskiy", confidence=0.9, location_precision="address",
    )
    base.update(fields)
    return Observation(**base)


@pytest.fixture(scope="module")
def seeded(stack: Stack) -> Iterator[dict[str, Any]]:
    """Tokens for the three roles and three cases: the department's, a triaged one, a camera one."""
    tokens = {role: f"wb-{role}-{uuid.uuid4().hex}" for role in ("operator", "department", "crew")}
    entries = [token_entry(tokens["operator"], "wb-operator", "operator"),
               token_entry(tokens["department"], "wb-dispatcher", "department", DEPT),
               token_entry(tokens["crew"], "wb-crew", "field_crew", DEPT, "crew-12")]
    path = stack.embedded.run_dir / "data" / "tokens.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(__import__("yaml").safe_dump({"tokens": entries}), encoding="utf-8")
    frame_id = f"camera:cam-nevsky-gostiny:wb-{RUN}"
    stack.redis.set(keys.evidence(frame_id), jpeg(3, "cam-nevsky-gostiny"))
    observations = {
        "task": observation("task", text="Переполнены мусорные контейнеры во дворе, мешки лежат на газоне.",
                            address="пр. Большевиков, 7", department=DEPT, route_confidence=0.93,
                            route_source="model", observed_at=time.time() - 30 * 3600),  # past its 24 h SLA
        "reject": observation("reject", text="Незаконная торговля с рук у выхода из метро, лотки на тротуаре.",
                              address="пр. Большевиков, 3", department=DEPT, route_confidence=0.91,
                              route_source="model", lat=59.9320, lon=30.4050),
        "triage": observation("triage", text="Во дворе разбита детская площадка и валяется строительный мусор.",
                              lat=59.9420, lon=30.3650, district="tsentralnyy", address="ул. Жуковского, 12",
                              department="triage", route_confidence=0.41, route_source="triage"),
        "camera": observation("camera", source="camera", observation_id=frame_id, source_id="wb-frame",
                              kind="illegal_ads", category="cantilever", lat=59.93434, lon=30.33519,
                              district="tsentralnyy", confidence=0.78, location_precision="camera",
                              camera_id="cam-nevsky-gostiny", evidence=frame_id, bbox=[0.2, 0.1, 0.5, 0.4]),
    }
    for obs in observations.values():
        stack.send("observations", str(obs.observation_id), encode(obs))
    cases = {}
    for name, obs in observations.items():
        obs_key = keys.observation_case(str(obs.observation_id))
        cases[name] = eventually(lambda k=obs_key: bytes(stack.redis.get(k) or b"").decode().split("|")[0], 120,
                                 f"the {name} case")
    for name, case_id in cases.items():
        want = {"task": ("dispatched",), "reject": ("dispatched",), "triage": ("triage",),
                "camera": ("dispatched", "triage")}[name]
        eventually(lambda c=case_id, w=want: http(stack, f"/api/cases/{c}", tokens["operator"])[1].get("status") in w,
                   120, f"the {name} case routed")
    yield {"tokens": tokens, "cases": cases, "stack": stack}


def test_task_and_triage_apis_carry_what_the_views_need(seeded: dict[str, Any]) -> None:
    stack, tokens, cases = seeded["stack"], seeded["tokens"], seeded["cases"]
    board = eventually(lambda: [t for t in http(stack, "/api/tasks", tokens["department"])[1]["tasks"]
                                if t["case_id"] == cases["task"]], 60, "the task on the board")
    assert board[0]["summary"].startswith("Переполнены") and board[0]["address"] == "пр. Большевиков, 7"
    triage = http(stack, "/api/triage", tokens["operator"])[1]["cases"]
    mine = next(c for c in triage if c["case_id"] == cases["triage"])
    assert len(mine["suggestions"]) >= 2 and mine["address"] == "ул. Жуковского, 12"
    assert all({"department", "name", "confidence"} <= set(s) for s in mine["suggestions"])
    confidences = [s["confidence"] for s in mine["suggestions"]]
    assert confidences == sorted(confidences, reverse=True) and 0 < confidences[0] <= 1


class Browser:
    """One Chromium for the module; a fresh signed-in context per role and viewport, errors collected."""

    def __init__(self, pw: Any, url: str) -> None:
        self.browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        self.url = url
        self.errors: list[str] = []

    def _failed(self, request: Any) -> None:
        # Leaving the page ends the live alert stream: an abort by design, not a failure.
        if not (request.url.endswith("/api/alerts/stream") and "ERR_ABORTED" in (request.failure or "")):
            self.errors.append(f"failed: {request.url} ({request.failure})")

    def page(self, token: str, viewport: dict[str, int]) -> Any:
        context = self.browser.new_context(viewport=viewport)
        assert context.request.post(self.url + "/api/session", data={"token": token}).ok
        page = context.new_page()
        page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))
        page.on("console", lambda msg: self.errors.append(f"console {msg.type}: {msg.text}")
                if msg.type == "error" else None)
        page.on("response", lambda r: self.errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
        page.on("requestfailed", self._failed)
        page.goto(self.url + "/console/")
        try:
            page.wait_for_selector("body[data-ready=true]", timeout=30_000)
        except Exception as exc:
            problem = page.inner_text("#login-error")
            raise AssertionError(f"the console did not start: {problem!r} {self.errors}") from exc
        return page


def shot(page: Any, name: str) -> None:
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    assert path.stat().st_size > 5_000


@pytest.fixture(scope="module")
def browser(seeded: dict[str, Any]) -> Iterator[Browser]:
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"Chromium is not installed ({CHROMIUM}); apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    print(f"\nworkbench screenshots: {SHOTS}")
    with sync_playwright() as pw:
        b = Browser(pw, seeded["stack"].web_url)
        try:
            yield b
        finally:
            b.browser.close()


def test_operator_triages_with_the_suggestion_preselected_and_dismisses_a_false_positive(
    seeded: dict[str, Any], browser: Browser
) -> None:
    stack, tokens, cases = seeded["stack"], seeded["tokens"], seeded["cases"]
    page = browser.page(tokens["operator"], DESKTOP)
    page.wait_for_selector(".leaflet-tooltip.district-label")
    page.wait_for_selector(".leaflet-marker-icon.case-dot, .leaflet-marker-icon.case-cluster")
    assert page.locator("path.district").count() == 18
    page.wait_for_selector("#map path.heat", state="attached", timeout=15_000)
    # The heat layer follows the filters: only triaged cases' cells once the status filter says so.
    page.select_option("#f-status", "triage")
    want = len(http(stack, "/api/map/heat?status=triage", tokens["operator"])[1]["cells"])
    eventually(lambda: page.locator("#map path.heat").count() == want, 15, "the heat of triaged cases only")
    page.select_option("#f-status", "")
    shot(page, "operator-map-desktop")
    # A case marker opens its case (a cluster, clicked, zooms in until its cases stand apart).
    for _ in range(4):
        if page.locator(".leaflet-marker-icon.case-dot").count():
            break
        page.locator(".leaflet-marker-icon.case-cluster").first.dispatch_event("click")
        page.wait_for_timeout(600)
    # Dispatched to the marker itself: other tests' cases may sit right beside it in the shared stack.
    page.locator(".leaflet-marker-icon.case-dot").first.dispatch_event("click")
    page.wait_for_selector("#case-panel:not([hidden]) .panel-head")
    page.click("#case-panel button.close")
    # Zoomed out to the whole city, district names keep their size and none covers another.
    for _ in range(3):
        page.click(".leaflet-control-zoom-out")
        page.wait_for_timeout(500)  # past the zoom animation
    overlaps = page.evaluate("""() => {
        const boxes = [...document.querySelectorAll('.leaflet-tooltip.district-label')]
          .filter((n) => getComputedStyle(n).visibility !== 'hidden').map((n) => n.getBoundingClientRect());
        let clashes = 0;
        boxes.forEach((a, i) => boxes.slice(i + 1).forEach((b) => {
          if (a.left < b.right && a.right > b.left && a.top < b.bottom && a.bottom > b.top) clashes += 1;
        }));
        return [clashes, boxes.length, new Set(boxes.map((b) => Math.round(b.height))).size];
    }""")
    assert overlaps[0] == 0 and overlaps[1] >= 2 and overlaps[2] == 1, overlaps  # one label height at any zoom
    shot(page, "operator-map-city-desktop")

    page.click('#tabs button[data-view="triage"]')
    card = page.wait_for_selector(f'.triage-card[data-case-id="{cases["triage"]}"]')
    suggestions = http(stack, "/api/triage", tokens["operator"])[1]["cases"]
    first = next(c for c in suggestions if c["case_id"] == cases["triage"])["suggestions"][0]
    checked = card.query_selector("input[type=radio]:checked")
    assert checked is not None and checked.get_attribute("value") == first["department"]
    assert "ул. Жуковского, 12" in card.inner_text()
    shot(page, "operator-triage-desktop")

    page.click('#tabs button[data-view="review"]')
    page.select_option("#review-camera", "cam-sennaya")
    page.wait_for_selector("#review-queue p.muted")  # nothing from that camera
    page.select_option("#review-camera", "cam-nevsky-gostiny")
    review = page.wait_for_selector(f'.review-card[data-case-id="{cases["camera"]}"]')
    shot(page, "operator-camera-review-desktop")
    review.query_selector(".act-dismiss").click()
    closed = eventually(lambda: (d := http(stack, f"/api/cases/{cases['camera']}", tokens["operator"])[1])
                        .get("status") == "closed" and d, 60, "the dismissed case to close")
    assert closed["close_reason"] == "false_positive"
    assert any(t["type"] == "closed" and t["detail"].get("why") == "false_positive" for t in closed["timeline"])
    examples = http(stack, "/api/review/examples", tokens["operator"])[1]["examples"]
    kept = next(e for e in examples if e["case_id"] == cases["camera"])
    assert kept["verdict"] == "false_positive" and kept["bbox"] == [0.2, 0.1, 0.5, 0.4] and kept["frame_kept"]
    page.wait_for_selector(f'#review-examples tr.false_positive[data-case-id="{cases["camera"]}"]', timeout=15_000)
    shot(page, "operator-review-examples-desktop")
    page.click(f'#review-examples tr[data-case-id="{cases["camera"]}"]')
    panel = page.wait_for_selector(f'#case-panel[data-case-id="{cases["camera"]}"][data-status="closed"]')
    assert "false positive" in panel.inner_text().lower() and "Невский пр. / Гостиный двор" in panel.inner_text()
    assert page.eval_on_selector("#case-panel img.frame", "img => img.complete && img.naturalWidth") > 0
    shot(page, "operator-case-desktop")

    phone = browser.page(tokens["operator"], PHONE)
    shot(phone, "operator-map-phone")
    phone.click('#tabs button[data-view="triage"]')
    phone.wait_for_selector(f'.triage-card[data-case-id="{cases["triage"]}"]')
    shot(phone, "operator-triage-phone")
    phone.goto(stack.web_url + "/console/health.html?group=district&id=nevskiy")
    phone.wait_for_selector("body[data-ready=true]")
    page.goto(stack.web_url + "/console/health.html?group=district&id=nevskiy")
    page.wait_for_selector("body[data-ready=true]")
    assert page.locator("#health-cards .card").count() == 8 and page.locator("svg.trend rect").count() > 0
    shot(page, "district-health-report")
    assert not browser.errors, browser.errors


def test_department_and_crew_work_the_board_and_the_resolve_photo_shows_in_the_case(
    seeded: dict[str, Any], browser: Browser
) -> None:
    stack, tokens, cases = seeded["stack"], seeded["tokens"], seeded["cases"]
    task_id = f"{cases['task']}/1"
    desk = browser.page(tokens["department"], DESKTOP)
    card = desk.wait_for_selector(f'#board .task[data-task-id="{task_id}"]')
    assert "пр. Большевиков, 7" in card.inner_text() and "Переполнены" in card.inner_text()
    desk.wait_for_selector(f'#board .task[data-task-id="{cases["reject"]}/1"]')
    order = desk.eval_on_selector_all("#board .cards-list > .task", "cards => cards.map((c) => c.dataset.taskId)")
    assert order.index(task_id) < order.index(f"{cases['reject']}/1")  # overdue first
    assert "overdue" in (card.get_attribute("class") or "") and "overdue by" in card.inner_text()
    shot(desk, "department-board-desktop")
    card.click()
    desk.wait_for_selector(f'#case-panel[data-case-id="{cases["task"]}"] .act-reject')
    shot(desk, "department-case-desktop")
    # The report shows when the citizen reported it (30 h ago), not when it reached the case.
    reported = datetime.fromisoformat(desk.get_attribute("#case-panel .obs time.reported-at", "datetime") or "")
    assert 29.9 * 3600 < time.time() - reported.timestamp() < 30.2 * 3600

    # Not ours: the department picks the right one by name, and the case leaves its board and its map.
    desk.click("#case-panel button.close")
    desk.click(f'#board .task[data-task-id="{cases["reject"]}/1"]')
    desk.wait_for_selector(f'#case-panel[data-case-id="{cases["reject"]}"] .act-reject').click()
    desk.fill("dialog.modal input.dept-search", "Центрального района")
    other = desk.eval_on_selector("dialog.modal select.dept-select", "s => s.value")
    assert other and other != DEPT
    desk.fill("dialog.modal textarea", "Торговля не наша: это территория района.")
    shot(desk, "department-reject-dialog-desktop")
    desk.click("dialog.modal button.ok")
    eventually(lambda: http(stack, f"/api/cases/{cases['reject']}", tokens["operator"])[1].get("department") == other,
               60, "the rejected case re-routed to the department picked by name")
    desk.wait_for_selector(f'#board .task[data-task-id="{cases["reject"]}/1"][data-status="rejected"]',
                           state="attached", timeout=30_000)
    shot(desk, "department-after-reject-desktop")
    assert desk.locator("#case-panel").is_hidden(), desk.inner_text("#case-panel")
    assert http(stack, f"/api/cases/{cases['reject']}", tokens["department"])[0] == 404
    desk.click('#tabs button[data-view="reports"]')
    desk.wait_for_selector("#report-departments tbody tr a.health-link", timeout=30_000)
    shot(desk, "department-reports-desktop")

    crew = browser.page(tokens["crew"], PHONE)
    crew_card = crew.wait_for_selector(f'#board .task[data-task-id="{task_id}"]')
    shot(crew, "crew-board-phone")
    crew_card.click()
    crew.wait_for_selector(f'#case-panel[data-case-id="{cases["task"]}"] .act-resolve').click()
    crew.fill("dialog.modal textarea", "Контейнеры вывезены, газон убран.")
    crew.set_input_files("dialog.modal input[type=file]", files=[
        {"name": "fixed.jpg", "mimeType": "image/jpeg", "buffer": jpeg(7, "fixed")}])
    shot(crew, "crew-resolve-dialog-phone")
    crew.click("dialog.modal button.ok")
    photo = crew.wait_for_selector(f'#case-panel[data-case-id="{cases["task"]}"] figure.crew-photo img',
                                   timeout=60_000)
    eventually(lambda: crew.eval_on_selector("figure.crew-photo img", "i => i.complete && i.naturalWidth"), 15,
               "the crew's photo to load")
    assert photo is not None
    crew.wait_for_selector(f'#case-panel[data-case-id="{cases["task"]}"][data-status="resolved"]', timeout=30_000)
    shot(crew, "crew-case-resolved-phone")
    detail = http(stack, f"/api/cases/{cases['task']}", tokens["department"])[1]
    assert detail["field_photos"][0]["action"] == "resolve" and detail["field_photos"][0]["crew_id"] == "crew-12"
    assert not browser.errors, browser.errors
