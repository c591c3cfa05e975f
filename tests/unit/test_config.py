"""Configuration: defaults, TOML, environment precedence, and a clear error per bad value."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sevres import config
from sevres.config import ConfigError


def test_defaults_are_the_embedded_sqlite_in_the_state_folder(tmp_path: Path) -> None:
    """Without settings: SQLite and the master key file in the state folder, Fernet tokens
    with daily key rotation, 127.0.0.1:5000, one worker."""
    settings = config.load({"SEVRES_STATE_DIR": str(tmp_path)})
    assert settings.database_url == f"sqlite:///{tmp_path}/sevres.db"
    assert settings.master_key_file == tmp_path / "master.key"
    assert settings.master_key is None
    assert (settings.token_provider, settings.key_rotation_interval) == ("fernet", 86400)
    assert (settings.host, settings.port, settings.workers) == ("127.0.0.1", 5000, 1)
    assert settings.endpoint_url() == "http://127.0.0.1:5000/v3/"


def test_environment_overrides_the_toml_file(tmp_path: Path) -> None:
    """The TOML file sets values; SEVRES_* variables win over it."""
    path = tmp_path / "sevres.toml"
    path.write_text('[server]\nport = 6000\nworkers = 3\n[token]\nexpiration = 600\n'
                    '[database]\nurl = "postgresql://u@db/sevres"\n')
    settings = config.load({"SEVRES_STATE_DIR": str(tmp_path), "SEVRES_WORKERS": "2"})
    assert (settings.port, settings.workers, settings.token_expiration) == (6000, 2, 600)
    assert settings.database_url == "postgresql://u@db/sevres"
    assert settings.config_file == path


@pytest.mark.parametrize(("variable", "value", "named"), [
    ("SEVRES_PORT", "http", "SEVRES_PORT"),
    ("SEVRES_PORT", "70000", "SEVRES_PORT"),
    ("SEVRES_WORKERS", "0", "SEVRES_WORKERS"),
    ("SEVRES_TOKEN_EXPIRATION", "5", "SEVRES_TOKEN_EXPIRATION"),
    ("SEVRES_LOG_FORMAT", "xml", "SEVRES_LOG_FORMAT"),
    ("SEVRES_DATABASE_URL", "oracle://x/y", "SEVRES_DATABASE_URL"),
    ("SEVRES_PUBLIC_URL", "ftp://x", "SEVRES_PUBLIC_URL"),
    ("SEVRES_MAX_PROJECT_TREE_DEPTH", "-1", "SEVRES_MAX_PROJECT_TREE_DEPTH"),
    ("SEVRES_MAX_LIMIT", "0", "SEVRES_MAX_LIMIT"),
])
def test_each_bad_value_is_refused_with_its_name(
    tmp_path: Path, variable: str, value: str, named: str
) -> None:
    """A bad value stops loading with a message naming the setting."""
    with pytest.raises(ConfigError, match=named):
        config.load({"SEVRES_STATE_DIR": str(tmp_path), variable: value})


def test_unknown_or_malformed_toml_is_refused(tmp_path: Path) -> None:
    """Typos in the file are errors, not silently ignored settings."""
    path = tmp_path / "c.toml"
    path.write_text("[server]\nprot = 1\n")
    with pytest.raises(ConfigError, match="unknown setting 'prot'"):
        config.load({}, config_file=path)
    path.write_text("[server\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        config.load({}, config_file=path)
    with pytest.raises(ConfigError, match="does not exist"):
        config.load({}, config_file=tmp_path / "missing.toml")


def test_the_cli_reports_a_bad_setting_and_exits_2(tmp_path: Path) -> None:
    """`sevres` prints the configuration error on stderr and exits 2, no traceback."""
    sevres = str(Path(sys.executable).parent / "sevres")
    result = subprocess.run(
        [sevres, "db", "current"], capture_output=True, text=True, check=False,
        env={"SEVRES_STATE_DIR": str(tmp_path), "SEVRES_PORT": "abc", "PATH": "/usr/bin"},
    )
    assert result.returncode == 2
    assert "configuration error" in result.stderr and "SEVRES_PORT" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_read_replica_url_is_optional_read_from_toml_or_environment_and_checked(
        tmp_path: Path) -> None:
    """[database] read_url (SEVRES_DATABASE_READ_URL): none by default; a bad one is named."""
    assert config.load({"SEVRES_STATE_DIR": str(tmp_path)}).database_read_url is None
    (tmp_path / "sevres.toml").write_text('[database]\nread_url = "postgresql://u@r/sevres"\n')
    assert config.load({"SEVRES_STATE_DIR": str(tmp_path)}).database_read_url == (
        "postgresql://u@r/sevres")
    settings = config.load({"SEVRES_STATE_DIR": str(tmp_path),
                            "SEVRES_DATABASE_READ_URL": "mysql://u@r2/sevres"})
    assert settings.database_read_url == "mysql://u@r2/sevres"
    assert config.environment_for(settings)["SEVRES_DATABASE_READ_URL"] == "mysql://u@r2/sevres"
    with pytest.raises(ConfigError, match="SEVRES_DATABASE_READ_URL"):
        config.load({"SEVRES_STATE_DIR": str(tmp_path), "SEVRES_DATABASE_READ_URL": "http://x"})
