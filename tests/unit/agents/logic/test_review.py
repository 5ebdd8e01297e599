"""Camera review: a verdict's case event and the case's reports make the labelled example, the same one
whether the web API writes it at the verdict or a rebuild folds it from the log."""

from __future__ import annotations

from agents.cases.index import observation_entry
from agents.logic.lifecycle import apply
from agents.logic.review import example_of_event, frame_box, review_example, verdict_of
from schemas.records import CaseCommand
from tests.unit.agents.logic.test_lifecycle import CITY, T0, attach, dispatched

FRAME = {"observation_id": "camera:cam-1:f1", "evidence": "camera:cam-1:f1", "camera_id": "cam-1", "at": T0 + 1,
         "observed_at": T0, "bbox": [0.2, 0.1, 0.5, 0.4], "confidence": 0.78}


def test_the_example_is_the_newest_frame_attached_by_the_verdict() -> None:
    later = {**FRAME, "observation_id": "camera:cam-1:f2", "evidence": "camera:cam-1:f2", "observed_at": T0 + 50,
             "at": T0 + 51}
    after = {**FRAME, "observation_id": "camera:cam-1:f3", "evidence": "camera:cam-1:f3", "observed_at": T0 + 500,
             "at": T0 + 501}
    hotline = {"observation_id": "hotline:1", "source": "hotline", "at": T0 + 2}
    example = review_example("C1", "cantilever", "illegal_ads", [FRAME, hotline, later, after], "false_positive",
                             "operator:ops", T0 + 100)
    assert example is not None and example["observation_id"] == "camera:cam-1:f2"
    assert example["bbox"] == [0.2, 0.1, 0.5, 0.4] and example["verdict"] == "false_positive"
    assert review_example("C1", "c", "k", [hotline], "confirmed", "ops", T0 + 100) is None
    assert frame_box("0.1,0.2,0.3,0.4") == [0.1, 0.2, 0.3, 0.4] and frame_box("x") == [] and frame_box([1.0]) == []


def test_a_rebuild_folds_the_same_example_from_the_verdicts_event() -> None:
    camera = attach("C1", 1, source="camera", camera="cam-1", evidence="camera:1", bbox=[0.2, 0.1, 0.5, 0.4])
    state, events = None, []
    for cmd in (camera, dispatched("C1", 1)):
        out = apply(state, cmd, CITY)
        state, events = out.state, [*events, *out.events]
    reports = [e for e in map(observation_entry, events) if e is not None]
    review = CaseCommand(command_id="review:1", case_id="C1", type="review", at=T0 + 300, verdict="false_positive",
                         by="operator:ops")
    (closed,) = apply(state, review, CITY).events
    assert verdict_of(closed) == "false_positive" and verdict_of(events[0]) == ""
    folded = example_of_event(closed, reports)
    live = review_example("C1", state.category, state.kind, reports, "false_positive", "operator:ops", T0 + 300)
    assert folded == live and folded is not None and folded["observation_id"] == "camera:1"
