"""The console's static files: served offline-only, nothing outside the whitelist, no external URLs."""

from __future__ import annotations

import re

from streams.web.console import STATIC_DIR, static_files
from tests.unit.streams.web.harness import WebHarness, api, web

__all__ = ["api", "web"]


def test_console_page_and_assets_are_served_with_a_strict_policy(api: WebHarness) -> None:
    page = api.call("GET", "/console/")
    assert page.status == 200 and page.headers["Content-Type"].startswith("text/html")
    csp = page.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp and "connect-src 'self'" in csp
    assert b'<script type="module" src="/console/console.js">' in page.body
    for name in ("console.js", "map.js", "api.js", "boards.js", "reports.js", "console.css"):
        asset = api.call("GET", f"/console/{name}")
        assert asset.status == 200 and asset.body == (STATIC_DIR / name).read_bytes()
    assert api.call("GET", "/console/console.js").headers["Content-Type"].startswith("text/javascript")
    redirect = api.call("GET", "/console", allow_redirects=False)
    assert redirect.status == 308 and redirect.headers["Location"] == "/console/"


def test_nothing_outside_the_console_folder_is_reachable(api: WebHarness) -> None:
    for path in ("/console/..%2F__init__.py", "/console/%2e%2e/auth.py", "/console/missing.js"):
        assert api.call("GET", path).status == 404
    assert set(static_files()) == {p.name for p in STATIC_DIR.iterdir()}


def test_console_loads_nothing_from_the_internet() -> None:
    for name, (body, _) in static_files().items():
        text = body.decode("utf-8")
        assert not re.search(r"(src|href)\s*=\s*[\"']https?://", text), name
        assert not re.search(r"(fetch|import|EventSource)\s*\(?\s*[\"'`]https?://", text), name
        assert "cdn" not in text.lower(), name


def test_every_module_the_page_imports_is_shipped() -> None:
    files = static_files()
    for name, (body, _) in files.items():
        if name.endswith(".js"):
            for imported in re.findall(r'from "\./([\w.]+)"', body.decode()):
                assert imported in files, f"{name} imports {imported}, which is not served"
