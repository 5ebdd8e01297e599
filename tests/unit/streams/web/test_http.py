"""What every response of the web layer carries: no content sniffing and no caching of people's data."""

from __future__ import annotations

import pytest

from streams import redis_keys as keys
from tests.unit.streams.web.harness import DEPT_A, WebHarness, api, make_case, web

__all__ = ["api", "web"]


@pytest.mark.parametrize(("path", "who", "content_type"), [
    ("/api/cases", "operator", "application/json"),
    ("/api/cases", None, "application/json"),  # the 401 too
    ("/api/reports/districts.csv", "operator", "text/csv"),
    ("/api/reports/cases.geojson", "operator", "application/geo+json"),
    ("/api/reports/heatmap.png?days=30", "operator", "image/png"),
    ("/api/evidence/camera:cam-1:f9", "operator", "image/jpeg"),
    ("/open311/v2/services.json", None, "application/json"),
    ("/metrics", None, "text/plain"),
])
def test_data_responses_are_not_sniffed_or_cached(api: WebHarness, path: str, who: str | None,
                                                   content_type: str) -> None:
    api.put_case(make_case("C-a1", DEPT_A, observations=[{"observation_id": "camera:cam-1:f9"}]))
    api.run(api.redis.set(keys.observation_case("camera:cam-1:f9"), "C-a1|1"))
    api.run(api.redis.set(keys.evidence("camera:cam-1:f9"), b"\xff\xd8\xff\xe0" + b"\x00" * 32 + b"\xff\xd9"))
    reply = api.call("GET", path, who=who)
    assert reply.headers["Content-Type"].startswith(content_type), reply.headers
    assert reply.headers["X-Content-Type-Options"] == "nosniff"
    assert reply.headers["Cache-Control"] == "no-store"


def test_handlers_keep_their_own_cache_policy(api: WebHarness) -> None:
    page = api.call("GET", "/console/")
    assert page.headers["Cache-Control"] == "no-cache" and page.headers["X-Content-Type-Options"] == "nosniff"
