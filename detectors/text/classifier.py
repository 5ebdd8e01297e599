"""Hierarchical taxonomy classifier scored in numpy: one linear head per level, coupled top to bottom.

The finest level (reason) is scored by its own head and calibrated with a
temperature. Every coarser level mixes its own head with the reason
probabilities summed into it (``P(level) = P(reason) @ M``, ``M`` learned from
history), again with a fitted temperature. Decoding is consistent: the case
level (category) is chosen first, the reason is the best reason inside that
category, and the city object is the best one seen with that reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from detectors.text.features import SparseRows

__all__ = ["LevelResult", "LinearHead", "TaxonomyClassifier", "field_levels", "log_softmax", "softmax"]

_EPS = 1e-9


# Shifted scores are floored here before exp: smaller ones would give subnormal float32 values, which
# make every later operation on them ~100x slower, for probabilities below 1e-26 that change nothing.
_FLOOR = -60.0


def log_softmax(scores: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax, stable for any scale."""
    shifted = np.maximum(scores - scores.max(axis=1, keepdims=True), _FLOOR)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def softmax(scores: np.ndarray) -> np.ndarray:
    """Row-wise softmax."""
    e = np.exp(np.maximum(scores - scores.max(axis=1, keepdims=True), _FLOOR))
    return e / e.sum(axis=1, keepdims=True)


@dataclass
class LinearHead:
    """``scores = rows @ weights + bias`` over the shared feature space (weights carry a zero padding row)."""

    labels: list[str]
    weights: np.ndarray
    bias: np.ndarray

    def scores(self, rows: SparseRows) -> np.ndarray:
        """Raw scores ``(n_rows, n_labels)``."""
        return rows.dot(self.weights) + self.bias


@dataclass(frozen=True)
class LevelResult:
    """Chosen node id and calibrated probability per item for one taxonomy level."""

    labels: list[str]
    confidence: np.ndarray


def field_levels(levels: Sequence[str]) -> dict[str, int]:
    """Which taxonomy level fills ``city_object``/``category``/``reason`` (counted from the finest)."""
    names = ["reason", "category", "city_object"] if len(levels) > 1 else ["category"]
    return {name: len(levels) - 1 - i for i, name in enumerate(names) if len(levels) - 1 - i >= 0}


class TaxonomyClassifier:
    """Scores every taxonomy level and decodes a consistent path.

    :param levels: level names, top first (the city's ``taxonomy.levels``)
    :param heads: a head per level
    :param marginals: for each coarser level, ``(n_finest, n_level)`` matrix ``P(level | finest)``
    :param temperatures: softmax temperature per level, fitted on held-out data
    :param mix: per coarser level, weight of the summed finest probabilities against the level's own head
    :param confidence_maps: per level, ``(x, y)`` knots mapping the chosen node's probability to the
        accuracy seen at it on held-out data (reported confidence); identity where absent
    """

    def __init__(
        self,
        levels: Sequence[str],
        heads: dict[str, LinearHead],
        marginals: dict[str, np.ndarray],
        temperatures: dict[str, float],
        mix: dict[str, float],
        confidence_maps: dict[str, tuple[list[float], list[float]]] | None = None,
    ) -> None:
        self.levels = list(levels)
        self.heads = heads
        self.marginals = marginals
        self.temperatures = temperatures
        self.mix = mix
        self.confidence_maps = confidence_maps or {}
        self.finest = self.levels[-1]
        self.case_level = self.levels[field_levels(self.levels)["category"]]

    def probabilities(self, scores: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Class probabilities per level (temperature-scaled) from raw scores, ``(n_items, n_labels)`` each."""
        out = {self.finest: softmax(self.temperatures[self.finest] * scores[self.finest])}
        for level in self.levels[:-1]:
            summed = np.log(out[self.finest] @ self.marginals[level] + _EPS)
            mix = self.mix.get(level, 1.0)
            logits = summed if mix >= 1.0 else mix * summed + (1 - mix) * log_softmax(scores[level])
            out[level] = softmax(self.temperatures[level] * logits)
        return out

    def labels(self, level: str) -> list[str]:
        """Node ids of ``level`` in column order."""
        return self.heads[level].labels

    def decode(self, probs: dict[str, np.ndarray]) -> dict[str, LevelResult]:
        """Consistent choice per level: case level first, then the finest inside it, then the rest."""
        rows = np.arange(len(probs[self.finest]))
        chosen: dict[str, np.ndarray] = {}
        chosen[self.case_level] = probs[self.case_level].argmax(axis=1)
        finest = probs[self.finest]
        if self.case_level != self.finest:
            allowed = self.marginals[self.case_level][:, chosen[self.case_level]].T > 0
            masked = np.where(allowed, finest, -1.0)
            chosen[self.finest] = np.where(allowed.any(axis=1), masked.argmax(axis=1), finest.argmax(axis=1))
        for level in self.levels[:-1]:
            if level == self.case_level:
                continue
            allowed = self.marginals[level][chosen[self.finest]] > 0
            masked = np.where(allowed, probs[level], -1.0)
            chosen[level] = np.where(allowed.any(axis=1), masked.argmax(axis=1), probs[level].argmax(axis=1))
        out = {}
        for level in self.levels:
            raw = probs[level][rows, chosen[level]].astype(np.float64)
            if level in self.confidence_maps:
                x, y = self.confidence_maps[level]
                raw = np.interp(raw, x, y)
            out[level] = LevelResult([self.labels(level)[i] for i in chosen[level]], raw)
        return out

    def predict(self, scores: dict[str, np.ndarray]) -> dict[str, LevelResult]:
        """Decoded node ids and confidences per level from raw scores (see :class:`LinearScorer`)."""
        return self.decode(self.probabilities(scores))
