"""Typed settings, read once at start from a TOML file and SEVRES_* environment variables.

Precedence, lowest first: built-in defaults, the TOML file, the environment. The file is
the one named by ``SEVRES_CONFIG`` (or ``--config`` on the command line); without one,
``<state_dir>/sevres.toml`` is read when it exists. Every value is checked here, so a bad
value stops the process at start with a message that names the setting and what it takes.

The TOML file has one table per area; each key maps to the environment variable
``SEVRES_<KEY>`` in upper case (``[database] url`` is ``SEVRES_DATABASE_URL``)::

    state_dir = "/var/lib/sevres"
    [database]
    url = "postgresql+psycopg://sevres@db/sevres"
    read_url = "postgresql+psycopg://sevres@replica/sevres"   # optional: see docs/ha.md
    [token]
    expiration = 3600
    provider = "fernet"        # or "jws"
    [keys]
    master_key_file = "/etc/sevres/master.key"   # or SEVRES_MASTER_KEY in the environment
    rotation_interval = 86400  # seconds; 0 turns scheduled rotation off
    [cache]
    staleness_ms = 500
    [security_compliance]      # Keystone's options and defaults (every feature off)
    lockout_failure_attempts = 6
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class ConfigError(Exception):
    """A setting is missing, malformed or out of range; the message says which and why."""


@dataclass(frozen=True)
class Settings:
    state_dir: Path
    database_url: str
    master_key: str | None
    master_key_file: Path
    token_provider: str
    key_rotation_interval: int
    allow_expired_window: int
    cache_staleness_ms: int
    token_cache_size: int
    public_url: str | None
    host: str
    port: int
    workers: int
    token_expiration: int
    log_format: str
    log_level: str
    audit_enabled: bool
    audit_rescopes: bool
    audit_file: Path
    argon2_time_cost: int
    argon2_memory_kib: int
    argon2_parallelism: int
    max_project_tree_depth: int
    admin_project_name: str
    admin_project_domain_id: str
    policy_file: Path | None
    metrics_enabled: bool
    max_limit: int
    # [security_compliance], as Keystone's options of the same names (see identity/compliance.py)
    lockout_failure_attempts: int | None
    lockout_duration: int
    disable_user_account_days_inactive: int | None
    password_expires_days: int | None
    unique_last_password_count: int
    minimum_password_age: int
    password_regex: str | None
    password_regex_description: str | None
    change_password_upon_first_use: bool
    config_file: Path | None
    # [database] read_url: a read replica for read-only transactions and the state poll
    database_read_url: str | None = None

    @property
    def admin_password_file(self) -> Path:
        return self.state_dir / "admin-password"

    def endpoint_url(self) -> str:
        """The URL bootstrap registers for the identity service."""
        base = self.public_url or f"http://{_url_host(self.host)}:{self.port}"
        return base.rstrip("/") + "/v3/"


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 (recognises, never binds)
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


# One row per setting: (name in Settings, TOML table or None for top level, TOML key).
_FIELDS: tuple[tuple[str, str | None, str], ...] = (
    ("state_dir", None, "state_dir"),
    ("database_url", "database", "url"),
    ("database_read_url", "database", "read_url"),
    ("master_key", "keys", "master_key"),
    ("master_key_file", "keys", "master_key_file"),
    ("key_rotation_interval", "keys", "rotation_interval"),
    ("token_provider", "token", "provider"),
    ("allow_expired_window", "token", "allow_expired_window"),
    ("cache_staleness_ms", "cache", "staleness_ms"),
    ("token_cache_size", "cache", "tokens"),
    ("public_url", None, "public_url"),
    ("host", "server", "host"),
    ("port", "server", "port"),
    ("workers", "server", "workers"),
    ("token_expiration", "token", "expiration"),
    ("log_format", "log", "format"),
    ("log_level", "log", "level"),
    ("audit_enabled", "audit", "enabled"),
    ("audit_rescopes", "audit", "rescopes"),
    ("audit_file", "audit", "file"),
    ("argon2_time_cost", "password_hashing", "argon2_time_cost"),
    ("argon2_memory_kib", "password_hashing", "argon2_memory_kib"),
    ("argon2_parallelism", "password_hashing", "argon2_parallelism"),
    ("max_project_tree_depth", "resource", "max_project_tree_depth"),
    ("admin_project_name", "resource", "admin_project_name"),
    ("admin_project_domain_id", "resource", "admin_project_domain_id"),
    ("policy_file", "policy", "file"),
    ("metrics_enabled", "metrics", "enabled"),
    ("max_limit", "api", "max_limit"),
    *((name, "security_compliance", name) for name in (
        "lockout_failure_attempts", "lockout_duration", "disable_user_account_days_inactive",
        "password_expires_days", "unique_last_password_count", "minimum_password_age",
        "password_regex", "password_regex_description", "change_password_upon_first_use",
    )),
)

_ENV_NAMES = {name: "SEVRES_" + name.upper() for name, _, _ in _FIELDS}
_ENV_NAMES["host"] = "SEVRES_HOST"
_ENV_NAMES["port"] = "SEVRES_PORT"
_ENV_NAMES["workers"] = "SEVRES_WORKERS"


def _int_in(low: int, high: int) -> Callable[[str, Any], int]:
    def parse(name: str, value: Any) -> int:
        if isinstance(value, bool):
            raise ConfigError(f"{name} must be a whole number from {low} to {high}, not {value!r}")
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise ConfigError(
                f"{name} must be a whole number from {low} to {high}, not {value!r}"
            ) from None
        if not low <= number <= high:
            raise ConfigError(f"{name} must be from {low} to {high}, not {number}")
        return number

    return parse


def _choice(*choices: str) -> Callable[[str, Any], str]:
    def parse(name: str, value: Any) -> str:
        text = str(value).lower()
        if text not in choices:
            raise ConfigError(f"{name} must be one of {', '.join(choices)}, not {value!r}")
        return text

    return parse


def _text(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{name} must be a non-empty string, not {value!r}")
    return value.strip()


def _database_url(name: str, value: Any) -> str:
    text = _text(name, value)
    scheme = text.split(":", 1)[0]
    if not any(scheme.startswith(p) for p in ("sqlite", "postgresql", "mysql", "mariadb")):
        raise ConfigError(
            f"{name} must be a SQLAlchemy URL for sqlite, postgresql or mysql/mariadb, "
            f"not {text.split('@')[-1]!r}"
        )
    if "://" not in text:
        raise ConfigError(f"{name} must look like DIALECT+DRIVER://USER@HOST/DB, not {text!r}")
    return text


def _public_url(name: str, value: Any) -> str:
    text = _text(name, value)
    if not text.startswith(("http://", "https://")):
        raise ConfigError(f"{name} must start with http:// or https://, not {text!r}")
    return text.rstrip("/")


def _flag(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, not {value!r}")


def _existing_file(name: str, value: Any) -> Path:
    path = Path(_text(name, value)).expanduser().absolute()
    if not path.is_file():
        raise ConfigError(f"{name} names {path}, which is not a readable file")
    return path


def _regex(name: str, value: Any) -> str:
    """A Python regular expression, checked now: Keystone finds a broken one only when a
    user sets a password (and then refuses every password)."""
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{name} must be a non-empty regular expression, not {value!r}")
    try:
        re.compile(value)
    except re.error as error:
        raise ConfigError(f"{name} is not a valid regular expression: {error}") from None
    return value


_DAY_LIMIT = 100 * 365  # days: a century is "never" in practice

_PARSERS: dict[str, Callable[[str, Any], Any]] = {
    "database_url": _database_url,
    "database_read_url": _database_url,
    "public_url": _public_url,
    "host": _text,
    "port": _int_in(1, 65535),
    "workers": _int_in(1, 64),
    "token_expiration": _int_in(60, 7 * 24 * 3600),
    "master_key": _text,
    "token_provider": _choice("fernet", "jws"),
    "key_rotation_interval": _int_in(0, 365 * 24 * 3600),
    "allow_expired_window": _int_in(0, 30 * 24 * 3600),
    "cache_staleness_ms": _int_in(0, 60_000),
    "token_cache_size": _int_in(0, 10_000_000),
    "log_format": _choice("json", "text"),
    "log_level": _choice("debug", "info", "warning", "error"),
    "audit_enabled": _flag,
    "audit_rescopes": _flag,
    "argon2_time_cost": _int_in(1, 20),
    "argon2_memory_kib": _int_in(8, 4 * 1024 * 1024),
    "argon2_parallelism": _int_in(1, 64),
    "max_project_tree_depth": _int_in(1, 100),
    "admin_project_name": _text,
    "admin_project_domain_id": _text,
    "policy_file": _existing_file,
    "metrics_enabled": _flag,
    "max_limit": _int_in(1, 100_000),
    "lockout_failure_attempts": _int_in(1, 1_000_000),
    # 0 (Keystone: leaving it unset) locks until an administrator enables the user again.
    "lockout_duration": _int_in(0, _DAY_LIMIT * 24 * 3600),
    "disable_user_account_days_inactive": _int_in(1, _DAY_LIMIT),
    "password_expires_days": _int_in(1, _DAY_LIMIT),
    # Each remembered password costs one hash at every self-service change: keep it bounded.
    "unique_last_password_count": _int_in(0, 100),
    "minimum_password_age": _int_in(0, _DAY_LIMIT),
    "password_regex": _regex,
    "password_regex_description": _text,
    "change_password_upon_first_use": _flag,
}

_DEFAULTS: dict[str, Any] = {
    "public_url": None,
    "host": "127.0.0.1",
    "port": 5000,
    "workers": 1,
    "token_expiration": 3600,
    "master_key": None,
    "token_provider": "fernet",
    # Rotate daily; a demoted key is kept until every token it signed has expired.
    "key_rotation_interval": 24 * 3600,
    "allow_expired_window": 48 * 3600,  # as Keystone's [token] allow_expired_window
    # How long another node may go on trusting cached state after a change (a revoked
    # token, a removed role): the bound on cross-node staleness.
    "cache_staleness_ms": 500,
    "token_cache_size": 100_000,
    "log_format": "json",
    "log_level": "info",
    "audit_enabled": True,
    # A re-scope (token method) proves no credential: the login it derives from was
    # audited. Keystone by default notifies no authentication at all.
    "audit_rescopes": False,
    # argon2id as RFC 9106's second recommended option (64 MiB, 3 passes, 4 lanes).
    "argon2_time_cost": 3,
    "argon2_memory_kib": 65536,
    "argon2_parallelism": 4,
    "max_project_tree_depth": 10,
    # A token on this project (or on the system) with the admin role is a cloud admin's.
    "admin_project_name": "admin",
    "admin_project_domain_id": "default",
    "policy_file": None,
    "metrics_enabled": True,
    # The largest page a list answers when asked for pages (limit, marker: api/paging.py).
    "max_limit": 1000,
    # [security_compliance]: Keystone's defaults, every feature off.
    "lockout_failure_attempts": None,
    "lockout_duration": 1800,
    "disable_user_account_days_inactive": None,
    "password_expires_days": None,
    "unique_last_password_count": 0,
    "minimum_password_age": 0,
    "password_regex": None,
    "password_regex_description": None,
    "change_password_upon_first_use": False,
}


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"configuration file {path} does not exist") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"configuration file {path} is not valid TOML: {error}") from None


def _from_toml(document: Mapping[str, Any], path: Path) -> dict[str, Any]:
    known_tables = {table for _, table, _ in _FIELDS if table}
    known_top = {key for _, table, key in _FIELDS if table is None}
    values: dict[str, Any] = {}
    for key, value in document.items():
        if key in known_tables and isinstance(value, dict):
            continue
        if key not in known_top:
            raise ConfigError(f"{path}: unknown setting {key!r}")
    for table in known_tables:
        section = document.get(table, {})
        known = {k for _, t, k in _FIELDS if t == table}
        for key in section:
            if key not in known:
                raise ConfigError(f"{path}: unknown setting {key!r} in [{table}]")
    for name, section_name, key in _FIELDS:
        source = document if section_name is None else document.get(section_name, {})
        if key in source:
            values[name] = source[key]
    return values


def load(environ: Mapping[str, str] | None = None, config_file: Path | None = None) -> Settings:
    """Build the settings from defaults, the TOML file and the environment, checking all."""
    env = os.environ if environ is None else environ
    raw: dict[str, Any] = dict(_DEFAULTS)

    state_dir = Path(env.get("SEVRES_STATE_DIR", "") or ".state").expanduser().absolute()
    path = config_file or (Path(env["SEVRES_CONFIG"]) if env.get("SEVRES_CONFIG") else None)
    if path is None and (state_dir / "sevres.toml").is_file():
        path = state_dir / "sevres.toml"
    if path is not None:
        from_file = _from_toml(_read_toml(path), path)
        if "state_dir" in from_file and not env.get("SEVRES_STATE_DIR"):
            state_dir = Path(str(from_file["state_dir"])).expanduser().absolute()
        raw.update(from_file)
    raw.pop("state_dir", None)
    for name, variable in _ENV_NAMES.items():
        if name != "state_dir" and env.get(variable, "") != "":
            raw[name] = env[variable]

    parsed: dict[str, Any] = {}
    for name, parser in _PARSERS.items():
        value = raw.get(name)
        parsed[name] = None if value is None else parser(_ENV_NAMES[name], value)
    database_url = parsed["database_url"] or f"sqlite:///{state_dir / 'sevres.db'}"
    master_key_file = (Path(str(raw["master_key_file"])) if raw.get("master_key_file")
                       else state_dir / "master.key")
    audit_file = Path(str(raw["audit_file"])) if raw.get("audit_file") else state_dir / "audit.log"
    parsed.update(database_url=database_url,
                  master_key_file=master_key_file.expanduser().absolute(),
                  audit_file=audit_file.expanduser().absolute())
    return Settings(state_dir=state_dir, config_file=path, **parsed)


def environment_for(settings: Settings) -> dict[str, str]:
    """Environment variables that make another process load exactly these settings."""
    env = {"SEVRES_STATE_DIR": str(settings.state_dir)}
    for field in dataclasses.fields(settings):
        value = getattr(settings, field.name)
        if field.name in _ENV_NAMES and value is not None and field.name != "state_dir":
            env[_ENV_NAMES[field.name]] = str(value)
    return env
