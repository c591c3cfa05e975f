"""The schema and the `sevres` command on every backend: migrations build exactly the
tables the code declares, init/bootstrap are idempotent, and the `sevres keys` commands
manage the token keys in the database."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from cryptography.fernet import Fernet

from sevres.storage import migrate
from sevres.storage.database import Database
from sevres.storage.tables import metadata
from sevres.tokens import keyring
from tests import backends
from tests.server import sevres


def ring(state: Path, url: str) -> dict[tuple[str, str], list[str]]:
    """The key ids by (provider, state), from `sevres keys list --json`."""
    result = sevres(state, url, "keys", "list", "--json")
    assert result.returncode == 0, result.stderr
    found: dict[tuple[str, str], list[str]] = {}
    for row in json.loads(result.stdout):
        assert set(row) == {"provider", "state", "kid", "created_at", "promoted_at",
                            "demoted_at"}  # ids and dates, never key material
        found.setdefault((row["provider"], row["state"]), []).append(row["kid"])
    return found


def test_migrations_build_the_declared_schema(fresh: backends.Backend) -> None:
    """After `db upgrade`, Alembic finds no difference between the database and tables.py."""
    database = Database(fresh.url)
    try:
        assert migrate.current(database.engine) is None
        assert migrate.upgrade(database.engine) == migrate.head()
        with database.engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), metadata)
        assert diff == []
        assert migrate.upgrade(database.engine) == migrate.head()  # idempotent
    finally:
        database.dispose()


def test_db_current_tells_whether_the_schema_is_behind(
    fresh: backends.Backend, tmp_path: Path
) -> None:
    """`sevres db current` exits 1 on an empty database and 0 once upgraded."""
    behind = sevres(tmp_path, fresh.url, "db", "current")
    assert behind.returncode == 1 and "empty" in behind.stdout
    upgraded = sevres(tmp_path, fresh.url, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    current = sevres(tmp_path, fresh.url, "db", "current")
    assert current.returncode == 0 and "(current)" in current.stdout


def test_init_and_bootstrap_are_idempotent(fresh: backends.Backend, tmp_path: Path) -> None:
    """Running init and bootstrap twice creates the master key (0600) and a staged and a
    primary key per provider once, and no duplicate entities."""
    for _ in range(2):
        assert sevres(tmp_path, fresh.url, "init").returncode == 0
        result = sevres(tmp_path, fresh.url, "bootstrap")
        assert result.returncode == 0, result.stderr
    master = tmp_path / "master.key"
    assert stat.S_IMODE(master.stat().st_mode) == 0o600
    assert len(base64.urlsafe_b64decode(master.read_text().strip())) == 32
    assert sorted(ring(tmp_path, fresh.url)) == [
        ("fernet", "primary"), ("fernet", "staged"), ("jws", "primary"), ("jws", "staged")]
    assert all(len(kids) == 1 for kids in ring(tmp_path, fresh.url).values())
    engine = sa.create_engine(fresh.url)
    with engine.connect() as connection:
        count = {t: connection.execute(sa.text(f"SELECT COUNT(*) FROM {q}")).scalar_one()  # noqa: S608
                 for t, q in (("endpoint", "endpoint"), ("role", "role"),
                              ("user", '"user"' if fresh.name != "mariadb" else "`user`"))}
    engine.dispose()
    assert count == {"endpoint": 3, "role": 5, "user": 1}


def test_bootstrap_generates_a_private_password_and_prints_it_once(
    fresh: backends.Backend, tmp_path: Path
) -> None:
    """Without SEVRES_ADMIN_PASSWORD a password is generated, kept 0600, shown only once."""
    assert sevres(tmp_path, fresh.url, "init").returncode == 0
    env = {"SEVRES_ADMIN_PASSWORD": ""}
    first = sevres(tmp_path, fresh.url, "bootstrap", **env)
    second = sevres(tmp_path, fresh.url, "bootstrap", **env)
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    path = tmp_path / "admin-password"
    password = path.read_text().strip()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert password in first.stdout and password not in second.stdout
    assert password not in first.stderr  # stderr carries the log: never a secret
    assert "OS_CLOUD=sevres" in first.stdout


def test_serve_refuses_a_database_that_was_never_initialised(
    fresh: backends.Backend, tmp_path: Path
) -> None:
    """`sevres serve` on an empty database says to run init instead of failing later."""
    result = sevres(tmp_path, fresh.url, "serve", "--port", "1")
    assert result.returncode == 2 and "sevres init" in result.stderr


def test_keys_rotate_promotes_the_staged_key_and_keeps_the_old_primary(
    fresh: backends.Backend, tmp_path: Path
) -> None:
    """`sevres keys rotate`: the staged key signs, the old primary only verifies
    (secondary), and a new key is staged; --provider limits it to one provider."""
    assert sevres(tmp_path, fresh.url, "init").returncode == 0
    before = ring(tmp_path, fresh.url)
    result = sevres(tmp_path, fresh.url, "keys", "rotate")
    assert result.returncode == 0, result.stderr
    after = ring(tmp_path, fresh.url)
    for provider in keyring.PROVIDERS:
        assert after[provider, "primary"] == before[provider, "staged"]
        assert after[provider, "primary"] != before[provider, "primary"]
        assert after[provider, "secondary"] == before[provider, "primary"]
        (staged,) = after[provider, "staged"]
        assert staged not in before[provider, "primary"] + before[provider, "staged"]
        assert f"{after[provider, 'primary'][0]} now signs" in result.stdout
    only = sevres(tmp_path, fresh.url, "keys", "rotate", "--provider", "jws")
    assert only.returncode == 0, only.stderr
    again = ring(tmp_path, fresh.url)
    assert again["fernet", "primary"] == after["fernet", "primary"]
    assert again["jws", "primary"] == after["jws", "staged"]


def test_keys_import_keystone_makes_the_highest_key_primary(
    fresh: backends.Backend, tmp_path: Path
) -> None:
    """A Keystone repository (0 staged, the highest primary, the rest secondary) becomes
    the Fernet ring: key 2 signs, 0 is staged, 1 verifies, and sevres's own Fernet keys
    stay as secondary; the JWS ring is untouched. The primary row unwraps to key 2."""
    state = tmp_path / "state"
    assert sevres(state, fresh.url, "init").returncode == 0
    before = ring(state, fresh.url)
    repository = tmp_path / "fernet-keys"
    repository.mkdir()
    material = {}
    for index in range(3):
        material[index] = Fernet.generate_key()
        (repository / str(index)).write_bytes(material[index] + b"\n")
    result = sevres(state, fresh.url, "keys", "import-keystone", str(repository))
    assert result.returncode == 0, result.stderr
    assert "imported 3" in result.stdout
    after = ring(state, fresh.url)
    (primary,) = after["fernet", "primary"]
    (staged,) = after["fernet", "staged"]
    assert primary.startswith("keystone-2-") and staged.startswith("keystone-0-")
    secondary = after["fernet", "secondary"]
    assert [k.split("-")[1] for k in secondary if k.startswith("keystone-")] == ["1"]
    assert set(before["fernet", "primary"] + before["fernet", "staged"]) <= set(secondary)
    assert (after["jws", "primary"], after["jws", "staged"]) == (
        before["jws", "primary"], before["jws", "staged"])

    wrapper = keyring.Wrapper(keyring.read_master_key(None, state / "master.key"))
    database = Database(fresh.url)
    try:
        with database.transaction(write=False) as tx:
            row = next(r for r in tx.keys.fetch("fernet") if r.kid == primary)
    finally:
        database.dispose()
    assert wrapper.unwrap("fernet", row.kid, row.wrapped) == material[2]


def test_keys_import_keystone_refuses_a_directory_without_fernet_keys(
    fresh: backends.Backend, tmp_path: Path
) -> None:
    """A missing or empty directory, or a file that holds no Fernet key: exit 2 with a
    message naming the directory or the file, and the ring unchanged."""
    state = tmp_path / "state"
    assert sevres(state, fresh.url, "init").returncode == 0
    before = ring(state, fresh.url)
    missing = tmp_path / "no-such-dir"
    result = sevres(state, fresh.url, "keys", "import-keystone", str(missing))
    assert result.returncode == 2
    assert "no Keystone Fernet keys" in result.stderr and str(missing) in result.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    result = sevres(state, fresh.url, "keys", "import-keystone", str(empty))
    assert result.returncode == 2 and "no Keystone Fernet keys" in result.stderr
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "0").write_text("not-a-fernet-key\n")
    (bad / "1").write_bytes(Fernet.generate_key())
    result = sevres(state, fresh.url, "keys", "import-keystone", str(bad))
    assert result.returncode == 2
    assert f"{bad / '0'} does not hold a Fernet key" in result.stderr
    assert "not-a-fernet-key" not in result.stderr
    assert ring(state, fresh.url) == before


def test_serve_refuses_a_master_key_that_does_not_unwrap_the_keys(
    fresh: backends.Backend, tmp_path: Path
) -> None:
    """`sevres serve` with another master key than init's, or none at all, exits 2 with a
    message saying so, before any worker starts; the key is never printed."""
    assert sevres(tmp_path, fresh.url, "init").returncode == 0
    other = keyring.new_master_key()
    result = sevres(tmp_path, fresh.url, "serve", "--port", "1", SEVRES_MASTER_KEY=other)
    assert result.returncode == 2
    assert "cannot be unwrapped" in result.stderr and "master key" in result.stderr
    assert other not in result.stdout + result.stderr
    (tmp_path / "master.key").unlink()
    result = sevres(tmp_path, fresh.url, "serve", "--port", "1")
    assert result.returncode == 2 and "no master key" in result.stderr
