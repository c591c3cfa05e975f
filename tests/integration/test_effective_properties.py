"""Property tests: sevres's effective roles agree with a naive reference model.

Hypothesis draws random worlds — a forest of projects in one or two domains, users,
groups with random members, roles with random (acyclic) implications, random grants
(to a user or a group; on a project or a domain; inherited or not) and random project
moves — builds each one through sevres's service layer, one transaction per operation,
and compares what sevres resolves with :class:`Model`, a few dozen lines of plain Python
that share no code with sevres. The database is the backend under test (``backend_name``),
created and migrated once per backend and emptied between examples.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from sevres import config, errors
from sevres.app import Services, build_services
from sevres.assignment.effective import Derivation
from sevres.assignment.models import ActorKind, TargetKind
from sevres.ids import utcnow
from sevres.storage import migrate
from sevres.storage.database import Database
from sevres.storage.tables import metadata
from sevres.tokens import keyring
from tests import backends

# Examples per test: SQLite is fast; a server backend costs a round trip per query.
EXAMPLES = {"sqlite": 100}
MOVE_EXAMPLES = {"sqlite": 80}
SERVER_EXAMPLES, SERVER_MOVE_EXAMPLES = 40, 30
MAX_PROJECTS = 12


# -- the reference model ---------------------------------------------------------------------
@dataclass
class Model:
    """The rules, as naively as possible: walk parents, then close over implications."""

    domains: set[str] = field(default_factory=set)
    parent: dict[str, str] = field(default_factory=dict)  # project -> project or domain
    members: dict[str, set[str]] = field(default_factory=dict)  # group -> user ids
    # (actor kind "user"/"group", actor id, target id, role id, inherited)
    grants: set[tuple[str, str, str, str, bool]] = field(default_factory=set)
    implies: set[tuple[str, str]] = field(default_factory=set)  # (prior, implied)

    def above(self, project: str) -> list[str]:
        """Every strict ancestor of a project, its domain included."""
        found = []
        node = project
        while node in self.parent:
            node = self.parent[node]
            found.append(node)
        return found

    def domain_of(self, node: str) -> str:
        return node if node in self.domains else self.above(node)[-1]

    def reaches(self, user: str, kind: str, actor: str) -> bool:
        return actor == user if kind == "user" else user in self.members.get(actor, set())

    def applies(self, target: str, on: str, inherited: bool) -> bool:
        """Does a grant on ``on`` (inherited or not) apply to ``target``?"""
        if not inherited:
            return on == target
        return target not in self.domains and on in self.above(target)

    def granted(self, user: str, target: str) -> set[str]:
        return {role for kind, actor, on, role, inherited in self.grants
                if self.reaches(user, kind, actor) and self.applies(target, on, inherited)}

    def effective(self, user: str, target: str) -> set[str]:
        roles = self.granted(user, target)
        while True:
            more = {b for a, b in self.implies if a in roles} - roles
            if not more:
                return roles
            roles |= more

    def targets(self) -> list[str]:
        return sorted(self.domains) + sorted(self.parent)


def valid_chain(model: Model, user: str, target: str, role: str, d: Derivation) -> bool:
    """Is ``d`` a true account, in the model, of how ``user`` holds ``role`` on ``target``?"""
    a = d.assignment
    grant = (a.actor_kind.value, a.actor_id, a.target_id, a.role_id, a.inherited)
    on_domain = a.target_id in model.domains
    path = (*d.implied_by, role)
    return (
        grant in model.grants
        and (a.target_kind is TargetKind.DOMAIN) == on_domain
        and model.reaches(user, *grant[:2])
        and d.via_group == (a.actor_id if a.actor_kind is ActorKind.GROUP else None)
        and model.applies(target, a.target_id, a.inherited)
        and d.inherited_from == (a.target_id if a.inherited else None)
        and path[0] == a.role_id
        and all(step in model.implies for step in pairwise(path))
    )


# -- random worlds -------------------------------------------------------------------------
@dataclass
class World:
    domains: int
    parents: list[int]  # per project: an earlier project, or -1 - domain index
    users: int
    groups: int
    members: set[tuple[int, int]]  # (user, group)
    roles: int
    implies: set[tuple[int, int]]  # (prior, implied), prior < implied: never a cycle
    grants: list[tuple[bool, int, bool, int, int, bool]]
    # (to a group?, actor, on a domain?, target, role, inherited)
    moves: list[tuple[int, int]]  # (project, new parent: a project, or -1 - domain index)


@st.composite
def worlds(draw: st.DrawFn, moves: bool = False) -> World:
    domains = draw(st.integers(1, 2))
    parents: list[int] = []
    for i in range(draw(st.integers(0 if not moves else 1, MAX_PROJECTS))):
        parents.append(draw(st.integers(-domains, i - 1)))
    users, groups, roles = draw(st.integers(1, 3)), draw(st.integers(0, 3)), draw(st.integers(3, 6))
    # One coin per pair, so that dense memberships and long implication chains are common.
    members = {(u, g) for u in range(users) for g in range(groups) if draw(st.booleans())}
    implies = {(i, j) for j in range(roles) for i in range(j) if draw(st.booleans())}
    target = (st.tuples(st.just(True), st.integers(0, domains - 1)) if not parents else
              st.one_of(st.tuples(st.just(True), st.integers(0, domains - 1)),
                        st.tuples(st.just(False), st.integers(0, len(parents) - 1))))
    actor = (st.tuples(st.just(False), st.integers(0, users - 1)) if not groups else
             st.one_of(st.tuples(st.just(False), st.integers(0, users - 1)),
                       st.tuples(st.just(True), st.integers(0, groups - 1))))
    grant = st.tuples(actor, target, st.integers(0, roles - 1), st.booleans()).map(
        lambda g: (*g[0], *g[1], g[2], g[3]))
    grants = [draw(grant) for _ in range(draw(st.integers(1, 15)))]
    move = st.tuples(st.integers(0, max(len(parents) - 1, 0)),
                     st.integers(-domains, max(len(parents) - 1, 0)))
    chosen = [draw(move) for _ in range(draw(st.integers(1, 4)))] if moves else []
    return World(domains, parents, users, groups, members, roles, implies, grants, chosen)


# -- sevres, in-process ----------------------------------------------------------------------
@dataclass
class Env:
    backend: str
    services: Services

    def empty(self) -> None:
        with self.services.database.engine.begin() as connection:
            for table in reversed(metadata.sorted_tables):
                connection.execute(table.delete())


@pytest.fixture(scope="module")
def env(backend_name: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    state = tmp_path_factory.mktemp(f"effective-{backend_name}")
    backend = backends.create(backend_name, state)
    settings_ = config.load({"SEVRES_STATE_DIR": str(state), "SEVRES_DATABASE_URL": backend.url,
                             "SEVRES_MAX_PROJECT_TREE_DEPTH": "100"})
    keyring.create_master_key_file(settings_.master_key_file)
    database = Database(settings_.database_url, pool_size=2)
    try:
        migrate.upgrade(database.engine)
        with database.transaction() as tx:  # build_services needs a master key and keys
            keyring.ensure(tx, keyring.Wrapper(keyring.read_master_key(
                None, settings_.master_key_file)), utcnow())
        yield Env(backend_name, build_services(settings_, database))
    finally:
        database.dispose()
        backend.drop()


@dataclass
class Built:
    model: Model
    domains: list[str]
    projects: list[str]
    users: list[str]


def build(env: Env, world: World) -> Built:
    """Create the world in sevres, one transaction per operation, and in the model."""
    s, db, model = env.services, env.services.database, Model()
    env.empty()
    domains: list[str] = []
    for i in range(world.domains):
        with db.transaction() as tx:
            domains.append(s.resources.create_domain(tx, {"name": f"d{i}"}).id)
    model.domains = set(domains)
    projects: list[str] = []
    for i, parent in enumerate(world.parents):
        parent_id = domains[-1 - parent] if parent < 0 else projects[parent]
        with db.transaction() as tx:
            project = s.resources.create_project(
                tx, {"name": f"p{i}", "parent_id": parent_id}, domains[0])
        projects.append(project.id)
        model.parent[project.id] = parent_id
    users, groups, roles = [], [], []
    for i in range(world.users):
        with db.transaction() as tx:
            users.append(s.identity.create_user(tx, {"name": f"u{i}"}, domains[0]).id)
    for i in range(world.groups):
        with db.transaction() as tx:
            groups.append(s.groups.create_group(tx, {"name": f"g{i}"}, domains[-1]).id)
        model.members[groups[-1]] = set()
    for i in range(world.roles):
        with db.transaction() as tx:
            roles.append(s.assignments.create_role(tx, {"name": f"r{i}"}).id)
    for u, g in world.members:
        with db.transaction() as tx:
            s.groups.add_member(tx, groups[g], users[u])
        model.members[groups[g]].add(users[u])
    for prior, implied in world.implies:
        with db.transaction() as tx:
            s.assignments.add_implication(tx, roles[prior], roles[implied])
        model.implies.add((roles[prior], roles[implied]))
    for to_group, actor, on_domain, target, role, inherited in world.grants:
        actor_id = groups[actor] if to_group else users[actor]
        target_id = domains[target] if on_domain else projects[target]
        with db.transaction() as tx:
            assignment = s.assignments.make_grant(
                tx, ActorKind.GROUP if to_group else ActorKind.USER, actor_id,
                TargetKind.DOMAIN if on_domain else TargetKind.PROJECT, target_id,
                roles[role], inherited)
            s.assignments.grant(tx, assignment)
        model.grants.add(("group" if to_group else "user", actor_id, target_id, roles[role],
                          inherited))
    return Built(model, domains, projects, users)


def check(env: Env, built: Built) -> None:
    """sevres and the model agree on every user and every project and domain: the roles,
    the ``effective`` listing, the projects/domains a user may scope to, and explain."""
    s, model = env.services, built.model
    for user in built.users:
        with s.database.transaction(write=False) as tx:
            expected: set[tuple[str, str]] = set()
            for target in model.targets():
                project = s.resources.get_project(tx, target)
                assert project.parent_id == model.parent.get(target), target
                roles = model.effective(user, target)
                expected |= {(target, role) for role in roles}
                if target in model.domains:
                    got = s.assignments.effective_role_ids_on_domain(tx, user, target)
                else:
                    got = s.assignments.effective_role_ids_on_project(tx, user, target)
                assert got == roles, (user, target)
                explained = s.assignments.explain(tx, user, project)
                assert {e.role_id for e in explained} == roles, (user, target)
                for e in explained:
                    assert valid_chain(model, user, target, e.role_id, e.derivation), e
            listed = s.assignments.list_assignments(tx, {"effective": "", "user.id": user}, True)
            assert {(a.target_id, a.role_id) for a, _ in listed} == expected, user
            for a, derivation in listed:
                assert a.actor_kind is ActorKind.USER and a.actor_id == user
                assert (a.target_kind is TargetKind.DOMAIN) == (a.target_id in model.domains)
                assert derivation is not None
                assert valid_chain(model, user, a.target_id, a.role_id, derivation), a
            on = {target for target, _ in expected}
            assert set(s.assignments.projects_of_user(tx, user)) == on - model.domains
            assert set(s.assignments.domains_of_user(tx, user)) == on & model.domains


def move(env: Env, built: Built, project_index: int, parent: int) -> None:
    """Ask sevres to move a project; a legal move must succeed and change the model, a
    cycle or a move into another domain must be refused and change nothing."""
    model = built.model
    project = built.projects[project_index]
    new_parent = built.domains[(-1 - parent) % len(built.domains)] if parent < 0 else \
        built.projects[parent]
    legal = (model.domain_of(new_parent) == model.domain_of(project)
             and new_parent != project and project not in model.above(new_parent))
    event("move: " + ("legal" if legal else "cycle" if model.domain_of(new_parent) ==
                      model.domain_of(project) else "to another domain"))
    if legal:
        with env.services.database.transaction() as tx:
            env.services.resources.update_project(tx, project, {"parent_id": new_parent})
        model.parent[project] = new_parent
    else:
        with pytest.raises(errors.ValidationError), env.services.database.transaction() as tx:
            env.services.resources.update_project(tx, project, {"parent_id": new_parent})


def run(env: Env, test: Any, strategy: st.SearchStrategy[World], examples: int) -> None:
    wrapped = settings(max_examples=examples, deadline=None, database=None,
                       suppress_health_check=[HealthCheck.too_slow])(given(strategy)(test))
    wrapped()


# -- the properties --------------------------------------------------------------------------
def test_effective_roles_match_the_reference_model(env: Env) -> None:
    """For random projects, groups, grants and implications, the roles sevres resolves for
    every (user, project) and (user, domain), its ``effective`` assignment listing, and
    the projects and domains a user can scope to all equal the naive model's; explain
    gives every effective role at least one chain, and only chains the model accepts."""

    def example(world: World) -> None:
        check(env, build(env, world))

    run(env, example, worlds(), EXAMPLES.get(env.backend, SERVER_EXAMPLES))


def test_moves_keep_effective_roles_matching_the_reference_model(env: Env) -> None:
    """After each of a random sequence of project moves sevres still agrees with the model:
    legal moves (same domain, not under itself or its subtree) take inherited roles along
    with the subtree at once; cycles and moves to another domain are refused (400) and
    change nothing."""

    def example(world: World) -> None:
        built = build(env, world)
        for project_index, parent in world.moves:
            move(env, built, project_index, parent)
            check(env, built)

    run(env, example, worlds(moves=True),
        MOVE_EXAMPLES.get(env.backend, SERVER_MOVE_EXAMPLES))


def test_the_model_sees_inherited_grants_only_below_their_target() -> None:
    """The reference model itself follows the documented rules on a fixed example."""
    model = Model(domains={"d"}, parent={"a": "d", "b": "a"},
                  grants={("user", "u", "a", "r1", True), ("user", "u", "d", "r2", True),
                          ("user", "u", "d", "r3", False)},
                  implies={("r1", "r4"), ("r4", "r5")})
    assert model.effective("u", "a") == {"r2"}
    assert model.effective("u", "b") == {"r1", "r2", "r4", "r5"}
    assert model.effective("u", "d") == {"r3"}
