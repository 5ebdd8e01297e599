"""``cityops token …``: issue, list, revoke and hash API tokens of the console and APIs.

The tokens file keeps SHA-256 hashes only; a new token is printed once and
cannot be recovered (issue another and revoke the lost one). Workers re-read the
file when it changes, so no restart is needed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

from config import load_city
from streams.web.access import ROLES, hash_token, new_token, parse_tokens, token_entry

__all__ = ["issue_token", "register", "revoke_token"]


def _path(args: argparse.Namespace) -> Path:
    """``--file``, else the tokens file every worker of ``cityops up`` reads (see :class:`Settings`)."""
    from streams.settings import settings

    return Path(args.file) if args.file else settings.tokens_file


def _read(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {"tokens": []}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {"tokens": []}
    parse_tokens(data, str(path))
    return dict(data)


def _write(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    header = "# CityOps API tokens: SHA-256 hashes only (cityops token new / revoke).\n"
    tmp.write_text(header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    tmp.chmod(0o600)
    tmp.replace(path)  # atomic: a worker never reads half a file


def issue_token(path: Path, name: str, role: str, city: str | None = None, department: str = "",
                crew_id: str = "") -> str:
    """Add a token named ``name`` to the tokens file at ``path``; returns the token (only its hash is kept)."""
    data = _read(path)
    if any(t.get("name") == name for t in data["tokens"]):
        raise ValueError(f"{path}: a token named {name!r} exists; revoke it first or pick another name")
    token = new_token()
    entry = token_entry(token, name, role, department, crew_id)
    departments = [d.id for d in load_city(city).departments] + ["triage"]
    parse_tokens({"tokens": [*data["tokens"], entry]}, str(path), departments)
    data["tokens"].append(entry)
    _write(path, data)
    return token


def revoke_token(path: Path, name: str) -> bool:
    """Remove the token named ``name`` from the tokens file; False when there was none."""
    data = _read(path)
    kept = [t for t in data["tokens"] if t.get("name") != name]
    if len(kept) == len(data["tokens"]):
        return False
    _write(path, {**data, "tokens": kept})
    return True


def cmd_new(args: argparse.Namespace) -> int:
    path = _path(args)
    token = issue_token(path, args.name, args.role, args.city, args.department or "", args.crew_id or "")
    print(token)
    print(f"written to {path} as {args.name} ({args.role}); the token is shown only now", file=sys.stderr)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    path = _path(args)
    for entry in _read(path)["tokens"]:
        scope = f" {entry['department']}" if entry.get("department") else ""
        print(f"{entry['name']}\t{entry['role']}{scope}\t{entry['sha256'][:12]}…")
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    path = _path(args)
    if not revoke_token(path, args.name):
        raise ValueError(f"{path}: no token named {args.name!r}")
    print(f"revoked {args.name} in {path}", file=sys.stderr)
    return 0


def cmd_hash(args: argparse.Namespace) -> int:
    token = args.token if args.token is not None else sys.stdin.readline().strip()
    if not token:
        raise ValueError("no token given (argument or one line on standard input)")
    print(hash_token(token))
    return 0


def register(sub: Any) -> None:
    token = sub.add_parser("token", help="issue, list, revoke or hash API tokens (console, APIs, crews)")
    actions = token.add_subparsers(dest="token_command", required=True, metavar="ACTION")

    p = actions.add_parser("new", help="issue a token: prints it once, stores only its hash")
    p.add_argument("--name", required=True, help="who holds it (shown in the audit trail)")
    p.add_argument("--role", required=True, choices=ROLES)
    p.add_argument("--department", help="department id (roles department and field_crew)")
    p.add_argument("--crew-id", help="crew id (role field_crew; default: the name)")
    p.add_argument("--city", default=None, help="city whose departments are valid (default CITYOPS_CITY)")
    p.add_argument("--file", help="tokens file (default CITYOPS_TOKENS_FILE or <data dir>/tokens.yaml)")
    p.set_defaults(func=cmd_new)

    p = actions.add_parser("list", help="names, roles and hash prefixes in the tokens file")
    p.add_argument("--file")
    p.set_defaults(func=cmd_list)

    p = actions.add_parser("revoke", help="remove a token by name")
    p.add_argument("--name", required=True)
    p.add_argument("--file")
    p.set_defaults(func=cmd_revoke)

    p = actions.add_parser("hash", help="SHA-256 of a token, for writing a tokens file by hand")
    p.add_argument("token", nargs="?", help="the token (default: read one line from standard input)")
    p.set_defaults(func=cmd_hash)
