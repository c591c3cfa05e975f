"""Bounded probes of a database path, for the state poll and its circuit breaker.

A probe runs in a thread of its own and the poll waits for it at most ``deadline_s``:
no driver or TCP timeout fires when a hung server (or a proxy in front of it) keeps
acknowledging, so the deadline is kept here, in the caller. A probe that misses it is left
to finish on its own (its engine's short timeouts end it, or the path's healing does), and
no more than ``MAX_UNANSWERED`` are left at once: beyond that the probe fails without
trying, so a silent database never piles up threads or connections.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

# How long the poll waits for the database's answer before it declares it unreachable.
# Reading the revision takes about a millisecond; the deadline covers a loaded machine.
DEADLINE_S = 1.5
MAX_UNANSWERED = 3


class Prober:
    def __init__(self, deadline_s: float = DEADLINE_S) -> None:
        self.deadline_s = deadline_s
        self._unanswered: list[threading.Thread] = []

    def run(self, attempt: Callable[[], None]) -> str | None:
        """None when ``attempt`` returned in time, else why not (safe to log and show)."""
        self._unanswered = [t for t in self._unanswered if t.is_alive()]
        if len(self._unanswered) >= MAX_UNANSWERED:
            return f"{MAX_UNANSWERED} probes still unanswered"
        failure: list[BaseException] = []
        done = threading.Event()

        def target() -> None:
            try:
                attempt()
            except BaseException as error:  # reported to the poll, which decides
                failure.append(error)
            finally:
                done.set()

        thread = threading.Thread(target=target, name="sevres-db-probe", daemon=True)
        thread.start()
        if not done.wait(self.deadline_s):
            self._unanswered.append(thread)
            return f"no answer within {self.deadline_s:g} s"
        if failure:
            return f"probe failed: {type(failure[0]).__name__}"
        return None
