"""The schema and the `sevres` command on every backend: migrations build exactly the
tables the code declares, and init/bootstrap are idempotent."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from sevres.storage import migrate
from sevres.storage.database import Database
from sevres.storage.tables import metadata
from tests import backends
from tests.server import sevres


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
    """Running init and bootstrap twice creates keys once and no duplicate entities."""
    for _ in range(2):
        assert sevres(tmp_path, fresh.url, "init").returncode == 0
        result = sevres(tmp_path, fresh.url, "bootstrap")
        assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "fernet-keys").iterdir()) == ["0", "1"]
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
