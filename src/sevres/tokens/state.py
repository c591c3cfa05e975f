"""What each process holds in memory so that issuing and validating tokens need no
database in the steady state: the key ring, the revocation events, validated tokens, and
memoised answers (a user's roles on a scope, a catalog, a rendered token, a login).

Coherence comes from the database's revision row (see storage/repositories/revision.py):
every committed write bumps it. A process compares its copy with the database at most
every ``staleness`` (a background poll), so another node's change is seen within that
bound; a change made on this node is seen at once, because the process that committed it
advances the node's *marker* (a small shared-memory file every worker reads on each
request) and any worker whose copy is behind the marker reloads before answering.

A change to authorization state drops every memo and validated token; a change that is
only a new revocation event reloads the events and keeps the rest. A memo computed from
a transaction that began before a change is never stored after it (the generation check).
"""

from __future__ import annotations

import datetime
import fcntl
import itertools
import struct
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sevres.log import emit, events
from sevres.node_memory import shared_map
from sevres.storage.database import Database
from sevres.storage.repositories import Store, revision
from sevres.storage.repositories.revision import Revision
from sevres.tokens import keyring
from sevres.tokens.keyring import Ring, Wrapper
from sevres.tokens.payload import Payload

_MARKER = struct.Struct("<qq")


class Marker:
    """The newest revision any process of this node has committed or seen, shared through
    a 16-byte memory-mapped file so that every worker reads it for the cost of a load."""

    def __init__(self, path: Path) -> None:
        self._map = shared_map(path, _MARKER.size)
        self._lock_path = str(path)

    def read(self) -> tuple[int, int]:
        authz, revocations = _MARKER.unpack_from(self._map)
        return authz, revocations

    def advance(self, seen: Revision) -> None:
        with open(self._lock_path, "rb") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            authz, revocations = self.read()
            _MARKER.pack_into(self._map, 0, max(authz, seen.authz),
                              max(revocations, seen.revocations))


@dataclass
class RevocationIndex:
    """Revocation events by what they name, each with its newest ``issued_before``."""

    audit: dict[str, int] = field(default_factory=dict)
    chain: dict[str, int] = field(default_factory=dict)
    user: dict[str, int] = field(default_factory=dict)
    project: dict[str, int] = field(default_factory=dict)
    domain: dict[str, int] = field(default_factory=dict)
    app_cred: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, rows: list[dict[str, Any]]) -> RevocationIndex:
        index = cls()
        for row in rows:
            before = int(row["issued_before_ms"])
            for name, table in (("audit_id", index.audit), ("audit_chain_id", index.chain),
                                ("user_id", index.user), ("project_id", index.project),
                                ("domain_id", index.domain), ("app_cred_id", index.app_cred)):
                key = row.get(name)
                if key is not None and table.get(key, -1) < before:
                    table[key] = before
        return index

    def revoked(self, payload: Payload, project_id: str | None,
                domain_ids: tuple[str, ...]) -> bool:
        """True when an event at or after the token's issue names its audit id, its chain
        (first audit id), its user, its project, a domain it depends on, or its
        application credential."""
        issued = payload.issued_ms
        checks: list[tuple[dict[str, int], str | None]] = [
            (self.audit, payload.audit_ids[0]),
            (self.chain, payload.audit_ids[-1]),
            (self.user, payload.user_id),
            (self.project, project_id),
            (self.app_cred, payload.app_cred_id),
            *((self.domain, d) for d in domain_ids),
        ]
        return any(key is not None and table.get(key, -1) >= issued for table, key in checks)


class Memo:
    """A bounded map that forgets its oldest entries first; safe to share between threads
    (each operation is one dict operation under the GIL)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._items: dict[Hashable, Any] = {}

    def get(self, key: Hashable) -> Any:
        return self._items.get(key)

    def put(self, key: Hashable, value: Any) -> None:
        if self.limit <= 0:
            return
        items = self._items
        while len(items) >= self.limit:
            try:
                items.pop(next(iter(items)), None)
            except (StopIteration, RuntimeError):
                break
        items[key] = value

    def __len__(self) -> int:
        return len(self._items)


class TokenState:
    def __init__(self, database: Database, wrapper: Wrapper, provider: str,
                 staleness_s: float, cache_size: int, marker: Marker | None,
                 retention: datetime.timedelta) -> None:
        self.database = database
        self.wrapper = wrapper
        self.provider = provider
        self.staleness_s = staleness_s
        self.marker = marker
        self.retention = retention
        self._cache_size = cache_size
        self._generations = itertools.count(1)
        self.generation = 0
        self.revision = Revision(-1, -1)
        self.revoked = RevocationIndex()
        self.tokens = Memo(cache_size)
        self.memo = Memo(cache_size)
        self.bodies = Memo(max(1, cache_size // 10))
        self._ring: Ring | None = None
        self._dirty = False
        database.on_commit.append(self._committed)
        database.read_floor = self._known

    # -- reading -------------------------------------------------------------------------
    @property
    def ring(self) -> Ring:
        if self._ring is None:
            self.refresh()
        assert self._ring is not None
        return self._ring

    def current(self) -> bool:
        """True when this process has seen every change this node knows of (cheap)."""
        if self.marker is None:
            return self._ring is not None and not self._dirty
        return self.marker.read() == (self.revision.authz, self.revision.revocations)

    def ensure_current(self, tx: Store) -> None:
        """Reload if this node knows of a change this process has not seen, reading
        through the caller's own transaction. No lock is held while reading: a request
        waiting for one while holding SQLite's write lock would deadlock the reader.
        Concurrent reloads are harmless: each installs a complete state."""
        if not self.current():
            self._reload(tx)

    def remembered(self, key: Hashable, generation: int, compute: Callable[[], Any]) -> Any:
        """The memo for ``key``, computing and storing it if absent; a value computed
        while a reload happened is returned but not stored."""
        found = self.memo.get(key)
        if found is None:
            found = compute()
            if generation == self.generation:
                self.memo.put(key, found)
        return found

    def forget(self) -> None:
        """Drop every memo and validated token, so the next answer is computed from the
        database (what a cache miss costs; benchmarks use it)."""
        self.generation = next(self._generations)
        self.tokens = Memo(self._cache_size)
        self.memo = Memo(self._cache_size)
        self.bodies = Memo(max(1, self._cache_size // 10))

    def keep(self, memo: Memo, key: Hashable, value: Any, generation: int) -> None:
        if generation == self.generation:
            memo.put(key, value)

    # -- reloading -----------------------------------------------------------------------
    def refresh(self) -> None:
        """Compare with the database's revision and reload what changed."""
        with self.database.transaction(write=False) as tx:
            self._reload(tx)

    def _reload(self, tx: Store) -> None:
        self._dirty = False
        now = revision.read(tx.connection)
        if now.authz != self.revision.authz or self._ring is None:
            self._ring = keyring.load(tx, self.wrapper, self.provider)
            self.forget()
        if now != self.revision:
            self.revoked = RevocationIndex.of(tx.revocations.fetch_all())
            emit(events.STATE_RELOADED, authz=now.authz, revocations=now.revocations)
        self.revision = now
        if self.marker is not None:
            self.marker.advance(now)

    def _known(self) -> tuple[int, int]:
        """The newest revision this node knows of (a read replica must have replayed it)."""
        if self.marker is not None:
            return self.marker.read()
        return self.revision.authz, self.revision.revocations

    def poll(self) -> None:
        """The background refresh, through bounded probes that also drive the database
        paths' circuit breakers (storage/breaker.py): failures are logged and the cached
        state kept, so a node cut off from the database goes on validating from memory."""
        try:
            failed = self.database.probe(self._reload)
        except Exception as error:  # any failure: keep serving from memory
            failed = type(error).__name__
        if failed is not None:
            emit(events.STATE_REFRESH_FAILED, error_type=failed)

    def _committed(self, now: Revision) -> None:
        if self.marker is not None:
            self.marker.advance(now)
        else:
            self._dirty = True

    def start_polling(self, interval_s: float,
                      also: Callable[[], None] | None = None) -> threading.Thread:
        """A daemon thread that refreshes every ``interval_s``, and another that runs
        ``also`` as often: scheduled work that may wait on the database never delays the
        poll that notices the database is gone."""
        def every(work: Callable[[], None]) -> Callable[[], None]:
            def loop() -> None:
                stop = threading.Event()
                while not stop.wait(interval_s):
                    work()
            return loop

        if also is not None:
            threading.Thread(target=every(also), name="sevres-upkeep", daemon=True).start()
        thread = threading.Thread(target=every(self.poll), name="sevres-state-poll",
                                  daemon=True)
        thread.start()
        return thread

