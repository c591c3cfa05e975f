"""GET /v3/sevres/explain?user_id=U&(project_id=P|domain_id=D|system): each effective role
of a user with every chain that grants it (a sevres extension; Keystone has no such call)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.responses import Response
from starlette.routing import Route

from sevres import errors
from sevres.api.http import Call, json_response, route_table
from sevres.assignment import explain as explaining

if TYPE_CHECKING:
    from sevres.app import Services


def explain(call: Call) -> Response:
    user_id = call.query.get("user_id")
    if not user_id:
        raise errors.ValidationError("Invalid input for field 'user_id': it is required.")
    scopes = [k for k in ("project_id", "domain_id", "system") if k in call.query]
    if len(scopes) != 1:
        raise errors.ValidationError(
            "Invalid input for field 'scope': give exactly one of project_id, domain_id or "
            "system.")
    user = call.services.identity.get_user(call.tx, user_id)
    if "project_id" in call.query:
        target = call.services.resources.get_project(call.tx, call.query["project_id"])
    elif "domain_id" in call.query:
        target = call.services.resources.get_domain(call.tx, call.query["domain_id"])
    else:
        target = None
    result = explaining.explain(call.services.assignments, call.tx, user, target)
    return json_response(explaining.as_document(result, call.tx, call.url))


def routes(s: Services) -> list[Route]:
    return route_table(s, [("GET", "/v3/sevres/explain", explain, "sevres:explain")])
