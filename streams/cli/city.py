"""``cityops build-city``, ``cityops check-config``, ``cityops schemas``: the city and the contracts."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from config.history import FORMATS, HistorySource, history_format, load_columns
from config.history.build import build_city, collect
from config.loader import CITIES_DIR, city_dir, load_city
from schemas.codec import write_json_schemas

__all__ = ["register"]


def _languages(texts: list[str]) -> list[str]:
    """Languages of at least 2 % of the sampled texts, commonest first."""
    from detectors.text.language import UNDETERMINED, detect_languages

    counts = Counter(lang for lang in detect_languages(texts) if lang != UNDETERMINED)
    return [lang for lang, n in counts.most_common() if n >= 0.02 * max(1, len(texts))]


def _center(text: str | None) -> tuple[float, float] | None:
    if not text:
        return None
    try:
        lat, lon = (float(x) for x in text.split(","))
    except ValueError as exc:
        raise ValueError(f"--center: expected LAT,LON (e.g. 51.16,71.47), got {text!r}") from exc
    return lat, lon


def cmd_build_city(args: argparse.Namespace) -> int:
    started = time.monotonic()
    out = Path(args.out) if args.out else Path(args.city) if "/" in args.city else CITIES_DIR / args.city
    city_id = args.city.rstrip("/").rsplit("/", 1)[-1]
    if args.columns:
        source = HistorySource(format="columns", columns=load_columns(args.columns))
    elif args.format:
        source = HistorySource(format=args.format)
    else:
        source = HistorySource(format=history_format(None, args.history).name)
    fmt = history_format(source, args.history)
    print(f"reading {args.history} as {fmt.name} ...", file=sys.stderr, flush=True)
    facts = collect(fmt, args.history)
    languages = _languages(facts.texts)
    counts = build_city(fmt, args.history, out, source, facts=facts, city_id=city_id, name=args.name,
                        districts_geojson=args.districts, languages=languages, timezone=args.timezone,
                        center=_center(args.center))  # fmt: skip
    city = load_city(out)
    took = round(time.monotonic() - started, 1)
    print(json.dumps(counts | {"languages": languages, "folder": str(out), "seconds": took}, ensure_ascii=False))
    print(f"{out}: ok — {len(city.districts)} districts, {len(city.taxonomy.nodes)} taxonomy nodes, "
          f"{len(city.departments)} departments")
    return 0


def cmd_check_config(args: argparse.Namespace) -> int:
    city = load_city(args.city)
    history = ""
    if city.history is not None:
        fmt = history_format(city.history, city.history.data)
        found = "found" if city.history.data and city.history.data.exists() else "not found"
        history = f", history {fmt.name} ({city.history.data}: {found})"
    print(f"{city_dir(args.city)}: ok — {len(city.districts)} districts, {len(city.taxonomy.nodes)} taxonomy nodes, "
          f"{len(city.departments)} departments, {len(city.case_kinds)} case kinds, {len(city.cameras)} cameras"
          f"{history}")
    return 0


def cmd_schemas(args: argparse.Namespace) -> int:
    for path in write_json_schemas():
        print(path)
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser("build-city", help="write a complete city folder from its history file")
    p.add_argument("city", help="city id (config/cities/<id>) or a folder path")
    p.add_argument("--history", required=True, help="history file (JSON lines, JSON, CSV; gzip is fine)")
    how = p.add_mutually_exclusive_group()
    how.add_argument("--columns", help="columns file (YAML) saying which column holds what")
    how.add_argument("--format", choices=sorted(FORMATS), help="a known format (default: recognised from the file)")
    p.add_argument("--districts", help="GeoJSON FeatureCollection of district outlines (default: from the history)")
    p.add_argument("--out", help="city folder to write (default: config/cities/<city>, or the path given as city)")
    p.add_argument("--name", help="display name of the city (default: its id)")
    p.add_argument("--timezone", default="UTC", help="IANA time zone for a new city.yaml")
    p.add_argument("--center", help="LAT,LON map centre where the history has no coordinates (default: median point)")
    p.set_defaults(func=cmd_build_city)

    p = sub.add_parser("check-config", help="validate a city folder; errors name file and key")
    p.add_argument("city", nargs="?", default=None)
    p.set_defaults(func=cmd_check_config)

    p = sub.add_parser("schemas", help="regenerate schemas/json/*.schema.json from schemas/records.py")
    p.set_defaults(func=cmd_schemas)
