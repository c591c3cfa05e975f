"""/v3/domains and /v3/projects."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.responses import Response
from starlette.routing import Route

from sevres import errors
from sevres.api import paging, project_tags, schemas, targets, validation, views
from sevres.api.http import Call, created, json_response, no_content, route_table
from sevres.log import emit, events
from sevres.resource.models import DEFAULT_DOMAIN_ID

if TYPE_CHECKING:
    from sevres.app import Services


def _default_domain(call: Call) -> str:
    """Where a create without domain_id lands: the domain of the caller's scope."""
    token = call.token
    if token is not None and token.domain is not None:
        return token.domain.id
    return DEFAULT_DOMAIN_ID


# -- domains -------------------------------------------------------------------------------
def list_domains(call: Call) -> Response:
    found = call.services.resources.list_domains(call.tx, call.query)
    scope = targets.scope_domain(call)
    if scope is not None:  # Keystone: a domain-scoped token lists its own domain only
        found = [d for d in found if d.id == scope]
    return paging.collection(
        call, "domains", "domains", (views.domain(call.base_url, d) for d in found))


def create_domain(call: Call) -> Response:
    attrs = validation.wrapped(call.body, "domain", schemas.DOMAIN_CREATE)
    d = call.services.resources.create_domain(call.tx, attrs)
    emit(events.ENTITY_CREATED, kind="domain", entity_id=d.id)
    return created({"domain": views.domain(call.base_url, d)}, call.url(f"domains/{d.id}"))


def get_domain(call: Call) -> Response:
    d = call.services.resources.get_domain(call.tx, call.params["domain_id"])
    return json_response({"domain": views.domain(call.base_url, d)})


def update_domain(call: Call) -> Response:
    attrs = validation.wrapped(call.body, "domain", schemas.DOMAIN_UPDATE)
    d = call.services.resources.update_domain(call.tx, call.params["domain_id"], attrs)
    emit(events.ENTITY_UPDATED, kind="domain", entity_id=d.id)
    return json_response({"domain": views.domain(call.base_url, d)})


def delete_domain(call: Call) -> Response:
    call.services.resources.delete_domain(call.tx, call.params["domain_id"])
    emit(events.ENTITY_DELETED, kind="domain", entity_id=call.params["domain_id"])
    return no_content()


# -- projects ------------------------------------------------------------------------------
def list_projects(call: Call) -> Response:
    found = call.services.resources.list_projects(call.tx, call.query)
    scope = targets.scope_domain(call)
    if scope is not None:  # Keystone: a domain-scoped token lists its domain's only
        found = [p for p in found if p.domain_id == scope]
    return paging.collection(
        call, "projects", "projects", (views.project(call.base_url, p) for p in found))


def create_project(call: Call) -> Response:
    attrs = validation.wrapped(call.body, "project", schemas.PROJECT_CREATE)
    p = call.services.resources.create_project(call.tx, attrs, _default_domain(call))
    emit(events.ENTITY_CREATED, kind="project", entity_id=p.id)
    return created({"project": views.project(call.base_url, p)}, call.url(f"projects/{p.id}"))


def get_project(call: Call) -> Response:
    """GET a project, with Keystone's ?parents_as_ids / ?parents_as_list /
    ?subtree_as_ids / ?subtree_as_list (the lists only name projects the caller holds a
    role on, as Keystone's do)."""
    resources = call.services.resources
    p = resources.get_project(call.tx, call.params["project_id"])
    body = views.project(call.base_url, p)
    for kind in ("parents", "subtree"):
        as_list, as_ids = f"{kind}_as_list" in call.query, f"{kind}_as_ids" in call.query
        if as_list and as_ids:
            raise errors.ValidationError(
                f"Cannot use {kind}_as_list and {kind}_as_ids query params at the same time.")
        if as_ids:
            body[kind] = (resources.parents_as_ids(call.tx, p) if kind == "parents"
                          else resources.subtree_as_ids(call.tx, p))
        elif as_list:
            mine = set(call.services.assignments.projects_of_user(call.tx, call.me.user_id))
            related = (resources.ancestors(call.tx, p) if kind == "parents"
                       else resources.subtree(call.tx, p))
            body[kind] = [{"project": views.project(call.base_url, x)}
                          for x in related if x.id in mine and not x.is_domain]
    return json_response({"project": body})


def update_project(call: Call) -> Response:
    attrs = validation.wrapped(call.body, "project", schemas.PROJECT_UPDATE)
    p = call.services.resources.update_project(call.tx, call.params["project_id"], attrs)
    emit(events.ENTITY_UPDATED, kind="project", entity_id=p.id)
    return json_response({"project": views.project(call.base_url, p)})


def delete_project(call: Call) -> Response:
    cascade = "cascade" in call.query
    for deleted in call.services.resources.delete_project(
        call.tx, call.params["project_id"], cascade=cascade
    ):
        emit(events.ENTITY_DELETED, kind="project", entity_id=deleted)
    return no_content()


def routes(s: Services) -> list[Route]:
    return route_table(s, [
        ("GET", "/v3/domains", list_domains, "identity:list_domains"),
        ("POST", "/v3/domains", create_domain, "identity:create_domain"),
        ("GET", "/v3/domains/{domain_id}", get_domain, "identity:get_domain"),
        ("PATCH", "/v3/domains/{domain_id}", update_domain, "identity:update_domain"),
        ("DELETE", "/v3/domains/{domain_id}", delete_domain, "identity:delete_domain"),
        ("GET", "/v3/projects", list_projects, "identity:list_projects"),
        ("POST", "/v3/projects", create_project, "identity:create_project"),
        ("GET", "/v3/projects/{project_id}", get_project, "identity:get_project"),
        ("PATCH", "/v3/projects/{project_id}", update_project, "identity:update_project"),
        ("DELETE", "/v3/projects/{project_id}", delete_project, "identity:delete_project"),
    ]) + project_tags.routes(s)
