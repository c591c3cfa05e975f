"""Fixtures: one real server per database backend for the whole session, and clients."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests import backends
from tests.factories import Api
from tests.server import ADMIN_PASSWORD, Server, start

_skipped: dict[str, str] = {}
_ran: set[str] = set()


def _available() -> list[str]:
    chosen = []
    require = os.environ.get("SEVRES_TEST_REQUIRE_BACKENDS") == "1"
    for name in backends.wanted():
        reason = backends.unreachable_reason(name)
        if reason is None:
            chosen.append(name)
        elif require:
            raise pytest.UsageError(f"backend {name} is required but unreachable: {reason}")
        else:
            _skipped[name] = reason
    return chosen


BACKENDS = _available()


@pytest.fixture(scope="session", params=BACKENDS)
def backend_name(request: pytest.FixtureRequest) -> str:
    _ran.add(request.param)
    return str(request.param)


@pytest.fixture(scope="session")
def server(backend_name: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A live sevres (``sevres run``) on a fresh database of the backend under test."""
    state = tmp_path_factory.mktemp(f"sevres-{backend_name}")
    backend = backends.create(backend_name, state)
    srv = start(state, backend.url)
    try:
        yield srv
    finally:
        srv.stop()
        backend.drop()


@pytest.fixture
def fresh(backend_name: str, tmp_path: Path) -> Iterator[backends.Backend]:
    """An empty database of the backend under test, dropped afterwards."""
    backend = backends.create(backend_name, tmp_path)
    try:
        yield backend
    finally:
        backend.drop()


@pytest.fixture(scope="session")
def admin(server: Server) -> Iterator[Api]:
    """An API client holding the bootstrap admin's project-scoped token."""
    with Api.login(server.url, "admin", ADMIN_PASSWORD) as api:
        yield api


@pytest.fixture
def anonymous(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


@pytest.fixture
def state_dir(server: Server) -> Path:
    return server.state_dir


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    ran = ", ".join(sorted(_ran)) or "none"
    terminalreporter.write_line(f"database backends run: {ran}")
    for name, reason in sorted(_skipped.items()):
        terminalreporter.write_line(f"database backend SKIPPED: {name} (unreachable: {reason})")
