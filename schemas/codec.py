"""Bytes on a topic <-> records, with a readable reason when the bytes are unusable.

Every stage reads raw bytes and calls :func:`decode`; a :class:`DecodeError`
carries the reason that goes to the dead-letter topic with the original bytes.
The JSON Schema used for validation is generated from the record classes in
:mod:`schemas.records`, so the files under ``schemas/json/`` and the checks the
code makes cannot drift apart.
"""

import copy
import json
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import fastjsonschema
import faust
import orjson

from schemas.records import ALL_RECORDS, FIELD_RULES, SCHEMA_VERSION

__all__ = [
    "JSON_DIR",
    "MAX_RECORD_BYTES",
    "DecodeError",
    "decode",
    "decode_dict",
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

R = TypeVar("R", bound=faust.Record)

_ORJSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY  # non-string keys (rare; the option halves the speed) take the fallback


def dumps(data: Any) -> bytes:
    """Compact UTF-8 JSON of ``data``, as every topic and Redis view stores it.

    orjson: about ten times the standard library's speed (JSON was the largest cost per
    event on the case stage). What orjson refuses (a non-string key, an integer over 64 bits, a custom type) falls
    back to the standard encoder, so nothing that encoded before fails now.
    """
    try:
        return orjson.dumps(data, option=_ORJSON_OPTIONS)
    except TypeError:
        return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


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
    if isinstance(tp, type) and issubclass(tp, faust.Record):
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
    if optional:
        schema = {"anyOf": [schema, {"type": "null"}]}
    return schema


def _record_schema(cls: type[faust.Record]) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    fields = cls._options.fields
    defaults = cls._options.defaults
    rules = FIELD_RULES.get(cls.__name__, {})
    props: dict[str, Any] = {}
    for name in fields:
        prop = _type_schema(hints[name])
        prop.update(rules.get(name, {}))
        props[name] = prop
    props["schema_version"] = {"const": SCHEMA_VERSION}
    return {
        "type": "object",
        "description": (cls.__doc__ or "").strip().splitlines()[0],
        "properties": props,
        "required": [n for n in fields if n not in defaults],
        "additionalProperties": False,
    }


def _nested(cls: type[faust.Record], seen: dict[str, type[faust.Record]]) -> None:
    for tp in typing.get_type_hints(cls).values():
        inner, _ = _unwrap_optional(tp)
        if isinstance(inner, type) and issubclass(inner, faust.Record) and inner.__name__ not in seen:
            seen[inner.__name__] = inner
            _nested(inner, seen)


_SCHEMAS: dict[type[faust.Record], dict[str, Any]] = {}
_VALIDATORS: dict[type[faust.Record], Any] = {}
_NESTED: dict[type[faust.Record], dict[str, type[faust.Record]]] = {}


def json_schema(cls: type[faust.Record]) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one record class, nested records under ``$defs``."""
    if cls in _SCHEMAS:
        return _SCHEMAS[cls]
    schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://cityops.dev/schemas/v{SCHEMA_VERSION}/{cls.__name__}.json",
        "title": cls.__name__,
        **_record_schema(cls),
    }
    nested: dict[str, type[faust.Record]] = {}
    _nested(cls, nested)
    if nested:
        schema["$defs"] = {name: _record_schema(sub) for name, sub in sorted(nested.items())}
    _SCHEMAS[cls] = schema
    return schema


def _validator(cls: type[faust.Record]) -> Any:
    if cls not in _VALIDATORS:
        _VALIDATORS[cls] = fastjsonschema.compile(json_schema(cls))
    return _VALIDATORS[cls]


def _record_fields(cls: type[faust.Record]) -> dict[str, type[faust.Record]]:
    """Fields of ``cls`` that hold a nested record, with that record's class."""
    if cls not in _NESTED:
        nested = {}
        for name, tp in typing.get_type_hints(cls).items():
            inner, _ = _unwrap_optional(tp)
            if isinstance(inner, type) and issubclass(inner, faust.Record):
                nested[name] = inner
        _NESTED[cls] = nested
    return _NESTED[cls]


def _build(cls: type[R], data: dict[str, Any]) -> R:
    for name, sub in _record_fields(cls).items():
        value = data.get(name)
        if isinstance(value, dict):
            data[name] = _build(sub, dict(value))
    return cls(**data)


def decode_dict(cls: type[faust.Record], raw: bytes | str | None) -> dict[str, Any]:
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
    if version != SCHEMA_VERSION:
        raise DecodeError(
            f"unknown schema_version {version!r}: this worker reads {cls.__name__} v{SCHEMA_VERSION}",
            "unknown_version",
        )
    try:
        _validator(cls)(data)
    except fastjsonschema.JsonSchemaValueException as exc:
        raise DecodeError(f"{cls.__name__} does not match its schema: {exc.message}", "wrong_schema") from exc
    return _with_defaults(cls, data)


def _with_defaults(cls: type[faust.Record], data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with every field the sender left out set to the record's default, nested records too."""
    for name, default in cls._options.defaults.items():
        if name not in data:
            data[name] = copy.copy(default) if isinstance(default, dict | list) else default
    for name, sub in _record_fields(cls).items():
        value = data.get(name)
        if isinstance(value, dict):
            data[name] = _with_defaults(sub, value)
    return data


def decode(cls: type[R], raw: bytes | str | None) -> R:
    """Parse and validate ``raw`` as a ``cls`` record, or raise :class:`DecodeError` with the reason."""
    return _build(cls, decode_dict(cls, raw))


def to_dict(record: faust.Record) -> dict[str, Any]:
    """Plain-JSON dict of a record, nested records included, without faust's type tags."""
    out: dict[str, Any] = {}
    for name in record._options.fields:
        value = getattr(record, name)
        out[name] = to_dict(value) if isinstance(value, faust.Record) else value
    return out


def encode(record: faust.Record) -> bytes:
    """Bytes of ``record`` as they travel on a topic (UTF-8 JSON, no faust tags)."""
    return encode_dict(to_dict(record))


def encode_dict(data: dict[str, Any]) -> bytes:
    """Bytes of a record already held as a dict (the shape :func:`decode_dict` returns)."""
    return dumps(data)


def write_json_schemas(folder: Path = JSON_DIR) -> list[Path]:
    """Regenerate ``schemas/json/*.schema.json`` from the record classes."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for cls in ALL_RECORDS:
        path = folder / f"{cls.__name__}.v{SCHEMA_VERSION}.schema.json"
        path.write_text(json.dumps(json_schema(cls), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(path)
    return written
