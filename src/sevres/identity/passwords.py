"""Password hashing with argon2id.

Hashing is slow on purpose, so it must never starve token validation of CPU. Three
things see to it:

- hashes run on a few dedicated threads (one per CPU) whatever the number of request
  threads, so a flood of logins queues instead of multiplying the work;
- those threads run at a lower scheduling priority (nice 10 on Linux, where the nice
  value is per thread), so when validation and hashing compete for a core the kernel
  gives validation about nine tenths of it; argon2 releases the GIL while it hashes;
- logins wait for a request thread of their own (see ``LOGIN_THREADS`` in api/auth.py),
  so a queue of logins never holds the threads that other requests need.

A login for a user that does not exist still verifies a password against a dummy hash of
the same cost: the answer and its timing are the same as for a wrong password, so a
caller cannot tell which user names exist.
"""

from __future__ import annotations

import contextlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MAX_PASSWORD_LENGTH = 4096
HASHING_NICENESS = 10


def _lower_priority() -> None:
    with contextlib.suppress(AttributeError, OSError):  # not Linux, or not permitted
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASHING_NICENESS)


class PasswordHashing:
    def __init__(self, time_cost: int, memory_kib: int, parallelism: int) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism, type=Type.ID
        )
        self._threads = ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1),
                                           thread_name_prefix="sevres-hashing",
                                           initializer=_lower_priority)
        self._dummy = self._hasher.hash(os.urandom(16).hex())

    def hash(self, password: str) -> str:
        return str(self._threads.submit(self._hasher.hash, password).result())

    def verify(self, hashed: str | None, password: str) -> bool:
        """Constant-work check: a missing hash is verified against the dummy and fails."""
        return bool(self._threads.submit(self._verify, hashed, password).result())

    def _verify(self, hashed: str | None, password: str) -> bool:
        try:
            self._hasher.verify(hashed or self._dummy, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
        return hashed is not None
