"""Records, their JSON Schema files, and the reasons bad bytes are refused with."""

from __future__ import annotations

import json

import jsonschema
import pytest

from schemas.codec import JSON_DIR, DecodeError, decode, encode, json_schema
from schemas.records import (
    ALL_RECORDS,
    SCHEMA_VERSION,
    CaseCommand,
    CaseEvent,
    CaseState,
    HotlineEvent,
    Observation,
)

T0 = 1_700_000_000.0


@pytest.mark.parametrize("cls", ALL_RECORDS, ids=lambda c: c.__name__)
def test_committed_json_schema_equals_the_record(cls: type) -> None:
    path = JSON_DIR / f"{cls.__name__}.v{SCHEMA_VERSION}.schema.json"
    assert path.exists(), f"run `cityops schemas` to write {path.name}"
    assert json.loads(path.read_text()) == json_schema(cls), f"{path.name} is stale: run `cityops schemas`"
    jsonschema.Draft202012Validator.check_schema(json_schema(cls))


def report(**overrides: object) -> bytes:
    data = {"schema_version": 2, "event_id": "e1", "channel": "phone", "received_at": 1.7e9,
            "text": "Мусор во дворе", "lat": 59.93, "lon": 30.31}
    data.update(overrides)
    return json.dumps(data, ensure_ascii=False).encode()


def test_round_trip_with_nested_record() -> None:
    obs = Observation(observation_id="o", source="camera", source_id="f", observed_at=T0,
                      ingested_at=T0 + 1, kind="garbage", category="c", lat=1.0, lon=2.0, district="d", confidence=0.5,
                      bbox=[1.0, 2.0, 3.0, 4.0])
    cmd = CaseCommand(command_id="x", case_id="C", type="attach", at=T0 + 2, observation=obs)
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
        (json.dumps({"schema_version": 2, "event_id": "e"}).encode(), "wrong_schema", "must contain"),
        (report(received_at=0), "wrong_schema", "received_at"),
        (report(received_at=1.7e12), "wrong_schema", "received_at"),  # milliseconds, not seconds
        (report(received_at=4.2e9), "wrong_schema", "received_at"),  # after 2100
        (report(received_at=1e300), "wrong_schema", "received_at"),
        (report(schema_version=True), "unknown_version", "unknown schema_version"),
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


V1_OPENED = {
    "schema_version": 1, "event_id": "C-1:1", "case_id": "C-1", "type": "opened", "at": T0, "status": "new",
    "kind": "general", "category": "c.x", "district": "d", "lat": 59.9, "lon": 30.3, "priority": "normal",
    "reports": 1, "observation_id": "", "source": "",
    "detail": {"command_id": "attach:hotline:7", "observation_id": "hotline:7", "source": "hotline",
               "observed_at": str(T0 - 5), "ingested_at": str((T0 - 2) * 1000), "confidence": "0.81",
               "text": "лифт", "location_precision": "address", "has_address": "True", "petition": "2",
               "route_department": "org.a", "route_confidence": "0.93", "route_source": "model"},
}


def test_a_version_1_case_event_is_read_with_typed_fields() -> None:
    ev = decode(CaseEvent, json.dumps(V1_OPENED, ensure_ascii=False).encode())
    assert ev.schema_version == SCHEMA_VERSION and ev.command_id == "attach:hotline:7"
    assert ev.report is not None and ev.report.has_address is True and ev.report.petition == 2
    assert ev.report.ingested_at == T0 - 2  # version 1 hotline stamps were milliseconds
    assert ev.report.confidence == 0.81 and ev.report.location_precision == "address"
    assert ev.route is not None and (ev.route.department, ev.route.confidence) == ("org.a", 0.93)


def test_a_version_1_count_that_is_no_whole_number_reads_as_a_first_petition() -> None:
    odd = {**V1_OPENED, "detail": {**V1_OPENED["detail"], "petition": "2.5"}}
    ev = decode(CaseEvent, json.dumps(odd).encode())
    assert ev.report is not None and ev.report.petition == 1


def test_version_1_commands_observations_and_states_are_read() -> None:
    obs = {"schema_version": 1, "observation_id": "hotline:7", "source": "hotline", "source_id": "7",
           "observed_at": T0, "ingested_at": T0 * 1000, "kind": "general", "category": "c.x", "lat": 59.9,
           "lon": 30.3, "district": "d", "confidence": 0.9,
           "labels": {"reason_confidence": 0.5, "has_address": 0.0, "petition": 3.0}}
    read = decode(Observation, json.dumps(obs).encode())
    assert (read.has_address, read.petition, read.ingested_at, read.labels) == (False, 3, T0, {})
    cmd = {"schema_version": 1, "command_id": "dispatch:C-1:2", "case_id": "C-1", "type": "dispatched", "at": T0,
           "department": "org.a", "confidence": 0.9, "route_source": "model", "detail": {"dispatch_no": "2"}}
    assert decode(CaseCommand, json.dumps(cmd).encode()).dispatch_no == 2
    sla = {**cmd, "type": "sla", "command_id": "sla:x", "detail": {"sla": "escalate"}}
    assert decode(CaseCommand, json.dumps(sla).encode()).sla == "escalate"
    state = {"schema_version": 1, "case_id": "C-1", "status": "new", "kind": "general", "category": "c.x",
             "district": "d", "lat": 59.9, "lon": 30.3, "opened_at": T0, "first_observed_at": T0,
             "first_ingested_at": T0 * 1000, "last_observed_at": T0, "recent_events": [V1_OPENED]}
    restored = decode(CaseState, json.dumps(state, ensure_ascii=False).encode())
    assert restored.first_ingested_at == T0
    assert restored.recent_events[0].report is not None and restored.recent_events[0].report.petition == 2


@pytest.mark.parametrize("cls", ALL_RECORDS, ids=lambda c: c.__name__)
def test_the_version_1_schema_of_each_older_record_stays_published(cls: type) -> None:
    """Producers of version 1 keep a contract to read; CaseState had no record before version 2."""
    path = JSON_DIR / f"{cls.__name__}.v1.schema.json"
    assert path.exists() == (cls is not CaseState)


def test_a_record_of_our_own_topic_is_read_by_its_shape() -> None:
    from schemas.codec import decode_own

    state = CaseState(case_id="C-1", status="new", kind="general", category="c.x", district="d", lat=1.0, lon=2.0,
                      opened_at=T0, first_observed_at=T0, first_ingested_at=T0, last_observed_at=T0,
                      recent_events=[decode(CaseEvent, json.dumps({**V1_OPENED}, ensure_ascii=False).encode())])
    assert decode_own(CaseState, encode(state)) == state
    v1 = {**json.loads(encode(state)), "schema_version": 1, "recent_events": [V1_OPENED]}
    assert decode_own(CaseState, json.dumps(v1, ensure_ascii=False).encode()) == state  # old versions upgraded
    for raw, error_type in ((b"", "empty"), (b"{oops", "malformed_json"), (b'{"schema_version": 9}', "unknown_version"),
                            (json.dumps({**json.loads(encode(state)), "extra": 1}).encode(), "wrong_schema")):
        with pytest.raises(DecodeError) as err:
            decode_own(CaseState, raw)
        assert err.value.error_type == error_type
