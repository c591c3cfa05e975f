"""argon2id computed with a chosen number of threads is the same hash, readable both ways by
argon2-cffi, and the hashing threads run in the idle scheduling class."""

from __future__ import annotations

import os
import sys

import pytest
from argon2 import PasswordHasher, Type

from sevres.identity import argon2_threads
from sevres.identity.passwords import PasswordHashing

COST = {"time_cost": 1, "memory_kib": 1024, "lanes": 4}


def test_the_number_of_threads_does_not_change_the_hash() -> None:
    salt = b"s" * 16
    digests = {argon2_threads.derive(b"pw", salt, threads=n, **COST) for n in (1, 2, 4, 9)}
    assert len(digests) == 1


def test_hashes_are_read_by_argon2_cffi_and_its_hashes_by_sevres() -> None:
    hashing = PasswordHashing(1, 1024, 4)
    library = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=4, type=Type.ID)
    ours = hashing.hash("correct horse")
    assert library.verify(ours, "correct horse")
    assert hashing.verify(library.hash("battery"), "battery")
    assert not hashing.verify(library.hash("battery"), "staple")
    assert hashing.verify(ours, "correct horse")
    assert not hashing.verify(ours, "correct hors")


def test_other_argon2_types_are_verified_by_the_library() -> None:
    hashing = PasswordHashing(1, 1024, 4)
    argon2i = PasswordHasher(time_cost=1, memory_cost=1024, type=Type.I).hash("pw")
    assert hashing.verify(argon2i, "pw")
    assert not hashing.verify(argon2i, "pW")


SALT, DIGEST = "c2FsdHNhbHRzYWx0", "aGFzaGhhc2g"


@pytest.mark.parametrize("bad", [
    "", "garbage", "$argon2id$v=19$m=1024,t=1,p=4$",
    f"$argon2id$v=16$m=1024,t=1,p=4${SALT}${DIGEST}",
    f"$argon2id$v=19$m=1024,t=1${SALT}${DIGEST}",
    f"$argon2id$v=19$m=x,t=1,p=4${SALT}${DIGEST}",
    f"$argon2id$v=19$m=1024,t=0,p=4${SALT}${DIGEST}",
    f"$argon2id$v=19$m=8,t=1,p=4${SALT}${DIGEST}",
    f"$argon2id$v=19$m=1024,t=1,p=4$!!!${DIGEST}",
])
def test_a_malformed_hash_verifies_nothing(bad: str) -> None:
    assert not PasswordHashing(1, 1024, 4).verify(bad, "pw")


def test_a_missing_hash_verifies_nothing() -> None:
    assert not PasswordHashing(1, 1024, 4).verify(None, "pw")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SCHED_IDLE is Linux's")
def test_hashing_threads_run_in_the_idle_scheduling_class() -> None:
    hashing = PasswordHashing(1, 1024, 4)
    policy = hashing._threads.submit(os.sched_getscheduler, 0).result()
    assert policy == os.SCHED_IDLE
    assert os.sched_getscheduler(0) != os.SCHED_IDLE  # the caller's own class is untouched
