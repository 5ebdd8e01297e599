"""The text commands register beside others, and the threshold lands in routing.yaml."""

from __future__ import annotations

import argparse
import shutil

import pytest
import yaml

from config.loader import CITIES_DIR
from streams.cli import text


def _parser(with_other_eval: bool) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cityops")
    sub = parser.add_subparsers(dest="command", required=True)
    if with_other_eval:  # another module registered `eval` first
        other = sub.add_parser("eval").add_subparsers(dest="eval_command", required=True)
        other.add_parser("vision").set_defaults(func=lambda a: 0)
    text.register(sub)
    return parser


@pytest.mark.parametrize("with_other_eval", [False, True])
def test_commands_parse(with_other_eval):
    parser = _parser(with_other_eval)
    args = parser.parse_args(["train-text", "--city", "nyc", "--split-date", "2025-01-01"])
    assert (args.city, args.split_date, args.func.__name__) == ("nyc", "2025-01-01", "_train")
    args = parser.parse_args(["eval", "dispatch", "--city", "spb", "--json", "--out", "x"])
    assert (args.city, args.json, args.func.__name__) == ("spb", True, "_eval")
    if with_other_eval:
        assert parser.parse_args(["eval", "vision"]).func(None) == 0


def test_split_date_and_all_exclude_each_other():
    with pytest.raises(SystemExit):
        _parser(False).parse_args(["train-text", "--all", "--split-date", "2021-01-01"])


def test_write_threshold_keeps_comments(tmp_path):
    pytest.importorskip("sklearn")
    from detectors.text.train import write_threshold

    folder = tmp_path / "spb"
    shutil.copytree(CITIES_DIR / "spb", folder)
    before = (folder / "routing.yaml").read_text(encoding="utf-8")
    write_threshold(str(folder), 0.8123)
    after = (folder / "routing.yaml").read_text(encoding="utf-8")
    assert yaml.safe_load(after)["routing"]["auto_dispatch"]["threshold"] == pytest.approx(0.8123)
    assert [line for line in before.splitlines() if line.lstrip().startswith("#")] == [
        line for line in after.splitlines() if line.lstrip().startswith("#")
    ]


def test_every_command_prints_its_help():
    """``cityops X --help`` formats each help string with %: a bare "80%" once crashed ``bench --help``."""
    from streams.cli import build_parser

    def walk(parser: argparse.ArgumentParser) -> int:
        assert parser.format_help()
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        return 1 + sum(walk(p) for a in subs for p in set(a.choices.values()))

    assert walk(build_parser()) > 20
