"""Open311 api_keys issued to client apps (a city's own app, a neighbourhood app): who submitted what.

A key identifies an app, not a person, and grants nothing but submitting service requests under the
app's name. The keys file (``CITYOPS_OPEN311_KEYS_FILE``, default ``<data dir>/open311_keys.yaml``)
keeps only SHA-256 hashes, like the tokens file: ``{"keys": [{"name": APP, "sha256": HEX}]}``.
``cityops open311-key new --name APP`` issues one. Whether a request may come without a key is the
city's ``open311.anonymous_submissions``.
"""

from __future__ import annotations

import hmac
import os
import re
from pathlib import Path
from typing import Any

import yaml

from streams.settings import settings
from streams.web.access import hash_token

__all__ = ["ApiKeyError", "ApiKeyStore", "api_keys", "keys_path", "parse_keys"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_HEX = re.compile(r"^[0-9a-f]{64}$")


class ApiKeyError(ValueError):
    """The keys file (or an entry for it) is malformed; the message names the file and the entry."""


def keys_path() -> Path:
    configured = os.environ.get("CITYOPS_OPEN311_KEYS_FILE")
    return Path(configured) if configured else settings.data_dir / "open311_keys.yaml"


def parse_keys(data: Any, source: str) -> dict[str, str]:
    """Key hash -> app name, from the parsed YAML of a keys file."""
    if not isinstance(data, dict) or not isinstance(data.get("keys", []), list):
        raise ApiKeyError(f"{source}: expected a mapping with a list under 'keys'")
    out: dict[str, str] = {}
    names: set[str] = set()
    for i, entry in enumerate(data.get("keys") or []):
        where = f"{source}: keys[{i}]"
        if not isinstance(entry, dict) or set(entry) != {"name", "sha256"}:
            raise ApiKeyError(f"{where}: expected exactly name and sha256")
        name, digest = str(entry["name"]), str(entry["sha256"]).lower()
        if not _NAME.match(name):
            raise ApiKeyError(f"{where}: name {name!r} must be 1-64 letters, digits, '_', '.' or '-'")
        if not _HEX.match(digest):
            raise ApiKeyError(f"{where} ({name}): sha256 must be 64 hex digits")
        if name in names or digest in out:
            raise ApiKeyError(f"{where}: {name!r} repeats a name or a key of another entry")
        names.add(name)
        out[digest] = name
    return out


class ApiKeyStore:
    """The keys file, re-read when it changes, so a key issued or revoked works without a restart."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._by_hash: dict[str, str] = {}
        self._stamp: tuple[float, int] | None = None

    def _reload(self) -> None:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            self._by_hash, self._stamp = {}, None
            return
        stamp = (stat.st_mtime, stat.st_size)
        if stamp != self._stamp:
            data = yaml.safe_load(self.path.read_text(encoding="utf-8")) or {"keys": []}
            self._by_hash, self._stamp = parse_keys(data, str(self.path)), stamp

    def app_of(self, key: str) -> str | None:
        """The app holding ``key``, or ``None``; every hash compared in constant time."""
        self._reload()
        digest = hash_token(key)
        found = None
        for known, name in self._by_hash.items():
            if hmac.compare_digest(known, digest):
                found = name
        return found


_store: list[ApiKeyStore] = []


def api_keys() -> ApiKeyStore:
    """The process's key store (the path is read once, when first asked)."""
    if not _store:
        _store.append(ApiKeyStore(keys_path()))
    return _store[0]
