"""`sevres serve --workers N`: several processes over one database answer consistently."""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sevres.identity.hashing_gate import QUIET_AFTER_S, HashingGate
from tests import backends
from tests.factories import Api, unique
from tests.server import ADMIN_PASSWORD, Server, start


@pytest.fixture
def two_workers(backend_name: str, tmp_path: Path) -> Iterator[Server]:
    backend = backends.create(backend_name, tmp_path)
    server = start(tmp_path, backend.url, workers=2)
    try:
        yield server
    finally:
        server.stop()
        backend.drop()


def test_concurrent_writes_through_two_workers_all_land(two_workers: Server) -> None:
    """Twenty concurrent creates through two worker processes all succeed, and every
    worker sees every project afterwards (no lost write, no 'database is locked')."""
    api = Api.login(two_workers.url, "admin", ADMIN_PASSWORD)
    with api:
        names = [unique("par") for _ in range(20)]

        def create(name: str) -> int:
            with Api(base_url=two_workers.url, headers={"X-Auth-Token": api.token},
                     timeout=30) as client:
                return client.post("/v3/projects", json={"project": {"name": name}}).status_code

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(create, names))
        assert statuses == [201] * 20
        for _ in range(6):  # several requests, so both workers answer at least once
            listed = {p["name"] for p in api.get("/v3/projects").json()["projects"]}
            assert set(names) <= listed
        deadline = time.monotonic() + 30  # a loaded machine may start the second one late
        while time.monotonic() < deadline:
            started = [line for line in two_workers.log_text().splitlines()
                       if "server.worker_started" in line]
            if len(started) == 2:
                break
            time.sleep(0.2)
        assert len(started) == 2


def test_logins_leave_the_node_s_hashing_whole_and_other_requests_halve_it(
        two_workers: Server) -> None:
    """The node's hashing gate (identity/hashing_gate.py), read as a third process would:
    password logins alone leave the node quiet, so hashes may use every CPU; a validation,
    whichever worker answers it, marks the node busy for the whole node."""
    gate = HashingGate(two_workers.state_dir / "hashing")
    time.sleep(QUIET_AFTER_S + 0.3)  # the start-up checks (GET /v3) have aged
    logins = [Api.login(two_workers.url, "admin", ADMIN_PASSWORD) for _ in range(4)]
    assert not gate.busy()
    api = logins[0]
    with api:
        response = api.get("/v3/auth/tokens", headers={"X-Subject-Token": logins[1].token})
        assert response.status_code == 200
        assert gate.busy()
    for other in logins[1:]:
        other.close()
