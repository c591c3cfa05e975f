"""Engine and unit of work: one transaction per request, rolled back unless it completes.

SQLite is opened in WAL mode with foreign keys on; a writing transaction starts with
``BEGIN IMMEDIATE`` so two writers queue on the busy timeout instead of failing when a
reader tries to upgrade its lock. Database-refused writes (a unique key raced by another
request) become 409, and an unreachable database becomes 503: never a 500.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from sevres import errors
from sevres.log import emit, events
from sevres.storage.repositories import Store, revision


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
                            pool_recycle=3600, connect_args=_timeouts(url))


# A node cut off from its database must answer 503 within seconds, not hang a request
# for the kernel's TCP timeouts (minutes): bound connecting, and a silent peer.
CONNECT_TIMEOUT_S = 3
SILENCE_TIMEOUT_S = 15


def _timeouts(url: str) -> dict[str, Any]:
    if url.startswith("postgresql"):
        return {"connect_timeout": CONNECT_TIMEOUT_S,
                "tcp_user_timeout": SILENCE_TIMEOUT_S * 1000,
                "keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2,
                "keepalives_count": 3}
    if url.startswith("mysql"):
        return {"connect_timeout": CONNECT_TIMEOUT_S, "read_timeout": SILENCE_TIMEOUT_S,
                "write_timeout": SILENCE_TIMEOUT_S}
    return {}


class NeedsDatabase(Exception):
    """Raised on the first use of the database in a transaction that may not use it."""


class Database:
    """The engine, and one unit of work per request.

    Every committed transaction that wrote anything also bumps the revision row (see
    :mod:`sevres.storage.repositories.revision`), so that every process learns that its
    in-memory state is stale; ``on_commit`` callbacks get the new revision at once.
    """

    def __init__(self, url: str, pool_size: int = 10) -> None:
        self.url = normalise_url(url)
        self.engine = make_engine(self.url, pool_size)
        self.on_commit: list[Callable[[revision.Revision], None]] = []
        event.listen(self.engine, "after_cursor_execute", _note_writes)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def transaction(self, write: bool = True, allowed: bool = True) -> Iterator[Store]:
        """One transaction, opened lazily: a request that never reads the database never
        takes a connection. Commits only if the block completes. With ``allowed`` false
        the first use of the database raises :class:`NeedsDatabase` instead."""
        with ExitStack() as stack:
            def connect() -> sa.Connection:
                if not allowed:
                    raise NeedsDatabase
                connection = stack.enter_context(self.engine.connect())
                connection.info["write"] = write
                connection.info["changed"] = None
                connection.begin()
                return connection

            store = Store(connect)
            try:
                with _mapped_errors():
                    yield store
                    if store.opened:
                        self._commit(store.connection)
            except BaseException:
                if store.opened and store.connection.in_transaction():
                    store.connection.rollback()
                self._run_deferred(store)  # the lock is released: SQLite can write again
                raise
        self._run_deferred(store)

    def _run_deferred(self, store: Store) -> None:
        """What the transaction left for afterwards (:meth:`Store.afterwards`), each piece
        in a writing transaction of its own."""
        for work in store.deferred:
            with self.transaction(write=True) as again:
                work(again)

    def _commit(self, connection: sa.Connection) -> None:
        changed = connection.info.get("changed")
        now = revision.bump(connection, authz=changed == "authz") if changed else None
        connection.commit()
        if now is not None:
            for callback in self.on_commit:
                callback(now)

    def dispose(self) -> None:
        self.engine.dispose()


def _note_writes(connection: sa.Connection, _cursor: Any, statement: str, *_: Any) -> None:
    """Remember whether this transaction changed authorization state or only revocations.

    Not counted: the revision row's own update, Alembic's bookkeeping, and ``login_state``
    (failed-login counts, last activity). The latter changes on logins, any client can
    cause it with wrong passwords, and no memo depends on it (logins read it fresh):
    counting it would let a flood of bad logins flush every node's caches and slow
    token validation everywhere."""
    verb = statement[:6].upper()
    if verb not in ("INSERT", "UPDATE", "DELETE"):
        return
    head = statement[:40].lower()
    if "revision" in head or "alembic_version" in head or "login_state" in head:
        return
    only_revocations = "revocation_event" in head
    if connection.info.get("changed") != "authz":
        connection.info["changed"] = "revocations" if only_revocations else "authz"


@contextmanager
def _mapped_errors() -> Iterator[None]:
    try:
        yield
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
