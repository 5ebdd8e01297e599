"""Where a detection is: inside which zone of the camera's view, and where on the map.

Zones are polygons in normalised image coordinates (0..1), so they survive a
change of stream resolution. The ground point of a box is its bottom centre:
where an object touches the pavement, the point a homography can map to the
ground plane and so to latitude/longitude.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from config.models import Camera, CameraZone, Homography

__all__ = [
    "GroundProjector",
    "camera_projector",
    "ground_point",
    "point_in_polygon",
    "zone_of",
]


def point_in_polygon(x: float, y: float, polygon: Sequence[tuple[float, float]]) -> bool:
    """Whether ``(x, y)`` lies inside ``polygon`` (even-odd ray casting; edge points may go either way)."""
    inside = False
    n = len(polygon)
    for i in range(n):
        x1, y1 = polygon[i]
        x2, y2 = polygon[(i + 1) % n]
        if (y1 > y) != (y2 > y):
            x_cross = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
            if x < x_cross:
                inside = not inside
    return inside


def ground_point(box: Sequence[float]) -> tuple[float, float]:
    """Bottom centre of an xyxy box."""
    return (float(box[0]) + float(box[2])) / 2.0, float(box[3])


def zone_of(box: Sequence[float], width: int, height: int, zones: Sequence[CameraZone], kind: str) -> CameraZone | None:
    """The first zone watching ``kind`` that holds the box's ground point; ``None`` if none does.

    A camera with no zones watches its whole view (a synthetic zone named ``view``).
    """
    if not zones:
        return CameraZone(name="view", polygon=[(0, 0), (1, 0), (1, 1), (0, 1)], kinds=[])
    x, y = ground_point(box)
    nx, ny = x / max(width, 1), y / max(height, 1)
    for zone in zones:
        if (not zone.kinds or kind in zone.kinds) and point_in_polygon(nx, ny, zone.polygon):
            return zone
    return None


class GroundProjector:
    """Image pixels -> latitude/longitude through the camera's ground-plane homography.

    The homography is fitted (``cv2.findHomography``, least squares over all pairs) from
    reference points in a local metric frame around their centroid, which keeps the fit
    well conditioned, and then converted back to degrees. Reference pixels are in the
    resolution of the frames the camera sends on ``camera-frames``.
    """

    def __init__(self, homography: Homography) -> None:
        image = np.asarray(homography.image_points, dtype=np.float64)
        geo = np.asarray(homography.map_points, dtype=np.float64)
        self.origin = geo.mean(axis=0)
        self._m_per_deg_lat = 111_320.0
        self._m_per_deg_lon = 111_320.0 * float(np.cos(np.radians(self.origin[0])))
        matrix, _ = cv2.findHomography(image, self._to_metres(geo), 0)
        if matrix is None:
            raise ValueError("homography points are degenerate (collinear or repeated)")
        self.matrix = matrix
        # The fitted matrix has an arbitrary sign: points on the ground share the sign of w with the references.
        w = matrix[2, 0] * image[:, 0] + matrix[2, 1] * image[:, 1] + matrix[2, 2]
        self._ground_side = 1.0 if float(np.mean(w)) > 0 else -1.0

    def _to_metres(self, latlon: np.ndarray) -> np.ndarray:
        d = latlon - self.origin
        return np.stack([d[:, 1] * self._m_per_deg_lon, d[:, 0] * self._m_per_deg_lat], axis=1)

    def project(self, x: float, y: float) -> tuple[float, float] | None:
        """``(lat, lon)`` of the image point ``(x, y)``; ``None`` at or above the horizon line."""
        h = self.matrix
        w = h[2, 0] * x + h[2, 1] * y + h[2, 2]
        if w * self._ground_side <= 1e-12:
            return None
        east = (h[0, 0] * x + h[0, 1] * y + h[0, 2]) / w
        north = (h[1, 0] * x + h[1, 1] * y + h[1, 2]) / w
        return float(self.origin[0] + north / self._m_per_deg_lat), float(self.origin[1] + east / self._m_per_deg_lon)


def camera_projector(camera: Camera) -> GroundProjector | None:
    """The camera's projector, or ``None`` when it has no homography (observations then use its location)."""
    return GroundProjector(camera.homography) if camera.homography else None
