"""HTTP surface of each worker (Faust's aiohttp web server): health, metrics, console, APIs.

Every module in :data:`WEB_MODULES` registers its pages on import.
"""

from __future__ import annotations

import importlib

__all__ = ["WEB_MODULES", "load_web"]

WEB_MODULES = [
    "streams.web.ops",
    "streams.web.auth",
    "streams.web.api",
    "streams.web.casework",
    "streams.web.sse",
    "streams.web.reports",
    "streams.web.open311",
    "streams.web.console",
]


def load_web() -> None:
    for name in WEB_MODULES:
        importlib.import_module(name)
