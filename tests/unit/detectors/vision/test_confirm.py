"""Confirmation: k of n frames, time in place, passers-by, deterministic ids."""

from __future__ import annotations

from config.models import Confirmation
from detectors.vision.confirm import ConfirmationTracker, Sighting, observation_id

BAG = (0.40, 0.60, 0.50, 0.80)


def _seen(box: tuple[float, float, float, float] = BAG, score: float = 0.8) -> list[Sighting]:
    return [Sighting(box, score, "garbage_bag", "pavement")]


def _moved(box: tuple[float, float, float, float], dx: float) -> tuple[float, float, float, float]:
    return (box[0] + dx, box[1], box[2] + dx, box[3])


def test_k_of_n_confirms_on_the_kth_frame() -> None:
    tracker = ConfirmationTracker("cam", "garbage", Confirmation(k=3, n=5, window_s=600, min_stationary_s=0))
    assert tracker.update(0, _seen()) == []
    assert tracker.update(10, []) == []  # missed by the detector in one frame
    assert tracker.update(20, _seen()) == []
    (confirmed,) = tracker.update(30, _seen())
    assert confirmed.kind == "garbage" and confirmed.zone == "pavement"
    assert confirmed.hits == 3 and confirmed.frames == 4
    assert confirmed.first_seen == 0 and confirmed.confirmed_at == 30
    assert tracker.update(40, _seen()) == []  # reported once, not on every frame


def test_too_few_of_the_last_n_frames_do_not_confirm() -> None:
    tracker = ConfirmationTracker("cam", "garbage", Confirmation(k=3, n=5, window_s=600, min_stationary_s=0))
    for t, seen in enumerate([True, False, False, False, True, False, False, False, True]):
        assert tracker.update(t * 10.0, _seen() if seen else []) == []


def test_frames_older_than_the_window_do_not_count() -> None:
    tracker = ConfirmationTracker("cam", "garbage", Confirmation(k=3, n=5, window_s=60, min_stationary_s=0))
    assert tracker.update(0, _seen()) == []
    assert tracker.update(50, _seen()) == []
    assert tracker.update(200, _seen()) == []  # the first two fell out of the 60 s window
    assert tracker.update(210, _seen()) == []
    assert len(tracker.update(220, _seen())) == 1


def test_object_must_stay_for_min_stationary_s() -> None:
    tracker = ConfirmationTracker("cam", "street_vending", Confirmation(k=3, n=6, window_s=1200, min_stationary_s=300))
    confirmed_at = [t for t in range(0, 400, 30) if tracker.update(float(t), _seen())]
    assert confirmed_at == [300]


def test_small_jitter_is_the_same_object() -> None:
    tracker = ConfirmationTracker("cam", "garbage", Confirmation(k=3, n=5, window_s=600, min_stationary_s=20))
    boxes = [BAG, _moved(BAG, 0.01), _moved(BAG, -0.01), _moved(BAG, 0.005)]
    results = [tracker.update(t * 10.0, _seen(box)) for t, box in enumerate(boxes)]
    assert [len(r) for r in results] == [0, 0, 1, 0]


def test_passer_by_never_triggers() -> None:
    """Someone walking across the view: in every frame, but each time somewhere else."""
    tracker = ConfirmationTracker("cam", "street_vending", Confirmation(k=3, n=5, window_s=600, min_stationary_s=0))
    walker = (0.0, 0.5, 0.06, 0.9)
    for step in range(15):
        assert tracker.update(step * 2.0, _seen(_moved(walker, 0.065 * step))) == []


def test_slow_drift_does_not_accumulate_into_a_stationary_object() -> None:
    """Each sighting is close to the previous one, but the track is anchored where it began."""
    tracker = ConfirmationTracker("cam", "street_vending", Confirmation(k=3, n=6, window_s=1200, min_stationary_s=60))
    box = (0.1, 0.5, 0.16, 0.9)
    fired = [tracker.update(t * 10.0, _seen(_moved(box, 0.04 * t))) for t in range(20)]
    assert not any(fired)


def test_redelivered_or_older_frame_changes_nothing() -> None:
    tracker = ConfirmationTracker("cam", "garbage", Confirmation(k=2, n=3, window_s=600, min_stationary_s=0))
    assert tracker.update(10, _seen()) == []
    assert tracker.update(10, _seen()) == []  # the same frame again
    assert tracker.update(5, _seen()) == []  # out of order
    assert len(tracker.update(20, _seen())) == 1


def test_two_objects_are_tracked_apart() -> None:
    tracker = ConfirmationTracker("cam", "garbage", Confirmation(k=2, n=3, window_s=600, min_stationary_s=0))
    other = _moved(BAG, 0.4)
    assert tracker.update(0, [*_seen(BAG), *_seen(other)]) == []
    assert len(tracker.update(10, [*_seen(BAG), *_seen(other)])) == 2


def test_still_present_object_is_reported_again_after_repeat_interval() -> None:
    rule = Confirmation(k=2, n=3, window_s=300, min_stationary_s=0)
    tracker = ConfirmationTracker("cam", "garbage", rule, repeat_after_s=600)
    fired = [tracker.update(t * 60.0, _seen()) for t in range(13)]
    times = [f[0].confirmed_at for f in fired if f]
    assert times == [60.0, 660.0]
    assert fired[1][0].observation_id != fired[11][0].observation_id


def test_observation_id_is_deterministic() -> None:
    run = []
    for _ in range(2):
        tracker = ConfirmationTracker("cam-1", "garbage", Confirmation(k=2, n=3, window_s=900, min_stationary_s=0))
        tracker.update(1000.0, _seen())
        run.append(tracker.update(1010.0, _seen())[0].observation_id)
    assert run[0] == run[1] == observation_id("cam-1", "garbage", "pavement", 900.0)
    assert observation_id("cam-2", "garbage", "pavement", 900.0) != run[0]
