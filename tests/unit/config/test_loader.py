"""City configuration: the shipped city loads, and mistakes name the file, key and expectation."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from config.loader import CITIES_DIR, ConfigError, load_city


def test_spb_loads_with_its_taxonomy_and_kinds() -> None:
    city = load_city("spb")
    assert len(city.districts) == 18 and len(city.departments) > 50
    assert city.taxonomy.levels == ["city_object", "category", "reason"]
    assert city.kind_for("r.musor_na_vnutridvorovoy_territorii") == "garbage"
    assert city.kind_for("r.does_not_exist", None) == "general"


def broken_copy(tmp_path: Path, file: str, edit: object) -> Path:
    folder = tmp_path / "city"
    shutil.copytree(CITIES_DIR / "spb", folder)
    data = yaml.safe_load((folder / file).read_text())
    edit(data)  # type: ignore[operator]
    (folder / file).write_text(yaml.safe_dump(data, allow_unicode=True))
    return folder


def test_wrong_type_names_file_and_key(tmp_path: Path) -> None:
    folder = broken_copy(tmp_path, "case_kinds.yaml", lambda d: d["case_kinds"][0].update(radius_m="far"))
    with pytest.raises(ConfigError) as err:
        load_city(folder)
    assert "case_kinds.yaml" in str(err.value) and "case_kinds.0.radius_m" in str(err.value)
    assert "valid number" in str(err.value)


def test_unknown_key_is_refused(tmp_path: Path) -> None:
    folder = broken_copy(tmp_path, "routing.yaml", lambda d: d.update(routes=[]))
    with pytest.raises(ConfigError, match=r"routing.yaml: unknown key 'routes'"):
        load_city(folder)


def test_dangling_reference_is_refused(tmp_path: Path) -> None:
    folder = broken_copy(tmp_path, "routing.yaml", lambda d: d["routing"]["rules"].append({"department": "org.nope"}))
    with pytest.raises(ConfigError, match=r"routing.yaml: routing.rules: department .org.nope. is not in departments"):
        load_city(folder)


def test_missing_file_is_named(tmp_path: Path) -> None:
    folder = tmp_path / "city"
    shutil.copytree(CITIES_DIR / "spb", folder)
    (folder / "taxonomy.yaml").unlink()
    with pytest.raises(ConfigError, match=r"taxonomy.yaml: file is missing"):
        load_city(folder)
