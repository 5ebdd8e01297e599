"""``cityops build-city``, ``cityops check-config``, ``cityops schemas``: the city and the contracts."""

from __future__ import annotations

import argparse
import json
from typing import Any

from config.from_history import build_spb
from config.loader import city_dir, load_city
from schemas.codec import write_json_schemas

__all__ = ["register"]


def cmd_build_city(args: argparse.Namespace) -> int:
    if args.city != "spb":
        raise ValueError("only St Petersburg's history format is known to build-city (spb)")
    counts = build_spb(args.history, city_dir(args.city))
    print(json.dumps(counts))
    load_city(args.city)
    return 0


def cmd_check_config(args: argparse.Namespace) -> int:
    city = load_city(args.city)
    print(f"{city_dir(args.city)}: ok — {len(city.districts)} districts, {len(city.taxonomy.nodes)} taxonomy nodes, "
          f"{len(city.departments)} departments, {len(city.case_kinds)} case kinds, {len(city.cameras)} cameras")
    return 0


def cmd_schemas(args: argparse.Namespace) -> int:
    for path in write_json_schemas():
        print(path)
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser("build-city", help="write a city's districts/taxonomy/departments from its history")
    p.add_argument("city")
    p.add_argument("--history", required=True, help="appeals file (SPb format)")
    p.set_defaults(func=cmd_build_city)

    p = sub.add_parser("check-config", help="validate a city folder; errors name file and key")
    p.add_argument("city", nargs="?", default=None)
    p.set_defaults(func=cmd_check_config)

    p = sub.add_parser("schemas", help="regenerate schemas/json/*.schema.json from schemas/records.py")
    p.set_defaults(func=cmd_schemas)
