"""The database circuit breaker and the read replica setting, against a real server whose
database is reached through a TCP forwarder this test can make silent (it accepts and
acknowledges, and forwards nothing: a hung database, or a middlebox in front of it).

- A silent database: writes answer 503 with the database message within a couple of
  seconds (never 500, never a hang), validation goes on from memory, /metrics shows the
  breaker open; once the database answers again, writes succeed and the gauge is back.
- ``SEVRES_DATABASE_READ_URL``: read-only requests go through the read URL; when it falls
  silent, reads fall back to the primary and writes never notice.

PostgreSQL and MariaDB only: SQLite has no network path to lose.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

import httpx
import pytest
import sqlalchemy as sa

from tests import backends
from tests.factories import Api, unique
from tests.server import ADMIN_PASSWORD, Server, start

FAST_S = 3.0  # "a couple of seconds"


class Forwarder:
    """127.0.0.1:port -> the database; ``silent`` holds every byte (TCP stays up)."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.flowing = threading.Event()
        self.flowing.set()
        self.bytes_up = 0
        self._sockets: list[socket.socket] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        threading.Thread(target=self._accept, daemon=True).start()

    def silent(self, on: bool) -> None:
        if on:
            self.flowing.clear()
        else:
            self.flowing.set()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            self._sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, up: bool) -> None:
        try:
            while chunk := source.recv(65536):
                self.flowing.wait()  # held, not lost, while silent
                if up:
                    self.bytes_up += len(chunk)
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.flowing.set()
        self._listener.close()
        for s in self._sockets:
            with suppress(OSError):
                s.close()


def through(url: str, port: int) -> str:
    parsed = sa.make_url(url)
    return parsed.set(host="127.0.0.1", port=port).render_as_string(hide_password=False)


@contextmanager
def server_through_forwarders(backend_name: str, factory: pytest.TempPathFactory,
                              read_replica: bool) -> Iterator[tuple[Server, Forwarder,
                                                                     Forwarder | None]]:
    if backend_name == "sqlite":
        pytest.skip("SQLite has no network path to the database")
    state = factory.mktemp(f"breaker-{backend_name}")
    backend = backends.create(backend_name, state)
    parsed = sa.make_url(backend.url)
    target = (parsed.host or "127.0.0.1", int(parsed.port or (
        5432 if backend_name == "postgresql" else 3306)))
    primary = Forwarder(target)
    replica = Forwarder(target) if read_replica else None
    extra = {"SEVRES_CACHE_STALENESS_MS": "200"}
    if replica is not None:
        extra["SEVRES_DATABASE_READ_URL"] = through(backend.url, replica.port)
    server = start(state, through(backend.url, primary.port), **extra)
    try:
        yield server, primary, replica
    finally:
        server.stop()
        primary.close()
        if replica is not None:
            replica.close()
        backend.drop()


def timed(call: Callable[[], httpx.Response]) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


def reachable(server: Server, path: str) -> float | None:
    text = httpx.get(server.url + "/metrics", timeout=10).text
    found = re.search(rf'^sevres_database_reachable{{path="{path}"}} (\S+)$', text, re.M)
    return float(found.group(1)) if found else None


def test_a_silent_database_fails_writes_fast_keeps_validating_and_recovers(
        backend_name: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    with server_through_forwarders(backend_name, tmp_path_factory, False) as (server, db, _):
        admin = Api.login(server.url, "admin", ADMIN_PASSWORD)
        assert admin.get("/v3/auth/tokens", headers={
            "X-Subject-Token": admin.token}).status_code == 200  # in memory now
        assert reachable(server, "primary") == 1
        db.silent(True)
        # A write sent at once waits on the silent database until the breaker opens.
        response, seconds = timed(lambda: admin.post("/v3/projects", json={
            "project": {"name": unique("p")}}))
        assert response.status_code == 503, response.text
        assert seconds <= FAST_S
        assert response.json()["error"]["title"] == "Service Unavailable"
        assert "database" in response.json()["error"]["message"]
        # Then every request needing the database is refused at once.
        for _ in range(3):
            response, seconds = timed(lambda: admin.post("/v3/projects", json={
                "project": {"name": unique("p")}}))
            assert response.status_code == 503
            assert seconds < 0.5
        assert admin.get("/v3/auth/tokens", headers={
            "X-Subject-Token": admin.token}).status_code == 200
        assert reachable(server, "primary") == 0
        db.silent(False)
        deadline = time.monotonic() + 10
        status = 0
        while time.monotonic() < deadline and status != 201:
            status = admin.post("/v3/projects", json={
                "project": {"name": unique("p")}}).status_code
            time.sleep(0.1)
        assert status == 201
        assert reachable(server, "primary") == 1
        admin.close()


def test_reads_use_the_read_url_and_fall_back_to_the_primary_when_it_is_silent(
        backend_name: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    with server_through_forwarders(backend_name, tmp_path_factory, True) as (
            server, primary, replica):
        assert replica is not None
        admin = Api.login(server.url, "admin", ADMIN_PASSWORD)
        time.sleep(0.5)
        before_replica, before_primary = replica.bytes_up, primary.bytes_up
        for _ in range(20):
            assert admin.get("/v3/projects").status_code == 200
        # (the state poll also reads the replica and probes the primary: a few hundred
        # bytes a poll; twenty lists of projects send far more to the replica)
        assert replica.bytes_up - before_replica > primary.bytes_up - before_primary
        replica.silent(True)
        deadline = time.monotonic() + FAST_S + 1
        statuses = []
        while time.monotonic() < deadline:
            statuses.append(admin.get("/v3/projects", timeout=10).status_code)
            assert admin.post("/v3/projects", json={"project": {"name": unique(
                "p")}}).status_code == 201
        assert 500 not in statuses
        assert statuses[-1] == 200  # from the primary once the replica's breaker opened
        assert reachable(server, "replica") == 0
        assert reachable(server, "primary") == 1
        replica.silent(False)
        admin.close()
