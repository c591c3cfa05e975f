"""/v3/users, the self-service password change, and a user's projects."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.responses import Response
from starlette.routing import Route

from sevres import errors
from sevres.api import paging, schemas, targets, validation, views
from sevres.api.http import Call, created, json_response, no_content, route_table
from sevres.api.resources import _default_domain
from sevres.identity.compliance import PasswordRejected
from sevres.log import emit, events

if TYPE_CHECKING:
    from sevres.app import Services


def list_users(call: Call) -> Response:
    found = call.services.identity.list_users(call.tx, call.query)
    scope = targets.scope_domain(call)
    if scope is not None:  # Keystone: a domain-scoped token lists its domain's only
        found = [u for u in found if u.domain_id == scope]
    return paging.collection(
        call, "users", "users", (views.user(call.base_url, u) for u in found))


def create_user(call: Call) -> Response:
    attrs = validation.wrapped(call.body, "user", schemas.USER_CREATE)
    u = call.services.identity.create_user(call.tx, attrs, _default_domain(call))
    emit(events.ENTITY_CREATED, kind="user", entity_id=u.id)
    return created({"user": views.user(call.base_url, u)}, call.url(f"users/{u.id}"))


def get_user(call: Call) -> Response:
    u = call.services.identity.get_user(call.tx, call.params["user_id"])
    return json_response({"user": views.user(call.base_url, u)})


def update_user(call: Call) -> Response:
    attrs = validation.wrapped(call.body, "user", schemas.USER_UPDATE)
    u = call.services.identity.update_user(call.tx, call.params["user_id"], attrs)
    emit(events.ENTITY_UPDATED, kind="user", entity_id=u.id)
    return json_response({"user": views.user(call.base_url, u)})


def delete_user(call: Call) -> Response:
    call.services.identity.delete_user(call.tx, call.params["user_id"])
    emit(events.ENTITY_DELETED, kind="user", entity_id=call.params["user_id"])
    return no_content()


def change_password(call: Call) -> Response:
    attrs = validation.wrapped(call.body, "user", schemas.PASSWORD_CHANGE)
    user_id = call.params["user_id"]
    try:
        call.services.identity.change_password(
            call.tx, user_id, attrs["original_password"], attrs["password"]
        )
    except (errors.Unauthorized, PasswordRejected) as error:
        # The rule that refused it (locked account, history...), else the usual reason.
        reason = getattr(error, "reason", "")
        if reason in ("", "invalid user or password"):
            reason = "wrong original password"
        emit(events.PASSWORD_CHANGE_FAILED, user_id=user_id, reason=reason)
        raise
    emit(events.PASSWORD_CHANGED, user_id=user_id)
    return no_content()


def list_user_projects(call: Call) -> Response:
    user_id = call.params["user_id"]
    call.services.identity.get_user(call.tx, user_id)
    ids = call.services.assignments.projects_of_user(call.tx, user_id)
    found = call.tx.projects.get_many(ids)
    return paging.collection(
        call, f"users/{user_id}/projects", "projects",
        (views.project(call.base_url, p) for p in sorted(found, key=lambda p: p.name)))


def routes(s: Services) -> list[Route]:
    return [
        *route_table(s, [
            ("GET", "/v3/users", list_users, "identity:list_users"),
            ("POST", "/v3/users", create_user, "identity:create_user"),
            ("GET", "/v3/users/{user_id}", get_user, "identity:get_user"),
            ("PATCH", "/v3/users/{user_id}", update_user, "identity:update_user"),
            ("DELETE", "/v3/users/{user_id}", delete_user, "identity:delete_user"),
            ("GET", "/v3/users/{user_id}/projects", list_user_projects,
             "identity:list_user_projects"),
        ]),
        *route_table(s, [
            ("POST", "/v3/users/{user_id}/password", change_password, None),
        ], authenticated=False),
    ]
