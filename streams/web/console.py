"""The operators' console: a static single-page app served by every worker at ``/console/``.

Plain HTML, CSS and JavaScript shipped in :mod:`streams.web` (``static/``), and
Leaflet with its marker-cluster plugin served from their PyPI packages
(``xstatic-leaflet*``) under ``/console/vendor/``: no CDN or font requests, so the
page works on an air-gapped network. Map tiles come from the city's own PMTiles
file (``/console/tiles/{z}/{x}/{y}``) or, when the city configures one, from an XYZ
tile server whose origin is then the only other one the Content-Security-Policy allows.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import xstatic.pkg.leaflet
import xstatic.pkg.leaflet_markercluster
from faust import web
from pmtiles.reader import MmapSource, Reader

from config.models import CityConfig
from streams.app import app, city

__all__ = ["STATIC_DIR", "VENDOR", "basemap_of", "content_security_policy", "static_files"]

STATIC_DIR = Path(__file__).resolve().parent / "static"
# Third-party browser code, by the folder its PyPI package installs it in.
VENDOR = {
    "leaflet": Path(xstatic.pkg.leaflet.BASE_DIR),
    "markercluster": Path(xstatic.pkg.leaflet_markercluster.BASE_DIR),
}
_TYPES = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".map": "application/json",
}
_TILE_TYPES = {1: "application/x-protobuf", 2: "image/png", 3: "image/jpeg", 4: "image/webp", 5: "image/avif"}


def _origin(url: str) -> str:
    """The CSP source of a tile URL template; a ``{s}`` subdomain becomes ``*`` (Leaflet rotates a, b, c)."""
    parts = urlsplit(url.replace("{s}", "subdomain-placeholder"))
    netloc = parts.netloc.replace("subdomain-placeholder", "*")
    return f"{parts.scheme}://{netloc}" if parts.scheme and parts.netloc else ""


def content_security_policy(c: CityConfig) -> str:
    """The console's CSP: this worker only, plus the origin of the city's XYZ tiles when it has some."""
    tiles = _origin(c.city.basemap.tile_url)
    img = "'self' data: blob:" + (f" {tiles}" if tiles else "")
    return (
        f"default-src 'self'; img-src {img}; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    )


def _headers() -> dict[str, str]:
    return {
        "Content-Security-Policy": content_security_policy(city()),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-cache",
    }


def basemap_of(c: CityConfig) -> dict[str, Any]:
    """What the console's map draws under the cases: ``none``, an XYZ ``url``, or this worker's PMTiles."""
    b = c.city.basemap
    if b.tile_url:
        return {"type": "xyz", "url": b.tile_url, "attribution": b.attribution, "max_zoom": b.max_zoom}
    if b.pmtiles:
        return {"type": "pmtiles", "url": "/console/tiles/{z}/{x}/{y}", "attribution": b.attribution,
                "max_zoom": b.max_zoom}
    return {"type": "none"}


@cache
def _pmtiles(path: str) -> tuple[Reader, str]:
    handle = open(_resolve(path), "rb")  # noqa: SIM115 - held open for the worker's life (memory-mapped reads)
    reader = Reader(MmapSource(handle))
    return reader, _TILE_TYPES.get(int(reader.header()["tile_type"].value), "application/octet-stream")


def _resolve(path: str) -> Path:
    p = Path(path)
    return p if p.is_absolute() else Path(__file__).resolve().parents[2] / p


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
        return self.bytes(body, content_type=content_type, headers=_headers())


@app.page("/console/{name}")
class ConsoleAsset(web.View):
    """One of the console's scripts or stylesheets, by exact name."""

    async def get(self, request: web.Request, name: str) -> web.Response:
        found = static_files().get(name)
        if found is None:
            return self.text(f"no console file {name}", status=404)
        body, content_type = found
        return self.bytes(body, content_type=content_type, headers=_headers())


@cache
def _vendor_file(package: str, name: str) -> tuple[bytes, str] | None:
    root = VENDOR.get(package)
    if root is None:
        return None
    path = (root / name).resolve()
    if root.resolve() not in path.parents or path.suffix not in _TYPES or not path.is_file():
        return None
    return path.read_bytes(), _TYPES[path.suffix]


@app.page("/console/vendor/{package}/{name:.+}")
class VendorAsset(web.View):
    """Leaflet and its marker-cluster plugin, from the files their PyPI packages installed."""

    async def get(self, request: web.Request, package: str, name: str) -> web.Response:
        found = _vendor_file(package, name)
        if found is None:
            return self.text(f"no vendor file {package}/{name}", status=404)
        body, content_type = found
        return self.bytes(body, content_type=content_type,
                          headers={**_headers(), "Cache-Control": "public, max-age=86400"})


@app.page("/console/tiles/{z:\\d+}/{x:\\d+}/{y:\\d+}")
class Tile(web.View):
    """One map tile of the city's PMTiles file (404 where the file has none, or without a file)."""

    async def get(self, request: web.Request, z: str, x: str, y: str) -> web.Response:
        path = city().city.basemap.pmtiles
        if not path:
            return self.text("this city has no PMTiles basemap", status=404)
        reader, content_type = _pmtiles(path)
        tile = reader.get(int(z), int(x), int(y))
        if not tile:
            return self.text(f"no tile {z}/{x}/{y}", status=404)
        return self.bytes(tile, content_type=content_type, headers={"Cache-Control": "public, max-age=3600"})
