"""Open311 GeoReport v2 over HTTP (JSON format), so existing 311 apps can submit and track requests.

- ``GET  /open311/discovery.json``             service discovery
- ``GET  /open311/v2/services.json``           the taxonomy's leaves as services
- ``GET  /open311/v2/services/{code}.json``    service definition (no extra attributes)
- ``POST /open311/v2/requests.json``           submit: form-encoded (the spec) or a JSON object
- ``GET  /open311/v2/requests.json``           search: service_request_id, service_code, status, dates
- ``GET  /open311/v2/requests/{id}.json``      one request

Reads are public; submissions are public too (an ``api_key``, when sent, must be
a valid token and names the submitter in the audit trail) and rate-limited per
client address. Errors are the spec's ``[{"code", "description"}]``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from faust import web

from streams import redis_keys as keys
from streams.app import app, city, produce, redis
from streams.redis_keys import OPEN311_REQUESTS, open311_request
from streams.topics import HOTLINE_EVENTS
from streams.web import georeport
from streams.web.access import AccessError
from streams.web.audit import audit
from streams.web.auth import token_store
from streams.web.georeport import Open311Error
from streams.web.http import ApiError, aiohttp_request, check_rate, client_of, json_response
from streams.web.metrics import OPEN311_REQUESTS as OPEN311_COUNT
from streams.web.ratelimit import TokenBucketLimiter, parse_rate

__all__ = ["read_form"]

_HEADERS = {"Access-Control-Allow-Origin": "*"}
_submissions = TokenBucketLimiter(parse_rate(os.environ.get("CITYOPS_OPEN311_RATE", "10/60")))
_reads = TokenBucketLimiter(parse_rate(os.environ.get("CITYOPS_OPEN311_READ_RATE", "120/60")))


def _ok(data: Any) -> web.Response:
    return json_response(data, headers=_HEADERS)


def _fail(exc: Open311Error | ApiError) -> web.Response:
    if isinstance(exc, ApiError):
        body, status, extra = [{"code": exc.status, "description": exc.message}], exc.status, exc.headers
    else:
        body, status, extra = exc.body(), exc.code, {}
    return json_response(body, status=status, headers={**_HEADERS, **extra})


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


def _submitter(params: Mapping[str, str], client: str) -> str:
    key = params.get("api_key", "").strip()
    store_ = token_store()
    if not key or not store_.configured:
        return f"open311:{client}"
    try:
        principal = store_.authenticate(key)
    except AccessError:
        principal = None
    if principal is None:
        raise Open311Error(403, "Invalid api_key")
    return principal.actor


@app.page("/open311/discovery.json")
class Discovery(web.View):
    """Service discovery: where the GeoReport v2 endpoint is and what it speaks."""

    async def get(self, request: web.Request) -> web.Response:
        url = request.url
        base = f"{url.scheme}://{url.host}" + (f":{url.port}" if url.port else "")
        return _ok(
            {
                "changeset": "2024-01-01T00:00:00Z",
                "contact": f"{city().city.name} city operations centre",
                "key_service": "api_key is optional; submissions are rate-limited per client",
                "endpoints": [
                    {
                        "specification": "http://wiki.open311.org/GeoReport_v2",
                        "url": f"{base}/open311/v2",
                        "changeset": "2024-01-01T00:00:00Z",
                        "type": "production",
                        "formats": ["application/json"],
                    }
                ],
            }
        )


@app.page("/open311/v2/services.json")
class Services(web.View):
    """GET Service List."""

    async def get(self, request: web.Request) -> web.Response:
        try:
            check_rate(_reads, request, "open311.read")
        except ApiError as exc:
            return _fail(exc)
        return _ok(georeport.services(city()))


@app.page("/open311/v2/services/{service_code}.json")
class ServiceDefinition(web.View):
    """GET Service Definition: no service here needs extra attributes."""

    async def get(self, request: web.Request, service_code: str) -> web.Response:
        if service_code not in {s["service_code"] for s in georeport.services(city())}:
            return _fail(Open311Error(404, f"service_code {service_code!r} not found"))
        return _ok({"service_code": service_code, "attributes": []})


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
    with_case = [r for r in records if r.get("case_id")]
    docs = await client.mget([keys.case_doc(r["case_id"]) for r in with_case]) if with_case else []
    cases = {r["case_id"]: json.loads(raw) for r, raw in zip(with_case, docs, strict=True) if raw}
    return [georeport.request_view(r, cases.get(r.get("case_id") or ""), city()) for r in records]


async def _records(ids: list[str]) -> list[dict[str, Any]]:
    if not ids:
        return []
    raws = await redis().mget([open311_request(i) for i in ids])
    return [json.loads(raw) for raw in raws if raw]


@app.page("/open311/v2/requests.json")
class Requests(web.View):
    """POST Service Request and GET Service Requests."""

    async def post(self, request: web.Request) -> web.Response:
        try:
            check_rate(_submissions, request, "open311.submit")
            params = await read_form(request)
            actor = _submitter(params, client_of(request))
            event, record = georeport.parse_post(params, city())
        except (Open311Error, ApiError) as exc:
            OPEN311_COUNT.labels("rate_limited" if getattr(exc, "status", 0) == 429 else "invalid").inc()
            return _fail(exc)
        try:
            await produce(HOTLINE_EVENTS, event.event_id, event, wait=True)
        except Exception as exc:  # the spec's "general service error": the client should retry later
            OPEN311_COUNT.labels("failed").inc()
            why = f"the request could not be registered now, try again later ({exc})"
            return _fail(Open311Error(400, why))
        client = redis()
        pipe = client.pipeline(transaction=True)
        pipe.set(open311_request(event.event_id), json.dumps(record, ensure_ascii=False))
        pipe.zadd(OPEN311_REQUESTS, {event.event_id: event.received_at})
        await pipe.execute()
        OPEN311_COUNT.labels("accepted").inc()
        await audit(actor, "open311.request", event.event_id, client=client_of(request),
                    service_code=event.service_code)
        return _ok([{
            "service_request_id": event.event_id,
            "service_notice": georeport.service_notice(city(), event.service_code),
            "account_id": None,
        }])

    async def get(self, request: web.Request) -> web.Response:
        try:
            check_rate(_reads, request, "open311.read")
            query = georeport.parse_query(dict(request.query), city())
        except (Open311Error, ApiError) as exc:
            return _fail(exc)
        if query.ids:
            return _ok(await _views(await _records(list(query.ids))))
        raw_ids: list[Any] = await redis().zrevrangebyscore(
            OPEN311_REQUESTS, query.end, query.start, start=0, num=georeport.MAX_RESULTS * 2
        )
        records = await _records([i.decode() if isinstance(i, bytes) else i for i in raw_ids])
        views = [v for v, r in zip(await _views(records), records, strict=True)
                 if query.matches(v, float(r["requested_at"]))]
        return _ok(views[: georeport.MAX_RESULTS])


@app.page("/open311/v2/requests/{service_request_id}.json")
class RequestDetail(web.View):
    """GET Service Request: a list with the one request, or 404."""

    async def get(self, request: web.Request, service_request_id: str) -> web.Response:
        try:
            check_rate(_reads, request, "open311.read")
        except ApiError as exc:
            return _fail(exc)
        records = await _records([service_request_id])
        if not records:
            return _fail(Open311Error(404, f"service_request_id {service_request_id} not found"))
        return _ok(await _views(records))


@app.page("/open311/v2/{resource:.+}.xml")
class XmlNotSupported(web.View):
    """This endpoint speaks JSON only (discovery says so); XML asks get a clear error."""

    async def get(self, request: web.Request, resource: str) -> web.Response:
        return _fail(Open311Error(400, "format not supported: use .json"))

    async def post(self, request: web.Request, resource: str) -> web.Response:
        return _fail(Open311Error(400, "format not supported: use .json"))
