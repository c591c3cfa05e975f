"""The API guidelines' status codes, operation by operation, against a live server: every
create answers 201 with a Location that leads to what was created, and every DELETE answers
204 with no body (then 404 for the same request; removing every tag of a project 204
again). The operations are taken from the OpenAPI
description, so a new create or delete cannot ship without being exercised here."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from sevres.api import openapi
from tests.factories import Api, error, project_scope, unique
from tests.server import ADMIN_PASSWORD, Server

OWNER_PASSWORD = "statuses-Pa55word"
Op = tuple[str, str]


def _operations(select: Callable[[str, openapi.Op], bool]) -> set[Op]:
    return {(m, p) for (m, p), op in openapi.OPERATIONS.items() if select(m, op)}


CREATES = _operations(lambda method, op: op.ok == 201)
DELETES = _operations(lambda method, op: method == "DELETE")
TAGS = "/v3/projects/{project_id}/tags"
# Removing every tag of a project empties a collection that is always there: 204 again
# (as Keystone answers), not 404.
DELETE_AGAIN_204 = {("DELETE", TAGS)}


@pytest.fixture(scope="module")
def owner(admin: Api, server: Server) -> Iterator[tuple[dict[str, Any], Api]]:
    """A user with the member role on a new project, and a client with their token there
    (application credentials are made and removed by their owner)."""
    user, project = admin.member_of_new_project(OWNER_PASSWORD)
    with Api.login(server.url, user["name"], OWNER_PASSWORD,
                   scope=project_scope(project["name"])) as api:
        yield user, api


def test_every_create_is_201_with_a_location_that_leads_to_it(
        admin: Api, owner: tuple[dict[str, Any], Api], server: Server) -> None:
    """POST (and the PUTs that create: a region with its id, an implication) answer 201; the
    Location header is an absolute URL whose GET answers the same entity; a token's
    Location is /v3/auth/tokens, read with X-Subject-Token."""
    user, mine = owner
    service = admin.make("services", "service", type=unique("svc"))
    prior, implied = admin.role(), admin.role()
    region_id = unique("region")
    creates: dict[Op, tuple[Api, str, str, dict[str, Any] | None]] = {
        ("POST", "/v3/domains"): (admin, "/v3/domains", "domain", {"name": unique("d")}),
        ("POST", "/v3/projects"): (admin, "/v3/projects", "project", {"name": unique("p")}),
        ("POST", "/v3/users"): (admin, "/v3/users", "user", {"name": unique("u")}),
        ("POST", "/v3/groups"): (admin, "/v3/groups", "group", {"name": unique("g")}),
        ("POST", "/v3/roles"): (admin, "/v3/roles", "role", {"name": unique("r")}),
        ("POST", "/v3/regions"): (admin, "/v3/regions", "region", {}),
        ("PUT", "/v3/regions/{region_id}"): (admin, f"/v3/regions/{region_id}", "region", {}),
        ("POST", "/v3/services"): (admin, "/v3/services", "service", {"type": unique("t")}),
        ("POST", "/v3/endpoints"): (admin, "/v3/endpoints", "endpoint", {
            "interface": "public", "url": "http://status.test/", "service_id": service["id"]}),
        ("POST", "/v3/users/{user_id}/application_credentials"): (
            mine, f"/v3/users/{user['id']}/application_credentials",
            "application_credential", {"name": unique("cred")}),
        ("PUT", "/v3/roles/{prior_role_id}/implies/{implied_role_id}"): (
            admin, f"/v3/roles/{prior['id']}/implies/{implied['id']}", "role_inference", None),
    }
    assert set(creates) | {("POST", "/v3/auth/tokens"), ("PUT", TAGS + "/{tag}")} == CREATES
    for (method, _), (client, url, key, attrs) in creates.items():
        body = None if attrs is None else {key: attrs}
        response = client.request(method, url, json=body)
        assert response.status_code == 201, (url, response.text)
        location = response.headers["Location"]
        assert location.startswith(f"{server.url}/v3/"), location
        shown = client.get(location)
        assert shown.status_code == 200, (location, shown.text)
        assert shown.json()[key] == response.json()[key] or key == "application_credential"
        if key == "application_credential":  # its secret is shown once, at creation
            assert shown.json()[key]["id"] == response.json()[key]["id"]
    login = httpx.post(f"{server.url}/v3/auth/tokens", json={"auth": {"identity": {
        "methods": ["password"], "password": {"user": {
            "name": "admin", "domain": {"id": "default"}, "password": ADMIN_PASSWORD}}}}})
    assert login.status_code == 201, login.text
    assert login.headers["Location"] == f"{server.url}/v3/auth/tokens"
    # A tag added has no representation: no body, and its Location answers a check (204).
    project = admin.project()
    added = admin.put(f"/v3/projects/{project['id']}/tags/new")
    assert added.status_code == 201, added.text
    assert added.content == b""
    assert added.headers["Location"] == f"{server.url}/v3/projects/{project['id']}/tags/new"
    assert admin.get(added.headers["Location"]).status_code == 204


def _grant_urls(admin: Api, user: dict[str, Any], group: dict[str, Any],
                project: dict[str, Any], domain: dict[str, Any], role: dict[str, Any]
                ) -> dict[Op, str]:
    """A grant at each grant path (made, so that its DELETE has something to remove)."""
    found: dict[Op, str] = {}
    for method, path in DELETES:
        if "{actor_id}" not in path:
            continue
        url = path.replace("{role_id}", role["id"])
        url = url.replace("{actor_id}", group["id"] if "/groups/" in path else user["id"])
        url = url.replace("{target_id}", project["id"] if "/projects/" in path
                          else domain["id"])
        assert admin.put(url).status_code == 204, url
        found[method, path] = url
    return found


def test_every_delete_is_204_with_no_body_then_404(
        admin: Api, owner: tuple[dict[str, Any], Api], server: Server) -> None:
    """Every DELETE the API serves answers 204 with an empty body, and the same DELETE
    again 404 (but removing every tag of a project: 204 again, as Keystone)."""
    user, mine = owner
    other = admin.user()
    group = admin.make("groups", "group", name=unique("g"))
    assert admin.put(f"/v3/groups/{group['id']}/users/{other['id']}").status_code == 204
    project, domain, role = admin.project(tags=["t"]), admin.domain(), admin.role()
    prior, implied = admin.role(), admin.role()
    assert admin.put(f"/v3/roles/{prior['id']}/implies/{implied['id']}").status_code == 201
    service = admin.make("services", "service", type=unique("svc"))
    region = admin.make("regions", "region")
    endpoint = admin.make("endpoints", "endpoint", interface="public",
                          url="http://status.test/", service_id=service["id"])
    cred = mine.app_cred(user["id"], access_rules=[
        {"service": "identity", "method": "GET", "path": "/v3/status"}])
    rule_id = cred["access_rules"][0]["id"]
    spare = Api.login(server.url, "admin", ADMIN_PASSWORD)
    doomed_domain = admin.domain()
    disabled = admin.patch(f"/v3/domains/{doomed_domain['id']}",
                           json={"domain": {"enabled": False}})
    assert disabled.status_code == 200, disabled.text
    # In order: what a later delete needs gone first comes first.
    deletes: list[tuple[Op, Api, str, dict[str, str]]] = [
        (op, admin, url, {}) for op, url in
        _grant_urls(admin, other, group, project, domain, role).items()]
    deletes += [
        (("DELETE", "/v3/groups/{group_id}/users/{user_id}"), admin,
         f"/v3/groups/{group['id']}/users/{other['id']}", {}),
        (("DELETE", "/v3/roles/{prior_role_id}/implies/{implied_role_id}"), admin,
         f"/v3/roles/{prior['id']}/implies/{implied['id']}", {}),
        (("DELETE", "/v3/users/{user_id}/application_credentials/{application_credential_id}"),
         mine, f"/v3/users/{user['id']}/application_credentials/{cred['id']}", {}),
        (("DELETE", "/v3/users/{user_id}/access_rules/{access_rule_id}"), mine,
         f"/v3/users/{user['id']}/access_rules/{rule_id}", {}),
        (("DELETE", "/v3/auth/tokens"), admin, "/v3/auth/tokens",
         {"X-Subject-Token": spare.token}),
        (("DELETE", "/v3/endpoints/{endpoint_id}"), admin, f"/v3/endpoints/{endpoint['id']}",
         {}),
        (("DELETE", "/v3/services/{service_id}"), admin, f"/v3/services/{service['id']}", {}),
        (("DELETE", "/v3/regions/{region_id}"), admin, f"/v3/regions/{region['id']}", {}),
        (("DELETE", "/v3/roles/{role_id}"), admin, f"/v3/roles/{role['id']}", {}),
        (("DELETE", "/v3/groups/{group_id}"), admin, f"/v3/groups/{group['id']}", {}),
        (("DELETE", "/v3/users/{user_id}"), admin, f"/v3/users/{other['id']}", {}),
        (("DELETE", TAGS + "/{tag}"), admin, f"/v3/projects/{project['id']}/tags/t", {}),
        (("DELETE", TAGS), admin, f"/v3/projects/{project['id']}/tags", {}),
        (("DELETE", "/v3/projects/{project_id}"), admin, f"/v3/projects/{project['id']}", {}),
        (("DELETE", "/v3/domains/{domain_id}"), admin, f"/v3/domains/{doomed_domain['id']}",
         {}),
    ]
    assert {op for op, *_ in deletes} == DELETES
    for op, client, url, headers in deletes:
        response = client.delete(url, headers=headers)
        assert response.status_code == 204, (url, response.text)
        assert response.content == b"", url
        if op in DELETE_AGAIN_204:
            assert client.delete(url, headers=headers).status_code == 204, url
            continue
        error(client.delete(url, headers=headers), 404)  # a revoked token too (Keystone)
    spare.close()
