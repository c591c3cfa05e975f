"""Effective roles, and the chain that grants each one.

A user holds a role on a project when some stored assignment reaches it:

1. *direct*: granted to the user, or to a group the user is in, on the project itself
   (not inherited);
2. *inherited*: granted (to the user or one of their groups) with ``inherited`` on an
   ancestor of the project or on its domain — an inherited grant applies to the whole
   subtree below its target, never to the target itself;
3. *implied*: implied, transitively, by a role held through 1 or 2.

On a domain only direct grants on the domain count (closed under implication); on the
system, only system grants. The work is a fixed number of queries — the user's groups,
the grants on the project and its ancestors (read from the materialised ancestry, not one
query per level), the implication graph — and O(depth + grants) in memory.

Every result carries its :class:`Derivation`, so the same code answers tokens, the
``effective`` listing of role assignments, and ``explain``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sevres.assignment.models import SYSTEM_TARGET, ActorKind, Assignment, TargetKind
from sevres.resource.models import Project
from sevres.storage.repositories import Store

Implications = Mapping[str, list[str]]
Grant = tuple[Assignment, str | None, str | None]  # (grant, via group, inherited from)


@dataclass(frozen=True)
class Derivation:
    """How one role reaches one user on one target."""

    assignment: Assignment  # the stored grant it starts from
    via_group: str | None  # the group the user is a member of, when granted to a group
    inherited_from: str | None  # the ancestor project or domain the grant is inherited from
    implied_by: tuple[str, ...]  # role ids from the granted role down to this one's prior


@dataclass(frozen=True)
class EffectiveRole:
    user_id: str
    target_kind: TargetKind
    target_id: str
    role_id: str
    derivation: Derivation

    def as_assignment(self) -> Assignment:
        """The user assignment this amounts to, as listed by ``effective`` (an entry that
        comes from an inherited grant keeps ``OS-INHERIT:inherited_to``, as in Keystone)."""
        return Assignment(ActorKind.USER, self.user_id, self.target_kind, self.target_id,
                          self.role_id, self.derivation.inherited_from is not None)


def implication_graph(tx: Store) -> dict[str, list[str]]:
    graph: dict[str, list[str]] = {}
    for prior, implied in tx.roles.implications():
        graph.setdefault(prior, []).append(implied)
    return graph


def expand_implied(role_id: str, graph: Implications) -> list[tuple[str, tuple[str, ...]]]:
    """``role_id`` and every role it implies, each with the chain of priors leading to it
    (shortest chain first, breadth first; each role once)."""
    found: list[tuple[str, tuple[str, ...]]] = []
    seen: set[str] = set()
    queue: deque[tuple[str, tuple[str, ...]]] = deque([(role_id, ())])
    while queue:
        current, chain = queue.popleft()
        if current in seen:
            continue
        seen.add(current)
        found.append((current, chain))
        for implied in graph.get(current, ()):
            queue.append((implied, (*chain, current)))
    return found


def _actors(tx: Store, user_id: str) -> tuple[list[str], dict[str, str | None]]:
    """The user and their groups; maps each actor id to the group it stands for."""
    groups = tx.groups.group_ids_of(user_id)
    via: dict[str, str | None] = {user_id: None, **{g: g for g in groups}}
    return [user_id, *groups], via


def _expand(
    user_id: str, kind: TargetKind, target_id: str,
    grants: Iterable[Grant], graph: Implications,
) -> list[EffectiveRole]:
    found: dict[str, EffectiveRole] = {}
    # Direct grants first, so a role held several ways is explained by its simplest path.
    ordered = sorted(grants, key=lambda g: (g[2] is not None, g[1] is not None))
    for assignment, via_group, inherited_from in ordered:
        for role_id, chain in expand_implied(assignment.role_id, graph):
            derivation = Derivation(assignment, via_group, inherited_from, chain)
            candidate = EffectiveRole(user_id, kind, target_id, role_id, derivation)
            current = found.get(role_id)
            if current is None or len(chain) < len(current.derivation.implied_by):
                found[role_id] = candidate
    return list(found.values())


def all_derivations(
    user_id: str, kind: TargetKind, target_id: str,
    grants: Iterable[Grant], graph: Implications,
) -> list[EffectiveRole]:
    """Every way each role is held (explain shows them all), not only the simplest."""
    out: list[EffectiveRole] = []
    seen: set[tuple[str, Derivation]] = set()
    for assignment, via_group, inherited_from in grants:
        for role_id, chain in expand_implied(assignment.role_id, graph):
            derivation = Derivation(assignment, via_group, inherited_from, chain)
            if (role_id, derivation) not in seen:
                seen.add((role_id, derivation))
                out.append(EffectiveRole(user_id, kind, target_id, role_id, derivation))
    return out


def grants_on_project(
    tx: Store, user_id: str, project: Project
) -> list[Grant]:
    """The stored grants that reach ``user_id`` on ``project``, with (via group,
    inherited from) for each."""
    actors, via = _actors(tx, user_id)
    rows = tx.assignments.find(actor_ids=actors, target_ids=[project.id, *project.ancestry])
    above = set(project.ancestry)
    reaching: list[Grant] = []
    for a in rows:
        if a.target_kind is TargetKind.SYSTEM:
            continue
        if a.target_id == project.id and not a.inherited:
            reaching.append((a, via[a.actor_id], None))
        elif a.target_id in above and a.inherited:
            reaching.append((a, via[a.actor_id], a.target_id))
    return reaching


def grants_on_domain(
    tx: Store, user_id: str, domain_id: str
) -> list[Grant]:
    actors, via = _actors(tx, user_id)
    rows = tx.assignments.find(actor_ids=actors, target_ids=[domain_id], inherited=False)
    return [(a, via[a.actor_id], None) for a in rows if a.target_kind is TargetKind.DOMAIN]


def grants_on_system(
    tx: Store, user_id: str
) -> list[Grant]:
    actors, via = _actors(tx, user_id)
    rows = tx.assignments.find(actor_ids=actors, target_ids=[SYSTEM_TARGET],
                               types=["UserSystem", "GroupSystem"])
    return [(a, via[a.actor_id], None) for a in rows]


def on_project(tx: Store, user_id: str, project: Project) -> list[EffectiveRole]:
    return _expand(user_id, TargetKind.PROJECT, project.id,
                   grants_on_project(tx, user_id, project), implication_graph(tx))


def on_domain(tx: Store, user_id: str, domain_id: str) -> list[EffectiveRole]:
    return _expand(user_id, TargetKind.DOMAIN, domain_id,
                   grants_on_domain(tx, user_id, domain_id), implication_graph(tx))


def on_system(tx: Store, user_id: str) -> list[EffectiveRole]:
    return _expand(user_id, TargetKind.SYSTEM, SYSTEM_TARGET,
                   grants_on_system(tx, user_id), implication_graph(tx))


def expand_listing(
    tx: Store, rows: Iterable[Assignment], graph: Implications
) -> list[EffectiveRole]:
    """Keystone's ``effective`` listing: each stored grant turned into what users really
    hold — group grants into one entry per member, inherited grants into one per project
    below the target, implied roles added; system grants are left out, as Keystone does.
    As in Keystone, a role held through several grants is listed once per grant (and per
    group), so that each entry's links name the grant behind it."""
    out: dict[tuple[str, str, str, str, Assignment, str | None], EffectiveRole] = {}
    members: dict[str, list[str]] = {}
    for a in rows:
        if a.target_kind is TargetKind.SYSTEM:
            continue
        users: list[tuple[str, str | None]]
        targets: list[tuple[TargetKind, str, str | None]]
        if a.actor_kind is ActorKind.GROUP:
            if a.actor_id not in members:
                members[a.actor_id] = tx.groups.member_ids(a.actor_id)
            users = [(u, a.actor_id) for u in members[a.actor_id]]
        else:
            users = [(a.actor_id, None)]
        if a.inherited:
            root = tx.projects.get(a.target_id)
            if root is None:
                continue
            below = tx.projects.descendants(root)
            targets = [(TargetKind.PROJECT, p.id, a.target_id) for p in below if not p.is_domain]
        else:
            targets = [(a.target_kind, a.target_id, None)]
        for user_id, via_group in users:
            for kind, target_id, inherited_from in targets:
                for role_id, chain in expand_implied(a.role_id, graph):
                    key = (user_id, kind.value, target_id, role_id, a, via_group)
                    if key not in out:
                        out[key] = EffectiveRole(
                            user_id, kind, target_id, role_id,
                            Derivation(a, via_group, inherited_from, chain))
    return list(out.values())
