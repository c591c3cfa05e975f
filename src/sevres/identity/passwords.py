"""Password hashing with argon2id.

Hashing is slow on purpose, so it must never starve token validation of CPU. Five
things see to it:

- hashes run on a few dedicated threads, one per CPU for the whole node (the CPUs are
  divided among the worker processes), whatever the number of request threads, so a
  flood of logins queues instead of multiplying the work;
- those threads run in Linux's SCHED_IDLE class: they get a core only when no ordinary
  thread wants it, and a request thread that wakes up takes the core from them at once.
  (A nice level is not enough: the kernel lets a lower-priority thread finish its time
  slice, a few milliseconds, before the woken thread runs, and those milliseconds were the
  whole of validation's p99 under a login flood.) Where SCHED_IDLE is not available the
  threads fall back to nice 19. argon2 releases the GIL while it hashes. The price, which
  docs/design.md states: while validation alone keeps every core busy, logins wait;
- a hash uses one thread per lane only when it is the only hash running; when others are
  queued each uses a single thread, which computes the same hash with less CPU
  (see argon2_threads);
- while the node answers other requests, hashing takes at most half its CPUs, one thread
  per hash (see hashing_gate): the idle class keeps hashing off busy cores, but not the
  cores it keeps busy from slowing the requests that land on them;
- logins wait for a request thread of their own (see ``LOGIN_THREADS`` in api/auth.py),
  so a queue of logins never holds the threads that other requests need.

A login for a user that does not exist still verifies a password against a dummy hash of
the same cost: the answer and its timing are the same as for a wrong password, so a
caller cannot tell which user names exist.
"""

from __future__ import annotations

import contextlib
import hmac
import os
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher, Type
from argon2.exceptions import (
    HashingError,
    InvalidHashError,
    VerificationError,
    VerifyMismatchError,
)

from sevres.identity import argon2_threads
from sevres.identity.hashing_gate import HashingGate

MAX_PASSWORD_LENGTH = 4096
FALLBACK_NICENESS = 19


def _lower_priority() -> None:
    """Put the calling thread (Linux schedules threads, not processes) in SCHED_IDLE, or
    failing that at nice 19."""
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):
        with contextlib.suppress(AttributeError, OSError):  # not Linux, or not permitted
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), FALLBACK_NICENESS)


class PasswordHashing:
    def __init__(self, time_cost: int, memory_kib: int, parallelism: int,
                 workers: int = 1, gate: HashingGate | None = None) -> None:
        """``workers``: the node's worker processes, each with a PasswordHashing; together
        they hash on one thread per CPU. (More hashes at once than cores would only make
        each slower: memory-hard hashes running by turns on a core evict one another's
        memory from its cache.) ``gate``: the node's, shared by its workers."""
        self.gate = gate or HashingGate()
        self._time_cost, self._memory_kib, self._lanes = time_cost, memory_kib, parallelism
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism, type=Type.ID
        )
        cpus = max(1, os.cpu_count() or 1)
        self._threads = ThreadPoolExecutor(max_workers=max(1, cpus // workers),
                                           thread_name_prefix="sevres-hashing",
                                           initializer=_lower_priority)
        self._dummy = self._hasher.hash(os.urandom(16).hex())

    def hash(self, password: str) -> str:
        return str(self._threads.submit(self._hash, password).result())

    def verify(self, hashed: str | None, password: str) -> bool:
        """Constant-work check: a missing hash is verified against the dummy and fails."""
        return bool(self._threads.submit(self._verify, hashed, password).result())

    @contextlib.contextmanager
    def _threads_for(self, lanes: int) -> Iterator[int]:
        """Admitted by the gate: the threads the hash may use, one per lane (up to the CPUs)
        when it runs alone on a node that serves nothing else, else one."""
        with self.gate.admitted() as threads:
            yield max(1, min(lanes, threads))

    def _hash(self, password: str) -> str:
        with self._threads_for(self._lanes) as threads:
            salt = os.urandom(argon2_threads.SALT_BYTES)
            digest = argon2_threads.derive(
                password.encode(), salt, self._time_cost, self._memory_kib, self._lanes,
                threads)
        return argon2_threads.encode(self._time_cost, self._memory_kib, self._lanes, salt,
                                     digest)

    def _verify(self, hashed: str | None, password: str) -> bool:
        stored = hashed or self._dummy
        parts = argon2_threads.decode(stored)
        with self._threads_for(parts.lanes if parts else 1) as threads:
            if parts is None:  # another argon2 type or version: the library's own path
                try:
                    self._hasher.verify(stored, password)
                except (VerifyMismatchError, VerificationError, InvalidHashError):
                    return False
                return hashed is not None
            try:
                digest = argon2_threads.derive(
                    password.encode(), parts.salt, parts.time_cost, parts.memory_kib,
                    parts.lanes, threads, len(parts.digest))
            except HashingError:
                return False
        return hmac.compare_digest(digest, parts.digest) and hashed is not None
