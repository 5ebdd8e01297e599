"""``cityops``: one command line for running, replaying, training, evaluating and benchmarking.

Each module listed in :data:`COMMAND_MODULES` exposes ``register(subparsers)``
and adds its own sub-commands, so a stage's commands live beside nothing else.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Any

__all__ = ["COMMAND_MODULES", "command_group", "main"]

COMMAND_MODULES = [
    "streams.cli.run",
    "streams.cli.replay",
    "streams.cli.bench",
    "streams.cli.vision",
    "streams.cli.city",
    "streams.cli.cases",
    "streams.cli.text",
    "streams.cli.web",
    "streams.cli.open311",
    "streams.cli.durable",
    "streams.cli.chaos",
]


def command_group(sub: Any, name: str, help_text: str) -> Any:
    """The sub-command group ``name`` (``eval``, ``bench``) shared by several modules: found or created."""
    parser = sub.choices.get(name)
    if parser is None:
        parser = sub.add_parser(name, help=help_text)
        parser.add_subparsers(dest=name, required=True, metavar="WHAT")
    # argparse has no public accessor for a parser's sub-command action.
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cityops", description=__doc__.splitlines()[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a user-facing tool: one clear line, not a traceback, unless asked
        if getattr(args, "debug", False):
            raise
        print(f"cityops {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
