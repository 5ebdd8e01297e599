"""The console's static files: served offline-only, nothing outside the whitelist, no external URLs."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

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


def test_leaflet_is_served_from_its_pypi_package_and_nothing_else_there(api: WebHarness) -> None:
    from streams.web.console import VENDOR

    js = api.call("GET", "/console/vendor/leaflet/leaflet.js")
    assert js.status == 200 and js.body == (VENDOR["leaflet"] / "leaflet.js").read_bytes()
    assert js.headers["Content-Type"].startswith("text/javascript")
    cluster = api.call("GET", "/console/vendor/markercluster/leaflet.markercluster.js")
    assert cluster.status == 200 and b"MarkerClusterGroup" in cluster.body
    assert api.call("GET", "/console/vendor/leaflet/images/layers.png").headers["Content-Type"] == "image/png"
    for path in ("/console/vendor/leaflet/..%2F__init__.py", "/console/vendor/leaflet/../__init__.py",
                 "/console/vendor/nope/leaflet.js", "/console/vendor/leaflet/missing.js"):
        assert api.call("GET", path).status == 404, path
    page = api.call("GET", "/console/").body
    assert b'src="/console/vendor/leaflet/leaflet.js"' in page and b"/console/vendor/markercluster/" in page


def _city_with(basemap: Any) -> Any:
    from streams.app import city

    c = city()
    return c.model_copy(update={"city": c.city.model_copy(update={"basemap": basemap})})


def test_an_xyz_basemap_opens_the_csp_to_exactly_its_origin() -> None:
    from config.models import Basemap
    from streams.web.console import basemap_of, content_security_policy

    offline = _city_with(Basemap())
    assert basemap_of(offline) == {"type": "none"}
    assert "img-src 'self' data: blob:;" in content_security_policy(offline)
    tiles = _city_with(Basemap(tile_url="https://tiles.example.org/{z}/{x}/{y}.png", attribution="© OSM"))
    assert basemap_of(tiles)["url"] == "https://tiles.example.org/{z}/{x}/{y}.png"
    csp = content_security_policy(tiles)
    assert "img-src 'self' data: blob: https://tiles.example.org;" in csp and "connect-src 'self';" in csp
    rotating = _city_with(Basemap(tile_url="https://{s}.tile.example.org/{z}/{x}/{y}.png"))
    assert "img-src 'self' data: blob: https://*.tile.example.org;" in content_security_policy(rotating)
    with pytest.raises(ValueError, match="not both"):
        Basemap(tile_url="https://a.example/{z}/{x}/{y}.png", pmtiles="city.pmtiles")
    with pytest.raises(ValueError, match="http"):
        Basemap(tile_url="ftp://a.example/{z}/{x}/{y}.png")


def test_tiles_come_from_the_citys_pmtiles_file(api: WebHarness, tmp_path: Path, monkeypatch: Any) -> None:
    from pmtiles.tile import Compression, TileType, zxy_to_tileid
    from pmtiles.writer import Writer

    import streams.web.console as console
    from config.models import Basemap

    path = tmp_path / "city.pmtiles"
    with path.open("wb") as f:
        writer = Writer(f)
        writer.write_tile(zxy_to_tileid(0, 0, 0), b"\x89PNG zoom 0")
        writer.write_tile(zxy_to_tileid(1, 1, 0), b"\x89PNG zoom 1")
        writer.finalize({"tile_type": TileType.PNG, "tile_compression": Compression.NONE, "min_zoom": 0,
                         "max_zoom": 1, "min_lon_e7": 0, "min_lat_e7": 0, "max_lon_e7": 0, "max_lat_e7": 0,
                         "center_zoom": 0, "center_lon_e7": 0, "center_lat_e7": 0}, {})
    assert api.call("GET", "/console/tiles/1/1/0").status == 404  # the default city has no tiles file
    city = _city_with(Basemap(pmtiles=str(path)))
    monkeypatch.setattr(console, "city", lambda: city)
    assert console.basemap_of(city)["url"] == "/console/tiles/{z}/{x}/{y}"
    tile = api.call("GET", "/console/tiles/1/1/0")
    assert tile.status == 200 and tile.body == b"\x89PNG zoom 1" and tile.headers["Content-Type"] == "image/png"
    assert api.call("GET", "/console/tiles/1/0/0").status == 404
    assert api.call("GET", "/console/tiles/a/0/0").status == 404
