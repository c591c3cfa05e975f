"""Explain a user's effective roles on a project, a domain or the system: for each role,
every chain that grants it — direct, through which group, inherited from which ancestor
or domain, implied by which roles. Shared by ``GET /v3/sevres/explain`` and
``sevres explain``, so the API and the command always tell the same story.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sevres.assignment.effective import EffectiveRole
from sevres.assignment.models import grant_path
from sevres.assignment.service import AssignmentService
from sevres.identity.models import User
from sevres.resource.models import Project
from sevres.storage.repositories import Store

Namer = Callable[[str], str]


@dataclass(frozen=True)
class Explanation:
    user: User
    target: Project | None  # None: the system
    roles: dict[str, list[EffectiveRole]]  # role id -> every way it is held


def explain(
    assignments: AssignmentService, tx: Store, user: User, target: Project | None
) -> Explanation:
    by_role: dict[str, list[EffectiveRole]] = {}
    for held in assignments.explain(tx, user.id, target):
        by_role.setdefault(held.role_id, []).append(held)
    for ways in by_role.values():
        ways.sort(key=lambda e: (e.derivation.inherited_from is not None,
                                 e.derivation.via_group is not None,
                                 len(e.derivation.implied_by)))
    return Explanation(user, target, by_role)


def describe(held: EffectiveRole, role_name: Namer, group_name: Namer,
             project_name: Namer) -> str:
    """One chain in words: 'implied by admin; granted to group ops, of which the user is a
    member; inherited from project top'."""
    d = held.derivation
    parts = []
    if d.implied_by:
        parts.append("implied by " + " <- ".join(role_name(r) for r in reversed(d.implied_by)))
    granted = role_name(d.assignment.role_id)
    if d.via_group:
        parts.append(f"{granted} granted to group {group_name(d.via_group)}, of which the user "
                     "is a member")
    else:
        parts.append(f"{granted} granted to the user")
    if d.inherited_from:
        parts.append(f"inherited from {project_name(d.inherited_from)}")
    elif held.target_kind.value == "system":
        parts.append("on the system")
    else:
        parts.append(f"directly on the {held.target_kind.value}")
    return "; ".join(parts)


def as_document(
    explanation: Explanation, tx: Store, link: Callable[[str], str]
) -> dict[str, Any]:
    """The API body: roles sorted by name, each with its chains in the simplest-first order."""
    roles = tx.roles.all()
    cache: dict[tuple[str, str], Any] = {}

    def role_name(role_id: str) -> str:
        role = roles.get(role_id)
        return role.name if role else role_id

    def group_name(group_id: str) -> str:
        if ("group", group_id) not in cache:
            group = tx.groups.get(group_id)
            cache["group", group_id] = group.name if group else group_id
        return str(cache["group", group_id])

    def project(project_id: str) -> Project | None:
        if ("project", project_id) not in cache:
            cache["project", project_id] = tx.projects.get(project_id)
        found: Project | None = cache["project", project_id]
        return found

    def project_name(project_id: str) -> str:
        found = project(project_id)
        if found is None:
            return project_id
        return f"{'domain' if found.is_domain else 'project'} {found.name}"

    def ref(project_id: str) -> dict[str, Any]:
        found = project(project_id)
        kind = "domain" if found is not None and found.is_domain else "project"
        return {kind: {"id": project_id, "name": found.name if found else None}}

    entries = []
    for role_id, ways in sorted(explanation.roles.items(), key=lambda kv: role_name(kv[0])):
        chains = []
        for held in ways:
            d = held.derivation
            chains.append({
                "assignment": link(grant_path(d.assignment)),
                "via_group": ({"id": d.via_group, "name": group_name(d.via_group)}
                              if d.via_group else None),
                "inherited_from": ref(d.inherited_from) if d.inherited_from else None,
                "implied_by": [{"id": r, "name": role_name(r)} for r in d.implied_by],
                "text": describe(held, role_name, group_name, project_name),
            })
        entries.append({"id": role_id, "name": role_name(role_id), "granted_by": chains})
    target = explanation.target
    if target is None:
        scope: dict[str, Any] = {"system": {"all": True}}
    elif target.is_domain:
        scope = {"domain": {"id": target.id, "name": target.name}}
    else:
        scope = {"project": {"id": target.id, "name": target.name,
                             "domain": {"id": target.domain_id}}}
    user = explanation.user
    return {"explanation": {
        "user": {"id": user.id, "name": user.name, "domain": {"id": user.domain_id}},
        "scope": scope,
        "roles": entries,
    }}
