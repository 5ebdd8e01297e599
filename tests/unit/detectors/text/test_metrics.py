"""The auto-dispatch threshold: precision on held-out data, with a margin for a held-out set that was lucky."""

from __future__ import annotations

import numpy as np

from detectors.text.metrics import choose_threshold, wilson_lower


def test_wilson_lower_bound_is_below_the_observed_share_and_tightens_with_more_items() -> None:
    few, many = wilson_lower(np.array([9.0, 900.0]), np.array([10.0, 1000.0]))
    assert few < many < 0.9
    assert many > 0.88  # 1,000 items: within about 1.6 points
    assert wilson_lower(np.array([0.0]), np.array([5.0]))[0] == 0.0
    assert 0.0 < wilson_lower(np.array([5.0]), np.array([5.0]))[0] < 1.0


def test_the_threshold_keeps_the_lower_bound_of_the_precision_at_the_target() -> None:
    """1,000 sure items all right, then 1,000 items right 80 % of the time, less confident the later they come."""
    confidence = np.r_[np.full(1000, 0.99), np.linspace(0.9, 0.1, 1000)]
    rng = np.random.default_rng(0)
    correct = np.r_[np.ones(1000, bool), rng.random(1000) < 0.8]
    point = choose_threshold(confidence, correct, 0.9, z=0.0)
    bounded = choose_threshold(confidence, correct, 0.9)
    assert bounded > point  # the bound asks for more than the observed 0.90
    for threshold, strict in ((point, False), (bounded, True)):
        auto = confidence >= threshold
        hits, n = correct[auto].sum(), auto.sum()
        assert hits / n >= 0.9
        assert bool(wilson_lower(np.array([hits]), np.array([n]))[0] >= 0.9) is strict
    assert choose_threshold(confidence[:30], correct[:30], 0.9) == 1.0  # too few items: nothing automatic
