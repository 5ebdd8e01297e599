"""The README's token flow on a clean data directory (``cityops token new``, ``cityops up``, sign in) with the
worker on loopback only; and, in a real browser, the console's writes pass the CSRF check while the finding's
attack (a form on another port of the same host) is refused."""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import re
import signal
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import Stack
from .test_console_live import CHROMIUM, CHROMIUM_FLAGS, write_tokens
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


ATTACK_PAGE = """<!doctype html><form method="post" action="{target}" enctype="text/plain">
<input name='{{"note":"' value='pwned"}}'></form><script>document.forms[0].submit()</script>"""


@contextlib.contextmanager
def attacker_site(page_html: str) -> Iterator[str]:
    """A page served from another port of the same host: the same *site* as the console, another *origin*."""
    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(page_html.encode())

        def log_message(self, *_: object) -> None:
            return None

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()


def test_browser_console_writes_and_same_site_forgery_is_refused(stack: Stack) -> None:
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"Chromium is not installed ({CHROMIUM}); apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    tokens = write_tokens(stack, crew="org.spb_gku_zha_nevskogo_rayona")
    target = stack.web_url + "/api/tasks/C-none/1/start"
    with sync_playwright() as pw, attacker_site(ATTACK_PAGE.format(target=target)) as attack_url:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        try:
            page = browser.new_page()
            page.goto(stack.web_url + "/console/")
            page.fill("#token", tokens["crew"])
            page.click("#login-form button[type=submit]")
            page.wait_for_selector("body[data-ready=true]", timeout=30_000)
            # The console's own write gets past the CSRF check (and finds no such task).
            message = page.evaluate("""async (path) => {
                const { api } = await import("/console/api.js");
                try { await api(path, { method: "POST", body: {} }); return "accepted"; }
                catch (err) { return err.message; } }""", "/api/tasks/C-none/1/start")
            assert message == "no task C-none/1 on your board"
            # The attack of the finding: a page on another port posts a form; the browser sends the cookie.
            page.goto(attack_url)
            page.wait_for_url(target, timeout=15_000)
            assert "cross-site request refused" in page.inner_text("body")
        finally:
            browser.close()
