"""How much of the node password hashing may take, from what else the node is doing.

A node that is only logging users in hashes on every CPU: logins are then all there is to
serve, and they come as fast as the hardware allows. As soon as the node answers anything
else (token validation above all), hashing shrinks to *half* the node's CPUs, at least
one, with one thread per hash, until no other request has come for ``QUIET_AFTER_S``.

Why not leave it to the idle scheduling class alone (see passwords.py): measured on this
project's 2-core machine (docs/design.md, "Hashing shrinks while the node serves"), a
busy loop in SCHED_IDLE, in a process of its own that shares neither the GIL nor memory
with sevres, raised validation's p99 six to eight times when it kept both cores busy, and
less than twice when it kept one. The kernel gives an idle-class task almost no CPU, but
every core it keeps busy still makes the requests that land there slower. A core left free
of hashing keeps validation's latency; what logins lose is bounded and stated.

What the gate knows is node-wide, shared by the worker processes through the node's state
folder:
- *activity*: when the node last answered a request that was not a hashing login, a
  monotonic clock reading in an 8-byte memory-mapped file (each worker writes it at most
  every ``WRITE_EVERY_NS``, so a request pays one clock read);
- *slots*: half as many lock files as CPUs (at least one), of which a hash holds one for
  its duration while the node is busy, taken behind a queue lock file (``flock``, released
  by the kernel if its process dies);
- *running*: one lock file per CPU, of which every hash holds one while it runs, so that a
  hash knows whether it is the node's only one. Only then may it use a thread per lane
  (every CPU): a worker that counted only its own hashes took a second worker's CPU with
  its second thread, and two hashes' threads fighting over the cores cost 13 ms more CPU
  per login than one thread each (bench/tokens.py, scenario 4).

Without a state folder (tests, the CLI) all three live in the process.
"""

from __future__ import annotations

import contextlib
import fcntl
import mmap
import os
import struct
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

from sevres.node_memory import shared_map

QUIET_AFTER_S = 1.0
WRITE_EVERY_NS = 20_000_000
_STAMP = struct.Struct("<q")


def busy_slots(cpus: int) -> int:
    """Hashes that may run at once on a node that is serving other requests."""
    return max(1, cpus // 2)


class _Activity:
    def __init__(self, path: Path | None) -> None:
        if path is None:  # the process's own
            self._map = mmap.mmap(-1, _STAMP.size)
        else:
            self._map = shared_map(path, _STAMP.size)
        self._written = 0

    def note(self) -> None:
        now = time.monotonic_ns()
        if now - self._written >= WRITE_EVERY_NS:
            self._written = now
            _STAMP.pack_into(self._map, 0, now)

    def recent(self, within_ns: int) -> bool:
        last: int = _STAMP.unpack_from(self._map)[0]
        return last > 0 and time.monotonic_ns() - last < within_ns


class _Slots:
    """``count`` slots a hash takes one of: lock files in a folder, or semaphores.

    A hash looks for a slot only while it holds the queue's lock file, and keeps it while
    it waits for one. The kernel's locks are not first come, first served: a worker whose
    hash ends and whose next is queued took the slot again before another worker's waiting
    hashing thread (idle-class, so slow to wake) could, and that worker's logins waited
    past clients' timeouts (3 of 913 in one flood of bench/tokens.py, the slowest answered
    after 7.5 s). Behind the queue's lock, a worker's next hash waits for the one that
    was already waiting."""

    def __init__(self, folder: Path | None, count: int) -> None:
        self._paths = [folder / f"hashing-slot-{i}.lock" for i in range(count)] if folder else []
        self._queue = folder / "hashing-queue.lock" if folder else None
        self._local = threading.BoundedSemaphore(count)

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        if self._queue is None:
            with self._local:
                yield
            return
        with _opened(self._paths) as handles:
            with open(self._queue, "a+b") as queue:
                fcntl.flock(queue, fcntl.LOCK_EX)  # behind the hash already waiting, if any
                if not any(_locked(handle) for handle in handles):  # a free slot, or...
                    # ...wait for one; threads spread over the slots by their id.
                    fcntl.flock(handles[threading.get_ident() % len(handles)], fcntl.LOCK_EX)
            yield


class _Running:
    """Which hashes run on the node: ``count`` lock files (or an in-process count), a hash
    holding a free one while it runs. A hash that finds no free file runs all the same; it
    is then not alone."""

    def __init__(self, folder: Path | None, count: int) -> None:
        self._paths = [folder / f"hashing-running-{i}.lock" for i in range(count)] if folder \
            else []
        self._count = 0
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def entered(self) -> Iterator[bool]:
        """Counted as running; yields whether no other hash runs on the node. Of hashes
        that overlap, at most one is told it is alone."""
        if not self._paths:
            with self._lock:
                self._count += 1
                alone = self._count == 1
            try:
                yield alone
            finally:
                with self._lock:
                    self._count -= 1
            return
        with _opened(self._paths) as handles:
            mine = next((h for h in handles if _locked(h)), None)
            yield mine is not None and all(_free(h) for h in handles if h is not mine)


@contextlib.contextmanager
def _opened(paths: list[Path]) -> Iterator[Sequence[BinaryIO]]:
    """Lock files opened for one hash alone (a lock belongs to an open file); closing them
    at the end releases whatever it took."""
    handles = [open(path, "a+b") for path in paths]  # noqa: SIM115 - closed below
    try:
        yield handles
    finally:
        for handle in handles:
            handle.close()


def _locked(handle: BinaryIO) -> bool:
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _free(handle: BinaryIO) -> bool:
    """Whether nobody holds the file's lock (taken and given back at once to find out)."""
    if not _locked(handle):
        return False
    fcntl.flock(handle, fcntl.LOCK_UN)
    return True


class HashingGate:
    def __init__(self, folder: Path | None = None, cpus: int | None = None) -> None:
        self.cpus = max(1, cpus or os.cpu_count() or 1)
        # The activity file is made first: shared_map creates the folder the slots' lock
        # files go in.
        self._activity = _Activity(folder / "activity.shm" if folder else None)
        self._slots = _Slots(folder, busy_slots(self.cpus))
        self._running = _Running(folder, self.cpus)

    def note_request(self) -> None:
        """Called for every request that is not a hashing login."""
        self._activity.note()

    def busy(self) -> bool:
        return self._activity.recent(int(QUIET_AFTER_S * 1e9))

    @contextlib.contextmanager
    def admitted(self) -> Iterator[int]:
        """Hold what a hash may run in; yields how many threads it may use: one per CPU when
        it is the only hash on a node that serves nothing else, else one."""
        with self._running.entered() as alone:
            if not self.busy():
                yield self.cpus if alone else 1
                return
            with self._slots.held():
                yield 1
