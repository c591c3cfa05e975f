#!/usr/bin/env python3
"""The multi-region high-availability reference architecture of sevres, on loopback.

    python3 ha/refarch.py up     [--workdir DIR] [--backend galera|postgres] [--workers N]
    python3 ha/refarch.py status [--workdir DIR] [--json]
    python3 ha/refarch.py down   [--workdir DIR]

and, to break it by hand (the fault tests use the same commands):

    python3 ha/refarch.py kill NAME        kill -9 one process (galera2, a1, haproxy-b, ...)
    python3 ha/refarch.py start NAME       start it again with its recorded command
    python3 ha/refarch.py cut REGION [--mode refuse|blackhole|drop]   cut a region off the DB
    python3 ha/refarch.py heal REGION      restore its path to the database

What ``up`` starts (Galera backend, the default)::

    3 MariaDB Galera nodes      galera1..3   SQL 3311-3313, gcomm 4571-4573, IST 4581-4583,
                                             SST (rsync) 4591-4593; run as the mysql user
    1 database path per region  dbproxy-a    127.0.0.1:3321 -> galera1, else galera2
                                dbproxy-b    127.0.0.1:3322 -> galera3, else galera2
                                (a small TCP forwarder, this file's ``proxy`` command, with
                                a control port 3331/3332 that cuts and heals the region)
    2 sevres nodes per region   a1 a2        5011 5012   (RegionA)
                                b1 b2        5021 5022   (RegionB)
    1 HAProxy per region        haproxy-a    5010  -> a1, a2   (option httpchk GET /v3)
                                haproxy-b    5020  -> b1, b2

With ``--backend postgres``: a PostgreSQL primary (5441) and a streaming replica (5442,
made with pg_basebackup); both regions' database paths lead to the primary (writes), and
region B's nodes also read from the replica (``SEVRES_DATABASE_READ_URL``) through a path
of its own, ``dbproxy-b-read`` 127.0.0.1:3323 (control 3333), which ``cut RegionB`` cuts
with the other.

Every process is recorded (PID, command, log) in ``DIR/state.json``; ``down`` ends exactly
those PIDs and removes DIR. Only the Python standard library is used; Debian packages that
are missing are installed with apt-get.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DEFAULT_WORKDIR = Path(os.environ.get("SEVRES_HA_WORKDIR", "/tmp/sevres-ha"))
SEVRES = REPO / ".venv" / "bin" / "sevres"
GALERA_PROVIDER = Path("/usr/lib/galera/libgalera_smm.so")
PG_BIN = Path("/usr/lib/postgresql/15/bin")
HOST = "127.0.0.1"

REGIONS = {
    "RegionA": {"short": "a", "haproxy": 5010, "nodes": {"a1": 5011, "a2": 5012},
                "dbproxy": 3321, "control": 3331, "galera": ["galera1", "galera2"]},
    "RegionB": {"short": "b", "haproxy": 5020, "nodes": {"b1": 5021, "b2": 5022},
                "dbproxy": 3322, "control": 3332, "galera": ["galera3", "galera2"]},
}
GALERA = {
    f"galera{i}": {"sql": 3310 + i, "gcomm": 4570 + i, "ist": 4580 + i, "sst": 4590 + i}
    for i in (1, 2, 3)
}
PG = {"pg-primary": 5441, "pg-replica": 5442}
# PostgreSQL: region B's nodes read from the streaming replica through a path of their own.
READ_PATHS = {"RegionB": {"name": "dbproxy-b-read", "dbproxy": 3323, "control": 3333,
                          "backend": "pg-replica"}}
STALENESS_MS = 500
DB_NAME = "sevres"
DB_USER = "sevres"


def say(text: str) -> None:
    print(f"[refarch {time.strftime('%H:%M:%S')}] {text}", flush=True)


class Failure(Exception):
    """A step that could not be done; the message says which and why."""


# -- the state file ---------------------------------------------------------------------------

class State:
    """DIR/state.json, read and written under an exclusive lock (DIR/.lock)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.path = workdir / "state.json"

    def exists(self) -> bool:
        return self.path.exists()

    @contextlib.contextmanager
    def locked(self) -> Any:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with open(self.workdir / ".lock", "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            data = self.read()
            yield data
            self.write(data)

    def read(self) -> dict[str, Any]:
        if not self.path.exists():
            return {}
        return dict(json.loads(self.path.read_text()))

    def write(self, data: dict[str, Any]) -> None:
        temporary = self.path.with_suffix(".tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            json.dump(data, handle, indent=2, sort_keys=True)
        os.replace(temporary, self.path)


# -- processes --------------------------------------------------------------------------------

def alive(pid: int | None) -> bool:
    """True when ``pid`` runs (a zombie, killed but not yet reaped, does not count)."""
    if not pid:
        return False
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return fields[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def ours(pid: int, record: dict[str, Any]) -> bool:
    """The PID still belongs to the process we recorded (not a recycled PID)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return False
    return Path(record["cmd"][0]).name in cmdline


def spawn(state: State, name: str, first: bool = False) -> int:
    """Start the recorded process ``name`` in a session of its own; record its PID."""
    with state.locked() as data:
        record = data["processes"][name]
        if alive(record.get("pid")) and ours(record["pid"], record):
            raise Failure(f"{name} already runs (pid {record['pid']})")
        cmd = record["first_cmd"] if first and record.get("first_cmd") else record["cmd"]
        if record["kind"] == "galera" and not first:
            cmd = [*cmd, *galera_recovered(Path(record["cwd"]))]
        env = {k: v for k, v in os.environ.items() if not k.startswith("SEVRES_")}
        env.update(record.get("env", {}))
        log = open(record["log"], "ab")  # noqa: SIM115 (handed to the child)
        try:
            process = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=env, cwd=record.get("cwd", str(state.workdir)), start_new_session=True,
                user=record.get("user"))
        finally:
            log.close()
        record["pid"] = process.pid
        record["started"] = time.time()
    return process.pid


def kill(state: State, name: str, sig: int = signal.SIGKILL, wait_s: float = 10.0) -> int | None:
    """Send ``sig`` to the recorded process ``name`` and wait until it is gone."""
    data = state.read()
    record = data["processes"][name]
    pid = record.get("pid")
    if not pid or not alive(pid) or not ours(pid, record):
        return None
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
    deadline = time.monotonic() + wait_s
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        while alive(pid):
            time.sleep(0.05)
    return int(pid)


def wait_for(what: str, check: Any, timeout_s: float, interval_s: float = 0.2) -> float:
    started = time.monotonic()
    last: Any = None
    while time.monotonic() - started < timeout_s:
        try:
            last = check()
        except Exception as error:
            last = error
        if last is True:
            return time.monotonic() - started
        time.sleep(interval_s)
    raise Failure(f"{what}: not ready within {timeout_s:.0f} s (last: {last!r})")


def http_status(url: str, timeout_s: float = 2.0) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def tail(path: str | Path, lines: int = 25) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# -- packages ---------------------------------------------------------------------------------

def ensure_packages(backend: str) -> None:
    """apt-get install what is missing (run once; needs root, as this machine's user is)."""
    wanted = {"haproxy": Path("/usr/sbin/haproxy")}
    if backend == "galera":
        wanted.update({"mariadb-server": Path("/usr/sbin/mariadbd"),
                       "galera-4": GALERA_PROVIDER, "rsync": Path("/usr/bin/rsync")})
    else:
        wanted.update({"postgresql": PG_BIN / "postgres"})
    missing = [package for package, path in wanted.items() if not path.exists()]
    if not missing:
        return
    if os.geteuid() != 0:
        raise Failure(f"missing Debian packages {' '.join(missing)}; install them as root: "
                      f"apt-get install -y {' '.join(missing)}")
    say(f"installing Debian packages: {' '.join(missing)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env,
                   stdout=subprocess.DEVNULL)
    subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing],
                   check=True, env=env, stdout=subprocess.DEVNULL)


# -- Galera -----------------------------------------------------------------------------------

def galera_config(workdir: Path, name: str) -> Path:
    node = GALERA[name]
    home = workdir / name
    cluster = ",".join(f"{HOST}:{n['gcomm']}" for n in GALERA.values())
    # Timeouts shorter than Galera's defaults (suspect 5 s, inactive 15 s) so that a killed
    # node is evicted, and the others' commits resume, in a few seconds; long enough not to
    # evict a node of a busy 2-core machine.
    provider_options = ";".join([
        f"gmcast.listen_addr=tcp://{HOST}:{node['gcomm']}",
        f"ist.recv_addr={HOST}:{node['ist']}",
        "gcache.size=64M",
        "evs.keepalive_period=PT0.5S", "evs.inactive_check_period=PT0.5S",
        "evs.suspect_timeout=PT3S", "evs.inactive_timeout=PT6S",
        "evs.install_timeout=PT6S",
        "cert.log_conflicts=YES",
    ])
    text = f"""[mysqld]
user=mysql
datadir={home}/data
socket={home}/mysqld.sock
pid-file={home}/mysqld.pid
log-error={home}/error.log
port={node['sql']}
bind-address={HOST}
skip-name-resolve
max_connections=300
innodb_buffer_pool_size=64M
innodb_log_file_size=48M
innodb_flush_log_at_trx_commit=2
binlog_format=ROW
default_storage_engine=InnoDB
innodb_autoinc_lock_mode=2
character-set-server=utf8mb4
collation-server=utf8mb4_general_ci
wsrep_on=ON
wsrep_provider={GALERA_PROVIDER}
wsrep_cluster_name=sevres-ha
wsrep_cluster_address=gcomm://{cluster}
wsrep_node_name={name}
wsrep_node_address={HOST}:{node['gcomm']}
wsrep_provider_options="{provider_options}"
wsrep_sst_method=rsync
# Log each certification conflict and brute-force abort with the keys involved.
wsrep_log_conflicts=ON
wsrep_sst_receive_address={HOST}:{node['sst']}
"""
    path = home / "my.cnf"
    path.write_text(text)
    os.chmod(path, 0o644)
    return path


def galera_recovered(home: Path) -> list[str]:
    """After kill -9, grastate.dat says seqno -1 and the node would need a full state
    transfer; recover the last committed position from InnoDB first (what Debian's
    galera_recovery does before systemd starts the server), so that it rejoins by an
    incremental one (IST) from the others' gcache."""
    grastate = home / "data" / "grastate.dat"
    if not grastate.exists() or not (home / "data" / "ibdata1").exists():
        return []
    fields = dict(line.split(":", 1) for line in grastate.read_text().splitlines()
                  if ":" in line and not line.startswith("#"))
    if fields.get("seqno", "").strip() != "-1":
        return []
    log = home / "recover.log"
    log.unlink(missing_ok=True)
    subprocess.run(["/usr/sbin/mariadbd", f"--defaults-file={home / 'my.cnf'}",
                    "--wsrep-recover", f"--log-error={log}"],
                   capture_output=True, timeout=120, check=False)
    for line in tail(log, 50).splitlines():
        if "Recovered position:" in line:
            position = line.rsplit("Recovered position:", 1)[1].strip()
            if not position.endswith(":-1"):
                return [f"--wsrep_start_position={position}"]
    return []


def mariadb(workdir: Path, name: str, sql: str, timeout_s: float = 10) -> str:
    """Run SQL as root over the node's socket; the output, tab-separated, no headers."""
    result = subprocess.run(
        ["mariadb", "--no-defaults", f"--socket={workdir / name / 'mysqld.sock'}", "-uroot",
         "-N", "-B", "-e", sql], capture_output=True, text=True, timeout=timeout_s, check=False)
    if result.returncode != 0:
        raise Failure(f"{name}: {sql!r}: {result.stderr.strip()}")
    return result.stdout


def wsrep_status(workdir: Path, name: str) -> dict[str, str]:
    out = mariadb(workdir, name, "SHOW GLOBAL STATUS LIKE 'wsrep_%'", timeout_s=3)
    return dict(line.split("\t", 1) for line in out.splitlines() if "\t" in line)


def galera_synced(workdir: Path, name: str, size: int | None = None) -> bool:
    status = wsrep_status(workdir, name)
    ok = (status.get("wsrep_ready") == "ON"
          and status.get("wsrep_local_state_comment") == "Synced")
    if size is not None:
        ok = ok and status.get("wsrep_cluster_size") == str(size)
    return ok


def prepare_galera(workdir: Path, data: dict[str, Any]) -> None:
    """Datadirs owned by mysql under a world-searchable parent (the rsync state transfer
    runs as mysql); only galera1 is initialised, the others get a state transfer."""
    for name, node in GALERA.items():
        home = workdir / name
        (home / "data").mkdir(parents=True)
        config = galera_config(workdir, name)
        shutil.chown(home, "mysql", "mysql")
        shutil.chown(home / "data", "mysql", "mysql")
        os.chmod(home, 0o755)
        cmd = ["/usr/sbin/mariadbd", f"--defaults-file={config}"]
        data["processes"][name] = {
            "kind": "galera", "port": node["sql"], "cmd": cmd,
            "first_cmd": [*cmd, "--wsrep-new-cluster"] if name == "galera1" else None,
            "log": str(home / "console.log"), "cwd": str(home)}
    result = subprocess.run(
        ["mariadb-install-db", "--no-defaults", "--user=mysql",
         f"--datadir={workdir / 'galera1' / 'data'}", "--auth-root-authentication-method=socket",
         "--skip-test-db"], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise Failure(f"mariadb-install-db failed:\n{result.stdout}\n{result.stderr}")


def start_galera(state: State, workdir: Path, password: str) -> None:
    names = list(GALERA)
    started = time.monotonic()
    for count, name in enumerate(names, start=1):
        spawn(state, name, first=(name == "galera1"))
        log = workdir / name / "error.log"

        def ready(name: str = name, count: int = count, log: Path = log) -> bool:
            pid = state.read()["processes"][name]["pid"]
            if not alive(pid):
                raise Failure(f"{name} exited:\n{tail(log)}")
            return galera_synced(workdir, name, count)

        try:
            wait_for(f"{name} synced in a cluster of {count}", ready, 120)
        except Failure as error:
            raise Failure(f"{error}\n--- {log} ---\n{tail(log)}") from None
    say(f"Galera: 3 nodes synced, wsrep_cluster_size=3 after "
        f"{time.monotonic() - started:.1f} s")
    mariadb(workdir, "galera1", (
        f"CREATE DATABASE IF NOT EXISTS {DB_NAME} CHARACTER SET utf8mb4; "
        f"CREATE USER IF NOT EXISTS '{DB_USER}'@'127.0.0.1' IDENTIFIED BY '{password}'; "
        f"GRANT ALL PRIVILEGES ON {DB_NAME}.* TO '{DB_USER}'@'127.0.0.1'; "
        # sevres doctor reads the wsrep status; the state transfer needs nothing more.
        f"GRANT PROCESS, REPLICATION CLIENT ON *.* TO '{DB_USER}'@'127.0.0.1';"))


# -- PostgreSQL -------------------------------------------------------------------------------

def prepare_postgres(workdir: Path, data: dict[str, Any], password: str) -> None:
    primary, replica = workdir / "pg-primary", workdir / "pg-replica"
    for home in (primary, replica):
        home.mkdir(parents=True)
        shutil.chown(home, "postgres", "postgres")
        os.chmod(home, 0o755)
    pwfile = primary / "pwfile"
    pwfile.write_text(password + "\n")
    shutil.chown(pwfile, "postgres", "postgres")
    os.chmod(pwfile, 0o600)
    result = subprocess.run(
        [str(PG_BIN / "initdb"), "-D", str(primary / "data"), "-U", "postgres",
         "--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={pwfile}",
         "-E", "UTF8", "--locale=C.UTF-8"],
        capture_output=True, text=True, user="postgres", cwd=str(primary), check=False)
    if result.returncode != 0:
        raise Failure(f"initdb failed:\n{result.stdout}\n{result.stderr}")
    with open(primary / "data" / "postgresql.conf", "a") as conf:
        conf.write(f"""
listen_addresses = '{HOST}'
port = {PG['pg-primary']}
unix_socket_directories = '{primary}'
shared_buffers = 64MB
wal_level = replica
max_wal_senders = 5
wal_keep_size = 128MB
hot_standby = on
synchronous_commit = on
fsync = on
""")
    with open(primary / "data" / "pg_hba.conf", "a") as hba:
        hba.write(f"host replication postgres {HOST}/32 scram-sha-256\n")
    for name, home in (("pg-primary", primary), ("pg-replica", replica)):
        data["processes"][name] = {
            "kind": "postgres", "port": PG[name], "user": "postgres",
            "cmd": [str(PG_BIN / "postgres"), "-D", str(home / "data")],
            "log": str(home / "console.log"), "cwd": str(home)}


def psql(workdir: Path, name: str, sql: str, database: str = "postgres") -> str:
    result = subprocess.run(
        [str(PG_BIN / "psql"), "-h", str(workdir / name), "-p", str(PG[name]), "-U", "postgres",
         "-d", database, "-At", "-c", sql], capture_output=True, text=True, timeout=10,
        user="postgres", check=False)
    if result.returncode != 0:
        raise Failure(f"{name}: {sql!r}: {result.stderr.strip()}")
    return result.stdout.strip()


def start_postgres(state: State, workdir: Path, password: str) -> None:
    spawn(state, "pg-primary")
    wait_for("pg-primary", lambda: psql(workdir, "pg-primary", "SELECT 1") == "1", 60)
    psql(workdir, "pg-primary", f"CREATE ROLE {DB_USER} LOGIN PASSWORD '{password}'")
    psql(workdir, "pg-primary", f"CREATE DATABASE {DB_NAME} OWNER {DB_USER}")
    replica = workdir / "pg-replica"
    result = subprocess.run(
        [str(PG_BIN / "pg_basebackup"), "-h", HOST, "-p", str(PG["pg-primary"]), "-U",
         "postgres", "-D", str(replica / "data"), "-R", "-X", "stream", "-c", "fast"],
        capture_output=True, text=True, user="postgres", cwd=str(replica),
        env={**os.environ, "PGPASSWORD": password}, check=False)
    if result.returncode != 0:
        raise Failure(f"pg_basebackup failed:\n{result.stderr}")
    with open(replica / "data" / "postgresql.conf", "a") as conf:
        conf.write(f"\nport = {PG['pg-replica']}\nunix_socket_directories = '{replica}'\n")
    spawn(state, "pg-replica")
    wait_for("pg-replica streaming", lambda: psql(
        workdir, "pg-primary", "SELECT count(*) FROM pg_stat_replication "
        "WHERE state = 'streaming'") == "1", 60)
    say("PostgreSQL: primary and a streaming replica up")


# -- the database path of each region ---------------------------------------------------------

class Forwarder:
    """A TCP forwarder to the first healthy backend, with three modes set through its
    control port: ``open`` (forward), ``refuse`` (close every connection, refuse new ones:
    a REJECTing firewall, or the database host down) and ``blackhole`` (hold every byte,
    and every new connection, until healed: a DROPping firewall, a cut cable).

    With ``check_sockets`` (Galera), a backend is healthy only while its node says
    ``wsrep_local_state`` 4 (Synced), asked every 0.5 s over its socket, as HAProxy's
    clustercheck does in OpenStack deployments: a node that is joining, donating or in a
    non-primary component accepts connections but refuses queries."""

    def __init__(self, listen: int, backends: list[int], control: int,
                 connect_timeout_s: float, check_sockets: list[str] | None = None) -> None:
        self.listen, self.backends, self.control = listen, backends, control
        self.connect_timeout_s = connect_timeout_s
        self.check_sockets = dict(zip(backends, check_sockets or [], strict=False))
        self.healthy = {port: True for port in backends}
        self.mode = "open"
        self.flowing = asyncio.Event()
        self.flowing.set()
        self.server: asyncio.base_events.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()
        self.counts = {"accepted": 0, "forwarded": 0, "failed": 0}
        self.last_backend: int | None = None

    async def main(self) -> None:
        if self.check_sockets:
            for port in self.backends:
                self.healthy[port] = await self.synced(self.check_sockets[port])
            asyncio.get_running_loop().create_task(self.check_forever())
        await self.open_listener()
        control = await asyncio.start_server(self.on_control, HOST, self.control)
        async with control:
            await control.serve_forever()

    async def open_listener(self) -> None:
        if self.server is None:
            self.server = await asyncio.start_server(self.on_client, HOST, self.listen,
                                                     reuse_address=True)

    async def on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.counts["accepted"] += 1
        self.writers.add(writer)
        try:
            await self.flowing.wait()  # a blackholed connection waits here
            upstream = await self.connect()
            if upstream is None:
                self.counts["failed"] += 1
                return
            up_reader, up_writer = upstream
            self.writers.add(up_writer)
            self.counts["forwarded"] += 1
            try:
                await asyncio.gather(self.pump(reader, up_writer), self.pump(up_reader, writer))
            finally:
                self.writers.discard(up_writer)
                up_writer.close()
        except (ConnectionError, OSError):
            pass
        finally:
            self.writers.discard(writer)
            writer.close()

    @staticmethod
    async def synced(sock: str) -> bool:
        try:
            process = await asyncio.create_subprocess_exec(
                "mariadb", "--no-defaults", f"--socket={sock}", "-uroot", "-N", "-B",
                "--connect-timeout=1", "-e",
                "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS "
                "WHERE VARIABLE_NAME = 'WSREP_LOCAL_STATE'",
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
            out, _ = await asyncio.wait_for(process.communicate(), 2)
        except (TimeoutError, OSError):
            with contextlib.suppress(Exception):
                process.kill()
            return False
        return out.strip() == b"4"

    async def check_forever(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            for port in self.backends:
                healthy = await self.synced(self.check_sockets[port])
                if healthy != self.healthy[port]:
                    print(f"{time.strftime('%H:%M:%S')} backend {port} "
                          f"{'healthy' if healthy else 'NOT healthy'}", flush=True)
                self.healthy[port] = healthy

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        for port in [p for p in self.backends if self.healthy[p]]:
            try:
                pair = await asyncio.wait_for(asyncio.open_connection(HOST, port),
                                              self.connect_timeout_s)
            except (TimeoutError, OSError):
                continue
            self.last_backend = port
            return pair
        return None

    async def pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                chunk = await reader.read(65536)
                if not chunk:
                    break
                await self.flowing.wait()  # held, not lost, while blackholed
                writer.write(chunk)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            # One side is done: end both, as a TCP connection through a NAT would.
            with contextlib.suppress(Exception):
                writer.close()

    async def set_mode(self, mode: str) -> None:
        if mode == "open":
            await self.open_listener()
            self.flowing.set()
        elif mode == "blackhole":
            await self.open_listener()
            self.flowing.clear()
        elif mode == "refuse":
            self.flowing.set()
            if self.server is not None:
                self.server.close()
                self.server = None
            for writer in list(self.writers):
                with contextlib.suppress(Exception):
                    writer.transport.abort()  # RST, as a rejecting firewall
            self.writers.clear()
        else:
            raise ValueError(mode)
        self.mode = mode

    async def on_control(self, reader: asyncio.StreamReader,
                         writer: asyncio.StreamWriter) -> None:
        try:
            line = (await reader.readline()).decode().strip()
            if line in ("open", "refuse", "blackhole"):
                await self.set_mode(line)
            elif line != "status":
                writer.write(json.dumps({"error": f"unknown command {line!r}"}).encode() + b"\n")
                return
            writer.write(json.dumps({
                "mode": self.mode, "listen": self.listen, "backends": self.backends,
                "healthy": [p for p in self.backends if self.healthy[p]],
                "last_backend": self.last_backend, "connections": len(self.writers),
                **self.counts}).encode() + b"\n")
            await writer.drain()
        finally:
            writer.close()


def control(port: int, command: str, timeout_s: float = 5.0) -> dict[str, Any]:
    with socket.create_connection((HOST, port), timeout=timeout_s) as s:
        s.sendall(command.encode() + b"\n")
        answer = b""
        while not answer.endswith(b"\n"):
            chunk = s.recv(4096)
            if not chunk:
                break
            answer += chunk
    return dict(json.loads(answer))


def run_proxy(args: argparse.Namespace) -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    forwarder = Forwarder(args.listen, [int(p) for p in args.backends.split(",")],
                          args.control, args.connect_timeout,
                          args.check_sockets.split(",") if args.check_sockets else None)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(forwarder.main())
    return 0


# -- sevres and HAProxy -----------------------------------------------------------------------

def sevres_env(data: dict[str, Any], state_dir: Path, database_url: str,
               public_url: str, read_url: str | None = None,
               node: str | None = None) -> dict[str, str]:
    if node is not None and database_url.startswith("postgresql"):
        # The fault tests tell the nodes' connections apart by application_name.
        database_url += f"?application_name=sevres-{node}"
        read_url = read_url and f"{read_url}?application_name=sevres-{node}-read"
    return {
        **({"SEVRES_DATABASE_READ_URL": read_url} if read_url else {}),
        "SEVRES_STATE_DIR": str(state_dir),
        "SEVRES_DATABASE_URL": database_url,
        "SEVRES_MASTER_KEY": data["master_key"],
        "SEVRES_ADMIN_PASSWORD": data["admin_password"],
        "SEVRES_PUBLIC_URL": public_url,
        "SEVRES_CACHE_STALENESS_MS": str(data["staleness_ms"]),
        "SEVRES_LOG_FORMAT": "json",
        # OWASP's minimum for argon2id (19 MiB, 2 passes, 1 lane): a 2-core machine shared
        # by six servers keeps logins near 40 ms instead of several hundred.
        "SEVRES_ARGON2_TIME_COST": "2",
        "SEVRES_ARGON2_MEMORY_KIB": "19456",
        "SEVRES_ARGON2_PARALLELISM": "1",
    }


def sevres_cli(env: dict[str, str], *args: str) -> str:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SEVRES_")}
    result = subprocess.run([str(SEVRES), *args], capture_output=True, text=True,
                            env={**clean, **env}, timeout=180, check=False)
    if result.returncode != 0:
        raise Failure(f"sevres {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def haproxy_config(workdir: Path, region: str) -> Path:
    spec = REGIONS[region]
    short = spec["short"]
    servers = "\n".join(f"    server {node} {HOST}:{port} check"
                        for node, port in spec["nodes"].items())
    text = f"""global
    log stdout format raw local0 info
    maxconn 4000
    stats socket {workdir}/haproxy-{short}.sock mode 600 level admin
    pidfile {workdir}/haproxy-{short}.pid

defaults
    mode http
    log global
    option httplog
    option dontlog-normal
    timeout connect 1s
    timeout client 60s
    timeout server 60s
    timeout http-request 10s
    # A connection refused by a dead node is retried on the other one; a request that
    # reached a node that died answering is not (it may have been a write): 502.
    retries 2
    option redispatch 1

frontend {region}
    bind {HOST}:{spec['haproxy']}
    default_backend sevres-{short}

backend sevres-{short}
    balance roundrobin
    option httpchk GET /v3
    http-check expect status 200
    default-server inter 500ms fastinter 250ms downinter 1s fall 2 rise 2
{servers}
"""
    path = workdir / f"haproxy-{short}.cfg"
    path.write_text(text)
    return path


def haproxy_servers(workdir: Path, short: str) -> dict[str, str]:
    """Each server's state as HAProxy sees it (UP, DOWN, ...), from its stats socket."""
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(2)
        s.connect(str(workdir / f"haproxy-{short}.sock"))
        s.sendall(b"show stat\n")
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    rows = out.decode().splitlines()
    header = rows[0].lstrip("# ").split(",")
    states = {}
    for row in rows[1:]:
        fields = dict(zip(header, row.split(","), strict=False))
        if fields.get("svname") not in ("FRONTEND", "BACKEND", None):
            states[fields["svname"]] = fields.get("status", "?")
    return states


def clouds_yaml(workdir: Path, data: dict[str, Any]) -> Path:
    entries = []
    for region, spec in REGIONS.items():
        entries.append(f"""  region-{spec['short']}:
    auth:
      auth_url: http://{HOST}:{spec['haproxy']}/v3
      username: admin
      password: "{data['admin_password']}"
      project_name: admin
      user_domain_name: Default
      project_domain_name: Default
    identity_api_version: 3
    region_name: {region}
    interface: public
""")
    path = workdir / "clouds.yaml"
    path.write_text("clouds:\n" + "".join(entries))
    os.chmod(path, 0o600)
    return path


# -- up, down, status -------------------------------------------------------------------------

def all_ports(backend: str) -> list[int]:
    ports = [p for spec in REGIONS.values()
             for p in (spec["haproxy"], spec["dbproxy"], spec["control"], *spec["nodes"].values())]
    if backend == "galera":
        ports += [p for node in GALERA.values() for p in node.values()]
    else:
        ports += list(PG.values())
        ports += [p for path in READ_PATHS.values() for p in (path["dbproxy"], path["control"])]
    return ports


def up(args: argparse.Namespace) -> int:
    workdir: Path = args.workdir
    state = State(workdir)
    if state.exists():
        data = state.read()
        dead = [n for n, r in data.get("processes", {}).items() if not alive(r.get("pid"))]
        if data.get("complete") and not dead:
            say(f"already up in {workdir} (backend {data['backend']}); reusing it")
            return 0
        raise Failure(f"{workdir} holds a partial or broken architecture (not running: "
                      f"{', '.join(dead) or 'none'}); run 'down' first")
    if not SEVRES.exists():
        raise Failure(f"{SEVRES} is missing: run 'make' (or pip install -e .) in {REPO}")
    ensure_packages(args.backend)
    busy = [p for p in all_ports(args.backend) if not port_free(p)]
    if busy:
        raise Failure(f"ports in use on {HOST}: {', '.join(map(str, busy))}")
    started = time.monotonic()
    workdir.mkdir(parents=True)
    os.chmod(workdir, 0o755)  # world-searchable: the database users reach their datadirs
    (workdir / "logs").mkdir()
    data: dict[str, Any] = {
        "backend": args.backend, "workdir": str(workdir), "complete": False,
        "created": time.strftime("%Y-%m-%d %H:%M:%S"), "staleness_ms": args.staleness_ms,
        "db_password": secrets.token_urlsafe(18), "admin_password": secrets.token_urlsafe(18),
        "master_key": "", "regions": {}, "processes": {}}
    data["master_key"] = sevres_cli({}, "keys", "master-key").strip().splitlines()[-1]
    state.write(data)
    try:
        build(state, args)
    except BaseException:
        say("up failed; stopping what was started")
        stop_all(state)
        raise
    data = state.read()
    say(f"up in {time.monotonic() - started:.1f} s; workdir {workdir}")
    print(f"""
  RegionA  http://{HOST}:{REGIONS['RegionA']['haproxy']}/v3   (a1 :5011, a2 :5012)
  RegionB  http://{HOST}:{REGIONS['RegionB']['haproxy']}/v3   (b1 :5021, b2 :5022)
  export OS_CLIENT_CONFIG_FILE={workdir}/clouds.yaml OS_CLOUD=region-a   # or region-b
  admin password: in {workdir}/admin-password
  break it: python3 ha/refarch.py kill NAME | start NAME | cut RegionB [--mode blackhole]
            | heal RegionB | status     (NAME: {', '.join(data['processes'])})
""")
    return 0


def build(state: State, args: argparse.Namespace) -> None:
    workdir = state.workdir
    data = state.read()
    backend = args.backend
    password = data["db_password"]
    if backend == "galera":
        with state.locked() as data:
            prepare_galera(workdir, data)
        start_galera(state, workdir, password)
        direct = f"mysql://{DB_USER}:{password}@{HOST}:{GALERA['galera1']['sql']}/{DB_NAME}"
        scheme = "mysql"
        backends = {region: [GALERA[g]["sql"] for g in spec["galera"]]
                    for region, spec in REGIONS.items()}
        checks = {region: ["--check-sockets", ",".join(
            str(workdir / g / "mysqld.sock") for g in spec["galera"])]
            for region, spec in REGIONS.items()}
    else:
        with state.locked() as data:
            prepare_postgres(workdir, data, password)
        start_postgres(state, workdir, password)
        direct = f"postgresql://{DB_USER}:{password}@{HOST}:{PG['pg-primary']}/{DB_NAME}"
        scheme = "postgresql"
        # One URL per sevres node, and every node writes: both regions use the primary.
        backends = {region: [PG["pg-primary"]] for region in REGIONS}
        checks = {region: [] for region in REGIONS}
    with state.locked() as data:
        data["direct_url"] = direct  # for tools and tests that read the database itself
    (workdir / "admin-password").write_text(data["admin_password"] + "\n")
    os.chmod(workdir / "admin-password", 0o600)

    # The database path of each region.
    with state.locked() as data:
        for region, spec in REGIONS.items():
            name = f"dbproxy-{spec['short']}"
            data["processes"][name] = {
                "kind": "dbproxy", "port": spec["dbproxy"], "region": region,
                "cmd": [sys.executable, str(Path(__file__).resolve()), "proxy",
                        "--listen", str(spec["dbproxy"]), "--control", str(spec["control"]),
                        "--backends", ",".join(map(str, backends[region])),
                        *checks[region]],
                "log": str(workdir / "logs" / f"{name}.log")}
    for spec in REGIONS.values():
        spawn(state, f"dbproxy-{spec['short']}")
    for spec in REGIONS.values():
        wait_for("database proxy", lambda spec=spec: control(spec["control"], "status")
                 ["mode"] == "open", 10)
    read_urls = start_read_paths(state) if backend == "postgres" else {}

    # Schema, keys, and one bootstrap per region (the first with region A's public URL).
    init_env = sevres_env(data, workdir / "sevres-init", direct,
                          f"http://{HOST}:{REGIONS['RegionA']['haproxy']}")
    (workdir / "sevres-init").mkdir()
    sevres_cli(init_env, "init")
    for region, spec in REGIONS.items():
        env = {**init_env, "SEVRES_PUBLIC_URL": f"http://{HOST}:{spec['haproxy']}"}
        sevres_cli(env, "bootstrap", "--region", region)
    say("sevres: schema created, regions RegionA and RegionB bootstrapped")

    # Four sevres nodes, then one HAProxy per region.
    with state.locked() as data:
        for region, spec in REGIONS.items():
            url = f"{scheme}://{DB_USER}:{password}@{HOST}:{spec['dbproxy']}/{DB_NAME}"
            data["regions"][region] = {
                "url": f"http://{HOST}:{spec['haproxy']}/v3", "haproxy": spec["haproxy"],
                "dbproxy": spec["dbproxy"], "control": spec["control"],
                "database_backends": backends[region],
                "nodes": {node: f"http://{HOST}:{port}" for node, port in spec["nodes"].items()},
                "cloud": f"region-{spec['short']}"}
            for node, port in spec["nodes"].items():
                state_dir = workdir / node
                state_dir.mkdir()
                data["processes"][node] = {
                    "kind": "sevres", "port": port, "region": region,
                    "cmd": [str(SEVRES), "serve", "--host", HOST, "--port", str(port),
                            "--workers", str(args.workers)],
                    "env": sevres_env(data, state_dir, url, f"http://{HOST}:{spec['haproxy']}",
                                      read_urls.get(region), node),
                    "log": str(workdir / "logs" / f"{node}.log"), "cwd": str(state_dir)}
            short = spec["short"]
            data["processes"][f"haproxy-{short}"] = {
                "kind": "haproxy", "port": spec["haproxy"], "region": region,
                "cmd": ["/usr/sbin/haproxy", "-db", "-f", str(haproxy_config(workdir, region))],
                "log": str(workdir / "logs" / f"haproxy-{short}.log")}
    for name in (n for spec in REGIONS.values() for n in spec["nodes"]):
        spawn(state, name)
    for name, record in state.read()["processes"].items():
        if record["kind"] == "sevres":
            wait_sevres(state, name)
    for spec in REGIONS.values():
        spawn(state, f"haproxy-{spec['short']}")
    for spec in REGIONS.values():
        short = spec["short"]
        wait_for(f"haproxy-{short} sees both nodes UP", lambda short=short: set(
            haproxy_servers(workdir, short).values()) == {"UP"}, 30)
        wait_for(f"RegionA/B through haproxy-{short}", lambda spec=spec: http_status(
            f"http://{HOST}:{spec['haproxy']}/v3") == 200, 10)
    with state.locked() as data:
        clouds_yaml(workdir, data)
        data["complete"] = True


def start_read_paths(state: State) -> dict[str, str]:
    """PostgreSQL: a database path to the replica for each region that reads from it;
    returns each such region's read URL."""
    urls = {}
    with state.locked() as data:
        for region, path in READ_PATHS.items():
            data["processes"][path["name"]] = {
                "kind": "dbproxy", "port": path["dbproxy"], "region": region,
                "control": path["control"],
                "cmd": [sys.executable, str(Path(__file__).resolve()), "proxy",
                        "--listen", str(path["dbproxy"]), "--control", str(path["control"]),
                        "--backends", str(PG[path["backend"]])],
                "log": str(state.workdir / "logs" / f"{path['name']}.log")}
            urls[region] = (f"postgresql://{DB_USER}:{data['db_password']}@{HOST}:"
                            f"{path['dbproxy']}/{DB_NAME}")
            data.setdefault("read_paths", {})[region] = {
                "dbproxy": path["dbproxy"], "control": path["control"],
                "backend": path["backend"]}
    for path in READ_PATHS.values():
        spawn(state, path["name"])
        wait_for("read path", lambda path=path: control(path["control"], "status")
                 ["mode"] == "open", 10)
    return urls


def region_paths(workdir: Path, region: str) -> list[dict[str, Any]]:
    """The database paths of a region as ``up`` made them: its own, and its read path."""
    spec = region_spec(region)
    paths: list[dict[str, Any]] = [{"dbproxy": spec["dbproxy"], "control": spec["control"]}]
    state = State(workdir)
    if state.exists():
        name = next(r for r, s in REGIONS.items() if s is spec)
        read = state.read().get("read_paths", {}).get(name)
        if read:
            paths.append(read)
    return paths


def wait_sevres(state: State, name: str, timeout_s: float = 90) -> float:
    record = state.read()["processes"][name]

    def ready() -> bool:
        if not alive(record_pid(state, name)):
            raise Failure(f"{name} exited:\n{tail(record['log'])}")
        return http_status(f"http://{HOST}:{record['port']}/v3", 1) == 200

    return wait_for(f"sevres node {name}", ready, timeout_s, 0.1)


def record_pid(state: State, name: str) -> int | None:
    pid = state.read()["processes"][name].get("pid")
    return int(pid) if pid else None


STOP_ORDER = ("haproxy", "sevres", "dbproxy", "galera", "postgres")


def stop_all(state: State) -> list[str]:
    """End every recorded process (front to back), by PID, and any process that still
    runs from the workdir (rsync daemons of a state transfer), by PID too."""
    data = state.read()
    stopped = []
    processes = data.get("processes", {})
    for kind in STOP_ORDER:
        names = [n for n, r in processes.items() if r.get("kind") == kind]
        pids = {}
        for name in names:
            record = processes[name]
            pid = record.get("pid")
            if pid and alive(pid) and ours(pid, record):
                # PostgreSQL's fast shutdown is SIGINT (SIGTERM waits for every session).
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGINT if kind == "postgres" else signal.SIGTERM)
                pids[name] = pid
        deadline = time.monotonic() + 30
        for name, pid in pids.items():
            while alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            stopped.append(f"{name} ({pid})")
    for pid in leftovers(state.workdir):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        stopped.append(f"leftover ({pid})")
    return stopped


def leftovers(workdir: Path) -> list[int]:
    """PIDs of database, rsync or HAProxy processes whose command line names the workdir
    (e.g. an rsync daemon left by a state transfer cut short)."""
    found = []
    marker = str(workdir).encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        program = Path(cmdline.split(b"\0")[0].decode(errors="replace")).name
        if marker in cmdline and program in ("rsync", "mariadbd", "wsrep_sst_rsync",
                                             "postgres", "haproxy"):
            found.append(int(entry.name))
    return [pid for pid in found if alive(pid)]


def down(args: argparse.Namespace) -> int:
    workdir: Path = args.workdir
    state = State(workdir)
    if not state.exists():
        if workdir.exists():
            raise Failure(f"{workdir} has no state.json: not removing a folder this did not make")
        say(f"nothing to stop in {workdir}")
        return 0
    stopped = stop_all(state)
    if shutil.which("iptables") is not None:  # a cut left in place by --mode drop
        for spec in [*REGIONS.values(), *READ_PATHS.values()]:
            unfirewall(int(spec["dbproxy"]))
    say(f"stopped {len(stopped)}: {', '.join(stopped) or 'nothing was running'}")
    shutil.rmtree(workdir)
    say(f"removed {workdir}")
    return 0


def status(args: argparse.Namespace) -> int:
    workdir: Path = args.workdir
    state = State(workdir)
    if not state.exists():
        print(f"not up ({workdir} has no state.json)")
        return 1
    data = state.read()
    report: dict[str, Any] = {"backend": data["backend"], "complete": data.get("complete"),
                              "processes": {}, "regions": {}}
    for name, record in data["processes"].items():
        pid = record.get("pid")
        entry: dict[str, Any] = {"pid": pid, "alive": alive(pid), "port": record.get("port")}
        if entry["alive"]:
            with contextlib.suppress(Exception):
                if record["kind"] == "galera":
                    s = wsrep_status(workdir, name)
                    entry["wsrep"] = (f"{s.get('wsrep_local_state_comment')} "
                                      f"cluster_size={s.get('wsrep_cluster_size')}")
                elif record["kind"] == "sevres":
                    entry["http"] = http_status(f"http://{HOST}:{record['port']}/v3", 1)
                elif record["kind"] == "dbproxy":
                    c = control(record.get("control")
                                or REGIONS[record["region"]]["control"], "status", 2)
                    entry["mode"] = c["mode"]
                    entry["backend"] = c["last_backend"]
                    entry["healthy"] = ",".join(map(str, c.get("healthy", [])))
                elif record["kind"] == "haproxy":
                    entry["servers"] = haproxy_servers(workdir, REGIONS[record["region"]]["short"])
                elif record["kind"] == "postgres":
                    entry["role"] = ("replica" if psql(workdir, name, "SELECT pg_is_in_recovery()")
                                     == "t" else "primary")
        report["processes"][name] = entry
    for region, spec in data.get("regions", {}).items():
        with contextlib.suppress(Exception):
            report["regions"][region] = http_status(spec["url"], 2)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"backend {report['backend']}  workdir {workdir}  "
          f"{'complete' if report['complete'] else 'INCOMPLETE'}")
    for name, entry in report["processes"].items():
        extra = "  ".join(f"{k}={v}" for k, v in entry.items()
                          if k not in ("pid", "alive", "port"))
        print(f"  {name:11} pid {entry['pid'] or '-':>7}  port {entry['port'] or '-':>5}  "
              f"{'running' if entry['alive'] else 'STOPPED':8} {extra}")
    for region, code in report["regions"].items():
        print(f"  {region}: {data['regions'][region]['url']} -> HTTP {code}")
    return 0 if all(e["alive"] for e in report["processes"].values()) else 1


def start_one(args: argparse.Namespace) -> int:
    state = State(args.workdir)
    data = state.read()
    if args.name not in data.get("processes", {}):
        raise Failure(f"no process {args.name!r}; known: {', '.join(data.get('processes', {}))}")
    record = data["processes"][args.name]
    started = time.monotonic()
    pid = spawn(state, args.name)
    if not args.no_wait:
        if record["kind"] == "sevres":
            wait_sevres(state, args.name)
        elif record["kind"] == "galera":
            wait_for(f"{args.name} synced", lambda: galera_synced(args.workdir, args.name), 120)
        elif record["kind"] == "haproxy":
            wait_for(args.name, lambda: http_status(
                f"http://{HOST}:{record['port']}/v3") == 200, 20)
    say(f"started {args.name} (pid {pid}), ready after {time.monotonic() - started:.1f} s")
    return 0


def kill_one(args: argparse.Namespace) -> int:
    state = State(args.workdir)
    if args.name not in state.read().get("processes", {}):
        raise Failure(f"no process {args.name!r}")
    pid = kill(state, args.name, signal.SIGTERM if args.term else signal.SIGKILL)
    say(f"killed {args.name} (pid {pid})" if pid else f"{args.name} was not running")
    return 0


def firewall_rules(port: int) -> list[list[str]]:
    """iptables rules that DROP, in the kernel, every packet to and from a region's
    database path: nothing is refused, nothing is acknowledged (a real cut link)."""
    tag = ["-m", "comment", "--comment", f"sevres-ha-{port}", "-j", "DROP"]
    return [["INPUT", "-i", "lo", "-p", "tcp", "--dport", str(port), *tag],
            ["INPUT", "-i", "lo", "-p", "tcp", "--sport", str(port), *tag]]


def iptables(*args: str) -> subprocess.CompletedProcess[str]:
    if shutil.which("iptables") is None:
        raise Failure("--mode drop needs iptables (apt-get install iptables) and root")
    return subprocess.run(["iptables", "-w", "5", *args], capture_output=True, text=True,
                          check=False, timeout=30)


def unfirewall(port: int) -> None:
    for rule in firewall_rules(port):
        while iptables("-C", *rule).returncode == 0:
            iptables("-D", *rule)


def cut(args: argparse.Namespace) -> int:
    """Cut every database path of the region (PostgreSQL: its read path too)."""
    for path in region_paths(args.workdir, args.region):
        port = int(path["dbproxy"])
        if args.mode == "drop":
            for rule in firewall_rules(port):
                done = iptables("-I", *rule)
                if done.returncode != 0:
                    unfirewall(port)
                    raise Failure(f"iptables refused the rule: {done.stderr.strip()}")
            say(f"{args.region} cut off the database (drop: iptables on port {port})")
            continue
        answer = control(int(path["control"]), args.mode)
        say(f"{args.region} cut off the database at {port} ({answer['mode']})")
    return 0


def heal(args: argparse.Namespace) -> int:
    for path in region_paths(args.workdir, args.region):
        if shutil.which("iptables") is not None:
            unfirewall(int(path["dbproxy"]))
        answer = control(int(path["control"]), "open")
        say(f"{args.region} reaches the database again at {path['dbproxy']} "
            f"({answer['mode']})")
    return 0


def region_spec(name: str) -> dict[str, Any]:
    for region, spec in REGIONS.items():
        if name in (region, spec["short"], f"region-{spec['short']}"):
            return spec
    raise Failure(f"no region {name!r} (RegionA or RegionB)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="refarch.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("up", help="start everything (reuses a running one)")
    p.add_argument("--backend", choices=("galera", "postgres"), default="galera")
    p.add_argument("--workers", type=int, default=1, help="uvicorn workers per sevres node")
    p.add_argument("--staleness-ms", type=int, default=STALENESS_MS)
    sub.add_parser("down", help="stop every recorded process and remove the workdir")
    p = sub.add_parser("status", help="what runs")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("kill", help="kill -9 one recorded process")
    p.add_argument("name")
    p.add_argument("--term", action="store_true", help="SIGTERM instead of SIGKILL")
    p = sub.add_parser("start", help="start one recorded process again")
    p.add_argument("name")
    p.add_argument("--no-wait", action="store_true")
    p = sub.add_parser("cut", help="cut a region off the database")
    p.add_argument("region")
    p.add_argument("--mode", choices=("refuse", "blackhole", "drop"), default="refuse",
                   help="refuse: reset and refuse connections; blackhole: the path holds "
                   "every byte (a silent peer); drop: iptables DROP (a cut link)")
    p = sub.add_parser("heal", help="give a region its database back")
    p.add_argument("region")
    p = sub.add_parser("proxy", help="(internal) a region's database path")
    p.add_argument("--listen", type=int, required=True)
    p.add_argument("--control", type=int, required=True)
    p.add_argument("--backends", required=True)
    p.add_argument("--connect-timeout", type=float, default=1.0)
    p.add_argument("--check-sockets", help="Galera: each backend's socket, for its health")
    args = parser.parse_args(argv)
    if getattr(args, "workdir", None) is not None:
        args.workdir = args.workdir.resolve()
    commands = {"up": up, "down": down, "status": status, "kill": kill_one,
                "start": start_one, "cut": cut, "heal": heal, "proxy": run_proxy}
    try:
        return commands[args.command](args)
    except Failure as error:
        print(f"refarch: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
