"""Token throughput and latency under load: sevres next to the reference Keystone, with wrk.

One run starts a fresh sevres (``sevres init``, ``sevres bootstrap``, ``sevres serve``, in a
temporary state folder, SQLite) and the reference Keystone 30 (the anchor's ``start.sh``,
unless one already answers on its port; stopped again at the end only if this run started
it), both with the same number of workers, and drives each with wrk (``-t2 -c8 --latency``,
Lua scripts written to a temporary folder) for the same duration:

1. validate one token again and again (GET /v3/auth/tokens);
2. validate cycling over --tokens distinct tokens (issued first by re-scoping);
3. re-scope with the token method (POST /v3/auth/tokens, 201);
4. password login, sevres's argon2id calibrated to cost at least Keystone's bcrypt-12 in
   CPU time per hash with every core hashing;
5. validation latency while a second wrk floods password logins: judged at a steady load
   (each validating connection waits 1 ms after each answer), alone and flooded in turn
   fifteen times, medians compared; validation flat out is printed too, for information;
6. sevres alone on a large database (users, projects, role assignments bulk-inserted):
   scenarios 1 and 2 again, and the resident memory of each worker process.
7. (only with --only 7) validation latency while a second wrk floods BAD password logins
   (wrong passwords of the admin and unknown user names, 401): scenario 5's measure.

Every scenario first checks one sample request of each system for the expected status;
wrk's non-2xx and socket-error counts are printed, and a run with any is flagged. It is a
measurement, not a test: the exit code is 0 whatever the figures, non-zero only when a
server does not start or a sanity check fails.

    .venv/bin/python bench/tokens.py [--quick] [--workers 2] [--duration 10] [--tokens 3000]
        [--only 1,2,3,4,5,6,7]
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from sevres import config
from sevres.ids import new_id, utcnow
from sevres.storage import tables
from sevres.storage.repositories import jsoncol

sys.path.insert(0, str(Path(__file__).resolve().parent))
import sched_trace  # bench/, beside this file

ROOT = Path(__file__).resolve().parent.parent
SEVRES = Path(sys.executable).parent / "sevres"
ANCHOR = Path(os.environ.get("SEVRES_KEYSTONE_ANCHOR")
              or ROOT.parent / "shared" / "anchors" / "keystone")
KEYSTONE_HOME = Path(os.environ.get("KEYSTONE_HOME", "/tmp/keystone-anchor"))
KEYSTONE_PORT = int(os.environ.get("KEYSTONE_PORT", "5001"))
KEYSTONE_PASSWORD = os.environ.get("KEYSTONE_ADMIN_PASSWORD", "secret")  # local only
SEVRES_PASSWORD = "bench-admin-Pa55word"  # a throwaway server's admin, local only
USER_PASSWORD = "bench-user-Pa55word"
WRK = shutil.which("wrk") or "/usr/bin/wrk"
WRK_THREADS = 2
WRK_CONNECTIONS = 8
FLOOD_CONNECTIONS = 4
FLOOD_PACE_MS = 1  # a validating connection's wait after each answer, at the steady load
FLOOD_ROUNDS = 15  # alone and flooded, in turn, at the steady load (Keystone: once); a
# round's p99 ratio ranges over 0.9x to 3x with the connections' draw among the workers, so
# the median of five still moved across 2x between runs (docs/design.md)
BCRYPT_COST = 12  # Keystone's default [identity] password_hash_rounds for bcrypt
LOGIN_USERS = 10  # loaded users given a password, whose tokens scenario 6 validates
TOKEN_PATH = "/v3/auth/tokens"

# targets, printed next to the figures
RATE_TARGET = 10.0  # sevres/Keystone requests/s for validation and re-scope
PASSWORD_TARGET = 1.0  # sevres/Keystone requests/s for password logins at equal hash cost
PASSWORD_RUN_FACTOR = 3  # scenario 4 runs this many times --duration: few logins a second
P99_TARGET_MS = 5.0  # sevres validation p99
WARM_LIMIT_S = 60  # at most this much more warm-up, until the token cache stops missing
FLOOD_TARGET = 2.0  # validation p99 under a login flood / unloaded
SCHED_TRACE_S = 2.0  # --sched-trace: seconds of scheduler events per steady flood run
SPREAD_SHARE = 0.8  # a run's busiest worker took less of the main threads' CPU: spread
RSS_TARGET_MB = 150.0  # per worker, on the large database


class BenchError(Exception):
    """A server did not start or a sanity check failed: the run stops, exit code 2."""


def say(text: str = "") -> None:
    print(text, flush=True)


def loadavg() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/v3", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(missing)"


# -- processes and memory ------------------------------------------------------------------
def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with suppress(OSError):
            found += [int(c) for c in (task / "children").read_text().split()]
    return found


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


def memory_kib(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) in KiB, or (0, 0) if the process is gone."""
    values = {"VmRSS": 0, "VmHWM": 0}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in values:
                values[key] = int(rest.split()[0])
    except OSError:
        pass
    return values["VmRSS"], values["VmHWM"]


def mib(kib: int) -> float:
    return kib / 1024


def cpu_seconds(pids: Sequence[int]) -> float:
    """User and system CPU time the processes have used so far."""
    ticks = 0
    for pid in pids:
        with suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def loop_cpu(pids: Sequence[int]) -> list[float]:
    """CPU seconds each process's main thread has used so far (for a uvicorn worker, its
    event loop), from the scheduler's own count (/proc/PID/task/PID/schedstat, ns)."""
    used = []
    for pid in pids:
        try:
            used.append(int(Path(f"/proc/{pid}/task/{pid}/schedstat").read_text().split()[0])
                        / 1e9)
        except (OSError, IndexError, ValueError):
            used.append(0.0)
    return used


def settle(pids: Sequence[int], timeout: float = 60) -> bool:
    """Wait until the server's workers are idle: requests of a finished wrk run whose
    connections closed may still be queued or running (a sync worker hashes every password
    it accepted), and would slow down the next run."""
    deadline = time.monotonic() + timeout
    quiet = 0
    used = cpu_seconds(pids)
    while quiet < 2 and time.monotonic() < deadline:
        time.sleep(0.25)
        now = cpu_seconds(pids)
        quiet = quiet + 1 if now - used < 0.025 else 0  # under 10% of a core
        used = now
    if quiet < 2:
        say(f"  (note: the server's workers were still busy {timeout:g} s after a run)")
    return quiet >= 2


# -- the systems under test ----------------------------------------------------------------
@dataclass
class Side:
    """One system as the scenarios see it: where it is and the tokens it issued."""

    name: str
    url: str
    admin_password: str
    workers: Callable[[], list[int]]  # the server's worker processes, for settle()
    admin_token: str = ""
    admin_project_id: str = ""
    subject_token: str = ""  # a project-scoped token, re-scoped from the admin token

    def password_body(self) -> dict[str, Any]:
        return {"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": "admin", "domain": {"id": "default"}, "password": self.admin_password}}},
            "scope": {"project": {"id": self.admin_project_id}}}}

    def login(self) -> None:
        """The admin's project-scoped token, and a second one re-scoped from it."""
        with httpx.Client(base_url=self.url, timeout=60) as client:
            response = call(client, f"{self.name}: admin login", "POST", TOKEN_PATH, 201,
                            json={"auth": {
                "identity": {"methods": ["password"], "password": {"user": {
                    "name": "admin", "domain": {"id": "default"},
                    "password": self.admin_password}}},
                "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}})
            self.admin_token = response.headers["X-Subject-Token"]
            self.admin_project_id = response.json()["token"]["project"]["id"]
            self.subject_token = rescope(client, self.admin_token, self.admin_project_id)


def rescope_body(token: str, project_id: str) -> dict[str, Any]:
    return {"auth": {"identity": {"methods": ["token"], "token": {"id": token}},
                     "scope": {"project": {"id": project_id}}}}


class Retries:
    """Setup requests that sevres answered 409 ("a concurrent change won ... try the request
    again") and that were retried, as its message asks; reported with the setup time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0

    def take(self) -> int:
        with self._lock:
            count, self.count = self.count, 0
            return count

    def add(self) -> None:
        with self._lock:
            self.count += 1


RETRIES = Retries()


def call(client: httpx.Client, what: str, method: str, path: str, expected: int,
         attempts: int = 5, **kwargs: Any) -> httpx.Response:
    """A setup request; a 409 is retried (counted in RETRIES), any other surprise stops
    the run."""
    for attempt in range(attempts):
        response = client.request(method, path, **kwargs)
        if response.status_code != 409 or attempt == attempts - 1:
            break
        RETRIES.add()
        time.sleep(0.05 * (attempt + 1))
    if response.status_code != expected:
        raise BenchError(f"{what} answered {response.status_code} (expected {expected}): "
                         f"{response.text[:300]}")
    return response


def rescope(client: httpx.Client, token: str, project_id: str) -> str:
    response = call(client, "re-scope", "POST", TOKEN_PATH, 201,
                    json=rescope_body(token, project_id))
    return response.headers["X-Subject-Token"]


def issue_many(url: str, pairs: Sequence[tuple[str, str]], parallel: int = 8) -> list[str]:
    """One token per (token, project) pair, re-scoped with the token method, in parallel."""
    chunks = [pairs[i::parallel] for i in range(parallel)]

    def issue(chunk: Sequence[tuple[str, str]]) -> list[str]:
        with httpx.Client(base_url=url, timeout=60) as client:
            return [rescope(client, token, project) for token, project in chunk]

    with ThreadPoolExecutor(parallel) as pool:
        return [token for tokens in pool.map(issue, chunks) for token in tokens]


@dataclass
class SevresServer:
    """``sevres serve`` on a state folder, in its own session; stopped by its pid."""

    state_dir: Path
    env: dict[str, str]
    workers: int
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.state_dir / "server.log"

    @classmethod
    def create(cls, state_dir: Path, workers: int, **settings: str) -> SevresServer:
        """A fresh state folder: ``sevres init`` and ``sevres bootstrap``."""
        state_dir.mkdir(parents=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("SEVRES_")}
        env.update({"SEVRES_STATE_DIR": str(state_dir), "SEVRES_ADMIN_PASSWORD": SEVRES_PASSWORD,
                    "SEVRES_LOG_LEVEL": "warning", **settings})
        server = cls(state_dir, env, workers)
        for command in (["init"], ["bootstrap"]):
            done = subprocess.run([str(SEVRES), *command], env=env, capture_output=True,
                                  text=True, timeout=300, check=False)
            if done.returncode != 0:
                raise BenchError(f"sevres {command[0]} exited {done.returncode}:\n"
                                 f"{done.stdout}{done.stderr}")
        return server

    @property
    def database_url(self) -> str:
        return f"sqlite:///{self.state_dir / 'sevres.db'}"

    def start(self) -> None:
        self.port = free_port()
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [str(SEVRES), "serve", "--port", str(self.port), "--workers", str(self.workers)],
                env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchError(f"sevres serve exited {self.process.returncode}:\n"
                                 f"{tail(self.log_path)}")
            if answers(self.url) and len(self.worker_pids()) >= min(self.workers, 2):
                return
            time.sleep(0.2)
        self.stop()
        raise BenchError(f"sevres did not answer within 90 s:\n{tail(self.log_path)}")

    def worker_pids(self) -> list[int]:
        """uvicorn's worker processes (the server process itself with one worker)."""
        if self.process is None:
            return []
        if self.workers == 1:
            return [self.process.pid]
        return [pid for pid in children(self.process.pid) if "spawn_main" in cmdline(pid)]

    def stop(self) -> None:
        if self.process is None:
            return
        workers = self.worker_pids()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for pid in workers:  # only the workers this server started, should any remain
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process = None


@dataclass
class Keystone:
    """The reference Keystone: reused when it already answers, else started by start.sh."""

    url: str
    started: bool
    workers: int  # gunicorn workers seen running

    @classmethod
    def bring_up(cls, workers: int) -> Keystone:
        url = f"http://127.0.0.1:{KEYSTONE_PORT}"
        if answers(url):
            return cls(url, False, len(cls.worker_pids()))
        first = "" if (KEYSTONE_HOME / "venv" / "bin" / "gunicorn").exists() else (
            ", which installs it first: minutes")
        say(f"starting Keystone with {ANCHOR / 'start.sh'}{first}...")
        env = {**os.environ, "KEYSTONE_PORT": str(KEYSTONE_PORT), "KEYSTONE_WORKERS": str(workers),
               "KEYSTONE_ADMIN_PASSWORD": KEYSTONE_PASSWORD}
        try:
            result = subprocess.run(["bash", str(ANCHOR / "start.sh")], env=env, timeout=900,
                                    capture_output=True, text=True, check=False)
        except subprocess.TimeoutExpired as error:
            raise BenchError(f"Keystone's start.sh did not finish in 15 minutes: {error}\n"
                             f"--- pip.log ---\n{tail(KEYSTONE_HOME / 'pip.log')}") from None
        keystone = cls(url, True, 0)
        if result.returncode != 0 or not answers(url):
            keystone.stop()
            raise BenchError(
                f"Keystone's start.sh ({ANCHOR}) exited {result.returncode}\n"
                f"{result.stdout}{result.stderr}\n"
                f"--- gunicorn.log ---\n{tail(KEYSTONE_HOME / 'gunicorn.log')}")
        deadline = time.monotonic() + 30
        while len(cls.worker_pids()) < workers and time.monotonic() < deadline:
            time.sleep(0.2)
        keystone.workers = len(cls.worker_pids())
        return keystone

    @staticmethod
    def worker_pids() -> list[int]:
        """gunicorn's workers, children of the pid start.sh recorded."""
        try:
            master = int((KEYSTONE_HOME / "gunicorn.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return []
        return [pid for pid in children(master) if "gunicorn" in cmdline(pid)]

    def stop(self) -> None:
        if self.started:
            subprocess.run(["bash", str(ANCHOR / "stop.sh")], timeout=60, capture_output=True,
                           check=False, env={**os.environ, "KEYSTONE_HOME": str(KEYSTONE_HOME)})


# -- password hashing cost -----------------------------------------------------------------
# A hash's cost is its CPU time when every core is hashing: one thread per CPU, each hashing
# one password after another. That is what a login costs a server whose logins keep it busy,
# and it counts what a lone hash on an idle machine hides: argon2's memory traffic competing
# with the other core's, and the threads of a multi-lane hash fighting for the same cores.
@dataclass(frozen=True)
class HashCost:
    cpu_ms: float  # CPU time per hash, every core hashing
    wall_ms: float  # wall time per hash seen by one of those threads


BUSY_HASHES = 4  # per thread, per measurement
CALIBRATION_STEPS = 4  # measurements of argon2 near the target, after the default's

BUSY_PROGRAM = """
import json, os, sys, threading, time
def measure(one, per_thread):
    threads = [threading.Thread(target=lambda: [one() for _ in range(per_thread)])
               for _ in range(os.cpu_count() or 1)]
    wall, cpu = time.perf_counter(), time.process_time()
    for t in threads: t.start()
    for t in threads: t.join()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return cpu / (len(threads) * per_thread) * 1000, wall / per_thread * 1000
"""


def busy_cost(python: str, one: str, setup: str = "", repeat: int = 3) -> HashCost:
    """The median over ``repeat`` measurements of the cost of ``one`` (a Python expression
    that hashes once, after ``setup``), run by ``python`` in a process of its own."""
    program = (BUSY_PROGRAM + setup + "\nruns = [measure(lambda: " + one
               + f", {BUSY_HASHES}) for _ in range({repeat})]\n"
               "print(json.dumps(sorted(runs)[len(runs) // 2]))\n")
    done = subprocess.run([python, "-c", program], capture_output=True, text=True,
                          timeout=600, check=False)
    if done.returncode != 0:
        raise BenchError(f"hash cost measurement failed:\n{done.stderr[-2000:]}")
    cpu, wall = json.loads(done.stdout)
    return HashCost(cpu, wall)


def bcrypt_cost() -> tuple[HashCost, str]:
    """bcrypt at Keystone's cost, timed in the Keystone venv's Python (bcrypt releases the
    GIL, so threads hash in parallel), or in a throwaway venv under /tmp if that has none."""
    pythons = [KEYSTONE_HOME / "venv" / "bin" / "python",
               Path("/tmp/sevres-bench-bcrypt/bin/python")]
    python = next((p for p in pythons if p.exists() and subprocess.run(
        [str(p), "-c", "import bcrypt"], capture_output=True, check=False).returncode == 0),
        None)
    if python is None:
        venv = pythons[-1].parent.parent
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "bcrypt"], check=True,
                       timeout=600)
        python = pythons[-1]
    one = f"bcrypt.hashpw(b'bench-Pa55word', bcrypt.gensalt({BCRYPT_COST}))"
    return busy_cost(str(python), one, "import bcrypt"), str(python)


def argon2_cost(time_cost: int, memory_kib: int, lanes: int) -> HashCost:
    """argon2id as sevres computes it when other hashes are running: one thread per hash."""
    setup = "from sevres.identity.argon2_threads import derive"
    one = (f"derive(b'bench-Pa55word', os.urandom(16), {time_cost}, {memory_kib}, {lanes}, "
           "threads=1)")
    return busy_cost(sys.executable, one, setup)


def keystone_hash_prefix() -> str:
    """The cost prefix of the admin's stored hash in Keystone's SQLite database ($2b$12$)."""
    import sqlite3

    path = KEYSTONE_HOME / "keystone.db"
    if not path.exists():
        return "n/a"
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            row = db.execute("SELECT password_hash FROM password LIMIT 1").fetchone()
    except sqlite3.Error:
        return "n/a"
    return "$".join(str(row[0]).split("$")[:3]) + "$" if row else "n/a"


@dataclass(frozen=True)
class Argon2Choice:
    time_cost: int
    memory_kib: int
    parallelism: int
    cost: HashCost
    default_cost: HashCost
    defaults: tuple[int, int, int]
    steps: tuple[tuple[int, float], ...]  # (memory KiB, CPU ms) of each measurement, in order


def calibrate_argon2(target: HashCost) -> Argon2Choice:
    """sevres's default passes and lanes, with the memory (in MiB steps) that makes one hash
    cost at least bcrypt's CPU time, every core hashing. The cost is nearly proportional to
    the memory, so the cost per MiB is estimated from measurements near the target (their
    median, which one noisy measurement does not move; the default's, far from it, only
    aims the first), and the memory is the target divided by it, rounded up to a MiB; the
    choice is then measured once more, for the record."""
    nowhere = Path(tempfile.gettempdir()) / "sevres-bench-no-such-state"  # defaults only
    defaults = config.load({"SEVRES_STATE_DIR": str(nowhere)})
    t, m0, lanes = (defaults.argon2_time_cost, defaults.argon2_memory_kib,
                    defaults.argon2_parallelism)
    default_cost = argon2_cost(t, m0, lanes)
    steps = [(m0, default_cost.cpu_ms)]
    per_kib: list[float] = []  # near the target only: the cost is not quite proportional
    for _ in range(CALIBRATION_STEPS):
        estimate = statistics.median(per_kib) if per_kib else default_cost.cpu_ms / m0
        memory = math.ceil(target.cpu_ms / estimate / 1024) * 1024
        cost = argon2_cost(t, memory, lanes)
        per_kib.append(cost.cpu_ms / memory)
        steps.append((memory, cost.cpu_ms))
    memory = math.ceil(target.cpu_ms / statistics.median(per_kib) / 1024) * 1024
    cost = argon2_cost(t, memory, lanes)
    steps.append((memory, cost.cpu_ms))
    return Argon2Choice(t, memory, lanes, cost, default_cost, (t, m0, lanes), tuple(steps))


# -- wrk -------------------------------------------------------------------------------------
def lua_string(text: str) -> str:
    if not text.isascii() or any(c in text for c in "\r\n"):
        raise ValueError("only single-line ASCII goes into the Lua scripts")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


# Numbers each wrk thread (thread_index, from 0) before its init() runs.
THREAD_INDEX_LUA = """
local next_index = 0
function setup(thread)
  thread:set("thread_index", next_index)
  next_index = next_index + 1
end
"""

DONE_LUA = """
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('BENCH {"requests": %.0f, "duration_us": %.0f, "p50_us": %.0f, '
    .. '"p99_us": %.0f, "max_us": %.0f, "status": %.0f, "connect": %.0f, "read": %.0f, '
    .. '"write": %.0f, "timeout": %.0f}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.max, e.status, e.connect, e.read, e.write, e.timeout))
end
"""


@dataclass
class Scripts:
    """The Lua scripts of one system's scenarios, written once to a folder."""

    folder: Path

    def write(self, name: str, body: str) -> Path:
        path = self.folder / f"{name}.lua"
        path.write_text(body + DONE_LUA)
        return path

    def validate_one(self, name: str, auth: str, subject: str) -> Path:
        return self.write(name, f"""
wrk.method = "GET"
wrk.path = "{TOKEN_PATH}"
wrk.headers["X-Auth-Token"] = {lua_string(auth)}
wrk.headers["X-Subject-Token"] = {lua_string(subject)}
""")

    def validate_cycle(self, name: str, auth: str, tokens: Sequence[str]) -> Path:
        table = self.folder / f"{name}-tokens.lua"
        table.write_text("return {\n" + ",\n".join(lua_string(t) for t in tokens) + "\n}\n")
        return self.write(name, THREAD_INDEX_LUA + f"""
function init(args)
  tokens = dofile({lua_string(str(table))})
  -- threads start evenly spread over the list, so they never validate in lockstep
  position = (thread_index * math.floor(#tokens / {WRK_THREADS}) + thread_index * 7) % #tokens
  headers = {{["X-Auth-Token"] = {lua_string(auth)}}}
end
function request()
  position = position % #tokens + 1
  headers["X-Subject-Token"] = tokens[position]
  return wrk.format("GET", "{TOKEN_PATH}", headers)
end
""")

    def bad_logins(self, name: str, body: dict[str, Any]) -> Path:
        """Password logins that fail: every other one the admin with a wrong password, the
        rest an unknown user, a new name each time (as an attacker probing names)."""
        wrong = json.loads(json.dumps(body))
        user = wrong["auth"]["identity"]["password"]["user"]
        user["password"] = "wrong-" + user["password"]
        unknown = json.loads(json.dumps(wrong))
        unknown["auth"]["identity"]["password"]["user"]["name"] = "NAME"
        before, _, after = json.dumps(unknown, separators=(",", ":")).partition("NAME")
        return self.write(name, THREAD_INDEX_LUA + f"""
function init(args)
  count = 0
  headers = {{["Content-Type"] = "application/json"}}
  wrong = {lua_string(json.dumps(wrong, separators=(",", ":")))}
end
function request()
  count = count + 1
  local body = wrong
  if count % 2 == 0 then
    body = {lua_string(before)} .. "nobody-" .. thread_index .. "-" .. count .. {lua_string(after)}
  end
  return wrk.format("POST", "{TOKEN_PATH}", headers, body)
end
""")

    def paced(self, name: str, script: Path, wait_ms: int) -> Path:
        """``script`` with each connection waiting ``wait_ms`` after each answer (wrk's
        ``delay``; the wait is not part of the latency wrk measures)."""
        body = script.read_text().removesuffix(DONE_LUA)
        return self.write(name, body + f"\nfunction delay()\n  return {wait_ms}\nend\n")

    def post(self, name: str, body: dict[str, Any]) -> Path:
        return self.write(name, f"""
wrk.method = "POST"
wrk.path = "{TOKEN_PATH}"
wrk.headers["Content-Type"] = "application/json"
wrk.body = {lua_string(json.dumps(body, separators=(",", ":")))}
""")


@dataclass(frozen=True)
class Run:
    """One wrk run's figures."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    non_2xx: int
    socket_errors: int
    connections: int
    output: str = field(default="", repr=False)  # wrk's own report
    database: str = ""  # what the server's /metrics say about database use, if watched
    cpu_seconds: float = 0.0  # CPU time of the server's workers over the measured run
    loops: tuple[float, ...] = ()  # CPU seconds of each worker's main thread, same run
    sched: tuple[str, ...] = ()  # with --sched-trace: where threads waited for a CPU

    @property
    def spread(self) -> bool:
        """Whether the run's requests were served by more than one worker: the busiest
        worker's main thread took less than SPREAD_SHARE of the main threads' CPU. wrk's
        few connections go to whichever worker accepts first, so one worker may get all."""
        total = sum(self.loops)
        return total > 0 and max(self.loops) < SPREAD_SHARE * total

    @property
    def split(self) -> str:
        return "+".join(f"{x:.1f}" for x in self.loops) if self.loops else ""

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def errors(self) -> int:
        return self.non_2xx + self.socket_errors

    def plus(self, other: Run) -> Run:
        """Two runs as one: counts and times added; p50, p99 and max the larger."""
        return Run(self.requests + other.requests, self.seconds + other.seconds,
                   max(self.p50_ms, other.p50_ms), max(self.p99_ms, other.p99_ms),
                   max(self.max_ms, other.max_ms), self.non_2xx + other.non_2xx,
                   self.socket_errors + other.socket_errors, self.connections)


@dataclass(frozen=True)
class FloodFigures:
    """Validation flat out alone and flooded, the steady-load rounds, the flood itself."""

    flat_alone: Run
    flat_flooded: Run
    alone: list[Run]
    flooded: list[Run]
    flat_logins: Run  # the flood's own, in the flat-out round
    steady_logins: Run  # and in the steady rounds, all together

    @property
    def logins(self) -> Run:
        """All the flood's logins."""
        return self.flat_logins.plus(self.steady_logins)

    def median(self, runs: str, figure: str) -> float:
        values: list[float] = [getattr(r, figure) for r in getattr(self, runs)]
        return statistics.median(values)


def start_wrk(url: str, script: Path, seconds: float, connections: int) -> subprocess.Popen[str]:
    threads = min(WRK_THREADS, connections)
    return subprocess.Popen(
        [WRK, f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency",
         "--timeout", "10s", "-s", str(script), url + TOKEN_PATH],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish_wrk(process: subprocess.Popen[str], connections: int) -> Run:
    output, _ = process.communicate()
    line = next((x for x in output.splitlines() if x.startswith("BENCH ")), None)
    if process.returncode != 0 or line is None:
        raise BenchError(f"wrk exited {process.returncode}:\n{output}")
    figures = json.loads(line.removeprefix("BENCH "))
    return Run(int(figures["requests"]), figures["duration_us"] / 1e6, figures["p50_us"] / 1000,
               figures["p99_us"] / 1000, figures["max_us"] / 1000, int(figures["status"]),
               int(figures["connect"] + figures["read"] + figures["write"] + figures["timeout"]),
               connections, output)


# Called with a measured run's wrk once it started; returns lines to keep with the run.
During = Callable[[subprocess.Popen[str]], Sequence[str]]


def measured(side: Side, script: Path, seconds: float, connections: int,
             during: During | None = None) -> Run:
    """One wrk run, with the CPU time the server's workers, and each worker's main thread,
    used over it; ``during``'s lines kept as the run's ``sched``."""
    pids = side.workers()
    cpu, loops = cpu_seconds(pids), loop_cpu(pids)
    process = start_wrk(side.url, script, seconds, connections)
    lines = during(process) if during is not None else ()
    run = finish_wrk(process, connections)
    return replace(run, cpu_seconds=cpu_seconds(pids) - cpu, sched=tuple(lines),
                   loops=tuple(b - a for a, b in zip(loops, loop_cpu(pids), strict=True)))


def wrk(side: Side, script: Path, seconds: float, connections: int = WRK_CONNECTIONS,
        warmup: float = 0, watch_database: bool = False, during: During | None = None) -> Run:
    """A warm-up run (not counted), then the measured run; the server settles after each.
    With ``watch_database``, the server's /metrics are read around the measured run only:
    the steady state, after the warm-up. The server's workers' CPU time is read around the
    measured run too (``measured``)."""
    if warmup > 0:
        finish_wrk(start_wrk(side.url, script, warmup, connections), connections)
        settle(side.workers())
    if watch_database:
        warm_until_no_misses(side, script, connections)
    before = scrape(side.url) if watch_database else {}
    run = measured(side, script, seconds, connections, during)
    if watch_database:
        run = replace(run, database=database_use(before, scrape(side.url)))
    settle(side.workers())
    return run


# -- keep-alive probe ------------------------------------------------------------------------
def keepalive_probe(url: str, repeat: int = 20) -> tuple[float, float]:
    """Median ms of GET /v3 sent one after the other on one kept-alive connection, and on a
    new connection each. A reused connection some 40 ms slower than a new one is Nagle's
    algorithm meeting the client's delayed ACK: the server's accepted sockets lack
    TCP_NODELAY, and every wrk figure of that server is bounded by it."""
    def timed(client: httpx.Client) -> float:
        started = time.perf_counter()
        client.get(f"{url}/v3").raise_for_status()
        return (time.perf_counter() - started) * 1000

    with httpx.Client(timeout=10) as client:
        timed(client)
        reused = statistics.median(timed(client) for _ in range(repeat))
    fresh: list[float] = []
    for _ in range(repeat):
        with httpx.Client(timeout=10) as client:
            fresh.append(timed(client))
    return reused, statistics.median(fresh)


# -- sanity checks -------------------------------------------------------------------------
def check(side: Side, what: str, method: str, expected: int, headers: dict[str, str],
          body: dict[str, Any] | None = None) -> None:
    """The request a scenario sends, once, must answer the expected status."""
    with httpx.Client(base_url=side.url, timeout=60) as client:
        response = client.request(method, TOKEN_PATH, headers=headers, json=body)
    if response.status_code != expected:
        raise BenchError(f"sanity check failed: {side.name} {what} answered "
                         f"{response.status_code}, expected {expected}: {response.text[:300]}")


def check_validation(side: Side, what: str, auth: str, subjects: Sequence[str]) -> None:
    for subject in subjects:
        check(side, what, "GET", 200, {"X-Auth-Token": auth, "X-Subject-Token": subject})


# -- metrics: does validation reach the database? ------------------------------------------
METRIC_LINE = re.compile(r"^(sevres_[a-z_]+)(\{[^}]*\})?\s+([0-9.eE+-]+)$")


def scrape(url: str) -> dict[str, float]:
    try:
        text = httpx.get(f"{url}/metrics", timeout=10).text
    except httpx.HTTPError:
        return {}
    found: dict[str, float] = {}
    for line in text.splitlines():
        match = METRIC_LINE.match(line)
        if match:
            found[match.group(1) + (match.group(2) or "")] = float(match.group(3))
    return found


def counted(before: dict[str, float], after: dict[str, float], pattern: str) -> float:
    """How much the /metrics samples whose line matches ``pattern`` grew between scrapes."""
    return sum(after.get(k, 0) - before.get(k, 0) for k in after if re.search(pattern, k))


def cache_misses(before: dict[str, float], after: dict[str, float]) -> float:
    return counted(before, after,
                   r'^sevres_cache_requests_total\{.*cache="token_validation".*result="miss"')


def warm_until_no_misses(side: Side, script: Path, connections: int) -> None:
    """Warm up a second more at a time until a second passes without a token-validation
    cache miss, for at most WARM_LIMIT_S: every worker has then validated every token of a
    cycling scenario once (the first validation of a token reads the database, and on the
    large database a 2 s warm-up leaves hundreds unseen). What follows is the steady state."""
    started = time.monotonic()
    while time.monotonic() - started < WARM_LIMIT_S:
        before = scrape(side.url)
        finish_wrk(start_wrk(side.url, script, 1, connections), connections)
        if cache_misses(before, scrape(side.url)) == 0:
            break
    settle(side.workers())


def database_use(before: dict[str, float], after: dict[str, float]) -> str:
    """What the server's own counters say about database use during a run: the database
    transactions it opened (sevres_database_transactions_total; a request answered from
    memory opens none) and its token-validation cache hits and misses."""
    def delta(pattern: str) -> float:
        return counted(before, after, pattern)

    reads = delta(r'^sevres_database_transactions_total\{.*kind="read".*origin="request"')
    writes = delta(r'^sevres_database_transactions_total\{.*kind="write".*origin="request"')
    hits = delta(r'^sevres_cache_requests_total\{.*cache="token_validation".*result="hit"')
    misses = cache_misses(before, after)
    upkeep = delta(r'^sevres_database_transactions_total\{.*kind="write".*origin="upkeep"')
    if not any(k.startswith("sevres_database_transactions_total") for k in after):
        return "n/a (no sevres_database_transactions_total on /metrics)"
    verdict = "no" if reads + writes == 0 else "yes"
    return (f"{verdict}: {reads:.0f} read and {writes:.0f} write transactions by requests; "
            f"token-validation cache {hits:.0f} hits, {misses:.0f} misses; the scheduled "
            f"upkeep (not a request) {upkeep:.0f} write transactions")


def in_scratch_folder(prefix: str, work: Callable[[Path, ExitStack], int]) -> int:
    """Run ``work`` with a temporary folder and an ExitStack for the servers it starts,
    closed (the servers stopped) before the folder goes. Its exit code, or 2 when it
    failed (a BenchError) and 130 when it was interrupted."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp, ExitStack() as stack:
        try:
            return work(Path(tmp), stack)
        except BenchError as error:
            say(f"\nFAILED: {error}")
            return 2
        except KeyboardInterrupt:
            say("\ninterrupted")
            return 130
        finally:
            stack.close()


# -- report ----------------------------------------------------------------------------------
@dataclass
class Report:
    flagged: list[str] = field(default_factory=list)
    targets: list[tuple[str, str, str]] = field(default_factory=list)  # what, figure, verdict
    notes: list[str] = field(default_factory=list)  # what the summary must say besides

    def flag(self, scenario: str, name: str, run: Run) -> None:
        if run.errors:
            text = (f"{scenario}, {name}: {run.non_2xx} non-2xx/3xx responses and "
                    f"{run.socket_errors} socket errors out of {run.requests} requests")
            self.flagged.append(text)
            say(f"  !!!!! ERRORS: {text}. THESE FIGURES ARE NOT VALID. !!!!!")

    def target(self, what: str, figure: str, met: bool) -> str:
        verdict = "met" if met else "NOT met"
        self.targets.append((what, figure, verdict))
        return verdict


    def summary(self) -> None:
        width = max((len(what) for what, _, _ in self.targets), default=0)
        for what, figure, verdict in self.targets:
            say(f"  {what:<{width}}  {figure:<40} {verdict}")
        for text in self.notes:
            say(f"  note: {text}")
        if self.flagged:
            say("\n!!!!! RUNS WITH ERRORS (their figures are not valid):")
            for text in self.flagged:
                say(f"  - {text}")
        else:
            say("\nno run had a non-2xx response or a socket error")


def retried(count: int) -> str:
    return (f"; !! {count} requests answered 409 (concurrent change) and were retried"
            if count else "")


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "n/a"


def compare(report: Report, title: str, runs: dict[str, Run], rate_target: float,
            p99_target: bool) -> None:
    """sevres and Keystone side by side; ratio = sevres/Keystone."""
    s, k = runs["sevres"], runs["Keystone"]
    say(f"  {'':<18}{'sevres':>12}{'Keystone':>12}{'sevres/KS':>11}   target")
    rate_ok = report.target(f"{title}: requests/s sevres/Keystone",
                            f"{ratio(s.rate, k.rate)} (target >= {rate_target:g}x)",
                            k.rate > 0 and s.rate / k.rate >= rate_target)
    say(f"  {'requests/s':<18}{s.rate:>12.1f}{k.rate:>12.1f}{ratio(s.rate, k.rate):>11}   "
        f">= {rate_target:g}x: {rate_ok}")
    say(f"  {'p50 latency ms':<18}{s.p50_ms:>12.2f}{k.p50_ms:>12.2f}"
        f"{ratio(s.p50_ms, k.p50_ms):>11}")
    p99_note = ""
    if p99_target:
        p99_ok = report.target(f"{title}: sevres p99", f"{s.p99_ms:.2f} ms (target < "
                               f"{P99_TARGET_MS:g} ms)", s.p99_ms < P99_TARGET_MS)
        p99_note = f"   sevres < {P99_TARGET_MS:g} ms: {p99_ok}"
    say(f"  {'p99 latency ms':<18}{s.p99_ms:>12.2f}{k.p99_ms:>12.2f}"
        f"{ratio(s.p99_ms, k.p99_ms):>11}{p99_note}")
    say(f"  {'max latency ms':<18}{s.max_ms:>12.2f}{k.max_ms:>12.2f}"
        f"{ratio(s.max_ms, k.max_ms):>11}")
    say(f"  {'requests':<18}{s.requests:>12}{k.requests:>12}")
    say(f"  {'non-2xx':<18}{s.non_2xx:>12}{k.non_2xx:>12}")
    say(f"  {'socket errors':<18}{s.socket_errors:>12}{k.socket_errors:>12}")
    for name, run in runs.items():
        report.flag(title, name, run)


def memory_line(label: str, pids: Sequence[int]) -> list[float]:
    sizes: list[float] = []
    for pid in pids:
        rss, peak = memory_kib(pid)
        sizes.append(mib(rss))
        say(f"  {label} worker pid {pid}: RSS {mib(rss):.1f} MiB (peak {mib(peak):.1f} MiB)")
    if not pids:
        say(f"  {label}: no worker process found")
    return sizes


# -- scenario 6: the large database ----------------------------------------------------------
@dataclass(frozen=True)
class Volumes:
    users: int
    projects: int
    assignments: int


@dataclass
class Loaded:
    login_users: list[tuple[str, str]]  # (user id, name) of the users given a password
    pairs: list[tuple[str, str]]  # (user id, project id): each a token to issue
    seconds: float


def load_database(url: str, volumes: Volumes, tokens: int, seed: int = 7) -> Loaded:
    """Bulk INSERTs, rows shaped as the repositories write them: one domain holding a
    forest of projects (up to depth 5), the users, and UserProject assignments of the
    bootstrap roles. The first LOGIN_USERS users hold tokens/LOGIN_USERS of them each."""
    rnd = random.Random(seed)
    now = utcnow()
    started = time.perf_counter()
    engine = sa.create_engine(url)
    try:
        with engine.begin() as connection:
            role = tables.role
            found = {row.name: row.id for row in connection.execute(
                sa.select(role.c.name, role.c.id).where(role.c.domain_id == tables.NULL_DOMAIN))}
            roles = [found[name] for name in ("member", "reader", "manager") if name in found]
            if not roles:
                raise BenchError("the bootstrap roles are missing from the sevres database")
            domain = new_id()
            projects = _forest(domain, volumes.projects, rnd)
            project_ids = [p["id"] for p in projects[1:]]
            user_ids = [new_id() for _ in range(volumes.users)]
            users = [{"id": ident, "name": f"load-u{i}", "domain_id": domain, "enabled": True,
                      "default_project_id": None, "extra": jsoncol.dump({}), "created_at": now}
                     for i, ident in enumerate(user_ids)]
            grants: dict[tuple[str, str, str], dict[str, Any]] = {}
            pairs: list[tuple[str, str]] = []
            per_user = math.ceil(tokens / LOGIN_USERS)
            for user_id in user_ids[:LOGIN_USERS]:
                for project in rnd.sample(project_ids, min(per_user, len(project_ids))):
                    grants[(user_id, project, roles[0])] = _grant(user_id, project, roles[0])
                    pairs.append((user_id, project))
            while len(grants) < volumes.assignments:
                user_id, project = rnd.choice(user_ids), rnd.choice(project_ids)
                role_id = rnd.choice(roles)
                grants[(user_id, project, role_id)] = _grant(user_id, project, role_id)
            for table, rows in ((tables.project, projects), (tables.user, users),
                                (tables.assignment, list(grants.values()))):
                for start in range(0, len(rows), 10_000):
                    connection.execute(sa.insert(table), rows[start:start + 10_000])
            _bump_revision(connection)
    finally:
        engine.dispose()
    login = [(ident, f"load-u{i}") for i, ident in enumerate(user_ids[:LOGIN_USERS])]
    return Loaded(login, pairs[:tokens], time.perf_counter() - started)


def _bump_revision(connection: sa.Connection) -> None:
    """Count one more authorization change, as every write through the API does (servers
    compare the revision with their in-memory copy)."""
    from sevres.storage.repositories import revision

    revision.bump(connection, authz=True)


def _forest(domain: str, count: int, rnd: random.Random) -> list[dict[str, Any]]:
    """The domain's row, then ``count`` projects: count/100 at the top, each of the rest
    under the domain 1% of the time, else under a random earlier project above depth 5."""
    rows = [_project(domain, f"bench-load-{domain[:8]}", tables.ROOT_DOMAIN, None, "", True)]
    open_parents: list[tuple[str, str, int]] = []  # (id, its ancestry, its depth)
    for i in range(count):
        if len(open_parents) < max(1, count // 100) or rnd.random() < 0.01:
            parent, ancestry, depth = domain, domain, 1
        else:
            parent, above, parent_depth = rnd.choice(open_parents)
            ancestry, depth = f"{above}/{parent}", parent_depth + 1
        ident = new_id()
        rows.append(_project(ident, f"load-p{i}", domain, parent, ancestry))
        if depth < 5:
            open_parents.append((ident, ancestry, depth))
    return rows


def _project(ident: str, name: str, domain_id: str, parent_id: str | None, ancestry: str,
             is_domain: bool = False) -> dict[str, Any]:
    return {"id": ident, "name": name, "description": None, "enabled": True,
            "domain_id": domain_id, "parent_id": parent_id, "is_domain": is_domain,
            "ancestry": ancestry, "tags": jsoncol.dump([]), "extra": jsoncol.dump({})}


def _grant(user_id: str, project_id: str, role_id: str) -> dict[str, Any]:
    return {"type": "UserProject", "actor_id": user_id, "target_id": project_id,
            "role_id": role_id, "inherited": False}


def table_sizes(url: str) -> dict[str, int]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return {name: int(connection.execute(
                sa.select(sa.func.count()).select_from(tables.metadata.tables[name])).scalar_one())
                for name in ("user", "project", "assignment", "password")}
    finally:
        engine.dispose()


def user_tokens(side: Side, loaded: Loaded) -> dict[str, str]:
    """Give the login users a password through the API (PATCH, one after the other, as an
    admin does), then log each in on one of its projects; their tokens by user id."""
    first_project: dict[str, str] = {}
    for user_id, project_id in loaded.pairs:
        first_project.setdefault(user_id, project_id)
    with httpx.Client(base_url=side.url, timeout=120) as client:
        for user_id, _name in loaded.login_users:
            call(client, "setting a password", "PATCH", f"/v3/users/{user_id}", 200,
                 headers={"X-Auth-Token": side.admin_token},
                 json={"user": {"password": USER_PASSWORD}})

    def login(user: tuple[str, str]) -> tuple[str, str]:
        user_id, _name = user
        with httpx.Client(base_url=side.url, timeout=120) as client:
            issued = call(client, "a loaded user's login", "POST", TOKEN_PATH, 201,
                          json={"auth": {
                "identity": {"methods": ["password"], "password": {"user": {
                    "id": user_id, "password": USER_PASSWORD}}},
                "scope": {"project": {"id": first_project[user_id]}}}})
        return user_id, issued.headers["X-Subject-Token"]

    with ThreadPoolExecutor(4) as pool:
        return dict(pool.map(login, loaded.login_users))


# -- the run ---------------------------------------------------------------------------------
@dataclass
class Options:
    workers: int
    duration: float
    warmup: float
    tokens: int
    volumes: Volumes
    only: frozenset[int]  # the scenarios to run
    wrk_output: bool  # print wrk's own report of every measured run
    sched_trace: bool = False  # the floods' steady rounds: where validation waited for CPU


class Bench:
    """The servers, the sides and the report of one run; one method per scenario."""

    def __init__(self, options: Options, report: Report, stack: ExitStack, work: Path) -> None:
        self.options, self.report, self.stack, self.work = options, report, stack, work
        self.scripts = Scripts(work / "lua")
        self.scripts.folder.mkdir()
        self.sides: dict[str, Side] = {}
        self.small: dict[str, Run] = {}  # sevres's runs on the small database, by scenario

    @property
    def sevres_side(self) -> Side:
        return self.sides["sevres"]

    def wrk(self, side: Side, script: Path, connections: int = WRK_CONNECTIONS,
            watch_database: bool = False, seconds: float | None = None) -> Run:
        return self.show(side, wrk(side, script, seconds or self.options.duration, connections,
                                   self.options.warmup, watch_database))

    def show(self, side: Side, run: Run) -> Run:
        """With --wrk-output, wrk's own report of a measured run."""
        if self.options.wrk_output:
            say(f"  -- wrk, {side.name}:")
            say("\n".join(f"  | {line}" for line in run.output.splitlines()
                          if not line.startswith("BENCH ")))
        return run

    def start(self) -> None:
        """Keystone, the hash costs (before any load), then sevres with the calibrated cost."""
        say("\n== password hash cost: CPU time per hash with every core hashing (one thread "
            "per CPU, median of 3 measurements, no other load from this bench)")
        self.keystone = Keystone.bring_up(self.options.workers)
        self.stack.callback(self.keystone.stop)
        bcrypt, where = bcrypt_cost()
        self.bcrypt = bcrypt
        choice = self.argon2 = calibrate_argon2(bcrypt)
        say(f"  Keystone bcrypt cost {BCRYPT_COST} (its default; the admin's stored hash "
            f"starts {keystone_hash_prefix()}): {bcrypt.cpu_ms:.0f} ms CPU, "
            f"{bcrypt.wall_ms:.0f} ms wall ({where})")
        t0, m0, p0 = choice.defaults
        say(f"  sevres argon2id defaults t={t0} m={m0} KiB p={p0}: "
            f"{choice.default_cost.cpu_ms:.0f} ms CPU, {choice.default_cost.wall_ms:.0f} ms wall")
        tried = ", ".join(f"{m // 1024} MiB {ms:.0f} ms" for m, ms in choice.steps)
        say(f"  sevres runs with argon2id t={choice.time_cost} m={choice.memory_kib} KiB "
            f"p={choice.parallelism}: {choice.cost.cpu_ms:.0f} ms CPU, "
            f"{choice.cost.wall_ms:.0f} ms wall (measured once more): the memory, in MiB steps, "
            f"at which the CPU time per MiB measured near the target (median) puts a hash "
            f"at bcrypt-{BCRYPT_COST}'s cost or just above (measured in turn: {tried})")

        self.sevres = SevresServer.create(
            self.work / "sevres", self.options.workers,
            SEVRES_ARGON2_TIME_COST=str(choice.time_cost),
            SEVRES_ARGON2_MEMORY_KIB=str(choice.memory_kib),
            SEVRES_ARGON2_PARALLELISM=str(choice.parallelism))
        self.sevres.start()
        self.stack.callback(self.sevres.stop)
        origin = "started by this run" if self.keystone.started else "already running, reused"
        say(f"\nsevres at {self.sevres.url}: {self.options.workers} uvicorn workers, SQLite, "
            f"state in {self.sevres.state_dir}")
        say(f"Keystone 30 at {self.keystone.url}: {self.keystone.workers} gunicorn workers, "
            f"SQLite, in-memory cache; {origin}")
        if self.keystone.workers != self.options.workers:
            say(f"  !!!!! Keystone runs {self.keystone.workers} workers, sevres "
                f"{self.options.workers}: stop it (stop.sh) to compare equal worker counts")
        self.sides = {
            "sevres": Side("sevres", self.sevres.url, SEVRES_PASSWORD, self.sevres.worker_pids),
            "Keystone": Side("Keystone", self.keystone.url, KEYSTONE_PASSWORD,
                             Keystone.worker_pids)}
        for side in self.sides.values():
            side.login()
        say("\n== keep-alive probe: GET /v3, 20 one after the other (median)")
        for side in self.sides.values():
            reused, fresh = keepalive_probe(side.url)
            say(f"  {side.name:<10} one kept-alive connection {reused:6.2f} ms, a new connection "
                f"each {fresh:6.2f} ms")
            if reused > fresh + 30:
                say(f"  !!!!! {side.name}: a reused connection waits ~40 ms per request "
                    "(Nagle's algorithm and delayed ACKs: its accepted sockets lack "
                    "TCP_NODELAY); wrk keeps connections alive, so this bounds each of its "
                    f"connections to ~{1000 / reused:.0f} requests/s")

    def heading(self, text: str) -> None:
        say(f"\n== {text}")

    def validate_one(self) -> None:
        title = "1. validate one token"
        self.heading(f"{title}: GET {TOKEN_PATH}, X-Auth-Token = admin token, X-Subject-Token "
                     f"= one project-scoped token")
        runs: dict[str, Run] = {}
        for name, side in self.sides.items():
            check_validation(side, "validation", side.admin_token, [side.subject_token])
            script = self.scripts.validate_one(f"{name}-one", side.admin_token,
                                               side.subject_token)
            runs[name] = self.wrk(side, script, watch_database=name == "sevres")
        compare(self.report, title, runs, RATE_TARGET, p99_target=True)
        say(f"  does sevres validation reach the database in the steady state (its /metrics "
            f"over the measured run)? {runs['sevres'].database}")
        self.small["one"] = runs["sevres"]

    def validate_cycle(self) -> None:
        count = self.options.tokens
        title = f"2. validate cycling over {count} tokens"
        self.heading(f"{title}, issued first by re-scoping the admin token to the admin "
                     "project (8 clients in parallel)")
        tokens: dict[str, list[str]] = {}
        for name, side in self.sides.items():
            started = time.perf_counter()
            tokens[name] = issue_many(side.url, [(side.admin_token, side.admin_project_id)]
                                      * count)
            took = time.perf_counter() - started
            distinct = len(set(tokens[name]))
            say(f"  setup, {name}: issued {len(tokens[name])} tokens ({distinct} distinct) "
                f"in {took:.1f} s ({len(tokens[name]) / took:.0f}/s){retried(RETRIES.take())}")
            if distinct != count:
                raise BenchError(f"{name} issued {distinct} distinct tokens, not {count}")
        runs: dict[str, Run] = {}
        for name, side in self.sides.items():
            check_validation(side, "validation", side.admin_token,
                             random.Random(1).sample(tokens[name], 5))
            script = self.scripts.validate_cycle(f"{name}-cycle", side.admin_token, tokens[name])
            runs[name] = self.wrk(side, script, watch_database=name == "sevres")
        compare(self.report, title, runs, RATE_TARGET, p99_target=True)
        say(f"  does sevres validation reach the database in the steady state (its /metrics "
            f"over the measured run)? {runs['sevres'].database}")
        self.small["cycle"] = runs["sevres"]

    def rescope(self) -> None:
        title = "3. re-scope with the token method"
        self.heading(f"{title}: POST {TOKEN_PATH}, methods [token], scope the admin project, "
                     "expect 201")
        runs: dict[str, Run] = {}
        for name, side in self.sides.items():
            body = rescope_body(side.subject_token, side.admin_project_id)
            check(side, "re-scope", "POST", 201, {}, body)
            runs[name] = self.wrk(side, self.scripts.post(f"{name}-rescope", body),
                                  watch_database=name == "sevres")
        compare(self.report, title, runs, RATE_TARGET, p99_target=False)
        say(f"  does sevres issue reach the database in the steady state (its /metrics "
            f"over the measured run)? {runs['sevres'].database}")

    def password(self) -> None:
        title = "4. password issue"
        a = self.argon2
        seconds = PASSWORD_RUN_FACTOR * self.options.duration
        self.heading(f"{title}: POST {TOKEN_PATH}, methods [password], the admin on the admin "
                     f"project, expect 201; bcrypt-{BCRYPT_COST} vs argon2id t={a.time_cost} "
                     f"m={a.memory_kib} KiB p={a.parallelism}; {seconds:g} s per run (a few "
                     "logins a second need a longer run)")
        runs: dict[str, Run] = {}
        for name, side in self.sides.items():
            body = side.password_body()
            check(side, "password login", "POST", 201, {}, body)
            runs[name] = self.wrk(side, self.scripts.post(f"{name}-password", body),
                                  seconds=seconds, watch_database=name == "sevres")
        compare(self.report, title, runs, PASSWORD_TARGET, p99_target=False)
        say(f"  does sevres issue reach the database in the steady state (its /metrics "
            f"over the measured run)? {runs['sevres'].database}")
        hash_ms = {"sevres": a.cost.cpu_ms, "Keystone": self.bcrypt.cpu_ms}
        for name, run in runs.items():
            per_login = run.cpu_seconds / run.requests * 1000 if run.requests else 0.0
            say(f"  {name:<10}CPU per login {per_login:6.0f} ms, of which the hash "
                f"{hash_ms[name]:.0f} ms (calibration) and the rest "
                f"{per_login - hash_ms[name]:.0f} ms; the workers used "
                f"{run.cpu_seconds / run.seconds:.2f} of {os.cpu_count()} CPUs")

    def flood(self) -> None:
        title = "5. validation under a password-login flood"
        self.flood_heading(title, "a second wrk drives password logins")
        for name, side in self.sides.items():
            flood = self.scripts.post(f"{name}-password", side.password_body())
            figures = self.under_flood(name, side, flood)
            self.flood_verdict(title, name, figures)
            self.flood_logins(title, name, figures)

    def bad_flood(self) -> None:
        title = "7. validation under a flood of BAD logins"
        self.flood_heading(title, "a second wrk sends failing password logins (401): the "
                           "admin with a wrong password and unknown user names, alternately")
        for name, side in self.sides.items():
            body = side.password_body()
            flood = self.scripts.bad_logins(f"{name}-bad-logins", body)
            wrong = json.loads(json.dumps(body))
            wrong["auth"]["identity"]["password"]["user"]["password"] = "wrong-password"
            check(side, "wrong-password login", "POST", 401, {}, wrong)
            figures = self.under_flood(name, side, flood)
            check(side, "login after the flood", "POST", 201, {}, body)  # not locked out
            self.flood_verdict(title, name, figures)
            logins = figures.logins
            if logins.non_2xx < logins.requests:  # a bad login let in
                text = (f"{title} (the bad logins), {name}: {logins.requests - logins.non_2xx}"
                        f" of {logins.requests} answered 2xx")
                self.report.flagged.append(text)
                say(f"  !!!!! ERRORS: {text}. THESE FIGURES ARE NOT VALID. !!!!!")
            self.flood_logins(title, name, figures, refused=True)

    def flood_heading(self, title: str, flood: str) -> None:
        self.heading(
            f"{title}: scenario 1 with {FLOOD_CONNECTIONS} connections, alone, then while "
            f"{flood}, with {FLOOD_CONNECTIONS} connections. The target is judged at a steady "
            f"load: each validating connection waits {FLOOD_PACE_MS} ms after each answer "
            f"(sevres then runs well below its capacity, so a latency is the time to answer, "
            f"not a wait behind other validations), alone and flooded in turn "
            f"{FLOOD_ROUNDS} times for sevres (once for Keystone, for comparison), medians "
            f"compared. Once first, for information: "
            f"validation flat out (no wait), where any CPU that logins get is taken from "
            f"validation")
        say(f"  {'':<10}{'':<18}{'rate/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}"
            f"{'errors':>8}   main threads' CPU s, by worker")

    def under_flood(self, name: str, side: Side, flood: Path) -> FloodFigures:
        validate = self.scripts.validate_one(f"{name}-one", side.admin_token,
                                             side.subject_token)
        steady = self.scripts.paced(f"{name}-one-paced", validate, FLOOD_PACE_MS)
        title = f"{FLOOD_CONNECTIONS}-connection flood"
        flat_alone, flat_flooded, flat_logins = self.flood_round(side, validate, flood)
        for label, r in (("flat out, alone", flat_alone), ("flat out, flooded", flat_flooded)):
            self.flood_line(name, label, r)
            self.report.flag(f"{title} ({label})", name, r)
        # Keystone's figures are for comparison only (the target is sevres's against
        # itself), so one round spares the run minutes.
        count = FLOOD_ROUNDS if name == "sevres" else 1
        rounds = [self.flood_round(side, steady, flood, steady=True) for _ in range(count)]
        for number, (alone, flooded, _) in enumerate(rounds, 1):
            for label, r in (("alone", alone), ("flooded", flooded)):
                self.flood_line(name, f"steady {number}, {label}", r)
                for line in r.sched:
                    say(f"      {line}")
                self.report.flag(f"{title} (steady, {label})", name, r)
        steady_logins = functools.reduce(Run.plus, (r[2] for r in rounds))
        # Apart: flat-out validation leaves hashing almost no CPU (by design), so the flat
        # round's logins wait; the steady rounds' are what a serving node's logins get.
        for label, logins in (("logins, flat out", flat_logins),
                              ("logins, steady", steady_logins)):
            self.flood_line(name, label, logins, "   (the flood itself; errors = socket "
                            "errors)", errors=logins.socket_errors)
        return FloodFigures(flat_alone, flat_flooded, [r[0] for r in rounds],
                            [r[1] for r in rounds], flat_logins, steady_logins)

    def flood_round(self, side: Side, validate: Path, flood: Path,
                    steady: bool = False) -> tuple[Run, Run, Run]:
        """Validation alone, then validation while ``flood`` runs: (alone, flooded, the
        flood's own figures). ``steady``: a round at the steady load, traced with
        --sched-trace."""
        d, warm = self.options.duration, self.options.warmup
        trace = self.tracer(side) if steady else None
        alone = self.show(side, wrk(side, validate, d, FLOOD_CONNECTIONS, warm, during=trace))
        flooding = start_wrk(side.url, flood, d + warm + 2, FLOOD_CONNECTIONS)
        time.sleep(1)  # the flood is under way before validation starts
        if warm > 0:
            finish_wrk(start_wrk(side.url, validate, warm, FLOOD_CONNECTIONS),
                       FLOOD_CONNECTIONS)
        flooded = self.show(side, measured(side, validate, d, FLOOD_CONNECTIONS, trace))
        logins = self.show(side, finish_wrk(flooding, FLOOD_CONNECTIONS))
        settle(side.workers())
        return alone, flooded, logins

    def tracer(self, side: Side) -> During | None:
        """With --sched-trace, what records the scheduler's events in the middle of a
        measured run and says where the server's event loops and wrk's threads waited for
        a CPU."""
        if not self.options.sched_trace:
            return None

        def trace(process: subprocess.Popen[str]) -> list[str]:
            time.sleep(max(0.0, (self.options.duration - SCHED_TRACE_S) / 2))
            watched = {pid: f"worker {n} loop" for n, pid in enumerate(side.workers(), 1)}
            with suppress(OSError):
                threads = sorted(int(t) for t in os.listdir(f"/proc/{process.pid}/task"))
                watched |= {t: f"wrk thread {n}" for n, t in enumerate(threads[1:], 1)}
            events = sched_trace.capture(SCHED_TRACE_S)
            return sched_trace.summary(events, watched, SCHED_TRACE_S)

        return trace

    @staticmethod
    def flood_line(name: str, label: str, r: Run, note: str = "",
                   errors: int | None = None) -> None:
        say(f"  {name:<10}{label:<18}{r.rate:>10.1f}{r.p50_ms:>10.2f}{r.p99_ms:>10.2f}"
            f"{r.max_ms:>10.2f}{r.errors if errors is None else errors:>8}"
            f"{'   ' + r.split if r.split and not note else ''}{note}")

    def flood_logins(self, title: str, name: str, figures: FloodFigures,
                     refused: bool = False) -> None:
        """The flood's own logins: an answer other than the one expected (2xx, or 401 for
        ``refused`` logins) invalidates the run, but a login still unanswered after wrk's
        10 s timeout is what the flood measures. sevres hashes only on CPU that validation
        leaves idle (docs/design.md), and flat-out validation leaves little: such logins
        wait. Said plainly, not hidden, and apart for the flat-out round and the steady
        ones."""
        logins = figures.logins
        if logins.non_2xx and not refused:
            self.report.flag(f"{title} (logins)", name, logins)
        if logins.socket_errors:
            text = (f"{title}, {name}: {logins.socket_errors} of the flood's "
                    f"{logins.requests + logins.socket_errors} logins were still unanswered "
                    f"after wrk's 10 s timeout (counted as socket errors): "
                    f"{figures.flat_logins.socket_errors} while validation ran flat out, "
                    f"{figures.steady_logins.socket_errors} in the steady rounds; the "
                    f"logins that finished came at {logins.rate:.1f}/s")
            self.report.notes.append(text)
            say(f"  note: {text}")

    def flood_verdict(self, title: str, name: str, f: FloodFigures) -> None:
        def ratio_of(flooded: float, alone: float) -> float:
            return flooded / alone if alone else math.inf

        p50 = ratio_of(f.median("flooded", "p50_ms"), f.median("alone", "p50_ms"))
        p99 = ratio_of(f.median("flooded", "p99_ms"), f.median("alone", "p99_ms"))
        flat = ratio_of(f.flat_flooded.p99_ms, f.flat_alone.p99_ms)
        rate = ratio_of(f.flat_flooded.rate, f.flat_alone.rate)
        note = ""
        if name == "sevres" and self.options.sched_trace:
            say(f"  {name:<10}traced (--sched-trace): no verdict, tracing slows what it "
                "watches")
        elif name == "sevres":
            verdict = self.report.target(
                f"{title}: sevres flooded/alone",
                f"p50 {p50:.2f}x, p99 {p99:.2f}x (target <= {FLOOD_TARGET:g}x)",
                max(p50, p99) <= FLOOD_TARGET)
            note = f"   target <= {FLOOD_TARGET:g}x: {verdict}"
        say(f"  {name:<10}steady load, flooded/alone (medians): p50 {p50:.2f}x, p99 "
            f"{p99:.2f}x{note}")
        say(f"  {name:<10}flat out, flooded/alone: p99 {flat:.2f}x, rate {rate:.2f}x "
            "(information)")
        spread = [(a, b) for a, b in zip(f.alone, f.flooded, strict=True) if b.spread]
        if len(f.flooded) > 1:
            figure = ""
            if spread:
                p99s = ratio_of(statistics.median(b.p99_ms for _, b in spread),
                                statistics.median(a.p99_ms for a, _ in spread))
                figure = f"; in those rounds, median p99 flooded/alone {p99s:.2f}x"
            say(f"  {name:<10}flooded rounds whose validation more than one worker served "
                f"(busiest main thread < {SPREAD_SHARE:.0%} of their CPU): {len(spread)} of "
                f"{len(f.flooded)}{figure} (information: with one worker serving, the other "
                f"CPU is left to hashing; more workers serving leaves hashing only their gaps)")

    def memory(self) -> None:
        v = self.options.volumes
        self.heading(f"6. sevres on a large database ({v.users} users, {v.projects} projects, "
                     f"{v.assignments} role assignments): validation and memory per worker")
        small_rss = memory_line("sevres, small database, before loading:",
                                self.sevres.worker_pids())
        memory_line("Keystone, its small database, for comparison:",
                    Keystone.worker_pids())
        self.sevres.stop()
        loaded = load_database(self.sevres.database_url, v, self.options.tokens)
        sizes = table_sizes(self.sevres.database_url)
        size_mib = (self.sevres.state_dir / "sevres.db").stat().st_size / 2**20
        say(f"  loaded by bulk INSERT in {loaded.seconds:.1f} s with the server stopped; the "
            f"database holds {sizes['user']} users, {sizes['project']} projects and domains, "
            f"{sizes['assignment']} assignments ({size_mib:.0f} MiB)")
        self.sevres.start()
        side = self.sevres_side
        side.url = self.sevres.url  # a new port
        side.login()
        started = time.perf_counter()
        by_user = user_tokens(side, loaded)
        many = issue_many(side.url, [(by_user[user], project) for user, project in loaded.pairs])
        say(f"  setup: {len(by_user)} loaded users given a password (PATCH) and logged in; "
            f"{len(many)} of their tokens, each on a different (user, project), issued in "
            f"{time.perf_counter() - started:.1f} s{retried(RETRIES.take())}")
        check_validation(side, "validation (large database)", side.admin_token,
                         [many[0], *random.Random(2).sample(many, 5)])
        runs: dict[str, Run] = {}
        for key, script in (
                ("one", self.scripts.validate_one("big-one", side.admin_token, many[0])),
                ("cycle", self.scripts.validate_cycle("big-cycle", side.admin_token, many))):
            runs[key] = self.wrk(side, script, watch_database=True)
        say(f"  {'':<34}{'rate/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}{'errors':>8}"
            f"{'rate vs small db':>18}")
        for key, label in (("one", "validate one token"),
                           ("cycle", f"validate cycling over {len(many)}")):
            run = runs[key]
            small = self.small[key].rate if key in self.small else 0.0
            say(f"  {label:<34}{run.rate:>10.1f}{run.p50_ms:>10.2f}{run.p99_ms:>10.2f}"
                f"{run.max_ms:>10.2f}{run.errors:>8}{ratio(run.rate, small):>18}")
            self.report.flag(f"6. {label} (large database)", "sevres", run)
        say(f"  reaches the database in the steady state? one token: {runs['one'].database}")
        say(f"                                             cycling: {runs['cycle'].database}")
        rss = memory_line("sevres, large database, after validating:", self.sevres.worker_pids())
        biggest = max(rss, default=0.0)
        verdict = self.report.target("6. sevres RSS per worker, large database",
                                     f"{biggest:.1f} MiB max (target < {RSS_TARGET_MB:g} MB)",
                                     0 < biggest < RSS_TARGET_MB)
        say(f"  largest worker: {biggest:.1f} MiB (small database: "
            f"{max(small_rss, default=0.0):.1f} MiB); target < {RSS_TARGET_MB:g} MB: {verdict}")

    def run(self) -> None:
        self.start()
        scenarios = {1: self.validate_one, 2: self.validate_cycle, 3: self.rescope,
                     4: self.password, 5: self.flood, 6: self.memory, 7: self.bad_flood}
        for number, scenario in scenarios.items():
            if number in self.options.only:
                scenario()


def parse_options(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: 3 s per figure, 300 tokens, a tenth of the data")
    parser.add_argument("--workers", type=int, default=2,
                        help="worker processes of each server (default 2)")
    parser.add_argument("--duration", type=float, default=None,
                        help="seconds per wrk run (default 10, 3 with --quick)")
    parser.add_argument("--tokens", type=int, default=None,
                        help="distinct tokens for scenario 2 (default 3000, 300 with --quick)")
    parser.add_argument("--users", type=int, default=None, help="scenario 6 (default 100000)")
    parser.add_argument("--projects", type=int, default=None, help="scenario 6 (default 10000)")
    parser.add_argument("--assignments", type=int, default=None,
                        help="scenario 6 (default 100000)")
    parser.add_argument("--only", default="1,2,3,4,5,6",
                        help="comma-separated scenario numbers to run (default 1 to 6; 7, "
                        "the flood of bad logins, only when named)")
    parser.add_argument("--wrk-output", action="store_true",
                        help="also print wrk's own report (latency distribution) of every run")
    parser.add_argument("--sched-trace", action="store_true",
                        help="in the floods' steady rounds, record the kernel's scheduler "
                        f"events for {SCHED_TRACE_S:g} s (root, tracefs) and print where the "
                        "workers' event loops and wrk's threads waited for a CPU (tracing "
                        "slows them: such a run explains its figures, it does not judge them)")
    args = parser.parse_args(argv)
    try:
        only = frozenset(int(x) for x in args.only.split(",") if x.strip())
    except ValueError:
        parser.error("--only takes scenario numbers, such as 1,2,6")
    if not only or not only <= set(range(1, 8)):
        parser.error("--only takes scenario numbers from 1 to 7")
    scale = 10 if args.quick else 1
    volumes = Volumes(args.users or 100_000 // scale, args.projects or 10_000 // scale,
                      args.assignments or 100_000 // scale)
    options = Options(args.workers, args.duration or (3.0 if args.quick else 10.0),
                      1.0 if args.quick else 2.0, args.tokens or 3000 // scale, volumes,
                      only, args.wrk_output, args.sched_trace)
    if options.sched_trace and (why := sched_trace.unavailable()):
        parser.error(f"--sched-trace: {why}")
    if options.tokens < LOGIN_USERS or volumes.users < LOGIN_USERS:
        parser.error(f"--tokens and --users must be at least {LOGIN_USERS}")
    if volumes.assignments < options.tokens:
        parser.error("--assignments must be at least --tokens")
    return options


def machine() -> str:
    model = "unknown CPU"
    with suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.partition(":")[2].strip()
                break
    version = subprocess.run([WRK, "--version"], capture_output=True, text=True,
                             check=False).stdout.split(" [")[0]
    return (f"machine: nproc {os.cpu_count()} ({model}), load average (1/5/15 min) at the "
            f"start {loadavg()}; {version}; Python {sys.version.split()[0]}")


def main(argv: list[str] | None = None) -> int:
    options = parse_options(argv)
    if not Path(WRK).exists():
        say(f"wrk not found ({WRK}); apt-get install wrk")
        return 2
    say(machine())
    say(f"every figure from wrk -t{WRK_THREADS} -c{WRK_CONNECTIONS} --latency unless said, "
        f"{options.duration:g} s per run after a {options.warmup:g} s warm-up (not counted; "
        "where sevres's database use is watched, longer, a second at a time, until a second "
        f"passes with no token-cache miss, at most {WARM_LIMIT_S} s), each server settled "
        "(idle) between runs; ratio = sevres/Keystone")
    report = Report()
    started = time.perf_counter()
    def run(work: Path, stack: ExitStack) -> int:
        Bench(options, report, stack, work).run()
        return 0

    failed = in_scratch_folder("sevres-bench-tokens-", run)
    if failed:
        return failed
    say(f"\n== summary ({time.perf_counter() - started:.0f} s; load average at the end "
        f"{loadavg()}; a busy machine moves absolute figures, less the ratios)")
    report.summary()
    return 0


if __name__ == "__main__":
    sys.exit(main())
