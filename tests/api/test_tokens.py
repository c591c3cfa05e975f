"""Issuing tokens: POST /v3/auth/tokens with the password and token methods, every scope,
the body Keystone renders for each, and the generic 401 / structured 400 failures."""

from __future__ import annotations

import datetime
import re
from typing import Any

import httpx
import pytest

from tests.factories import Api, password_auth, project_scope, unique
from tests.server import ADMIN_PASSWORD

GENERIC_401 = "The request you have made requires authentication."
PASSWORD = "tok-user-Pa55word"
COMMON_KEYS = ["methods", "user", "audit_ids", "expires_at", "issued_at"]
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000000Z$")  # whole seconds
AUDIT_ID = re.compile(r"^[A-Za-z0-9_-]{22}$")


def by_id(user_id: str, password: str, scope: dict[str, Any] | str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"auth": {"identity": {
        "methods": ["password"],
        "password": {"user": {"id": user_id, "password": password}},
    }}}
    if scope is not None:
        body["auth"]["scope"] = scope
    return body


def by_name_domain_id(name: str, domain_id: str, password: str) -> dict[str, Any]:
    return {"auth": {"identity": {
        "methods": ["password"],
        "password": {"user": {"name": name, "domain": {"id": domain_id}, "password": password}},
    }}}


def issue(client: httpx.Client, body: dict[str, Any], **params: str) -> dict[str, Any]:
    """POST the body, require a 201, and return the token body (with the token under 'id')."""
    response = client.post("/v3/auth/tokens", json=body, params=params)
    assert response.status_code == 201, response.text
    token = dict(response.json()["token"])
    token["id"] = response.headers["X-Subject-Token"]
    return token


def assert_unauthorized(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.json() == {"error": {"code": 401, "title": "Unauthorized",
                                         "message": GENERIC_401}}
    assert response.headers["WWW-Authenticate"].startswith('Keystone uri="')


def assert_bad_request(response: httpx.Response) -> str:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert set(error) == {"code", "title", "message"}
    assert error["code"] == 400 and error["title"] == "Bad Request"
    assert "WWW-Authenticate" not in response.headers
    return str(error["message"])


def role_names(token: dict[str, Any]) -> set[str]:
    return {r["name"] for r in token["roles"]}


Member = tuple[dict[str, Any], dict[str, Any]]


def moment(text: str) -> datetime.datetime:
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ")


@pytest.fixture
def member(admin: Api) -> Member:
    """A new user in Default with the member role on a new project: (user, project)."""
    return admin.member_of_new_project(PASSWORD)


# -- who: the user by id, by name with domain id, by name with domain name ------------------

def test_password_auth_by_user_id(anonymous: httpx.Client, member: Member) -> None:
    """A user identified by id alone (no domain) gets an unscoped token naming them."""
    user, _ = member
    token = issue(anonymous, by_id(user["id"], PASSWORD, "unscoped"))
    assert token["user"]["id"] == user["id"]
    assert token["user"]["name"] == user["name"]


def test_password_auth_by_name_and_domain_id(anonymous: httpx.Client,
                                             member: Member) -> None:
    """A user name with the domain's id identifies the user."""
    user, _ = member
    token = issue(anonymous, by_name_domain_id(user["name"], "default", PASSWORD))
    assert token["user"]["id"] == user["id"]


def test_password_auth_by_name_and_domain_name(anonymous: httpx.Client,
                                               member: Member) -> None:
    """A user name with the domain's name identifies the user; the user block carries the
    domain's id and name and password_expires_at null, as Keystone's does."""
    user, _ = member
    token = issue(anonymous, password_auth(user["name"], PASSWORD, "Default", "unscoped"))
    assert token["user"] == {"domain": {"id": "default", "name": "Default"},
                             "id": user["id"], "name": user["name"],
                             "password_expires_at": None}


def test_user_in_another_domain_by_domain_name(admin: Api, anonymous: httpx.Client) -> None:
    """Users are looked up in the named domain: the same name in another domain is someone else."""
    domain = admin.domain()
    name = unique("twin")
    here = admin.user(name=name, password=PASSWORD)
    there = admin.user(name=name, password="other-Pa55word", domain_id=domain["id"])
    token = issue(anonymous, password_auth(name, "other-Pa55word", domain["name"], "unscoped"))
    assert token["user"]["id"] == there["id"]
    assert token["user"]["domain"] == {"id": domain["id"], "name": domain["name"]}
    token = issue(anonymous, password_auth(name, PASSWORD, "Default", "unscoped"))
    assert token["user"]["id"] == here["id"]


# -- scopes --------------------------------------------------------------------------------

def test_project_scope_by_id(anonymous: httpx.Client, member: Member) -> None:
    """A project-scoped token: 201, token in X-Subject-Token, a Location header, Keystone's key
    order, the project with its domain, is_domain false, roles including implied ones
    (member implies reader), the catalog, one audit id and a 1-hour lifetime, with
    timestamps in whole seconds as Keystone renders them."""
    user, project = member
    response = anonymous.post("/v3/auth/tokens",
                              json=by_id(user["id"], PASSWORD, {"project": {"id": project["id"]}}))
    assert response.status_code == 201, response.text
    assert response.headers["Location"]
    token_id = response.headers["X-Subject-Token"]
    assert 0 < len(token_id) < 255
    token = response.json()["token"]
    assert list(token) == [*COMMON_KEYS, "project", "is_domain", "is_admin_project", "roles",
                           "catalog"]
    assert token["methods"] == ["password"]
    assert token["project"] == {"domain": {"id": "default", "name": "Default"},
                                "id": project["id"], "name": project["name"]}
    assert token["is_domain"] is False
    assert token["is_admin_project"] is (token["project"]["name"] == "admin")
    assert role_names(token) == {"member", "reader"}
    assert all(set(r) == {"id", "name"} for r in token["roles"])
    assert isinstance(token["catalog"], list)
    assert len(token["audit_ids"]) == 1 and AUDIT_ID.match(token["audit_ids"][0])
    assert TIMESTAMP.match(token["issued_at"]) and TIMESTAMP.match(token["expires_at"])
    lifetime = moment(token["expires_at"]) - moment(token["issued_at"])
    assert abs(lifetime.total_seconds() - 3600) <= 1


def test_project_scope_by_name_and_domain_id_or_name(anonymous: httpx.Client,
                                                     member: Member) -> None:
    """A project named with its domain's id, or with its domain's name, is the same scope."""
    user, project = member
    for domain in ({"id": "default"}, {"name": "Default"}):
        scope = {"project": {"name": project["name"], "domain": domain}}
        token = issue(anonymous, by_id(user["id"], PASSWORD, scope))
        assert token["project"]["id"] == project["id"], domain


def test_admin_project_token_lists_all_implied_roles(anonymous: httpx.Client) -> None:
    """The bootstrap admin's token on project admin lists admin and the roles it implies:
    manager, member and reader."""
    token = issue(anonymous, password_auth("admin", ADMIN_PASSWORD, scope=project_scope()))
    assert role_names(token) == {"admin", "manager", "member", "reader"}


def test_domain_scope(admin: Api, anonymous: httpx.Client) -> None:
    """With a role granted on a domain, a domain-scoped token names the domain (by id or by
    name) and carries roles and catalog but no project; before the grant it is a 401."""
    domain = admin.domain()
    user = admin.user(password=PASSWORD)
    for ref in ({"id": domain["id"]}, {"name": domain["name"]}):
        assert_unauthorized(anonymous.post("/v3/auth/tokens",
                                           json=by_id(user["id"], PASSWORD, {"domain": ref})))
    reader = admin.role_id("reader")
    grant = admin.put(f"/v3/domains/{domain['id']}/users/{user['id']}/roles/{reader}")
    assert grant.status_code == 204, grant.text
    for ref in ({"id": domain["id"]}, {"name": domain["name"]}):
        token = issue(anonymous, by_id(user["id"], PASSWORD, {"domain": ref}))
        assert list(token) == [*COMMON_KEYS, "domain", "roles", "catalog", "id"]
        assert token["domain"] == {"id": domain["id"], "name": domain["name"]}
        assert role_names(token) == {"reader"}
        assert len(token["id"]) < 255


def test_system_scope(anonymous: httpx.Client) -> None:
    """The bootstrap admin holds admin on the system: a system-scoped token lists the roles
    before the system, as Keystone does, with system {"all": true}."""
    system = {"system": {"all": True}}
    token = issue(anonymous, password_auth("admin", ADMIN_PASSWORD, scope=system))
    assert list(token) == [*COMMON_KEYS, "roles", "system", "catalog", "id"]
    assert token["system"] == {"all": True}
    assert role_names(token) == {"admin", "manager", "member", "reader"}
    assert len(token["id"]) < 255


def test_system_scope_without_a_system_role_is_401(anonymous: httpx.Client,
                                                   member: Member) -> None:
    """A user with no role on the system cannot get a system-scoped token."""
    user, _ = member
    assert_unauthorized(anonymous.post(
        "/v3/auth/tokens", json=by_id(user["id"], PASSWORD, {"system": {"all": True}})))


def test_unscoped(anonymous: httpx.Client) -> None:
    """Without a scope (and no default project) the token is unscoped: no roles, no catalog."""
    token = issue(anonymous, password_auth("admin", ADMIN_PASSWORD))
    assert list(token) == [*COMMON_KEYS, "id"]
    assert token["methods"] == ["password"]
    assert len(token["id"]) < 255


def test_explicit_unscoped_ignores_default_project(admin: Api, anonymous: httpx.Client) -> None:
    """scope "unscoped" gives an unscoped token even for a user with a default project."""
    project = admin.project()
    user = admin.user(password=PASSWORD, default_project_id=project["id"])
    admin.grant(project["id"], user["id"], admin.role_id("member"))
    token = issue(anonymous, by_id(user["id"], PASSWORD, "unscoped"))
    assert "project" not in token and "roles" not in token


def test_default_project_is_the_scope_when_none_is_given(admin: Api,
                                                          anonymous: httpx.Client) -> None:
    """A user with a default_project_id and a role on it, asking for no scope, gets a token
    scoped to that project (as Keystone does)."""
    project = admin.project()
    user = admin.user(password=PASSWORD, default_project_id=project["id"])
    admin.grant(project["id"], user["id"], admin.role_id("member"))
    token = issue(anonymous, by_id(user["id"], PASSWORD))
    assert token["project"]["id"] == project["id"]
    assert role_names(token) == {"member", "reader"}


def test_default_project_without_a_role_gives_unscoped(admin: Api, anonymous: httpx.Client) -> None:
    """A default project the user holds no role on is ignored: the token is unscoped, not a 401."""
    project = admin.project()
    user = admin.user(password=PASSWORD, default_project_id=project["id"])
    token = issue(anonymous, by_id(user["id"], PASSWORD))
    assert "project" not in token


def test_nocatalog_on_issue(anonymous: httpx.Client, member: Member) -> None:
    """?nocatalog on POST drops the catalog key and nothing else."""
    user, project = member
    token = issue(anonymous, by_id(user["id"], PASSWORD, {"project": {"id": project["id"]}}),
                  nocatalog="1")
    assert list(token) == [*COMMON_KEYS, "project", "is_domain", "is_admin_project", "roles",
                           "id"]


# -- re-scope with the token method --------------------------------------------------------

def test_token_method_rescope_keeps_expiry_and_chains_audit_ids(
        anonymous: httpx.Client, member: Member) -> None:
    """Exchanging an unscoped token for a project token keeps the original expires_at, lists
    audit_ids [new, original] and methods ["token", "password"]."""
    user, project = member
    unscoped = issue(anonymous, by_id(user["id"], PASSWORD, "unscoped"))
    rescoped = issue(anonymous, {"auth": {
        "identity": {"methods": ["token"], "token": {"id": unscoped["id"]}},
        "scope": {"project": {"id": project["id"]}},
    }})
    assert rescoped["methods"] == ["token", "password"]
    assert rescoped["expires_at"] == unscoped["expires_at"]
    assert len(rescoped["audit_ids"]) == 2
    assert rescoped["audit_ids"][1] == unscoped["audit_ids"][0]
    assert rescoped["audit_ids"][0] != unscoped["audit_ids"][0]
    assert rescoped["project"]["id"] == project["id"]
    assert rescoped["user"]["id"] == user["id"]
    assert len(rescoped["id"]) < 255


def test_token_method_with_invalid_token_is_401(anonymous: httpx.Client) -> None:
    """Re-scoping from a garbage token is the generic 401, not a 404 or 500."""
    assert_unauthorized(anonymous.post("/v3/auth/tokens", json={"auth": {
        "identity": {"methods": ["token"], "token": {"id": "gAAAAABgarbage"}},
        "scope": {"project": project_scope()["project"]},
    }}))


# -- failures: all the same 401 ------------------------------------------------------------

def test_wrong_password_and_unknown_user_are_the_same_401(anonymous: httpx.Client,
                                                          member: Member) -> None:
    """Wrong password, unknown user id, unknown user name and unknown domain all answer the
    same generic 401 with WWW-Authenticate, revealing nothing about which part was wrong."""
    user, _ = member
    for body in (
        by_id(user["id"], "wrong-password"),
        by_id("0" * 32, PASSWORD),
        password_auth(user["name"], "wrong-password"),
        password_auth(unique("nobody"), PASSWORD),
        password_auth(user["name"], PASSWORD, domain=unique("nodomain")),
        by_name_domain_id(user["name"], "0" * 32, PASSWORD),
    ):
        assert_unauthorized(anonymous.post("/v3/auth/tokens", json=body))


def test_disabled_user_is_401(admin: Api, anonymous: httpx.Client) -> None:
    """A disabled user cannot authenticate even with the right password."""
    user = admin.user(password=PASSWORD, enabled=False)
    assert_unauthorized(anonymous.post("/v3/auth/tokens", json=by_id(user["id"], PASSWORD)))


def test_user_in_disabled_domain_is_401(admin: Api, anonymous: httpx.Client) -> None:
    """A user of a disabled domain cannot authenticate; re-enabling the domain restores it."""
    domain = admin.domain()
    user = admin.user(password=PASSWORD, domain_id=domain["id"])
    issue(anonymous, by_id(user["id"], PASSWORD))
    patch = admin.patch(f"/v3/domains/{domain['id']}", json={"domain": {"enabled": False}})
    assert patch.status_code == 200, patch.text
    assert_unauthorized(anonymous.post("/v3/auth/tokens", json=by_id(user["id"], PASSWORD)))


def test_scope_without_access_is_the_generic_401(admin: Api, anonymous: httpx.Client,
                                                 member: Member) -> None:
    """A project the user has no role on, an unknown project (by id or name), a disabled
    project, a domain without a role and an unknown domain are all the generic 401."""
    user, project = member
    other = admin.project()
    disabled = admin.project(enabled=False)
    admin.grant(disabled["id"], user["id"], admin.role_id("member"))
    for scope in (
        {"project": {"id": other["id"]}},
        {"project": {"id": "0" * 32}},
        {"project": {"name": unique("nope"), "domain": {"id": "default"}}},
        {"project": {"name": unique("nope"), "domain": {"name": "Default"}}},
        {"project": {"name": project["name"], "domain": {"name": unique("nodomain")}}},
        {"project": {"id": disabled["id"]}},
        {"domain": {"id": "default"}},
        {"domain": {"id": "0" * 32}},
        {"domain": {"name": unique("nodomain")}},
    ):
        assert_unauthorized(anonymous.post("/v3/auth/tokens",
                                           json=by_id(user["id"], PASSWORD, scope)))


# -- failures: malformed requests are 400 --------------------------------------------------

def test_malformed_json_is_400(anonymous: httpx.Client) -> None:
    """A body that is not JSON is a 400 in Keystone's error body, with Keystone's message."""
    response = anonymous.post("/v3/auth/tokens", content=b'{"auth": {',
                              headers={"Content-Type": "application/json"})
    assert assert_bad_request(response).startswith("Expecting to find valid JSON in request body.")


def test_empty_body_is_400(anonymous: httpx.Client) -> None:
    """An empty body or one without "auth" is a 400 naming the missing auth."""
    for response in (anonymous.post("/v3/auth/tokens", content=b"",
                                    headers={"Content-Type": "application/json"}),
                     anonymous.post("/v3/auth/tokens", json={"nothing": {}})):
        assert assert_bad_request(response).startswith("Expecting to find auth in request body.")


def test_missing_identity_or_methods_is_400(anonymous: httpx.Client) -> None:
    """An auth without identity, or an identity without methods, is a 400 naming the field."""
    no_identity = anonymous.post("/v3/auth/tokens", json={"auth": {"scope": project_scope()}})
    assert "identity" in assert_bad_request(no_identity)
    no_methods = anonymous.post("/v3/auth/tokens", json={"auth": {"identity": {
        "password": {"user": {"id": "x", "password": "y"}}}}})
    assert "methods" in assert_bad_request(no_methods)


def test_missing_password_is_400(anonymous: httpx.Client) -> None:
    """The password method without a password (or without its password block) is a 400."""
    no_password = password_auth("admin", "x")
    del no_password["auth"]["identity"]["password"]["user"]["password"]
    assert "password" in assert_bad_request(anonymous.post("/v3/auth/tokens", json=no_password))
    no_block = {"auth": {"identity": {"methods": ["password"]}}}
    assert "password" in assert_bad_request(anonymous.post("/v3/auth/tokens", json=no_block))


def test_user_name_without_domain_is_400(anonymous: httpx.Client) -> None:
    """A user named without a domain is a 400 (Keystone: 'Expecting to find domain in user.')."""
    body = {"auth": {"identity": {"methods": ["password"], "password": {
        "user": {"name": "admin", "password": ADMIN_PASSWORD}}}}}
    message = assert_bad_request(anonymous.post("/v3/auth/tokens", json=body))
    assert message.startswith("Expecting to find domain in user.")


def test_bad_scopes_are_400(anonymous: httpx.Client) -> None:
    """A project named without a domain, or two scopes at once, is a 400, not a 401."""
    for scope in ({"project": {"name": "admin"}},
                  {"project": {"id": "x"}, "domain": {"id": "default"}}):
        assert_bad_request(anonymous.post(
            "/v3/auth/tokens", json=password_auth("admin", ADMIN_PASSWORD, scope=scope)))
