"""The GeoReport v2 response shapes, written from the spec (wiki.open311.org/GeoReport_v2), as test fixtures.

JSON answers are validated with JSON Schema. An XML answer is read back into data by the same schema
(an element per property, no element the spec does not name, list items named as in the spec's
examples, ``true``/``false`` booleans, numbers that parse) and then validated with the same schema,
so both formats are held to one definition.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import jsonschema

__all__ = ["SCHEMAS", "check_json", "check_xml"]

_TEXT = {"type": ["string", "null"]}
_W3C = {"type": "string", "pattern": r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$"}
_W3C_OR_NULL = {"anyOf": [_W3C, {"type": "null"}]}

SERVICE = {
    "type": "object",
    "required": ["service_code", "service_name", "metadata", "type"],
    "additionalProperties": False,
    "properties": {
        "service_code": {"type": "string", "minLength": 1},
        "service_name": {"type": "string", "minLength": 1},
        "description": _TEXT,
        "metadata": {"type": "boolean"},
        "type": {"enum": ["realtime", "batch", "blackbox"]},
        "keywords": _TEXT,
        "group": _TEXT,
    },
}
ATTRIBUTE = {
    "type": "object",
    "required": ["variable", "code", "datatype", "required", "order", "description"],
    "additionalProperties": False,
    "properties": {
        "variable": {"type": "boolean"},
        "code": {"type": "string"},
        "datatype": {"enum": ["string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"]},
        "required": {"type": "boolean"},
        "datatype_description": _TEXT,
        "order": {"type": "integer"},
        "description": {"type": "string"},
        "values": {"type": "array", "items": {"type": "object", "properties": {"key": {"type": "string"},
                                                                               "name": {"type": "string"}}}},
    },
}
REQUEST = {
    "type": "object",
    "required": ["service_request_id", "status", "service_code", "requested_datetime"],
    "additionalProperties": False,
    "properties": {
        "service_request_id": {"type": "string", "minLength": 1},
        "status": {"enum": ["open", "closed"]},
        "status_notes": _TEXT,
        "service_name": _TEXT,
        "service_code": {"type": "string", "minLength": 1},
        "description": _TEXT,
        "agency_responsible": _TEXT,
        "service_notice": _TEXT,
        "requested_datetime": _W3C,
        "updated_datetime": _W3C_OR_NULL,
        "expected_datetime": _W3C_OR_NULL,
        "address": _TEXT,
        "address_id": _TEXT,
        "zipcode": _TEXT,
        "lat": {"type": ["number", "null"], "minimum": -90, "maximum": 90},
        "long": {"type": ["number", "null"], "minimum": -180, "maximum": 180},
        "media_url": _TEXT,
    },
}
# POST answer: a service_request_id (or a token, for servers that cannot answer at once); account_id is a
# string when given at all.
POSTED = {
    "type": "object",
    "anyOf": [{"required": ["service_request_id"]}, {"required": ["token"]}],
    "additionalProperties": False,
    "properties": {
        "service_request_id": {"type": "string", "minLength": 1},
        "token": {"type": "string"},
        "service_notice": {"type": "string"},
        "account_id": {"type": "string"},
    },
}
ERROR = {
    "type": "object",
    "required": ["code", "description"],
    "additionalProperties": False,
    "properties": {"code": {"type": "integer"}, "description": {"type": "string", "minLength": 1}},
}
ENDPOINT = {
    "type": "object",
    "required": ["specification", "url", "changeset", "type", "formats"],
    "additionalProperties": False,
    "properties": {
        "specification": {"type": "string"},
        "url": {"type": "string", "pattern": "^https?://"},
        "changeset": _W3C,
        "type": {"enum": ["production", "test"]},
        "formats": {"type": "array", "minItems": 1, "items": {"enum": ["text/xml", "application/json"]}},
    },
}

# Root element name in XML and the schema of the document under it.
SCHEMAS: dict[str, tuple[str, dict[str, Any]]] = {
    "services": ("services", {"type": "array", "items": SERVICE}),
    "service_definition": ("service_definition", {
        "type": "object", "required": ["service_code", "attributes"], "additionalProperties": False,
        "properties": {"service_code": {"type": "string"}, "attributes": {"type": "array", "items": ATTRIBUTE}},
    }),
    "requests": ("service_requests", {"type": "array", "items": REQUEST}),
    "posted": ("service_requests", {"type": "array", "minItems": 1, "maxItems": 1, "items": POSTED}),
    "errors": ("errors", {"type": "array", "minItems": 1, "items": ERROR}),
    "discovery": ("discovery", {
        "type": "object", "required": ["changeset", "contact", "endpoints"], "additionalProperties": False,
        "properties": {"changeset": _W3C, "contact": {"type": "string"}, "key_service": {"type": "string"},
                       "endpoints": {"type": "array", "minItems": 1, "items": ENDPOINT}},
    }),
}
# The spec's XML names each list item after its container.
_ITEMS = {"services": "service", "service_requests": "request", "errors": "error", "attributes": "attribute",
          "values": "value", "endpoints": "endpoint", "formats": "format"}


def check_json(kind: str, data: Any) -> Any:
    jsonschema.validate(data, SCHEMAS[kind][1])
    return data


def _types(schema: dict[str, Any]) -> list[str]:
    if "anyOf" in schema and "type" not in schema:
        return [t for option in schema["anyOf"] for t in _types(option)]
    if "enum" in schema:
        return ["string"]
    kind = schema.get("type", "string")
    return kind if isinstance(kind, list) else [kind]


def _read(element: ET.Element, schema: dict[str, Any]) -> Any:
    types = _types(schema)
    if "array" in types:
        item = _ITEMS[element.tag]
        wrong = [c.tag for c in element if c.tag != item]
        assert not wrong, f"<{element.tag}> may hold only <{item}>, found {wrong}"
        return [_read(child, schema["items"]) for child in element]
    if "object" in types:
        names = [c.tag for c in element]
        assert len(names) == len(set(names)), f"<{element.tag}> repeats an element: {names}"
        props = schema.get("properties", {})
        unknown = set(names) - set(props)
        assert not unknown, f"<{element.tag}> holds elements the spec does not name: {unknown}"
        return {c.tag: _read(c, props[c.tag]) for c in element}
    assert len(element) == 0, f"<{element.tag}> must hold text, not elements"
    text = element.text or ""
    if text == "" and "null" in types:
        return None
    if "boolean" in types:
        assert text in ("true", "false"), f"<{element.tag}> must be true or false, got {text!r}"
        return text == "true"
    if "integer" in types:
        return int(text)
    if "number" in types:
        return float(text)
    return text


def check_xml(kind: str, body: bytes | str) -> Any:
    """The XML document read back as data, after checking its root, its elements and (as JSON) its values."""
    raw = body.encode() if isinstance(body, str) else body
    assert raw.startswith(b"<?xml"), raw[:60]
    root_name, schema = SCHEMAS[kind]
    root = ET.fromstring(raw)
    assert root.tag == root_name, f"root is <{root.tag}>, the spec's is <{root_name}>"
    data = _read(root, schema)
    jsonschema.validate(data, schema)
    return data
