"""keystonemiddleware's auth_token (from PyPI, in .venv-compat) protecting a WSGI app,
validating tokens against a live sevres with a service user, as every OpenStack service
does. The script clients/keystonemiddleware_client.py runs all cases of one test in one
process; its token cache is off, so each case is a validation by sevres."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.test_token_fuzz import HOUR_MS, deployment_ring, project_payload, seal
from tests.compat.compat_venv import compat_python, run_client
from tests.factories import Api, unique
from tests.server import ADMIN_PASSWORD, Server

SERVICE_PASSWORD = "service-user-Pa55word"
MEMBER_PASSWORD = "ksm-member-Pa55word"


@pytest.fixture(scope="module")
def python() -> Path:
    return compat_python()


@pytest.fixture(scope="module")
def service_user(admin: Api) -> dict[str, Any]:
    """A service user holding the ``service`` role on a service project, made through
    the API as a deployer does for nova or neutron."""
    project = admin.project(name=unique("service"))
    user = admin.user(password=SERVICE_PASSWORD, name=unique("svc"))
    admin.grant(project["id"], user["id"], admin.role_id("service"))
    return {"user": user, "project": project}


@pytest.fixture(scope="module")
def member(admin: Api) -> dict[str, Any]:
    user, project = admin.member_of_new_project(MEMBER_PASSWORD)
    return {"user": user, "project": project}


def login(server: Server, name: str, password: str, project: str | None = None,
          scope: dict[str, Any] | None = None) -> str:
    """A new token, project-scoped unless another scope is given (each case gets its own)."""
    with Api.login(server.url, name, password, scope=scope or {
            "project": {"name": project, "domain": {"id": "default"}}}) as api:
        return api.token


def protect(python: Path, server: Server, service_user: dict[str, Any], home: Path,
            cases: dict[str, dict[str, str]], paths: dict[str, str] | None = None,
            service_type: str = "") -> dict[str, Any]:
    """Sends one request per case (the headers, to ``paths[case]`` or ``/``) through
    auth_token, configured with ``service_type`` if given; returns what each case got."""
    return dict(run_client(
        python, "keystonemiddleware_client.py", home=home,
        stdin=json.dumps([{"name": n, "headers": h, "path": (paths or {}).get(n, "/")}
                          for n, h in cases.items()]),
        SEVRES_URL=server.url, SEVRES_SERVICE_USER=service_user["user"]["name"],
        SEVRES_SERVICE_PASSWORD=SERVICE_PASSWORD,
        SEVRES_SERVICE_PROJECT=service_user["project"]["name"],
        SEVRES_SERVICE_TYPE=service_type))


def expired_token(server: Server, user_id: str, project_id: str) -> str:
    """A token of the user on the project, sealed with the deployment's own key, that
    expired a minute ago (an hour-long token issued an hour and a minute ago)."""
    now = int(time.time() * 1000)
    return seal(deployment_ring(server),
                project_payload(user_id, project_id, now - HOUR_MS - 60_000, now - 60_000))


def test_user_tokens(python: Path, server: Server, admin: Api, service_user: dict[str, Any],
                     member: dict[str, Any], tmp_path: Path) -> None:
    """A valid token reaches the app with Keystone's identity headers and the catalog (a
    domain-scoped one with X-Domain-Id, a system-scoped one with OpenStack-System-Scope);
    a token revoked with DELETE /v3/auth/tokens, an expired one, garbage and no token at
    all are 401 with the ``Keystone uri=`` challenge and never reach the app."""
    user, project = member["user"], member["project"]
    domain = admin.domain()
    response = admin.put(f"/v3/domains/{domain['id']}/users/{user['id']}/roles/"
                         f"{admin.role_id('reader')}")
    assert response.status_code == 204, response.text
    on_domain = login(server, user["name"], MEMBER_PASSWORD,
                      scope={"domain": {"id": domain["id"]}})
    on_system = login(server, "admin", ADMIN_PASSWORD, scope={"system": {"all": True}})
    valid = login(server, user["name"], MEMBER_PASSWORD, project["name"])
    revoked = login(server, user["name"], MEMBER_PASSWORD, project["name"])
    response = admin.delete("/v3/auth/tokens", headers={"X-Subject-Token": revoked})
    assert response.status_code == 204, response.text
    expired = expired_token(server, user["id"], project["id"])
    # The forged token is well made: sevres still knows it within allow_expired's window.
    check = admin.get("/v3/auth/tokens", params={"allow_expired": "1"},
                      headers={"X-Subject-Token": expired})
    assert check.status_code == 200, check.text

    got = protect(python, server, service_user, tmp_path, {
        "valid": {"X-Auth-Token": valid},
        "domain": {"X-Auth-Token": on_domain},
        "system": {"X-Auth-Token": on_system},
        "revoked": {"X-Auth-Token": revoked},
        "expired": {"X-Auth-Token": expired},
        "garbage": {"X-Auth-Token": "gAAAAAB-not-a-token"},
        "none": {},
    })

    ok = got["valid"]
    assert ok["status"] == 200, got
    seen = ok["seen"]
    assert seen["X-Identity-Status"] == "Confirmed"
    assert seen["X-User-Id"] == user["id"] and seen["X-User-Name"] == user["name"]
    assert seen["X-Project-Id"] == project["id"]
    assert seen["X-Project-Name"] == project["name"]
    assert seen["X-User-Domain-Id"] == "default" and seen["X-Project-Domain-Id"] == "default"
    assert sorted(seen["X-Roles"].split(",")) == ["member", "reader"]
    assert seen["token_auth_user_valid"] is True
    assert "X-Service-Identity-Status" not in seen and "X-Service-Roles" not in seen
    assert "identity" in ok["catalog_types"]
    assert seen.get("OpenStack-System-Scope") is None and seen.get("X-Domain-Id") is None

    scoped = got["domain"]
    assert scoped["status"] == 200, scoped
    assert scoped["seen"]["X-Domain-Id"] == domain["id"]
    assert scoped["seen"]["X-Roles"] == "reader"
    assert scoped["seen"].get("X-Project-Id") is None
    system = got["system"]
    assert system["status"] == 200, system
    assert system["seen"]["OpenStack-System-Scope"] == "all"
    assert "admin" in system["seen"]["X-Roles"].split(",")
    assert system["seen"].get("X-Project-Id") is None

    challenge = f'Keystone uri="{server.url}/v3"'
    for case in ("revoked", "expired", "garbage", "none"):
        assert got[case] == {"status": 401, "www_authenticate": challenge}, (case, got[case])


def test_service_tokens(python: Path, server: Server, service_user: dict[str, Any],
                        member: dict[str, Any], tmp_path: Path) -> None:
    """A user token with a service token carrying the ``service`` role passes, with the
    X-Service-* headers set; a service token without that role is refused (401) because
    service_token_roles_required is on; and with a valid service token an expired user
    token is honoured (auth_token asks sevres with ``allow_expired``), as Keystone does
    for long-running operations."""
    user, project = member["user"], member["project"]
    svc_user, svc_project = service_user["user"], service_user["project"]
    service_token = login(server, svc_user["name"], SERVICE_PASSWORD, svc_project["name"])

    def user_token() -> str:
        return login(server, user["name"], MEMBER_PASSWORD, project["name"])

    got = protect(python, server, service_user, tmp_path, {
        "with_service": {"X-Auth-Token": user_token(), "X-Service-Token": service_token},
        "not_a_service": {"X-Auth-Token": user_token(), "X-Service-Token": user_token()},
        "expired_with_service": {
            "X-Auth-Token": expired_token(server, user["id"], project["id"]),
            "X-Service-Token": service_token},
        "expired_without_service": {
            "X-Auth-Token": expired_token(server, user["id"], project["id"])},
    })

    ok = got["with_service"]
    assert ok["status"] == 200, got
    seen = ok["seen"]
    assert seen["X-Identity-Status"] == "Confirmed"
    assert seen["X-Service-Identity-Status"] == "Confirmed"
    assert seen["X-Service-Roles"].split(",") == ["service"]
    assert seen["X-Service-User-Id"] == svc_user["id"]
    assert seen["X-Service-Project-Id"] == svc_project["id"]
    assert seen["X-User-Id"] == user["id"] and seen["X-Project-Id"] == project["id"]
    assert sorted(seen["X-Roles"].split(",")) == ["member", "reader"]

    assert got["not_a_service"]["status"] == 401, got["not_a_service"]

    late = got["expired_with_service"]
    assert late["status"] == 200, late
    assert late["seen"]["X-Identity-Status"] == "Confirmed"
    assert late["seen"]["X-User-Id"] == user["id"]
    assert late["seen"]["X-Service-Identity-Status"] == "Confirmed"
    assert got["expired_without_service"]["status"] == 401


def test_is_admin_project(python: Path, server: Server, admin: Api,
                          service_user: dict[str, Any], member: dict[str, Any],
                          tmp_path: Path) -> None:
    """Services behind auth_token learn from X-Is-Admin-Project whether a token is on
    the admin project (oslo.policy's ``is_admin_project:True``): True for the bootstrap
    admin on ``admin``, False for a member of another project."""
    user, project = member["user"], member["project"]
    got = protect(python, server, service_user, tmp_path, {
        "admin": {"X-Auth-Token": login(server, "admin", ADMIN_PASSWORD, "admin")},
        "member": {"X-Auth-Token": login(server, user["name"], MEMBER_PASSWORD,
                                         project["name"])},
    })
    assert got["admin"]["seen"]["X-Is-Admin-Project"] == "True", got
    assert got["member"]["seen"]["X-Is-Admin-Project"] == "False", got


@pytest.fixture(scope="module")
def restricted(admin: Api, server: Server,
               member: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """A service type with an endpoint (so it is in the catalog), and an application
    credential of the member whose only access rule is GET /allowed/* on that service;
    with a token of it. The service leaves the catalog afterwards."""
    service_type = unique("compat-svc")
    service = admin.make("services", "service", type=service_type, name=service_type)
    endpoint = admin.make("endpoints", "endpoint", service_id=service["id"],
                          interface="public", url="http://compat.example:9999",
                          region_id="RegionOne")
    user, project = member["user"], member["project"]
    with Api.login(server.url, user["name"], MEMBER_PASSWORD,
                   scope={"project": {"id": project["id"]}}) as own:
        cred = own.app_cred(user["id"], secret="restricted-secret", access_rules=[
            {"service": service_type, "method": "GET", "path": "/allowed/*"}])
    response = admin.post("/v3/auth/tokens", json={"auth": {"identity": {
        "methods": ["application_credential"],
        "application_credential": {"id": cred["id"], "secret": "restricted-secret"}}}})
    assert response.status_code == 201, response.text
    yield {"service_type": service_type, "cred": cred,
           "token": response.headers["X-Subject-Token"]}
    assert admin.delete(f"/v3/endpoints/{endpoint['id']}").status_code == 204
    assert admin.delete(f"/v3/services/{service['id']}").status_code == 204


def test_access_rules(python: Path, server: Server, service_user: dict[str, Any],
                      member: dict[str, Any], restricted: dict[str, Any],
                      tmp_path: Path) -> None:
    """auth_token, knowing its service type, enforces an application credential's access
    rules from the token sevres validates: the allowed path passes, another is 401, and a
    service token lets a non-matching request through (it is a service-to-service call)."""
    svc_user, svc_project = service_user["user"], service_user["project"]
    service_token = login(server, svc_user["name"], SERVICE_PASSWORD, svc_project["name"])
    token = restricted["token"]
    got = protect(python, server, service_user, tmp_path, {
        "allowed": {"X-Auth-Token": token},
        "elsewhere": {"X-Auth-Token": token},
        "elsewhere_with_service": {"X-Auth-Token": token, "X-Service-Token": service_token},
    }, paths={"allowed": "/allowed/thing", "elsewhere": "/other/thing",
              "elsewhere_with_service": "/other/thing"},
        service_type=restricted["service_type"])
    assert got["allowed"]["status"] == 200, got
    assert got["allowed"]["seen"]["X-User-Id"] == member["user"]["id"]
    assert sorted(got["allowed"]["seen"]["X-Roles"].split(",")) == ["member", "reader"]
    assert got["elsewhere"]["status"] == 401, got
    assert got["elsewhere_with_service"]["status"] == 200, got


def test_access_rules_need_a_middleware_that_knows_them(admin: Api,
                                                        restricted: dict[str, Any]) -> None:
    """Keystone only hands a restricted token to a validator that announces it enforces
    access rules (keystonemiddleware sends ``OpenStack-Identity-Access-Rules: 1.0``)."""
    token = restricted["token"]
    announced = admin.get("/v3/auth/tokens", headers={
        "X-Subject-Token": token, "OpenStack-Identity-Access-Rules": "1.0"})
    assert announced.status_code == 200, announced.text
    silent = admin.get("/v3/auth/tokens", headers={"X-Subject-Token": token})
    assert silent.status_code == 404, silent.text


def test_access_rules_apply_to_the_identity_api(server: Server,
                                                restricted: dict[str, Any]) -> None:
    """A token restricted to GET /allowed/* on another service may validate itself
    (GET /v3/auth/tokens, always allowed) but not call other identity APIs."""
    token = restricted["token"]
    with httpx.Client(base_url=server.url, timeout=30) as client:
        itself = client.get("/v3/auth/tokens", headers={
            "X-Auth-Token": token, "X-Subject-Token": token})
        assert itself.status_code == 200, itself.text
        projects = client.get("/v3/auth/projects", headers={"X-Auth-Token": token})
        assert projects.status_code == 401, projects.text
