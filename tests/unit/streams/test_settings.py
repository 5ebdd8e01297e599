"""Settings from the environment: the web server's interface and the one tokens file."""

from __future__ import annotations

from pathlib import Path

from streams.settings import REPO_ROOT, Settings


def test_web_server_listens_on_loopback_unless_asked() -> None:
    assert Settings.from_env({}).web_bind == "127.0.0.1"
    assert Settings.from_env({"CITYOPS_WEB_BIND": ""}).web_bind == "127.0.0.1"
    assert Settings.from_env({"CITYOPS_WEB_BIND": "0.0.0.0"}).web_bind == "0.0.0.0"


def test_the_faust_app_binds_where_settings_say() -> None:
    from streams.app import app
    from streams.settings import settings

    # Faust's web driver opens its socket on conf.web_bind, whose own default is 0.0.0.0.
    assert app.conf.web_bind == settings.web_bind == "127.0.0.1"  # no CITYOPS_WEB_BIND in the test run


def test_tokens_file_is_in_the_data_directory_or_where_the_environment_says(tmp_path: Path) -> None:
    assert Settings.from_env({}).tokens_file == REPO_ROOT / ".cityops" / "tokens.yaml"
    assert Settings.from_env({"CITYOPS_DATA_DIR": str(tmp_path)}).tokens_file == tmp_path / "tokens.yaml"
    named = tmp_path / "elsewhere.yaml"
    env = {"CITYOPS_DATA_DIR": str(tmp_path / "d"), "CITYOPS_TOKENS_FILE": str(named)}
    assert Settings.from_env(env).tokens_file == named
