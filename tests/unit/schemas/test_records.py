"""Records, their JSON Schema files, and the reasons bad bytes are refused with."""

from __future__ import annotations

import json

import jsonschema
import pytest

from schemas.codec import JSON_DIR, DecodeError, decode, encode, json_schema
from schemas.records import ALL_RECORDS, SCHEMA_VERSION, CaseCommand, HotlineEvent, Observation


@pytest.mark.parametrize("cls", ALL_RECORDS, ids=lambda c: c.__name__)
def test_committed_json_schema_equals_the_record(cls: type) -> None:
    path = JSON_DIR / f"{cls.__name__}.v{SCHEMA_VERSION}.schema.json"
    assert path.exists(), f"run `cityops schemas` to write {path.name}"
    assert json.loads(path.read_text()) == json_schema(cls), f"{path.name} is stale: run `cityops schemas`"
    jsonschema.Draft202012Validator.check_schema(json_schema(cls))


def report(**overrides: object) -> bytes:
    data = {"schema_version": 1, "event_id": "e1", "channel": "phone", "received_at": 1.7e9,
            "text": "Мусор во дворе", "lat": 59.93, "lon": 30.31}
    data.update(overrides)
    return json.dumps(data, ensure_ascii=False).encode()


def test_round_trip_with_nested_record() -> None:
    obs = Observation(schema_version=1, observation_id="o", source="camera", source_id="f", observed_at=1.0,
                      ingested_at=2.0, kind="garbage", category="c", lat=1.0, lon=2.0, district="d", confidence=0.5,
                      bbox=[1.0, 2.0, 3.0, 4.0])
    cmd = CaseCommand(schema_version=1, command_id="x", case_id="C", type="attach", at=3.0, observation=obs)
    back = decode(CaseCommand, encode(cmd))
    assert isinstance(back.observation, Observation) and back.observation.bbox == [1.0, 2.0, 3.0, 4.0]
    assert back == cmd


@pytest.mark.parametrize(
    ("raw", "error_type", "fragment"),
    [
        (b"{not json", "malformed_json", "malformed JSON"),
        (b"", "empty", "empty"),
        (b"[1, 2]", "wrong_schema", "JSON object"),
        (report(schema_version=7), "unknown_version", "unknown schema_version 7"),
        (report(text=""), "wrong_schema", "text"),
        (report(lat=123.0), "wrong_schema", "lat"),
        (report(lon=-200), "wrong_schema", "lon"),
        (report(received_at="yesterday"), "wrong_schema", "received_at"),
        (report(channel="pigeon"), "wrong_schema", "channel"),
        (report(unexpected=1), "wrong_schema", "unexpected"),
        (json.dumps({"schema_version": 1, "event_id": "e"}).encode(), "wrong_schema", "must contain"),
        (b"\xff\xfe\x00garbage", "malformed_json", "malformed"),
        (b"x" * 6_000_001, "oversize", "exceeds"),
    ],
)
def test_bad_bytes_are_refused_with_a_reason(raw: bytes, error_type: str, fragment: str) -> None:
    with pytest.raises(DecodeError) as err:
        decode(HotlineEvent, raw)
    assert err.value.error_type == error_type
    assert fragment in err.value.reason


def test_any_script_is_fine() -> None:
    for text in ("垃圾没人清理", "Мусор", "🗑️ overflowing", "قمامة", "ゴミ"):
        assert decode(HotlineEvent, report(text=text)).text == text
