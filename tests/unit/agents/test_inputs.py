"""Inputs that pass their schema but cannot be used: empty-looking text, future times, foreign ids, unknown places."""

from __future__ import annotations

import time

from agents.cases.merge import check_observation
from agents.field import check_update
from agents.hotline import check_report
from agents.logic.inputs import future_time, visible_text
from config import load_city
from schemas.records import FieldUpdate, HotlineEvent, Observation, fitted_id

CITY = load_city("spb")
NOW = time.time()


def report(**overrides: object) -> HotlineEvent:
    fields: dict = {"event_id": "e1", "channel": "phone", "received_at": NOW - 10, "text": "Мусор во дворе"}
    fields.update(overrides)
    return HotlineEvent(**fields)


def test_text_of_only_invisible_characters_is_empty() -> None:
    assert visible_text("\u200b\u200c\u200d\ufeff\u2060 \u200e") == ""
    assert visible_text("\u200bмусор\u200d") == "мусор"
    assert "invisible" in check_report(report(text="\u200b\u200b\u200d"), NOW, 300)
    assert check_report(report(text="垃圾没人清理"), NOW, 300) == ""


def test_a_time_beyond_the_clock_skew_is_refused() -> None:
    assert future_time("at", NOW + 299, NOW, 300) == ""
    assert "in the future" in future_time("at", NOW + 301, NOW, 300)
    assert "received_at" in check_report(report(received_at=NOW + 3600), NOW, 300)


def test_a_field_update_must_name_a_task_of_its_own_case_and_a_time_not_ahead() -> None:
    departments = frozenset(d.id for d in CITY.departments)
    dept = CITY.departments[0].id
    ok = FieldUpdate(update_id="u1", case_id="C-1", task_id="C-1/1", action="resolve", at=NOW, department=dept)
    assert check_update(ok, departments, NOW, 300) == ""
    other = FieldUpdate(update_id="u2", case_id="C-1", task_id="C-2/1", action="resolve", at=NOW, department=dept)
    assert "not a task of case" in check_update(other, departments, NOW, 300)
    ahead = FieldUpdate(update_id="u3", case_id="C-1", task_id="C-1/1", action="start", at=NOW + 7200,
                        department=dept)
    assert "in the future" in check_update(ahead, departments, NOW, 300)


def observation(**overrides: object) -> Observation:
    fields: dict = {"observation_id": "o1", "source": "camera", "source_id": "f1", "observed_at": NOW - 5,
                    "ingested_at": NOW, "kind": "garbage", "category": "garbage_bag", "lat": 59.93, "lon": 30.33,
                    "district": "tsentralnyy", "confidence": 0.8}
    fields.update(overrides)
    return Observation(**fields)


def test_an_observation_of_an_unknown_kind_or_district_opens_no_case() -> None:
    assert check_observation(observation(), CITY, NOW, 300) == ""
    assert "unknown case kind" in check_observation(observation(kind="meteor"), CITY, NOW, 300)
    assert "unknown district" in check_observation(observation(district="nowhere"), CITY, NOW, 300)
    assert "unknown district" in check_observation(observation(district=""), CITY, NOW, 300)


def test_derived_ids_always_fit_and_stay_the_same() -> None:
    long_id = "e" * 193
    derived = fitted_id(f"hotline:{long_id}")
    assert len(derived) == 200 and derived == fitted_id(f"hotline:{long_id}")
    assert fitted_id(f"hotline:{'e' * 192}") == f"hotline:{'e' * 192}"  # what fits is kept whole
    assert fitted_id(f"hotline:{long_id}x") != derived
