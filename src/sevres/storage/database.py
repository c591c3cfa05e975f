"""Engine and unit of work: one transaction per request, rolled back unless it completes.

SQLite is opened in WAL mode with foreign keys on; a writing transaction starts with
``BEGIN IMMEDIATE`` so two writers queue on the busy timeout instead of failing when a
reader tries to upgrade its lock. Database-refused writes (a unique key raced by another
request) become 409, and an unreachable database becomes 503: never a 500.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from sevres import errors, metrics
from sevres.log import emit, events
from sevres.storage.breaker import ABANDONED, Breaker, abandoned
from sevres.storage.probe import MAX_UNANSWERED, Prober
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


def make_engine(url: str, pool_size: int = 10, probe: bool = False) -> sa.Engine:
    """The engine of one database URL. ``probe``: a small pool with short timeouts, for
    the state poll's probes (see :mod:`sevres.storage.breaker`)."""
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
    if probe:  # the probe is itself the ping; a stuck probe keeps its connection
        return sa.create_engine(url, pool_size=1, max_overflow=MAX_UNANSWERED,
                                pool_timeout=0.5, pool_recycle=3600,
                                connect_args=_timeouts(url, PROBE_TIMEOUT_S, PROBE_TIMEOUT_S))
    return sa.create_engine(url, pool_size=pool_size, max_overflow=20, pool_pre_ping=True,
                            pool_recycle=3600, connect_args=_timeouts(url))


# A node cut off from its database must answer 503 within seconds, not hang a request
# for the kernel's TCP timeouts (minutes): bound connecting, and a silent peer.
# (Requests are not held to these: the circuit breaker answers them 503 within a poll
# period and a probe deadline; these end the threads and connections left behind.)
CONNECT_TIMEOUT_S = 3
SILENCE_TIMEOUT_S = 15
# The state poll's probes: libpq's smallest connect timeout is 2 s.
PROBE_TIMEOUT_S = 2


def _timeouts(url: str, connect_s: int = CONNECT_TIMEOUT_S,
              silence_s: int = SILENCE_TIMEOUT_S) -> dict[str, Any]:
    if url.startswith("postgresql"):
        keepalive = max(1, silence_s // 3)
        return {"connect_timeout": connect_s, "tcp_user_timeout": silence_s * 1000,
                "keepalives": 1, "keepalives_idle": keepalive,
                "keepalives_interval": keepalive, "keepalives_count": 3}
    if url.startswith("mysql"):
        return {"connect_timeout": connect_s, "read_timeout": silence_s,
                "write_timeout": silence_s}
    return {}


class DatabasePath:
    """One database URL as a node reaches it: the requests' engine, the probes' engine
    (made on first use) and the circuit breaker the probes drive."""

    def __init__(self, name: str, url: str, pool_size: int) -> None:
        self.name = name
        self.url = normalise_url(url)
        self.engine = make_engine(self.url, pool_size)
        self.networked = not self.url.startswith("sqlite")
        self.breaker = Breaker(name)
        self.prober = Prober()
        self._probe_engine: sa.Engine | None = None

    @property
    def probe_engine(self) -> sa.Engine:
        if self._probe_engine is None:
            self._probe_engine = (make_engine(self.url, probe=True) if self.networked
                                  else self.engine)
        return self._probe_engine

    def forget_connections(self) -> None:
        """Drop pooled connections without closing them (closing may wait on a silent
        peer): after an outage no request starts with a connection that cannot answer."""
        if self.networked:
            self.engine.dispose(close=False)
            if self._probe_engine is not None:
                self._probe_engine.dispose(close=False)

    def dispose(self) -> None:
        self.engine.dispose()
        if self._probe_engine is not None and self._probe_engine is not self.engine:
            self._probe_engine.dispose()


class NeedsDatabase(Exception):
    """Raised on the first use of the database in a transaction that may not use it."""


class Database:
    """The engine, and one unit of work per request.

    Every committed transaction that wrote anything also bumps the revision row (see
    :mod:`sevres.storage.repositories.revision`), so that every process learns that its
    in-memory state is stale; ``on_commit`` callbacks get the new revision at once.
    """

    def __init__(self, url: str, pool_size: int = 10, read_url: str | None = None) -> None:
        self.primary = DatabasePath("primary", url, pool_size)
        self.replica = DatabasePath("replica", read_url, pool_size) if read_url else None
        self.url = self.primary.url
        self.engine = self.primary.engine
        self.on_commit: list[Callable[[revision.Revision], None]] = []
        # The newest revision this node knows it committed or saw (set by the token
        # state): a read on the replica must see at least that, or go to the primary.
        self.read_floor: Callable[[], tuple[int, int]] | None = None
        event.listen(self.engine, "after_cursor_execute", _note_writes)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def transaction(self, write: bool = True, allowed: bool = True,
                    origin: str = "request") -> Iterator[Store]:
        """One transaction, opened lazily: a request that never reads the database never
        takes a connection. Commits only if the block completes. With ``allowed`` false
        the first use of the database raises :class:`NeedsDatabase` instead.

        A read-only transaction goes to the read replica when there is one and it answers
        its probes, unless it has not yet replayed a change this node knows of (then to
        the primary: read-your-writes on this node). While a path's breaker is open, the
        first use of the database answers 503 at once."""
        with ExitStack() as stack:
            def open_on(path: DatabasePath) -> sa.Connection:
                flight = path.breaker.enter()
                stack.callback(path.breaker.leave, flight)
                connection = stack.enter_context(path.engine.connect())
                metrics.count_transaction(path.name, write, origin)
                connection.info["write"] = write
                connection.info["changed"] = None
                connection.begin()
                return connection

            def connect() -> sa.Connection:
                if not allowed:
                    raise NeedsDatabase
                replica = self.replica
                if write or replica is None or replica.breaker.is_open:
                    return open_on(self.primary)
                try:
                    connection = open_on(replica)
                except (sa.exc.DBAPIError, errors.Unavailable):
                    return open_on(self.primary)  # the replica is down: read the primary
                if self._replica_behind(connection):
                    connection.close()
                    return open_on(self.primary)
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

    def _replica_behind(self, connection: sa.Connection) -> bool:
        if self.read_floor is None:
            return False
        authz, revocations = self.read_floor()
        seen = revision.read(connection)
        return seen.authz < authz or seen.revocations < revocations

    def probe(self, work: Callable[[Store], None]) -> str | None:
        """The state poll: run ``work`` (reading the in-memory state's sources) through the
        replica when there is one, else the primary, and probe the primary as well, each
        bounded by a deadline; open or close each path's breaker by the outcome. Returns
        None when ``work`` ran, else why it could not."""
        if self.replica is None:
            return self._probe(self.primary, work)
        # Both paths at once, so that each breaker opens within one deadline.
        primary: list[str | None] = []
        side = threading.Thread(target=lambda: primary.append(self._probe(self.primary, None)),
                                name="sevres-db-probe-primary", daemon=True)
        side.start()
        failed = self._probe(self.replica, work)
        side.join()
        if failed is None:
            return None
        if primary and primary[0] is not None:
            return primary[0]
        return self._probe(self.primary, work)  # the replica is gone: read the primary

    def _probe(self, path: DatabasePath, work: Callable[[Store], None] | None) -> str | None:
        def attempt() -> None:
            try:
                self._probe_once(path, work)
            except sa.exc.DBAPIError:  # a pooled connection the outage closed: once more
                path.probe_engine.dispose(close=False)
                self._probe_once(path, work)

        reason = path.prober.run(attempt)
        if reason is None:
            path.breaker.reset()
        else:
            path.breaker.trip(reason, on_open=path.forget_connections)
        return reason

    @staticmethod
    def _probe_once(path: DatabasePath, work: Callable[[Store], None] | None) -> None:
        with ExitStack() as stack:
            def connect() -> sa.Connection:
                connection = stack.enter_context(path.probe_engine.connect())
                connection.info["write"] = False
                connection.info["changed"] = None
                connection.begin()
                return connection

            store = Store(connect)
            if work is None:
                store.connection.exec_driver_sql("SELECT 1")
            else:
                work(store)
            store.connection.rollback()

    def _commit(self, connection: sa.Connection) -> None:
        if abandoned() is not None:  # the client was answered 503: nothing may commit
            raise errors.Unavailable(ABANDONED.format(reason="abandoned"))
        changed = connection.info.get("changed")
        now = revision.bump(connection, authz=changed == "authz") if changed else None
        connection.commit()
        if now is not None:
            for callback in self.on_commit:
                callback(now)

    def dispose(self) -> None:
        self.primary.dispose()
        if self.replica is not None:
            self.replica.dispose()


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
