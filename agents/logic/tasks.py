"""The task board's status machine: which crew action a task allows, and its status afterwards.

A dispatch task is ``open`` until its department acknowledges, starts, resolves or
rejects it (a :class:`schemas.records.FieldUpdate`); the web layer checks a crew's
request against :func:`next_task_status`, the console projection moves the card
with :func:`status_after`. Nothing here knows about HTTP or Kafka.
"""

from __future__ import annotations

__all__ = ["TASK_ACTIONS", "next_task_status", "status_after"]

# URL verb of a crew action -> FieldUpdate.action, and the task statuses it may start from.
TASK_ACTIONS: dict[str, tuple[str, frozenset[str]]] = {
    "ack": ("acknowledge", frozenset({"open"})),
    "start": ("start", frozenset({"open", "acknowledged"})),
    "resolve": ("resolve", frozenset({"open", "acknowledged", "in_progress"})),
    "reject": ("reject", frozenset({"open", "acknowledged"})),
}
# FieldUpdate.action -> the task's status on the board afterwards.
_STATUS_AFTER = {
    "acknowledge": "acknowledged",
    "start": "in_progress",
    "resolve": "resolved",
    "reject": "rejected",
}


def next_task_status(verb: str, current: str) -> tuple[str, str]:
    """``(field_action, status_after)`` for URL verb ``verb`` on a task in status ``current``.

    :raises KeyError: ``verb`` is not a task action
    :raises ValueError: the task's status does not allow it (e.g. resolving a rejected task)
    """
    action, allowed_from = TASK_ACTIONS[verb]
    if current not in allowed_from:
        raise ValueError(f"cannot {verb} a task that is {current}; allowed from {sorted(allowed_from)}")
    return action, _STATUS_AFTER[action]


def status_after(action: str) -> str:
    """Board status of a task after a field update with ``action`` (acknowledge/start/resolve/reject)."""
    return _STATUS_AFTER[action]
