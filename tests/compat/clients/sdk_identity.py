"""openstacksdk's identity proxy against a live sevres, run with .venv-compat/bin/python.

Usage: sdk_identity.py SCENARIO. The connection comes from clouds.yaml:
OS_CLIENT_CONFIG_FILE names the file and OS_CLOUD the cloud, as a user sets them;
SEVRES_PREFIX makes the names this run creates unique. Prints one JSON object of what
the SDK returned; any exception exits non-zero with its traceback.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Any

import openstack
from openstack import exceptions
from openstack.connection import Connection
from openstack.identity.v3 import _proxy as identity_v3


def connect() -> Connection:
    return openstack.connect(cloud=os.environ["OS_CLOUD"])


def v3(conn: Connection) -> identity_v3.Proxy:
    """The identity proxy, which the SDK types as v2 or v3; sevres serves v3 only."""
    proxy = conn.identity
    assert isinstance(proxy, identity_v3.Proxy), type(proxy)
    return proxy


def name(suffix: str) -> str:
    return f"{os.environ['SEVRES_PREFIX']}-{suffix}"


def gone(find: Callable[..., Any], name_or_id: str) -> bool:
    return find(name_or_id, ignore_missing=True) is None


def scenario_connect() -> dict[str, Any]:
    """The connection authenticates from clouds.yaml and reads the catalog."""
    conn = connect()
    conn.authorize()
    return {
        "project_id": conn.current_project_id,
        "user_id": conn.current_user_id,
        "identity_endpoint": conn.endpoint_for("identity"),
        "service_types": sorted(s.type for s in v3(conn).services()),
        "domains": sorted(d.name for d in v3(conn).domains()),
    }


def scenario_projects() -> dict[str, Any]:
    conn = connect()
    ident = v3(conn)
    domain = ident.find_domain("Default", ignore_missing=False)
    parent = ident.create_project(name=name("parent"), domain_id=domain.id,
                                  description="made by openstacksdk")
    created = {"id": parent.id, "name": parent.name, "domain_id": parent.domain_id,
               "parent_id": parent.parent_id, "description": parent.description,
               "is_enabled": parent.is_enabled}
    child = ident.create_project(name=name("child"), domain_id=domain.id, parent_id=parent.id)
    listed = sorted(p.name for p in ident.projects(domain_id=domain.id)
                    if p.name.startswith(os.environ["SEVRES_PREFIX"]))
    children = sorted(p.name for p in ident.projects(parent_id=parent.id))
    updated = ident.update_project(child, description="updated", is_enabled=False)
    fetched = ident.get_project(child.id)
    found = ident.find_project(name("parent"), domain_id=domain.id, ignore_missing=False)
    ident.delete_project(child)
    ident.delete_project(parent)
    return {
        "parent": created,
        "child_parent_id": child.parent_id,
        "listed": listed,
        "children": children,
        "updated": {"description": updated.description, "is_enabled": updated.is_enabled},
        "fetched": {"description": fetched.description, "is_enabled": fetched.is_enabled},
        "found_id": found.id,
        "deleted": gone(ident.find_project, child.id) and gone(ident.find_project, parent.id),
    }


def scenario_users() -> dict[str, Any]:
    conn = connect()
    ident = v3(conn)
    domain = ident.find_domain("Default", ignore_missing=False)
    project = ident.create_project(name=name("home"), domain_id=domain.id)
    user = ident.create_user(name=name("user"), domain_id=domain.id,
                             password="sdk-user-Pa55word", email="sdk@example.org",
                             description="made by openstacksdk",
                             default_project_id=project.id)
    created = {"id": user.id, "name": user.name, "domain_id": user.domain_id,
               "email": user.email, "description": user.description,
               "default_project_id": user.default_project_id, "is_enabled": user.is_enabled}
    listed = [u.name for u in ident.users(domain_id=domain.id) if u.name == name("user")]
    updated = ident.update_user(user, email="changed@example.org", is_enabled=False)
    fetched = ident.get_user(user.id)
    found = ident.find_user(name("user"), domain_id=domain.id, ignore_missing=False)
    ident.delete_user(user)
    ident.delete_project(project)
    return {
        "user": created,
        "project_id": project.id,
        "listed": listed,
        "updated": {"email": updated.email, "is_enabled": updated.is_enabled},
        "fetched": {"email": fetched.email, "is_enabled": fetched.is_enabled},
        "found_id": found.id,
        "deleted": gone(ident.find_user, user.id),
    }


def scenario_roles() -> dict[str, Any]:
    """Role create/list/update/delete, and a grant on a project checked, listed as a role
    assignment, used (the user logs in to the project) and revoked."""
    conn = connect()
    ident = v3(conn)
    domain = ident.find_domain("Default", ignore_missing=False)
    role = ident.create_role(name=name("role"), description="made by openstacksdk")
    created = {"id": role.id, "name": role.name, "description": role.description}
    listed = [r.name for r in ident.roles() if r.name == name("role")]
    updated = ident.update_role(role, description="updated")
    project = ident.create_project(name=name("granted"), domain_id=domain.id)
    user = ident.create_user(name=name("grantee"), domain_id=domain.id,
                             password="sdk-grantee-Pa55word")
    ident.assign_project_role_to_user(project, user, role)
    has_role = ident.validate_user_has_project_role(project, user, role)
    assignments = [{"role": a.role["id"], "project": a.scope["project"]["id"],
                    "user": a.user["id"]}
                   for a in ident.role_assignments(user_id=user.id)]
    # The grantee's own connection, from arguments only (not OS_CLOUD's clouds.yaml).
    as_user = openstack.connect(
        load_yaml_config=False, load_envvars=False, identity_api_version="3",
        auth={"auth_url": conn.auth["auth_url"], "username": user.name,
              "password": "sdk-grantee-Pa55word", "user_domain_id": domain.id,
              "project_id": project.id})
    as_user.authorize()
    user_project = as_user.current_project_id
    ident.unassign_project_role_from_user(project, user, role)
    still_has_role = ident.validate_user_has_project_role(project, user, role)
    ident.delete_user(user)
    ident.delete_project(project)
    ident.delete_role(role)
    try:
        ident.get_role(role.id)
        role_after_delete = "found"
    except exceptions.NotFoundException:
        role_after_delete = "not found"
    return {
        "role": created,
        "listed": listed,
        "updated_description": updated.description,
        "user_id": user.id,
        "project_id": project.id,
        "has_role": has_role,
        "assignments": assignments,
        "user_project": user_project,
        "still_has_role": still_has_role,
        "role_after_delete": role_after_delete,
    }


def scenario_cloud() -> dict[str, Any]:
    """The cloud layer (what Ansible's openstack.cloud modules call): a domain, a project,
    a user and a group in it, membership, grants to the user on the project and to the
    group on the domain (grant_role checks first, so a second grant changes nothing),
    their listing, revocation, and deletion of it all."""
    conn = connect()
    domain = conn.create_domain(name("dom"), "made by the cloud layer")
    project = conn.create_project(name("proj"), domain_id=domain.id)
    user = conn.create_user(name("user"), password="sdk-cloud-Pa55word", domain_id=domain.id)
    group = conn.create_group(name("group"), "a group", domain=domain.id)
    role = conn.create_role(name("role"))
    conn.add_user_to_group(user.id, group.id)
    result: dict[str, Any] = {
        "domain_id": domain.id, "project_id": project.id, "user_id": user.id,
        "group_id": group.id, "role_id": role.id,
        "in_group": conn.is_user_in_group(user.id, group.id),
        "granted": conn.grant_role(role.id, user=user.id, project=project.id),
        "granted_again": conn.grant_role(role.id, user=user.id, project=project.id),
        "granted_group": conn.grant_role(role.id, group=group.id, domain=domain.id),
    }
    result["assignments"] = sorted(
        [a.user["id"] if a.user else a.group["id"],
         a.scope["project"]["id"] if "project" in a.scope else a.scope["domain"]["id"]]
        for a in conn.list_role_assignments(filters={"role": role.id}))
    result["revoked"] = conn.revoke_role(role.id, user=user.id, project=project.id)
    result["revoked_group"] = conn.revoke_role(role.id, group=group.id, domain=domain.id)
    conn.remove_user_from_group(user.id, group.id)
    result["in_group_after"] = conn.is_user_in_group(user.id, group.id)
    conn.delete_group(group.id)
    conn.delete_user(user.id)
    conn.delete_project(project.id)
    conn.delete_role(role.id)
    conn.update_domain(domain.id, enabled=False)
    result["domain_deleted"] = conn.delete_domain(domain.id)
    return result


def scenario_pages() -> dict[str, Any]:
    """projects() and users() with limit=2 walk every page of five; each request the SDK
    sends is recorded, to show it asked page by page."""
    conn = connect()
    ident = v3(conn)
    sent: list[str] = []
    conn.session.session.hooks["response"].append(
        lambda response, *args, **kwargs: sent.append(response.request.url))
    domain = ident.create_domain(name=name("pages"))
    projects = [ident.create_project(name=name(f"p{n}"), domain_id=domain.id)
                for n in range(5)]
    users = [ident.create_user(name=name(f"u{n}"), domain_id=domain.id) for n in range(5)]
    sent.clear()
    paged_projects = [p.name for p in ident.projects(domain_id=domain.id, limit=2)]
    paged_users = [u.name for u in ident.users(domain_id=domain.id, limit=2)]
    requests = list(sent)
    whole = [p.name for p in ident.projects(domain_id=domain.id)]
    for user in users:
        ident.delete_user(user)
    for project in projects:
        ident.delete_project(project)
    ident.update_domain(domain, is_enabled=False)
    ident.delete_domain(domain)
    return {"projects": paged_projects, "users": paged_users, "whole": whole,
            "requests": requests}


SCENARIOS: dict[str, Callable[[], dict[str, Any]]] = {
    "pages": scenario_pages,
    "cloud": scenario_cloud,
    "connect": scenario_connect,
    "projects": scenario_projects,
    "users": scenario_users,
    "roles": scenario_roles,
}


def main(argv: list[str]) -> int:
    (scenario,) = argv
    print(json.dumps(SCENARIOS[scenario](), sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
