"""``sevres bug-report``: one .tar.gz an operator can attach to an issue without review.

It holds the versions, the configuration with every secret redacted, the doctor's findings
and the last warning and error events (with their request ids) from the operational log.
Secrets are kept out twice: values are redacted by name and shape as they are collected,
then every member is scrubbed of each secret value sevres knows (the database password,
SEVRES_ADMIN_PASSWORD, the admin-password file's content, the master key from
SEVRES_MASTER_KEY, the configuration or the master key file) before it is written. Nothing
is read from the database's tables, so the token keys (wrapped there) are never in it.
"""

from __future__ import annotations

import contextlib
import datetime
import io
import json
import os
import platform
import re
import sys
import tarfile
import time
import tomllib
from collections import deque
from collections.abc import Iterable
from dataclasses import fields
from importlib import metadata
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from sevres import diagnostics
from sevres.config import Settings

REDACTED = "***"
MAX_EVENTS = 200
_SECRET_NAME = re.compile(r"(^|[_\-.])(password|passwd|secret|key|credential|private)s?"
                          r"($|[_\-.])", re.IGNORECASE)
# Named like a secret, but a path or a number, and worth seeing in a report.
_NOT_SECRET = frozenset({"master_key_file", "SEVRES_MASTER_KEY_FILE",
                         "key_rotation_interval", "SEVRES_KEY_ROTATION_INTERVAL"})
_TEXT_LINE = re.compile(
    r"^(?P<time>\S+) (?P<level>WARNING|ERROR)\s+(?P<event>[a-z]+\.[a-z_]+) "
    r"\[(?P<ids>[^\]]*)\] (?P<message>.*)$")
_MIN_SECRET_LENGTH = 4  # shorter values would scrub ordinary text to nothing

README = """sevres bug report
=================

Made by `sevres bug-report` on {time} (sevres {version}). Every secret sevres knows of was
redacted (shown as ***): the database password, any setting named like password, secret,
key or credential, SEVRES_ADMIN_PASSWORD, the master key; the admin-password and master key
files are never read into the report. Nothing from the database's tables is included, so
neither are the token keys.

README.txt          this file
version.json        sevres, Python and platform versions, and the installed versions of
                    sevres's dependencies
configuration.json  the effective settings (redacted), the configuration file's content
                    (parsed, redacted) and which SEVRES_* environment variables were set
doctor.json         the findings of `sevres doctor` (machine-readable)
doctor.txt          the same findings as the table `sevres doctor` prints
events.jsonl        the last {max_events} WARNING and ERROR events, oldest first, one JSON object
                    a line with their request ids, from: {logs}
"""


def is_secret_name(name: str) -> bool:
    return name not in _NOT_SECRET and bool(_SECRET_NAME.search(name))


def redact_url(value: str) -> str:
    try:
        url = sa.make_url(value)
    except sa.exc.ArgumentError:
        return value
    query = {k: (REDACTED if is_secret_name(k) else v) for k, v in url.query.items()}
    return url.set(query=query).render_as_string(hide_password=True)


def redact(name: str, value: Any) -> Any:
    """A value fit for the report: secrets by name become ***, URLs lose their password."""
    if isinstance(value, dict):
        return {k: redact(str(k), v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(name, v) for v in value]
    if is_secret_name(name):
        return REDACTED
    if isinstance(value, str) and "://" in value:
        return redact_url(value)
    if isinstance(value, Path):
        return str(value)
    return value


def known_secrets(settings: Settings, environ: dict[str, str]) -> list[str]:
    """Every secret value the report must never contain, longest first."""
    found: set[str] = set()
    urls = [settings.database_url, *([settings.database_read_url] if settings.database_read_url
                                     else []),
            *(v for v in environ.values() if "://" in v)]
    if settings.config_file is not None and settings.config_file.is_file():
        with contextlib.suppress(OSError, tomllib.TOMLDecodeError, AttributeError):
            urls.append(str(tomllib.loads(settings.config_file.read_text())
                            .get("database", {}).get("url", "")))
    for url in urls:
        try:
            password = sa.make_url(url).password
        except sa.exc.ArgumentError:
            continue
        if password:
            found.add(str(password))
    found.update(v for k, v in environ.items() if is_secret_name(k) and v)
    if settings.master_key:
        found.add(settings.master_key)
    paths = [settings.admin_password_file, settings.master_key_file]
    for path in paths:
        with contextlib.suppress(OSError):
            found.add(path.read_text(errors="replace").strip())
    return sorted((s for s in found if len(s) >= _MIN_SECRET_LENGTH), key=len, reverse=True)


def scrub(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    return text


def versions() -> dict[str, Any]:
    from sevres import __version__

    packages: dict[str, str | None] = {}
    try:
        requirements = metadata.requires("sevres") or []
    except metadata.PackageNotFoundError:
        requirements = []
    for requirement in requirements:
        if "extra ==" in requirement:
            continue
        name = re.split(r"[\s\[<>=!~;(]", requirement, maxsplit=1)[0]
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            packages[name] = None
    return {
        "sevres": __version__,
        "python": sys.version,
        "python_implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "dependencies": packages,
    }


def configuration(settings: Settings, environ: dict[str, str]) -> dict[str, Any]:
    effective = {f.name: redact(f.name, getattr(settings, f.name)) for f in fields(settings)}
    file_content: Any = None
    if settings.config_file is not None:
        try:
            file_content = redact("", tomllib.loads(settings.config_file.read_text()))
        except (OSError, tomllib.TOMLDecodeError) as error:
            file_content = f"(not readable: {type(error).__name__})"
    known = {f"SEVRES_{f.name.upper()}" for f in fields(settings)} | {
        "SEVRES_HOST", "SEVRES_PORT", "SEVRES_WORKERS", "SEVRES_CONFIG"}
    environment = {
        name: (redact(name, value) if name in known or is_secret_name(name) else "(set)")
        for name, value in sorted(environ.items()) if name.startswith("SEVRES_")
    }
    return {"settings": effective, "config_file": str(settings.config_file or ""),
            "config_file_content": file_content, "environment": environment}


def parse_line(line: str) -> dict[str, Any] | None:
    """A WARNING or ERROR event from one sevres log line (JSON or text), else None."""
    line = line.strip()
    if line.startswith("{"):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            return None
        if isinstance(record, dict) and str(record.get("level", "")).upper() in (
                "WARNING", "ERROR"):
            return record
        return None
    match = _TEXT_LINE.match(line)
    if match is None:
        return None
    record = {k: match[k] for k in ("time", "level", "event", "message")}
    for pair in match["ids"].split():
        key, _, value = pair.partition("=")
        if value:
            record[key] = value
    return record


def recent_events(paths: list[Path], limit: int = MAX_EVENTS) -> list[dict[str, Any]]:
    """The last ``limit`` warning and error events of the files, in file order."""
    kept: deque[dict[str, Any]] = deque(maxlen=limit)
    for path in paths:
        with path.open(errors="replace") as handle:
            for line in handle:
                record = parse_line(line)
                if record is not None:
                    kept.append({"source": str(path), **record})
    return list(kept)


def default_logs(settings: Settings) -> list[Path]:
    candidate = settings.state_dir / "sevres.log"
    return [candidate] if candidate.is_file() else []


def write(settings: Settings, output: Path, logs: list[Path],
          environ: dict[str, str] | None = None) -> Path:
    """Build the archive at ``output`` (0600) and return its path."""
    env = dict(os.environ if environ is None else environ)
    findings = diagnostics.run(settings)
    document = diagnostics.as_document(findings)
    events = recent_events(logs)
    now = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    members = {
        "README.txt": README.format(
            time=now, version=document["sevres_version"], max_events=MAX_EVENTS,
            logs=", ".join(str(p) for p in logs) or "(no log file given or found)"),
        "version.json": json.dumps(versions(), indent=2),
        "configuration.json": json.dumps(configuration(settings, env), indent=2, default=str),
        "doctor.json": json.dumps(document, indent=2),
        "doctor.txt": diagnostics.as_table(findings) + "\n",
        "events.jsonl": "".join(json.dumps(e, default=str) + "\n" for e in events),
    }
    secrets = known_secrets(settings, env)
    prefix = output.name.removesuffix(".tar.gz")
    output.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
        for name, text in members.items():
            data = scrub(text, secrets).encode()
            info = tarfile.TarInfo(f"{prefix}/{name}")
            info.size, info.mtime, info.mode = len(data), int(time.time()), 0o600
            tar.addfile(info, io.BytesIO(data))
    return output


def default_output() -> Path:
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    return Path.cwd() / f"sevres-bug-report-{stamp}.tar.gz"
