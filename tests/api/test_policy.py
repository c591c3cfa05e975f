"""Who may call what: anonymous and bad tokens, the admin, and a member of one project."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.factories import Api, unique
from tests.server import ADMIN_PASSWORD, Server

MEMBER_PASSWORD = "member-Pa55word"
GARBAGE_TOKEN = "gAAAAABnot-a-real-token-at-all"
UNKNOWN = "0123456789abcdef0123456789abcdef"
GENERIC_401 = "The request you have made requires authentication."


@dataclass
class World:
    """The entities the policy sweeps act on."""

    admin: Api
    member: Api
    member_user: dict[str, Any]
    member_project: dict[str, Any]
    other_project: dict[str, Any]
    other_user: dict[str, Any]
    role_id: str
    region_id: str
    service_id: str
    endpoint_id: str


@pytest.fixture(scope="module")
def world(admin: Api, server: Server) -> Iterator[World]:
    user, project = admin.member_of_new_project(MEMBER_PASSWORD)
    region = admin.make("regions", "region", id=unique("PolReg"))
    service = admin.make("services", "service", type=unique("poltype"))
    endpoint = admin.make("endpoints", "endpoint", service_id=service["id"],
                          interface="public", url="http://example.com/")
    scope = {"project": {"id": project["id"]}}
    with Api.login(server.url, user["name"], MEMBER_PASSWORD, scope=scope) as member:
        yield World(admin, member, user, project, admin.project(), admin.user(),
                    admin.role()["id"], region["id"], service["id"], endpoint["id"])


def _protected(w: World) -> list[tuple[str, str, Any]]:
    """(method, path, json body) for every protected API, with bodies that pass validation."""
    me, other = w.member_user["id"], w.other_user["id"]
    grant = f"/v3/projects/{w.other_project['id']}/users/{other}/roles/{w.role_id}"
    return [
        ("GET", "/v3/users", None),
        ("POST", "/v3/users", {"user": {"name": unique("u")}}),
        ("GET", f"/v3/users/{other}", None),
        ("PATCH", f"/v3/users/{other}", {"user": {"description": "x"}}),
        ("DELETE", f"/v3/users/{other}", None),
        ("GET", f"/v3/users/{other}/projects", None),
        ("GET", "/v3/projects", None),
        ("POST", "/v3/projects", {"project": {"name": unique("p")}}),
        ("GET", f"/v3/projects/{w.other_project['id']}", None),
        ("PATCH", f"/v3/projects/{w.other_project['id']}", {"project": {"description": "x"}}),
        ("DELETE", f"/v3/projects/{w.other_project['id']}", None),
        ("GET", "/v3/domains", None),
        ("POST", "/v3/domains", {"domain": {"name": unique("d")}}),
        ("GET", "/v3/domains/default", None),
        ("PATCH", "/v3/domains/default", {"domain": {"description": "x"}}),
        ("DELETE", "/v3/domains/default", None),
        ("GET", "/v3/roles", None),
        ("POST", "/v3/roles", {"role": {"name": unique("r")}}),
        ("GET", f"/v3/roles/{w.role_id}", None),
        ("PATCH", f"/v3/roles/{w.role_id}", {"role": {"description": "x"}}),
        ("DELETE", f"/v3/roles/{w.role_id}", None),
        ("GET", f"/v3/roles/{w.role_id}/implies", None),
        ("GET", "/v3/role_inferences", None),
        ("PUT", grant, None),
        ("GET", grant, None),
        ("DELETE", grant, None),
        ("GET", f"/v3/projects/{w.other_project['id']}/users/{other}/roles", None),
        ("PUT", f"/v3/domains/default/users/{me}/roles/{w.role_id}", None),
        ("PUT", f"/v3/system/users/{me}/roles/{w.role_id}", None),
        ("GET", f"/v3/system/users/{me}/roles", None),
        ("GET", "/v3/role_assignments", None),
        ("GET", "/v3/regions", None),
        ("POST", "/v3/regions", {"region": {"description": "x"}}),
        ("PATCH", f"/v3/regions/{w.region_id}", {"region": {"description": "x"}}),
        ("DELETE", f"/v3/regions/{w.region_id}", None),
        ("GET", "/v3/services", None),
        ("POST", "/v3/services", {"service": {"type": "x"}}),
        ("PATCH", f"/v3/services/{w.service_id}", {"service": {"enabled": True}}),
        ("DELETE", f"/v3/services/{w.service_id}", None),
        ("GET", "/v3/endpoints", None),
        ("POST", "/v3/endpoints", {"endpoint": {"service_id": w.service_id,
                                                 "interface": "public", "url": "http://x/"}}),
        ("PATCH", f"/v3/endpoints/{w.endpoint_id}", {"endpoint": {"enabled": True}}),
        ("DELETE", f"/v3/endpoints/{w.endpoint_id}", None),
        ("GET", "/v3/auth/catalog", None),
        ("GET", "/v3/auth/projects", None),
        ("GET", "/v3/auth/domains", None),
        ("GET", "/v3/auth/system", None),
        ("GET", "/v3/auth/tokens", None),
        ("DELETE", "/v3/auth/tokens", None),
    ]


def _assert_401(response: httpx.Response, what: Any) -> None:
    assert response.status_code == 401, (what, response.text)
    assert response.json()["error"]["message"] == GENERIC_401
    assert response.headers["WWW-Authenticate"].startswith("Keystone uri=")


def test_no_token_or_bad_token_is_401_everywhere(world: World, anonymous: httpx.Client,
                                                 admin: Api) -> None:
    """Every protected API answers 401 with the generic message and WWW-Authenticate when
    the token is missing, garbage, or revoked — and changes nothing."""
    revoked = Api.login(str(admin.base_url), "admin", ADMIN_PASSWORD)
    revoked.close()
    gone = admin.delete("/v3/auth/tokens", headers={"X-Subject-Token": revoked.token})
    assert gone.status_code == 204
    for headers in ({}, {"X-Auth-Token": GARBAGE_TOKEN}, {"X-Auth-Token": revoked.token}):
        for method, path, body in _protected(world):
            response = anonymous.request(method, path, json=body, headers={
                **headers, "X-Subject-Token": world.member.token})
            _assert_401(response, (method, path, headers))
    assert admin.get(f"/v3/users/{world.other_user['id']}").status_code == 200
    assert admin.get(f"/v3/regions/{world.region_id}").status_code == 200


def test_admin_may_read_everything(world: World) -> None:
    """The admin's project token reads every collection and entity (200) and checks any
    grant (204 or 404, never 403)."""
    admin = world.admin
    for method, path, _ in _protected(world):
        if method != "GET" or path == "/v3/auth/tokens":
            continue
        response = admin.get(path)
        assert response.status_code in (200, 204, 404), (path, response.text)
    validated = admin.get("/v3/auth/tokens", headers={"X-Subject-Token": world.member.token})
    assert validated.status_code == 200


def test_admin_may_write_everything(world: World) -> None:
    """The admin creates, updates and deletes every kind of entity and grant."""
    admin = world.admin
    user, project, role = admin.user(), admin.project(), admin.role()
    domain = admin.domain()
    assert admin.patch(f"/v3/users/{user['id']}", json={"user": {"description": "d"}}
                       ).status_code == 200
    assert admin.patch(f"/v3/projects/{project['id']}", json={"project": {"description": "d"}}
                       ).status_code == 200
    for base in (f"/v3/projects/{project['id']}", f"/v3/domains/{domain['id']}", "/v3/system"):
        path = f"{base}/users/{user['id']}/roles/{role['id']}"
        assert admin.put(path).status_code == 204
        assert admin.delete(path).status_code == 204
    region = admin.make("regions", "region")
    service = admin.make("services", "service", type="x")
    endpoint = admin.make("endpoints", "endpoint", service_id=service["id"],
                          interface="admin", url="http://x/", region_id=region["id"])
    for path in (f"/v3/endpoints/{endpoint['id']}", f"/v3/services/{service['id']}",
                 f"/v3/regions/{region['id']}", f"/v3/roles/{role['id']}",
                 f"/v3/users/{user['id']}", f"/v3/projects/{project['id']}"):
        assert admin.delete(path).status_code == 204, path
    assert admin.patch(f"/v3/domains/{domain['id']}", json={"domain": {"enabled": False}}
                       ).status_code == 200
    assert admin.delete(f"/v3/domains/{domain['id']}").status_code == 204


_MEMBER_RULES = {
    ("GET", "/v3/users"): "list_users",
    ("POST", "/v3/users"): "create_user",
    ("GET", "/v3/users/{other}"): "get_user",
    ("PATCH", "/v3/users/{other}"): "update_user",
    ("DELETE", "/v3/users/{other}"): "delete_user",
    ("GET", "/v3/users/{other}/projects"): "list_user_projects",
    ("GET", "/v3/projects"): "list_projects",
    ("POST", "/v3/projects"): "create_project",
    ("GET", "/v3/projects/{other_project}"): "get_project",
    ("PATCH", "/v3/projects/{other_project}"): "update_project",
    ("DELETE", "/v3/projects/{other_project}"): "delete_project",
    ("GET", "/v3/domains"): "list_domains",
    ("POST", "/v3/domains"): "create_domain",
    # (GET of the member's own project's domain is allowed: Keystone's get_domain has
    # token.project.domain.id:%(target.domain.id)s; see test_member_reads_about_themself)
    ("PATCH", "/v3/domains/default"): "update_domain",
    ("DELETE", "/v3/domains/default"): "delete_domain",
    ("GET", "/v3/roles"): "list_roles",
    ("POST", "/v3/roles"): "create_role",
    ("GET", "/v3/roles/{role}"): "get_role",
    ("PATCH", "/v3/roles/{role}"): "update_role",
    ("DELETE", "/v3/roles/{role}"): "delete_role",
    ("GET", "/v3/roles/{role}/implies"): "list_implied_roles",
    ("GET", "/v3/role_inferences"): "list_role_inference_rules",
    ("PUT", "{grant}"): "create_grant",
    ("GET", "{grant}"): "check_grant",
    ("DELETE", "{grant}"): "revoke_grant",
    ("GET", "{grant_list}"): "list_grants",
    ("PUT", "{own_domain_grant}"): "create_grant",
    ("PUT", "{own_system_grant}"): "create_system_grant_for_user",
    ("GET", "{own_system_grants}"): "list_system_grants_for_user",
    ("GET", "/v3/role_assignments"): "list_role_assignments",
    ("POST", "/v3/regions"): "create_region",
    ("PATCH", "{region}"): "update_region",
    ("DELETE", "{region}"): "delete_region",
    ("POST", "/v3/services"): "create_service",
    ("PATCH", "{service}"): "update_service",
    ("DELETE", "{service}"): "delete_service",
    ("POST", "/v3/endpoints"): "create_endpoint",
    ("PATCH", "{endpoint}"): "update_endpoint",
    ("DELETE", "{endpoint}"): "delete_endpoint",
}


def _member_cases(w: World) -> list[tuple[str, str, Any, str]]:
    """(method, path, body, rule) for everything a member may not do."""
    me, other = w.member_user["id"], w.other_user["id"]
    names = {
        "{other}": other, "{other_project}": w.other_project["id"], "{role}": w.role_id,
        "{grant}": f"/v3/projects/{w.other_project['id']}/users/{other}/roles/{w.role_id}",
        "{grant_list}": f"/v3/projects/{w.other_project['id']}/users/{other}/roles",
        "{own_domain_grant}": f"/v3/domains/default/users/{me}/roles/{w.role_id}",
        "{own_system_grant}": f"/v3/system/users/{me}/roles/{w.role_id}",
        "{own_system_grants}": f"/v3/system/users/{me}/roles",
        "{region}": f"/v3/regions/{w.region_id}", "{service}": f"/v3/services/{w.service_id}",
        "{endpoint}": f"/v3/endpoints/{w.endpoint_id}",
    }
    bodies = {(m, p): b for m, p, b in _protected(w)}
    cases = []
    for (method, template), rule in _MEMBER_RULES.items():
        path = template
        for key, value in names.items():
            path = path.replace(key, value)
        body = bodies.get((method, path))
        if method in ("POST", "PATCH"):
            assert body is not None, (method, path)
        cases.append((method, path, body, rule))
    return cases


def test_member_is_refused_everything_else_with_the_rule_name(world: World) -> None:
    """A member of one project gets 403 naming the Keystone rule for every API beyond their
    own user, projects, assignments and token — and the refusal changes nothing."""
    for method, path, body, rule in _member_cases(world):
        response = world.member.request(method, path, json=body)
        assert response.status_code == 403, (method, path, response.text)
        error = response.json()["error"]
        assert error == {"code": 403, "title": "Forbidden", "message":
                         f"You are not authorized to perform the requested action: "
                         f"identity:{rule}."}, (method, path)
    admin = world.admin
    assert admin.get(f"/v3/users/{world.other_user['id']}").status_code == 200
    assert admin.get(f"/v3/projects/{world.other_project['id']}").status_code == 200
    assert admin.get(f"/v3/roles/{world.role_id}").status_code == 200
    assert admin.get(f"/v3/endpoints/{world.endpoint_id}").status_code == 200
    mine = admin.get("/v3/role_assignments", params={"user.id": world.member_user["id"]})
    assert len(mine.json()["role_assignments"]) == 1


def test_member_refused_unknown_entities_with_403_not_404(world: World) -> None:
    """A member asking for an unknown user or project gets 403, not 404: existence is not
    revealed to those who may not see it."""
    for path, rule in ((f"/v3/users/{UNKNOWN}", "get_user"),
                       (f"/v3/projects/{UNKNOWN}", "get_project")):
        response = world.member.get(path)
        assert response.status_code == 403
        assert response.json()["error"]["message"].endswith(f"identity:{rule}.")


def test_member_reads_about_themself(world: World) -> None:
    """A member may read their own user, their own project, their role assignments (with
    the user.id filter naming them), their projects, /v3/auth/projects and the catalog."""
    member, me = world.member, world.member_user["id"]
    own = member.get(f"/v3/users/{me}")
    assert own.status_code == 200 and own.json()["user"]["id"] == me
    project = member.get(f"/v3/projects/{world.member_project['id']}")
    assert project.status_code == 200
    assert project.json()["project"]["name"] == world.member_project["name"]
    domain = member.get(f"/v3/domains/{world.member_project['domain_id']}")
    assert domain.status_code == 200  # the domain of their own project, as in Keystone
    assignments = member.get("/v3/role_assignments", params={"user.id": me})
    assert assignments.status_code == 200
    assert [a["user"]["id"] for a in assignments.json()["role_assignments"]] == [me]
    for path in (f"/v3/users/{me}/projects", "/v3/auth/projects"):
        response = member.get(path)
        assert response.status_code == 200, path
        assert [p["id"] for p in response.json()["projects"]] == [world.member_project["id"]]
    assert member.get("/v3/auth/catalog").status_code == 200


def test_member_cannot_widen_a_filter_to_others(world: World) -> None:
    """role_assignments filtered on another user is refused, and query parameters cannot
    smuggle the caller's own id past a rule that checks the path."""
    member, me = world.member, world.member_user["id"]
    other = world.other_user["id"]
    cases = [
        f"/v3/role_assignments?user.id={other}",
        f"/v3/users/{other}?user_id={me}",
        f"/v3/users/{other}/projects?user_id={me}",
        f"/v3/projects/{world.other_project['id']}?project_id={world.member_project['id']}",
    ]
    for path in cases:
        response = member.get(path)
        assert response.status_code == 403, (path, response.text)


def test_member_validates_own_token_only(world: World) -> None:
    """A member may validate (GET and HEAD) their own token, but not the admin's (403
    identity:validate_token)."""
    member = world.member
    own = member.get("/v3/auth/tokens", headers={"X-Subject-Token": member.token})
    assert own.status_code == 200
    assert own.json()["token"]["user"]["id"] == world.member_user["id"]
    assert member.head("/v3/auth/tokens", headers={"X-Subject-Token": member.token}
                       ).status_code == 200
    theirs = member.get("/v3/auth/tokens", headers={"X-Subject-Token": world.admin.token})
    assert theirs.status_code == 403
    assert theirs.json()["error"]["message"].endswith("identity:validate_token.")
    assert member.head("/v3/auth/tokens", headers={"X-Subject-Token": world.admin.token}
                       ).status_code == 403


def test_member_changes_own_password(admin: Api, server: Server) -> None:
    """A member changes their own password (204); the old one stops working and the new
    one logs in. The old token is revoked."""
    user, project = admin.member_of_new_project()
    scope = {"project": {"id": project["id"]}}
    with Api.login(server.url, user["name"], MEMBER_PASSWORD, scope=scope) as member:
        response = member.post(f"/v3/users/{user['id']}/password", json={"user": {
            "original_password": MEMBER_PASSWORD, "password": "new-Pa55word-2"}})
        assert response.status_code == 204
        assert member.get(f"/v3/users/{user['id']}").status_code == 401
    with Api.login(server.url, user["name"], "new-Pa55word-2", scope=scope) as again:
        assert again.get(f"/v3/users/{user['id']}").status_code == 200
    old = httpx.post(f"{server.url}/v3/auth/tokens", json={"auth": {"identity": {
        "methods": ["password"], "password": {"user": {
            "name": user["name"], "domain": {"id": "default"}, "password": MEMBER_PASSWORD}}}}})
    assert old.status_code == 401


def test_member_cannot_change_another_users_password_without_theirs(world: World) -> None:
    """Changing someone else's password needs their original password: a wrong one is the
    generic 401, even with a valid token."""
    response = world.member.post(f"/v3/users/{world.admin.body['user']['id']}/password",
                                 json={"user": {"original_password": "guess",
                                                "password": "new-Pa55word-3"}})
    assert response.status_code == 401
    assert response.json()["error"]["message"] == GENERIC_401


def test_member_token_stops_working_when_role_is_revoked(admin: Api, server: Server) -> None:
    """Revoking the member's only role makes their token fail with 401 on the next call."""
    user, project = admin.member_of_new_project()
    scope = {"project": {"id": project["id"]}}
    with Api.login(server.url, user["name"], MEMBER_PASSWORD, scope=scope) as member:
        assert member.get(f"/v3/users/{user['id']}").status_code == 200
        member_role = admin.role_id("member")
        path = f"/v3/projects/{project['id']}/users/{user['id']}/roles/{member_role}"
        assert admin.delete(path).status_code == 204
        assert member.get(f"/v3/users/{user['id']}").status_code == 401
