"""The databases the suite runs on: SQLite always; PostgreSQL and MariaDB when reachable.

Each server under test gets a database of its own, created here and dropped afterwards.
SEVRES_TEST_BACKENDS narrows the list (comma-separated); SEVRES_TEST_REQUIRE_BACKENDS=1
turns an unreachable backend into an error instead of a skip (CI sets it).
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

PG_ADMIN = os.environ.get("SEVRES_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
MARIA_ADMIN = os.environ.get("SEVRES_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/")
ALL = ("sqlite", "postgresql", "mariadb")


@dataclass
class Backend:
    name: str
    url: str
    admin_url: str | None = None
    database: str | None = None

    def drop(self) -> None:
        if self.admin_url is None or self.database is None:
            return
        engine = sa.create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            if self.name == "postgresql":
                connection.exec_driver_sql(
                    f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
            else:
                connection.exec_driver_sql(f"DROP DATABASE IF EXISTS `{self.database}`")
        engine.dispose()


def wanted() -> list[str]:
    chosen = os.environ.get("SEVRES_TEST_BACKENDS", ",".join(ALL))
    return [b.strip() for b in chosen.split(",") if b.strip() in ALL]


def unreachable_reason(name: str) -> str | None:
    if name == "sqlite":
        return None
    url = PG_ADMIN if name == "postgresql" else MARIA_ADMIN
    engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
        return None
    except Exception as error:
        return str(error).splitlines()[0][:200]
    finally:
        engine.dispose()


def create(name: str, state_dir: Path) -> Backend:
    if name == "sqlite":
        return Backend(name, f"sqlite:///{state_dir / 'sevres.db'}")
    database = f"sevres_test_{uuid.uuid4().hex[:12]}"
    admin = PG_ADMIN if name == "postgresql" else MARIA_ADMIN
    engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        if name == "postgresql":
            connection.exec_driver_sql(f'CREATE DATABASE "{database}"')
        else:
            connection.exec_driver_sql(
                f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
    engine.dispose()
    url = sa.make_url(admin).set(database=database).render_as_string(hide_password=False)
    return Backend(name, url, admin, database)
