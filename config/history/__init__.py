"""Reading a city's history file: one seam (:class:`HistoryFormat`), one adapter per format.

=============  =====================================================================
``spb``        St Petersburg appeals portal export (:mod:`config.history.spb`)
``nyc311``     NYC 311 service requests (:mod:`config.history.nyc311`)
``open311``    Open311 GeoReport v2 requests export (:mod:`config.history.open311`)
``cn_hotline`` Chinese government-hotline sample (:mod:`config.history.cn`)
``columns``    any CSV / JSON lines described by a columns file (:mod:`config.history.columns`)
=============  =====================================================================

:func:`history_format` picks the adapter: the one a city's ``history.yaml`` names, else the
one whose fields the file's first row has.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from config.history.base import (
    HistoryError,
    HistoryFormat,
    HistoryRecord,
    number,
    parse_time,
    read_rows,
    slug,
    stable_id,
)
from config.history.cn import CnHotline
from config.history.columns import Columns, ColumnsFormat
from config.history.mapping import HistorySource
from config.history.nyc311 import Nyc311
from config.history.open311 import Open311Requests
from config.history.spb import SpbAppeals

__all__ = [
    "FORMATS",
    "Columns",
    "ColumnsFormat",
    "HistoryError",
    "HistoryFormat",
    "HistoryRecord",
    "HistorySource",
    "history_format",
    "load_columns",
    "number",
    "parse_time",
    "read_rows",
    "slug",
    "stable_id",
]

FORMATS: dict[str, type[HistoryFormat]] = {
    cls.name: cls for cls in (SpbAppeals, Nyc311, Open311Requests, CnHotline)
}


def load_columns(path: str | Path) -> Columns:
    """A columns file, validated; a mistake names the file and the key."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        return Columns.model_validate(data)
    except (OSError, yaml.YAMLError) as exc:
        raise HistoryError(f"{path}: cannot read the columns file: {exc}") from exc
    except ValidationError as exc:
        where = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in exc.errors())
        raise HistoryError(f"{path}: {where}") from exc


def history_format(source: HistorySource | None = None, path: str | Path | None = None) -> HistoryFormat:
    """The adapter named by ``source``, else the one that recognises the first row of ``path``."""
    if source is not None:
        if source.columns is not None:
            return ColumnsFormat(source.columns)
        if source.format not in FORMATS:
            raise HistoryError(f"history.format: {source.format!r} is not one of {sorted(FORMATS)} or 'columns'")
        return FORMATS[source.format]()
    if path is None:
        raise HistoryError("no history format given and no file to recognise it from")
    first = next(iter(read_rows(path)), None)
    if first is None:
        raise HistoryError(f"{path}: the file holds no rows")
    for cls in FORMATS.values():
        fmt = cls()
        if fmt.matches(first[1]):
            return fmt
    raise HistoryError(
        f"{path}: rows are in no known format ({', '.join(FORMATS)}); describe the columns with a columns file "
        f"(keys of the first row: {sorted(first[1])[:12]})"
    )
