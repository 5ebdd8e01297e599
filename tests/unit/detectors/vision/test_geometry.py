"""Zones (point in polygon on the box's ground point) and the ground homography."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from config.models import CameraZone, Homography
from detectors.vision.geometry import GroundProjector, ground_point, point_in_polygon, zone_of

SQUARE = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]
L_SHAPE = [(0, 0), (4, 0), (4, 1), (1, 1), (1, 4), (0, 4)]


@pytest.mark.parametrize(
    ("polygon", "x", "y", "inside"),
    [
        (SQUARE, 0.5, 0.5, True),
        (SQUARE, 1.5, 0.5, False),
        (SQUARE, -0.1, 0.5, False),
        (L_SHAPE, 0.5, 3.5, True),
        (L_SHAPE, 3.5, 0.5, True),
        (L_SHAPE, 2, 2, False),  # in the notch of the L: a concave polygon
    ],
)
def test_point_in_polygon(polygon: list[tuple[float, float]], x: float, y: float, inside: bool) -> None:
    assert point_in_polygon(x, y, polygon) is inside


def test_zone_uses_ground_point_and_kinds() -> None:
    pavement = CameraZone(name="pavement", polygon=[(0, 0.5), (1, 0.5), (1, 1), (0, 1)], kinds=["garbage"])
    facade = CameraZone(name="facade", polygon=[(0, 0), (1, 0), (1, 0.6), (0, 0.6)], kinds=["illegal_ads"])
    zones = [pavement, facade]
    bag_on_pavement = (100, 300, 200, 700)  # a 1000x1000 frame; bottom centre (150, 700)
    assert ground_point(bag_on_pavement) == (150, 700)
    assert zone_of(bag_on_pavement, 1000, 1000, zones, "garbage") == pavement
    assert zone_of(bag_on_pavement, 1000, 1000, zones, "illegal_ads") is None
    sign = (100, 100, 600, 300)
    assert zone_of(sign, 1000, 1000, zones, "illegal_ads") == facade
    assert zone_of(sign, 1000, 1000, zones, "garbage") is None
    assert zone_of(sign, 1000, 1000, [], "garbage") is not None  # no zones: the whole view


def _offset(lat: float, lon: float, north_m: float, east_m: float) -> tuple[float, float]:
    return lat + north_m / 111_320.0, lon + east_m / (111_320.0 * math.cos(math.radians(lat)))


def test_homography_reproduces_known_points() -> None:
    origin = (59.9343, 30.3351)
    # A ground-plane view: pixels -> metres by a known perspective matrix.
    truth = np.array([[0.05, 0.0, -24.0], [0.0, -0.02, 18.0], [0.0, 0.0012, 0.3]])
    pixels = [(120.0, 700.0), (840.0, 700.0), (300.0, 400.0), (660.0, 400.0), (480.0, 550.0)]
    metres = cv2.perspectiveTransform(np.array([pixels]), truth)[0]
    map_points = [_offset(*origin, north, east) for east, north in metres]
    projector = GroundProjector(Homography(image_points=pixels[:4], map_points=map_points[:4]))
    for (x, y), (lat, lon) in zip(pixels, map_points, strict=True):
        got = projector.project(x, y)
        assert got is not None
        error_m = math.hypot((got[0] - lat) * 111_320.0, (got[1] - lon) * 111_320.0 * math.cos(math.radians(lat)))
        assert error_m < 0.05


def test_homography_refuses_points_above_the_horizon() -> None:
    pixels = [(120.0, 700.0), (840.0, 700.0), (300.0, 400.0), (660.0, 400.0)]
    origin = (59.93, 30.33)
    ground = [(-3, 6), (3, 6), (-7, 25), (7, 25)]  # east, north metres: the far pair is narrower in the image
    projector = GroundProjector(Homography(image_points=pixels, map_points=[_offset(*origin, n, e) for e, n in ground]))
    assert projector.project(480, 600) is not None
    assert projector.project(480, 50) is None  # the sky


def test_homography_degenerate_points_are_an_error() -> None:
    with pytest.raises(ValueError):
        GroundProjector(Homography(image_points=[(0, 0), (1, 1), (2, 2), (3, 3)], map_points=[(59.9, 30.3)] * 4))
