"""Any CSV / JSON lines described by a columns file."""

from __future__ import annotations

import gzip
import json

import pytest

from config.history import ColumnsFormat, HistoryError, history_format, load_columns
from config.history.mapping import HistorySource

CSV = """key,when,type,detail,cat,agency,lat,lon,area,kz,ru
a1,2024-03-01 08:00:00,Noise,Loud music,Quality of life,Police,40.7,-73.9,North,Қоқыс,Мусор
a2,2024-03-02 09:00:00,Noise,,Quality of life,Police,0,0,,,Мусор
"""


def _columns(tmp_path, text):
    path = tmp_path / "columns.yaml"
    path.write_text(text)
    return load_columns(path)


def test_columns_are_read_joined_and_zero_is_no_place(tmp_path):
    cols = _columns(tmp_path, "format: csv\nid: key\ncreated: when\ntext: [type, detail]\ntaxonomy: [cat, type]\n"
                              "department: agency\nlat: lat\nlon: lon\ndistrict: area\n")  # fmt: skip
    (tmp_path / "h.csv.gz").write_bytes(gzip.compress(CSV.encode()))
    first, second = list(ColumnsFormat(cols).read(tmp_path / "h.csv.gz"))
    assert (first.id, first.text, first.levels, first.department) == ("a1", "Noise. Loud music",
                                                                      ("Quality of life", "Noise"), "Police")
    assert (first.lat, first.lon, first.district) == (40.7, -73.9, "North")
    assert second.text == "Noise" and second.lat is None and second.district == ""


def test_text_variants_make_one_record_per_language_and_file_order_stands_in_for_time(tmp_path):
    cols = _columns(tmp_path, "id: key\ntext_variants: [kz, ru]\ntaxonomy: cat\n")
    (tmp_path / "h.csv").write_text(CSV)
    records = list(ColumnsFormat(cols).read(tmp_path / "h.csv"))
    assert [(r.id, r.text, r.twin) for r in records] == [("a1:kz", "Қоқыс", "a1"), ("a1:ru", "Мусор", "a1"),
                                                         ("a2:ru", "Мусор", "a2")]
    assert records[0].created < records[2].created


def test_json_lines_and_a_source_pick_the_columns_adapter(tmp_path):
    (tmp_path / "h.jsonl").write_text(json.dumps({"n": 1, "t": 1700000000, "msg": "Hi", "c": "X"}) + "\n")
    cols = _columns(tmp_path, "format: jsonl\nid: n\ncreated: t\ntext: msg\ntaxonomy: c\n")
    fmt = history_format(HistorySource(format="columns", columns=cols), tmp_path / "h.jsonl")
    (rec,) = list(fmt.read(tmp_path / "h.jsonl"))
    assert rec.created.year == 2023 and rec.text == "Hi" and rec.levels == ("X",)


def test_mistakes_are_named(tmp_path):
    with pytest.raises(HistoryError, match=r"columns\.yaml: colour"):
        _columns(tmp_path, "created: when\ncolour: red\n")
    with pytest.raises(HistoryError, match="not both"):
        _columns(tmp_path, "created: when\ntext: a\ntext_variants: [b, c]\n")
    (tmp_path / "h.csv").write_text(CSV)
    cols = _columns(tmp_path, "created: when\ntext: complaint\n")
    with pytest.raises(HistoryError, match=r"names \['complaint'\], which the file lacks"):
        list(ColumnsFormat(cols).read(tmp_path / "h.csv"))
    with pytest.raises(HistoryError, match="no known format"):
        history_format(None, tmp_path / "h.csv")
