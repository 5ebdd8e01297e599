"""``cityops open311-key …``: issue, list and revoke the api_keys of Open311 client apps.

Only SHA-256 hashes are kept (see :mod:`streams.web.open311_keys`); a new key is printed once.
Workers re-read the keys file when it changes, so no restart is needed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

from streams.web.access import hash_token, new_token
from streams.web.open311_keys import keys_path, parse_keys

__all__ = ["register"]


def _path(args: argparse.Namespace) -> Path:
    return Path(args.file) if args.file else keys_path()


def _read(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {"keys": []}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {"keys": []}
    parse_keys(data, str(path))
    return {"keys": list(data.get("keys") or [])}


def _write(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    header = "# CityOps Open311 api_keys of client apps: SHA-256 hashes only (cityops open311-key new / revoke).\n"
    tmp.write_text(header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    tmp.chmod(0o600)
    tmp.replace(path)  # atomic: a worker never reads half a file


def cmd_new(args: argparse.Namespace) -> int:
    path = _path(args)
    data = _read(path)
    key = new_token()
    entries = [*data["keys"], {"name": args.name, "sha256": hash_token(key)}]
    parse_keys({"keys": entries}, str(path))  # refuses a bad or repeated name before anything is written
    _write(path, {"keys": entries})
    print(key)
    print(f"written to {path} for {args.name}; the key is shown only now", file=sys.stderr)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    for entry in _read(_path(args))["keys"]:
        print(f"{entry['name']}\t{entry['sha256'][:12]}…")
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    path = _path(args)
    data = _read(path)
    kept = [k for k in data["keys"] if k.get("name") != args.name]
    if len(kept) == len(data["keys"]):
        raise ValueError(f"{path}: no key named {args.name!r}")
    _write(path, {"keys": kept})
    print(f"revoked {args.name} in {path}", file=sys.stderr)
    return 0


def register(sub: Any) -> None:
    parser = sub.add_parser("open311-key", help="issue, list or revoke api_keys of Open311 client apps")
    actions = parser.add_subparsers(dest="key_command", required=True, metavar="ACTION")
    where = "keys file (default CITYOPS_OPEN311_KEYS_FILE or <data dir>/open311_keys.yaml)"

    p = actions.add_parser("new", help="issue a key to an app: prints it once, stores only its hash")
    p.add_argument("--name", required=True, help="the app (shown in the audit trail as open311:NAME)")
    p.add_argument("--file", help=where)
    p.set_defaults(func=cmd_new)

    p = actions.add_parser("list", help="apps and hash prefixes in the keys file")
    p.add_argument("--file", help=where)
    p.set_defaults(func=cmd_list)

    p = actions.add_parser("revoke", help="remove an app's key by name")
    p.add_argument("--name", required=True)
    p.add_argument("--file", help=where)
    p.set_defaults(func=cmd_revoke)
