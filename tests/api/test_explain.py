"""GET /v3/sevres/explain and `sevres explain`: each effective role of a user on a project,
a domain or the system, with every chain that grants it — direct, through a group,
inherited from an ancestor or the domain, implied (admin -> manager -> member -> reader)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.factories import Api, error, unique
from tests.server import Server, server_env

PASSWORD = "explain-user-Pa55word"



@dataclass
class World:
    """A domain with top > mid > leaf, a user in a group, and grants that reach the user
    on leaf every way there is:

    - manager and member granted to the user directly on leaf (member is also implied by
      manager, and reader by both);
    - member and a custom role ``group_role`` granted to the group on leaf;
    - a custom role ``inh_role`` granted to the user on top, inherited to projects;
    - a custom role ``dom_role`` granted to the group on the domain, inherited to projects.
    """

    admin: Api
    server: Server
    domain: dict[str, Any]
    top: dict[str, Any]
    mid: dict[str, Any]
    leaf: dict[str, Any]
    user: dict[str, Any]
    group: dict[str, Any]
    roles: dict[str, str]  # name -> id, the bootstrap roles and the custom ones by label
    names: dict[str, str]  # label -> name of the custom roles

    def explain(self, api: Api | None = None, **params: str) -> httpx.Response:
        return (api or self.admin).get("/v3/sevres/explain", params=params)

    def document(self, **params: str) -> dict[str, Any]:
        response = self.explain(user_id=self.user["id"], **params)
        assert response.status_code == 200, response.text
        return dict(response.json()["explanation"])


def put(api: Api, path: str) -> None:
    response = api.put(path)
    assert response.status_code == 204, (path, response.text)


@pytest.fixture
def world(admin: Api, server: Server) -> Iterator[World]:
    domain = admin.domain()
    top = admin.project(domain_id=domain["id"])
    mid = admin.project(parent_id=top["id"])
    leaf = admin.project(parent_id=mid["id"])
    user = admin.user(domain_id=domain["id"], password=PASSWORD)
    group = admin.make("groups", "group", name=unique("grp"), domain_id=domain["id"])
    put(admin, f"/v3/groups/{group['id']}/users/{user['id']}")
    roles = {name: admin.role_id(name) for name in ("admin", "manager", "member", "reader")}
    names = {}
    for label in ("group_role", "inh_role", "dom_role"):
        role = admin.role(name=unique(label.replace("_", "")))
        roles[label], names[label] = role["id"], role["name"]
    u, g = user["id"], group["id"]
    put(admin, f"/v3/projects/{leaf['id']}/users/{u}/roles/{roles['manager']}")
    put(admin, f"/v3/projects/{leaf['id']}/users/{u}/roles/{roles['member']}")
    put(admin, f"/v3/projects/{leaf['id']}/groups/{g}/roles/{roles['member']}")
    put(admin, f"/v3/projects/{leaf['id']}/groups/{g}/roles/{roles['group_role']}")
    put(admin, f"/v3/OS-INHERIT/projects/{top['id']}/users/{u}/roles/{roles['inh_role']}"
               "/inherited_to_projects")
    put(admin, f"/v3/OS-INHERIT/domains/{domain['id']}/groups/{g}/roles/{roles['dom_role']}"
               "/inherited_to_projects")
    yield World(admin, server, domain, top, mid, leaf, user, group, roles, names)


def by_name(document: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Role name -> its chains, checking each role entry's id/name shape on the way."""
    out = {}
    for role in document["roles"]:
        assert set(role) == {"id", "name", "granted_by"}
        out[role["name"]] = role["granted_by"]
    return out


def texts(document: dict[str, Any]) -> dict[str, list[str]]:
    return {name: [c["text"] for c in chains] for name, chains in by_name(document).items()}


# -- the API -----------------------------------------------------------------------------------
def test_explain_on_a_project_shows_every_chain_of_every_role(world: World) -> None:
    """On leaf the user holds manager, member, reader and the three custom roles; each is
    listed (sorted by name) with every chain, simplest first: direct, implied, via the
    group, inherited from the ancestor project and from the domain."""
    w = world
    doc = w.document(project_id=w.leaf["id"])
    assert doc["user"] == {"id": w.user["id"], "name": w.user["name"],
                           "domain": {"id": w.domain["id"]}}
    assert doc["scope"] == {"project": {"id": w.leaf["id"], "name": w.leaf["name"],
                                        "domain": {"id": w.domain["id"]}}}
    names = [r["name"] for r in doc["roles"]]
    assert names == sorted(names)
    g, top, dom = w.group["name"], w.top["name"], w.domain["name"]
    n = w.names
    assert texts(doc) == {
        "manager": ["manager granted to the user; directly on the project"],
        "member": [
            "member granted to the user; directly on the project",
            "implied by manager; manager granted to the user; directly on the project",
            f"member granted to group {g}, of which the user is a member; "
            "directly on the project",
        ],
        "reader": [
            "implied by member; member granted to the user; directly on the project",
            "implied by member <- manager; manager granted to the user; directly on the project",
            f"implied by member; member granted to group {g}, of which the user is a member; "
            "directly on the project",
        ],
        n["group_role"]: [f"{n['group_role']} granted to group {g}, of which the user is a "
                          "member; directly on the project"],
        n["inh_role"]: [f"{n['inh_role']} granted to the user; inherited from project {top}"],
        n["dom_role"]: [f"{n['dom_role']} granted to group {g}, of which the user is a "
                        f"member; inherited from domain {dom}"],
    }


def test_explain_chains_are_structured(world: World) -> None:
    """Each chain also says, as data, which grant it starts from (its URL), the group it
    comes through, the ancestor or domain it is inherited from, and the implying roles."""
    w = world
    chains = by_name(w.document(project_id=w.leaf["id"]))
    u, g, r = w.user["id"], w.group["id"], w.roles
    for chain in (c for cs in chains.values() for c in cs):
        assert set(chain) == {"assignment", "via_group", "inherited_from", "implied_by", "text"}

    direct, implied, grouped = chains["member"]
    assert direct["assignment"].endswith(
        f"/v3/projects/{w.leaf['id']}/users/{u}/roles/{r['member']}")
    assert direct["assignment"].startswith(w.server.url)
    assert (direct["via_group"], direct["inherited_from"], direct["implied_by"]) == (
        None, None, [])
    assert implied["assignment"].endswith(f"/users/{u}/roles/{r['manager']}")
    assert implied["implied_by"] == [{"id": r["manager"], "name": "manager"}]
    assert grouped["assignment"].endswith(
        f"/v3/projects/{w.leaf['id']}/groups/{g}/roles/{r['member']}")
    assert grouped["via_group"] == {"id": g, "name": w.group["name"]}

    deepest = chains["reader"][1]
    assert deepest["implied_by"] == [{"id": r["manager"], "name": "manager"},
                                     {"id": r["member"], "name": "member"}]

    (inherited,) = chains[w.names["inh_role"]]
    assert inherited["inherited_from"] == {"project": {"id": w.top["id"],
                                                       "name": w.top["name"]}}
    assert inherited["assignment"].endswith(
        f"/v3/OS-INHERIT/projects/{w.top['id']}/users/{u}/roles/{r['inh_role']}"
        "/inherited_to_projects")
    (from_domain,) = chains[w.names["dom_role"]]
    assert from_domain["inherited_from"] == {"domain": {"id": w.domain["id"],
                                                        "name": w.domain["name"]}}
    assert from_domain["via_group"] == {"id": g, "name": w.group["name"]}
    assert from_domain["assignment"].endswith(
        f"/v3/OS-INHERIT/domains/{w.domain['id']}/groups/{g}/roles/{r['dom_role']}"
        "/inherited_to_projects")


def test_inherited_grants_reach_below_their_target_only(world: World) -> None:
    """On mid only the inherited roles reach the user (from top and from the domain); on
    top only the domain's — a grant inherited on top does not apply to top itself."""
    w = world
    n = w.names
    assert set(texts(w.document(project_id=w.mid["id"]))) == {n["inh_role"], n["dom_role"]}
    assert set(texts(w.document(project_id=w.top["id"]))) == {n["dom_role"]}


def test_explain_follows_a_move(world: World) -> None:
    """After leaf moves to the top of the domain, the role inherited from top no longer
    explains anything on it; the domain's inherited role still does."""
    w = world
    response = w.admin.patch(f"/v3/projects/{w.leaf['id']}",
                             json={"project": {"parent_id": w.domain["id"]}})
    assert response.status_code == 200, response.text
    names = set(texts(w.document(project_id=w.leaf["id"])))
    assert w.names["inh_role"] not in names
    assert w.names["dom_role"] in names


def test_explain_on_a_domain(world: World) -> None:
    """On a domain only direct grants on the domain count (and what they imply); the
    inherited-to-projects grant on the domain does not."""
    w = world
    doc = w.document(domain_id=w.domain["id"])
    assert doc["scope"] == {"domain": {"id": w.domain["id"], "name": w.domain["name"]}}
    assert doc["roles"] == []
    put(w.admin, f"/v3/domains/{w.domain['id']}/users/{w.user['id']}/roles/"
                 f"{w.roles['member']}")
    doc = w.document(domain_id=w.domain["id"])
    assert texts(doc) == {
        "member": ["member granted to the user; directly on the domain"],
        "reader": ["implied by member; member granted to the user; directly on the domain"],
    }


def test_explain_on_the_system(world: World) -> None:
    """?system explains system grants: the full admin -> manager -> member -> reader chain
    from one system admin grant, each chain naming the system."""
    w = world
    assert w.document(system="")["roles"] == []
    put(w.admin, f"/v3/system/users/{w.user['id']}/roles/{w.roles['admin']}")
    doc = w.document(system="")
    assert doc["scope"] == {"system": {"all": True}}
    assert texts(doc) == {
        "admin": ["admin granted to the user; on the system"],
        "manager": ["implied by admin; admin granted to the user; on the system"],
        "member": ["implied by manager <- admin; admin granted to the user; on the system"],
        "reader": ["implied by member <- manager <- admin; admin granted to the user; "
                   "on the system"],
    }
    (chain,) = by_name(doc)["admin"]
    assert chain["assignment"].endswith(
        f"/v3/system/users/{w.user['id']}/roles/{w.roles['admin']}")


def test_user_without_roles_gets_an_empty_list(admin: Api) -> None:
    """A user with no grant reaching the project is explained with no roles (200)."""
    project, user = admin.project(), admin.user()
    response = admin.get("/v3/sevres/explain",
                         params={"user_id": user["id"], "project_id": project["id"]})
    assert response.status_code == 200, response.text
    assert response.json()["explanation"]["roles"] == []


def test_bad_requests_are_400(world: World) -> None:
    """Without user_id, without a scope, or with two scopes: 400 naming the field."""
    w = world
    u, p, d = w.user["id"], w.leaf["id"], w.domain["id"]
    assert "user_id" in error(w.explain(project_id=p), 400)
    for params in ({"user_id": u},
                   {"user_id": u, "project_id": p, "domain_id": d},
                   {"user_id": u, "project_id": p, "system": ""},
                   {"user_id": u, "domain_id": d, "system": ""}):
        assert "scope" in error(w.explain(**params), 400), params


def test_unknown_user_project_or_domain_is_404(world: World) -> None:
    """An unknown user, project or domain is 404 with Keystone's 'Could not find' message;
    a project id given as domain_id is not a domain (404)."""
    w = world
    assert error(w.explain(user_id="nosuchuser", project_id=w.leaf["id"]), 404) == (
        "Could not find user: nosuchuser.")
    assert error(w.explain(user_id=w.user["id"], project_id="nosuchproject"), 404) == (
        "Could not find project: nosuchproject.")
    assert error(w.explain(user_id=w.user["id"], domain_id="nosuchdomain"), 404) == (
        "Could not find domain: nosuchdomain.")
    assert error(w.explain(user_id=w.user["id"], domain_id=w.leaf["id"]), 404) == (
        f"Could not find domain: {w.leaf['id']}.")


def test_non_admin_may_explain_themself_only(world: World, anonymous: httpx.Client) -> None:
    """A user without the admin role may explain their own roles (anywhere); explaining
    another user is 403 naming the sevres:explain rule, even for an unknown user; with no
    token it is 401."""
    w = world
    scope = {"project": {"id": w.leaf["id"]}}
    with Api.login(w.server.url, w.user["name"], PASSWORD, w.domain["name"], scope) as me:
        assert "admin" not in {r["name"] for r in me.body["roles"]}
        mine = w.explain(me, user_id=w.user["id"], project_id=w.leaf["id"])
        assert mine.status_code == 200, mine.text
        assert mine.json() == w.explain(user_id=w.user["id"], project_id=w.leaf["id"]).json()
        assert w.explain(me, user_id=w.user["id"], domain_id=w.domain["id"]).status_code == 200
        other = w.admin.user()
        denied = "You are not authorized to perform the requested action: sevres:explain."
        for user_id in (other["id"], "nosuchuser"):
            response = w.explain(me, user_id=user_id, project_id=w.leaf["id"])
            assert error(response, 403) == denied
    response = anonymous.get("/v3/sevres/explain",
                             params={"user_id": w.user["id"], "project_id": w.leaf["id"]})
    assert response.status_code == 401


# -- the command -------------------------------------------------------------------------------
def run_explain(server: Server, *args: str) -> subprocess.CompletedProcess[str]:
    """`sevres explain ARGS` on the server's database, as an operator runs it."""
    sevres = str(Path(sys.executable).parent / "sevres")
    env = server_env(server.state_dir, server.env["SEVRES_DATABASE_URL"])
    return subprocess.run([sevres, "explain", *args], env=env, capture_output=True,
                          text=True, timeout=60, check=False)


def expected_lines(document: dict[str, Any]) -> list[str]:
    lines = []
    for role in document["roles"]:
        lines.append(f"  {role['name']}")
        lines.extend(f"    - {chain['text']}" for chain in role["granted_by"])
    return lines or ["  no roles"]


def test_command_explains_a_project_by_names(world: World) -> None:
    """`sevres explain USER PROJECT --user-domain D --project-domain D` (names) prints a
    heading, then each role and under it each chain — the same story as the API."""
    w = world
    result = run_explain(w.server, w.user["name"], w.leaf["name"],
                         "--user-domain", w.domain["name"], "--project-domain", w.domain["id"])
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == (f"user {w.user['name']} ({w.user['id']}) on project "
                        f"{w.leaf['name']} ({w.leaf['id']}):")
    assert lines[1:] == expected_lines(w.document(project_id=w.leaf["id"]))
    assert "  manager" in lines
    assert "    - implied by manager; manager granted to the user; directly on the project" in lines
    assert (f"    - {w.names['inh_role']} granted to the user; inherited from project "
            f"{w.top['name']}") in lines
    assert (f"    - {w.names['dom_role']} granted to group {w.group['name']}, of which the "
            f"user is a member; inherited from domain {w.domain['name']}") in lines


def test_command_by_ids_on_mid(world: World) -> None:
    """With ids (no domains needed) the command explains mid: the two inherited roles."""
    w = world
    result = run_explain(w.server, w.user["id"], w.mid["id"])
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].endswith(f"on project {w.mid['name']} ({w.mid['id']}):")
    assert lines[1:] == expected_lines(w.document(project_id=w.mid["id"]))
    assert {line.strip() for line in lines if line.startswith("  ") and
            not line.startswith("    ")} == {w.names["inh_role"], w.names["dom_role"]}


def test_command_on_a_domain_and_the_system(world: World) -> None:
    """--domain explains a domain, --system the system; no role prints '  no roles'."""
    w = world
    result = run_explain(w.server, w.user["id"], w.domain["name"], "--domain")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"user {w.user['name']} ({w.user['id']}) on domain {w.domain['name']} "
        f"({w.domain['id']}):", "  no roles"]
    put(w.admin, f"/v3/system/users/{w.user['id']}/roles/{w.roles['reader']}")
    result = run_explain(w.server, w.user["name"], "--system", "--user-domain", w.domain["id"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"user {w.user['name']} ({w.user['id']}) on the system:",
        "  reader", "    - reader granted to the user; on the system"]


def test_command_reports_unknown_user_and_project(world: World) -> None:
    """An unknown user or project ends the command with status 2 and a message on
    stderr naming what was not found; so does a missing target."""
    w = world
    result = run_explain(w.server, "nobody-here", w.leaf["id"])
    assert result.returncode == 2
    assert "no user 'nobody-here'" in result.stderr
    result = run_explain(w.server, w.user["id"], "no-such-project")
    assert result.returncode == 2
    assert "no project 'no-such-project'" in result.stderr
    result = run_explain(w.server, w.user["id"])
    assert result.returncode == 2
    assert result.stdout == ""
