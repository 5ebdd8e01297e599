"""The operators' console: a static single-page app served by every worker at ``/console/``.

Plain HTML, CSS and JavaScript shipped in :mod:`streams.web` (``static/``), with
no CDN, font or map-tile requests: the page works on an air-gapped network, and
its Content-Security-Policy forbids loading anything from elsewhere.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from faust import web

from streams.app import app

__all__ = ["STATIC_DIR", "static_files"]

STATIC_DIR = Path(__file__).resolve().parent / "static"
_TYPES = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
}
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


@cache
def static_files() -> dict[str, tuple[bytes, str]]:
    """File name -> (bytes, content type) of every servable console file (nothing else is reachable)."""
    return {
        path.name: (path.read_bytes(), _TYPES[path.suffix])
        for path in sorted(STATIC_DIR.iterdir())
        if path.is_file() and path.suffix in _TYPES
    }


@app.page("/console")
class ConsoleRedirect(web.View):
    """``/console`` -> ``/console/`` so relative asset paths resolve."""

    async def get(self, request: web.Request) -> web.Response:
        return self.text("", status=308, headers={"Location": "/console/"})


@app.page("/console/")
class ConsoleIndex(web.View):
    """The console's single page."""

    async def get(self, request: web.Request) -> web.Response:
        body, content_type = static_files()["index.html"]
        return self.bytes(body, content_type=content_type, headers=dict(_HEADERS))


@app.page("/console/{name}")
class ConsoleAsset(web.View):
    """One of the console's scripts or stylesheets, by exact name."""

    async def get(self, request: web.Request, name: str) -> web.Response:
        found = static_files().get(name)
        if found is None:
            return self.text(f"no console file {name}", status=404)
        body, content_type = found
        return self.bytes(body, content_type=content_type, headers=dict(_HEADERS))
