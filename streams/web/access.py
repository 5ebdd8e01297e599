"""Who may do what on the web: API tokens, roles and the access decisions of the console and APIs.

Tokens are random strings handed to people and programs; the tokens file
(``CITYOPS_TOKENS_FILE``, YAML) stores only their SHA-256 hashes with a role:

- ``admin``: everything, including the audit trail;
- ``operator``: the management centre; reads every case, task and report;
- ``department``: one department's dispatchers; read and act on that department's cases and tasks;
- ``field_crew``: one crew of one department; the same reads as its department, acts on its tasks.

A department (and its crews) never sees another department's cases or tasks:
those read as "not found", so their existence does not leak either.
Nothing here knows about HTTP or Kafka; the web handlers ask it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "ROLES",
    "AccessError",
    "Principal",
    "Role",
    "TokenStore",
    "can_act_on_task",
    "can_read_case",
    "can_read_department",
    "can_read_reports",
    "can_see_alert",
    "can_triage",
    "hash_token",
    "new_token",
    "parse_tokens",
    "token_entry",
]


class Role(StrEnum):
    """What a token holder is to the city."""

    ADMIN = "admin"
    OPERATOR = "operator"
    DEPARTMENT = "department"
    FIELD_CREW = "field_crew"


ROLES = tuple(r.value for r in Role)
_CITY_WIDE = {Role.ADMIN, Role.OPERATOR}
_TOKEN_BYTES = 32

class AccessError(ValueError):
    """A tokens file that cannot be used; the message names the file and the entry."""


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of one request."""

    name: str
    role: Role
    department: str = ""
    crew_id: str = ""

    @property
    def city_wide(self) -> bool:
        """Sees every department's work (admin, operator)."""
        return self.role in _CITY_WIDE

    @property
    def actor(self) -> str:
        """How the audit trail names this caller."""
        suffix = f"@{self.department}" if self.department else ""
        return f"{self.role.value}:{self.name}{suffix}"


def hash_token(token: str) -> str:
    """Hex SHA-256 of a token: what the tokens file stores."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    """A fresh random token (URL-safe, 256 bits)."""
    return secrets.token_urlsafe(_TOKEN_BYTES)


def token_entry(
    token: str, name: str, role: str, department: str = "", crew_id: str = ""
) -> dict[str, str]:
    """The tokens-file entry for ``token`` (hash only), checked like a loaded one."""
    entry = {"name": name, "role": role, "sha256": hash_token(token)}
    if department:
        entry["department"] = department
    if crew_id:
        entry["crew_id"] = crew_id
    _principal_of(entry, "<new entry>", 0, None)
    return entry


def _principal_of(entry: Any, source: str, index: int, departments: set[str] | None) -> Principal:
    where = f"{source}: tokens[{index}]"
    if not isinstance(entry, Mapping):
        raise AccessError(f"{where}: expected a mapping with name, role and sha256")
    unknown = set(entry) - {"name", "role", "sha256", "department", "crew_id"}
    if unknown:
        raise AccessError(f"{where}: unknown keys {sorted(unknown)}")
    name = str(entry.get("name") or "").strip()
    if not name:
        raise AccessError(f"{where}: 'name' is required")
    try:
        role = Role(str(entry.get("role")))
    except ValueError:
        got = entry.get("role")
        raise AccessError(f"{where} ({name}): role must be one of {list(ROLES)}, got {got!r}") from None
    digest = str(entry.get("sha256") or "").lower()
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise AccessError(f"{where} ({name}): sha256 must be 64 hex digits (use `cityops token hash`)")
    department = str(entry.get("department") or "")
    if role in (Role.DEPARTMENT, Role.FIELD_CREW):
        if not department:
            raise AccessError(f"{where} ({name}): role {role.value} needs a 'department'")
        if departments is not None and department not in departments:
            raise AccessError(f"{where} ({name}): department {department!r} is not in the city's departments")
    elif department:
        raise AccessError(f"{where} ({name}): role {role.value} is city-wide and takes no 'department'")
    crew_id = str(entry.get("crew_id") or "")
    if crew_id and role is not Role.FIELD_CREW:
        raise AccessError(f"{where} ({name}): only field_crew tokens take a 'crew_id'")
    if role is Role.FIELD_CREW and not crew_id:
        crew_id = name
    return Principal(name=name, role=role, department=department, crew_id=crew_id)


def parse_tokens(
    data: Any, source: str = "<tokens>", departments: Iterable[str] | None = None
) -> dict[str, Principal]:
    """Token hash -> principal, from the parsed YAML of a tokens file.

    :param data: the YAML document, ``{"tokens": [{name, role, sha256, department?, crew_id?}, ...]}``
    :param source: file name used in error messages
    :param departments: the city's department ids; a token naming another one is refused
    """
    if not isinstance(data, Mapping) or not isinstance(data.get("tokens", []), list):
        raise AccessError(f"{source}: expected a mapping with a 'tokens' list")
    known = set(departments) if departments is not None else None
    out: dict[str, Principal] = {}
    for i, entry in enumerate(data.get("tokens") or []):
        principal = _principal_of(entry, source, i, known)
        digest = str(entry["sha256"]).lower()
        if digest in out:
            twin = out[digest].name
            raise AccessError(f"{source}: tokens[{i}] ({principal.name}) repeats the hash of {twin}")
        out[digest] = principal
    return out


class TokenStore:
    """The tokens file, re-read when it changes (a rotated Kubernetes Secret needs no restart)."""

    def __init__(self, path: Path | None, departments: Iterable[str] | None = None) -> None:
        self.path = path
        self._departments = list(departments) if departments is not None else None
        self._stamp: tuple[int, int] | None = None
        self._by_hash: dict[str, Principal] = {}

    @property
    def configured(self) -> bool:
        """Whether the tokens file exists (without one, every protected call is refused)."""
        return self.path is not None and self.path.exists()

    def _reload(self) -> None:
        if self.path is None:
            return
        try:
            stat = self.path.stat()
        except FileNotFoundError:  # removed: every token is revoked
            self._by_hash, self._stamp = {}, None
            return
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp == self._stamp:
            return
        try:
            data = yaml.safe_load(self.path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise AccessError(f"{self.path}: not valid YAML: {exc}") from exc
        self._by_hash = parse_tokens(data, str(self.path), self._departments)
        self._stamp = stamp

    def authenticate(self, token: str | None) -> Principal | None:
        """The principal holding ``token``, or None; compares hashes in constant time."""
        if not token or self.path is None:
            return None
        self._reload()
        digest = hash_token(token)
        for known, principal in self._by_hash.items():
            if hmac.compare_digest(known, digest):
                return principal
        return None


def can_read_department(principal: Principal, department: str) -> bool:
    """Whether ``principal`` may read the cases and task board of ``department``."""
    return principal.city_wide or (bool(department) and principal.department == department)


def can_read_case(principal: Principal, case: Mapping[str, Any]) -> bool:
    """Whether ``principal`` may read a case (its document, evidence and timeline)."""
    return can_read_department(principal, str(case.get("department") or ""))


def can_see_alert(principal: Principal, alert: Mapping[str, Any]) -> bool:
    """Whether an alert goes to this principal's live feed."""
    return can_read_department(principal, str(alert.get("department") or ""))


def can_read_reports(principal: Principal) -> bool:
    """Reports: city-wide roles see all; a department sees its own; crews see none."""
    return principal.role is not Role.FIELD_CREW


def can_triage(principal: Principal) -> bool:
    """The triage queue of cases no department owns yet is the management centre's."""
    return principal.city_wide


def can_act_on_task(principal: Principal, task: Mapping[str, Any]) -> bool:
    """Whether ``principal`` may acknowledge/start/resolve/reject ``task``.

    Crews and dispatchers act on their own department's tasks; an admin may act
    for anyone; operators watch but do not act for a department.
    """
    if principal.role is Role.ADMIN:
        return True
    if principal.role in (Role.DEPARTMENT, Role.FIELD_CREW):
        return principal.department == str(task.get("department") or "")
    return False
