"""``sevres doctor``: the checks an operator runs before asking anyone for help.

Each check returns findings: a stable check name, a status (ok, info, warning, error), a
short text and, for anything not ok, the remedy. The checks only read: they never create
the database, the schema or a key, and they never put a secret (the database password,
key material) in a finding. ``bugreport`` packs them with the redacted configuration.
"""

from __future__ import annotations

import datetime
import json
import os
import stat
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from sevres.config import ConfigError, Settings
from sevres.storage.database import normalise_url

OK, INFO, WARNING, ERROR = "ok", "info", "warning", "error"
_RANK = {OK: 0, INFO: 0, WARNING: 1, ERROR: 2}

# There is no rotation policy setting yet: the primary key should be rotated no sooner
# than the token expiration (the minimum safe age) and no later than this default.
DEFAULT_MAX_PRIMARY_AGE = 7 * 24 * 3600
CLOCK_WARNING_SECONDS = 1.0
CLOCK_ERROR_SECONDS = 30.0
_CONNECT_TIMEOUT = 5

_NEW_STAGED_KEY = (
    "(umask 077; {python} -c 'import sys; from cryptography.fernet import Fernet; "
    "sys.stdout.write(Fernet.generate_key().decode())' > {path})"
)


@dataclass(frozen=True)
class Finding:
    check: str
    status: str
    text: str
    remedy: str | None = None


def exit_code(findings: list[Finding]) -> int:
    """0 when everything is ok or informational, 1 for warnings only, 2 for any error."""
    return max((_RANK[f.status] for f in findings), default=0)


def run(settings: Settings) -> list[Finding]:
    """Every check, in the order the table shows them."""
    findings = [check_configuration(settings)]
    findings += check_database(settings)
    findings += check_keys(settings)
    findings.append(check_master_key(settings))
    return findings


def config_error(error: ConfigError, config_file: Path | None) -> list[Finding]:
    """The single finding when the configuration does not load (nothing else can run)."""
    where = f" ({config_file})" if config_file else ""
    return [Finding("configuration", ERROR, f"does not load{where}: {error}",
                    "fix the setting named above in the configuration file or the "
                    "SEVRES_* environment")]


# -- configuration -----------------------------------------------------------------------

def check_configuration(settings: Settings) -> Finding:
    source = (f"loaded from {settings.config_file}" if settings.config_file else
              "no configuration file (defaults and SEVRES_* environment)")
    if settings.policy_file is not None:
        from sevres.policy.defaults import DEFAULTS
        from sevres.policy.enforcer import Enforcer, PolicyError

        try:
            Enforcer(DEFAULTS, settings.policy_file)
        except PolicyError as error:
            return Finding("configuration", ERROR,
                           f"{source}; policy file {settings.policy_file} is invalid: {error}",
                           f"fix the rule named above in {settings.policy_file}")
        source += f"; policy file {settings.policy_file} loads"
    path = settings.config_file
    if path is not None and path.is_file() and _exposed(path) and _holds_password(path):
        return Finding("configuration", WARNING,
                       f"{source}; the file holds a database password and others can read it",
                       f"chmod 600 {path}")
    return Finding("configuration", OK, f"{source}; all settings valid")


def _exposed(path: Path) -> bool:
    return bool(stat.S_IMODE(path.stat().st_mode) & 0o077)


def _holds_password(path: Path) -> bool:
    import tomllib

    try:
        document = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError):
        return False
    url = document.get("database", {}).get("url")
    try:
        return isinstance(url, str) and bool(sa.make_url(url).password)
    except sa.exc.ArgumentError:
        return False


# -- database ----------------------------------------------------------------------------

def redacted_url(url: str) -> str:
    """The URL with its password (if any) replaced by ***."""
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "(not a valid URL)"


def _engine(url: str) -> sa.Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        return sa.create_engine(url, connect_args={"timeout": _CONNECT_TIMEOUT})
    return sa.create_engine(url, connect_args={"connect_timeout": _CONNECT_TIMEOUT},
                            poolclass=sa.pool.NullPool)


def _first_line(error: Exception, url: str) -> str:
    text = str(getattr(error, "orig", None) or error).strip().splitlines()
    line = text[0] if text else type(error).__name__
    password = sa.make_url(normalise_url(url)).password
    return line.replace(str(password), "***") if password else line


def check_database(settings: Settings) -> list[Finding]:
    """Reachability, schema revision, clock skew and (MariaDB) Galera readiness."""
    url = settings.database_url
    shown = redacted_url(url)
    parsed = sa.make_url(normalise_url(url))
    not_checked = "not checked: the database is unreachable"
    on_disk = parsed.database not in (None, "", ":memory:")
    if (parsed.drivername.startswith("sqlite") and on_disk
            and not Path(str(parsed.database)).is_file()):
        return [
            Finding("database", ERROR, f"the SQLite file {parsed.database} does not exist",
                    "run 'sevres init' (or check [database] url / SEVRES_DATABASE_URL)"),
            Finding("schema", INFO, not_checked),
            Finding("clock", INFO, not_checked),
            Finding("galera", INFO, "not a Galera node (SQLite)"),
        ]
    engine = _engine(url)
    try:
        try:
            with engine.connect() as connection:
                connection.execute(sa.text("SELECT 1"))
        except sa.exc.SQLAlchemyError as error:
            return [
                Finding("database", ERROR, f"cannot reach {shown}: {_first_line(error, url)}",
                        "check [database] url / SEVRES_DATABASE_URL, the credentials, and "
                        "that the database server is running and reachable"),
                Finding("schema", INFO, not_checked),
                Finding("clock", INFO, not_checked),
                Finding("galera", INFO, not_checked),
            ]
        findings = [Finding("database", OK, f"{engine.dialect.name} reachable at {shown}")]
        findings.append(_schema(engine))
        findings.append(check_clock(engine))
        findings.append(check_galera(engine))
        return findings
    finally:
        engine.dispose()


def _schema(engine: sa.Engine) -> Finding:
    from sevres.storage import migrate

    newest = migrate.head()
    try:
        revision = migrate.current(engine)
    except sa.exc.SQLAlchemyError as error:
        return Finding("schema", ERROR, f"cannot read the schema revision: "
                       f"{_first_line(error, engine.url.render_as_string(False))}",
                       "check the database user's privileges")
    if revision is None:
        return Finding("schema", ERROR, f"the database is empty (newest revision {newest})",
                       "run 'sevres init' (or 'sevres db upgrade')")
    if revision == newest:
        return Finding("schema", OK, f"at revision {revision} (current)")
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    try:
        scripts = ScriptDirectory.from_config(migrate._config())
        known = scripts.get_revision(revision) is not None
    except CommandError:
        known = False
    if not known:
        return Finding("schema", ERROR,
                       f"at revision {revision}, which this sevres does not know "
                       f"(its newest is {newest}): the database is from a newer sevres",
                       "upgrade sevres on this host to the version that migrated the database")
    return Finding("schema", ERROR, f"at revision {revision}, behind the newest {newest}",
                   "run 'sevres db upgrade'")


def database_utc_now(connection: sa.Connection) -> datetime.datetime:
    """The database server's current time, as an aware UTC datetime."""
    dialect = connection.dialect.name
    if dialect == "sqlite":  # CURRENT_TIMESTAMP, with milliseconds
        value = connection.execute(
            sa.text("SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')")).scalar_one()
        return datetime.datetime.fromisoformat(value).replace(tzinfo=datetime.UTC)
    if dialect == "postgresql":
        value = connection.execute(sa.text("SELECT CURRENT_TIMESTAMP")).scalar_one()
        return value.astimezone(datetime.UTC)  # type: ignore[no-any-return]
    value = connection.execute(sa.text("SELECT UTC_TIMESTAMP(6)")).scalar_one()
    return value.replace(tzinfo=datetime.UTC)  # type: ignore[no-any-return]


def clock_finding(skew: float, dialect: str) -> Finding:
    """The finding for a measured skew (database time minus local time, in seconds)."""
    side = "ahead of" if skew > 0 else "behind"
    server = ("SQLite's CURRENT_TIMESTAMP (this host's clock)" if dialect == "sqlite"
              else f"the {dialect} server's clock")
    text = f"{server} is {abs(skew):.3f} s {side} this host's (UTC)"
    remedy = ("synchronise both clocks with NTP (chrony or systemd-timesyncd) on this host "
              "and the database server; tokens and revocations compare timestamps")
    if abs(skew) > CLOCK_ERROR_SECONDS:
        return Finding("clock", ERROR, text + f" (over {CLOCK_ERROR_SECONDS:.0f} s)", remedy)
    if abs(skew) > CLOCK_WARNING_SECONDS:
        return Finding("clock", WARNING, text + f" (over {CLOCK_WARNING_SECONDS:.0f} s)", remedy)
    return Finding("clock", OK, text)


def check_clock(engine: sa.Engine) -> Finding:
    with engine.connect() as connection:
        database_utc_now(connection)  # warm up: the timed round trip is the query alone
        before = time.time()
        remote = database_utc_now(connection)
        after = time.time()
        connection.rollback()
    local = datetime.datetime.fromtimestamp((before + after) / 2, datetime.UTC)
    return clock_finding((remote - local).total_seconds(), engine.dialect.name)


def galera_finding(variables: dict[str, str], status: dict[str, str]) -> Finding:
    """Readiness from ``SHOW VARIABLES LIKE 'wsrep_on'`` and the wsrep status values."""
    if variables.get("wsrep_on", "OFF").upper() != "ON":
        return Finding("galera", INFO, "not a Galera node (wsrep_on is OFF)")
    ready = status.get("wsrep_ready", "OFF")
    state = status.get("wsrep_local_state_comment", "unknown")
    cluster = status.get("wsrep_cluster_status", "unknown")
    text = f"wsrep_ready={ready}, local state {state}, cluster {cluster}"
    if ready.upper() != "ON" or state != "Synced" or cluster != "Primary":
        return Finding("galera", ERROR, f"this Galera node is not ready: {text}",
                       "wait for the node to reach Synced in the Primary component, or point "
                       "sevres at a synced node")
    return Finding("galera", OK, f"Galera node ready: {text}")


def check_galera(engine: sa.Engine) -> Finding:
    if engine.dialect.name not in ("mysql", "mariadb"):
        return Finding("galera", INFO, f"not a Galera node ({engine.dialect.name})")
    with engine.connect() as connection:
        variables = {str(name): str(value) for name, value in connection.execute(
            sa.text("SHOW VARIABLES LIKE 'wsrep_on'"))}
        status = {str(name): str(value) for name, value in connection.execute(sa.text(
            "SHOW GLOBAL STATUS WHERE Variable_name IN "
            "('wsrep_ready', 'wsrep_local_state_comment', 'wsrep_cluster_status')"))}
    return galera_finding(variables, status)


# -- keys --------------------------------------------------------------------------------

def duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}".replace(".0 ", " ")
    return f"{seconds} s"


def check_keys(settings: Settings, now: float | None = None) -> list[Finding]:
    """Staged and primary present, primary's age, every key valid, nothing exposed."""
    from cryptography.fernet import Fernet

    directory = settings.keys_dir
    init = "run 'sevres init' (or restore the key repository from another node)"
    if not directory.is_dir():
        return [Finding("keys", ERROR, f"no key directory {directory}", init)]
    files = {int(p.name): p for p in directory.iterdir() if p.name.isdigit()}
    if not files:
        return [Finding("keys", ERROR, f"no Fernet keys in {directory}", init)]
    findings: list[Finding] = []
    primary = max(files)
    if 0 in files:
        findings.append(Finding("keys.staged", OK, f"staged key 0 present in {directory}"))
    else:
        findings.append(Finding(
            "keys.staged", WARNING, f"no staged key 0 in {directory}: the next rotation would "
            "promote a key the other nodes have never seen",
            "copy the key repository from another node, or write a new staged key: "
            + _NEW_STAGED_KEY.format(python=sys.executable, path=directory / "0")))
    if primary > 0:
        secondary = len([n for n in files if n not in (0, primary)])
        findings.append(Finding("keys.primary", OK,
                                f"primary key {primary} present ({secondary} secondary)"))
    else:
        findings.append(Finding(
            "keys.primary", ERROR, f"only the staged key 0 in {directory}; no primary key",
            "restore the primary key from backup or another node; on a new deployment move "
            "the directory aside and run 'sevres init'"))

    bad = []
    for index in sorted(files):
        try:
            Fernet(files[index].read_bytes().strip())
        except (OSError, ValueError) as error:
            bad.append(f"{index} ({type(error).__name__})")
    if bad:
        findings.append(Finding(
            "keys.valid", ERROR, f"unreadable or invalid Fernet keys in {directory}: "
            + ", ".join(bad),
            "restore those files from backup or another node (each holds one url-safe "
            "base64 32-byte key), and make them readable by the sevres user"))
    else:
        findings.append(Finding("keys.valid", OK, f"{len(files)} keys readable and valid"))

    findings.append(_permissions(directory, files))
    findings.append(_primary_age(settings, files[primary], primary, now))
    return findings


def _permissions(directory: Path, files: dict[int, Path]) -> Finding:
    problems, worst = [], OK
    mode = stat.S_IMODE(directory.stat().st_mode)
    if mode & 0o022:
        problems.append(f"{directory} is {oct(mode)} (writable by others: keys can be planted)")
        worst = ERROR
    elif mode & 0o055:
        problems.append(f"{directory} is {oct(mode)}")
        worst = WARNING
    for index in sorted(files):
        file_mode = stat.S_IMODE(files[index].stat().st_mode)
        if file_mode & 0o077:
            problems.append(f"key {index} is {oct(file_mode)}")
            worst = ERROR if file_mode & 0o007 or worst == ERROR else WARNING
    if not problems:
        return Finding("keys.permissions", OK, "key directory 0700-or-stricter, keys 0600")
    who = "world" if worst == ERROR else "group"
    return Finding(
        "keys.permissions", worst,
        f"key material is {who}-accessible: " + "; ".join(problems),
        f"chmod 700 {directory} && chmod 600 {directory}/*; anyone who read a key can forge "
        "tokens: rotate the keys if others may have read them")


def _primary_age(settings: Settings, path: Path, index: int, now: float | None) -> Finding:
    age = (time.time() if now is None else now) - path.stat().st_mtime
    policy = (f"rotation policy (built-in default, there is no setting yet): rotate no sooner "
              f"than the token expiration ({duration(settings.token_expiration)}) and no later "
              f"than {duration(DEFAULT_MAX_PRIMARY_AGE)}")
    if age > DEFAULT_MAX_PRIMARY_AGE:
        return Finding(
            "keys.age", WARNING,
            f"primary key {index} is {duration(age)} old, older than "
            f"{duration(DEFAULT_MAX_PRIMARY_AGE)}; {policy}",
            "rotate: rename the staged key 0 to the next number (it becomes primary), write a "
            "new staged key 0, and copy the repository to every node")
    return Finding("keys.age", OK, f"primary key {index} is {duration(age)} old; {policy}")


def check_master_key(settings: Settings) -> Finding:
    return Finding("master_key", INFO,
                   f"not configured (keys on disk in {settings.keys_dir}, not wrapped)")


# -- output ------------------------------------------------------------------------------

def summary(findings: list[Finding]) -> str:
    errors = sum(f.status == ERROR for f in findings)
    warnings = sum(f.status == WARNING for f in findings)
    verdict = {0: "healthy", 1: "warnings", 2: "errors"}[exit_code(findings)]
    return f"{verdict}: {errors} error(s), {warnings} warning(s), {len(findings)} checks"


def as_document(findings: list[Finding]) -> dict[str, Any]:
    from sevres import __version__

    return {
        "sevres_version": __version__,
        "time": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "host": os.uname().nodename,
        "exit_code": exit_code(findings),
        "summary": summary(findings),
        "findings": [asdict(f) for f in findings],
    }


def as_json(findings: list[Finding]) -> str:
    return json.dumps(as_document(findings), indent=2)


def as_table(findings: list[Finding]) -> str:
    width = max([len("CHECK"), *(len(f.check) for f in findings)])
    lines = [f"{'CHECK':<{width}}  {'STATUS':<7}  FINDING"]
    pad = " " * (width + 11)
    for f in findings:
        lines.append(f"{f.check:<{width}}  {f.status.upper():<7}  {f.text}")
        if f.remedy:
            lines.append(f"{pad}remedy: {f.remedy}")
    lines.append(summary(findings))
    return "\n".join(lines)
