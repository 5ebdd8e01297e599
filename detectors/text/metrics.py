"""Numbers the model card and ``cityops eval dispatch`` report, and the fits that pick calibration.

Plain numpy, so evaluation runs with exactly what the product loads.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from detectors.text.classifier import log_softmax

__all__ = [
    "accuracy",
    "choose_threshold",
    "curve_points",
    "expected_calibration_error",
    "fit_confidence_map",
    "fit_temperature",
    "macro_f1",
    "precision_coverage",
    "wilson_lower",
]


def accuracy(truth: Sequence[str], predicted: Sequence[str]) -> float:
    """Share of equal pairs (0 for no pairs)."""
    if not truth:
        return 0.0
    return float(np.mean([t == p for t, p in zip(truth, predicted, strict=True)]))


def macro_f1(truth: Sequence[str], predicted: Sequence[str]) -> float:
    """Unweighted mean F1 over every label seen in ``truth`` or ``predicted`` (as scikit-learn's macro)."""
    labels = sorted(set(truth) | set(predicted))
    if not labels:
        return 0.0
    index = {label: i for i, label in enumerate(labels)}
    t = np.array([index[x] for x in truth])
    p = np.array([index[x] for x in predicted])
    tp = np.bincount(t[t == p], minlength=len(labels)).astype(float)
    support = np.bincount(t, minlength=len(labels)).astype(float)
    claimed = np.bincount(p, minlength=len(labels)).astype(float)
    denom = support + claimed
    f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
    return float(f1.mean())


def fit_temperature(logits: np.ndarray, truth: np.ndarray) -> float:
    """Temperature ``T`` minimising the negative log-likelihood of ``softmax(T * logits)`` on held-out rows."""
    if len(truth) == 0:
        return 1.0
    rows = np.arange(len(truth))
    grid = np.exp(np.linspace(np.log(0.05), np.log(200.0), 120))

    def nll(t: float) -> float:
        return float(-log_softmax(t * logits)[rows, truth].mean())

    best = min(grid, key=nll)
    fine = best * np.exp(np.linspace(-0.06, 0.06, 13))
    return float(min(fine, key=nll))


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = 15) -> float:
    """Mean |accuracy - confidence| over equal-width confidence bins, weighted by bin size."""
    if len(confidence) == 0:
        return 0.0
    which = np.minimum((np.asarray(confidence) * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        inside = which == b
        if inside.any():
            total += inside.mean() * abs(np.mean(correct[inside]) - np.mean(confidence[inside]))
    return float(total)


def precision_coverage(confidence: np.ndarray, correct: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For every cut-off (most confident first): ``(threshold, coverage, precision)`` arrays."""
    order = np.argsort(-np.asarray(confidence), kind="stable")
    conf = np.asarray(confidence)[order]
    hits = np.cumsum(np.asarray(correct)[order])
    taken = np.arange(1, len(conf) + 1)
    return conf, taken / max(len(conf), 1), hits / taken


Z_ONE_SIDED_95 = 1.645


def wilson_lower(hits: np.ndarray, n: np.ndarray, z: float = Z_ONE_SIDED_95) -> np.ndarray:
    """One-sided Wilson lower confidence bound of a proportion ``hits / n`` (elementwise)."""
    n = np.maximum(np.asarray(n, dtype=np.float64), 1.0)
    p = np.asarray(hits, dtype=np.float64) / n
    centre = p + z * z / (2 * n)
    spread = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre - spread) / (1 + z * z / n)


def choose_threshold(
    confidence: np.ndarray, correct: np.ndarray, target: float, min_items: int = 50, z: float = Z_ONE_SIDED_95
) -> float:
    """Lowest confidence whose auto-dispatched set (confidence >= it) reaches ``target`` precision with
    95 % confidence: the one-sided Wilson lower bound of its held-out precision, not the precision itself
    (``z=0``), must reach the target, so a held-out set that was lucky does not set the threshold.

    Cut-offs are only taken between distinct confidence values; with fewer than ``min_items`` items
    above every qualifying cut-off, nothing is dispatched automatically (threshold 1.0).
    """
    if len(confidence) == 0:
        return 1.0
    conf, _coverage, precision = precision_coverage(confidence, correct)
    taken = np.arange(1, len(conf) + 1)
    bound = wilson_lower(precision * taken, taken, z) if z > 0 else precision
    distinct = np.r_[conf[1:] < conf[:-1], True]  # last item of each run of equal confidences
    ok = np.flatnonzero(distinct & (bound >= target) & (taken >= min_items))
    return float(conf[ok.max()]) if len(ok) else 1.0


def fit_confidence_map(confidence: np.ndarray, correct: np.ndarray, bins: int = 20) -> tuple[list[float], list[float]]:
    """Monotone map from a raw confidence to the accuracy observed at it (binned isotonic regression).

    Items are cut into ``bins`` equal-count bins by confidence; each bin's accuracy is made
    non-decreasing by pooling adjacent violators. At run time ``np.interp(raw, x, y)`` applies it.
    """
    conf = np.asarray(confidence, dtype=np.float64)
    hits = np.asarray(correct, dtype=np.float64)
    if len(conf) < bins:
        return [0.0, 1.0], [0.0, 1.0]
    order = np.argsort(conf, kind="stable")
    groups = np.array_split(order, bins)
    x = [float(conf[g].mean()) for g in groups]
    blocks = [[float(hits[g].mean()), float(len(g)), i, i] for i, g in enumerate(groups)]  # value, weight, span
    pooled: list[list[float]] = []
    for block in blocks:
        pooled.append(block)
        while len(pooled) > 1 and pooled[-2][0] > pooled[-1][0]:
            right, left = pooled.pop(), pooled.pop()
            weight = left[1] + right[1]
            pooled.append([(left[0] * left[1] + right[0] * right[1]) / weight, weight, left[2], right[3]])
    y = [0.0] * bins
    for value, _w, first, last in pooled:
        for i in range(int(first), int(last) + 1):
            y[i] = round(value, 4)
    return [round(v, 4) for v in x], y


def curve_points(confidence: np.ndarray, correct: np.ndarray) -> list[dict[str, float]]:
    """Precision and confidence threshold at fixed shares of items dispatched automatically."""
    cut, _coverage, precision = precision_coverage(confidence, correct)
    points = []
    for share in (0.5, 0.6, 0.7, 0.8, 0.9, 1.0):
        i = max(int(share * len(cut)) - 1, 0)
        points.append(
            {"coverage": share, "precision": round(float(precision[i]), 4), "threshold": round(float(cut[i]), 4)}
        )
    return points
