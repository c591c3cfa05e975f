"""Scheduled key rotation on each backend: due rotations happen once however many nodes
try at the same moment, keys no live token can need are dropped, and a ring loaded after
a rotation still reads every token signed since the oldest kept key."""

from __future__ import annotations

import datetime
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from sevres import config
from sevres.ids import utcnow
from sevres.storage import migrate
from sevres.storage.database import Database
from sevres.tokens import keyring
from sevres.tokens import payload as codec
from sevres.tokens.upkeep import Upkeep
from tests import backends

DAY = datetime.timedelta(days=1)


@pytest.fixture
def ring_env(fresh: backends.Backend, tmp_path: Path
             ) -> Iterator[tuple[Database, keyring.Wrapper, config.Settings]]:
    settings = config.load({"SEVRES_STATE_DIR": str(tmp_path), "SEVRES_DATABASE_URL": fresh.url,
                            "SEVRES_KEY_ROTATION_INTERVAL": "60"})
    keyring.create_master_key_file(settings.master_key_file)
    wrapper = keyring.Wrapper(keyring.read_master_key(None, settings.master_key_file))
    database = Database(settings.database_url, pool_size=4)
    migrate.upgrade(database.engine)
    with database.transaction() as tx:
        keyring.ensure(tx, wrapper, utcnow())
    try:
        yield database, wrapper, settings
    finally:
        database.dispose()


def primaries(database: Database) -> dict[str, str]:
    with database.transaction(write=False) as tx:
        return {r.provider: r.kid for r in tx.keys.fetch() if r.state == keyring.PRIMARY}


def age_primaries(database: Database, by: datetime.timedelta) -> None:
    """Pretend the primary keys have signed for ``by`` already."""
    with database.transaction() as tx:
        for row in tx.keys.fetch():
            if row.state == keyring.PRIMARY:
                tx.keys.set_state(row.id, keyring.PRIMARY, utcnow() - by)


def test_nothing_rotates_before_it_is_due(ring_env: tuple[Database, keyring.Wrapper,
                                                          config.Settings]) -> None:
    database, wrapper, settings = ring_env
    before = primaries(database)
    Upkeep(database, wrapper, settings, DAY).run()
    assert primaries(database) == before


def test_a_due_rotation_happens_once_whoever_runs_it(
        ring_env: tuple[Database, keyring.Wrapper, config.Settings]) -> None:
    database, wrapper, settings = ring_env
    with database.transaction(write=False) as tx:
        staged = {r.provider: r.kid for r in tx.keys.fetch() if r.state == keyring.STAGED}
    age_primaries(database, datetime.timedelta(seconds=120))
    nodes = [Upkeep(database, wrapper, settings, DAY) for _ in range(4)]
    threads = [threading.Thread(target=node) for node in nodes]
    for node in nodes:
        node._next = 0.0  # due now
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert primaries(database) == staged  # promoted once: the staged key, not a newer one
    with database.transaction(write=False) as tx:
        rows = tx.keys.fetch()
    for provider in keyring.PROVIDERS:
        states = sorted(r.state for r in rows if r.provider == provider)
        assert states == ["primary", "secondary", "staged"]


def test_old_keys_go_only_when_no_token_can_need_them(
        ring_env: tuple[Database, keyring.Wrapper, config.Settings]) -> None:
    database, wrapper, _ = ring_env
    with database.transaction(write=False) as tx:
        ring = keyring.load(tx, wrapper, "fernet")
    now = codec.Payload(user_id="u" * 32, methods=("password",), scope=codec.ScopeKind.UNSCOPED,
                        scope_id=None, issued_ms=1, expires_ms=2,
                        audit_ids=(codec.new_audit_id(),))
    old_token = ring.encode(now)
    retain = datetime.timedelta(hours=2)
    clock = utcnow()
    for step in range(3):  # three rotations, an hour apart
        with database.transaction() as tx:
            keyring.rotate(tx, wrapper, "fernet", clock + step * datetime.timedelta(hours=1),
                           retain)
    with database.transaction(write=False) as tx:
        ring = keyring.load(tx, wrapper, "fernet")
        kept = [r for r in tx.keys.fetch("fernet") if r.state == keyring.SECONDARY]
    assert ring.decode(old_token) == now  # its key was demoted under two hours ago
    assert len(kept) == 3
    with database.transaction() as tx:
        keyring.rotate(tx, wrapper, "fernet", clock + 5 * datetime.timedelta(hours=1), retain)
    with database.transaction(write=False) as tx:
        ring = keyring.load(tx, wrapper, "fernet")
    with pytest.raises(codec.MalformedToken):
        ring.decode(old_token)  # its key was dropped: no token it signed can be alive


def test_a_wrong_master_key_cannot_read_the_ring(
        ring_env: tuple[Database, keyring.Wrapper, config.Settings]) -> None:
    database, _, _ = ring_env
    stranger = keyring.Wrapper(keyring.parse_master_key(keyring.new_master_key(), "test"))
    with database.transaction(write=False) as tx, pytest.raises(keyring.KeyringError,
                                                                match="master key"):
        keyring.load(tx, stranger, "fernet")
