"""What the console's people read: human labels, each report's own time, addresses, task cards, suggestions."""

from __future__ import annotations

from config import load_city
from detectors.text import Router, load_router
from streams.web import workbench

CITY = load_city("spb")
NOW = 1_700_000_000.0


def test_every_raw_id_has_the_citys_word_for_it() -> None:
    labels = workbench.city_labels(CITY)
    assert labels["garbage_bag"] == labels["garbage"] == "Мусор / exposed garbage"  # a vision class: its kind
    assert labels["cantilever"] == labels["illegal_ads"]
    assert labels["nevskiy"] == "Невский"
    assert labels["org.spb_gku_zha_nevskogo_rayona"] == "СПб ГКУ ЖА Невского района"
    assert labels["cam-nevsky-gostiny"] == "Невский пр. / Гостиный двор"
    assert labels["triage"] == "Triage queue"


def test_a_report_keeps_its_own_time_not_the_merge_time() -> None:
    assert workbench.observation_time({"at": NOW, "observed_at": str(NOW - 3600)}) == NOW - 3600
    assert workbench.observation_time({"at": NOW}) == NOW
    assert workbench.observation_time({"at": "x", "observed_at": ""}) == 0.0
    view = workbench.case_view({"case_id": "C1", "observations": [
        {"at": NOW, "observed_at": str(NOW - 60), "source": "camera", "camera_id": "cam-sennaya"},
        {"at": NOW, "observed_at": str(NOW - 600), "source": "hotline"}]}, CITY)
    assert [o["reported_at"] for o in view["observations"]] == [NOW - 600, NOW - 60]
    assert view["observations"][1]["camera_name"] == "Сенная площадь"


def test_the_address_is_the_reporters_then_the_cameras_then_the_district() -> None:
    written = {"observations": [{"source": "hotline"}, {"address": "Невский пр., 30"}], "district": "nevskiy"}
    assert workbench.address_of(written, CITY) == "Невский пр., 30"
    camera = {"observations": [{"camera_id": "cam-sennaya"}], "district": "admiralteyskiy"}
    assert workbench.address_of(camera, CITY) == "camera: Сенная площадь"
    nowhere = {"district": "nevskiy", "lat": 59.9, "lon": 30.4}
    assert workbench.address_of(nowhere, CITY) == "Невский, 59.90000, 30.40000"


def test_task_cards_carry_text_address_photo_and_overdue_ones_come_first() -> None:
    doc = {"text": "Мусор во дворе " * 40, "observations": [{"evidence": "camera:x:1", "address": "ул. Ленина, 1"}]}
    late = workbench.task_card({"task_id": "T1", "sla_deadline": NOW - 10, "status": "open"}, doc, CITY, NOW)
    assert late["overdue"] and late["address"] == "ул. Ленина, 1" and late["photo"] == "camera:x:1"
    assert len(late["summary"]) == workbench.SUMMARY_CHARS
    soon = workbench.task_card({"task_id": "T2", "sla_deadline": NOW + 60, "summary": "own"}, doc, CITY, NOW)
    later = workbench.task_card({"task_id": "T3", "sla_deadline": NOW + 600}, None, CITY, NOW)
    done = workbench.task_card({"task_id": "T4", "sla_deadline": NOW - 99, "status": "resolved"}, doc, CITY, NOW)
    assert soon["summary"] == "own" and later["address"] == "" and not done["overdue"]
    dismissed = workbench.task_card({"task_id": "T5", "sla_deadline": NOW - 10, "status": "open"},
                                    {**doc, "status": "closed", "close_reason": "false_positive"}, CITY, NOW)
    assert dismissed["case_closed"] and not dismissed["overdue"] and dismissed["close_reason"] == "false_positive"
    order = workbench.sort_board([later, done, soon, late])
    assert [t["task_id"] for t in order] == ["T1", "T4", "T2", "T3"]


def test_suggestions_are_the_models_top_departments_most_likely_first() -> None:
    doc = {"case_id": "C1", "kind": "garbage", "category": "c.sanitarnoe_sostoyanie", "reason": "",
           "district": "nevskiy", "text": "Во дворе не вывозят мусор, контейнеры переполнены", "lat": 59.9,
           "lon": 30.4, "observations": [{"location_precision": "address", "has_address": "True"}]}
    (picks,) = workbench.suggestions(load_router(CITY), [doc], CITY)
    names = {d.id: d.name for d in CITY.departments}
    assert len(picks) == 3 and all(p["name"] == names[p["department"]] for p in picks)
    confidences = [p["confidence"] for p in picks]
    assert confidences == sorted(confidences, reverse=True) and 0 < confidences[0] <= 1
    assert workbench.suggestions(load_router(CITY), [], CITY) == []


def test_without_a_model_the_first_departments_are_offered_evenly() -> None:
    (picks,) = workbench.suggestions(Router(CITY, None, None), [{"case_id": "C1"}], CITY)
    assert [p["department"] for p in picks] == [d.id for d in CITY.departments[:3]]
    assert len({p["confidence"] for p in picks}) == 1
