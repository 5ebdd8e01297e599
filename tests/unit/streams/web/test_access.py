"""Tokens, roles and access decisions (streams.web.access), without HTTP."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest
import yaml

from streams.web.access import (
    AccessError,
    Principal,
    Role,
    TokenStore,
    can_act_on_task,
    can_read_case,
    can_read_department,
    can_read_reports,
    can_see_alert,
    can_triage,
    hash_token,
    new_token,
    parse_tokens,
    token_entry,
)

A, B = "dept.a", "dept.b"
ADMIN = Principal("root", Role.ADMIN)
OPERATOR = Principal("ops", Role.OPERATOR)
DEPT_A = Principal("a-desk", Role.DEPARTMENT, department=A)
CREW_A = Principal("crew-1", Role.FIELD_CREW, department=A, crew_id="crew-1")


def test_hash_is_sha256_hex_of_the_token() -> None:
    assert hash_token("s3cret") == hashlib.sha256(b"s3cret").hexdigest()
    token = new_token()
    assert len(token) >= 40 and token != new_token()


def test_tokens_file_stores_hashes_and_maps_them_to_principals() -> None:
    data = {"tokens": [token_entry("t-ops", "ops", "operator"), token_entry("t-a", "a", "department", A)]}
    assert all("t-ops" not in str(v) for v in data["tokens"][0].values())
    store = parse_tokens(data, "tokens.yaml", departments=[A, B])
    assert store[hash_token("t-ops")] == Principal("ops", Role.OPERATOR)
    assert store[hash_token("t-a")].department == A


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"name": "x", "role": "boss", "sha256": "0" * 64}, "role must be one of"),
        ({"name": "x", "role": "operator", "sha256": "abc"}, "64 hex digits"),
        ({"name": "x", "role": "department", "sha256": "0" * 64}, "needs a 'department'"),
        ({"name": "x", "role": "department", "department": "nope", "sha256": "0" * 64}, "not in the city"),
        ({"name": "x", "role": "operator", "department": A, "sha256": "0" * 64}, "takes no 'department'"),
        ({"name": "x", "role": "operator", "sha256": "0" * 64, "token": "plain"}, "unknown keys"),
    ],
)
def test_a_bad_tokens_file_names_the_entry_and_the_problem(entry: dict, message: str) -> None:
    with pytest.raises(AccessError, match=message) as info:
        parse_tokens({"tokens": [entry]}, "tokens.yaml", departments=[A])
    assert "tokens.yaml: tokens[0]" in str(info.value)


def test_duplicate_hashes_are_refused() -> None:
    entry = token_entry("same", "one", "admin")
    with pytest.raises(AccessError, match="repeats the hash"):
        parse_tokens({"tokens": [entry, {**entry, "name": "two"}]})


def test_token_store_rereads_a_changed_file(tmp_path: Path) -> None:
    path = tmp_path / "tokens.yaml"
    path.write_text(yaml.safe_dump({"tokens": [token_entry("first", "one", "operator")]}))
    store = TokenStore(path)
    assert store.authenticate("first") == Principal("one", Role.OPERATOR)
    assert store.authenticate("second") is None
    time.sleep(0.01)
    path.write_text(yaml.safe_dump({"tokens": [token_entry("second", "two", "admin")]}))
    assert store.authenticate("second") == Principal("two", Role.ADMIN)
    assert store.authenticate("first") is None


def test_without_a_tokens_path_nobody_is_authenticated() -> None:
    store = TokenStore(None)
    assert not store.configured
    assert store.authenticate("anything") is None


def test_a_department_reads_only_its_own_cases_and_board() -> None:
    case_a, case_b = {"department": A}, {"department": B}
    assert can_read_case(DEPT_A, case_a) and can_read_case(CREW_A, case_a)
    assert not can_read_case(DEPT_A, case_b) and not can_read_case(CREW_A, case_b)
    assert not can_read_case(DEPT_A, {"department": ""})  # unrouted cases belong to the centre
    assert can_read_department(DEPT_A, A) and not can_read_department(DEPT_A, B)
    for city_wide in (ADMIN, OPERATOR):
        assert can_read_case(city_wide, case_b) and can_read_department(city_wide, B)


def test_alerts_follow_the_same_rule() -> None:
    assert can_see_alert(DEPT_A, {"department": A})
    assert not can_see_alert(DEPT_A, {"department": B})
    assert can_see_alert(OPERATOR, {"department": B})


def test_triage_reports_and_actions_by_role() -> None:
    assert can_triage(OPERATOR) and can_triage(ADMIN) and not can_triage(DEPT_A)
    assert can_read_reports(DEPT_A) and not can_read_reports(CREW_A)
    task_a, task_b = {"department": A}, {"department": B}
    assert can_act_on_task(CREW_A, task_a) and can_act_on_task(DEPT_A, task_a)
    assert not can_act_on_task(CREW_A, task_b)
    assert not can_act_on_task(OPERATOR, task_a)
    assert can_act_on_task(ADMIN, task_b)


def test_actor_names_role_and_department() -> None:
    assert CREW_A.actor == "field_crew:crew-1@dept.a"
    assert OPERATOR.actor == "operator:ops"


def test_a_tokens_file_created_or_removed_later_takes_effect(tmp_path: Path) -> None:
    path = tmp_path / "tokens.yaml"
    store = TokenStore(path)
    assert not store.configured and store.authenticate("t") is None
    path.write_text(yaml.safe_dump({"tokens": [token_entry("t", "ops", "operator")]}))
    assert store.configured and store.authenticate("t") == Principal("ops", Role.OPERATOR)
    path.unlink()
    assert not store.configured and store.authenticate("t") is None
