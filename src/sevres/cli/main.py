"""The ``sevres`` command: init, bootstrap, serve, run, db upgrade, db current.

Commands talk to the user on stdout/stderr (that is their interface, not logging); what
they do is logged through the event catalog like everything else.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from pathlib import Path

from sevres import config, log
from sevres.config import ConfigError, Settings


def say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def fail(text: str, code: int = 2) -> int:
    sys.stderr.write(f"sevres: {text}\n")
    return code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sevres", description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, help="TOML configuration file (or SEVRES_CONFIG)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("init", help="create or upgrade the schema and create the Fernet keys")
    boot = sub.add_parser("bootstrap", help="create the default domain, admin, roles, catalog")
    boot.add_argument("--region", default="RegionOne")
    for name, text in (("serve", "serve the API"),
                       ("run", "init, bootstrap, print how to connect, and serve")):
        command = sub.add_parser(name, help=text)
        command.add_argument("--host", help="address to bind (default 127.0.0.1)")
        command.add_argument("--port", type=int, help="port (default 5000)")
        command.add_argument("--workers", type=int, help="worker processes (default 1)")
    why = sub.add_parser("explain", help="explain a user's effective roles on a project "
                         "(or --domain / --system), chain by chain")
    why.add_argument("user", help="user id, or name in --user-domain")
    why.add_argument("target", nargs="?", help="project id or name (domain with --domain)")
    why.add_argument("--user-domain", default="default", help="domain id or name of the user")
    why.add_argument("--project-domain", default="default", help="domain of a project name")
    kind = why.add_mutually_exclusive_group()
    kind.add_argument("--domain", action="store_true", help="TARGET is a domain")
    kind.add_argument("--system", action="store_true", help="explain system roles")
    keys = sub.add_parser("keys", help="token keys: list, rotate, import from Keystone")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    rotate = keys_sub.add_parser("rotate", help="promote the staged key, stage a new one, "
                                 "drop keys no live token needs (every node sees it)")
    rotate.add_argument("--provider", choices=["fernet", "jws"], action="append",
                        help="only this provider (default: both)")
    listing = keys_sub.add_parser("list", help="the key ring (ids and states, no material)")
    listing.add_argument("--json", action="store_true")
    imported = keys_sub.add_parser("import-keystone",
                                   help="make a Keystone Fernet key repository the ring")
    imported.add_argument("directory", type=Path)
    keys_sub.add_parser("master-key", help="print a new master key (nothing is stored)")
    db = sub.add_parser("db", help="database schema")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="migrate the schema to the newest revision")
    db_sub.add_parser("current", help="print the schema revision and whether it is current")
    doctor = sub.add_parser("doctor", help="check the configuration, database, keys and clock; "
                            "exit 0 healthy, 1 warnings, 2 errors")
    doctor.add_argument("--json", action="store_true", help="print the findings as JSON")
    report = sub.add_parser("bug-report", help="write a .tar.gz with versions, the redacted "
                            "configuration, the doctor's findings and recent warnings/errors")
    report.add_argument("--output", type=Path, help="archive path "
                        "(default ./sevres-bug-report-<time>.tar.gz)")
    report.add_argument("--log", type=Path, action="append", default=[], metavar="FILE",
                        help="a sevres log file (JSON or text) to take warnings and errors "
                        "from; repeatable (default <state_dir>/sevres.log when it exists)")
    logs = sub.add_parser("logs", help="read sevres and other OpenStack services' logs")
    logs_sub = logs.add_subparsers(dest="logs_command", required=True)
    trace = logs_sub.add_parser(
        "trace", help="follow one request across sevres and oslo.log logs, in time order")
    trace.add_argument("request_id", metavar="REQUEST_ID",
                       help="request id or global request id (req-<uuid>)")
    trace.add_argument("files", nargs="+", metavar="FILE",
                       help="log files: sevres JSON or text, oslo.log text or JSON; "
                       ".gz too; - reads stdin")
    trace.add_argument("--json", action="store_true", help="print JSON objects, one a line")
    trace.add_argument("--tz", metavar="ZONE", help="zone of naive timestamps (oslo.log "
                       "text), e.g. Europe/Paris or +02:00 (default UTC); output is UTC")
    trace.add_argument("--verbose", "-v", action="store_true",
                       help="report how many lines of each file could not be parsed")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "keys" and args.keys_command == "master-key":
        from sevres.cli import keys

        return keys.master_key()
    if args.command == "logs":  # reads files only: no settings, state dir or database
        from sevres.cli import commands

        return commands.logs_trace(args)
    try:
        settings = config.load(config_file=args.config)
        if args.command in ("serve", "run"):
            settings = _with_server_options(settings, args)
    except ConfigError as error:
        if args.command == "doctor":  # a broken configuration is the doctor's first finding
            from sevres.cli import commands

            return commands.doctor_config_error(args, error)
        return fail(f"configuration error: {error}")
    log.configure(settings.log_format, settings.log_level)
    settings.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        return _dispatch(args, settings)
    except KeyboardInterrupt:
        return 130


def _with_server_options(settings: Settings, args: argparse.Namespace) -> Settings:
    env = dict(os.environ)
    for option in ("host", "port", "workers"):
        value = getattr(args, option)
        if value is not None:
            env[f"SEVRES_{option.upper()}"] = str(value)
    return config.load(env, config_file=args.config)


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    from sevres.cli import commands

    if args.command == "init":
        return commands.init(settings)
    if args.command == "bootstrap":
        return commands.bootstrap(settings, args.region)
    if args.command == "serve":
        return commands.serve(settings)
    if args.command == "run":
        code = commands.init(settings) or commands.bootstrap(settings, "RegionOne")
        return code or commands.serve(settings)
    if args.command == "explain":
        return commands.explain(settings, args)
    if args.command == "keys":
        return _keys(args, settings)
    if args.command == "db" and args.db_command == "upgrade":
        return commands.db_upgrade(settings)
    if args.command == "db" and args.db_command == "current":
        return commands.db_current(settings)
    if args.command == "doctor":
        return commands.doctor(settings, args.json)
    if args.command == "bug-report":
        return commands.bug_report(settings, args.output, args.log)
    return fail(f"unknown command {args.command}")


def _keys(args: argparse.Namespace, settings: Settings) -> int:
    from sevres.cli import keys

    if args.keys_command == "rotate":
        return keys.rotate(settings, args.provider or ["fernet", "jws"])
    if args.keys_command == "list":
        return keys.list_keys(settings, args.json)
    if args.keys_command == "import-keystone":
        return keys.import_keystone(settings, args.directory)
    return keys.master_key()


def admin_password(settings: Settings) -> tuple[str, bool]:
    """SEVRES_ADMIN_PASSWORD, else the stored one, else a new one stored 0600.
    Returns the password and whether it was generated just now."""
    given = os.environ.get("SEVRES_ADMIN_PASSWORD")
    if given:
        return given, False
    path = settings.admin_password_file
    if path.is_file():
        return path.read_text().strip(), False
    password = secrets.token_urlsafe(18)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(password + "\n")
    return password, True


if __name__ == "__main__":
    sys.exit(main())
