"""Bytes on a topic <-> records, with a readable reason when the bytes are unusable.

Every stage reads raw bytes and calls :func:`decode`; a :class:`DecodeError`
carries the reason that goes to the dead-letter topic with the original bytes.
The JSON Schema used for validation is generated from the record classes in
:mod:`schemas.records`, so the files under ``schemas/json/`` and the checks the
code makes cannot drift apart.
"""

import copy
import dataclasses
import json
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import fastjsonschema
import orjson

from schemas.records import ALL_RECORDS, FIELD_RULES, READABLE_VERSIONS, SCHEMA_VERSION, Part, Record

__all__ = [
    "JSON_DIR",
    "MAX_RECORD_BYTES",
    "DecodeError",
    "decode",
    "decode_dict",
    "decode_own",
    "dumps",
    "encode",
    "encode_dict",
    "json_schema",
    "loads",
    "to_dict",
    "write_json_schemas",
]

JSON_DIR = Path(__file__).resolve().parent / "json"
# Larger payloads are refused before parsing: a 5 MB "complaint" is an attack or a bug.
MAX_RECORD_BYTES = 6_000_000

R = TypeVar("R", bound=Record)
P = TypeVar("P", bound=Part)

_ORJSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY  # non-string keys (rare; the option halves the speed) take the fallback


def dumps(data: Any) -> bytes:
    """Compact UTF-8 JSON of ``data`` (a dict, a list or a record), as every topic and Redis view stores it.

    orjson: about ten times the standard library's speed (JSON was the largest cost per
    event on the case stage), and it writes the records' dataclasses itself. What orjson refuses
    (a non-string key, an integer over 64 bits, a custom type) falls back to the standard encoder.
    """
    try:
        return orjson.dumps(data, option=_ORJSON_OPTIONS)
    except TypeError:
        plain = to_dict(data) if isinstance(data, Part) else data
        return json.dumps(plain, ensure_ascii=False, separators=(",", ":")).encode()


def loads(raw: bytes | str) -> Any:
    """Parse JSON text (strict: no NaN/Infinity literals, UTF-8 only); raises :class:`json.JSONDecodeError`."""
    return orjson.loads(raw)


class DecodeError(ValueError):
    """Bytes that cannot become a record; ``reason`` is what an operator reads in the dead letter."""

    def __init__(self, reason: str, error_type: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.error_type = error_type


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(tp)) == 2:
            return args[0], True
    return tp, False


def _type_schema(tp: Any) -> dict[str, Any]:
    tp, optional = _unwrap_optional(tp)
    origin = typing.get_origin(tp)
    schema: dict[str, Any]
    if _is_part(tp):
        schema = {"$ref": f"#/$defs/{tp.__name__}"}
    elif tp is str:
        schema = {"type": "string"}
    elif tp is bool:
        schema = {"type": "boolean"}
    elif tp is int:
        schema = {"type": "integer"}
    elif tp is float:
        schema = {"type": "number"}
    elif origin is list:
        (item,) = typing.get_args(tp)
        schema = {"type": "array", "items": _type_schema(item)}
    elif origin is dict:
        _key, value = typing.get_args(tp)
        schema = {"type": "object", "additionalProperties": _type_schema(value)}
    else:
        raise TypeError(f"no JSON Schema mapping for {tp!r}")
    # Null first, and a plain type list where it can be: the validator tries anyOf's branches in order
    # and pays an exception for each that fails (three per command, when "null" came second).
    if optional and set(schema) == {"type"}:
        schema = {"type": [schema["type"], "null"]}
    elif optional:
        schema = {"anyOf": [{"type": "null"}, schema]}
    return schema


def _is_part(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, Part)


def _defaults(cls: type[Part]) -> dict[str, Any]:
    """Field -> default value (a fresh one for list and dict fields) of the fields that have one."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.default is not dataclasses.MISSING:
            out[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            out[f.name] = f.default_factory()
    return out


def _record_schema(cls: type[Part]) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    defaults = _defaults(cls)
    rules = FIELD_RULES.get(cls.__name__, {})
    props: dict[str, Any] = {}
    for name in names:
        prop = _type_schema(hints[name])
        prop.update(rules.get(name, {}))
        props[name] = prop
    versioned = issubclass(cls, Record)
    if versioned:
        props["schema_version"] = {"const": SCHEMA_VERSION}
    return {
        "type": "object",
        "description": (cls.__doc__ or "").strip().splitlines()[0],
        "properties": props,
        "required": [n for n in names if n not in defaults or (versioned and n == "schema_version")],
        "additionalProperties": False,
    }


def _nested(cls: type[Part], seen: dict[str, type[Part]]) -> None:
    for tp in typing.get_type_hints(cls).values():
        inner, _ = _unwrap_optional(tp)
        if typing.get_origin(inner) is list:
            (inner,) = typing.get_args(inner)
        if _is_part(inner) and inner.__name__ not in seen:
            seen[inner.__name__] = inner
            _nested(inner, seen)


_SCHEMAS: dict[type[Part], dict[str, Any]] = {}
_VALIDATORS: dict[type[Part], Any] = {}
_NESTED: dict[type[Part], dict[str, tuple[type[Part], bool]]] = {}


def json_schema(cls: type[Record]) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one record class, nested records under ``$defs``."""
    if cls in _SCHEMAS:
        return _SCHEMAS[cls]
    schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://cityops.dev/schemas/v{SCHEMA_VERSION}/{cls.__name__}.json",
        "title": cls.__name__,
        **_record_schema(cls),
    }
    nested: dict[str, type[Part]] = {}
    _nested(cls, nested)
    if nested:
        schema["$defs"] = {name: _record_schema(sub) for name, sub in sorted(nested.items())}
    _SCHEMAS[cls] = schema
    return schema


def _validator(cls: type[Record]) -> Any:
    if cls not in _VALIDATORS:
        # A copy: fastjsonschema rewrites the "$ref"s of the schema it is given into absolute URIs.
        _VALIDATORS[cls] = fastjsonschema.compile(copy.deepcopy(json_schema(cls)))
    return _VALIDATORS[cls]


def _part_fields(cls: type[Part]) -> dict[str, tuple[type[Part], bool]]:
    """Fields of ``cls`` that hold a nested record (or a list of them): name -> (class, is a list)."""
    if cls not in _NESTED:
        nested = {}
        for name, tp in typing.get_type_hints(cls).items():
            inner, _ = _unwrap_optional(tp)
            many = typing.get_origin(inner) is list
            if many:
                (inner,) = typing.get_args(inner)
            if _is_part(inner):
                nested[name] = (inner, many)
        _NESTED[cls] = nested
    return _NESTED[cls]


def build(cls: type[P], data: dict[str, Any]) -> P:
    """The record ``cls`` from a validated dict (nested records built too); ``data`` is not kept."""
    nested = _part_fields(cls)
    if nested:
        data = dict(data)
        for name, (sub, many) in nested.items():
            value = data.get(name)
            if many and isinstance(value, list):
                data[name] = [build(sub, v) if isinstance(v, dict) else v for v in value]
            elif isinstance(value, dict):
                data[name] = build(sub, value)
    return cls(**data)


def decode_dict(cls: type[Record], raw: bytes | str | None) -> dict[str, Any]:
    """Parse and validate ``raw`` against ``cls``'s schema; the plain dict, without building the record.

    Stages that work on dicts (the case lifecycle, projections) skip the record
    objects: the checks are the same, the cost per event is a third.
    """
    if raw is None or len(raw) == 0:
        raise DecodeError("empty message: no bytes to read", "empty")
    if len(raw) > MAX_RECORD_BYTES:
        raise DecodeError(f"payload of {len(raw)} bytes exceeds the limit of {MAX_RECORD_BYTES}", "oversize")
    try:
        data = loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DecodeError(f"malformed JSON: {exc}", "malformed_json") from exc
    if not isinstance(data, dict):
        raise DecodeError(f"expected a JSON object, got {type(data).__name__}", "wrong_schema")
    version = data.get("schema_version")
    if version not in READABLE_VERSIONS or isinstance(version, bool):
        raise DecodeError(
            f"unknown schema_version {version!r}: this worker reads {cls.__name__} "
            f"v{', v'.join(map(str, READABLE_VERSIONS))}",
            "unknown_version",
        )
    if version != SCHEMA_VERSION:
        data = upgrade(cls.__name__, data)
    try:
        _validator(cls)(data)
    except fastjsonschema.JsonSchemaValueException as exc:
        raise DecodeError(f"{cls.__name__} does not match its schema: {exc.message}", "wrong_schema") from exc
    return _with_defaults(cls, data)


def _with_defaults(cls: type[Part], data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with every field the sender left out set to the record's default, nested records too."""
    for name, default in _defaults_of(cls).items():
        if name not in data:
            data[name] = copy.copy(default) if isinstance(default, dict | list) else default
    for name, (sub, many) in _part_fields(cls).items():
        value = data.get(name)
        if many and isinstance(value, list):
            data[name] = [_with_defaults(sub, v) if isinstance(v, dict) else v for v in value]
        elif isinstance(value, dict):
            data[name] = _with_defaults(sub, value)
    return data


_DEFAULTS: dict[type[Part], dict[str, Any]] = {}


def _defaults_of(cls: type[Part]) -> dict[str, Any]:
    if cls not in _DEFAULTS:
        _DEFAULTS[cls] = _defaults(cls)
    return _DEFAULTS[cls]


def decode(cls: type[R], raw: bytes | str | None) -> R:
    """Parse and validate ``raw`` as a ``cls`` record, or raise :class:`DecodeError` with the reason."""
    return build(cls, decode_dict(cls, raw))


def decode_own(cls: type[R], raw: bytes | str | None) -> R:
    """A record of a topic only this product writes (``case-state``), read without the schema check.

    The writer built it from a validated record; what is checked is its shape (the record's
    fields, nothing more or less) and its version. A whole case state with its recent events
    took the schema validator 60-80 us, a fifth of the console projection's cost per case.
    """
    if not raw:
        raise DecodeError("empty message: no bytes to read", "empty")
    try:
        data = loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DecodeError(f"malformed JSON: {exc}", "malformed_json") from exc
    if not isinstance(data, dict) or data.get("schema_version") not in READABLE_VERSIONS:
        raise DecodeError(f"not a {cls.__name__} of a version this worker reads", "unknown_version")
    if data["schema_version"] != SCHEMA_VERSION:
        data = upgrade(cls.__name__, data)
    try:
        return build(cls, data)
    except TypeError as exc:
        raise DecodeError(f"{cls.__name__} does not have its fields: {exc}", "wrong_schema") from exc


def to_dict(record: Part) -> dict[str, Any]:
    """Plain-JSON dict of a record, nested records included."""
    return typing.cast(dict[str, Any], loads(dumps(record)))


def encode(record: Part) -> bytes:
    """Bytes of ``record`` as they travel on a topic (UTF-8 JSON)."""
    return dumps(record)


def encode_dict(data: dict[str, Any]) -> bytes:
    """Bytes of a record already held as a dict (the shape :func:`decode_dict` returns)."""
    return dumps(data)


# ------------------------------------------------------------------ version 1 -> 2 ---
def _v1_float(value: Any, default: float = 0.0) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def _v1_int(value: Any, default: int = 0) -> int:
    text = str(value)
    return int(text) if text.isdigit() else default


def _v1_report(detail: dict[str, Any]) -> dict[str, Any] | None:
    if not detail.get("observation_id"):
        return None
    flag = detail.get("has_address")
    return {
        "observation_id": detail["observation_id"],
        "source": detail.get("source", "hotline"),
        "source_id": detail.get("source_id", ""),
        "observed_at": _v1_float(detail.get("observed_at")),
        "ingested_at": _v1_timestamp(_v1_float(detail.get("ingested_at"))),
        "camera_id": detail.get("camera_id", ""),
        "evidence": detail.get("evidence", ""),
        "confidence": _v1_float(detail.get("confidence")),
        "text": detail.get("text", ""),
        "location_precision": detail.get("location_precision", "exact"),
        "has_address": None if flag is None else flag == "True",
        "petition": max(1, _v1_int(detail.get("petition", "1"), 1)),
    }


def _v1_timestamp(value: float) -> float:
    """Version 1 hotline observations stamped ``ingested_at`` in milliseconds: seconds, as every time is."""
    return value / 1000.0 if value > 1e11 else value


def _v1_case_event(data: dict[str, Any]) -> dict[str, Any]:
    detail = data.pop("detail", None) or {}
    data.pop("observation_id", None)
    data.pop("source", None)
    data["command_id"] = detail.get("command_id", "")
    report = _v1_report(detail)
    if report is not None:
        data["report"] = report
    etype = data.get("type")
    if etype == "opened" and detail.get("route_department"):
        data["route"] = {"department": detail["route_department"],
                         "confidence": _v1_float(detail.get("route_confidence")),
                         "source": detail.get("route_source", "")}
    elif etype in ("dispatched", "triaged", "rerouted"):
        data["route"] = {"department": data.get("department", ""), "confidence": _v1_float(detail.get("confidence")),
                         "source": detail.get("source", "triage" if etype == "triaged" else "")}
    elif etype == "assigned" and detail.get("department"):
        data["route"] = {"department": detail["department"], "confidence": 1.0, "source": "operator"}
    for name in ("crew_id", "note", "suggested_department", "by", "why"):
        if detail.get(name):
            data[name] = detail[name]
    if detail.get("deadline"):
        data["deadline"] = _v1_float(detail["deadline"])
    if detail.get("ingested_at") and etype in ("dispatched", "triaged", "rerouted"):
        data["first_ingested_at"] = _v1_timestamp(_v1_float(detail["ingested_at"]))
    return data


def _v1_case_command(data: dict[str, Any]) -> dict[str, Any]:
    detail = data.pop("detail", None) or {}
    for name in ("by", "sla", "violation"):
        if detail.get(name):
            data[name] = detail[name]
    if detail.get("dispatch_no"):
        data["dispatch_no"] = _v1_int(detail["dispatch_no"])
    if isinstance(data.get("observation"), dict):
        data["observation"] = _v1_observation(data["observation"])
    if isinstance(data.get("field"), dict):
        data["field"] = {**data["field"], "schema_version": SCHEMA_VERSION}
    return data


def _v1_observation(data: dict[str, Any]) -> dict[str, Any]:
    labels = dict(data.get("labels") or {})
    if "has_address" in labels:
        data["has_address"] = bool(labels.pop("has_address"))
    if "petition" in labels:
        data["petition"] = max(1, int(labels.pop("petition")))
    labels.pop("reason_confidence", None)
    data["labels"] = labels
    if "ingested_at" in data:
        data["ingested_at"] = _v1_timestamp(_v1_float(data["ingested_at"]))
    data["schema_version"] = SCHEMA_VERSION
    return data


def _v1_case_state(data: dict[str, Any]) -> dict[str, Any]:
    data["recent_events"] = [
        {**_v1_case_event({**ev, "schema_version": 1}), "schema_version": SCHEMA_VERSION}
        for ev in data.get("recent_events") or [] if isinstance(ev, dict)
    ]
    data["first_ingested_at"] = _v1_timestamp(_v1_float(data.get("first_ingested_at")))
    return data


_UPGRADES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "CaseEvent": _v1_case_event,
    "CaseCommand": _v1_case_command,
    "Observation": _v1_observation,
    "CaseState": _v1_case_state,
}


def upgrade(record: str, data: dict[str, Any]) -> dict[str, Any]:
    """A version 1 ``record`` (by class name) in the shape of the current version.

    Version 1 carried route, confidence, address flag and petition count as strings in
    ``detail`` maps (and hotline observations' ``ingested_at`` in milliseconds); version 2
    has typed fields. A record whose shape did not change only gets its new version number.
    """
    step = _UPGRADES.get(record)
    out = step(dict(data)) if step else dict(data)
    out["schema_version"] = SCHEMA_VERSION
    return out


def write_json_schemas(folder: Path = JSON_DIR) -> list[Path]:
    """Regenerate ``schemas/json/*.schema.json`` from the record classes."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for cls in ALL_RECORDS:
        path = folder / f"{cls.__name__}.v{SCHEMA_VERSION}.schema.json"
        path.write_text(json.dumps(json_schema(cls), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(path)
    return written
