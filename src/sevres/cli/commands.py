"""What each ``sevres`` sub-command does; they call services, never SQL."""

from __future__ import annotations

import argparse
import os
import shutil
import socket
from pathlib import Path

import sqlalchemy as sa

from sevres import config
from sevres.cli import keys as key_commands
from sevres.cli.main import admin_password, fail, say
from sevres.config import Settings
from sevres.log import emit, events
from sevres.storage import migrate
from sevres.storage.database import Database
from sevres.storage.repositories import Store


def init(settings: Settings) -> int:
    database = Database(settings.database_url)
    try:
        revision = migrate.upgrade(database.engine)
    except sa.exc.OperationalError as error:
        return fail(f"cannot reach the database: {str(error.orig).splitlines()[0]}")
    finally:
        database.dispose()
    return key_commands.init_keys(settings, revision)


def bootstrap(settings: Settings, region: str) -> int:
    from sevres.app import build_services
    from sevres.bootstrap import bootstrap as run_bootstrap

    policy_problem = _policy_problem(settings)
    if policy_problem is not None:
        return fail(policy_problem)
    if not _schema_current(settings):
        return fail("the database schema is not current; run 'sevres init' first")
    password, generated = admin_password(settings)
    services = build_services(settings)
    try:
        result = run_bootstrap(services, password, settings.endpoint_url(), region)
    finally:
        services.database.dispose()
    clouds = _write_clouds_yaml(settings, password, region)
    say(f"bootstrap done: user admin ({result.user_id}), project admin ({result.project_id})")
    if generated:
        say(f"generated admin password (shown once, kept in {settings.admin_password_file}):")
        say(f"  {password}")
    elif not os.environ.get("SEVRES_ADMIN_PASSWORD"):
        say(f"admin password: in {settings.admin_password_file}")
    if not result.created_user:
        say("the admin user already existed; its password was left unchanged")
    say("reach it with the openstack CLI:")
    say(f"  export OS_CLIENT_CONFIG_FILE={clouds} OS_CLOUD=sevres")
    say("  openstack token issue")
    return 0


def serve(settings: Settings) -> int:
    import uvicorn

    policy_problem = _policy_problem(settings)
    if policy_problem is not None:  # before the workers start, each of which would crash
        return fail(policy_problem)
    if not _schema_current(settings):
        return fail("the database schema is not current; run 'sevres init' first")
    problem = key_commands.ring_problem(settings)
    if problem is not None:
        return fail(problem)
    os.environ.update(config.environment_for(settings))
    if settings.config_file is not None:
        os.environ["SEVRES_CONFIG"] = str(settings.config_file)
    _prepare_metrics(settings)
    url = f"http://{settings.host}:{settings.port}/v3"
    emit(events.SERVER_STARTING, url=url, workers=settings.workers)
    say(f"sevres serving Keystone v3 at {url} (Ctrl-C stops it)")
    # httptools with the header size limits (sevres.api.middleware): uvicorn's own has none.
    server_config = uvicorn.Config(
        "sevres.app:create_app", factory=True, host=settings.host, port=settings.port,
        workers=settings.workers, log_config=None, access_log=False,
        timeout_graceful_shutdown=5, http="sevres.api.middleware:LimitedHttpToolsProtocol")
    try:
        sock = listening_socket(settings.host, settings.port)
    except OSError as error:
        return fail(f"cannot listen on {settings.host}:{settings.port}: {error.strerror}")
    try:
        if settings.workers > 1:
            from uvicorn.supervisors import Multiprocess

            Multiprocess(server_config, sockets=[sock]).run()
        else:
            uvicorn.Server(server_config).run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    return 0


def listening_socket(host: str, port: int) -> socket.socket:
    """The server's socket, made here rather than by uvicorn: uvicorn's own (for several
    workers) is created without naming TCP as its protocol, so asyncio does not set
    TCP_NODELAY on the connections it accepts, and every keep-alive answer written in two
    parts (headers, then body) waits ~40 ms for the client's delayed ACK."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host.strip("[]"), port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def _prepare_metrics(settings: Settings) -> None:
    """Give the workers a fresh folder for their metric files, so /metrics sums them all
    (prometheus_client's multiprocess mode; see sevres.metrics)."""
    os.environ.pop("prometheus_multiproc_dir", None)  # the deprecated spelling
    if not settings.metrics_enabled:
        os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
        return
    folder = settings.state_dir / "metrics"
    shutil.rmtree(folder, ignore_errors=True)  # counts of a previous run are not ours
    folder.mkdir(mode=0o700)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)


def explain(settings: Settings, args: argparse.Namespace) -> int:
    """Print each effective role of USER on TARGET with every chain that grants it."""
    from sevres import errors
    from sevres.app import build_services
    from sevres.assignment import explain as explaining

    if not args.system and not args.target:
        return fail("give a project (or --domain DOMAIN, or --system)")
    services = build_services(settings)
    try:
        with services.database.transaction(write=False) as tx:
            user_domain = _find_domain(tx, args.user_domain)
            user = tx.users.get(args.user) or (
                tx.users.get_by_name(user_domain, args.user) if user_domain else None)
            if user is None:
                return fail(f"no user {args.user!r} (by id, or by name in {args.user_domain})")
            target = None
            if args.domain:
                found = _find_domain(tx, args.target)
                target = tx.projects.get(found) if found else None
            elif not args.system:
                project_domain = _find_domain(tx, args.project_domain)
                target = tx.projects.get(args.target) or (
                    tx.projects.get_by_name(project_domain, args.target)
                    if project_domain else None)
            if target is None and not args.system:
                return fail(f"no {'domain' if args.domain else 'project'} {args.target!r}")
            document = explaining.as_document(
                explaining.explain(services.assignments, tx, user, target), tx,
                lambda path: f"/v3/{path}")["explanation"]
    except errors.SevresError as error:
        return fail(error.message)
    finally:
        services.database.dispose()
    where = ("the system" if target is None else
             f"{'domain' if target.is_domain else 'project'} {target.name} ({target.id})")
    say(f"user {user.name} ({user.id}) on {where}:")
    if not document["roles"]:
        say("  no roles")
    for role in document["roles"]:
        say(f"  {role['name']}")
        for chain in role["granted_by"]:
            say(f"    - {chain['text']}")
    return 0


def _find_domain(tx: Store, ref: str) -> str | None:
    domain = tx.projects.get(ref)
    if domain is not None and domain.is_domain:
        return domain.id
    found = tx.projects.get_by_name(None, ref)
    return found.id if found else None


def db_upgrade(settings: Settings) -> int:
    database = Database(settings.database_url)
    try:
        say(f"schema at revision {migrate.upgrade(database.engine)}")
    finally:
        database.dispose()
    return 0


def db_current(settings: Settings) -> int:
    database = Database(settings.database_url)
    try:
        current = migrate.current(database.engine)
    finally:
        database.dispose()
    head = migrate.head()
    state = "current" if current == head else f"behind (newest is {head}; run 'sevres db upgrade')"
    say(f"{current or 'empty'} ({state})")
    return 0 if current == head else 1


def logs_trace(args: argparse.Namespace) -> int:
    """Print the lines of one request (and the requests linked to it by global request
    ids) from all FILEs in time order: 0 when some were found, 1 when none, 2 when a file
    cannot be read. Needs no settings, state directory or database."""
    import json
    import sys

    from sevres.log import trace

    try:
        tz = trace.zone(args.tz)
    except ValueError as error:
        return fail(str(error))
    try:
        sources: list[tuple[str, list[str] | None]] = [
            (path, list(trace.open_lines(path, sys.stdin.buffer)) if path == "-" else None)
            for path in args.files]
        found = trace.trace(args.request_id, sources, tz)
    except trace.UnreadableLog as error:
        return fail(str(error))
    except KeyboardInterrupt:
        return 130
    if args.verbose:
        for path, count in found.skipped.items():
            fail(f"{trace.short_name(path)}: {count} unparseable line(s) skipped", 0)
    try:
        for record in found.records:
            say(json.dumps(record.as_dict()) if args.json else record.as_text())
    except BrokenPipeError:  # `sevres logs trace ... | head`: the reader left, not an error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    if not found.records:
        return fail(f"no line of request {args.request_id} in {len(args.files)} file(s)", 1)
    return 0


def doctor(settings: Settings, as_json: bool) -> int:
    """Run every check; print a table (or JSON); exit 0 healthy, 1 warnings, 2 errors."""
    from sevres import diagnostics

    findings = diagnostics.run(settings)
    say(diagnostics.as_json(findings) if as_json else diagnostics.as_table(findings))
    return diagnostics.exit_code(findings)


def doctor_config_error(args: argparse.Namespace, error: config.ConfigError) -> int:
    """The doctor's report when the configuration itself does not load."""
    from sevres import diagnostics

    given = args.config or (Path(os.environ["SEVRES_CONFIG"])
                            if os.environ.get("SEVRES_CONFIG") else None)
    findings = diagnostics.config_error(error, given)
    say(diagnostics.as_json(findings) if args.json else diagnostics.as_table(findings))
    return diagnostics.exit_code(findings)


def bug_report(settings: Settings, output: Path | None, logs: list[Path]) -> int:
    """Write the bug-report archive and say where it is."""
    from sevres.diagnostics import bugreport

    missing = [str(path) for path in logs if not path.is_file()]
    if missing:
        return fail(f"no such log file: {', '.join(missing)}")
    path = bugreport.write(settings, (output or bugreport.default_output()).absolute(),
                           logs or bugreport.default_logs(settings))
    say(f"bug report written to {path}")
    say("it holds versions, the configuration with secrets redacted, the doctor's findings "
        "and recent warnings/errors; see README.txt inside")
    return 0


def _policy_problem(settings: Settings) -> str | None:
    """Why the policy file cannot be loaded (naming the rule), or None when it can."""
    from sevres.policy.defaults import DEFAULTS
    from sevres.policy.enforcer import Enforcer, PolicyError

    if settings.policy_file is None:
        return None
    try:
        Enforcer(DEFAULTS, settings.policy_file)
    except PolicyError as error:
        return f"invalid policy file {settings.policy_file}: {error}"
    return None


def _schema_current(settings: Settings) -> bool:
    database = Database(settings.database_url)
    try:
        return migrate.current(database.engine) == migrate.head()
    except sa.exc.OperationalError:
        return False
    finally:
        database.dispose()


def _write_clouds_yaml(settings: Settings, password: str, region: str) -> Path:
    path = settings.state_dir / "clouds.yaml"
    text = (
        "clouds:\n"
        "  sevres:\n"
        "    auth:\n"
        f"      auth_url: {settings.endpoint_url().rstrip('/')}\n"
        "      username: admin\n"
        f"      password: \"{password}\"\n"
        "      project_name: admin\n"
        "      user_domain_name: Default\n"
        "      project_domain_name: Default\n"
        "    identity_api_version: 3\n"
        f"    region_name: {region}\n"
    )
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
    return path
