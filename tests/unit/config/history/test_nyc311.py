"""NYC 311 adapter: text from descriptor and place, path-named descriptors, duplicates marked."""

from __future__ import annotations

from config.history.nyc311 import Nyc311

ROW = {"unique_key": "1", "created_date": "12/25/2013 12:00:00 AM", "complaint_type": "HEATING",
       "descriptor": "HEAT", "location_type": "RESIDENTIAL BUILDING", "agency": "HPD",
       "agency_name": "Housing Preservation", "borough": "BRONX", "latitude": "40.8", "longitude": "",
       "resolution_description": "This is a DUPLICATE of an existing request."}  # fmt: skip


def test_a_row_becomes_a_record():
    rec = Nyc311().record(ROW)
    assert rec.text == "HEAT. RESIDENTIAL BUILDING" and rec.created.year == 2013 and rec.created.hour == 0
    assert rec.lat is None and rec.lon is None  # one coordinate without the other places nothing
    assert rec.levels == ("HEATING", "HEAT")
    assert (rec.department, rec.department_name) == ("HPD", "Housing Preservation")
    assert rec.duplicate and rec.district == "BRONX"
    assert Nyc311().record({**ROW, "borough": "Unspecified"}).district == ""


def test_descriptors_are_named_by_their_path_and_spellings_merge():
    fmt = Nyc311()
    ids = fmt.node_ids([("PLUMBING",), ("Plumbing",), ("PLUMBING", "Leak"), ("WATER SYSTEM", "Leak")])
    assert ids[("PLUMBING",)] == ids[("Plumbing",)] == "c.plumbing"
    assert ids[("PLUMBING", "Leak")] != ids[("WATER SYSTEM", "Leak")]
    assert not fmt.labels_identify_nodes and fmt.district_name("STATEN ISLAND") == "Staten Island"
