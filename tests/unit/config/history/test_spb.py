"""St Petersburg appeals adapter: fields, ids as config/cities/spb was generated, bad rows named."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from config.history import HistoryError, history_format
from config.history.spb import SpbAppeals

ROW = {"id": 7, "created": "2021-02-12 10:00:00.5", "text": "Яма во дворе", "lat": "59.9", "lon": 30.3,
       "address": "", "district": "Невский", "city_object": "Двор", "category": "Дороги",
       "reason": "Яма", "executor": "ГКУ ЖА", "n_petitions": "3"}  # fmt: skip


def test_a_row_becomes_a_record():
    rec = SpbAppeals().record(ROW)
    assert rec.id == "7" and rec.created == datetime(2021, 2, 12, 10, 0, 0, 500000)
    assert (rec.lat, rec.lon, rec.district) == (59.9, 30.3, "Невский")
    assert rec.levels == ("Двор", "Дороги", "Яма") and rec.department == "ГКУ ЖА" and rec.petition == 3


def test_missing_or_bad_petition_count_is_one():
    assert SpbAppeals().record({**ROW, "n_petitions": None}).petition == 1
    assert SpbAppeals().record({**ROW, "n_petitions": "x"}).petition == 1


def test_ids_follow_the_generated_city():
    fmt = SpbAppeals()
    ids = fmt.node_ids([("Двор",), ("Двор", "Дороги"), ("Двор", "Дороги", "Яма")])
    assert list(ids.values()) == ["o.dvor", "c.dorogi", "r.yama"]
    assert fmt.department_id("ГКУ ЖА") == "org.gku_zha" and fmt.district_id("Невский") == "nevskiy"


def test_the_format_is_recognised_and_a_bad_row_is_named(tmp_path):
    path = tmp_path / "appeals.jsonl"
    path.write_text(json.dumps(ROW, ensure_ascii=False) + "\n" + json.dumps({**ROW, "created": "soon"}) + "\n")
    fmt = history_format(None, path)
    assert fmt.name == "spb"
    with pytest.raises(HistoryError, match=r"appeals.jsonl:2: not a spb row"):
        list(fmt.read(path))
