"""Folding the case log for a rebuild: each event once, in the console's own shapes."""

from __future__ import annotations

from agents.console import case_document
from agents.logic.lifecycle import apply
from agents.views import case_view, fold_case_events
from schemas.codec import encode
from tests.unit.agents.logic.test_lifecycle import CITY, attach, dispatched


def test_a_rebuilt_document_equals_the_projected_one_even_with_redelivered_events() -> None:
    state, log, doc = None, [], None
    for cmd in (attach("C-1", 1), dispatched("C-1", 1), attach("C-1", 2), attach("C-1", 1)):  # the last: again
        out = apply(state, cmd, CITY)
        state = out.state
        assert state is not None
        log += [encode(ev) for ev in out.events]  # a redelivered command re-emits its events
        doc = case_document(doc, state)
    history, events = fold_case_events(log)
    assert len(log) == 4 and [e.event_id for e in events] == ["C-1:1", "C-1:2", "C-1:3"]
    assert state is not None and case_view(state, history["C-1"]) == doc
    assert history["C-1"].assigned == {"hotline:1": True, "hotline:2": False}
