"""Keystone's default personas, over HTTP, against one world — with sevres's two changes:
``admin_required`` wants the system or the admin project (so admin on a project or a
domain is no cloud admin), and the subtree admin (admin inherited on a project) runs the
projects strictly below it and grants manager/member/reader there, nothing else.

The world: domain D1 with R -> C -> G and a sibling S; domain D2 with P2. The personas:
system admin and reader (system tokens), D1's domain admin and reader (domain tokens),
the subtree admin (admin inherited on R, member on R; a token on R and one on C), a
member of C, an unrelated member of P2, and the bootstrap admin (admin project token).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests import backends
from tests.factories import Api, unique
from tests.server import ADMIN_PASSWORD, Server, free_port, server_env, start

PASSWORD = "persona-Pa55word"

SA, SR = "system_admin", "system_reader"
DA, DR = "domain_admin", "domain_reader"
ST, STC = "subtree_admin", "subtree_admin_on_c"  # tokens on R and on C
PM, UN, BA = "project_member", "unrelated", "bootstrap_admin"
PERSONAS = (SA, SR, DA, DR, ST, STC, PM, UN, BA)
CLOUD_ADMINS = frozenset({SA, BA})
READERS = CLOUD_ADMINS | {SR}
D1_READERS = frozenset({DA, DR})
SUBTREE = frozenset({ST, STC})

Body = dict[str, Any] | Callable[[], dict[str, Any]] | None


@dataclass
class World:
    """The ids of the world and a logged-in client per persona."""

    admin: Api
    d1: dict[str, Any]
    d2: dict[str, Any]
    r: str
    c: str
    g: str
    s: str
    p2: str
    role: dict[str, str]  # name -> id of the bootstrap roles
    user1: str  # a plain user of D1 (the target of grants and memberships)
    user2: str  # a plain user of D2
    group1: str
    group2: str
    service: str
    endpoint: str
    region: str
    users: dict[str, str] = field(default_factory=dict)  # persona -> user id
    clients: dict[str, Api] = field(default_factory=dict)

    def leaf(self, parent: str) -> str:
        """A new project under ``parent``, made by the bootstrap admin."""
        return str(self.admin.project(parent_id=parent)["id"])


@pytest.fixture(scope="module")
def world(admin: Api, server: Server) -> Iterator[World]:
    d1, d2 = admin.domain(), admin.domain()
    r = admin.project(domain_id=d1["id"])["id"]
    c = admin.project(parent_id=r)["id"]
    g = admin.project(parent_id=c)["id"]
    s = admin.project(domain_id=d1["id"])["id"]
    p2 = admin.project(domain_id=d2["id"])["id"]
    role = {name: admin.role_id(name) for name in ("admin", "manager", "member", "reader")}
    service = admin.make("services", "service", type=unique("ptype"))
    w = World(
        admin, d1, d2, r, c, g, s, p2, role,
        admin.user(domain_id=d1["id"])["id"], admin.user(domain_id=d2["id"])["id"],
        admin.make("groups", "group", name=unique("g"), domain_id=d1["id"])["id"],
        admin.make("groups", "group", name=unique("g"), domain_id=d2["id"])["id"],
        service["id"],
        admin.make("endpoints", "endpoint", service_id=service["id"], interface="public",
                   url="http://persona.example/")["id"],
        admin.make("regions", "region", id=unique("PReg"))["id"],
    )
    homes = {SA: "default", SR: "default", DA: d1["id"], DR: d1["id"], ST: d1["id"],
             PM: d1["id"], UN: d2["id"]}
    names: dict[str, str] = {}
    for persona, domain_id in homes.items():
        user = admin.user(domain_id=domain_id, password=PASSWORD)
        w.users[persona], names[persona] = user["id"], user["name"]
    w.users[STC] = w.users[ST]

    def put(path: str) -> None:
        response = admin.put(path)
        assert response.status_code == 204, (path, response.text)

    put(f"/v3/system/users/{w.users[SA]}/roles/{role['admin']}")
    put(f"/v3/system/users/{w.users[SR]}/roles/{role['reader']}")
    put(f"/v3/domains/{d1['id']}/users/{w.users[DA]}/roles/{role['admin']}")
    put(f"/v3/domains/{d1['id']}/users/{w.users[DR]}/roles/{role['reader']}")
    put(f"/v3/OS-INHERIT/projects/{r}/users/{w.users[ST]}/roles/{role['admin']}"
        "/inherited_to_projects")
    put(f"/v3/projects/{r}/users/{w.users[ST]}/roles/{role['member']}")
    put(f"/v3/projects/{c}/users/{w.users[PM]}/roles/{role['member']}")
    put(f"/v3/projects/{p2}/users/{w.users[UN]}/roles/{role['member']}")

    scopes: dict[str, tuple[str, dict[str, Any]]] = {
        SA: ("Default", {"system": {"all": True}}),
        SR: ("Default", {"system": {"all": True}}),
        DA: (d1["name"], {"domain": {"id": d1["id"]}}),
        DR: (d1["name"], {"domain": {"id": d1["id"]}}),
        ST: (d1["name"], {"project": {"id": r}}),
        STC: (d1["name"], {"project": {"id": c}}),
        PM: (d1["name"], {"project": {"id": c}}),
        UN: (d2["name"], {"project": {"id": p2}}),
    }
    for persona, (domain_name, scope) in scopes.items():
        name = names[ST if persona == STC else persona]
        w.clients[persona] = Api.login(server.url, name, PASSWORD, domain_name, scope)
    w.clients[BA] = admin
    try:
        yield w
    finally:
        for persona, client in w.clients.items():
            if persona != BA:
                client.close()


def _listed(w: World, persona: str, path: str, key: str) -> list[dict[str, Any]]:
    response = w.clients[persona].get(path)
    assert response.status_code == 200, (persona, path, response.text)
    return list(response.json()[key])


def _roles_of(w: World, persona: str) -> set[str]:
    return {r["name"] for r in w.clients[persona].body["roles"]}


def _expect(w: World, method: str, path: str | Callable[[], str], allowed: frozenset[str],
            ok: int, body: Body = None, personas: tuple[str, ...] = PERSONAS,
            after: Callable[[str], None] | None = None) -> None:
    """Each persona sends the request: the ``allowed`` ones get ``ok``, all others 403
    naming an identity: rule. ``path`` and ``body`` may be callables (a fresh target or
    name per persona); ``after(persona)`` undoes an allowed change."""
    wrong = []
    for persona in personas:
        url = path() if callable(path) else path
        payload = body() if callable(body) else body
        response = w.clients[persona].request(method, url, json=payload)
        expected = ok if persona in allowed else 403
        if response.status_code != expected:
            wrong.append(f"{persona}: {method} {url} -> {response.status_code} "
                         f"(expected {expected}) {response.text[:200]}")
        elif expected == 403 and method != "HEAD":
            assert "identity:" in response.json()["error"]["message"], response.text
        elif after is not None:
            after(persona)
    assert not wrong, "\n".join(wrong)


# -- the world itself ------------------------------------------------------------------


def test_tokens_carry_the_expected_roles(world: World) -> None:
    """The subtree admin's token on R holds only member (inherited admin does not apply
    to R itself); on C it holds admin (inherited) and its implied roles; the domain and
    system personas hold what they were granted, implied roles included."""
    assert _roles_of(world, ST) == {"member", "reader"}
    assert _roles_of(world, STC) == {"admin", "manager", "member", "reader"}
    assert _roles_of(world, DA) == {"admin", "manager", "member", "reader"}
    assert _roles_of(world, SR) == {"reader"}
    assert "system" in world.clients[SA].body
    assert world.clients[DA].body["domain"]["id"] == world.d1["id"]


# -- projects --------------------------------------------------------------------------


def test_projects_read(world: World) -> None:
    """get_project: admins and the system reader anywhere, D1's domain personas in D1,
    a token's own project, and the subtree admin strictly below R (C, G) — not S, not
    P2; the token on C is no cloud admin and does not see R. list_projects: admins, the
    system reader and D1's domain personas — who, as in Keystone, are answered D1's
    projects only, whatever they filter on."""
    w = world
    _expect(w, "GET", f"/v3/projects/{w.c}", READERS | D1_READERS | SUBTREE | {PM}, 200)
    _expect(w, "GET", f"/v3/projects/{w.g}", READERS | D1_READERS | SUBTREE, 200)
    _expect(w, "GET", f"/v3/projects/{w.r}", READERS | D1_READERS | {ST}, 200)
    _expect(w, "GET", f"/v3/projects/{w.s}", READERS | D1_READERS, 200)
    _expect(w, "GET", f"/v3/projects/{w.p2}", READERS | {UN}, 200)
    _expect(w, "GET", "/v3/projects", READERS | D1_READERS, 200)
    _expect(w, "GET", f"/v3/projects?domain_id={w.d1['id']}", READERS | D1_READERS, 200)
    _expect(w, "GET", f"/v3/projects?domain_id={w.d2['id']}", READERS | D1_READERS, 200)
    for persona in (DA, DR):
        mine = _listed(w, persona, "/v3/projects", "projects")
        assert {w.r, w.c, w.g, w.s} <= {p["id"] for p in mine}
        assert {p["domain_id"] for p in mine} == {w.d1["id"]}
        assert _listed(w, persona, f"/v3/projects?domain_id={w.d2['id']}", "projects") == []
    assert w.p2 in {p["id"] for p in _listed(w, SR, "/v3/projects", "projects")}


def test_projects_create(world: World) -> None:
    """create_project: under C (or G), the cloud admins, D1's domain admin (manager by
    implication) and the subtree admin with either token; at D1's top level or under S
    not the subtree admin; in D2 the cloud admins only."""
    w = world

    def under(parent: str | None, domain: str | None = None) -> Callable[[], dict[str, Any]]:
        def body() -> dict[str, Any]:
            project: dict[str, Any] = {"name": unique("new")}
            if parent is not None:
                project["parent_id"] = parent
            if domain is not None:
                project["domain_id"] = domain
            return {"project": project}
        return body

    writers = CLOUD_ADMINS | {DA}
    _expect(w, "POST", "/v3/projects", writers | SUBTREE, 201, under(w.c))
    _expect(w, "POST", "/v3/projects", writers | SUBTREE, 201, under(w.g))
    _expect(w, "POST", "/v3/projects", writers | SUBTREE, 201, under(w.r))
    _expect(w, "POST", "/v3/projects", writers, 201, under(None, w.d1["id"]))
    _expect(w, "POST", "/v3/projects", writers, 201, under(w.s))
    _expect(w, "POST", "/v3/projects", CLOUD_ADMINS, 201, under(None, w.d2["id"]))
    _expect(w, "POST", "/v3/projects", CLOUD_ADMINS, 201, under(w.p2))


def test_projects_update(world: World) -> None:
    """update_project: G and C (strictly below R) for the subtree admin as for the cloud
    admins and D1's domain admin; R, S and P2 not for the subtree admin; P2 for the cloud
    admins only."""
    w = world
    body = {"project": {"description": "changed"}}
    writers = CLOUD_ADMINS | {DA}
    _expect(w, "PATCH", f"/v3/projects/{w.g}", writers | SUBTREE, 200, body)
    _expect(w, "PATCH", f"/v3/projects/{w.c}", writers | SUBTREE, 200, body)
    _expect(w, "PATCH", f"/v3/projects/{w.r}", writers, 200, body)
    _expect(w, "PATCH", f"/v3/projects/{w.s}", writers, 200, body)
    _expect(w, "PATCH", f"/v3/projects/{w.p2}", CLOUD_ADMINS, 200, body)


def test_projects_delete(world: World) -> None:
    """delete_project: a fresh leaf under C or G is deleted by the subtree admin (either
    token), the cloud admins and D1's domain admin; a leaf under S or in D2, and R itself,
    are refused to the subtree admin (R's refusal is policy's, before its children
    matter)."""
    w = world
    writers = CLOUD_ADMINS | {DA}
    _expect(w, "DELETE", lambda: f"/v3/projects/{w.leaf(w.c)}", writers | SUBTREE, 204)
    _expect(w, "DELETE", lambda: f"/v3/projects/{w.leaf(w.g)}", writers | SUBTREE, 204)
    _expect(w, "DELETE", lambda: f"/v3/projects/{w.leaf(w.s)}", writers, 204)
    _expect(w, "DELETE", lambda: f"/v3/projects/{w.leaf(w.p2)}", CLOUD_ADMINS, 204)
    refused = tuple(p for p in PERSONAS if p not in writers)
    _expect(w, "DELETE", f"/v3/projects/{w.r}", frozenset(), 403, personas=refused)
    assert w.admin.get(f"/v3/projects/{w.r}").status_code == 200


# -- domains ---------------------------------------------------------------------------


def test_domains(world: World) -> None:
    """get_domain: D1 for everyone whose token is in D1 (domain or project scope) and the
    readers; D2 for the readers and P2's member. list_domains: the readers, and D1's
    domain personas, who are answered D1 alone (as in Keystone). create and
    update: the cloud admins only — not D1's domain admin (refused by scope), not the
    subtree admin's token on C (admin on a project is no cloud admin)."""
    w = world
    d1, d2 = w.d1["id"], w.d2["id"]
    _expect(w, "GET", f"/v3/domains/{d1}", READERS | D1_READERS | SUBTREE | {PM}, 200)
    _expect(w, "GET", f"/v3/domains/{d2}", READERS | {UN}, 200)
    _expect(w, "GET", "/v3/domains", READERS | D1_READERS, 200)
    for persona in (DA, DR):
        assert [d["id"] for d in _listed(w, persona, "/v3/domains", "domains")] == [d1]
    assert {d1, d2} <= {d["id"] for d in _listed(w, SR, "/v3/domains", "domains")}
    _expect(w, "POST", "/v3/domains", CLOUD_ADMINS, 201,
            lambda: {"domain": {"name": unique("dom")}})
    _expect(w, "PATCH", f"/v3/domains/{d1}", CLOUD_ADMINS, 200,
            {"domain": {"description": "changed"}})


# -- users -----------------------------------------------------------------------------


def test_users(world: World) -> None:
    """get_user: D1's users for the readers and D1's domain personas, D2's for the
    readers; oneself for everyone. list_users: the readers and D1's domain personas, who
    are answered D1's users only, whatever they filter on. create_user: in D1 the cloud
    admins and D1's domain admin (manager), in D2 the cloud admins only; never the
    subtree admin."""
    w = world
    _expect(w, "GET", f"/v3/users/{w.user1}", READERS | D1_READERS, 200)
    _expect(w, "GET", f"/v3/users/{w.user2}", READERS, 200)
    for persona in PERSONAS:
        me = w.clients[persona].body["user"]["id"]
        assert w.clients[persona].get(f"/v3/users/{me}").status_code == 200, persona
    _expect(w, "GET", "/v3/users", READERS | D1_READERS, 200)
    _expect(w, "GET", f"/v3/users?domain_id={w.d1['id']}", READERS | D1_READERS, 200)
    _expect(w, "GET", f"/v3/users?domain_id={w.d2['id']}", READERS | D1_READERS, 200)
    for persona in (DA, DR):
        mine = _listed(w, persona, "/v3/users", "users")
        assert w.user1 in {u["id"] for u in mine}
        assert {u["domain_id"] for u in mine} == {w.d1["id"]}
        assert _listed(w, persona, f"/v3/users?domain_id={w.d2['id']}", "users") == []
    _expect(w, "POST", "/v3/users", CLOUD_ADMINS | {DA}, 201,
            lambda: {"user": {"name": unique("u"), "domain_id": w.d1["id"]}})
    _expect(w, "POST", "/v3/users", CLOUD_ADMINS, 201,
            lambda: {"user": {"name": unique("u"), "domain_id": w.d2["id"]}})


# -- groups ----------------------------------------------------------------------------


def test_groups_and_membership(world: World) -> None:
    """Groups are listed by the readers and D1's domain personas (who are answered D1's
    groups only). Groups of D1 are read by the readers and D1's domain personas, written (create,
    add and remove members of D1) by the cloud admins and D1's domain admin; a member
    from D2 is added by the cloud admins only; D2's group is read by the readers only."""
    w = world
    g1, g2 = w.group1, w.group2
    writers = CLOUD_ADMINS | {DA}
    _expect(w, "GET", "/v3/groups", READERS | D1_READERS, 200)
    _expect(w, "GET", f"/v3/groups?domain_id={w.d2['id']}", READERS | D1_READERS, 200)
    for persona in (DA, DR):
        mine = _listed(w, persona, "/v3/groups", "groups")
        assert g1 in {g["id"] for g in mine}
        assert {g["domain_id"] for g in mine} == {w.d1["id"]}
        assert _listed(w, persona, f"/v3/groups?domain_id={w.d2['id']}", "groups") == []
    _expect(w, "GET", f"/v3/groups/{g1}", READERS | D1_READERS, 200)
    _expect(w, "GET", f"/v3/groups/{g2}", READERS, 200)
    _expect(w, "GET", f"/v3/groups/{g1}/users", READERS | D1_READERS, 200)
    _expect(w, "POST", "/v3/groups", writers, 201,
            lambda: {"group": {"name": unique("g"), "domain_id": w.d1["id"]}})
    _expect(w, "POST", "/v3/groups", CLOUD_ADMINS, 201,
            lambda: {"group": {"name": unique("g"), "domain_id": w.d2["id"]}})
    member = f"/v3/groups/{g1}/users/{w.user1}"

    def remove(_: str) -> None:
        assert w.admin.delete(member).status_code == 204

    _expect(w, "PUT", member, writers, 204, after=remove)
    _expect(w, "PUT", f"/v3/groups/{g1}/users/{w.user2}", CLOUD_ADMINS, 204,
            after=lambda _: None)
    assert w.admin.put(member).status_code == 204
    _expect(w, "HEAD", member, READERS | D1_READERS, 204)
    _expect(w, "GET", member, READERS | D1_READERS, 204)

    def restore(_: str) -> None:
        assert w.admin.put(member).status_code == 204

    _expect(w, "DELETE", member, writers, 204, after=restore)


# -- roles -----------------------------------------------------------------------------


def test_roles(world: World) -> None:
    """list_roles: the readers and D1's domain admin (a domain manager: Keystone wants a
    domain token); get_role: member for those and for any manager — the subtree admin's
    token on C holds manager by implication — admin only for the readers; create_role:
    the cloud admins only."""
    w = world
    _expect(w, "GET", "/v3/roles", READERS | {DA}, 200)
    _expect(w, "GET", f"/v3/roles/{w.role['member']}", READERS | {DA, STC}, 200)
    _expect(w, "GET", f"/v3/roles/{w.role['admin']}", READERS, 200)
    _expect(w, "POST", "/v3/roles", CLOUD_ADMINS, 201,
            lambda: {"role": {"name": unique("role")}})


# -- grants ----------------------------------------------------------------------------


def _grant_path(project: str, user: str, role_id: str) -> str:
    return f"/v3/projects/{project}/users/{user}/roles/{role_id}"


def _grant_round(w: World, project: str, user: str, role: str,
                 writers: frozenset[str], checkers: frozenset[str]) -> None:
    """Grant ``role`` on ``project`` to ``user``: each writer grants (204) and revokes
    (204), every other persona is refused both (403, and nothing changes); checkers
    check (204) and list (200) the grant while it exists."""
    path = _grant_path(project, user, w.role[role])

    def revoke(_: str) -> None:
        assert w.admin.delete(path).status_code == 204

    _expect(w, "PUT", path, writers, 204, after=revoke)
    assert w.admin.get(path).status_code == 404  # refusals granted nothing
    assert w.admin.put(path).status_code == 204
    _expect(w, "GET", path, checkers, 204)
    _expect(w, "GET", f"/v3/projects/{project}/users/{user}/roles", checkers, 200)

    def regrant(_: str) -> None:
        assert w.admin.put(path).status_code == 204

    _expect(w, "DELETE", path, writers, 204, after=regrant)
    assert w.admin.get(path).status_code == 204  # refusals revoked nothing
    assert w.admin.delete(path).status_code == 204


def test_grants_on_c(world: World) -> None:
    """On C for a user of D1: member, reader and manager are granted and revoked by the
    cloud admins, D1's domain admin and the subtree admin (either token); admin by the
    cloud admins and D1's domain admin only (Keystone's domain-admin branch), never by
    the subtree admin. Grants on C are checked and listed by the readers, D1's domain
    personas and the subtree admin."""
    w = world
    checkers = READERS | D1_READERS | SUBTREE
    for role in ("member", "reader", "manager"):
        _grant_round(w, w.c, w.user1, role, CLOUD_ADMINS | {DA} | SUBTREE, checkers)
    _grant_round(w, w.c, w.user1, "admin", CLOUD_ADMINS | {DA}, checkers)


def test_grants_on_g_r_and_s(world: World) -> None:
    """Deeper in the subtree (G) the subtree admin grants as on C; on R itself and on the
    sibling S they may not grant, check or list — D1's domain admin and the cloud admins
    may."""
    w = world
    _grant_round(w, w.g, w.user1, "member", CLOUD_ADMINS | {DA} | SUBTREE,
                 READERS | D1_READERS | SUBTREE)
    for project in (w.r, w.s):
        _grant_round(w, project, w.user1, "member", CLOUD_ADMINS | {DA},
                     READERS | D1_READERS)


def test_grants_on_p2(world: World) -> None:
    """On P2 (domain D2) for a user of D2: only the cloud admins grant and revoke, member
    or admin; the readers check and list; D1's personas, the subtree admin and P2's own
    member are refused."""
    w = world
    for role in ("member", "admin"):
        _grant_round(w, w.p2, w.user2, role, CLOUD_ADMINS, READERS)


def test_grant_to_a_user_of_another_domain(world: World) -> None:
    """Granting member on C to a user of D2: D1's domain admin is refused (Keystone's
    domain branch wants the user in their domain); the subtree admin's branch reads only
    the project and the role, so they may — as the cloud admins may."""
    w = world
    path = _grant_path(w.c, w.user2, w.role["member"])

    def revoke(_: str) -> None:
        assert w.admin.delete(path).status_code == 204

    _expect(w, "PUT", path, CLOUD_ADMINS | SUBTREE, 204, after=revoke)


# -- role assignments ------------------------------------------------------------------


def test_role_assignments(world: World) -> None:
    """With or without filters: the readers and D1's domain personas — who, as in
    Keystone, are answered only the assignments on D1 and its projects. Filtered on
    oneself (user.id): everyone (sevres lets a user read their own assignments); on
    another user or on C: no project-scoped persona, the subtree admin included."""
    w = world
    everyone_in_d1 = READERS | D1_READERS
    for query in ("", f"?scope.domain.id={w.d1['id']}", f"?user.id={w.user1}",
                  f"?scope.project.id={w.c}", f"?scope.project.id={w.p2}", "?effective"):
        _expect(w, "GET", f"/v3/role_assignments{query}", everyone_in_d1, 200)
    for persona in (DA, DR):
        seen = _listed(w, persona, "/v3/role_assignments", "role_assignments")
        on = {a["scope"].get("project", a["scope"].get("domain", {})).get("id")
              for a in seen}
        assert w.d1["id"] in on and w.r in on and w.c in on
        assert w.p2 not in on and "system" not in {k for a in seen for k in a["scope"]}
        assert _listed(w, persona, f"/v3/role_assignments?scope.project.id={w.p2}",
                       "role_assignments") == []
    every = _listed(w, SR, "/v3/role_assignments", "role_assignments")
    assert w.p2 in {a["scope"].get("project", {}).get("id") for a in every}
    for persona in PERSONAS:
        me = w.clients[persona].body["user"]["id"]
        response = w.clients[persona].get("/v3/role_assignments",
                                          params={"user.id": me, "effective": ""})
        assert response.status_code == 200, (persona, response.text)
        assert {a["user"]["id"] for a in response.json()["role_assignments"]} <= {me}


# -- catalog ---------------------------------------------------------------------------


def test_catalog(world: World) -> None:
    """Regions are read by everyone; services and endpoints by the readers (domain tokens
    are refused by scope); every catalog write by the cloud admins only."""
    w = world
    _expect(w, "GET", "/v3/regions", frozenset(PERSONAS), 200)
    _expect(w, "GET", f"/v3/regions/{w.region}", frozenset(PERSONAS), 200)
    for path in ("/v3/services", f"/v3/services/{w.service}", "/v3/endpoints",
                 f"/v3/endpoints/{w.endpoint}"):
        _expect(w, "GET", path, READERS, 200)
    _expect(w, "POST", "/v3/regions", CLOUD_ADMINS, 201, {"region": {"description": "x"}})
    _expect(w, "PATCH", f"/v3/regions/{w.region}", CLOUD_ADMINS, 200,
            {"region": {"description": "y"}})
    _expect(w, "POST", "/v3/services", CLOUD_ADMINS, 201, {"service": {"type": "ptype"}})
    _expect(w, "PATCH", f"/v3/services/{w.service}", CLOUD_ADMINS, 200,
            {"service": {"enabled": True}})
    _expect(w, "POST", "/v3/endpoints", CLOUD_ADMINS, 201, {"endpoint": {
        "service_id": w.service, "interface": "internal", "url": "http://persona.example/"}})
    _expect(w, "PATCH", f"/v3/endpoints/{w.endpoint}", CLOUD_ADMINS, 200,
            {"endpoint": {"enabled": True}})
    _expect(w, "DELETE", lambda: "/v3/regions/" + w.admin.make(
        "regions", "region", id=unique("PDel"))["id"], CLOUD_ADMINS, 204)


# -- tokens ----------------------------------------------------------------------------


def test_tokens(world: World) -> None:
    """Another user's token (the project member's) is validated and checked by the
    readers only; everyone validates their own."""
    w = world
    subject = {"X-Subject-Token": w.clients[PM].token}
    wrong = []
    for persona in PERSONAS:
        allowed = persona in READERS or persona == PM
        for method in ("GET", "HEAD"):
            response = w.clients[persona].request(method, "/v3/auth/tokens", headers=subject)
            if response.status_code != (200 if allowed else 403):
                wrong.append(f"{persona} {method}: {response.status_code}")
        own = w.clients[persona].get("/v3/auth/tokens",
                                     headers={"X-Subject-Token": w.clients[persona].token})
        if own.status_code != 200:
            wrong.append(f"{persona} own: {own.status_code}")
    assert not wrong, wrong


# -- the subtree admin is no cloud admin -----------------------------------------------


def test_subtree_admin_token_on_c_is_not_a_cloud_admin(world: World) -> None:
    """Holding admin (inherited) on C does not make the token on C a cloud admin, as
    Keystone's own admin_required would: no domains, roles, users, catalog, other
    domains' projects, unfiltered lists, or other users' tokens."""
    client = world.clients[STC]
    refused = [
        ("POST", "/v3/domains", {"domain": {"name": unique("d")}}),
        ("DELETE", f"/v3/domains/{world.d2['id']}", None),
        ("POST", "/v3/roles", {"role": {"name": unique("r")}}),
        ("POST", "/v3/users", {"user": {"name": unique("u"), "domain_id": world.d1["id"]}}),
        ("GET", f"/v3/projects/{world.p2}", None),
        ("PATCH", f"/v3/projects/{world.p2}", {"project": {"description": "x"}}),
        ("DELETE", f"/v3/projects/{world.p2}", None),
        ("PUT", _grant_path(world.p2, world.user2, world.role["member"]), None),
        ("PUT", f"/v3/system/users/{world.users[STC]}/roles/{world.role['admin']}", None),
        ("GET", "/v3/projects", None),
        ("GET", "/v3/users", None),
        ("GET", "/v3/role_assignments", None),
        ("POST", "/v3/services", {"service": {"type": "x"}}),
    ]
    for method, path, body in refused:
        response = client.request(method, path, json=body)
        assert response.status_code == 403, (method, path, response.text)
    validated = client.get("/v3/auth/tokens",
                           headers={"X-Subject-Token": world.clients[SA].token})
    assert validated.status_code == 403
    assert world.admin.get(f"/v3/projects/{world.p2}").status_code == 200


def test_bootstrap_admin_may_do_everything(world: World) -> None:
    """The bootstrap admin's token on the admin project is a cloud admin's: it creates a
    domain, a role, a user in D2, grants admin on P2 and on the system, and deletes them."""
    admin = world.admin
    domain = admin.domain()
    role = admin.role()
    user = admin.user(domain_id=world.d2["id"])
    for path in (_grant_path(world.p2, user["id"], world.role["admin"]),
                 f"/v3/system/users/{user['id']}/roles/{world.role['admin']}",
                 f"/v3/domains/{world.d1['id']}/users/{user['id']}/roles/{role['id']}"):
        assert admin.put(path).status_code == 204, path
        assert admin.delete(path).status_code == 204, path
    for path in (f"/v3/users/{user['id']}", f"/v3/roles/{role['id']}"):
        assert admin.delete(path).status_code == 204, path
    assert admin.patch(f"/v3/domains/{domain['id']}",
                       json={"domain": {"enabled": False}}).status_code == 200
    assert admin.delete(f"/v3/domains/{domain['id']}").status_code == 204


# -- policy files ----------------------------------------------------------------------


@dataclass
class PolicyWorld:
    server: Server
    admin: Api
    c: str
    g: str
    user: str
    member_role: str
    member: Api
    subtree_admin: Api


@pytest.fixture(scope="module")
def policy_world(backend_name: str, tmp_path_factory: pytest.TempPathFactory
                 ) -> Iterator[PolicyWorld]:
    """A second server, on its own database, whose policy file lets any reader list
    projects and disables the subtree admin."""
    state = tmp_path_factory.mktemp(f"sevres-policy-{backend_name}")
    policy = state / "policy.yaml"
    policy.write_text('"identity:list_projects": "role:reader"\n'
                      '"subtree_admin_required": "!"\n')
    backend = backends.create(backend_name, state)
    srv = start(state, backend.url, SEVRES_POLICY_FILE=str(policy))
    try:
        with Api.login(srv.url, "admin", ADMIN_PASSWORD) as admin:
            domain = admin.domain()
            r = admin.project(domain_id=domain["id"])["id"]
            c = admin.project(parent_id=r)["id"]
            g = admin.project(parent_id=c)["id"]
            roles = {name: admin.role_id(name) for name in ("admin", "member")}
            member = admin.user(domain_id=domain["id"], password=PASSWORD)
            boss = admin.user(domain_id=domain["id"], password=PASSWORD)
            admin.grant(c, member["id"], roles["member"])
            admin.grant(r, boss["id"], roles["member"])
            inherit = (f"/v3/OS-INHERIT/projects/{r}/users/{boss['id']}/roles/"
                       f"{roles['admin']}/inherited_to_projects")
            assert admin.put(inherit).status_code == 204
            target = admin.user(domain_id=domain["id"])
            with Api.login(srv.url, member["name"], PASSWORD, domain["name"],
                           {"project": {"id": c}}) as as_member, \
                    Api.login(srv.url, boss["name"], PASSWORD, domain["name"],
                              {"project": {"id": r}}) as as_boss:
                yield PolicyWorld(srv, admin, c, g, target["id"], roles["member"],
                                  as_member, as_boss)
    finally:
        srv.stop()
        backend.drop()


def test_policy_file_override_widens_a_rule(policy_world: PolicyWorld) -> None:
    """With "identity:list_projects": "role:reader" a plain project member lists all
    projects (Keystone's default refuses them); rules the file does not name are
    unchanged (the member still may not list users)."""
    member = policy_world.member
    listed = member.get("/v3/projects")
    assert listed.status_code == 200, listed.text
    assert policy_world.c in {p["id"] for p in listed.json()["projects"]}
    assert member.get("/v3/users").status_code == 403


def test_policy_file_can_disable_the_subtree_admin(policy_world: PolicyWorld) -> None:
    """With "subtree_admin_required": "!" the subtree admin loses every power below R:
    creating, updating, deleting projects and granting member there are 403, while the
    bootstrap admin keeps them."""
    w = policy_world
    boss = w.subtree_admin
    grant = _grant_path(w.g, w.user, w.member_role)
    refused = [
        ("POST", "/v3/projects", {"project": {"name": unique("p"), "parent_id": w.c}}),
        ("PATCH", f"/v3/projects/{w.g}", {"project": {"description": "x"}}),
        ("DELETE", f"/v3/projects/{w.g}", None),
        ("GET", f"/v3/projects/{w.g}", None),
        ("PUT", grant, None),
        ("GET", grant, None),
    ]
    for method, path, body in refused:
        response = boss.request(method, path, json=body)
        assert response.status_code == 403, (method, path, response.text)
    assert w.admin.put(grant).status_code == 204
    assert w.admin.delete(grant).status_code == 204
    assert w.admin.patch(f"/v3/projects/{w.g}",
                         json={"project": {"description": "x"}}).status_code == 200


@pytest.mark.parametrize("command", ["serve", "run"])
def test_malformed_policy_file_stops_the_server(tmp_path: Path, command: str) -> None:
    """`sevres serve` (and `sevres run`) with a policy file holding a malformed rule
    exits non-zero before serving, with one line naming the file and the rule — no
    traceback, and no worker left running."""
    policy = tmp_path / "policy.yaml"
    policy.write_text('"identity:list_projects": "role:reader or"\n')
    env = server_env(tmp_path / "state", f"sqlite:///{tmp_path / 'sevres.db'}",
                     SEVRES_POLICY_FILE=str(policy))
    sevres = str(Path(sys.executable).parent / "sevres")
    if command == "serve":  # a database and keys ready, so only the policy can be wrong
        prepared = subprocess.run([sevres, "init"], env=env, capture_output=True,
                                  timeout=60, check=False)
        assert prepared.returncode == 0, prepared.stderr
    finished = subprocess.run([sevres, command, "--port", str(free_port()), "--workers", "2"],
                              env=env, capture_output=True, text=True, timeout=60,
                              check=False)
    assert finished.returncode != 0
    output = finished.stdout + finished.stderr
    assert "Traceback" not in output, output
    errors_ = [line for line in finished.stderr.splitlines() if line.startswith("sevres: ")]
    assert len(errors_) == 1, output
    assert str(policy) in errors_[0]
    assert "policy rule 'identity:list_projects'" in errors_[0]
    assert "serving" not in finished.stdout
