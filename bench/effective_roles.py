"""Effective roles and token validation on deep project trees of growing size.

For each size N this builds a fresh database (SQLite in a temporary folder, or a temporary
PostgreSQL/MariaDB database that is dropped afterwards), migrates it, and bulk-inserts, in
one transaction and with rows shaped exactly as the repositories write them:

* one domain holding a forest of N projects, among them one chain of depth 10;
* a user in 10 groups, plus N/10 other users spread over N/100 other groups;
* 100 grants along the chain (user and group, direct and inherited, on the chain's
  projects and on the domain), N noise grants to other actors on random projects, and
  N/100 grants of the user's own groups on projects off the chain;
* the bootstrap role chain (admin > manager > member > reader, service) and 20 more roles;
* N/100 revocation events about other users and projects.

Then, through the real service layer (``build_services``), it times the effective roles
of the user on the deepest project and the validation of a project-scoped token of that
user on that project, and counts the SQL statements each one executes (at depths 1, 5 and
10), to show that the count depends neither on the depth nor on N.

If the reference Keystone answers on 127.0.0.1:5001 (admin/secret), it also times
``GET /v3/auth/tokens`` there for a user holding an inherited role at depth 5 (Keystone's
limit), next to sevres's own HTTP validation on the largest database.

    .venv/bin/python bench/effective_roles.py [--backend sqlite|postgresql|mariadb]
                                              [--sizes 1000,10000,100000] [--repeat 1000]
"""

from __future__ import annotations

import argparse
import importlib
import itertools
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy import event

from sevres import config, log
from sevres.app import Services, build_services
from sevres.ids import new_id, utcnow
from sevres.storage import migrate, tables
from sevres.storage.database import Database
from sevres.storage.repositories import jsoncol
from sevres.tokens import keyring
from sevres.tokens import payload as codec
from sevres.tokens.clock import now_ms
from sevres.tokens.service import ValidToken

ROOT = Path(__file__).resolve().parent.parent
DEPTH = 10
GROUPS = 10
PATH_GRANTS = 100
KEYSTONE = "http://127.0.0.1:5001/v3"
KEYSTONE_DEPTH = 5
ROLE_CHAIN = ("admin", "manager", "member", "reader")
EXTRA_ROLES = 20


def _tests_module(name: str) -> ModuleType:
    """tests/backends.py and tests/server.py, reused rather than copied."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    return importlib.import_module(f"tests.{name}")


# -- the data set -------------------------------------------------------------------------
@dataclass
class DataSet:
    domain_id: str
    user_id: str
    chain: list[str]  # chain[i] is at depth i + 1
    path_grants: int = 0
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def deepest(self) -> str:
        return self.chain[-1]


def _project_row(ident: str, name: str, domain_id: str, parent_id: str | None,
                 ancestry: str, is_domain: bool = False) -> dict[str, Any]:
    """A ``project`` row as ProjectRepository._to_row writes it."""
    return {
        "id": ident, "name": name, "description": None, "enabled": True,
        "domain_id": domain_id, "parent_id": parent_id, "is_domain": is_domain,
        "ancestry": ancestry, "tags": jsoncol.dump([]), "extra": jsoncol.dump({}),
    }


def _assignment(actor: str, is_group: bool, target: str, on_domain: bool, role: str,
                inherited: bool) -> dict[str, Any]:
    kind = ("Group" if is_group else "User") + ("Domain" if on_domain else "Project")
    return {"type": kind, "actor_id": actor, "target_id": target, "role_id": role,
            "inherited": inherited}


def _forest(n: int, rnd: random.Random, domain: str) -> tuple[list[dict[str, Any]], list[str]]:
    """The domain's row and N project rows, the first DEPTH of them one chain."""
    projects = [_project_row(domain, f"bench-{domain[:8]}", tables.ROOT_DOMAIN, None, "",
                             is_domain=True)]
    # (id, ancestry text) of every project that may still take a child (depth < DEPTH)
    open_parents: list[tuple[str, str, int]] = []
    chain: list[str] = []
    parent, ancestry = domain, ""
    for depth in range(1, DEPTH + 1):
        ident = new_id()
        ancestry = f"{ancestry}/{parent}" if ancestry else parent
        projects.append(_project_row(ident, f"chain-{depth}", domain, parent, ancestry))
        chain.append(ident)
        if depth < DEPTH:
            open_parents.append((ident, ancestry, depth))
        parent = ident
    # The rest: a random recursive forest (each new project under the domain 1% of the
    # time, else under a random earlier project that is not yet at the maximum depth).
    for i in range(n - DEPTH):
        ident = new_id()
        if not open_parents or rnd.random() < 0.01:
            parent_id, parent_ancestry, parent_depth = domain, "", 0
        else:
            parent_id, parent_ancestry, parent_depth = rnd.choice(open_parents)
        ancestry = f"{parent_ancestry}/{parent_id}" if parent_ancestry else parent_id
        projects.append(_project_row(ident, f"p{i}", domain, parent_id, ancestry))
        if parent_depth + 1 < DEPTH:
            open_parents.append((ident, ancestry, parent_depth + 1))
    return projects, chain


def _roles() -> tuple[dict[str, str], list[dict[str, Any]], list[dict[str, Any]]]:
    """Role ids by name, role rows, implication rows (the bootstrap chain, and a few)."""
    roles: dict[str, str] = {name: new_id() for name in (*ROLE_CHAIN, "service")}
    roles.update({f"bench-role-{i:02d}": new_id() for i in range(EXTRA_ROLES)})
    role_rows = [{"id": ident, "name": name, "domain_id": tables.NULL_DOMAIN,
                  "description": None, "extra": jsoncol.dump({})}
                 for name, ident in roles.items()]
    implied = [{"prior_role_id": roles[a], "implied_role_id": roles[b]}
               for a, b in itertools.pairwise(ROLE_CHAIN)]
    implied += [{"prior_role_id": roles[f"bench-role-{i:02d}"], "implied_role_id": roles["reader"]}
                for i in range(0, EXTRA_ROLES, 4)]
    return roles, role_rows, implied


def generate(n: int, seed: int = 42) -> DataSet:
    rnd = random.Random(seed)
    now = utcnow()
    domain = new_id()
    projects, chain = _forest(n, rnd, domain)
    project_ids = [p["id"] for p in projects[1:]]
    roles, role_rows, implied = _roles()
    role_ids = list(roles.values())

    def user_row(ident: str, name: str) -> dict[str, Any]:
        return {"id": ident, "name": name, "domain_id": domain, "enabled": True,
                "default_project_id": None, "extra": jsoncol.dump({}), "created_at": now}

    def group_row(ident: str, name: str) -> dict[str, Any]:
        return {"id": ident, "name": name, "domain_id": domain, "description": None,
                "extra": jsoncol.dump({})}

    user = new_id()
    groups = [new_id() for _ in range(GROUPS)]
    other_users = [new_id() for _ in range(max(1, n // 10))]
    other_groups = [new_id() for _ in range(max(1, n // 100))]
    users = [user_row(user, "bench-user")] + [user_row(u, f"u{i}")
                                             for i, u in enumerate(other_users)]
    group_rows = [group_row(g, f"bench-group-{i}") for i, g in enumerate(groups)]
    group_rows += [group_row(g, f"g{i}") for i, g in enumerate(other_groups)]
    members = {(user, g) for g in groups}
    all_groups = groups + other_groups
    for u in other_users:
        members.update((u, rnd.choice(all_groups)) for _ in range(2))
    membership = [{"user_id": u, "group_id": g} for u, g in sorted(members)]

    grants: dict[tuple[Any, ...], dict[str, Any]] = {}

    def add(row: dict[str, Any]) -> None:
        grants[tuple(row.values())] = row

    # Along the chain: the user and its groups, on the domain and the chain's projects.
    # One inherited grant on the domain makes sure every depth holds a role.
    add(_assignment(user, False, domain, True, roles["member"], True))
    actors = [(user, False)] + [(g, True) for g in groups]
    targets = [(domain, True)] + [(p, False) for p in chain]
    combos = list(itertools.product(actors, targets, role_ids, (False, True)))
    for (actor, is_group), (target, on_domain), role, inherited in rnd.sample(combos, 400):
        if len(grants) >= PATH_GRANTS:
            break
        add(_assignment(actor, is_group, target, on_domain, role, inherited))
    path_grants = len(grants)
    # Noise: other actors on random projects (N), and the user's own groups off the chain.
    on_chain = set(chain)
    for _ in range(n):
        is_group = rnd.random() < 0.3
        actor = rnd.choice(other_groups if is_group else other_users)
        add(_assignment(actor, is_group, rnd.choice(project_ids), False,
                        rnd.choice(role_ids), rnd.random() < 0.2))
    off_chain = [p for p in project_ids if p not in on_chain]
    for _ in range(max(1, n // 100)):
        add(_assignment(rnd.choice(groups), True, rnd.choice(off_chain), False,
                        rnd.choice(role_ids), rnd.random() < 0.5))

    issued = now_ms()
    revocations = [{"audit_id": codec.new_audit_id(), "user_id": rnd.choice(other_users),
                    "project_id": rnd.choice(off_chain), "domain_id": None,
                    "issued_before_ms": issued, "revoked_at": now}
                   for _ in range(max(1, n // 100))]

    data = DataSet(domain, user, chain, path_grants)
    data.rows = {
        "project": projects, "role": role_rows, "implied_role": implied, "user": users,
        "group": group_rows, "user_group_membership": membership,
        "assignment": list(grants.values()), "revocation_event": revocations,
    }
    return data


def load(engine: sa.Engine, data: DataSet) -> None:
    """One transaction of executemany INSERTs, tables in foreign-key order."""
    with engine.begin() as connection:
        for name in ("project", "role", "implied_role", "user", "group",
                     "user_group_membership", "assignment", "revocation_event"):
            rows = data.rows[name]
            for start in range(0, len(rows), 10_000):
                connection.execute(sa.insert(tables.metadata.tables[name]),
                                   rows[start:start + 10_000])


# -- measuring ------------------------------------------------------------------------------
class StatementCounter:
    """Counts the statements sent to the database while ``counting`` is on."""

    def __init__(self, engine: sa.Engine) -> None:
        self.counting = False
        self.count = 0
        self.statements: list[str] = []
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        if self.counting:
            self.count += 1
            self.statements.append(" ".join(statement.split())[:90])

    @contextmanager
    def measure(self) -> Iterator[StatementCounter]:
        self.count, self.statements, self.counting = 0, [], True
        try:
            yield self
        finally:
            self.counting = False


@dataclass
class Timing:
    per_s: float
    median_us: float
    p95_us: float


def sample(call: Callable[[], object], repeat: int) -> list[float]:
    """Per-call times in µs."""
    samples: list[float] = []
    clock = time.perf_counter_ns
    for _ in range(repeat):
        started = clock()
        call()
        samples.append((clock() - started) / 1000)
    return samples


def summarise(samples: list[float]) -> Timing:
    ordered = sorted(samples)
    return Timing(1e6 * len(ordered) / sum(ordered), statistics.median(ordered),
                  ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))])


@dataclass
class Result:
    n: int
    build_s: float
    resolution: Timing
    resolve_statements: dict[int, int]  # depth -> statements per resolution
    validation: Timing
    validate_statements: dict[int, int]
    roles_held: int
    path_grants: int


def project_token(services: Services, user_id: str, project_id: str) -> str:
    issued = now_ms()
    body = codec.Payload(user_id=user_id, methods=("password",), scope=codec.ScopeKind.PROJECT,
                         scope_id=project_id, issued_ms=issued,
                         expires_ms=issued + 3_600_000, audit_ids=(codec.new_audit_id(),))
    return services.tokens.state.ring.encode(body)


@dataclass
class Prepared:
    """A built and loaded database, with the services over it."""

    n: int
    state_dir: Path
    url: str
    services: Services
    data: DataSet
    build_s: float
    drop: Callable[[], None]


def prepare(backend: str, n: int, workdir: Path) -> Prepared:
    state_dir = workdir / f"n{n}"
    state_dir.mkdir()
    if backend == "sqlite":
        url, drop = f"sqlite:///{state_dir / 'sevres.db'}", (lambda: None)
    else:
        created = _tests_module("backends").create(backend, state_dir)
        url, drop = created.url, created.drop
    settings = config.load({"SEVRES_STATE_DIR": str(state_dir), "SEVRES_DATABASE_URL": url})
    keyring.create_master_key_file(settings.master_key_file)
    database = Database(settings.database_url)
    migrate.upgrade(database.engine)
    with database.transaction() as tx:
        keyring.ensure(tx, keyring.Wrapper(keyring.read_master_key(
            None, settings.master_key_file)), utcnow())
    started = time.perf_counter()
    data = generate(n)
    load(database.engine, data)
    build_s = time.perf_counter() - started
    data.rows = {}  # keep only the ids
    services = build_services(settings, database)
    return Prepared(n, state_dir, url, services, data, build_s, drop)


def count_statements(prepared: Prepared) -> tuple[dict[int, int], dict[int, int]]:
    """SQL statements per resolution and per validation, at depths 1, 5 and 10."""
    services, data = prepared.services, prepared.data
    counter = StatementCounter(services.database.engine)
    resolve: dict[int, int] = {}
    validate: dict[int, int] = {}
    for depth in (1, 5, DEPTH):
        project = data.chain[depth - 1]
        token = project_token(services, data.user_id, project)
        with services.database.transaction(write=False) as tx:
            with counter.measure():
                services.assignments.effective_role_ids_on_project(tx, data.user_id, project)
            resolve[depth] = counter.count
            services.tokens.state.forget()  # a cold validation: what a cache miss costs
            with counter.measure():
                services.tokens.validate(tx, token)
            validate[depth] = counter.count
    return resolve, validate


def measure(prepared_all: list[Prepared], repeat: int, rounds: int = 50) -> list[Result]:
    """Time every size in interleaved rounds, so that a load spike from elsewhere on the
    machine lands on all sizes alike rather than on whichever ran at that moment."""
    calls: dict[int, tuple[Callable[[int], list[float]], Callable[[int], list[float]]]] = {}
    held: dict[int, int] = {}
    for prepared in prepared_all:
        services, data = prepared.services, prepared.data
        database, assignments = services.database, services.assignments
        token = project_token(services, data.user_id, data.deepest)
        with database.transaction(write=False) as tx:
            held[prepared.n] = len(
                assignments.effective_role_ids_on_project(tx, data.user_id, data.deepest))
            assert services.tokens.validate(tx, token).project is not None

        def resolutions(count: int, database: Database = database, data: DataSet = data,
                        assignments: Any = assignments) -> list[float]:
            with database.transaction(write=False) as tx:  # resolution alone, no BEGIN
                return sample(lambda: assignments.effective_role_ids_on_project(
                    tx, data.user_id, data.deepest), count)

        def validations(count: int, database: Database = database,
                        services: Services = services, token: str = token) -> list[float]:
            def one() -> ValidToken:
                services.tokens.state.forget()  # cold: the database path, not the memo
                with database.transaction(write=False) as tx:  # one per call, as a request
                    return services.tokens.validate(tx, token)
            return sample(one, count)

        calls[prepared.n] = (resolutions, validations)
        resolutions(max(20, repeat // 10))  # warm-up
        validations(max(20, repeat // 10))

    resolved: dict[int, list[float]] = {p.n: [] for p in prepared_all}
    validated: dict[int, list[float]] = {p.n: [] for p in prepared_all}
    batch = max(1, repeat // rounds)
    for round_ in range(rounds):
        order = prepared_all if round_ % 2 == 0 else prepared_all[::-1]
        for prepared in order:
            resolutions, validations = calls[prepared.n]
            resolved[prepared.n] += resolutions(batch)
            validated[prepared.n] += validations(batch)

    results = []
    for prepared in prepared_all:
        resolve_count, validate_count = count_statements(prepared)
        results.append(Result(
            prepared.n, prepared.build_s, summarise(resolved[prepared.n]), resolve_count,
            summarise(validated[prepared.n]), validate_count, held[prepared.n],
            prepared.data.path_grants))
    return results


# -- HTTP, side by side with Keystone ------------------------------------------------------
HttpCall = Callable[[], None]


def _getter(client: httpx.Client, token: str) -> HttpCall:
    headers = {"X-Auth-Token": token, "X-Subject-Token": token}

    def call() -> None:
        response = client.get("auth/tokens?nocatalog", headers=headers)
        if response.status_code != 200:
            raise RuntimeError(f"validation: {response.status_code} {response.text[:200]}")

    return call


@contextmanager
def keystone_session() -> Iterator[tuple[HttpCall, int] | str]:
    """A project-scoped Keystone token at depth 5 (Keystone's limit) of a user whose role is
    inherited from the top project; the tree is built through Keystone's API and deleted
    afterwards. Yields the validating call and the depth, or why Keystone is left out."""
    client = httpx.Client(base_url=KEYSTONE + "/", timeout=30)
    try:
        client.get("").raise_for_status()
    except httpx.HTTPError as error:
        client.close()
        yield f"not reachable ({error.__class__.__name__})"
        return
    admin = client.post("auth/tokens", json={"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": "admin", "domain": {"id": "default"}, "password": "secret"}}},
        "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}})
    if admin.status_code != 201:
        client.close()
        yield f"admin login failed ({admin.status_code})"
        return
    h = {"X-Auth-Token": admin.headers["X-Subject-Token"]}
    made = client.post("domains", headers=h,
                       json={"domain": {"name": f"bench-{uuid.uuid4().hex[:8]}"}})
    made.raise_for_status()
    domain_id = made.json()["domain"]["id"]
    chain: list[str] = []
    user_id = None
    try:
        parent = domain_id
        for depth in range(1, KEYSTONE_DEPTH + 1):
            made = client.post("projects", headers=h, json={"project": {
                "name": f"chain-{depth}", "domain_id": domain_id, "parent_id": parent}})
            if made.status_code != 201:
                break
            parent = made.json()["project"]["id"]
            chain.append(parent)
        password = uuid.uuid4().hex
        made = client.post("users", headers=h, json={"user": {
            "name": "bench-user", "domain_id": domain_id, "password": password}})
        made.raise_for_status()
        user_id = made.json()["user"]["id"]
        member = client.get("roles", headers=h, params={"name": "member"}).json()["roles"][0]
        client.put(f"OS-INHERIT/projects/{chain[0]}/users/{user_id}/roles/{member['id']}"
                   "/inherited_to_projects", headers=h).raise_for_status()
        issued = client.post("auth/tokens", json={"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "id": user_id, "password": password}}},
            "scope": {"project": {"id": chain[-1]}}}})
        issued.raise_for_status()
        yield _getter(client, issued.headers["X-Subject-Token"]), len(chain)
    finally:
        if user_id:
            client.delete(f"users/{user_id}", headers=h)
        for project in reversed(chain):
            client.delete(f"projects/{project}", headers=h)
        client.patch(f"domains/{domain_id}", headers=h, json={"domain": {"enabled": False}})
        client.delete(f"domains/{domain_id}", headers=h)
        client.close()


@dataclass
class HttpResult:
    keystone: str  # why Keystone is missing, or ""
    timings: dict[str, Timing]


def http_compare(prepared: Prepared, repeat: int, rounds: int = 10) -> HttpResult:
    """Keystone and a sevres server on the largest database, timed in interleaved rounds
    (the same background load on both): GET /v3/auth/tokens?nocatalog."""
    server = _tests_module("server").start(prepared.state_dir, prepared.url,
                                           SEVRES_LOG_LEVEL="warning")
    calls: dict[str, HttpCall] = {}
    missing = ""
    try:
        with httpx.Client(base_url=server.url + "/v3/", timeout=30) as client, \
                keystone_session() as keystone:
            if isinstance(keystone, str):
                missing = keystone
            else:
                call, depth = keystone
                calls[f"Keystone 30, tree of {depth} projects, token at depth {depth}"] = call
            for depth in (KEYSTONE_DEPTH, DEPTH):
                token = project_token(prepared.services, prepared.data.user_id,
                                      prepared.data.chain[depth - 1])
                calls[f"sevres, N={prepared.n} projects, token at depth {depth}"] = _getter(
                    client, token)
            for call in calls.values():
                sample(call, 20)  # warm-up
            found: dict[str, list[float]] = {label: [] for label in calls}
            batch = max(1, repeat // rounds)
            for _ in range(rounds):
                for label, call in calls.items():
                    found[label] += sample(call, batch)
    finally:
        server.stop()
    return HttpResult(missing, {label: summarise(v) for label, v in found.items()})


# -- report ---------------------------------------------------------------------------------
def _counts(by_depth: dict[int, int]) -> str:
    return "/".join(str(by_depth[d]) for d in sorted(by_depth))


def print_table(backend: str, results: list[Result]) -> None:
    print(f"\nsevres effective roles and token validation, backend {backend}: user in "
          f"{GROUPS} groups, project at depth {DEPTH}")
    print("(statements: SQL statements per call at depth 1/5/10; validation includes "
          "opening and committing a read transaction per call)\n")
    print(f"{'N':>7} {'build s':>8} {'grants':>7} | {'resolve/s':>9} {'med µs':>8} "
          f"{'p95 µs':>8} {'stmts':>7} | {'validate/s':>10} {'med µs':>8} {'p95 µs':>8} "
          f"{'stmts':>8}")
    for r in results:
        print(f"{r.n:>7} {r.build_s:>8.1f} {r.path_grants:>7} | {r.resolution.per_s:>9.0f} "
              f"{r.resolution.median_us:>8.0f} {r.resolution.p95_us:>8.0f} "
              f"{_counts(r.resolve_statements):>7} | {r.validation.per_s:>10.0f} "
              f"{r.validation.median_us:>8.0f} {r.validation.p95_us:>8.0f} "
              f"{_counts(r.validate_statements):>8}")
    first, last = results[0], results[-1]
    constant = all(len(set(r.resolve_statements.values()) | {first.resolve_statements[1]}) == 1
                   and len(set(r.validate_statements.values())
                           | {first.validate_statements[1]}) == 1 for r in results)
    print(f"\nroles held at depth {DEPTH}: {last.roles_held} "
          f"(from {last.path_grants} grants along the path)")
    print(f"statement count independent of depth and N: {'yes' if constant else 'NO'}")
    if len(results) > 1:
        for label, a, b in (("resolution", first.resolution, last.resolution),
                            ("validation", first.validation, last.validation)):
            ratio = b.median_us / a.median_us
            verdict = "PASS" if ratio < 2 else "FAIL"
            print(f"growth of median {label} time, N={first.n} -> N={last.n}: "
                  f"{ratio:.2f}x  {verdict} (< 2x)")


def print_http(http: HttpResult) -> None:
    print("\nHTTP: GET /v3/auth/tokens?nocatalog from one sequential client, X-Auth-Token = "
          "X-Subject-Token = a project-scoped token of a user whose role is inherited; "
          "Keystone (2 gunicorn workers, SQLite, in-memory cache, validating the same token "
          "again) and sevres (1 worker, this backend) timed in interleaved rounds")
    if http.keystone:
        print(f"  Keystone 30 at {KEYSTONE}: {http.keystone}")
    width = max(len(label) for label in http.timings)
    for label, t in http.timings.items():
        print(f"  {label:<{width}}  {t.per_s:>6.0f}/s  median {t.median_us:>7.0f} µs  "
              f"p95 {t.p95_us:>7.0f} µs")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "mariadb"),
                        default="sqlite")
    parser.add_argument("--sizes", default="1000,10000,100000",
                        help="comma-separated project counts (default 1000,10000,100000)")
    parser.add_argument("--repeat", type=int, default=1000, help="timed calls per figure")
    parser.add_argument("--http-repeat", type=int, default=300,
                        help="timed HTTP calls per figure")
    parser.add_argument("--no-http", action="store_true",
                        help="skip the HTTP comparison with Keystone")
    args = parser.parse_args(argv)
    sizes = sorted(int(s) for s in args.sizes.split(",") if s.strip())
    if not sizes or sizes[0] < 100:
        parser.error("sizes must be at least 100")
    log.configure("text", "warning")
    print(f"load average (1/5/15 min) at the start: "
          f"{'/'.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")

    http: HttpResult | None = None
    prepared_all: list[Prepared] = []
    with tempfile.TemporaryDirectory(prefix="sevres-bench-") as tmp:
        try:
            for n in sizes:
                print(f"N={n}: building...", end=" ", flush=True)
                prepared_all.append(prepare(args.backend, n, Path(tmp)))
                print(f"{prepared_all[-1].build_s:.1f} s", flush=True)
            print(f"measuring, {args.repeat} calls per figure, sizes interleaved...", flush=True)
            results = measure(prepared_all, args.repeat)
            if not args.no_http:
                print("measuring over HTTP...", flush=True)
                http = http_compare(prepared_all[-1], args.http_repeat)
        finally:
            for prepared in prepared_all:
                prepared.services.database.dispose()
                with suppress(Exception):
                    prepared.drop()
    print_table(args.backend, results)
    if http is not None:
        print_http(http)
    print(f"\nload average (1/5/15 min) at the end: "
          f"{'/'.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs; "
          "absolute figures move with it, the interleaved ratios much less")
    return 0


if __name__ == "__main__":
    sys.exit(main())
