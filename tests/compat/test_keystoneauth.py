"""keystoneauth1 (from PyPI, in .venv-compat) against a live sevres: the v3 Password,
Token and ApplicationCredential plugins with a Session, and version discovery — what every
OpenStack client and service uses to reach Keystone. The script is
clients/keystoneauth_client.py; each test runs one of its scenarios."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.compat.compat_venv import compat_python, run_client
from tests.factories import Api
from tests.server import Server

PASSWORD = "ksa-member-Pa55word"
SECRET = "ksa-appcred-secret"


@pytest.fixture(scope="module")
def python() -> Path:
    return compat_python()


@pytest.fixture(scope="module")
def member(admin: Api, server: Server) -> dict[str, Any]:
    """A member of a new project, with an application credential carrying ``member``."""
    user, project = admin.member_of_new_project(PASSWORD)
    with Api.login(server.url, user["name"], PASSWORD,
                   scope={"project": {"id": project["id"]}}) as own:
        cred = own.app_cred(user["id"], secret=SECRET, roles=[{"name": "member"}])
    return {"user": user, "project": project, "cred": cred}


def ksa(python: Path, server: Server, member: dict[str, Any], home: Path,
        scenario: str) -> dict[str, Any]:
    user, project, cred = member["user"], member["project"], member["cred"]
    return dict(run_client(
        python, "keystoneauth_client.py", scenario, home=home, SEVRES_URL=server.url,
        OS_USERNAME=user["name"], OS_PASSWORD=PASSWORD, OS_PROJECT_NAME=project["name"],
        OS_USER_DOMAIN_NAME="Default", OS_PROJECT_DOMAIN_NAME="Default",
        OS_APPLICATION_CREDENTIAL_ID=cred["id"], OS_APPLICATION_CREDENTIAL_NAME=cred["name"],
        OS_APPLICATION_CREDENTIAL_SECRET=SECRET))


def assert_valid(admin: Api, token: str, user_id: str, project_id: str) -> dict[str, Any]:
    response = admin.get("/v3/auth/tokens", headers={"X-Subject-Token": token})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()["token"]
    assert body["user"]["id"] == user_id and body["project"]["id"] == project_id
    return body


def test_password_plugin(python: Path, server: Server, admin: Api, member: dict[str, Any],
                         tmp_path: Path) -> None:
    """v3.Password in a Session: the token, the user and project ids, the roles (member
    and the reader it implies), the identity endpoint from the catalog for public and
    internal, a call through the session; a wrong password is Unauthorized (401)."""
    got = ksa(python, server, member, tmp_path, "password")
    user, project = member["user"], member["project"]
    assert got["user_id"] == user["id"] and got["project_id"] == project["id"]
    assert got["project_name"] == project["name"]
    assert got["roles"] == ["member", "reader"]
    assert got["endpoint"].rstrip("/") == f"{server.url}/v3"
    assert got["internal_endpoint"].rstrip("/") == f"{server.url}/v3"
    assert got["has_catalog"] is True and got["application_credential_id"] is None
    assert got["auth_projects"] == [project["name"]]
    assert got["wrong_password"] == "Unauthorized 401"
    body = assert_valid(admin, got["token"], user["id"], project["id"])
    assert body["methods"] == ["password"] and body["audit_ids"] == [got["audit_id"]]


def test_token_plugin(python: Path, server: Server, admin: Api, member: dict[str, Any],
                      tmp_path: Path) -> None:
    """v3.Token re-scopes a password token: a new token for the same user and project,
    with both methods (as Keystone: the new method and the original's) and the original's
    audit id as its chain (``audit_ids`` has both)."""
    got = ksa(python, server, member, tmp_path, "token")
    user, project = member["user"], member["project"]
    assert got["token"] != got["original_token"]
    assert got["user_id"] == user["id"] and got["project_id"] == project["id"]
    assert got["roles"] == ["member", "reader"]
    assert got["endpoint"].rstrip("/") == f"{server.url}/v3"
    body = assert_valid(admin, got["token"], user["id"], project["id"])
    assert sorted(body["methods"]) == ["password", "token"], body["methods"]
    original = assert_valid(admin, got["original_token"], user["id"], project["id"])
    assert body["audit_ids"][1:] == original["audit_ids"], (body, original)


def test_application_credential_plugin(python: Path, server: Server, admin: Api,
                                       member: dict[str, Any], tmp_path: Path) -> None:
    """v3.ApplicationCredential by id, and by name with the owner's name: a token on the
    credential's project with the credential's role (and the one it implies), naming the
    credential."""
    got = ksa(python, server, member, tmp_path, "application_credential")
    user, project, cred = member["user"], member["project"], member["cred"]
    assert got["user_id"] == user["id"] and got["project_id"] == project["id"]
    assert got["by_name_project_id"] == project["id"]
    assert got["application_credential_id"] == cred["id"]
    assert got["roles"] == ["member", "reader"]  # a role brings those it implies
    assert got["endpoint"].rstrip("/") == f"{server.url}/v3"
    body = assert_valid(admin, got["token"], user["id"], project["id"])
    assert body["methods"] == ["application_credential"]
    assert body["application_credential"]["id"] == cred["id"]


def test_version_discovery(python: Path, server: Server, member: dict[str, Any],
                           tmp_path: Path) -> None:
    """discover.get_version_data on the root and on /v3 finds one stable v3 whose link is
    the /v3/ URL; the generic Password plugin discovers v3 from the bare root URL; and
    session.get_endpoint for identity answers the v3 URL, major version 3."""
    got = ksa(python, server, member, tmp_path, "discovery")
    v3 = f"{server.url}/v3/"
    for label in ("root", "v3"):
        (version,) = got["versions"][label]
        assert version["status"] == "stable" and version["id"].startswith("v3.")
        assert version["links"] == [v3]
    assert got["generic_token"] is True
    assert got["generic_project_id"] == member["project"]["id"]
    assert got["public_endpoint"] == v3 and got["public_v3_endpoint"] == v3
    assert got["api_major_version"][0] == 3
    assert got["discovered"]["url"] == v3 and got["discovered"]["version"][0] == 3
