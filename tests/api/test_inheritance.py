"""OS-INHERIT grants, system grants, groups and implied roles: tokens carry exactly the
effective roles."""

from __future__ import annotations

import random
from typing import Any

import httpx

from tests.factories import Api, unique

PASSWORD = "inherit-Pa55word"


def _token(admin: Api, user_id: str, scope: dict[str, Any]) -> httpx.Response:
    return admin.post("/v3/auth/tokens", json={"auth": {
        "identity": {"methods": ["password"],
                     "password": {"user": {"id": user_id, "password": PASSWORD}}},
        "scope": scope}})


def _roles(admin: Api, user_id: str, scope: dict[str, Any]) -> set[str] | None:
    """Names of the roles in the user's token on scope; None when no token is issued."""
    response = _token(admin, user_id, scope)
    if response.status_code == 401:
        return None
    assert response.status_code == 201, response.text
    return {r["name"] for r in response.json()["token"]["roles"]}


def _put(admin: Api, path: str) -> None:
    response = admin.put(path)
    assert response.status_code in (201, 204), (path, response.text)


def _inherit(admin: Api, target: str, target_id: str, actor: str, actor_id: str,
             role_id: str) -> None:
    _put(admin, f"/v3/OS-INHERIT/{target}/{target_id}/{actor}/{actor_id}/roles/{role_id}"
                "/inherited_to_projects")


def _group(admin: Api, *members: dict[str, Any]) -> dict[str, Any]:
    group = admin.make("groups", "group", name=unique("grp"))
    for user in members:
        _put(admin, f"/v3/groups/{group['id']}/users/{user['id']}")
    return group


def _chain(admin: Api, domain_id: str, depth: int) -> list[dict[str, Any]]:
    """Projects nested depth deep in the domain, top first."""
    chain: list[dict[str, Any]] = []
    for _ in range(depth):
        parent = chain[-1]["id"] if chain else domain_id
        chain.append(admin.project(domain_id=domain_id, parent_id=parent))
    return chain


def test_domain_inherited_grant_reaches_every_project_but_not_the_domain(admin: Api) -> None:
    """A role inherited on a domain is in the token of every project of the domain, at
    every depth, but a domain-scoped token gets no role from it (401 when it is the only
    one; only the direct domain role otherwise)."""
    domain = admin.domain()
    chain = _chain(admin, domain["id"], 4)
    sibling = admin.project(domain_id=domain["id"])
    user = admin.user(password=PASSWORD)
    _inherit(admin, "domains", domain["id"], "users", user["id"], admin.role_id("member"))
    for project in [*chain, sibling]:
        assert _roles(admin, user["id"], {"project": {"id": project["id"]}}) == {
            "member", "reader"}, project
    assert _roles(admin, user["id"], {"domain": {"id": domain["id"]}}) is None
    outside = admin.project()
    assert _roles(admin, user["id"], {"project": {"id": outside["id"]}}) is None
    direct = admin.role()
    _put(admin, f"/v3/domains/{domain['id']}/users/{user['id']}/roles/{direct['id']}")
    assert _roles(admin, user["id"], {"domain": {"id": domain["id"]}}) == {direct["name"]}
    assert _roles(admin, user["id"], {"project": {"id": chain[2]["id"]}}) == {
        "member", "reader"}


def test_project_inherited_grant_reaches_subtree_not_the_project(admin: Api) -> None:
    """A role inherited on a project is in tokens for every project below it, but not for
    the project itself, its parent or its sibling."""
    domain = admin.domain()
    top, middle, low, lowest = _chain(admin, domain["id"], 4)
    side = admin.project(domain_id=domain["id"], parent_id=middle["id"])
    sibling = admin.project(domain_id=domain["id"], parent_id=top["id"])
    user = admin.user(password=PASSWORD)
    role = admin.role()
    _inherit(admin, "projects", middle["id"], "users", user["id"], role["id"])
    for project in (low, lowest, side):
        assert _roles(admin, user["id"], {"project": {"id": project["id"]}}) == {role["name"]}
    for project in (middle, top, sibling):
        assert _roles(admin, user["id"], {"project": {"id": project["id"]}}) is None
    listed = admin.get("/v3/role_assignments", params={
        "user.id": user["id"], "scope.OS-INHERIT:inherited_to": "projects"})
    assert [a["role"]["id"] for a in listed.json()["role_assignments"]] == [role["id"]]
    assert admin.get(f"/v3/projects/{middle['id']}/users/{user['id']}/roles"
                     ).json()["roles"] == []


def test_inherited_grant_lifecycle(admin: Api) -> None:
    """OS-INHERIT grants: PUT 204, HEAD/GET 204, DELETE 204 then 404; the inherited and the
    direct grant of the same role are distinct."""
    project, user, role = admin.project(), admin.user(), admin.role()
    domain_list = (f"/v3/OS-INHERIT/domains/default/users/{user['id']}/roles"
                   "/inherited_to_projects")
    for target, target_id in (("projects", project["id"]), ("domains", "default")):
        path = (f"/v3/OS-INHERIT/{target}/{target_id}/users/{user['id']}/roles/{role['id']}"
                "/inherited_to_projects")
        direct = f"/v3/{target}/{target_id}/users/{user['id']}/roles/{role['id']}"
        assert admin.head(path).status_code == 404
        assert admin.put(path).status_code == 204
        assert admin.put(path).status_code == 204
        assert admin.head(path).status_code == 204
        assert admin.get(path).status_code == 204
        assert admin.head(direct).status_code == 404
        if target == "domains":  # Keystone lists inherited grants on domains only
            listed = admin.get(domain_list).json()["roles"]
            assert [r["id"] for r in listed] == [role["id"]]
        assert admin.delete(path).status_code == 204
        assert admin.delete(path).status_code == 404


def test_group_inherited_grant_reaches_members(admin: Api) -> None:
    """A role inherited by a group on a domain reaches each member's project tokens, and
    stops the moment the member leaves."""
    domain = admin.domain()
    (project,) = _chain(admin, domain["id"], 1)
    user = admin.user(password=PASSWORD)
    group = _group(admin, user)
    role = admin.role()
    _inherit(admin, "domains", domain["id"], "groups", group["id"], role["id"])
    assert _roles(admin, user["id"], {"project": {"id": project["id"]}}) == {role["name"]}
    assert admin.delete(f"/v3/groups/{group['id']}/users/{user['id']}").status_code == 204
    assert _roles(admin, user["id"], {"project": {"id": project["id"]}}) is None


def test_system_grants_to_users_and_groups(admin: Api) -> None:
    """System grants to a user and to a user's group both give system-scoped tokens with
    the implied roles, and nothing on projects; revoking them removes the system scope."""
    user, member_of_group = admin.user(password=PASSWORD), admin.user(password=PASSWORD)
    group = _group(admin, member_of_group)
    reader, manager = admin.role_id("reader"), admin.role_id("manager")
    _put(admin, f"/v3/system/users/{user['id']}/roles/{reader}")
    _put(admin, f"/v3/system/groups/{group['id']}/roles/{manager}")
    system = {"system": {"all": True}}
    response = _token(admin, user["id"], system)
    assert response.status_code == 201, response.text
    assert response.json()["token"]["system"] == {"all": True}
    assert {r["name"] for r in response.json()["token"]["roles"]} == {"reader"}
    assert _roles(admin, member_of_group["id"], system) == {"manager", "member", "reader"}
    assert _roles(admin, user["id"], {"project": {"id": admin.project()["id"]}}) is None
    listed = admin.get(f"/v3/system/groups/{group['id']}/roles").json()["roles"]
    assert [r["id"] for r in listed] == [manager]
    assert admin.head(f"/v3/system/groups/{group['id']}/roles/{manager}").status_code == 204
    assert admin.delete(f"/v3/system/groups/{group['id']}/roles/{manager}").status_code == 204
    assert _roles(admin, member_of_group["id"], system) is None


def test_implied_roles_apply_through_groups_and_inheritance(admin: Api) -> None:
    """A custom implication (prior -> implied, implied -> member) is followed whether the
    prior role comes directly, through a group or through an inherited grant; admin gives
    admin, manager, member and reader."""
    prior, implied = admin.role(), admin.role()
    created = admin.put(f"/v3/roles/{prior['id']}/implies/{implied['id']}")
    assert created.status_code == 201, created.text
    _put(admin, f"/v3/roles/{implied['id']}/implies/{admin.role_id('member')}")
    expected = {prior["name"], implied["name"], "member", "reader"}
    domain = admin.domain()
    top, below = _chain(admin, domain["id"], 2)
    direct_user, group_user, inherit_user = (admin.user(password=PASSWORD) for _ in range(3))
    group = _group(admin, group_user)
    admin.grant(below["id"], direct_user["id"], prior["id"])
    _put(admin, f"/v3/projects/{below['id']}/groups/{group['id']}/roles/{prior['id']}")
    _inherit(admin, "projects", top["id"], "users", inherit_user["id"], prior["id"])
    for user in (direct_user, group_user, inherit_user):
        assert _roles(admin, user["id"], {"project": {"id": below["id"]}}) == expected
    admin.grant(top["id"], direct_user["id"], admin.role_id("admin"))
    assert _roles(admin, direct_user["id"], {"project": {"id": top["id"]}}) == {
        "admin", "manager", "member", "reader"}
    assert admin.delete(f"/v3/roles/{prior['id']}/implies/{implied['id']}").status_code == 204
    assert _roles(admin, group_user["id"], {"project": {"id": below["id"]}}) == {prior["name"]}


def _inferences(admin: Api) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    body = admin.get("/v3/role_inferences").json()
    for entry in body["role_inferences"]:
        graph.setdefault(entry["prior_role"]["id"], set()).update(
            r["id"] for r in entry["implies"])
    return graph


def _close(role_ids: set[str], graph: dict[str, set[str]]) -> set[str]:
    found, stack = set(), list(role_ids)
    while stack:
        role_id = stack.pop()
        if role_id not in found:
            found.add(role_id)
            stack.extend(graph.get(role_id, ()))
    return found


def _random_grants(admin: Api, rng: random.Random, actors: list[tuple[str, str]],
                   targets: list[tuple[str, str]], pool: list[str],
                   ) -> list[tuple[str, str, str, bool]]:
    """30 random grants: (actor id, target id or "system", role id, inherited)."""
    grants = []
    for _ in range(30):
        actor, actor_id = rng.choice(actors)
        target, target_id = rng.choice([*targets, ("system", "system")])
        role_id = rng.choice(pool)
        inherited = target != "system" and rng.random() < 0.4
        if target == "system":
            _put(admin, f"/v3/system/{actor}/{actor_id}/roles/{role_id}")
        elif inherited:
            _inherit(admin, target, target_id, actor, actor_id, role_id)
        else:
            _put(admin, f"/v3/{target}/{target_id}/{actor}/{actor_id}/roles/{role_id}")
        grants.append((actor_id, target_id, role_id, inherited))
    return grants


def test_tokens_carry_exactly_the_effective_roles(admin: Api) -> None:
    """Users given random mixes of direct, group, inherited (domain and project) and
    system grants, with implied roles: each token's role names equal the set computed by
    hand from the grants, on every project, the domain and the system."""
    rng = random.Random(20261124)
    domain = admin.domain()
    # a tree: a0 > a1 > a2, a0 > b1, c0
    a0, a1, a2 = _chain(admin, domain["id"], 3)
    b1 = admin.project(domain_id=domain["id"], parent_id=a0["id"])
    c0 = admin.project(domain_id=domain["id"])
    projects = [a0, a1, a2, b1, c0]
    parents = {p["id"]: p["parent_id"] for p in projects}
    own = [admin.role() for _ in range(3)]
    _put(admin, f"/v3/roles/{own[0]['id']}/implies/{own[1]['id']}")
    pool = [*(r["id"] for r in own), *(admin.role_id(n) for n in ("manager", "member", "reader"))]
    users = [admin.user(password=PASSWORD) for _ in range(6)]
    groups = [_group(admin, *rng.sample(users, 3)) for _ in range(3)]
    members = {g["id"]: set() for g in groups}
    for g in groups:
        for u in admin.get(f"/v3/groups/{g['id']}/users").json()["users"]:
            members[g["id"]].add(u["id"])
    actors = [("users", u["id"]) for u in users] + [("groups", g["id"]) for g in groups]
    targets = [("projects", p["id"]) for p in projects] + [("domains", domain["id"])]
    grants = _random_grants(admin, rng, actors, targets, pool)
    graph = _inferences(admin)
    names = {r["id"]: r["name"] for r in admin.get("/v3/roles").json()["roles"]}
    names.update({r["id"]: r["name"] for r in own})

    def ancestors(project_id: str) -> set[str]:
        found = set()
        current = parents[project_id]
        while current is not None:
            found.add(current)
            current = parents.get(current)
        return found

    def expected(user_id: str, target_id: str) -> set[str] | None:
        mine = {user_id} | {g for g, ms in members.items() if user_id in ms}
        above = ancestors(target_id) if target_id in parents else set()
        held = {role for actor_id, on, role, inherited in grants if actor_id in mine and (
            (on == target_id and not inherited) or (on in above and inherited))}
        return {names[r] for r in _close(held, graph)} or None

    outcomes = []
    for user in users:
        for project in projects:
            scope = {"project": {"id": project["id"]}}
            want = expected(user["id"], project["id"])
            assert _roles(admin, user["id"], scope) == want, (user["name"], project["name"])
            outcomes.append(want is not None)
        assert _roles(admin, user["id"], {"domain": {"id": domain["id"]}}) == expected(
            user["id"], domain["id"])
        assert _roles(admin, user["id"], {"system": {"all": True}}) == expected(
            user["id"], "system")
    assert len(outcomes) == 30 and any(outcomes)  # the mix gives roles somewhere


def test_domain_specific_roles_only_within_their_domain(admin: Api) -> None:
    """A role with a domain_id can be granted on that domain and its projects; on a project
    or domain elsewhere it is 403, on the system 400 (Keystone's messages for projects and
    the system). Tokens leave the domain-specific role out and carry what it implies."""
    domain, elsewhere = admin.domain(), admin.domain()
    (project,) = _chain(admin, domain["id"], 1)
    foreign = admin.project(domain_id=elsewhere["id"])
    local = admin.role(domain_id=domain["id"])
    global_role = admin.role()
    _put(admin, f"/v3/roles/{local['id']}/implies/{global_role['id']}")
    user = admin.user(password=PASSWORD)
    grant = f"/users/{user['id']}/roles/{local['id']}"
    refused = admin.put(f"/v3/projects/{foreign['id']}{grant}")
    assert refused.status_code == 403
    assert refused.json()["error"]["message"] == (
        f"Project {foreign['id']} must be in the same domain as the role {local['id']} "
        "being assigned.")
    assert admin.put(f"/v3/domains/{elsewhere['id']}{grant}").status_code == 403
    assert admin.put(f"/v3/OS-INHERIT/domains/{elsewhere['id']}{grant}/inherited_to_projects"
                     ).status_code == 403
    system = admin.put(f"/v3/system{grant}")
    assert system.status_code == 400
    assert system.json()["error"]["message"] == (
        f"Role {local['id']} is a domain-specific role. Unable to use a domain-specific "
        "role in a system assignment.")
    group = _group(admin, user)
    assert admin.put(f"/v3/projects/{foreign['id']}/groups/{group['id']}/roles/{local['id']}"
                     ).status_code == 403
    assert admin.get("/v3/role_assignments", params={"role.id": local["id"]}
                     ).json()["role_assignments"] == []
    assert admin.put(f"/v3/projects/{project['id']}{grant}").status_code == 204
    assert admin.put(f"/v3/domains/{domain['id']}{grant}").status_code == 204
    assert _roles(admin, user["id"], {"project": {"id": project["id"]}}) == {global_role["name"]}
    assert _roles(admin, user["id"], {"domain": {"id": domain["id"]}}) == {global_role["name"]}
    assert admin.delete(f"/v3/roles/{local['id']}/implies/{global_role['id']}"
                        ).status_code == 204
    assert _roles(admin, user["id"], {"project": {"id": project["id"]}}) is None
