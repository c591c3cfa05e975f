"""openstacksdk (from PyPI, in .venv-compat) against a live sevres: a clouds.yaml
connection (``openstack.connect(cloud=...)`` with OS_CLIENT_CONFIG_FILE) and the identity
proxy's create, list, update and delete calls. The script is clients/sdk_identity.py; each
test runs one of its scenarios and checks here, through the API, what it left behind."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.compat.compat_venv import compat_python, run_client
from tests.factories import Api, unique
from tests.server import ADMIN_PASSWORD, Server


@pytest.fixture(scope="module")
def python() -> Path:
    return compat_python()


@pytest.fixture(scope="module")
def clouds_yaml(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clouds.yaml with the bootstrap admin as cloud ``sevres-admin``."""
    path = tmp_path_factory.mktemp("sdk") / "clouds.yaml"
    path.write_text(
        "clouds:\n"
        "  sevres-admin:\n"
        "    identity_api_version: 3\n"
        "    auth:\n"
        f"      auth_url: {server.url}/v3\n"
        "      username: admin\n"
        f"      password: {ADMIN_PASSWORD}\n"
        "      project_name: admin\n"
        "      user_domain_name: Default\n"
        "      project_domain_name: Default\n")
    return path


def sdk(python: Path, clouds_yaml: Path, home: Path, scenario: str,
        prefix: str = "sdk") -> dict[str, Any]:
    return dict(run_client(python, "sdk_identity.py", scenario, home=home,
                           OS_CLIENT_CONFIG_FILE=str(clouds_yaml), OS_CLOUD="sevres-admin",
                           SEVRES_PREFIX=prefix))


def test_connect_from_clouds_yaml(python: Path, clouds_yaml: Path, admin: Api,
                                  server: Server, tmp_path: Path) -> None:
    """The connection authenticates as the cloud's user on its project, finds the identity
    endpoint in the catalog, and lists services and domains."""
    got = sdk(python, clouds_yaml, tmp_path, "connect")
    assert got["project_id"] == admin.body["project"]["id"]
    assert got["user_id"] == admin.body["user"]["id"]
    assert got["identity_endpoint"].rstrip("/") == f"{server.url}/v3"
    assert "identity" in got["service_types"]
    assert "Default" in got["domains"]


def test_projects(python: Path, clouds_yaml: Path, admin: Api, tmp_path: Path) -> None:
    """create_project (top level and child), projects() with domain and parent filters,
    update_project (description, disable), get/find_project, delete_project."""
    prefix = unique("sdkp")
    got = sdk(python, clouds_yaml, tmp_path, "projects", prefix)
    parent = got["parent"]
    assert parent["name"] == f"{prefix}-parent" and parent["domain_id"] == "default"
    assert parent["parent_id"] == "default" and parent["is_enabled"] is True
    assert parent["description"] == "made by openstacksdk"
    assert got["child_parent_id"] == parent["id"]
    assert got["listed"] == [f"{prefix}-child", f"{prefix}-parent"]
    assert got["children"] == [f"{prefix}-child"]
    assert got["updated"] == got["fetched"] == {"description": "updated", "is_enabled": False}
    assert got["found_id"] == parent["id"]
    assert got["deleted"] is True
    assert admin.get(f"/v3/projects/{parent['id']}").status_code == 404


def test_users(python: Path, clouds_yaml: Path, admin: Api, tmp_path: Path) -> None:
    """create_user with password, email, description and default project; users();
    update_user (email, disable); get/find_user; delete_user."""
    prefix = unique("sdku")
    got = sdk(python, clouds_yaml, tmp_path, "users", prefix)
    user = got["user"]
    assert user["name"] == f"{prefix}-user" and user["domain_id"] == "default"
    assert user["email"] == "sdk@example.org"
    assert user["description"] == "made by openstacksdk"
    assert user["default_project_id"] == got["project_id"]
    assert user["is_enabled"] is True
    assert got["listed"] == [f"{prefix}-user"]
    assert got["updated"] == got["fetched"] == {"email": "changed@example.org",
                                                "is_enabled": False}
    assert got["found_id"] == user["id"]
    assert got["deleted"] is True
    assert admin.get(f"/v3/users/{user['id']}").status_code == 404


def test_roles_and_grant(python: Path, clouds_yaml: Path, admin: Api, tmp_path: Path) -> None:
    """create_role, roles(), update_role; assign_project_role_to_user, which
    validate_user_has_project_role and role_assignments() then show and with which the
    user logs in to the project; unassign; delete_role."""
    prefix = unique("sdkr")
    got = sdk(python, clouds_yaml, tmp_path, "roles", prefix)
    role = got["role"]
    assert role["name"] == f"{prefix}-role"
    assert role["description"] == "made by openstacksdk"
    assert got["listed"] == [f"{prefix}-role"]
    assert got["updated_description"] == "updated"
    assert got["has_role"] is True
    assert got["assignments"] == [{"role": role["id"], "project": got["project_id"],
                                   "user": got["user_id"]}]
    assert got["user_project"] == got["project_id"]
    assert got["still_has_role"] is False
    assert got["role_after_delete"] == "not found"
    assert admin.get(f"/v3/roles/{role['id']}").status_code == 404


def test_cloud_layer(python: Path, clouds_yaml: Path, admin: Api, tmp_path: Path) -> None:
    """The connection's cloud-layer calls: domain, project, user, group, membership,
    grant_role (True, then False for the same grant), list_role_assignments, revoke_role,
    and deleting it all."""
    got = sdk(python, clouds_yaml, tmp_path, "cloud", unique("sdkc"))
    assert got["in_group"] is True and got["in_group_after"] is False
    assert (got["granted"], got["granted_again"], got["granted_group"]) == (True, False, True)
    assert got["assignments"] == sorted([[got["user_id"], got["project_id"]],
                                         [got["group_id"], got["domain_id"]]])
    assert got["revoked"] is True and got["revoked_group"] is True
    assert got["domain_deleted"] is True
    for path in (f"domains/{got['domain_id']}", f"projects/{got['project_id']}",
                 f"users/{got['user_id']}", f"groups/{got['group_id']}",
                 f"roles/{got['role_id']}"):
        assert admin.get(f"/v3/{path}").status_code == 404, path


def test_pages(python: Path, clouds_yaml: Path, tmp_path: Path) -> None:
    """projects(limit=2) and users(limit=2) yield each of five items once, fetched two by
    two (the SDK sends limit, then marker=<last id> until a short page), the same items
    as the unpaged list."""
    prefix = unique("sdkpg")
    got = sdk(python, clouds_yaml, tmp_path, "pages", prefix)
    assert sorted(got["projects"]) == sorted(got["whole"]) == [f"{prefix}-p{n}"
                                                                for n in range(5)]
    assert sorted(got["users"]) == [f"{prefix}-u{n}" for n in range(5)]
    project_pages = [url for url in got["requests"] if "/projects?" in url]
    assert len(project_pages) >= 3, got["requests"]
    assert all("limit=2" in url for url in project_pages)
    assert sum("marker=" in url for url in project_pages) >= 2
