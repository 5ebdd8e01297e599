"""``cityops up`` / ``demo``: where workers listen and which tokens file they read, and the demo's sign-in token."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from streams.cli import build_parser
from streams.cli import run as run_cli
from streams.client import StackInfo
from streams.settings import Settings, settings
from streams.web.access import Role, TokenStore


def test_up_listens_on_loopback_unless_asked_for_every_interface(tmp_path: Path) -> None:
    default = build_parser().parse_args(["up"])
    assert default.bind == "127.0.0.1"
    assert run_cli._supervisor(default).worker_env()["CITYOPS_WEB_BIND"] == "127.0.0.1"
    asked = build_parser().parse_args(["up", "--bind", "0.0.0.0"])
    assert run_cli._supervisor(asked).worker_env()["CITYOPS_WEB_BIND"] == "0.0.0.0"


def test_workers_of_up_read_the_tokens_file_that_token_new_writes(tmp_path: Path, monkeypatch) -> None:
    here = Settings.from_env({"CITYOPS_DATA_DIR": str(tmp_path / "data")})
    monkeypatch.setattr(run_cli, "settings", here)
    sup = run_cli.Supervisor(1, "spb", tmp_path / "data" / "run" / "1", 6066)
    # A worker gets the stack's environment (its data directory is per run), then the supervisor's.
    worker = Settings.from_env({**sup.stack.worker_env(6066, "worker-1"), **sup.worker_env()})
    assert worker.data_dir != here.data_dir
    assert worker.tokens_file == here.tokens_file == tmp_path / "data" / "tokens.yaml"


def test_demo_issues_one_operator_token_per_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(run_cli, "settings", dataclasses.replace(settings, tokens_file=tmp_path / "tokens.yaml"))
    info = StackInfo("kafka://127.0.0.1:1", "redis://127.0.0.1:2/0", ["http://127.0.0.1:6066"])
    first = run_cli.demo_sign_in(info, "spb")
    out = capsys.readouterr().out
    assert out.count(first) == 1 and "http://127.0.0.1:6066/console/" in out
    second = run_cli.demo_sign_in(info, "spb")
    store = TokenStore(tmp_path / "tokens.yaml")
    principal = store.authenticate(second)
    assert principal is not None and principal.role is Role.OPERATOR
    assert store.authenticate(first) is None  # the last run's token no longer signs in
