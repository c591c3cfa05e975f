"""/v3/users/{user_id}/application_credentials and /v3/users/{user_id}/access_rules.

Reading or deleting one credential is judged on its owner, not on the user the URL names
(Keystone closes the same hole: a caller naming themselves in the URL must not reach
another user's credential by its id); a credential under another user's URL is then 404.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from starlette.responses import Response
from starlette.routing import Route

from sevres import errors
from sevres.api import paging, schemas, targets, validation, views
from sevres.api.http import Call, created, json_response, no_content, route_table
from sevres.appcreds.models import AppCred
from sevres.log import emit, events

if TYPE_CHECKING:
    from sevres.app import Services

KIND = "application_credential"


def _render(call: Call, creds: Iterable[AppCred]) -> list[dict[str, Any]]:
    everything = call.tx.roles.all()
    return [views.app_cred(call.base_url, c,
                           [everything[r] for r in c.role_ids if r in everything])
            for c in creds]


def _authorize_on_owner(call: Call, action: str) -> None:
    """Policy with ``user_id`` the credential's owner when it exists (else the URL's)."""
    target = targets.target(call)
    owner = call.services.appcreds.owner_of(call.tx, call.params["application_credential_id"])
    if owner is not None:
        target["user_id"] = owner
    call.authorize(action, target)


def list_app_creds(call: Call) -> Response:
    user_id = call.params["user_id"]
    found = call.services.appcreds.list_for_user(call.tx, user_id, call.query)
    return paging.collection(
        call, f"users/{user_id}/application_credentials", "application_credentials",
        _render(call, found))


def create_app_cred(call: Call) -> Response:
    attrs = validation.wrapped(call.body, KIND, schemas.APPLICATION_CREDENTIAL_CREATE)
    token = call.token
    assert token is not None
    service = call.services.appcreds
    service.check_may_manage(call.tx, token.payload.app_cred_id)
    user_id = call.params["user_id"]
    if call.me.user_id != user_id:
        raise errors.forbidden_action("Cannot create an application credential for another "
                                      "user.")
    cred, secret = service.create(
        call.tx, user_id, token.project.id if token.project else None,
        {r.id for r in token.roles}, attrs)
    emit(events.ENTITY_CREATED, kind=KIND, entity_id=cred.id)
    body = {KIND: {**_render(call, [cred])[0], "secret": secret}}
    return created(body, call.url(f"users/{user_id}/application_credentials/{cred.id}"))


def get_app_cred(call: Call) -> Response:
    _authorize_on_owner(call, "identity:get_application_credential")
    cred = call.services.appcreds.get(call.tx, call.params["user_id"],
                                      call.params["application_credential_id"])
    return json_response({KIND: _render(call, [cred])[0]})


def delete_app_cred(call: Call) -> Response:
    _authorize_on_owner(call, "identity:delete_application_credential")
    assert call.token is not None
    service = call.services.appcreds
    service.check_may_manage(call.tx, call.token.payload.app_cred_id)
    app_cred_id = call.params["application_credential_id"]
    service.delete(call.tx, call.params["user_id"], app_cred_id)
    emit(events.ENTITY_DELETED, kind=KIND, entity_id=app_cred_id)
    return no_content()


def list_access_rules(call: Call) -> Response:
    user_id = call.params["user_id"]
    found = call.services.appcreds.list_access_rules(call.tx, user_id, call.query)
    return paging.collection(
        call, f"users/{user_id}/access_rules", "access_rules",
        (views.access_rule(call.base_url, a) for a in found))


def get_access_rule(call: Call) -> Response:
    rule = call.services.appcreds.get_access_rule(call.tx, call.params["user_id"],
                                                  call.params["access_rule_id"])
    return json_response({"access_rule": views.access_rule(call.base_url, rule)})


def delete_access_rule(call: Call) -> Response:
    rule_id = call.params["access_rule_id"]
    call.services.appcreds.delete_access_rule(call.tx, call.params["user_id"], rule_id)
    emit(events.ENTITY_DELETED, kind="access_rule", entity_id=rule_id)
    return no_content()


def routes(s: Services) -> list[Route]:
    creds = "/v3/users/{user_id}/application_credentials"
    one = creds + "/{application_credential_id}"
    rules = "/v3/users/{user_id}/access_rules"
    return route_table(s, [
        ("GET", creds, list_app_creds, "identity:list_application_credentials"),
        ("POST", creds, create_app_cred, "identity:create_application_credential"),
        ("GET", one, get_app_cred, None),  # authorized on the owner, in the handler
        ("DELETE", one, delete_app_cred, None),
        ("GET", rules, list_access_rules, "identity:list_access_rules"),
        ("GET", rules + "/{access_rule_id}", get_access_rule, "identity:get_access_rule"),
        ("DELETE", rules + "/{access_rule_id}", delete_access_rule,
         "identity:delete_access_rule"),
    ])
