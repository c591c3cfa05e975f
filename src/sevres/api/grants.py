"""Role grants on projects, domains and the system, and GET /v3/role_assignments."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.responses import Response
from starlette.routing import Route

from sevres import errors
from sevres.api import views
from sevres.api.http import Call, json_response, no_content, route_table
from sevres.assignment.models import SYSTEM_TARGET, Assignment, TargetKind
from sevres.log import emit, events
from sevres.storage.repositories.filters import is_true

if TYPE_CHECKING:
    from sevres.app import Services

_KINDS = {"projects": TargetKind.PROJECT, "domains": TargetKind.DOMAIN}


def _grant(call: Call) -> Assignment:
    kind, target = _target(call)
    return call.services.assignments.make_grant(
        call.tx, call.params["user_id"], kind, target, call.params["role_id"])


def _target(call: Call) -> tuple[TargetKind, str]:
    if "target_id" in call.params:
        collection = call.request.url.path.split("/")[2]
        return _KINDS[collection], call.params["target_id"]
    return TargetKind.SYSTEM, SYSTEM_TARGET


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
    kind, target = _target(call)
    user_id = call.params["user_id"]
    service = call.services.assignments
    if call.tx.users.get(user_id) is None:
        raise errors.not_found("user", user_id)
    if kind is TargetKind.PROJECT:
        call.services.resources.get_project(call.tx, target)
    elif kind is TargetKind.DOMAIN:
        call.services.resources.get_domain(call.tx, target)
    roles = service.roles_granted(call.tx, user_id, target)
    path = call.request.url.path.removeprefix("/v3/")
    return json_response(views.collection(
        call.base_url, path, "roles", (views.role(call.base_url, r) for r in roles)))


def list_assignments(call: Call) -> Response:
    effective = "effective" in call.query and is_true(call.query["effective"] or "true")
    include_names = "include_names" in call.query and is_true(call.query["include_names"] or "true")
    found = call.services.assignments.list_assignments(call.tx, call.query, effective)
    names = _namer(call) if include_names else None
    return json_response(views.collection(
        call.base_url, "role_assignments", "role_assignments",
        (views.assignment(call.base_url, a, names) for a in found),
        str(call.request.query_params)))


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
            else:
                domain = tx.projects.get(ident)
                entry = {"name": domain.name if domain else None}
            cache[key] = entry
        return cache[key]

    return names


def routes(s: Services) -> list[Route]:
    rows: list[tuple[str, str, Any, str | None]] = []
    for collection in _KINDS:
        grants = f"/v3/{collection}/{{target_id}}/users/{{user_id}}/roles"
        rows += [
            ("PUT", grants + "/{role_id}", put_grant, "identity:create_grant"),
            ("GET", grants + "/{role_id}", check_grant, "identity:check_grant"),
            ("DELETE", grants + "/{role_id}", delete_grant, "identity:revoke_grant"),
            ("GET", grants, list_grants, "identity:list_grants"),
        ]
    system = "/v3/system/users/{user_id}/roles/{role_id}"
    return route_table(s, [
        *rows,
        ("PUT", system, put_grant, "identity:create_system_grant_for_user"),
        ("GET", system, check_grant, "identity:check_system_grant_for_user"),
        ("DELETE", system, delete_grant, "identity:revoke_system_grant_for_user"),
        ("GET", "/v3/system/users/{user_id}/roles", list_grants,
         "identity:list_system_grants_for_user"),
        ("GET", "/v3/role_assignments", list_assignments, "identity:list_role_assignments"),
    ])
