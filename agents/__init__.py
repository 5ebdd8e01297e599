"""Stream stages, one module per stage; each registers its Faust agents on import.

:data:`STAGES` is the list the worker imports. Pure logic the stages use lives
in :mod:`agents.logic` and knows nothing of Kafka.
"""

from __future__ import annotations

import importlib
import os

__all__ = ["STAGES", "load_stages", "selected_stages"]

STAGES = [
    "agents.heartbeat",
    "agents.hotline",
    "agents.cases",
    "agents.vision",
    "agents.field",
    "agents.sla",
    "agents.console",
    "agents.analytics",
]


def selected_stages() -> list[str]:
    """Stages this worker runs: all, or those named in ``CITYOPS_STAGES`` (e.g. ``vision`` for GPU nodes)."""
    wanted = [s.strip() for s in os.environ.get("CITYOPS_STAGES", "").split(",") if s.strip()]
    if not wanted:
        return STAGES
    known = {name.rsplit(".", 1)[1]: name for name in STAGES}
    unknown = [s for s in wanted if s not in known]
    if unknown:
        raise ValueError(f"CITYOPS_STAGES names unknown stages {unknown}; known: {sorted(known)}")
    return [known["heartbeat"], *(known[s] for s in wanted if s != "heartbeat")]


def load_stages(names: list[str] | None = None) -> None:
    """Import the stage modules so their agents register with the app."""
    for name in names or selected_stages():
        importlib.import_module(name)
