"""/v3/groups, group membership, and a user's groups."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.responses import Response
from starlette.routing import Route

from sevres.api import paging, schemas, targets, validation, views
from sevres.api.http import Call, created, json_response, no_content, route_table
from sevres.api.resources import _default_domain
from sevres.log import emit, events

if TYPE_CHECKING:
    from sevres.app import Services


def list_groups(call: Call) -> Response:
    found = call.services.groups.list_groups(call.tx, call.query)
    scope = targets.scope_domain(call)
    if scope is not None:  # Keystone: a domain-scoped token lists its domain's only
        found = [g for g in found if g.domain_id == scope]
    return paging.collection(
        call, "groups", "groups", (views.group(call.base_url, g) for g in found))


def create_group(call: Call) -> Response:
    attrs = validation.wrapped(call.body, "group", schemas.GROUP_CREATE)
    g = call.services.groups.create_group(call.tx, attrs, _default_domain(call))
    emit(events.ENTITY_CREATED, kind="group", entity_id=g.id)
    return created({"group": views.group(call.base_url, g)}, call.url(f"groups/{g.id}"))


def get_group(call: Call) -> Response:
    g = call.services.groups.get_group(call.tx, call.params["group_id"])
    return json_response({"group": views.group(call.base_url, g)})


def update_group(call: Call) -> Response:
    attrs = validation.wrapped(call.body, "group", schemas.GROUP_UPDATE)
    g = call.services.groups.update_group(call.tx, call.params["group_id"], attrs)
    emit(events.ENTITY_UPDATED, kind="group", entity_id=g.id)
    return json_response({"group": views.group(call.base_url, g)})


def delete_group(call: Call) -> Response:
    call.services.groups.delete_group(call.tx, call.params["group_id"])
    emit(events.ENTITY_DELETED, kind="group", entity_id=call.params["group_id"])
    return no_content()


def list_members(call: Call) -> Response:
    group_id = call.params["group_id"]
    found = call.services.identity.as_shown(call.tx, call.services.groups.members(call.tx,
                                                                                group_id))
    return paging.collection(
        call, f"groups/{group_id}/users", "users",
        (views.user(call.base_url, u) for u in found))


def add_member(call: Call) -> Response:
    call.services.groups.add_member(call.tx, call.params["group_id"], call.params["user_id"])
    emit(events.MEMBERSHIP_ADDED, user_id=call.params["user_id"],
         group_id=call.params["group_id"])
    return no_content()


def check_member(call: Call) -> Response:
    call.services.groups.check_member(call.tx, call.params["group_id"], call.params["user_id"])
    return no_content()


def remove_member(call: Call) -> Response:
    call.services.groups.remove_member(call.tx, call.params["group_id"], call.params["user_id"])
    emit(events.MEMBERSHIP_REMOVED, user_id=call.params["user_id"],
         group_id=call.params["group_id"])
    return no_content()


def groups_of_user(call: Call) -> Response:
    user_id = call.params["user_id"]
    found = call.services.groups.groups_of(call.tx, user_id)
    return paging.collection(
        call, f"users/{user_id}/groups", "groups",
        # Keystone adds membership_expires_at (set for federated memberships only).
        ({**views.group(call.base_url, g), "membership_expires_at": None} for g in found))


def routes(s: Services) -> list[Route]:
    member = "/v3/groups/{group_id}/users/{user_id}"
    return route_table(s, [
        ("GET", "/v3/groups", list_groups, "identity:list_groups"),
        ("POST", "/v3/groups", create_group, "identity:create_group"),
        ("GET", "/v3/groups/{group_id}", get_group, "identity:get_group"),
        ("PATCH", "/v3/groups/{group_id}", update_group, "identity:update_group"),
        ("DELETE", "/v3/groups/{group_id}", delete_group, "identity:delete_group"),
        ("GET", "/v3/groups/{group_id}/users", list_members, "identity:list_users_in_group"),
        ("PUT", member, add_member, "identity:add_user_to_group"),
        ("GET", member, check_member, "identity:check_user_in_group"),
        ("DELETE", member, remove_member, "identity:remove_user_from_group"),
        ("GET", "/v3/users/{user_id}/groups", groups_of_user, "identity:list_groups_for_user"),
    ])
