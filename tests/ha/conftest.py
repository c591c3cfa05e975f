"""The reference architecture of ha/refarch.py for the fault tests: brought up once for
the session (or reused if it already runs) and taken down at the end, unless it was
already running or SEVRES_HA_KEEP=1. The tests run only with SEVRES_HA=1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
REFARCH = REPO / "ha" / "refarch.py"
WORKDIR = Path(os.environ.get("SEVRES_HA_WORKDIR", "/tmp/sevres-ha"))
BACKEND = os.environ.get("SEVRES_HA_BACKEND", "galera")
ENABLED = os.environ.get("SEVRES_HA") == "1"

FIGURES: list[str] = []


def figure(text: str) -> None:
    """A measured figure: printed now (run pytest with -s) and again at the end."""
    line = f"[ha {time.strftime('%H:%M:%S')}] {text}"
    FIGURES.append(line)
    print(line, flush=True)


def refarch(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, str(REFARCH), "--workdir", str(WORKDIR), *args],
        capture_output=True, text=True, timeout=timeout, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"refarch {' '.join(args)} failed ({result.returncode}):\n"
                           f"{result.stdout}\n{result.stderr}")
    return result


class Arch:
    """The running architecture, as its state file describes it."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = json.loads((WORKDIR / "state.json").read_text())
        self.backend: str = self.data["backend"]
        self.password: str = self.data["admin_password"]
        self.staleness_ms: int = int(self.data["staleness_ms"])

    def url(self, region: str) -> str:
        return str(self.data["regions"][region]["url"]).removesuffix("/v3")

    def nodes(self, region: str) -> dict[str, str]:
        return dict(self.data["regions"][region]["nodes"])

    def all_nodes(self) -> dict[str, str]:
        return {**self.nodes("RegionA"), **self.nodes("RegionB")}

    def node_env(self, name: str) -> dict[str, str]:
        return dict(json.loads((WORKDIR / "state.json").read_text())
                    ["processes"][name]["env"])

    def kill(self, name: str) -> None:
        refarch("kill", name)

    def start(self, name: str) -> float:
        started = time.monotonic()
        refarch("start", name)
        return time.monotonic() - started

    def cut(self, region: str, mode: str) -> None:
        refarch("cut", region, "--mode", mode)

    def heal(self, region: str) -> None:
        refarch("heal", region)

    def sql(self, query: str, node: str | None = None) -> str:
        """Run SQL on the database (a Galera node's socket; the PostgreSQL primary)."""
        if self.backend == "galera":
            node = node or "galera2"
            cmd = ["mariadb", "--no-defaults", f"--socket={WORKDIR / node / 'mysqld.sock'}",
                   "-uroot", "-N", "-B", "sevres", "-e", query]
            user = None
        else:
            node = node or "pg-primary"
            port = self.data["processes"][node]["port"]
            cmd = ["/usr/lib/postgresql/15/bin/psql", "-h", str(WORKDIR / node), "-p",
                   str(port), "-U", "postgres", "-d", "sevres", "-At", "-c", query]
            user = "postgres"
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=30,
                                check=False, user=user)
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    def dump(self) -> str:
        """The whole sevres database as SQL, without the dump's own comments."""
        if self.backend == "galera":
            cmd = ["mariadb-dump", "--no-defaults",
                   f"--socket={WORKDIR / 'galera2' / 'mysqld.sock'}", "-uroot",
                   "--skip-extended-insert", "--skip-dump-date", "sevres"]
            user = None
        else:
            cmd = ["/usr/lib/postgresql/15/bin/pg_dump", "-h", str(WORKDIR / "pg-primary"),
                   "-p", str(self.data["processes"]["pg-primary"]["port"]), "-U", "postgres",
                   "sevres"]
            user = "postgres"
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=60,
                                check=False, user=user)
        assert result.returncode == 0, result.stderr
        # Comments, and pg_dump's per-run \restrict keys, differ between two dumps.
        return "\n".join(line for line in result.stdout.splitlines()
                         if not line.startswith(("--", "\\restrict", "\\unrestrict")))

    def database_url(self) -> str:
        """A URL that reaches the database without a region's path (for the key ring)."""
        password = self.data["db_password"]
        if self.backend == "galera":
            return f"mysql://sevres:{password}@127.0.0.1:3312/sevres"
        return str(self.data["direct_url"])

    def log(self, name: str) -> Path:
        return Path(self.data["processes"][name]["log"])


@pytest.fixture(scope="session")
def arch() -> Iterator[Arch]:
    if not ENABLED:
        pytest.skip("the HA fault tests run with SEVRES_HA=1 (they start 11 processes)")
    reused = (WORKDIR / "state.json").exists()
    started = time.monotonic()
    out = refarch("up", "--backend", BACKEND, timeout=900)
    print(out.stdout, flush=True)
    if not reused:
        figure(f"refarch up ({BACKEND}) took {time.monotonic() - started:.1f} s")
    with httpx.Client(timeout=10) as client:  # both regions answer before any test
        for region in ("RegionA", "RegionB"):
            assert client.get(Arch().url(region) + "/v3").status_code == 200
    try:
        yield Arch()
    finally:
        if not reused and os.environ.get("SEVRES_HA_KEEP") != "1":
            down = refarch("down", timeout=300)
            print(down.stdout, flush=True)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not FIGURES:
        return
    terminalreporter.section("HA figures")
    for line in FIGURES:
        terminalreporter.write_line(line)
    target = os.environ.get("SEVRES_HA_FIGURES")
    if target:
        Path(target).write_text("\n".join(FIGURES) + "\n")
