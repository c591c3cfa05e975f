"""Engine and unit of work: one transaction per request, rolled back unless it completes.

SQLite is opened in WAL mode with foreign keys on; a writing transaction starts with
``BEGIN IMMEDIATE`` so two writers queue on the busy timeout instead of failing when a
reader tries to upgrade its lock. Database-refused writes (a unique key raced by another
request) become 409, and an unreachable database becomes 503: never a 500.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from sevres import errors
from sevres.log import emit, events
from sevres.storage.repositories import Store


def normalise_url(url: str) -> str:
    """Pick the drivers sevres ships with when the URL names none."""
    for plain, explicit in (
        ("postgresql://", "postgresql+psycopg://"),
        ("postgres://", "postgresql+psycopg://"),
        ("mysql://", "mysql+pymysql://"),
        ("mariadb://", "mysql+pymysql://"),
        ("mariadb+pymysql://", "mysql+pymysql://"),
    ):
        if url.startswith(plain):
            url = explicit + url[len(plain):]
    if url.startswith("mysql+pymysql://") and "charset=" not in url:
        url += ("&" if "?" in url else "?") + "charset=utf8mb4"
    return url


def make_engine(url: str, pool_size: int = 10) -> sa.Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(connection: sa.Connection) -> None:
            writing = connection.info.get("write", True)
            connection.exec_driver_sql("BEGIN IMMEDIATE" if writing else "BEGIN")

        return engine
    return sa.create_engine(url, pool_size=pool_size, max_overflow=20, pool_pre_ping=True,
                            pool_recycle=3600)


class Database:
    def __init__(self, url: str, pool_size: int = 10) -> None:
        self.url = normalise_url(url)
        self.engine = make_engine(self.url, pool_size)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def transaction(self, write: bool = True) -> Iterator[Store]:
        try:
            with self.engine.connect() as connection:
                connection.info["write"] = write
                with connection.begin():
                    yield Store(connection)
        except sa.exc.IntegrityError as error:
            emit(events.DATABASE_CONFLICT, error_type=type(error.orig).__name__)
            raise errors.Conflict(
                "Conflict occurred attempting to store data: another entry with the same "
                "unique attributes exists or the entity it refers to is gone."
            ) from None
        except sa.exc.DataError:  # e.g. NUL in PostgreSQL text, over-long MariaDB TEXT
            raise errors.ValidationError(
                "Invalid input: a value is too long, or holds characters (such as NUL), "
                "that the identity database cannot store."
            ) from None
        except sa.exc.OperationalError as error:
            if getattr(error, "connection_invalidated", False) or _is_unreachable(error):
                raise errors.Unavailable(
                    "The identity database is unreachable; try again shortly."
                ) from None
            if _is_contention(error):
                emit(events.DATABASE_CONFLICT, error_type=type(error.orig).__name__)
                raise errors.Conflict(
                    "A concurrent change to the same entities won; nothing was written. "
                    "Try the request again."
                ) from None
            raise

    def dispose(self) -> None:
        self.engine.dispose()


def _is_contention(error: sa.exc.OperationalError) -> bool:
    """A deadlock, a serialisation failure or a lock wait that timed out: the database
    aborted this transaction in favour of another, and a retry would succeed."""
    text = str(error.orig).lower()
    args = getattr(error.orig, "args", ()) or ()
    code = getattr(error.orig, "sqlstate", None) or (args[0] if args else None)
    return code in ("40001", "40P01", 1213, 1205) or any(
        word in text for word in ("deadlock", "could not serialize", "lock wait timeout",
                                  "database is locked"))


def _is_unreachable(error: sa.exc.OperationalError) -> bool:
    text = str(error.orig).lower()
    return any(word in text for word in ("connect", "server has gone away", "lost connection"))
