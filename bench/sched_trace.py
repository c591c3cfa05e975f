"""Where the CPU went while threads waited for it: the kernel's scheduler events, recorded
for a few seconds through tracefs, summed up per thread.

A thread that becomes runnable (woken, or preempted while still runnable) waits on a run
queue until the kernel switches it in. This module measures each such wait and names the
task that ran on that CPU just before the waiter got it, which is, most of the time, what
it waited behind. It needs root and tracefs (``mount -t tracefs nodev /sys/kernel/tracing``);
``bench/tokens.py --sched-trace`` uses it during the floods' steady rounds.
"""

from __future__ import annotations

import re
import statistics
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

TRACEFS = Path("/sys/kernel/tracing")
EVENTS = "sched:sched_switch sched:sched_wakeup\n"
BUFFER_KB = 40_000  # per CPU: a few seconds of a busy 2-CPU machine's switches
LONG_WAIT_US = 100.0  # a wait at least this long is attributed to what ran before

_SWITCH = re.compile(r"\[\d+\].*? (\d+\.\d+): sched_switch: prev_comm=(.*?) prev_pid=(\d+) "
                     r"prev_prio=\d+ prev_state=(\S+) ==> next_comm=(.*?) next_pid=(\d+) ")
_WAKEUP = re.compile(r"\[\d+\].*? (\d+\.\d+): sched_wakeup: comm=(.*?) pid=(\d+) ")


def unavailable() -> str:
    """Why scheduler events cannot be recorded here, or "" if they can."""
    if not (TRACEFS / "set_event").exists():
        return f"no tracefs at {TRACEFS} (as root: mount -t tracefs nodev {TRACEFS})"
    try:
        (TRACEFS / "tracing_on").write_text("0")
    except OSError as error:
        return f"tracefs not writable: {error.strerror}"
    return ""


def capture(seconds: float) -> str:
    """The scheduler's switch and wake-up events over the next ``seconds``, as text."""
    (TRACEFS / "tracing_on").write_text("0")
    (TRACEFS / "trace").write_text("")
    (TRACEFS / "buffer_size_kb").write_text(str(BUFFER_KB))
    (TRACEFS / "set_event").write_text(EVENTS)
    try:
        (TRACEFS / "tracing_on").write_text("1")
        time.sleep(seconds)
        (TRACEFS / "tracing_on").write_text("0")
        return (TRACEFS / "trace").read_text(errors="replace")
    finally:
        (TRACEFS / "set_event").write_text("")
        (TRACEFS / "trace").write_text("")


@dataclass
class Waits:
    """One thread's run-queue waits, in microseconds, and who ran before its long ones."""

    waits: list[float] = field(default_factory=list)
    before: Counter[int] = field(default_factory=Counter)


def run_queue_waits(trace: str) -> tuple[dict[int, Waits], dict[int, str]]:
    """Each thread's waits in ``trace`` (by thread id), and each thread's command name."""
    runnable: dict[int, float] = {}  # thread id -> since when it waits
    found: defaultdict[int, Waits] = defaultdict(Waits)
    names: dict[int, str] = {}
    for line in trace.splitlines():
        if switch := _SWITCH.search(line):
            at, previous, following = float(switch[1]), int(switch[3]), int(switch[6])
            names[previous], names[following] = switch[2], switch[5]
            if following in runnable:
                waited = (at - runnable.pop(following)) * 1e6
                found[following].waits.append(waited)
                if waited >= LONG_WAIT_US:
                    found[following].before[previous] += 1
            if switch[4].startswith("R"):  # preempted: runnable, waiting from now
                runnable[previous] = at
        elif wakeup := _WAKEUP.search(line):
            runnable[int(wakeup[3])] = float(wakeup[1])
            names[int(wakeup[3])] = wakeup[2]
    return dict(found), names


def summary(trace: str, watched: dict[int, str], seconds: float) -> list[str]:
    """One line per watched thread (thread id -> label): its waits, how many were long,
    and the three tasks that most often ran just before its long waits ended."""
    found, names = run_queue_waits(trace)

    def label(tid: int) -> str:
        return watched.get(tid) or (f"{names.get(tid, '?')}:{tid}" if tid else "idle")

    lines = []
    for tid, name in watched.items():
        waits = sorted(found[tid].waits) if tid in found else []
        if not waits:
            lines.append(f"{name}: no waits recorded")
            continue
        long = [w for w in waits if w >= LONG_WAIT_US]
        p99 = waits[min(len(waits) - 1, int(len(waits) * 0.99))]
        behind = ", ".join(f"{label(t)} {n}" for t, n in found[tid].before.most_common(3))
        lines.append(
            f"{name}: {len(waits) / seconds:.0f} waits/s, p50 {statistics.median(waits):.0f} us, "
            f"p99 {p99:.0f} us; {len(long) / seconds:.0f}/s of {LONG_WAIT_US:.0f} us or more "
            f"({sum(long) / seconds / 1000:.0f} ms/s), ended after: {behind or 'none'}")
    return lines
