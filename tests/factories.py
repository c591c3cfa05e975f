"""Test factories: an API client that logs in, and helpers that create entities with
unique names. One place, so tests say what they prove instead of how to set it up."""

from __future__ import annotations

import uuid
from typing import Any

import httpx


def error(response: httpx.Response, status: int) -> str:
    """The message of a Keystone error body, after checking status and envelope."""
    assert response.status_code == status, response.text
    body = response.json()["error"]
    assert body["code"] == status
    return str(body["message"])


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def password_auth(name: str, password: str, domain: str = "Default",
                  scope: dict[str, Any] | str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"auth": {"identity": {
        "methods": ["password"],
        "password": {"user": {"name": name, "domain": {"name": domain}, "password": password}},
    }}}
    if scope is not None:
        body["auth"]["scope"] = scope
    return body


def project_scope(name: str = "admin", domain_id: str = "default") -> dict[str, Any]:
    return {"project": {"name": name, "domain": {"id": domain_id}}}


class Api(httpx.Client):
    """An httpx client against one server, carrying a token, with creation helpers."""

    token: str
    body: dict[str, Any]

    def __enter__(self) -> Api:
        """Usable in `with` even after login has sent a request (httpx opens on send)."""
        return self

    @classmethod
    def login(cls, url: str, name: str, password: str, domain: str = "Default",
              scope: dict[str, Any] | None = None) -> Api:
        api = cls(base_url=url, timeout=30)
        response = api.post("/v3/auth/tokens", json=password_auth(
            name, password, domain, scope if scope is not None else project_scope()))
        assert response.status_code == 201, response.text
        api.token = response.headers["X-Subject-Token"]
        api.body = response.json()["token"]
        api.headers["X-Auth-Token"] = api.token
        return api

    def make(self, collection: str, key: str, **attrs: Any) -> dict[str, Any]:
        response = self.post(f"/v3/{collection}", json={key: attrs})
        assert response.status_code == 201, response.text
        return dict(response.json()[key])

    def domain(self, **attrs: Any) -> dict[str, Any]:
        return self.make("domains", "domain", **{"name": unique("dom"), **attrs})

    def project(self, **attrs: Any) -> dict[str, Any]:
        return self.make("projects", "project", **{"name": unique("proj"), **attrs})

    def user(self, **attrs: Any) -> dict[str, Any]:
        return self.make("users", "user", **{"name": unique("user"), **attrs})

    def role(self, **attrs: Any) -> dict[str, Any]:
        return self.make("roles", "role", **{"name": unique("role"), **attrs})

    def role_id(self, name: str) -> str:
        roles = self.get("/v3/roles", params={"name": name}).json()["roles"]
        assert len(roles) == 1, roles
        return str(roles[0]["id"])

    def grant(self, project_id: str, user_id: str, role_id: str) -> None:
        response = self.put(f"/v3/projects/{project_id}/users/{user_id}/roles/{role_id}")
        assert response.status_code == 204, response.text

    def member_of_new_project(
        self, password: str = "member-Pa55word"  # noqa: S107 (a test user)
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """A new user holding the member role on a new project: (user, project)."""
        project = self.project()
        user = self.user(password=password)
        self.grant(project["id"], user["id"], self.role_id("member"))
        return user, project

    def app_cred(self, user_id: str, **attrs: Any) -> dict[str, Any]:
        """An application credential of ``user_id`` (this client's token must be theirs,
        project-scoped), with a unique name unless given; the answer includes the secret."""
        return self.make(f"users/{user_id}/application_credentials", "application_credential",
                         **{"name": unique("appcred"), **attrs})
