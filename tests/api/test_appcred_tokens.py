"""Tokens from application credentials: the auth method, the token Keystone builds for
it, the credential's limits (roles, expiry, restriction) and what ends such a token."""

from __future__ import annotations

import datetime
import time
from typing import Any

from tests.factories import Api, error
from tests.server import Server

PASSWORD = "member-Pa55word"


def owner(admin: Api, server: Server) -> tuple[Api, dict[str, Any], dict[str, Any]]:
    """A member of a new project, logged in on it: (their client, user, project)."""
    user, project = admin.member_of_new_project(PASSWORD)
    client = Api.login(server.url, user["name"], PASSWORD,
                       scope={"project": {"id": project["id"]}})
    return client, user, project


def cred_auth(block: dict[str, Any], scope: dict[str, Any] | None = None) -> dict[str, Any]:
    auth: dict[str, Any] = {"identity": {"methods": ["application_credential"],
                                         "application_credential": block}}
    if scope is not None:
        auth["scope"] = scope
    return {"auth": auth}


def login(anonymous: Any, block: dict[str, Any], **kw: Any) -> Any:
    return anonymous.post("/v3/auth/tokens", json=cred_auth(block, **kw))


def test_a_credential_logs_in_to_its_project_with_its_roles(
        admin: Api, server: Server, anonymous: Any) -> None:
    client, user, project = owner(admin, server)
    with client:
        cred = client.app_cred(user["id"], roles=[{"name": "reader"}])
    response = login(anonymous, {"id": cred["id"], "secret": cred["secret"]})
    assert response.status_code == 201, response.text
    token = response.json()["token"]
    assert token["methods"] == ["application_credential"]
    assert token["project"]["id"] == project["id"]
    assert {r["name"] for r in token["roles"]} == {"reader"}
    assert token["application_credential"] == {
        "id": cred["id"], "name": cred["name"], "restricted": True}
    assert token["user"]["id"] == user["id"]
    subject = response.headers["X-Subject-Token"]
    validated = admin.get("/v3/auth/tokens", headers={"X-Subject-Token": subject})
    assert validated.status_code == 200
    assert validated.json()["token"]["application_credential"]["id"] == cred["id"]


def test_by_name_with_its_user(admin: Api, server: Server, anonymous: Any) -> None:
    client, user, _ = owner(admin, server)
    with client:
        cred = client.app_cred(user["id"])
    by_id = login(anonymous, {"name": cred["name"], "user": {"id": user["id"]},
                              "secret": cred["secret"]})
    assert by_id.status_code == 201, by_id.text
    by_name = login(anonymous, {"name": cred["name"], "secret": cred["secret"],
                                "user": {"name": user["name"], "domain": {"id": "default"}}})
    assert by_name.status_code == 201, by_name.text


def test_wrong_secret_unknown_id_and_a_scope_are_refused_alike(
        admin: Api, server: Server, anonymous: Any) -> None:
    client, user, project = owner(admin, server)
    with client:
        cred = client.app_cred(user["id"])
    for response in (
        login(anonymous, {"id": cred["id"], "secret": cred["secret"] + "x"}),
        login(anonymous, {"id": "0" * 32, "secret": cred["secret"]}),
        login(anonymous, {"id": cred["id"], "secret": cred["secret"]},
              scope={"project": {"id": project["id"]}}),
    ):
        assert response.status_code == 401
        assert error(response, 401)


def test_a_restricted_credential_cannot_make_credentials(
        admin: Api, server: Server, anonymous: Any) -> None:
    client, user, _ = owner(admin, server)
    with client:
        restricted = client.app_cred(user["id"])
        free = client.app_cred(user["id"], unrestricted=True)
    for cred, status in ((restricted, 403), (free, 201)):
        token = login(anonymous, {"id": cred["id"], "secret": cred["secret"]})
        assert token.status_code == 201
        with Api(base_url=server.url, timeout=30, headers={
                "X-Auth-Token": token.headers["X-Subject-Token"]}) as via_cred:
            made = via_cred.post(f"/v3/users/{user['id']}/application_credentials",
                                 json={"application_credential": {"name": f"c{status}"}})
            assert made.status_code == status, made.text


def test_a_credential_token_cannot_be_rescoped(
        admin: Api, server: Server, anonymous: Any) -> None:
    client, user, project = owner(admin, server)
    with client:
        cred = client.app_cred(user["id"])
    token = login(anonymous, {"id": cred["id"], "secret": cred["secret"]})
    rescoped = anonymous.post("/v3/auth/tokens", json={"auth": {
        "identity": {"methods": ["token"],
                     "token": {"id": token.headers["X-Subject-Token"]}},
        "scope": {"project": {"id": project["id"]}}}})
    assert rescoped.status_code == 401


def test_deleting_the_credential_ends_its_tokens(
        admin: Api, server: Server, anonymous: Any) -> None:
    client, user, _ = owner(admin, server)
    with client:
        cred = client.app_cred(user["id"])
        subject = login(anonymous, {"id": cred["id"], "secret": cred["secret"]}
                        ).headers["X-Subject-Token"]
        assert admin.get("/v3/auth/tokens",
                         headers={"X-Subject-Token": subject}).status_code == 200
        deleted = client.delete(f"/v3/users/{user['id']}/application_credentials/{cred['id']}")
        assert deleted.status_code == 204
    assert admin.get("/v3/auth/tokens", headers={"X-Subject-Token": subject}).status_code == 404
    assert login(anonymous, {"id": cred["id"], "secret": cred["secret"]}).status_code == 401


def test_a_lost_role_leaves_the_credential_nothing(
        admin: Api, server: Server, anonymous: Any) -> None:
    client, user, project = owner(admin, server)
    with client:
        cred = client.app_cred(user["id"], roles=[{"name": "member"}])
    subject = login(anonymous, {"id": cred["id"], "secret": cred["secret"]}
                    ).headers["X-Subject-Token"]
    member = admin.role_id("member")
    assert admin.delete(f"/v3/projects/{project['id']}/users/{user['id']}/roles/{member}"
                        ).status_code == 204
    assert admin.get("/v3/auth/tokens", headers={"X-Subject-Token": subject}).status_code == 404
    assert login(anonymous, {"id": cred["id"], "secret": cred["secret"]}).status_code == 401


def test_an_expiring_credential_ends_its_tokens_on_time(
        admin: Api, server: Server, anonymous: Any) -> None:
    client, user, _ = owner(admin, server)
    soon = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=3)
    with client:
        cred = client.app_cred(user["id"], expires_at=soon.strftime("%Y-%m-%dT%H:%M:%S.%f"))
    response = login(anonymous, {"id": cred["id"], "secret": cred["secret"]})
    assert response.status_code == 201, response.text
    subject = response.headers["X-Subject-Token"]
    assert admin.get("/v3/auth/tokens", headers={"X-Subject-Token": subject}).status_code == 200
    time.sleep(max(0.0, (soon - datetime.datetime.now(datetime.UTC)).total_seconds()) + 0.5)
    assert admin.get("/v3/auth/tokens", headers={"X-Subject-Token": subject}).status_code == 404
    assert login(anonymous, {"id": cred["id"], "secret": cred["secret"]}).status_code == 401


def test_access_rules_travel_in_the_token(
        admin: Api, server: Server, anonymous: Any) -> None:
    client, user, _ = owner(admin, server)
    rule = {"service": "compute", "path": "/v2.1/servers", "method": "GET"}
    with client:
        cred = client.app_cred(user["id"], access_rules=[rule])
    token = login(anonymous, {"id": cred["id"], "secret": cred["secret"]}).json()["token"]
    rules = token["application_credential"]["access_rules"]
    assert [{k: r[k] for k in rule} for r in rules] == [rule]
    assert all(r["id"] for r in rules)
