"""A real sevres server in a subprocess: ``sevres run`` on a free port, with its own
state folder and database, exactly as a user starts it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

ADMIN_PASSWORD = "test-admin-secret-Pa55"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str
    state_dir: Path
    process: subprocess.Popen[bytes]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def server_env(state_dir: Path, database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEVRES_")}
    env.update({
        "SEVRES_STATE_DIR": str(state_dir),
        "SEVRES_DATABASE_URL": database_url,
        "SEVRES_ADMIN_PASSWORD": ADMIN_PASSWORD,
        # Cheap hashing keeps the suite fast; the cost is a setting, tested on its own.
        "SEVRES_ARGON2_TIME_COST": "1",
        "SEVRES_ARGON2_MEMORY_KIB": "1024",
        "SEVRES_ARGON2_PARALLELISM": "1",
    })
    env.update(extra)
    return env


def start(state_dir: Path, database_url: str, workers: int = 1, **extra: str) -> Server:
    state_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = server_env(state_dir, database_url, **extra)
    log_path = state_dir / "server.log"
    sevres = str(Path(sys.executable).parent / "sevres")
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sevres, "run", "--port", str(port), "--workers", str(workers)],
            stdout=log, stderr=subprocess.STDOUT, env=env,
        )
    server = Server(f"http://127.0.0.1:{port}", state_dir, process, log_path, env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"sevres exited with {process.returncode}:\n{server.log_text()}")
        try:
            if httpx.get(f"{server.url}/v3", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"sevres did not answer within 60 s:\n{server.log_text()}")


def sevres(state: Path, url: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the `sevres` command on a state folder and database, as a user would."""
    return subprocess.run([str(Path(sys.executable).parent / "sevres"), *args],
                          capture_output=True, text=True, check=False,
                          env=server_env(state, url, **env), timeout=120)


@contextmanager
def own_server(backend_name: str, factory: pytest.TempPathFactory, name: str,
               workers: int = 1, **env: str) -> Iterator[Server]:
    """A server of its own on a fresh database of the backend, for tests that change
    settings or may break what other tests rely on; stopped and dropped afterwards."""
    from tests import backends

    state = factory.mktemp(f"{name}-{backend_name}")
    backend = backends.create(backend_name, state)
    server = start(state, backend.url, workers, **env)
    try:
        yield server
    finally:
        server.stop()
        backend.drop()
