"""The circuit breaker of one database path: fail fast while the database does not answer.

Each process polls its database every ``staleness`` (tokens/state.py) through short,
bounded probes (:mod:`sevres.storage.probe`). When a probe fails or does not answer in
time, the path's breaker *opens*: from then on, any request that needs that database
answers 503 at once, in Keystone's error format, instead of waiting for TCP or driver
timeouts (15-30 s, or forever when a hung server's kernel keeps acknowledging). Requests
that were already waiting on the database when it opened are answered 503 too: each one
registers while it holds a connection (:class:`InFlight`), and opening the breaker
cancels the wait of every registered request (its thread is abandoned; the transaction it
was in is rolled back, never committed, once the driver returns). Token validation from
memory needs no database and goes on. The next successful probe closes the breaker.

One breaker per database path and per process: every worker process has its own poll,
so each one learns on its own within a poll period and a probe deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import TypeVar

import anyio

from sevres import errors, metrics
from sevres.log import emit, events

T = TypeVar("T")

UNREACHABLE = ("The identity database is unreachable ({reason}); this request needs it. "
               "Token validation goes on from memory. Try again shortly.")
ABANDONED = ("The identity database stopped answering while this request waited for it "
             "({reason}); the request was abandoned, and what it was changing is rolled "
             "back unless it was already being committed. Try again shortly.")


class InFlight:
    """One request running in a worker thread, and the breaker of the database path its
    transaction holds a connection to, if any."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.scope: anyio.CancelScope | None = None
        self.breaker: Breaker | None = None
        self.abandoned_for: str | None = None

    def abandon(self, reason: str) -> None:
        """Called from the poll thread: stop the request's wait on the event loop."""
        self.abandoned_for = reason
        if self.loop is not None and self.scope is not None:
            with contextlib.suppress(RuntimeError):  # a closed loop: the process ends
                self.loop.call_soon_threadsafe(self.scope.cancel)

    def error(self) -> errors.Unavailable:
        return errors.Unavailable(ABANDONED.format(reason=self.abandoned_for or "no answer"))


CURRENT: ContextVar[InFlight | None] = ContextVar("sevres_in_flight", default=None)


async def in_thread(function: Callable[[], T], limiter: anyio.CapacityLimiter | None) -> T:
    """Run ``function`` in a worker thread; if a breaker opens while the thread waits on
    that breaker's database, answer 503 at once and abandon the thread."""
    flight = InFlight()
    flight.loop = asyncio.get_running_loop()

    def run() -> T:
        CURRENT.set(flight)
        return function()

    with anyio.CancelScope() as scope:
        flight.scope = scope
        return await anyio.to_thread.run_sync(run, limiter=limiter, abandon_on_cancel=True)
    raise flight.error()  # reached only when the scope was cancelled by a breaker


class Breaker:
    """Open (the database does not answer) or closed, for one database path."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.reason: str | None = None
        self.opened_at: float | None = None
        self._lock = threading.Lock()
        self._flights: set[InFlight] = set()
        metrics.DATABASE_REACHABLE.labels(path).set(1)

    @property
    def is_open(self) -> bool:
        return self.reason is not None

    def refuse_if_open(self) -> None:
        reason = self.reason
        if reason is not None:
            raise errors.Unavailable(UNREACHABLE.format(reason=reason))

    def trip(self, reason: str, on_open: Callable[[], None] | None = None) -> None:
        """Mark the database unreachable and cancel every request waiting on it."""
        with self._lock:
            opening = self.reason is None
            self.reason = reason
            if opening:
                self.opened_at = time.monotonic()
            flights, self._flights = self._flights, set()
        if opening:
            metrics.DATABASE_REACHABLE.labels(self.path).set(0)
            emit(events.DATABASE_BREAKER_OPENED, path=self.path, reason=reason,
                 abandoned=len(flights))
            if on_open is not None:
                on_open()
        for flight in flights:
            flight.abandon(reason)

    def reset(self) -> None:
        with self._lock:
            if self.reason is None:
                return
            opened_at, self.reason, self.opened_at = self.opened_at, None, None
        metrics.DATABASE_REACHABLE.labels(self.path).set(1)
        emit(events.DATABASE_BREAKER_CLOSED, path=self.path,
             open_ms=round((time.monotonic() - (opened_at or time.monotonic())) * 1000))

    # -- requests holding a connection to this path ----------------------------------------
    def enter(self) -> InFlight | None:
        """Register the current request (if it runs under :func:`in_thread`) as waiting on
        this path, then refuse at once if the breaker is open."""
        self.refuse_if_open()
        flight = CURRENT.get()
        if flight is not None:
            with self._lock:
                self._flights.add(flight)
                flight.breaker = self
            if self.is_open:  # it opened meanwhile, perhaps before seeing this request
                self.leave(flight)
                self.refuse_if_open()
        return flight

    def leave(self, flight: InFlight | None) -> None:
        if flight is not None:
            with self._lock:
                self._flights.discard(flight)
                flight.breaker = None


def abandoned() -> InFlight | None:
    """The current request, if a breaker abandoned it: its transaction must not commit."""
    flight = CURRENT.get()
    return flight if flight is not None and flight.abandoned_for is not None else None


def describe(error: BaseException) -> str:
    """A short, safe reason for the log and the client: the error's type, never its
    text (which may hold a host name or a statement)."""
    return type(error).__name__

