"""Password hashing with argon2id.

Hashing is slow on purpose, so it runs with bounded concurrency: at most one hash per CPU
at a time in each process, whatever the number of request threads, so a flood of logins
queues behind the semaphore instead of starving token validation of CPU.

A login for a user that does not exist still verifies a password against a dummy hash of
the same cost: the answer and its timing are the same as for a wrong password, so a
caller cannot tell which user names exist.
"""

from __future__ import annotations

import os
import threading

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MAX_PASSWORD_LENGTH = 4096


class PasswordHashing:
    def __init__(self, time_cost: int, memory_kib: int, parallelism: int) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism, type=Type.ID
        )
        self._slots = threading.BoundedSemaphore(max(1, os.cpu_count() or 1))
        self._dummy = self._hasher.hash(os.urandom(16).hex())

    def hash(self, password: str) -> str:
        with self._slots:
            return str(self._hasher.hash(password))

    def verify(self, hashed: str | None, password: str) -> bool:
        """Constant-work check: a missing hash is verified against the dummy and fails."""
        with self._slots:
            try:
                self._hasher.verify(hashed or self._dummy, password)
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                return False
            return hashed is not None
