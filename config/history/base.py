"""The seam for a city's history file: one record type, one base class, one adapter per format.

A history file is what a city already has: an export of past complaints or
service requests. Every reader of history (replay, training, evaluation, the
dedupe evaluation, the cases bench, ``build-city``) gets :class:`HistoryRecord`
objects from a :class:`HistoryFormat`, never raw rows, so a new format is one
adapter beside the others (``spb.py``, ``nyc311.py``, ``open311.py``,
``columns.py``, ``cn.py``) and no reader changes.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = [
    "HistoryError",
    "HistoryFormat",
    "HistoryRecord",
    "number",
    "parse_time",
    "read_rows",
    "slug",
    "stable_id",
]

_CYRILLIC = "абвгдеёжзийклмнопрстуфхцчшщъыьэюя"
_LATIN = "a b v g d e e zh z i y k l m n o p r s t u f kh ts ch sh shch - y - e yu ya".split()  # noqa: SIM905
_TRANSLIT = dict(zip(_CYRILLIC, _LATIN, strict=True))
_TIME_FORMATS = ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S",
                 "%m/%d/%Y %I:%M:%S %p", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%d.%m.%Y %H:%M:%S",
                 "%d.%m.%Y %H:%M", "%d.%m.%Y")  # fmt: skip


class HistoryError(ValueError):
    """A history file (or one of its rows) that cannot be read; the message names the file and the row."""


def slug(text: str) -> str:
    """ASCII identifier for a Russian (or any) label: 'Невский' -> 'nevskiy'."""
    out = "".join(_TRANSLIT.get(ch, ch) for ch in text.lower()).replace("-", "")
    return re.sub(r"[^a-z0-9]+", "_", out).strip("_")


def stable_id(label: str, limit: int = 60) -> str:
    """A readable id for any label, the same on every run: the slug, plus a short hash where the slug loses letters.

    Chinese labels slug to nothing and Kazakh ones lose ә/қ/ү..., so two different labels could share a slug.
    """
    base = slug(label)[:limit]
    lossless = all(ch.isascii() or ch in _TRANSLIT for ch in label.lower())
    if base and lossless:
        return base
    digest = hashlib.sha1(label.encode("utf-8")).hexdigest()[:6]
    return f"{base[:40]}_{digest}" if base else f"x{digest}"


def parse_time(value: Any) -> datetime:
    """A timestamp as written in exports (ISO, US 311, Russian dd.mm.yyyy, epoch seconds), as naive UTC."""
    if isinstance(value, int | float):
        return datetime.fromtimestamp(float(value), UTC).replace(tzinfo=None)
    text = str(value or "").strip()
    if not text:
        raise ValueError("empty time")
    for fmt in _TIME_FORMATS:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed.astimezone(UTC).replace(tzinfo=None) if parsed.tzinfo else parsed


def number(value: Any) -> float | None:
    """A coordinate or count as a float; ``None`` for empty, unreadable or NaN."""
    if value is None or value == "":
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if out == out else None


def read_rows(path: str | Path, kind: str | None = None) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line, row)`` for each row of a JSON-lines, JSON-array or CSV file, gzip or not.

    :param kind: ``jsonl``, ``json`` or ``csv``; default from the file name (``.csv``/``.csv.gz`` is CSV,
        ``.json`` a JSON array, anything else JSON lines)
    """
    name = str(path).removesuffix(".gz")
    kind = kind or ("csv" if name.endswith(".csv") else "json" if name.endswith(".json") else "jsonl")
    opener: Any = gzip.open if str(path).endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8-sig", newline="") as fh:
            if kind == "csv":
                for n, row in enumerate(csv.DictReader(fh), 2):
                    yield n, dict(row)
            elif kind == "json":
                data = json.load(fh)
                rows = (data.get("requests") or data.get("service_requests") or []) if isinstance(data, dict) else data
                for n, row in enumerate(rows, 1):
                    yield n, _mapping(path, n, row)
            else:
                for n, line in enumerate(fh, 1):
                    if line.strip():
                        yield n, _mapping(path, n, _json(path, n, line))
    except (OSError, EOFError, UnicodeDecodeError, csv.Error, json.JSONDecodeError) as exc:
        raise HistoryError(f"{path}: cannot be read as {kind}: {exc}") from exc


def _json(path: str | Path, n: int, line: str) -> Any:
    try:
        return json.loads(line)
    except json.JSONDecodeError as exc:
        raise HistoryError(f"{path}:{n}: not a JSON object: {exc.msg}") from exc


def _mapping(path: str | Path, n: int, row: Any) -> dict[str, Any]:
    if not isinstance(row, dict):
        raise HistoryError(f"{path}:{n}: expected an object with named fields, got {type(row).__name__}")
    return row


@dataclass(frozen=True)
class HistoryRecord:
    """One past complaint as every reader sees it: labels as the city wrote them (``""`` where unknown)."""

    id: str
    created: datetime  # naive, as written in the file (treated as UTC when an epoch is needed)
    text: str
    lat: float | None
    lon: float | None
    address: str = ""
    district: str = ""  # the district's name in the file
    levels: tuple[str, ...] = ()  # taxonomy labels, coarsest first
    department: str = ""  # key of the department that acted (a name or a code)
    department_name: str = ""  # its display name, where the file has one apart from the key
    petition: int = 1  # 1 for a first report, n for the n-th report of the same problem
    duplicate: bool = False  # the city closed it as a duplicate of an earlier report
    twin: str = ""  # the row id shared by one report written in several languages (else "")

    @property
    def epoch(self) -> float:
        """Creation time in seconds since the epoch (the one time unit of every record)."""
        return self.created.replace(tzinfo=UTC).timestamp()


class HistoryFormat(ABC):
    """How one kind of history file is read. Subclass it, set the class attributes, implement :meth:`record`.

    The hooks, in the order readers use them:

    * :meth:`rows` yields the file's raw rows (default: JSON lines / JSON array / CSV by file name);
    * :meth:`matches` says whether a raw row looks like this format (used when nothing names the format);
    * :meth:`record` turns a raw row into a :class:`HistoryRecord`, or raises ``ValueError`` naming what is wrong
      (:meth:`records` where one row holds several reports, e.g. one text per language);
    * :meth:`node_ids` gives the taxonomy ids ``build-city`` writes for the label paths found;
    * :meth:`department_id` and :meth:`district_id` give the ids of a department / district name;
    * :meth:`known_label_paths` adds taxonomy paths the history does not use (a service list shipped beside it).
    """

    #: registry key, as written in a city's ``history.yaml`` (``format: nyc311``)
    name: str = ""
    #: ISO 639-1 language every row is written in; ``""`` = detect per report
    language: str = ""
    #: taxonomy level names, coarsest first (``build-city`` writes them into ``taxonomy.yaml``)
    level_names: tuple[str, ...] = ("category",)
    #: False where a label alone does not name a node (NYC descriptors repeat under many complaint types)
    labels_identify_nodes: bool = True
    #: True where :meth:`node_ids` numbers labels across the whole taxonomy (one path alone gives no id)
    numbered_ids: bool = False
    #: how many top taxonomy levels ``taxonomy.yaml`` lists depth-first (finer ones follow level by level)
    interleaved_levels: int = 99
    #: a node whose id several labels share is labelled by the commonest (else by the first in taxonomy order)
    label_by_count: bool = True
    #: prefix of the event ids the replay gives this format's rows
    event_prefix: str = "h"

    def rows(self, path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
        """``(line, row)`` for each raw row of ``path``."""
        return read_rows(path)

    @abstractmethod
    def matches(self, row: dict[str, Any]) -> bool:
        """True when ``row`` has the fields this format reads (format sniffing)."""

    @abstractmethod
    def record(self, row: dict[str, Any]) -> HistoryRecord:
        """The record of one raw row; ``ValueError``/``KeyError`` when a required field is missing or unreadable."""

    def records(self, row: dict[str, Any], index: int) -> list[HistoryRecord]:
        """The records of the ``index``-th raw row (from 1): one, unless it holds one report in several languages."""
        return [self.record(row)]

    def read(self, path: str | Path, limit: int | None = None) -> Iterator[HistoryRecord]:
        """Records of ``path`` in file order; a bad row stops the read with a :class:`HistoryError` naming it."""
        for count, (n, row) in enumerate(self.rows(path)):
            if limit is not None and count >= limit:
                return
            try:
                yield from self.records(row, count + 1)
            except (KeyError, ValueError, TypeError) as exc:
                raise HistoryError(f"{path}:{n}: not a {self.name} row: {exc!r}") from exc

    def node_ids(self, paths: Iterable[tuple[str, ...]]) -> dict[tuple[str, ...], str]:
        """Taxonomy id of each label path (``paths[i]`` = labels of levels 0..i): by default one per label and level."""
        return {p: f"t{len(p) - 1}." + stable_id(p[-1]) for p in paths}

    def order_key(self, path: tuple[str, ...], ids: dict[tuple[str, ...], str]) -> Any:
        """Sort key of a label path in ``taxonomy.yaml`` (default: the labels)."""
        return path

    def department_id(self, key: str) -> str:
        return "org." + stable_id(key)

    def district_id(self, name: str) -> str:
        return stable_id(name)

    def district_name(self, name: str) -> str:
        """The display name ``build-city`` gives a district named ``name`` in the file."""
        return name

    def known_label_paths(self, path: str | Path) -> list[tuple[str, ...]]:
        """Taxonomy paths known beside the history file (none by default)."""
        return []
