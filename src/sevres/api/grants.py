"""Role grants on projects, domains and the system, and GET /v3/role_assignments."""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from starlette.responses import Response
from starlette.routing import Route

from sevres import errors
from sevres.api import paging, views
from sevres.api.http import Call, no_content, route_table
from sevres.api.targets import scope_domain
from sevres.assignment.models import SYSTEM_TARGET, ActorKind, Assignment, TargetKind
from sevres.log import emit, events
from sevres.storage.repositories.filters import flag

if TYPE_CHECKING:
    from sevres.app import Services

_TARGETS = {"projects": TargetKind.PROJECT, "domains": TargetKind.DOMAIN,
            "system": TargetKind.SYSTEM}
_ACTORS = {"users": ActorKind.USER, "groups": ActorKind.GROUP}


def _shape(call: Call) -> tuple[ActorKind, str, TargetKind, str, bool]:
    """Read a grant path: [OS-INHERIT/]{projects|domains}/{t}|system, {users|groups}/{a}."""
    parts = call.request.url.path.split("/")[2:]
    inherited = parts[0] == "OS-INHERIT"
    if inherited:
        parts = parts[1:]
    target_kind = _TARGETS[parts[0]]
    actors = parts[1] if target_kind is TargetKind.SYSTEM else parts[2]
    target_id = SYSTEM_TARGET if target_kind is TargetKind.SYSTEM else call.params["target_id"]
    return _ACTORS[actors], call.params["actor_id"], target_kind, target_id, inherited


def _grant(call: Call) -> Assignment:
    actor_kind, actor_id, target_kind, target_id, inherited = _shape(call)
    return call.services.assignments.make_grant(
        call.tx, actor_kind, actor_id, target_kind, target_id, call.params["role_id"],
        inherited)


def put_grant(call: Call) -> Response:
    grant = _grant(call)
    call.services.assignments.grant(call.tx, grant)
    emit(events.GRANT_ADDED, role_id=grant.role_id, actor_id=grant.actor_id,
         target_id=grant.target_id)
    return no_content()


def check_grant(call: Call) -> Response:
    call.services.assignments.check_grant(call.tx, _grant(call))
    return no_content()


def delete_grant(call: Call) -> Response:
    grant = _grant(call)
    call.services.assignments.revoke(call.tx, grant)
    emit(events.GRANT_REMOVED, role_id=grant.role_id, actor_id=grant.actor_id,
         target_id=grant.target_id)
    return no_content()


def list_grants(call: Call) -> Response:
    actor_kind, actor_id, target_kind, target_id, inherited = _shape(call)
    service = call.services.assignments
    if actor_kind is ActorKind.USER and call.tx.users.get(actor_id) is None:
        raise errors.not_found("user", actor_id)
    if actor_kind is ActorKind.GROUP and call.tx.groups.get(actor_id) is None:
        raise errors.not_found("group", actor_id)
    if target_kind is TargetKind.PROJECT:
        call.services.resources.get_project(call.tx, target_id)
    elif target_kind is TargetKind.DOMAIN:
        call.services.resources.get_domain(call.tx, target_id)
    roles = service.roles_granted(call.tx, actor_id, target_id, inherited)
    path = call.request.url.path.removeprefix("/v3/")
    return paging.collection(
        call, path, "roles", (views.role(call.base_url, r) for r in roles))


def list_assignments(call: Call) -> Response:
    effective = flag(call.query, "effective")
    include_names = flag(call.query, "include_names")
    found = call.services.assignments.list_assignments(call.tx, call.query, effective)
    scope = scope_domain(call)
    if scope is not None:  # Keystone: a domain-scoped token sees its domain's only
        found = [(a, d) for a, d in found if _in_domain(call, a, scope)]
    names = _namer(call) if include_names else None
    return paging.collection(
        call, "role_assignments", "role_assignments",
        (views.assignment(call.base_url, a, names, derivation) for a, derivation in found),
        order=assignment_key)


def assignment_key(entry: dict[str, Any]) -> str:
    """An assignment has no id: its marker is a digest of what tells it from any other
    entry (role, actor, scope, and the grant, membership and prior role behind it), names
    left out so that ``include_names`` does not change it, links without the base URL."""
    ids = {
        "role": entry["role"]["id"],
        "actor": entry.get("user", entry.get("group", {})).get("id"),
        "scope": {kind: value["id"] if isinstance(value, dict) and "id" in value else value
                  for kind, value in entry["scope"].items()},
        "links": {rel: url.split("/v3/", 1)[-1] for rel, url in entry["links"].items()},
    }
    return hashlib.sha256(json.dumps(ids, sort_keys=True).encode()).hexdigest()[:32]


def _in_domain(call: Call, a: Assignment, domain_id: str) -> bool:
    """Is the assignment on ``domain_id`` or on one of its projects?"""
    if a.target_kind is TargetKind.DOMAIN:
        return a.target_id == domain_id
    if a.target_kind is TargetKind.PROJECT:
        project = call.tx.projects.get(a.target_id)
        return project is not None and project.domain_id == domain_id
    return False


def _namer(call: Call) -> Any:
    tx = call.tx
    cache: dict[tuple[str, str], dict[str, Any]] = {}

    def domain_ref(domain_id: str | None) -> dict[str, Any]:
        domain = tx.projects.get(domain_id) if domain_id else None
        return {"id": domain_id, "name": domain.name if domain else None}

    def names(kind: str, ident: str) -> dict[str, Any]:
        key = (kind, ident)
        if key not in cache:
            if kind == "role":
                role = tx.roles.get(ident)
                entry: dict[str, Any] = {"name": role.name if role else None}
                if role is not None and role.domain_id:
                    entry["domain"] = domain_ref(role.domain_id)
            elif kind == "user":
                user = tx.users.get(ident)
                entry = {"name": user.name if user else None,
                         "domain": domain_ref(user.domain_id if user else None)}
            elif kind == "project":
                project = tx.projects.get(ident)
                entry = {"name": project.name if project else None,
                         "domain": domain_ref(project.domain_id if project else None)}
            elif kind == "group":
                group = tx.groups.get(ident)
                entry = {"name": group.name if group else None,
                         "domain": domain_ref(group.domain_id if group else None)}
            else:
                domain = tx.projects.get(ident)
                entry = {"name": domain.name if domain else None}
            cache[key] = entry
        return cache[key]

    return names


def routes(s: Services) -> list[Route]:
    rows: list[tuple[str, str, Any, str | None]] = []
    for actors in _ACTORS:
        for targets in ("projects", "domains"):
            grants = f"/v3/{targets}/{{target_id}}/{actors}/{{actor_id}}/roles"
            inherited = f"/v3/OS-INHERIT/{grants.removeprefix('/v3/')}"
            rows += [
                ("PUT", grants + "/{role_id}", put_grant, "identity:create_grant"),
                ("GET", grants + "/{role_id}", check_grant, "identity:check_grant"),
                ("DELETE", grants + "/{role_id}", delete_grant, "identity:revoke_grant"),
                ("GET", grants, list_grants, "identity:list_grants"),
                ("PUT", inherited + "/{role_id}/inherited_to_projects", put_grant,
                 "identity:create_grant"),
                ("GET", inherited + "/{role_id}/inherited_to_projects", check_grant,
                 "identity:check_grant"),
                ("DELETE", inherited + "/{role_id}/inherited_to_projects", delete_grant,
                 "identity:revoke_grant"),
            ]
            if targets == "domains":  # Keystone lists inherited grants on domains only
                rows.append(("GET", inherited + "/inherited_to_projects", list_grants,
                             "identity:list_grants"))
        actor = actors.removesuffix("s")
        system = f"/v3/system/{actors}/{{actor_id}}/roles"
        rows += [
            ("PUT", system + "/{role_id}", put_grant, f"identity:create_system_grant_for_{actor}"),
            ("GET", system + "/{role_id}", check_grant, f"identity:check_system_grant_for_{actor}"),
            ("DELETE", system + "/{role_id}", delete_grant,
             f"identity:revoke_system_grant_for_{actor}"),
            ("GET", system, list_grants, f"identity:list_system_grants_for_{actor}"),
        ]
    rows.append(("GET", "/v3/role_assignments", list_assignments,
                 "identity:list_role_assignments"))
    return route_table(s, rows)
