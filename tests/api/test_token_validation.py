"""Validating and revoking tokens: GET/HEAD/DELETE /v3/auth/tokens, the 404s for subject
tokens that are not (or no longer) valid, the 401s for a bad X-Auth-Token, who may validate
whose token, and that roles and status are recomputed at every validation."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.factories import Api, password_auth
from tests.server import ADMIN_PASSWORD, Server

GENERIC_401 = "The request you have made requires authentication."
UNRECOGNIZED = "Could not recognize Fernet token"
FAILED = "Failed to validate token"
PASSWORD = "val-user-Pa55word"


class Member:
    """A new user with the member role on a new project, and a client holding their
    project-scoped token."""

    def __init__(self, admin: Api, server: Server) -> None:
        self.user, self.project = admin.member_of_new_project(PASSWORD)
        self.api = Api.login(server.url, self.user["name"], PASSWORD,
                             scope={"project": {"id": self.project["id"]}})

    @property
    def token(self) -> str:
        return self.api.token

    def new_token(self, scope: dict[str, Any] | str | None = None, password: str = PASSWORD) -> str:
        body: dict[str, Any] = {"auth": {"identity": {
            "methods": ["password"],
            "password": {"user": {"id": self.user["id"], "password": password}}}}}
        if scope is not None:
            body["auth"]["scope"] = scope
        response = self.api.post("/v3/auth/tokens", json=body)
        assert response.status_code == 201, response.text
        return str(response.headers["X-Subject-Token"])


@pytest.fixture
def member(admin: Api, server: Server) -> Iterator[Member]:
    m = Member(admin, server)
    try:
        yield m
    finally:
        m.api.close()


def check(client: httpx.Client, subject: str | None, method: str = "GET",
          **params: str) -> httpx.Response:
    headers = {} if subject is None else {"X-Subject-Token": subject}
    return client.request(method, "/v3/auth/tokens", headers=headers, params=params)


def assert_not_found(response: httpx.Response, message: str) -> None:
    assert response.status_code == 404, response.text
    if response.request.method != "HEAD":
        assert response.json() == {"error": {"code": 404, "title": "Not Found", "message": message}}
    assert "WWW-Authenticate" not in response.headers


def assert_unauthorized(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.json()["error"]["message"] == GENERIC_401
    assert response.headers["WWW-Authenticate"].startswith('Keystone uri="')


# -- validate, check, revoke ---------------------------------------------------------------

def test_validate_echoes_the_token_and_its_body(admin: Api, member: Member) -> None:
    """GET with X-Subject-Token answers 200, echoes the token in X-Subject-Token, and renders
    the same token body as the issuing POST (project scope, roles, catalog)."""
    issued = member.api.post("/v3/auth/tokens", json={"auth": {
        "identity": {"methods": ["password"],
                     "password": {"user": {"id": member.user["id"], "password": PASSWORD}}},
        "scope": {"project": {"id": member.project["id"]}}}})
    assert issued.status_code == 201
    token = issued.headers["X-Subject-Token"]
    response = check(admin, token)
    assert response.status_code == 200, response.text
    assert response.headers["X-Subject-Token"] == token
    assert response.json() == issued.json()
    assert list(response.json()["token"]) == [
        "methods", "user", "audit_ids", "expires_at", "issued_at",
        "project", "is_domain", "is_admin_project", "roles", "catalog"]


@pytest.mark.parametrize("scope", [None, {"system": {"all": True}}])
def test_validate_unscoped_and_system_tokens(admin: Api, anonymous: httpx.Client,
                                             scope: dict[str, Any] | None) -> None:
    """Unscoped and system-scoped tokens validate to the body they were issued with."""
    issued = anonymous.post("/v3/auth/tokens",
                            json=password_auth("admin", ADMIN_PASSWORD, scope=scope))
    assert issued.status_code == 201, issued.text
    response = check(admin, issued.headers["X-Subject-Token"])
    assert response.status_code == 200, response.text
    assert response.json() == issued.json()


def test_head_checks_without_a_body(admin: Api, member: Member) -> None:
    """HEAD answers 200 with X-Subject-Token echoed and no body."""
    response = check(admin, member.token, "HEAD")
    assert response.status_code == 200
    assert response.headers["X-Subject-Token"] == member.token
    assert response.content == b""


def test_nocatalog_on_validate(admin: Api, member: Member) -> None:
    """?nocatalog on GET drops the catalog key and keeps everything else."""
    full = check(admin, member.token).json()["token"]
    bare = check(admin, member.token, nocatalog="1").json()["token"]
    assert "catalog" in full and "catalog" not in bare
    del full["catalog"]
    assert bare == full


def test_delete_revokes(admin: Api, member: Member) -> None:
    """DELETE answers 204; the token then validates 404 'Failed to validate token' on GET and
    HEAD, and a second DELETE is a 404 too."""
    token = member.new_token({"project": {"id": member.project["id"]}})
    revoked = check(admin, token, "DELETE")
    assert revoked.status_code == 204
    assert revoked.content == b""
    assert_not_found(check(admin, token), FAILED)
    assert_not_found(check(admin, token, "HEAD"), FAILED)
    assert_not_found(check(admin, token, "DELETE"), FAILED)


def test_revoked_token_as_auth_token_is_401(admin: Api, member: Member) -> None:
    """A revoked token used as X-Auth-Token is the generic 401, and other tokens of the same
    user are unaffected."""
    token = member.new_token({"project": {"id": member.project["id"]}})
    assert check(admin, token, "DELETE").status_code == 204
    assert_unauthorized(member.api.get(f"/v3/users/{member.user['id']}",
                                       headers={"X-Auth-Token": token}))
    assert member.api.get(f"/v3/users/{member.user['id']}").status_code == 200


def test_user_may_revoke_own_token(member: Member) -> None:
    """A non-admin may DELETE their own token (here: one token revoking another of theirs)."""
    other = member.new_token({"project": {"id": member.project["id"]}})
    assert check(member.api, other, "DELETE").status_code == 204
    assert_not_found(check(member.api, other), FAILED)


# -- bad subject tokens: 404, never 500 ----------------------------------------------------

def test_unrecognizable_subject_tokens_are_404(admin: Api, member: Member) -> None:
    """Garbage, truncated, bit-flipped, padded-out and oversized subject tokens are each a 404
    'Could not recognize Fernet token' on GET, HEAD and DELETE — never a 500."""
    token = member.token
    middle = len(token) // 2
    flipped = token[:middle] + ("A" if token[middle] != "A" else "B") + token[middle + 1:]
    for subject in ("garbage", token[:-8], token[:40], flipped, token + "AAAA",
                    token * 6, "g" * 10_000, "%%%%", "gAAAAAB" + "=" * 20):
        for method in ("GET", "HEAD", "DELETE"):
            assert_not_found(check(admin, subject, method), UNRECOGNIZED)
    assert check(admin, token).status_code == 200  # the original is untouched


def test_missing_subject_token_is_404(admin: Api) -> None:
    """No X-Subject-Token at all is a 404 'No token in the request', as Keystone answers."""
    for method in ("GET", "HEAD", "DELETE"):
        assert_not_found(check(admin, None, method), "No token in the request")


# -- bad X-Auth-Token: 401 -----------------------------------------------------------------

def test_missing_or_garbage_auth_token_is_401(anonymous: httpx.Client, member: Member) -> None:
    """Without an X-Auth-Token, or with a garbage one, validation is the generic 401 (the
    subject token being valid changes nothing)."""
    for headers in ({}, {"X-Auth-Token": "garbage"}, {"X-Auth-Token": member.token[:-5]}):
        for method in ("GET", "DELETE"):
            response = anonymous.request(method, "/v3/auth/tokens",
                                         headers={**headers, "X-Subject-Token": member.token})
            assert_unauthorized(response)
    assert anonymous.head("/v3/auth/tokens",
                          headers={"X-Subject-Token": member.token}).status_code == 401


# -- who may validate whose token ----------------------------------------------------------

def test_non_admin_validates_own_token_only(admin: Api, member: Member) -> None:
    """A member may validate and check their own token, but validating, checking or revoking
    someone else's is a 403 naming the policy rule, and leaves that token valid."""
    assert check(member.api, member.token).status_code == 200
    assert check(member.api, member.new_token("unscoped"), "HEAD").status_code == 200
    denied = check(member.api, admin.token)
    assert denied.status_code == 403
    assert denied.json()["error"]["message"] == (
        "You are not authorized to perform the requested action: identity:validate_token.")
    assert check(member.api, admin.token, "HEAD").status_code == 403
    assert check(member.api, admin.token, "DELETE").status_code == 403
    assert check(admin, admin.token).status_code == 200


# -- everything is recomputed at validation ------------------------------------------------

def test_removed_role_invalidates_project_token(admin: Api, member: Member) -> None:
    """Revoking the user's only role on the project makes their project token 404 at once."""
    member_role = admin.role_id("member")
    path = f"/v3/projects/{member.project['id']}/users/{member.user['id']}/roles/{member_role}"
    assert admin.delete(path).status_code == 204
    assert_not_found(check(admin, member.token), FAILED)
    assert_unauthorized(member.api.get(f"/v3/users/{member.user['id']}"))


def test_roles_follow_grants(admin: Api, member: Member) -> None:
    """A role granted after issue shows up in the token's roles at the next validation."""
    extra = admin.role()
    admin.grant(member.project["id"], member.user["id"], extra["id"])
    names = {r["name"] for r in check(admin, member.token).json()["token"]["roles"]}
    assert names == {"member", "reader", extra["name"]}


def test_disabled_project_invalidates_token(admin: Api, member: Member) -> None:
    """Disabling the scoped project makes the token 404."""
    response = admin.patch(f"/v3/projects/{member.project['id']}",
                           json={"project": {"enabled": False}})
    assert response.status_code == 200, response.text
    assert_not_found(check(admin, member.token), FAILED)


def test_disabled_user_invalidates_tokens(admin: Api, member: Member) -> None:
    """Disabling the user makes their project and unscoped tokens 404."""
    unscoped = member.new_token("unscoped")
    response = admin.patch(f"/v3/users/{member.user['id']}", json={"user": {"enabled": False}})
    assert response.status_code == 200, response.text
    assert_not_found(check(admin, member.token), FAILED)
    assert_not_found(check(admin, unscoped), FAILED)


def test_disabled_domain_invalidates_its_users_tokens(admin: Api) -> None:
    """Disabling a user's domain makes that user's tokens 404."""
    domain = admin.domain()
    user = admin.user(password=PASSWORD, domain_id=domain["id"])
    issued = admin.post("/v3/auth/tokens", json={"auth": {"identity": {
        "methods": ["password"], "password": {"user": {"id": user["id"], "password": PASSWORD}}}}})
    assert issued.status_code == 201, issued.text
    token = issued.headers["X-Subject-Token"]
    assert check(admin, token).status_code == 200
    response = admin.patch(f"/v3/domains/{domain['id']}", json={"domain": {"enabled": False}})
    assert response.status_code == 200, response.text
    assert_not_found(check(admin, token), FAILED)


def test_deleted_user_invalidates_tokens(admin: Api, member: Member) -> None:
    """Deleting the user makes their token 404 (not a 500 for the missing user)."""
    assert admin.delete(f"/v3/users/{member.user['id']}").status_code == 204
    assert_not_found(check(admin, member.token), FAILED)
    assert_not_found(check(admin, member.token, "HEAD"), FAILED)


def test_password_change_revokes_old_tokens(admin: Api, anonymous: httpx.Client,
                                            member: Member) -> None:
    """POST /v3/users/{id}/password needs no token; it answers 204, every earlier token of
    the user then validates 404, the old password no longer works and the new one does."""
    unscoped = member.new_token("unscoped")
    changed = anonymous.post(f"/v3/users/{member.user['id']}/password", json={
        "user": {"original_password": PASSWORD, "password": "brand-new-Pa55word"}})
    assert changed.status_code == 204, changed.text
    assert_not_found(check(admin, member.token), FAILED)
    assert_not_found(check(admin, unscoped), FAILED)
    old = anonymous.post("/v3/auth/tokens", json={"auth": {"identity": {
        "methods": ["password"],
        "password": {"user": {"id": member.user["id"], "password": PASSWORD}}}}})
    assert_unauthorized(old)
    fresh = member.new_token({"project": {"id": member.project["id"]}},
                             password="brand-new-Pa55word")
    assert check(admin, fresh).status_code == 200


def test_password_change_with_wrong_original_is_401(admin: Api, anonymous: httpx.Client,
                                                    member: Member) -> None:
    """A wrong original password (with or without an admin token) or an unknown user is the
    generic 401; the password and the user's tokens are unchanged."""
    body = {"user": {"original_password": "not-it", "password": "brand-new-Pa55word"}}
    assert_unauthorized(anonymous.post(f"/v3/users/{member.user['id']}/password", json=body))
    assert_unauthorized(admin.post(f"/v3/users/{member.user['id']}/password", json=body))
    assert_unauthorized(anonymous.post(f"/v3/users/{'0' * 32}/password", json={
        "user": {"original_password": PASSWORD, "password": "brand-new-Pa55word"}}))
    assert check(admin, member.token).status_code == 200
    member.new_token("unscoped", password=PASSWORD)


def test_tokens_stay_revoked_when_their_project_is_enabled_again(admin: Api) -> None:
    """Disabling a project revokes the tokens scoped to it: enabling it again does not
    bring them back, while a token issued afterwards works."""
    user, project = admin.member_of_new_project()
    scope = {"project": {"id": project["id"]}}
    old = admin.post("/v3/auth/tokens", json=password_auth(
        user["name"], "member-Pa55word", scope=scope)).headers["X-Subject-Token"]
    for enabled in (False, True):
        response = admin.patch(f"/v3/projects/{project['id']}",
                               json={"project": {"enabled": enabled}})
        assert response.status_code == 200
    assert admin.get("/v3/auth/tokens", headers={"X-Subject-Token": old}).status_code == 404
    time.sleep(0.01)
    new = admin.post("/v3/auth/tokens", json=password_auth(
        user["name"], "member-Pa55word", scope=scope)).headers["X-Subject-Token"]
    assert admin.get("/v3/auth/tokens", headers={"X-Subject-Token": new}).status_code == 200
