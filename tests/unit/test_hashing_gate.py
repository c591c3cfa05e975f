"""The node's hashing gate: every CPU hashes while the node only logs users in; half of them,
one thread per hash, while it serves anything else; a thread per CPU only for the node's
one hash; shared by the worker processes through the state folder."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from sevres.identity import hashing_gate
from sevres.identity.hashing_gate import HashingGate, busy_slots
from sevres.identity.passwords import PasswordHashing


def most_at_once(gate: HashingGate, hashes: int) -> tuple[int, list[int]]:
    """Run ``hashes`` stand-in hashes through the gate at once: (the most inside at the
    same time, the threads the gate gave each)."""
    inside, most, said = 0, 0, []
    lock = threading.Lock()

    def one() -> None:
        nonlocal inside, most
        with gate.admitted() as threads:
            with lock:
                inside += 1
                most = max(most, inside)
                said.append(threads)
            time.sleep(0.15)
            with lock:
                inside -= 1

    threads = [threading.Thread(target=one) for _ in range(hashes)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    return most, said


def test_half_the_cpus_at_least_one_hash_while_busy() -> None:
    assert [busy_slots(n) for n in (1, 2, 3, 4, 16)] == [1, 1, 1, 2, 8]


def test_a_node_that_only_logs_in_hashes_without_limit(tmp_path: Path) -> None:
    gate = HashingGate(tmp_path / "hashing", cpus=2)
    most, said = most_at_once(gate, 3)
    assert most == 3
    assert sorted(said)[:-1] == [1, 1]  # of hashes that overlap, one at most runs alone


def test_a_serving_node_runs_half_its_cpus_of_hashes_at_once(tmp_path: Path) -> None:
    gate = HashingGate(tmp_path / "hashing", cpus=4)
    gate.note_request()
    most, said = most_at_once(gate, 5)
    assert most == 2
    assert said == [1] * 5


def test_the_node_is_quiet_again_once_requests_stop(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hashing_gate, "QUIET_AFTER_S", 0.2)
    gate = HashingGate(tmp_path / "hashing", cpus=2)
    assert not gate.busy()
    gate.note_request()
    assert gate.busy()
    time.sleep(0.3)
    assert not gate.busy()


def in_another_process(folder: Path, code: str) -> subprocess.Popen[bytes]:
    """A second worker process of the node, running ``code`` with its own gate ``gate``."""
    return subprocess.Popen([sys.executable, "-c",
                             "from pathlib import Path\n"
                             "from sevres.identity.hashing_gate import HashingGate\n"
                             f"gate = HashingGate(Path({str(folder)!r}), cpus=2)\n" + code])


def test_another_worker_s_requests_make_the_node_busy(tmp_path: Path) -> None:
    folder = tmp_path / "hashing"
    gate = HashingGate(folder, cpus=2)
    assert not gate.busy()
    assert in_another_process(folder, "gate.note_request()").wait(timeout=60) == 0
    assert gate.busy()


def wait_for(condition: Callable[[], bool], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_slot_held_by_another_worker_waits_and_is_freed_if_it_dies(tmp_path: Path) -> None:
    folder = tmp_path / "hashing"
    gate = HashingGate(folder, cpus=2)  # one slot while busy
    held = tmp_path / "held"
    other = in_another_process(folder, "import time\ngate.note_request()\n"
                                       "with gate.admitted():\n"
                                       f"    Path({str(held)!r}).touch()\n"
                                       "    time.sleep(600)\n")
    try:
        wait_for(held.exists)
        entered = threading.Event()

        def hash_here() -> None:
            with gate.admitted():
                entered.set()

        waiting = threading.Thread(target=hash_here)
        waiting.start()
        assert not entered.wait(0.5)  # the other worker's hash holds the node's one slot
        other.send_signal(signal.SIGKILL)  # a worker that dies mid-hash...
        assert entered.wait(10)  # ...frees its slot: the kernel drops its lock
        waiting.join()
    finally:
        other.kill()
        other.wait()


def test_the_slot_goes_to_the_hash_that_waited_not_back_to_the_one_that_left_it(
        tmp_path: Path) -> None:
    """A worker whose hash ends and whose next is queued asks again at once; the kernel's
    locks alone let it win that race against another worker's waiting hashing thread
    (idle-class, slow to wake), again and again, until that worker's logins waited past the
    clients' timeouts. Each hash here opens its own lock files, as each worker does."""
    gate = HashingGate(tmp_path / "hashing", cpus=2)  # one slot while busy
    gate.note_request()
    order: list[str] = []
    holding, leave = threading.Event(), threading.Event()

    def on_and_on() -> None:
        with gate.admitted():
            holding.set()
            leave.wait(10)
        with gate.admitted():  # at once, as a worker with logins queued
            order.append("again")

    def waiting() -> None:
        with gate.admitted():
            order.append("waited")

    first = threading.Thread(target=on_and_on)
    first.start()
    assert holding.wait(10)
    second = threading.Thread(target=waiting)
    second.start()
    time.sleep(0.3)  # it waits for the slot, holding the queue
    gate.note_request()  # still serving when the first asks again, however slow the machine
    leave.set()
    first.join(10)
    second.join(10)
    assert order == ["waited", "again"]


def test_only_the_node_s_one_hash_takes_every_cpu(tmp_path: Path) -> None:
    """Another worker's hash counts: a worker that counted only its own ran two hashes of
    two threads each on two CPUs, which cost 13 ms more CPU per login than one each."""
    folder = tmp_path / "hashing"
    gate = HashingGate(folder, cpus=2)
    with gate.admitted() as threads:
        assert threads == 2
    held = tmp_path / "held"
    other = in_another_process(folder, "import time\n"
                                       "with gate.admitted():\n"
                                       f"    Path({str(held)!r}).touch()\n"
                                       "    time.sleep(600)\n")
    try:
        wait_for(held.exists)
        with gate.admitted() as threads:
            assert threads == 1
        other.send_signal(signal.SIGKILL)  # its lock goes with it
        other.wait(timeout=10)
        with gate.admitted() as threads:
            assert threads == 2
    finally:
        other.kill()
        other.wait()


def test_a_hash_on_a_serving_node_is_the_same_hash_on_one_thread(tmp_path: Path) -> None:
    gate = HashingGate(tmp_path / "hashing", cpus=2)
    hashing = PasswordHashing(1, 1024, 4, gate=gate)
    quiet = hashing.hash("correct horse")
    gate.note_request()
    with gate.admitted() as threads:
        assert threads == 1
    assert hashing.verify(quiet, "correct horse")
    busy = hashing.hash("correct horse")
    gate._activity._map[:] = bytes(8)  # quiet again
    assert hashing.verify(busy, "correct horse")
    assert not hashing.verify(busy, "correct hors")
