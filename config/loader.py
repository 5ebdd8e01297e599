"""Load and validate a city's configuration folder.

A city folder holds one YAML file per concern (``city.yaml``, ``districts.yaml``,
``taxonomy.yaml``, ``departments.yaml``, ``routing.yaml``, ``case_kinds.yaml``,
``cameras.yaml``, ``history.yaml``). Errors name the file, the key path and what was expected.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from config.models import CityConfig

__all__ = ["CITIES_DIR", "ConfigError", "city_dir", "load_city"]

CITIES_DIR = Path(__file__).resolve().parent / "cities"

# Which file each top-level key of CityConfig comes from.
_FILES: dict[str, str] = {
    "city": "city.yaml",
    "vision": "city.yaml",
    "open311": "city.yaml",
    "default_kind": "case_kinds.yaml",
    "districts": "districts.yaml",
    "taxonomy": "taxonomy.yaml",
    "departments": "departments.yaml",
    "routing": "routing.yaml",
    "case_kinds": "case_kinds.yaml",
    "kind_of_category": "case_kinds.yaml",
    "cameras": "cameras.yaml",
    "history": "history.yaml",
}
_OPTIONAL = {"cameras.yaml", "history.yaml"}


class ConfigError(ValueError):
    """A city configuration that cannot be used; the message names file and key."""


def city_dir(city: str | os.PathLike[str] | None = None) -> Path:
    """Resolve a city id (folder under config/cities) or a path; default from ``CITYOPS_CITY``."""
    name = str(city or os.environ.get("CITYOPS_CITY", "spb"))
    path = Path(name)
    return path if path.is_dir() else CITIES_DIR / name


def _read(folder: Path, file: str) -> dict[str, Any]:
    path = folder / file
    if not path.exists():
        if file in _OPTIONAL:
            return {}
        raise ConfigError(f"{path}: file is missing (expected keys: {_keys_of(file)})")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top, got {type(data).__name__}")
    return data


def _keys_of(file: str) -> list[str]:
    return [k for k, f in _FILES.items() if f == file]


@lru_cache(maxsize=8)
def _load(folder: Path) -> CityConfig:
    merged: dict[str, Any] = {}
    origin: dict[str, Path] = {}
    for file in dict.fromkeys(_FILES.values()):
        data = _read(folder, file)
        for key, value in data.items():
            if key not in _FILES or _FILES[key] != file:
                raise ConfigError(f"{folder / file}: unknown key {key!r}; this file holds {_keys_of(file)}")
            merged[key] = value
            origin[key] = folder / file
    history = merged.get("history")
    if isinstance(history, dict) and history.get("data"):  # relative: from the city folder, wherever we run
        merged["history"] = {**history, "data": str((folder / str(history["data"])).resolve())}
    try:
        return CityConfig.model_validate(merged)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = [str(p) for p in err["loc"]]
            msg = err["msg"].removeprefix("Value error, ")
            if not loc and ":" in msg:  # cross-file checks name their key path first: "routing.rules: ..."
                path, msg = msg.split(":", 1)
                loc, msg = path.split("."), msg.strip()
            where = origin.get(loc[0], folder) if loc else folder
            lines.append(f"{where}: {'.'.join(loc) or '(top)'}: {msg}")
        raise ConfigError("invalid city configuration:\n  " + "\n  ".join(lines)) from exc


def load_city(city: str | os.PathLike[str] | None = None) -> CityConfig:
    """Load, validate and cache the configuration of ``city`` (id or folder path)."""
    return _load(city_dir(city).resolve())
