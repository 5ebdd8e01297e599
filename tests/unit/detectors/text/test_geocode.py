"""Addresses normalise alike; placement falls back exact -> address -> district -> city centre."""

from __future__ import annotations

import numpy as np
import pytest

from config import load_city
from detectors.text.geocode import DistrictGrid, Gazetteer, Geocoder, address_key


@pytest.mark.parametrize(
    "address",
    [
        "г.Санкт-Петербург, Мебельная улица, дом 47, корпус 1, литера А",
        "ул. Мебельная, д. 47 к. 1",
        "Мебельная ул 47 к1",
        "мебельная улица, дом 47, корп. 1",
    ],
)
def test_spellings_of_one_address_agree(address):
    assert address_key(address) == ("", "мебельная ул", "47к1")


def test_locality_street_types_and_english_addresses():
    assert address_key("город Колпино, улица Машиностроителей, дом 12, литера А") == (
        "колпино",
        "машиностроителей ул",
        "12",
    )
    assert address_key("Невский пр-т, д.28")[1:] == ("невский пр", "28")
    assert address_key("952 EAST 58 STREET")[1:] == address_key("952 E 58th St")[1:]
    assert address_key("") == ("", "", "")


@pytest.fixture()
def geocoder():
    city = load_city("spb")
    gazetteer = Gazetteer.build(
        [
            "г.Санкт-Петербург, Мебельная улица, дом 47, корпус 1, литера А",
            "г.Санкт-Петербург, Мебельная улица, дом 41",
        ],
        [59.9943, 59.9930],
        [30.1971, 30.2001],
    )
    points = {d.id: (d.center.lat, d.center.lon) for d in city.districts}
    ids = list(points)
    lats = np.array([points[d][0] for d in ids] * 3)
    lons = np.array([points[d][1] for d in ids] * 3)
    grid = DistrictGrid.build(ids, lats, lons, ids * 3)
    return Geocoder(city, gazetteer, grid), city


def test_precision_fallbacks(geocoder):
    geo, city = geocoder
    primorskiy = next(d for d in city.districts if d.id == "primorskiy")
    places = geo.place(
        [59.99, None, None, None, None, float("nan")],
        [30.20, None, None, None, None, 30.0],
        ["", "ул. Мебельная, д. 47 к. 1", "Мебельная улица, 42", "нет такой улицы 1", "", ""],
        ["", "", "", "Приморский", "", "primorskiy"],
    )
    assert [p.precision for p in places] == ["exact", "address", "address", "district", "city", "district"]
    assert (places[0].lat, places[0].lon) == (59.99, 30.20)
    assert places[1].lat == pytest.approx(59.9943, abs=1e-4)
    assert places[2].lat == pytest.approx(59.9930, abs=1e-4)  # nearest known house on the street
    assert (places[3].lat, places[3].lon, places[3].district) == (
        primorskiy.center.lat,
        primorskiy.center.lon,
        "primorskiy",
    )
    assert places[4].district == "" and places[4].lat == city.city.center.lat


def test_point_to_district(geocoder):
    geo, city = geocoder
    for district in city.districts:
        assert geo.grid.locate(np.array([district.center.lat]), np.array([district.center.lon])) == [district.id]
    far = geo.grid.locate(np.array([59.0]), np.array([29.0]))  # outside every cell: nearest one
    assert far[0] in {d.id for d in city.districts}
