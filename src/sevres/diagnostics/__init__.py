"""``sevres doctor``: the checks an operator runs before asking anyone for help.

Each check returns findings: a stable check name, a status (ok, info, warning, error), a
short text and, for anything not ok, the remedy. The checks only read: they never create
the database, the schema or a key, and they never put a secret (the database password,
the master key, key material) in a finding. ``bugreport`` packs them with the redacted
configuration.
"""

from __future__ import annotations

import datetime
import json
import os
import stat
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from sevres.config import ConfigError, Settings
from sevres.ids import utcnow
from sevres.storage.database import normalise_url
from sevres.storage.repositories.keys import KeyRow
from sevres.tokens import keyring
from sevres.tokens.keyring import KeyringError

OK, INFO, WARNING, ERROR = "ok", "info", "warning", "error"
_RANK = {OK: 0, INFO: 0, WARNING: 1, ERROR: 2}

CLOCK_WARNING_SECONDS = 1.0
CLOCK_ERROR_SECONDS = 30.0
_CONNECT_TIMEOUT = 5


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
    database = check_database(settings)
    findings += database
    findings.append(check_master_key(settings))
    findings += check_keys(settings, database)
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
    advice = _compliance_advice(settings)
    if advice is not None:
        return Finding("configuration", WARNING, f"{source}; {advice[0]}", advice[1])
    return Finding("configuration", OK, f"{source}; all settings valid")


def _compliance_advice(settings: Settings) -> tuple[str, str] | None:
    """[security_compliance] settings that load but work against each other, as
    Keystone's doctor warns of them: (what, remedy) or None."""
    if settings.password_regex and not settings.password_regex_description:
        return ("[security_compliance] password_regex has no password_regex_description: "
                "a refused password is explained only by the expression itself",
                "describe the expression for humans in password_regex_description")
    expires, minimum = settings.password_expires_days, settings.minimum_password_age
    if expires and minimum >= expires:
        return (f"[security_compliance] minimum_password_age ({minimum} days) is not below "
                f"password_expires_days ({expires}): users cannot change a password before "
                "it expires", "make minimum_password_age smaller than password_expires_days")
    return None


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


def check_master_key(settings: Settings) -> Finding:
    """Where this node's master key comes from, that it is well formed, and that its file
    is private. The key itself is never shown."""
    path = settings.master_key_file
    exposed = path.is_file() and _exposed(path)
    if settings.master_key:
        source = ("SEVRES_MASTER_KEY (environment)" if os.environ.get("SEVRES_MASTER_KEY")
                  else f"[keys] master_key in {settings.config_file}")
    elif path.exists():
        source = f"the file {path}"
    else:
        return Finding("master_key", ERROR,
                       f"no master key: {path} does not exist and SEVRES_MASTER_KEY is not "
                       "set, so this node can neither unwrap the token keys nor sign tokens",
                       "on the first node of a new deployment run 'sevres init' (it writes "
                       f"{path}); give every other node a copy of that same key (the file, "
                       "mode 600, or SEVRES_MASTER_KEY)")
    try:
        keyring.read_master_key(settings.master_key, path)
    except KeyringError as error:
        return Finding("master_key", ERROR, f"from {source}: {error}",
                       "give this node the deployment's master key (as on the node where "
                       "'sevres init' ran); a new one ('sevres keys master-key') suits only a "
                       "database with no token keys yet: it cannot unwrap existing ones")
    if exposed:
        mode = stat.S_IMODE(path.stat().st_mode)
        who = "others" if mode & 0o007 else "its group"
        return Finding("master_key", ERROR,
                       f"the master key file {path} is {oct(mode)}, open to {who}: whoever "
                       "reads it can unwrap every token key in the database and forge tokens",
                       f"chmod 600 {path} (owned by the user sevres runs as)")
    config_file = settings.config_file
    if (source.startswith("[keys]") and config_file is not None and config_file.is_file()
            and _exposed(config_file)):
        return Finding("master_key", ERROR, f"from {source}, which others can read",
                       f"chmod 600 {config_file}, or move the key to {path} (mode 600) or "
                       "SEVRES_MASTER_KEY")
    unused = f"; {path} is not used" if settings.master_key and path.exists() else ""
    return Finding("master_key", OK, f"from {source}, well formed{unused}")


def _wrapper(settings: Settings) -> keyring.Wrapper | None:
    try:
        return keyring.Wrapper(keyring.read_master_key(settings.master_key,
                                                       settings.master_key_file))
    except KeyringError:
        return None


def _not_ready(database: list[Finding]) -> str | None:
    """Why the key checks cannot read the database (from check_database's findings)."""
    status = {f.check: f.status for f in database}
    if status.get("database") != OK:
        return "the database is unreachable or missing (see database)"
    if status.get("schema") != OK:
        return "the schema is not current (see schema)"
    return None


def check_keys(settings: Settings, database: list[Finding],
               now: datetime.datetime | None = None) -> list[Finding]:
    """The token keys in the database: each provider's primary and staged keys, that this
    node's master key unwraps every one, the primary's age against the rotation interval,
    and that the configured provider can sign. ``database`` is check_database's findings:
    without a reachable, current database the key checks are skipped."""
    from sevres.errors import SevresError
    from sevres.storage.database import Database

    reason = _not_ready(database)
    if reason is not None:
        return [Finding("keys", INFO, f"not checked: {reason}")]
    db = Database(settings.database_url)
    try:
        with db.transaction(write=False) as tx:
            rows = tx.keys.fetch()
    except (sa.exc.SQLAlchemyError, SevresError) as error:
        text = (_first_line(error, settings.database_url)
                if isinstance(error, sa.exc.SQLAlchemyError) else str(error))
        return [Finding("keys", ERROR, f"cannot read the token keys: {text}",
                        "check the database user's privileges on the token_key table")]
    finally:
        db.dispose()
    if not rows:
        return [Finding("keys", ERROR, "no token keys in the database",
                        "run 'sevres init' (it creates a staged and a primary key for each "
                        "provider)")]
    by_provider = {p: [r for r in rows if r.provider == p] for p in keyring.PROVIDERS}
    wrapper = _wrapper(settings)
    failed = _unwrap_failures(rows, wrapper) if wrapper is not None else None
    moment = now or utcnow()
    return [
        _primary(by_provider),
        _staged(by_provider),
        _unwrapped(settings, rows, failed),
        _primary_age(settings, by_provider, moment),
        _provider(settings, by_provider, failed),
    ]


def _one(rows: list[KeyRow], state: str) -> KeyRow | None:
    found = [r for r in rows if r.state == state]
    return found[-1] if found else None


def _rotate(providers: list[str]) -> str:
    return "'sevres keys rotate" + "".join(f" --provider {p}" for p in providers) + "'"


def _primary(by_provider: dict[str, list[KeyRow]]) -> Finding:
    missing = [p for p, rows in by_provider.items() if _one(rows, keyring.PRIMARY) is None]
    if missing:
        empty = [p for p in missing if not by_provider[p]]
        remedies = []
        if empty:
            remedies.append(f"run 'sevres init' (it creates the keys of {', '.join(empty)})")
        others = [p for p in missing if p not in empty]
        if others:
            remedies.append(f"run {_rotate(others)} (it promotes the staged key, or makes "
                            "a new primary)")
        return Finding("keys.primary", ERROR,
                       f"no primary {' or '.join(missing)} key: tokens of that provider "
                       "cannot be issued", "; ".join(remedies))
    parts = []
    for provider, rows in by_provider.items():
        primary = _one(rows, keyring.PRIMARY)
        assert primary is not None
        secondary = sum(r.state == keyring.SECONDARY for r in rows)
        parts.append(f"{provider} {primary.kid} ({secondary} secondary)")
    return Finding("keys.primary", OK, "primary keys: " + ", ".join(parts))


def _staged(by_provider: dict[str, list[KeyRow]]) -> Finding:
    missing = [p for p, rows in by_provider.items()
               if rows and _one(rows, keyring.STAGED) is None]
    if missing:
        return Finding("keys.staged", WARNING,
                       f"no staged {' or '.join(missing)} key: the next rotation will make "
                       "a primary that no node has had a rotation interval to load",
                       f"run {_rotate(missing)} at a quiet time: it stages a key again (the "
                       "new primary it makes reaches every node within the cache staleness)")
    parts = [f"{p} {staged.kid}" for p, rows in by_provider.items()
             if (staged := _one(rows, keyring.STAGED)) is not None]
    return Finding("keys.staged", OK, "staged keys: " + ", ".join(parts))


def _unwrap_failures(rows: list[KeyRow], wrapper: keyring.Wrapper) -> dict[str, list[str]]:
    """Per provider, the kids this wrapper cannot unwrap (or whose material is unusable)."""
    from cryptography.fernet import Fernet

    from sevres.tokens import jws

    failed: dict[str, list[str]] = {}
    for row in rows:
        try:
            secret = wrapper.unwrap(row.provider, row.kid, row.wrapped)
            if row.provider == "fernet":
                Fernet(secret)
            elif row.provider == "jws" and (
                    row.public is None
                    or jws.public_jwk_from_private(secret) != json.loads(row.public)):
                raise ValueError("the published public key is not this key's")
        except (KeyringError, ValueError, TypeError):
            failed.setdefault(row.provider, []).append(row.kid)
    return failed


def _unwrapped(settings: Settings, rows: list[KeyRow],
               failed: dict[str, list[str]] | None) -> Finding:
    if failed is None:
        return Finding("keys.unwrap", INFO,
                       "not checked: this node has no usable master key (see master_key)")
    if failed:
        named = "; ".join(f"{p} {', '.join(kids)}" for p, kids in failed.items())
        count = sum(len(kids) for kids in failed.values())
        return Finding("keys.unwrap", ERROR,
                       f"{count} of {len(rows)} token keys do not unwrap with this node's "
                       f"master key: {named}",
                       "this node has a different master key than the one that wrapped them: "
                       "give it the deployment's master key (the same as on the node where "
                       f"'sevres init' ran) in {settings.master_key_file} or SEVRES_MASTER_KEY")
    return Finding("keys.unwrap", OK,
                   f"all {len(rows)} token keys unwrap with this node's master key")


def _primary_age(settings: Settings, by_provider: dict[str, list[KeyRow]],
                 now: datetime.datetime) -> Finding:
    ages = {}
    for provider, rows in by_provider.items():
        primary = _one(rows, keyring.PRIMARY)
        if primary is not None:
            since = primary.promoted_at or primary.created_at
            ages[provider] = (now - since).total_seconds()
    shown = ", ".join(f"{p} {duration(age)}" for p, age in ages.items()) or "none"
    interval = settings.key_rotation_interval
    if interval == 0:
        return Finding("keys.age", INFO,
                       f"primary keys' age: {shown}; scheduled rotation is off "
                       "([keys] rotation_interval / SEVRES_KEY_ROTATION_INTERVAL = 0)",
                       "rotate on your own schedule with 'sevres keys rotate', or set "
                       "rotation_interval for the servers to do it")
    policy = (f"the servers rotate every {duration(interval)} "
              "([keys] rotation_interval / SEVRES_KEY_ROTATION_INTERVAL)")
    old = [p for p, age in ages.items() if age > 2 * interval]
    if old:
        return Finding("keys.age", WARNING,
                       f"primary keys' age: {shown}; {' and '.join(old)} older than twice "
                       f"the rotation interval: {policy}, but none has",
                       "rotation is done by the running servers: check that a sevres server "
                       "is running and can write to the database, or run 'sevres keys rotate'")
    return Finding("keys.age", OK, f"primary keys' age: {shown}; {policy}")


def _provider(settings: Settings, by_provider: dict[str, list[KeyRow]],
              failed: dict[str, list[str]] | None) -> Finding:
    provider = settings.token_provider
    setting = "[token] provider / SEVRES_TOKEN_PROVIDER"
    primary = _one(by_provider.get(provider, []), keyring.PRIMARY)
    if primary is None:
        return Finding("keys.provider", ERROR,
                       f"tokens are issued with {provider} ({setting}), which has no primary "
                       "key: this node cannot issue tokens", "see keys.primary")
    if failed is None:
        return Finding("keys.provider", INFO,
                       f"tokens are issued with {provider} ({setting}); not checked further: "
                       "no usable master key (see master_key)")
    if failed.get(provider):
        return Finding("keys.provider", ERROR,
                       f"tokens are issued with {provider} ({setting}), whose keys this node "
                       "cannot unwrap: it cannot issue or validate tokens", "see keys.unwrap")
    return Finding("keys.provider", OK,
                   f"tokens are issued with {provider} ({setting}), signed by {primary.kid}")


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
