"""``sevres init``'s key step and the ``sevres keys`` commands: the master key, the ring
in the database, rotation, and importing a Keystone key repository."""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sevres.cli.main import fail, say
from sevres.config import Settings
from sevres.ids import utcnow
from sevres.log import emit, events
from sevres.storage.database import Database
from sevres.storage.repositories import Store
from sevres.tokens import keyring
from sevres.tokens.keyring import KeyringError, Wrapper


def _wrapper(settings: Settings) -> Wrapper:
    return Wrapper(keyring.read_master_key(settings.master_key, settings.master_key_file))


def _retention(settings: Settings) -> datetime.timedelta:
    from sevres.app import retention

    return retention(settings)


@contextmanager
def _transaction(settings: Settings, write: bool = True) -> Iterator[Store]:
    """One transaction on a database opened for this command alone."""
    database = Database(settings.database_url)
    try:
        with database.transaction(write=write) as tx:
            yield tx
    finally:
        database.dispose()


def init_keys(settings: Settings, revision: str) -> int:
    """Create the master key file (unless the key is given in the environment) and a
    staged and a primary key for each provider that has none."""
    if not settings.master_key and keyring.create_master_key_file(settings.master_key_file):
        emit(events.MASTER_KEY_CREATED, path=str(settings.master_key_file))
        say(f"master key created in {settings.master_key_file}: give the same key to every "
            "node (file or SEVRES_MASTER_KEY) and keep a copy offline")
    try:
        with _transaction(settings) as tx:
            created = keyring.ensure(tx, _wrapper(settings), utcnow())
    except KeyringError as error:
        return fail(str(error))
    say(f"schema at revision {revision}; token keys in the database"
        + (f" (created for {', '.join(created)})" if created else ""))
    return 0


def ring_problem(settings: Settings) -> str | None:
    """Why this node could not sign tokens, or None: no master key, a wrong one, no keys."""
    try:
        with _transaction(settings, write=False) as tx:
            keyring.load(tx, _wrapper(settings), settings.token_provider)
    except KeyringError as error:
        return str(error)
    return None


def rotate(settings: Settings, providers: list[str]) -> int:
    try:
        with _transaction(settings) as tx:
            done = [keyring.rotate(tx, _wrapper(settings), p, utcnow(), _retention(settings))
                    for p in providers]
    except KeyringError as error:
        return fail(str(error))
    for r in done:
        say(f"{r.provider}: {r.primary} now signs, {r.staged} staged, "
            f"{r.dropped} expired keys dropped")
    return 0


def list_keys(settings: Settings, as_json: bool) -> int:
    with _transaction(settings, write=False) as tx:
        rows = keyring.describe(tx.keys.fetch())
    if as_json:
        say(json.dumps(rows, indent=2))
        return 0
    for row in rows:
        say(f"{row['provider']:<7} {row['state']:<10} {row['kid']:<44} "
            f"created {row['created_at']}")
    return 0


def import_keystone(settings: Settings, directory: Path) -> int:
    try:
        with _transaction(settings) as tx:
            count = keyring.import_keystone(tx, _wrapper(settings), directory, utcnow())
    except (KeyringError, OSError) as error:
        return fail(str(error))
    say(f"imported {count} Keystone Fernet keys from {directory}; the highest signs now")
    return 0


def master_key() -> int:
    say(keyring.new_master_key())
    return 0
