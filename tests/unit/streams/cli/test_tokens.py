"""``cityops token``: issue, list, revoke and hash tokens; the file holds hashes only."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import yaml

from streams.cli import web as token_cli
from streams.web.access import Role, TokenStore, hash_token
from tests import REPO_ROOT

DEPT = "org.spb_gku_zha_nevskogo_rayona"


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    token_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    return int(args.func(args))


def test_new_token_is_printed_once_and_stored_as_a_hash(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "tokens.yaml"
    assert run("token", "new", "--name", "crew-7", "--role", "field_crew", "--department", DEPT,
               "--file", str(path), "--city", "spb") == 0
    token = capsys.readouterr().out.strip()
    text = path.read_text()
    assert token not in text and hash_token(token) in text
    assert path.stat().st_mode & 0o077 == 0  # readable by its owner only
    principal = TokenStore(path).authenticate(token)
    assert principal is not None and principal.role is Role.FIELD_CREW and principal.crew_id == "crew-7"


def test_new_refuses_unknown_departments_and_duplicate_names(tmp_path: Path) -> None:
    path = tmp_path / "tokens.yaml"
    with pytest.raises(ValueError, match="not in the city's departments"):
        run("token", "new", "--name", "x", "--role", "department", "--department", "nope", "--file", str(path))
    run("token", "new", "--name", "ops", "--role", "operator", "--file", str(path))
    with pytest.raises(ValueError, match="exists"):
        run("token", "new", "--name", "ops", "--role", "operator", "--file", str(path))


def test_list_and_revoke(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "tokens.yaml"
    run("token", "new", "--name", "ops", "--role", "operator", "--file", str(path))
    token = capsys.readouterr().out.strip()
    run("token", "list", "--file", str(path))
    assert capsys.readouterr().out.startswith("ops\toperator\t")
    run("token", "revoke", "--name", "ops", "--file", str(path))
    assert yaml.safe_load(path.read_text())["tokens"] == []
    assert TokenStore(path).authenticate(token) is None
    with pytest.raises(ValueError, match="no token named"):
        run("token", "revoke", "--name", "ops", "--file", str(path))


def test_hash_matches_what_the_store_expects(capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    run("token", "hash", "s3cret")
    assert capsys.readouterr().out.strip() == hash_token("s3cret")
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO("from-stdin\n"))
    run("token", "hash")
    assert capsys.readouterr().out.strip() == hash_token("from-stdin")


def test_example_tokens_file_is_valid() -> None:
    example = REPO_ROOT / "config" / "tokens.example.yaml"
    from config import load_city
    from streams.web.access import parse_tokens

    departments = [d.id for d in load_city("spb").departments] + ["triage"]
    principals = parse_tokens(yaml.safe_load(example.read_text()), str(example), departments)
    assert {p.role for p in principals.values()} == set(Role)
    assert principals[hash_token("example-operator-token")].role is Role.OPERATOR
