"""/v3/roles, implied roles and role inferences."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.responses import Response
from starlette.routing import Route

from sevres.api import paging, schemas, validation, views
from sevres.api.http import Call, created, json_response, no_content, route_table
from sevres.assignment.models import Role
from sevres.log import emit, events

if TYPE_CHECKING:
    from sevres.app import Services


def list_roles(call: Call) -> Response:
    found = call.services.assignments.list_roles(call.tx, call.query)
    return paging.collection(
        call, "roles", "roles", (views.role(call.base_url, r) for r in found))


def create_role(call: Call) -> Response:
    attrs = validation.wrapped(call.body, "role", schemas.ROLE_CREATE)
    r = call.services.assignments.create_role(call.tx, attrs)
    emit(events.ENTITY_CREATED, kind="role", entity_id=r.id)
    return created({"role": views.role(call.base_url, r)}, call.url(f"roles/{r.id}"))


def get_role(call: Call) -> Response:
    r = call.services.assignments.get_role(call.tx, call.params["role_id"])
    return json_response({"role": views.role(call.base_url, r)})


def update_role(call: Call) -> Response:
    attrs = validation.wrapped(call.body, "role", schemas.ROLE_UPDATE)
    r = call.services.assignments.update_role(call.tx, call.params["role_id"], attrs)
    emit(events.ENTITY_UPDATED, kind="role", entity_id=r.id)
    return json_response({"role": views.role(call.base_url, r)})


def delete_role(call: Call) -> Response:
    call.services.assignments.delete_role(call.tx, call.params["role_id"])
    emit(events.ENTITY_DELETED, kind="role", entity_id=call.params["role_id"])
    return no_content()


def _inference(call: Call, prior: Role, implied: list[Role]) -> dict[str, Any]:
    return {"prior_role": views.role_ref(call.base_url, prior),
            "implies": [views.role_ref(call.base_url, r) for r in implied]}


def _implication_body(call: Call, prior: Role, implied: Role) -> dict[str, Any]:
    link = call.url(f"roles/{prior.id}/implies/{implied.id}")
    return {"role_inference": {"prior_role": views.role_ref(call.base_url, prior),
                               "implies": views.role_ref(call.base_url, implied)},
            "links": {"self": link}}


def put_implication(call: Call) -> Response:
    prior, implied = call.services.assignments.add_implication(
        call.tx, call.params["prior_role_id"], call.params["implied_role_id"])
    emit(events.IMPLICATION_ADDED, prior_role_id=prior.id, implied_role_id=implied.id)
    body = _implication_body(call, prior, implied)
    return created(body, body["links"]["self"])


def get_implication(call: Call) -> Response:
    prior, implied = call.services.assignments.get_implication(
        call.tx, call.params["prior_role_id"], call.params["implied_role_id"])
    if call.request.method == "HEAD":
        return no_content()
    return json_response(_implication_body(call, prior, implied))


def delete_implication(call: Call) -> Response:
    call.services.assignments.remove_implication(
        call.tx, call.params["prior_role_id"], call.params["implied_role_id"])
    emit(events.IMPLICATION_REMOVED, prior_role_id=call.params["prior_role_id"],
         implied_role_id=call.params["implied_role_id"])
    return no_content()


def list_implications(call: Call) -> Response:
    service = call.services.assignments
    prior = service.get_role(call.tx, call.params["prior_role_id"])
    implied_ids = [i for p, i in service.implications(call.tx) if p == prior.id]
    return json_response({
        "role_inference": _inference(call, prior, service.roles_by_ids(call.tx, implied_ids)),
        "links": {"self": call.url(f"roles/{prior.id}/implies")},
    })


def list_inferences(call: Call) -> Response:
    service = call.services.assignments
    pairs = service.implications(call.tx)
    by_prior: dict[str, list[str]] = {}
    for prior_id, implied_id in pairs:
        by_prior.setdefault(prior_id, []).append(implied_id)
    roles = {r.id: r for r in service.roles_by_ids(call.tx, {i for pair in pairs for i in pair})}
    inferences = [
        _inference(call, roles[p], [roles[i] for i in sorted(ids) if i in roles])
        for p, ids in sorted(by_prior.items()) if p in roles
    ]
    return json_response({"role_inferences": inferences})  # Keystone: no links here


def routes(s: Services) -> list[Route]:
    implies = "/v3/roles/{prior_role_id}/implies/{implied_role_id}"
    return route_table(s, [
        ("GET", "/v3/roles", list_roles, "identity:list_roles"),
        ("POST", "/v3/roles", create_role, "identity:create_role"),
        ("GET", "/v3/roles/{role_id}", get_role, "identity:get_role"),
        ("PATCH", "/v3/roles/{role_id}", update_role, "identity:update_role"),
        ("DELETE", "/v3/roles/{role_id}", delete_role, "identity:delete_role"),
        ("GET", "/v3/roles/{prior_role_id}/implies", list_implications,
         "identity:list_implied_roles"),
        ("PUT", implies, put_implication, "identity:create_implied_role"),
        ("GET", implies, get_implication, "identity:get_implied_role"),
        ("DELETE", implies, delete_implication, "identity:delete_implied_role"),
        ("GET", "/v3/role_inferences", list_inferences, "identity:list_role_inference_rules"),
    ])
