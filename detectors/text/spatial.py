"""Where a complaint was made, as evidence of who must act: who answered the appeals made there before.

Which organisation acts often depends on the building (a house run by an HOA goes
to the district administration, a state-managed one to the housing agency) or on
a small area (a park kept by a city contractor). :class:`SpatialPrior` keeps,
for a few grid scales, how many historical appeals in each cell went to each
class; for a query point it sums a cell's neighbourhood, smooths the counts
toward the district's distribution and returns ``log(p_here / p_district)`` per
class — zero where there is no history. Lookups are vectorised (sorted cell keys
and ``searchsorted``), so a batch costs a few array operations per scale.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["METRES_PER_DEGREE", "Scale", "SpatialPrior", "SpatialTable", "held_out_features"]

METRES_PER_DEGREE = 111_195.0
_ROW = np.int64(1 << 24)  # cell-key stride between grid rows (a city spans far fewer cells)


@dataclass(frozen=True)
class Scale:
    """A grid of ``cell_m`` metres; ``ring`` cells around the query's cell count too; ``by_group``: per category."""

    cell_m: float
    ring: int
    by_group: bool


@dataclass
class SpatialTable:
    """Counts of one scale: sorted cell keys and, per key, a CSR run of ``(class, count)``."""

    keys: np.ndarray
    indptr: np.ndarray
    classes: np.ndarray
    counts: np.ndarray


class SpatialPrior:
    """Per-class ``log(p_here / p_district)`` at a point, from the classes of historical appeals around it.

    :param scales: the grids, in feature order
    :param tables: one table per scale
    :param district_prior: ``(n_districts + 1, n_classes)`` class distribution per district (last row: unknown)
    :param ref_lat: latitude at which a degree of longitude is measured (the city's centre)
    :param smoothing: pseudo-count of the district distribution added to a place's counts
    :param n_groups: number of groups (categories + 1 for unknown) of ``by_group`` scales
    """

    def __init__(
        self, scales: Sequence[Scale], tables: Sequence[SpatialTable], district_prior: np.ndarray,
        ref_lat: float, smoothing: float, n_groups: int,
    ) -> None:  # fmt: skip
        self.scales = list(scales)
        self.tables = list(tables)
        self.district_prior = np.asarray(district_prior, dtype=np.float32)
        self.ref_lat = float(ref_lat)
        self.smoothing = float(smoothing)
        self.n_groups = int(n_groups)

    @property
    def n_classes(self) -> int:
        return int(self.district_prior.shape[1])

    @property
    def n_features(self) -> int:
        return self.n_classes * len(self.scales)

    def _cells(self, scale: Scale, lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        dlat = scale.cell_m / METRES_PER_DEGREE
        dlon = dlat / np.cos(np.radians(self.ref_lat))
        return np.floor(lat / dlat).astype(np.int64), np.floor(lon / dlon).astype(np.int64)

    def _key(self, row: np.ndarray, col: np.ndarray, group: np.ndarray, scale: Scale) -> np.ndarray:
        key = row * _ROW + col
        return key * self.n_groups + group if scale.by_group else key

    @classmethod
    def count(
        cls, scales: Sequence[Scale], lat: np.ndarray, lon: np.ndarray, labels: np.ndarray, groups: np.ndarray,
        districts: np.ndarray, n_classes: int, n_districts: int, ref_lat: float, smoothing: float = 2.0,
        n_groups: int = 1,
    ) -> SpatialPrior:  # fmt: skip
        """Count the history: points, class index (``-1``: unknown, skipped), group and district index per row."""
        prior = np.ones((n_districts + 1, n_classes), np.float64) * 0.01  # every class stays possible
        known = (labels >= 0) & np.isfinite(lat) & np.isfinite(lon)
        np.add.at(prior, (districts[known], labels[known]), 1.0)
        prior[n_districts] += prior[:n_districts].sum(0)  # unknown district: the whole city
        prior /= prior.sum(1, keepdims=True)
        out = cls(scales, [], prior, ref_lat, smoothing, n_groups)
        for scale in scales:
            row, col = out._cells(scale, lat[known], lon[known])
            keys = out._key(row, col, groups[known], scale)
            pair = np.unique(np.stack([keys, labels[known].astype(np.int64)]), axis=1, return_counts=True)
            (pair_keys, pair_classes), pair_counts = pair
            unique_keys, starts = np.unique(pair_keys, return_index=True)
            out.tables.append(
                SpatialTable(
                    keys=unique_keys,
                    indptr=np.append(starts, len(pair_keys)).astype(np.int32),
                    classes=pair_classes.astype(np.int16),
                    counts=pair_counts.astype(np.float32),
                )
            )
        return out

    def counts(self, scale_index: int, lat: np.ndarray, lon: np.ndarray, groups: np.ndarray) -> np.ndarray:
        """``(n, n_classes)`` historical counts in the neighbourhood of each point at one scale."""
        scale, table = self.scales[scale_index], self.tables[scale_index]
        out = np.zeros((len(lat), self.n_classes), np.float32)
        placed = np.isfinite(lat) & np.isfinite(lon)
        if not placed.any() or not len(table.keys):
            return out
        row, col = self._cells(scale, lat[placed], lon[placed])
        # All neighbourhood cells of all points at once: one search, one scatter.
        offsets = np.arange(-scale.ring, scale.ring + 1)
        dr, dc = np.repeat(offsets, len(offsets)), np.tile(offsets, len(offsets))
        owner = np.repeat(np.flatnonzero(placed), len(dr))
        key = self._key(
            (row[:, None] + dr).ravel(), (col[:, None] + dc).ravel(), np.repeat(groups[placed], len(dr)), scale
        )
        pos = np.minimum(np.searchsorted(table.keys, key), len(table.keys) - 1)
        hit = table.keys[pos] == key
        if not hit.any():
            return out
        start, stop = table.indptr[pos[hit]], table.indptr[pos[hit] + 1]
        lengths = stop - start
        # Expand the CSR runs of all hit cells: hit i owns entries start_i .. stop_i - 1.
        entry = np.repeat(start - np.cumsum(lengths) + lengths, lengths) + np.arange(lengths.sum())
        flat = np.repeat(owner[hit], lengths) * self.n_classes + table.classes[entry]
        return np.bincount(flat, table.counts[entry], minlength=out.size).reshape(out.shape).astype(np.float32)

    def features(self, lat: np.ndarray, lon: np.ndarray, groups: np.ndarray, districts: np.ndarray) -> np.ndarray:
        """``(n, n_scales * n_classes)``: per scale, ``log(p_here / p_district)`` with ``p_here`` smoothed.

        :param lat: latitudes (NaN: no point, all features zero)
        :param groups: group index per query (category; ``n_groups - 1`` for unknown)
        :param districts: district index per query (``n_districts`` for unknown)
        """
        lat, lon = np.asarray(lat, np.float64), np.asarray(lon, np.float64)
        prior = self.district_prior[np.asarray(districts, np.int64)]
        parts = []
        for k in range(len(self.scales)):
            c = self.counts(k, lat, lon, np.asarray(groups, np.int64))
            here = (c + self.smoothing * prior) / (c.sum(1, keepdims=True) + self.smoothing)
            parts.append(np.log(here / prior))
        return np.hstack(parts).astype(np.float32) if parts else np.zeros((len(lat), 0), np.float32)


def held_out_features(
    scales: Sequence[Scale], lat: np.ndarray, lon: np.ndarray, labels: np.ndarray, groups: np.ndarray,
    districts: np.ndarray, n_classes: int, n_districts: int, ref_lat: float, folds: int, n_groups: int,
) -> np.ndarray:  # fmt: skip
    """Spatial features of training rows (oldest first), each from the history outside its contiguous time fold.

    A row must not see its own answer; leaving out a whole stretch of time also hides the repeats filed
    the same days, as the product's history (trained earlier) does not know them either.
    """
    n = len(lat)
    out = np.zeros((n, n_classes * len(scales)), np.float32)
    bounds = np.linspace(0, n, folds + 1).astype(int)
    for k in range(folds):
        held = np.zeros(n, bool)
        held[bounds[k] : bounds[k + 1]] = True
        rest = ~held
        prior = SpatialPrior.count(
            scales, lat[rest], lon[rest], labels[rest], groups[rest], districts[rest], n_classes, n_districts,
            ref_lat, n_groups=n_groups,
        )  # fmt: skip
        out[held] = prior.features(lat[held], lon[held], groups[held], districts[held])
    return out
