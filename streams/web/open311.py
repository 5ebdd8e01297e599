"""Open311 GeoReport v2 over HTTP, in XML (the spec's base format) and JSON, so existing 311 apps work.

Every call answers in the format its path ends with (``.xml`` or ``.json``):

- ``GET  /open311/discovery.{fmt}``            service discovery (formats, and whether a key is needed)
- ``GET  /open311/v2/services.{fmt}``          the problems of the city's taxonomy as services
- ``GET  /open311/v2/services/{code}.{fmt}``   service definition (no extra attributes)
- ``POST /open311/v2/requests.{fmt}``          submit: form-encoded (the spec) or a JSON object
- ``GET  /open311/v2/requests.{fmt}``          search every case (hotline, cameras, Open311); filters of the
  spec plus the ``page``/``page_size`` extension
- ``GET  /open311/v2/requests/{id}.{fmt}``     one request (an Open311 submission's id, or a case id)

Reads are public. Submissions need an ``api_key`` issued to the app (``cityops open311-key new``)
unless the city's ``open311.anonymous_submissions`` allows none; they are rate-limited per client
address. Errors are the spec's ``[{"code", "description"}]`` / ``<errors><error>``. Every answer,
the CORS preflight included, allows any origin: the data is public and no cookie is read.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Mapping
from typing import Any, cast

from aiohttp import web as aioweb
from faust import web

from detectors.text.artifacts import load_bundle
from streams import redis_keys as keys
from streams.app import app, city, produce, redis
from streams.redis_keys import CASES_UPDATED, OPEN311_REQUESTS, open311_request
from streams.topics import HOTLINE_EVENTS
from streams.web import georeport
from streams.web.access import AccessError
from streams.web.audit import audit
from streams.web.auth import token_store
from streams.web.georeport import Open311Error
from streams.web.georeport_xml import XML_CONTENT_TYPE, to_xml
from streams.web.http import ApiError, aiohttp_request, check_rate, client_of, json_response
from streams.web.metrics import OPEN311_REQUESTS as OPEN311_COUNT
from streams.web.open311_keys import api_keys
from streams.web.ratelimit import TokenBucketLimiter, parse_rate

__all__ = ["read_form"]

FORMATS = ("json", "xml")
_HEADERS = {"Access-Control-Allow-Origin": "*"}
_PREFLIGHT = {
    **_HEADERS,
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type",
    "Access-Control-Max-Age": "86400",
}
# How many recent submissions and cases one search reads before filtering and paging.
MAX_SCAN = 20_000
_submissions = TokenBucketLimiter(parse_rate(os.environ.get("CITYOPS_OPEN311_RATE", "10/60")))
_reads = TokenBucketLimiter(parse_rate(os.environ.get("CITYOPS_OPEN311_READ_RATE", "120/60")))


def _ok(fmt: str, root: str, data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    """``data`` as JSON, or as the spec's XML document under ``<root>``."""
    extra = {**_HEADERS, **(headers or {})}
    if fmt == "xml":
        response = aioweb.Response(text=to_xml(root, data), status=status, content_type=XML_CONTENT_TYPE,
                                   charset="utf-8", headers=extra)
        return cast(web.Response, response)
    return json_response(data, status=status, headers=extra)


def _fail(fmt: str, exc: Open311Error | ApiError) -> web.Response:
    if isinstance(exc, ApiError):
        body, status, extra = [{"code": exc.status, "description": exc.message}], exc.status, exc.headers
    else:
        body, status, extra = exc.body(), exc.code, {}
    return _ok(fmt if fmt in FORMATS else "json", "errors", body, status, extra)


def _check(request: web.Request, fmt: str, limiter: TokenBucketLimiter | None = None) -> None:
    """What every call checks first: the format, the caller's rate and the jurisdiction."""
    if fmt not in FORMATS:
        raise Open311Error(400, f"format {fmt!r} is not served: use .xml or .json")
    if limiter is not None:
        check_rate(limiter, request, "open311.read" if limiter is _reads else "open311.submit")
    georeport.check_jurisdiction(dict(request.query), city())


async def read_form(request: web.Request) -> dict[str, str]:
    """The submitted fields as strings: a JSON object or a form (``attribute[...]`` fields dropped)."""
    raw = aiohttp_request(request)
    if raw.content_type == "application/json":
        try:
            data = json.loads(await raw.read() or b"{}")
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise Open311Error(400, f"body is not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise Open311Error(400, "body must be a JSON object")
        scalars = {k: v for k, v in data.items() if not isinstance(v, (dict, list))}
        return {str(k): "" if v is None else str(v) for k, v in scalars.items()}
    form = await raw.post()
    return {k: str(v) for k, v in form.items() if isinstance(v, str) and not k.startswith("attribute[")}


def locate_address(address: str) -> tuple[float, float] | None:
    """An address's point from the city's gazetteer, which ships with its complaint models (loaded once
    per process, shared with the hotline stage); refused plainly where the city has none."""
    try:
        gazetteer = load_bundle(city()).gazetteer
    except FileNotFoundError:
        raise Open311Error(400, "addresses cannot be placed in this city yet: send lat and long") from None
    return gazetteer.find(address)


def _submitter(params: Mapping[str, str], client: str) -> str:
    """Who submits: the app holding the api_key (or a staff token), or the client address when allowed."""
    key = params.get("api_key", "").strip()
    if key:
        app_name = api_keys().app_of(key)
        if app_name:
            return f"app:{app_name}"
        store_ = token_store()
        try:
            principal = store_.authenticate(key) if store_.configured else None
        except AccessError:
            principal = None
        if principal is None:
            raise Open311Error(403, "Invalid api_key")
        return principal.actor
    if not city().open311.anonymous_submissions:
        raise Open311Error(403, "api_key is required: this city takes requests from registered apps only")
    return f"open311:{client}"


class _Open311View(web.View):
    """Every Open311 path answers the CORS preflight, so browser apps on other origins can POST."""

    async def options(self, request: web.Request, **_: Any) -> web.Response:
        return cast(web.Response, aioweb.Response(status=204, headers=_PREFLIGHT))


@app.page("/open311/discovery.{fmt}")
class Discovery(_Open311View):
    """Service discovery: where the GeoReport v2 endpoint is, what it speaks and whether a key is needed."""

    async def get(self, request: web.Request, fmt: str) -> web.Response:
        if fmt not in FORMATS:
            return _fail("json", Open311Error(400, f"format {fmt!r} is not served: use .xml or .json"))
        url = request.url
        base = f"{url.scheme}://{url.host}" + (f":{url.port}" if url.port else "")
        if city().open311.anonymous_submissions:
            key_service = ("api_key is optional: requests without one are accepted and rate-limited per client; "
                           "apps can ask the city operations centre for a key")
        else:
            key_service = "api_key is required to submit requests: ask the city operations centre for one"
        return _ok(fmt, "discovery", {
            "changeset": "2026-11-29T00:00:00Z",
            "contact": f"{city().city.name} city operations centre",
            "key_service": key_service,
            "endpoints": [{
                "specification": "http://wiki.open311.org/GeoReport_v2",
                "url": f"{base}/open311/v2",
                "changeset": "2026-11-29T00:00:00Z",
                "type": "production",
                "formats": ["text/xml", "application/json"],
            }],
        })


@app.page("/open311/v2/services.{fmt}")
class Services(_Open311View):
    """GET Service List."""

    async def get(self, request: web.Request, fmt: str) -> web.Response:
        try:
            _check(request, fmt, _reads)
        except (Open311Error, ApiError) as exc:
            return _fail(fmt, exc)
        return _ok(fmt, "services", georeport.services(city()))


@app.page("/open311/v2/services/{service_code}.{fmt}")
class ServiceDefinition(_Open311View):
    """GET Service Definition: no service here needs extra attributes."""

    async def get(self, request: web.Request, service_code: str, fmt: str) -> web.Response:
        try:
            _check(request, fmt, _reads)
            if service_code not in {s["service_code"] for s in georeport.services(city())}:
                raise Open311Error(404, f"service_code {service_code!r} not found")
        except (Open311Error, ApiError) as exc:
            return _fail(fmt, exc)
        return _ok(fmt, "service_definition", {"service_code": service_code, "attributes": []})


async def _views(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each stored request with the status of the case it joined (found once, then remembered)."""
    if not records:
        return []
    client = redis()
    missing = [r for r in records if not r.get("case_id")]
    if missing:
        obs_keys = [keys.observation_case(f"hotline:{r['service_request_id']}") for r in missing]
        found = await client.mget(obs_keys)
        pipe = client.pipeline(transaction=False)
        for record, raw in zip(missing, found, strict=True):
            if raw:
                record["case_id"] = (raw.decode() if isinstance(raw, bytes) else raw).split("|", 1)[0]
                key = open311_request(record["service_request_id"])
                pipe.set(key, json.dumps(record, ensure_ascii=False))
        await pipe.execute()
    cases = await _cases([r["case_id"] for r in records if r.get("case_id")])
    return [georeport.request_view(r, cases.get(r.get("case_id") or ""), city()) for r in records]


async def _cases(case_ids: list[str]) -> dict[str, dict[str, Any]]:
    if not case_ids:
        return {}
    docs = await redis().mget([keys.case_doc(c) for c in case_ids])
    return {c: json.loads(raw) for c, raw in zip(case_ids, docs, strict=True) if raw}


async def _records(ids: list[str]) -> list[dict[str, Any]]:
    if not ids:
        return []
    raws = await redis().mget([open311_request(i) for i in ids])
    return [json.loads(raw) for raw in raws if raw]


def _text(raw: Any) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw)


async def _by_ids(ids: list[str]) -> list[dict[str, Any]]:
    """Requests by id: Open311 submissions first, the rest read as case ids."""
    records = await _records(ids)
    known = {r["service_request_id"] for r in records}
    cases = await _cases([i for i in ids if i not in known])
    return await _views(records) + [georeport.case_view(c, city()) for c in cases.values()]


async def _search(query: georeport.RequestQuery) -> list[dict[str, Any]]:
    """Every request in the window, newest first: Open311 submissions, and each case none of them joined."""
    client = redis()
    raw_ids = await client.zrevrangebyscore(OPEN311_REQUESTS, query.end, query.start, start=0, num=MAX_SCAN)
    records = await _records([_text(i) for i in raw_ids])
    views = await _views(records)
    found = [(float(r["requested_at"]), v) for r, v in zip(records, views, strict=True)]
    joined = {r.get("case_id") for r in records}
    # A case requested in the window was last updated at or after its start.
    case_ids = await client.zrevrangebyscore(CASES_UPDATED, "+inf", query.start, start=0, num=MAX_SCAN)
    cases = await _cases([c for c in map(_text, case_ids) if c not in joined])
    for case in cases.values():
        view = georeport.case_view(case, city())
        found.append((georeport.parse_w3c(view["requested_datetime"], "requested_datetime"), view))
    found.sort(key=lambda pair: pair[0], reverse=True)
    return query.page_of([v for at, v in found if query.matches(v, at)])


@app.page("/open311/v2/requests.{fmt}")
class Requests(_Open311View):
    """POST Service Request and GET Service Requests."""

    async def post(self, request: web.Request, fmt: str) -> web.Response:
        try:
            _check(request, fmt, _submissions)
            params = await read_form(request)
            actor = _submitter(params, client_of(request))
            loop = asyncio.get_running_loop()
            located: dict[str, tuple[float, float] | None] = {}
            address = (params.get("address_string") or "").strip()
            if address and not (params.get("lat") or "").strip():
                # the gazetteer is loaded with the complaint models (warm before the worker is ready)
                located[address] = await loop.run_in_executor(None, locate_address, address)
            event, record = georeport.parse_post(params, city(), locate=located.get)
        except (Open311Error, ApiError) as exc:
            OPEN311_COUNT.labels("rate_limited" if getattr(exc, "status", 0) == 429 else "invalid").inc()
            return _fail(fmt, exc)
        try:
            await produce(HOTLINE_EVENTS, event.event_id, event, wait=True)
        except Exception as exc:  # the spec's "general service error": the client should retry later
            OPEN311_COUNT.labels("failed").inc()
            why = f"the request could not be registered now, try again later ({exc})"
            return _fail(fmt, Open311Error(400, why))
        client = redis()
        pipe = client.pipeline(transaction=True)
        pipe.set(open311_request(event.event_id), json.dumps(record, ensure_ascii=False))
        pipe.zadd(OPEN311_REQUESTS, {event.event_id: event.received_at})
        await pipe.execute()
        OPEN311_COUNT.labels("accepted").inc()
        await audit(actor, "open311.request", event.event_id, client=client_of(request),
                    service_code=event.service_code)
        notice = georeport.service_notice(city(), event.service_code)
        if record["location_precision"] == "address":
            notice += " Placed at the address given (the nearest house the city knows)."
        # account_id is left out: the spec allows a string or nothing, and this city keeps no accounts.
        return _ok(fmt, "service_requests", [{"service_request_id": event.event_id, "service_notice": notice}])

    async def get(self, request: web.Request, fmt: str) -> web.Response:
        try:
            _check(request, fmt, _reads)
            query = georeport.parse_query(dict(request.query), city())
        except (Open311Error, ApiError) as exc:
            return _fail(fmt, exc)
        if query.ids:
            return _ok(fmt, "service_requests", await _by_ids(list(query.ids)))
        return _ok(fmt, "service_requests", await _search(query))


@app.page("/open311/v2/requests/{service_request_id}.{fmt}")
class RequestDetail(_Open311View):
    """GET Service Request: a list with the one request, or 404."""

    async def get(self, request: web.Request, service_request_id: str, fmt: str) -> web.Response:
        try:
            _check(request, fmt, _reads)
            views = await _by_ids([service_request_id])
            if not views:
                raise Open311Error(404, f"service_request_id {service_request_id} not found")
        except (Open311Error, ApiError) as exc:
            return _fail(fmt, exc)
        return _ok(fmt, "service_requests", views)
