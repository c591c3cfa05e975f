"""Every identity command group of the real ``openstack`` CLI, end to end against a live
sevres: domains, project trees, users, groups and membership, roles, implied roles,
inherited and effective role assignments, regions, services, endpoints, application
credentials (and logging in with one), token issue and revoke.

The CLI is the one of test_openstack_cli.py (``make .venv-osc``). Each command costs
about a second, so each test walks one command group through its life and checks the
``-f json`` output of each step; setup the CLI is not under test for goes through the API.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.compat.test_openstack_cli import Cli, by_name, cli_binary, env_auth
from tests.factories import Api, unique
from tests.server import Server


@pytest.fixture(scope="module")
def osc(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cli]:
    """The CLI as the bootstrap admin, configured by OS_* environment variables."""
    yield Cli(cli_binary(), tmp_path_factory.mktemp("osc-groups-home"), env_auth(server.url))


def names(rows: list[dict[str, Any]], key: str = "Name") -> set[str]:
    return {str(row[key]) for row in rows}


def test_domain_and_project_tree(osc: Cli, admin: Api) -> None:
    """`domain create/list/show/set`, a three-level project tree made with `--parent`,
    read back with `project show --parents --children` and `project list --parent`, then
    `domain set --disable` and `domain delete`, which takes the domain's projects along."""
    name, renamed = unique("tree-dom"), unique("tree-dom2")
    domain = osc("domain", "create", "--description", "a tree", name)
    assert domain["name"] == name and domain["enabled"] is True
    assert name in names(osc("domain", "list"))
    osc.ok("domain", "set", "--name", renamed, "--description", "renamed", name)
    shown = osc("domain", "show", renamed)
    assert (shown["id"], shown["name"], shown["description"]) == (
        domain["id"], renamed, "renamed")

    top, mid, leaf = unique("top"), unique("mid"), unique("leaf")
    top_p = osc("project", "create", "--domain", renamed, top)
    mid_p = osc("project", "create", "--domain", renamed, "--parent", top, mid)
    leaf_p = osc("project", "create", "--domain", renamed, "--parent", mid, leaf)
    assert top_p["parent_id"] == domain["id"] and top_p["domain_id"] == domain["id"]
    assert mid_p["parent_id"] == top_p["id"] and leaf_p["parent_id"] == mid_p["id"]

    tree = osc("project", "show", "--domain", renamed, "--parents", "--children", mid)
    assert tree["id"] == mid_p["id"]
    assert tree["parents"] == {top_p["id"]: {domain["id"]: None}}
    assert tree["subtree"] == {leaf_p["id"]: None}
    below = osc("project", "list", "--parent", top_p["id"])
    assert [(p["ID"], p["Name"]) for p in below] == [(mid_p["id"], mid)]

    osc.ok("domain", "set", "--disable", renamed)
    osc.ok("domain", "delete", renamed)
    assert admin.get(f"/v3/domains/{domain['id']}").status_code == 404
    for project in (top_p, mid_p, leaf_p):
        assert admin.get(f"/v3/projects/{project['id']}").status_code == 404


def test_users_and_groups(osc: Cli, admin: Api, server: Server) -> None:
    """`user create --password/set/show/list/delete` and `group create`, `group add user`,
    `group contains user`, `user list --group`, `group remove user`, `group delete`, in a
    domain of their own (so every name goes with `--domain`/`--user-domain`)."""
    domain = admin.domain()
    dom = domain["name"]
    user_name, group_name = unique("cli-user"), unique("cli-group")
    user = osc("user", "create", "--domain", dom, "--password", "cli-user-Pa55word",
               "--email", "first@example.org", "--description", "made by the CLI", user_name)
    assert user["name"] == user_name and user["domain_id"] == domain["id"]
    assert user["email"] == "first@example.org" and user["enabled"] is True
    assert "password" not in user

    osc.ok("user", "set", "--domain", dom, "--email", "second@example.org",
           "--description", "changed", "--disable", user_name)
    shown = osc("user", "show", "--domain", dom, user_name)
    assert shown["id"] == user["id"] and shown["enabled"] is False
    assert shown["email"] == "second@example.org" and shown["description"] == "changed"
    listed = osc("user", "list", "--domain", dom)
    assert [(u["ID"], u["Name"]) for u in listed] == [(user["id"], user_name)]

    group = osc("group", "create", "--domain", dom, "--description", "cli group", group_name)
    assert group["name"] == group_name and group["domain_id"] == domain["id"]
    membership = ("--group-domain", dom, "--user-domain", dom, group_name, user_name)
    osc.ok("group", "add", "user", *membership)
    contains = osc.run("group", "contains", "user", *membership)
    assert contains.returncode == 0
    assert contains.stdout.strip() == f"{user_name} in group {group_name}", contains
    # By id: `user list --group NAME --domain NAME` sends the domain *name* as domain_id
    # (python-openstackclient's own bug, Keystone answers the same).
    members = osc("user", "list", "--group", group["id"])
    assert [u["ID"] for u in members] == [user["id"]]

    osc.ok("group", "remove", "user", *membership)
    contains = osc.run("group", "contains", "user", *membership)
    assert contains.stdout == "", contains
    assert contains.stderr.strip() == f"{user_name} not in group {group_name}", contains
    members_after = admin.get(f"/v3/groups/{group['id']}/users").json()["users"]
    assert members_after == []

    osc.ok("group", "delete", "--domain", dom, group_name)
    osc.ok("user", "delete", "--domain", dom, user_name)
    assert admin.get(f"/v3/groups/{group['id']}").status_code == 404
    gone = osc.run("user", "show", "--domain", dom, user_name)
    assert gone.returncode != 0 and "No User found" in gone.stderr, gone


def test_roles_implied_roles_and_assignments(osc: Cli, admin: Api) -> None:
    """`role create/show/list/delete`, `implied role create/list/delete`, `role add
    --inherited` on a project (with `--project-domain`), a group grant, and
    `role assignment list` plain, `--inherited` and `--effective --names`: the inherited
    role and the role it implies reach the subtree but not the project itself, the group's
    role reaches its member; deleting the implication takes the implied role away."""
    domain = admin.domain()
    dom, did = domain["name"], domain["id"]
    top = admin.project(domain_id=did)
    child = admin.project(domain_id=did, parent_id=top["id"])
    user = admin.user(domain_id=did)
    group = admin.make("groups", "group", name=unique("grp"), domain_id=did)
    assert admin.put(f"/v3/groups/{group['id']}/users/{user['id']}").status_code == 204

    prior_name, implied_name = unique("prior"), unique("implied")
    prior = osc("role", "create", "--description", "the prior role", prior_name)
    implied = osc("role", "create", implied_name)
    assert prior["name"] == prior_name and prior["domain_id"] is None
    shown = osc("role", "show", prior_name)
    assert shown["id"] == prior["id"] and shown["description"] == "the prior role"
    assert {prior_name, implied_name, "member", "reader"} <= names(osc("role", "list"))

    rule = osc("implied", "role", "create", prior_name, "--implied-role", implied_name)
    assert rule == {"prior_role": prior["id"], "implies": implied["id"]}
    rules = osc("implied", "role", "list")
    assert {"Prior Role ID": prior["id"], "Prior Role Name": prior_name,
            "Implied Role ID": implied["id"], "Implied Role Name": implied_name} in rules

    osc.ok("role", "add", "--project", top["name"], "--project-domain", dom,
           "--user", user["name"], "--user-domain", dom, "--inherited", prior_name)
    osc.ok("role", "add", "--project", child["name"], "--project-domain", dom,
           "--group", group["name"], "--group-domain", dom, "reader")
    user_ref = ("--user", user["name"], "--user-domain", dom)

    direct = osc("role", "assignment", "list", *user_ref, "--names")
    assert direct == [{"Role": prior_name, "User": f"{user['name']}@{dom}", "Group": "",
                       "Project": f"{top['name']}@{dom}", "Domain": "", "System": "",
                       "Inherited": True}]
    inherited = osc("role", "assignment", "list", *user_ref, "--inherited")
    assert [(a["Role"], a["Project"], a["Inherited"]) for a in inherited] == [
        (prior["id"], top["id"], True)]

    def effective() -> set[tuple[str, str, str, bool]]:
        rows = osc("role", "assignment", "list", "--effective", *user_ref, "--names")
        return {(a["Role"], a["User"], a["Project"], a["Inherited"]) for a in rows}

    who, below = f"{user['name']}@{dom}", f"{child['name']}@{dom}"
    assert effective() == {(prior_name, who, below, True), (implied_name, who, below, True),
                           ("reader", who, below, False)}

    osc.ok("implied", "role", "delete", prior_name, "--implied-role", implied_name)
    assert not any(r["Prior Role ID"] == prior["id"] for r in osc("implied", "role", "list"))
    assert effective() == {(prior_name, who, below, True), ("reader", who, below, False)}

    osc.ok("role", "remove", "--project", top["name"], "--project-domain", dom,
           *user_ref, "--inherited", prior_name)
    osc.ok("role", "delete", prior_name, implied_name)
    for role in (prior, implied):
        assert admin.get(f"/v3/roles/{role['id']}").status_code == 404
    assert effective() == {("reader", who, below, False)}


def test_regions_services_endpoints(osc: Cli, admin: Api, server: Server) -> None:
    """`region create/show/set/list/delete` (with a parent region), `service
    create/show/set/list/delete`, `endpoint create/list/show/set/delete`, and the new
    endpoint in `catalog show` of a fresh token."""
    parent, region = unique("Region"), unique("Region")
    made = osc("region", "create", "--description", "parent region", parent)
    assert made == {"region": parent, "description": "parent region", "parent_region": None}
    sub = osc("region", "create", "--parent-region", parent, "--description", "sub", region)
    assert sub == {"region": region, "description": "sub", "parent_region": parent}
    osc.ok("region", "set", "--description", "renamed sub", region)
    assert osc("region", "show", region)["description"] == "renamed sub"
    assert {parent, region} <= names(osc("region", "list"), "Region")

    svc_name, svc_type = unique("svc"), unique("type")
    service = osc("service", "create", "--name", svc_name, "--description", "a service",
                  svc_type)
    assert (service["name"], service["type"], service["enabled"]) == (svc_name, svc_type, True)
    osc.ok("service", "set", "--description", "changed", service["id"])
    shown = osc("service", "show", service["id"])
    assert shown["description"] == "changed" and shown["name"] == svc_name
    assert svc_name in names(osc("service", "list"))

    url = "http://svc.example:8000/v1"
    endpoint = osc("endpoint", "create", "--region", region, service["id"], "public", url)
    assert (endpoint["interface"], endpoint["url"], endpoint["region"]) == (
        "public", url, region)
    assert endpoint["service_id"] == service["id"] and endpoint["service_name"] == svc_name
    listed = osc("endpoint", "list", "--service", service["id"])
    assert [(e["ID"], e["Region"], e["Interface"], e["URL"], e["Service Type"])
            for e in listed] == [(endpoint["id"], region, "public", url, svc_type)]
    osc.ok("endpoint", "set", "--interface", "internal", "--url", url + "-int",
           endpoint["id"])
    shown = osc("endpoint", "show", endpoint["id"])
    assert (shown["interface"], shown["url"], shown["enabled"]) == (
        "internal", url + "-int", True)
    entry = osc("catalog", "show", svc_type)
    assert [(e["interface"], e["url"], e["region"]) for e in entry["endpoints"]] == [
        ("internal", url + "-int", region)]

    osc.ok("endpoint", "delete", endpoint["id"])
    osc.ok("service", "delete", service["id"])
    osc.ok("region", "delete", region, parent)
    assert admin.get(f"/v3/endpoints/{endpoint['id']}").status_code == 404
    assert admin.get(f"/v3/services/{service['id']}").status_code == 404
    for name in (parent, region):
        assert admin.get(f"/v3/regions/{name}").status_code == 404


def test_application_credentials(osc: Cli, admin: Api, server: Server, tmp_path: Path) -> None:
    """As a project member: `application credential create --role --secret`, `list`,
    `show`; `token issue` with the credential through OS_* variables and through a
    clouds.yaml (`auth_type: v3applicationcredential`, by name); `token revoke` of such a
    token; `application credential delete`, after which the credential logs in no more."""
    password = "cli-appcred-Pa55word"
    user, project = admin.member_of_new_project(password)
    as_user = Cli(osc.binary, osc.home, env_auth(server.url, user["name"], password,
                                                 project["name"]))
    cred_name, secret = unique("cred"), "cli-appcred-secret"
    cred = as_user("application", "credential", "create", "--role", "member",
                   "--secret", secret, "--description", "for a robot", cred_name)
    assert cred["Name"] == cred_name and cred["Secret"] == secret
    assert cred["Project ID"] == project["id"] and cred["Unrestricted"] is False
    assert sorted(r["name"] for r in cred["Roles"]) == ["member", "reader"]  # implied too
    listed = as_user("application", "credential", "list")
    assert [(c["ID"], c["Name"]) for c in listed] == [(cred["ID"], cred_name)]
    assert "Secret" not in listed[0]
    shown = as_user("application", "credential", "show", cred_name)
    assert shown["ID"] == cred["ID"] and shown["Description"] == "for a robot"
    assert "Secret" not in shown

    by_env = Cli(osc.binary, osc.home, {
        "OS_AUTH_URL": f"{server.url}/v3", "OS_IDENTITY_API_VERSION": "3",
        "OS_AUTH_TYPE": "v3applicationcredential",
        "OS_APPLICATION_CREDENTIAL_ID": cred["ID"],
        "OS_APPLICATION_CREDENTIAL_SECRET": secret})
    token = by_env("token", "issue")
    assert token["user_id"] == user["id"] and token["project_id"] == project["id"]
    body = admin.get("/v3/auth/tokens", headers={"X-Subject-Token": token["id"]}).json()
    assert body["token"]["application_credential"]["id"] == cred["ID"]
    assert sorted(r["name"] for r in body["token"]["roles"]) == ["member", "reader"]

    clouds = tmp_path / "clouds.yaml"
    clouds.write_text(
        "clouds:\n"
        "  robot:\n"
        "    auth_type: v3applicationcredential\n"
        "    identity_api_version: 3\n"
        "    auth:\n"
        f"      auth_url: {server.url}/v3\n"
        f"      application_credential_name: {cred_name}\n"
        f"      application_credential_secret: {secret}\n"
        f"      username: {user['name']}\n"
        "      user_domain_name: Default\n")
    by_cloud = Cli(osc.binary, osc.home, {"OS_CLIENT_CONFIG_FILE": str(clouds),
                                          "OS_CLOUD": "robot"})
    cloud_token = by_cloud("token", "issue")
    assert cloud_token["project_id"] == project["id"]
    by_cloud.ok("token", "revoke", cloud_token["id"])
    revoked = admin.get("/v3/auth/tokens", headers={"X-Subject-Token": cloud_token["id"]})
    assert revoked.status_code == 404, revoked.text

    as_user.ok("application", "credential", "delete", cred_name)
    assert as_user("application", "credential", "list") == []
    refused = by_env.run("token", "issue", "-f", "json")
    assert refused.returncode != 0 and "401" in refused.stderr, refused


def test_token_issue_and_revoke_as_user(osc: Cli, admin: Api, server: Server) -> None:
    """A member's `token issue` (fields and expiry as sevres says) and `token revoke` of
    their own token; the member's next token still works."""
    password = "cli-token-Pa55word"
    user, project = admin.member_of_new_project(password)
    as_user = Cli(osc.binary, osc.home, env_auth(server.url, user["name"], password,
                                                 project["name"]))
    token = as_user("token", "issue")
    assert set(token) == {"expires", "id", "project_id", "user_id"}
    body = admin.get("/v3/auth/tokens", headers={"X-Subject-Token": token["id"]}).json()
    assert body["token"]["expires_at"].startswith(token["expires"][:19])
    as_user.ok("token", "revoke", token["id"])
    check = admin.get("/v3/auth/tokens", headers={"X-Subject-Token": token["id"]})
    assert check.status_code == 404, check.text
    assert as_user("token", "issue")["id"] != token["id"]
    assert by_name(as_user("project", "list"), project["name"])["ID"] == project["id"]
