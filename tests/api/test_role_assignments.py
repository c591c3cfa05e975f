"""GET /v3/role_assignments with every filter Keystone supports, plain and effective."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from tests.factories import Api, unique

PASSWORD = "assign-Pa55word"
INHERITED = "OS-INHERIT:inherited_to"
INHERITED_TO = f"scope.{INHERITED}"


def _list(admin: Api, **params: str) -> list[dict[str, Any]]:
    response = admin.get("/v3/role_assignments", params=params)
    assert response.status_code == 200, response.text
    return list(response.json()["role_assignments"])


def _rows(found: list[dict[str, Any]]) -> set[tuple[str, str, str, str, bool]]:
    """(actor id, role id, scope kind, scope id, inherited) of each entry."""
    rows = set()
    for a in found:
        actor = a["user"]["id"] if "user" in a else a["group"]["id"]
        scope = a["scope"]
        kind = next(k for k in scope if k != INHERITED)
        target = "all" if kind == "system" else scope[kind]["id"]
        rows.add((actor, a["role"]["id"], kind, target, INHERITED in scope))
    return rows


@dataclass
class World:
    """A domain d with projects top > mid > low and a separate project other; users u
    (in group g) and v; roles r1, r2 and the bootstrap roles."""

    d: str
    top: str
    mid: str
    low: str
    other: str
    u: str
    v: str
    g: str
    r1: str
    r2: str
    member: str
    reader: str
    manager: str


@pytest.fixture
def world(admin: Api) -> World:
    d = admin.domain()["id"]
    top = admin.project(domain_id=d)["id"]
    mid = admin.project(domain_id=d, parent_id=top)["id"]
    low = admin.project(domain_id=d, parent_id=mid)["id"]
    other = admin.project(domain_id=d)["id"]
    u = admin.user(password=PASSWORD)["id"]
    v = admin.user(password=PASSWORD)["id"]
    g = admin.make("groups", "group", name=unique("grp"), domain_id=d)["id"]
    assert admin.put(f"/v3/groups/{g}/users/{u}").status_code == 204
    w = World(d, top, mid, low, other, u, v, g, admin.role()["id"], admin.role()["id"],
              admin.role_id("member"), admin.role_id("reader"), admin.role_id("manager"))
    for path in (
        f"/v3/projects/{top}/users/{u}/roles/{w.r1}",
        f"/v3/projects/{low}/users/{v}/roles/{w.r2}",
        f"/v3/domains/{d}/users/{v}/roles/{w.r1}",
        f"/v3/projects/{mid}/groups/{g}/roles/{w.member}",
        f"/v3/OS-INHERIT/projects/{mid}/users/{v}/roles/{w.r1}/inherited_to_projects",
        f"/v3/OS-INHERIT/domains/{d}/groups/{g}/roles/{w.r2}/inherited_to_projects",
        f"/v3/system/groups/{g}/roles/{w.reader}",
        f"/v3/system/users/{v}/roles/{w.r2}",
    ):
        assert admin.put(path).status_code == 204, path
    return w


def test_filters_on_stored_grants(admin: Api, world: World) -> None:
    """user.id, group.id, role.id, scope.project.id, scope.domain.id, scope.system and
    scope.OS-INHERIT:inherited_to each narrow the stored grants, alone and combined."""
    w = world
    assert _rows(_list(admin, **{"user.id": w.u})) == {(w.u, w.r1, "project", w.top, False)}
    assert _rows(_list(admin, **{"group.id": w.g})) == {
        (w.g, w.member, "project", w.mid, False), (w.g, w.r2, "domain", w.d, True),
        (w.g, w.reader, "system", "all", False)}
    assert _rows(_list(admin, **{"user.id": w.v})) == {
        (w.v, w.r2, "project", w.low, False), (w.v, w.r1, "domain", w.d, False),
        (w.v, w.r1, "project", w.mid, True), (w.v, w.r2, "system", "all", False)}
    assert _rows(_list(admin, **{"role.id": w.r1})) == {
        (w.u, w.r1, "project", w.top, False), (w.v, w.r1, "domain", w.d, False),
        (w.v, w.r1, "project", w.mid, True)}
    assert _rows(_list(admin, **{"scope.project.id": w.mid})) == {
        (w.g, w.member, "project", w.mid, False), (w.v, w.r1, "project", w.mid, True)}
    assert _rows(_list(admin, **{"scope.domain.id": w.d})) == {
        (w.v, w.r1, "domain", w.d, False), (w.g, w.r2, "domain", w.d, True)}
    system = _rows(_list(admin, **{"scope.system": "all", "user.id": w.v}))
    assert system == {(w.v, w.r2, "system", "all", False)}
    assert _rows(_list(admin, **{"scope.system": "all", "group.id": w.g})) == {
        (w.g, w.reader, "system", "all", False)}
    inherited = {(w.v, w.r1, "project", w.mid, True), (w.g, w.r2, "domain", w.d, True)}
    assert _rows(_list(admin, **{INHERITED_TO: "projects", "scope.domain.id": w.d})) == {
        (w.g, w.r2, "domain", w.d, True)}
    assert _rows(_list(admin, **{INHERITED_TO: "projects", "role.id": w.r1})) == {
        (w.v, w.r1, "project", w.mid, True)}
    assert inherited <= _rows(_list(admin, **{INHERITED_TO: "projects"}))
    # Any other value keeps the grants that are not inherited, as Keystone does.
    assert _rows(_list(admin, **{INHERITED_TO: "other", "user.id": w.v})) == {
        (w.v, w.r2, "project", w.low, False), (w.v, w.r1, "domain", w.d, False),
        (w.v, w.r2, "system", "all", False)}
    assert _rows(_list(admin, **{"user.id": w.v, "role.id": w.r2,
                                 "scope.project.id": w.low})) == {
        (w.v, w.r2, "project", w.low, False)}
    assert _list(admin, **{"user.id": w.u, "scope.project.id": w.mid}) == []
    assert _list(admin, **{"role.id": w.reader, "scope.project.id": w.top}) == []


def test_unknown_ids_in_filters_give_empty_lists(admin: Api, world: World) -> None:
    """Filters naming ids that exist nowhere answer 200 with no entries."""
    nothing = "0123456789abcdef0123456789abcdef"
    for key in ("user.id", "group.id", "role.id", "scope.project.id", "scope.domain.id"):
        assert _list(admin, **{key: nothing}) == [], key


def test_include_subtree(admin: Api, world: World) -> None:
    """include_subtree with scope.project.id adds the grants on every project below; other
    projects stay out; without scope.project.id it is 400."""
    w = world
    assert _rows(_list(admin, **{"scope.project.id": w.mid, "include_subtree": "true"})) == {
        (w.g, w.member, "project", w.mid, False), (w.v, w.r1, "project", w.mid, True),
        (w.v, w.r2, "project", w.low, False)}
    assert _rows(_list(admin, **{"scope.project.id": w.top, "include_subtree": "true",
                                 "user.id": w.u})) == {(w.u, w.r1, "project", w.top, False)}
    everything = _rows(_list(admin, **{"scope.project.id": w.top, "include_subtree": "1"}))
    assert (w.v, w.r2, "project", w.low, False) in everything
    assert all(row[3] in {w.top, w.mid, w.low} for row in everything)
    for params in ({"include_subtree": "true"},
                   {"include_subtree": "true", "scope.domain.id": w.d}):
        assert admin.get("/v3/role_assignments", params=params).status_code == 400


@pytest.mark.parametrize("params", [
    {"user.id": "U", "group.id": "G"},
    {"scope.project.id": "P", "scope.domain.id": "D"},
    {"scope.system": "all", "scope.project.id": "P"},
    {"scope.system": "all", "scope.domain.id": "D"},
    {"effective": "true", "group.id": "G"},
])
def test_contradicting_filters_are_400(admin: Api, world: World, params: dict[str, str]
                                       ) -> None:
    """Filters that cannot hold together are 400, as in Keystone (effective with group.id:
    'Combining effective and group filter will always result in an empty list.')."""
    ids = {"U": world.u, "G": world.g, "P": world.mid, "D": world.d}
    response = admin.get("/v3/role_assignments",
                         params={k: ids.get(v, v) for k, v in params.items()})
    assert response.status_code == 400, response.text
    if "effective" in params:
        assert response.json()["error"]["message"] == (
            "Combining effective and group filter will always result in an empty list.")


def test_include_names(admin: Api, world: World) -> None:
    """include_names names users, groups and projects with their domain refs, domains and
    roles by name; system scope stays {"all": true}."""
    w = world
    domain = admin.get(f"/v3/domains/{w.d}").json()["domain"]
    dref = {"id": w.d, "name": domain["name"]}
    group = admin.get(f"/v3/groups/{w.g}").json()["group"]
    user_v = admin.get(f"/v3/users/{w.v}").json()["user"]
    mid = admin.get(f"/v3/projects/{w.mid}").json()["project"]
    r1 = admin.get(f"/v3/roles/{w.r1}").json()["role"]
    found = _list(admin, **{"group.id": w.g, "include_names": "true"})
    assert len(found) == 3
    assert all(a["group"] == {"id": w.g, "name": group["name"], "domain": dref}
               for a in found)
    scopes = [a["scope"] for a in found]
    assert {"project": {"id": w.mid, "name": mid["name"], "domain": dref}} in scopes
    assert {"domain": {"id": w.d, "name": domain["name"]}, INHERITED: "projects"} in scopes
    assert {"system": {"all": True}} in scopes
    assert {"id": w.member, "name": "member"} in [a["role"] for a in found]
    mine = _list(admin, **{"user.id": w.v, "include_names": "true", "role.id": w.r1})
    assert {a["user"]["name"] for a in mine} == {user_v["name"]}
    assert all(a["user"]["domain"] == {"id": "default", "name": "Default"} for a in mine)
    assert all(a["role"] == {"id": w.r1, "name": r1["name"]} for a in mine)
    plain = _list(admin, **{"group.id": w.g})
    assert all(set(a["group"]) == {"id"} and set(a["role"]) == {"id"} for a in plain)


def test_domain_specific_role_names_carry_their_domain(admin: Api, world: World) -> None:
    """include_names on a domain-specific role adds the role's domain ref."""
    role = admin.role(domain_id=world.d)
    assert admin.put(f"/v3/projects/{world.mid}/users/{world.u}/roles/{role['id']}"
                     ).status_code == 204
    found = _list(admin, **{"role.id": role["id"], "include_names": "true"})
    assert len(found) == 1
    domain = admin.get(f"/v3/domains/{world.d}").json()["domain"]
    assert found[0]["role"] == {"id": role["id"], "name": role["name"],
                                "domain": {"id": world.d, "name": domain["name"]}}


def test_effective_expands_groups_with_membership_links(admin: Api, world: World) -> None:
    """effective turns a group grant into one user entry per member, linking the group
    grant (links.assignment) and the membership (links.membership); no group entries."""
    w = world
    second = admin.user()["id"]
    assert admin.put(f"/v3/groups/{w.g}/users/{second}").status_code == 204
    found = _list(admin, **{"effective": "true", "scope.project.id": w.mid,
                            "role.id": w.member})
    assert all("group" not in a for a in found)
    assert {a["user"]["id"] for a in found} == {w.u, second}
    for a in found:
        assert a["links"]["assignment"].endswith(
            f"/v3/projects/{w.mid}/groups/{w.g}/roles/{w.member}")
        assert a["links"]["membership"].endswith(f"/v3/groups/{w.g}/users/{a['user']['id']}")
        assert admin.head(a["links"]["membership"]).status_code == 204
        assert admin.head(a["links"]["assignment"]).status_code == 204


def test_effective_expands_inherited_grants_to_each_project_below(admin: Api, world: World
                                                                  ) -> None:
    """effective turns an inherited grant into an entry on each project below its target
    (not the target itself), keeping OS-INHERIT:inherited_to and linking the OS-INHERIT
    grant; a domain-inherited group grant reaches every project of the domain."""
    w = world
    found = _list(admin, **{"effective": "true", "user.id": w.v, "role.id": w.r1})
    assert _rows(found) == {(w.v, w.r1, "domain", w.d, False),
                            (w.v, w.r1, "project", w.low, True)}
    inherited = next(a for a in found if "project" in a["scope"])
    assert inherited["links"]["assignment"].endswith(
        f"/v3/OS-INHERIT/projects/{w.mid}/users/{w.v}/roles/{w.r1}/inherited_to_projects")
    assert admin.head(inherited["links"]["assignment"]).status_code == 204
    from_domain = _list(admin, **{"effective": "true", "user.id": w.u, "role.id": w.r2})
    assert _rows(from_domain) == {(w.u, w.r2, "project", p, True)
                                  for p in (w.top, w.mid, w.low, w.other)}
    assert all(a["links"]["membership"].endswith(f"/v3/groups/{w.g}/users/{w.u}")
               for a in from_domain)
    only_inherited = _list(admin, **{"effective": "true", "user.id": w.v,
                                     INHERITED_TO: "projects"})
    assert _rows(only_inherited) == {(w.v, w.r1, "project", w.low, True)}
    on_domain = _list(admin, **{"effective": "true", "scope.domain.id": w.d})
    assert _rows(on_domain) == {(w.v, w.r1, "domain", w.d, False)}


def test_effective_adds_implied_roles_with_prior_role_links(admin: Api, world: World) -> None:
    """effective adds each implied role as its own entry with links.prior_role naming the
    role that implies it; links.assignment stays the stored grant it comes from."""
    w = world
    found = _list(admin, **{"effective": "true", "user.id": w.u, "scope.project.id": w.mid})
    assert _rows(found) == {(w.u, w.member, "project", w.mid, False),
                            (w.u, w.reader, "project", w.mid, False),
                            (w.u, w.r2, "project", w.mid, True)}
    reader = next(a for a in found if a["role"]["id"] == w.reader)
    assert reader["links"]["prior_role"].endswith(f"/v3/roles/{w.member}")
    assert reader["links"]["assignment"].endswith(
        f"/v3/projects/{w.mid}/groups/{w.g}/roles/{w.member}")
    member = next(a for a in found if a["role"]["id"] == w.member)
    assert "prior_role" not in member["links"]
    chain = _list(admin, **{"effective": "true", "user.id": w.v, "scope.project.id": w.top})
    assert chain == []
    assert admin.put(f"/v3/projects/{w.top}/users/{w.v}/roles/{w.manager}").status_code == 204
    chain = _list(admin, **{"effective": "true", "user.id": w.v, "scope.project.id": w.top})
    priors = {a["role"]["id"]: a["links"].get("prior_role", "") for a in chain}
    assert set(priors) == {w.manager, w.member, w.reader}
    assert priors[w.member].endswith(f"/v3/roles/{w.manager}")
    assert priors[w.reader].endswith(f"/v3/roles/{w.member}")


def test_effective_lists_each_grant_behind_a_role(admin: Api, world: World) -> None:
    """A role held through two grants is listed once per grant (as Keystone does), each
    entry linking its own grant."""
    w = world
    assert admin.put(f"/v3/projects/{w.mid}/users/{w.u}/roles/{w.member}").status_code == 204
    found = _list(admin, **{"effective": "true", "user.id": w.u, "scope.project.id": w.mid,
                            "role.id": w.member})
    links = sorted(a["links"]["assignment"].split("/v3/")[1] for a in found)
    assert links == [f"projects/{w.mid}/groups/{w.g}/roles/{w.member}",
                     f"projects/{w.mid}/users/{w.u}/roles/{w.member}"]


def test_effective_leaves_system_out(admin: Api, world: World) -> None:
    """effective drops system assignments (user and group), as Keystone does."""
    w = world
    found = _list(admin, **{"effective": "true", "user.id": w.v})
    assert found and all("system" not in a["scope"] for a in found)
    assert all("system" not in a["scope"] for a in _list(admin, effective="true"))
    # Keystone ignores scope.system under effective and lists the rest; sevres answers
    # what the filter asks for: no system entries, so nothing.
    assert _list(admin, **{"effective": "true", "user.id": w.v, "scope.system": "all"}) == []


def test_effective_with_subtree_and_names(admin: Api, world: World) -> None:
    """effective with include_subtree lists what users hold on the project and below,
    and include_names names the expanded entries."""
    w = world
    found = _list(admin, **{"effective": "true", "scope.project.id": w.mid,
                            "include_subtree": "true", "include_names": "true"})
    rows = _rows(found)
    assert (w.v, w.r2, "project", w.low, False) in rows
    assert (w.v, w.r1, "project", w.low, True) in rows
    assert (w.u, w.member, "project", w.mid, False) in rows
    assert all(row[3] in {w.mid, w.low} for row in rows)
    assert all("name" in a["user"] and "name" in a["role"] and "name" in a["scope"]["project"]
               for a in found)


def _token_roles(admin: Api, user_id: str, project_id: str) -> set[str]:
    response = admin.post("/v3/auth/tokens", json={"auth": {
        "identity": {"methods": ["password"],
                     "password": {"user": {"id": user_id, "password": PASSWORD}}},
        "scope": {"project": {"id": project_id}}}})
    if response.status_code == 401:
        return set()
    assert response.status_code == 201, response.text
    return {r["id"] for r in response.json()["token"]["roles"]}


def test_effective_for_user_on_project_equals_token_roles(admin: Api, world: World) -> None:
    """effective&user.id=X&scope.project.id=P gives exactly the roles X's token on P
    carries, for every user and project of the world."""
    w = world
    assert admin.put(f"/v3/projects/{w.low}/users/{w.u}/roles/{w.manager}").status_code == 204
    for user in (w.u, w.v):
        for project in (w.top, w.mid, w.low, w.other):
            listed = _list(admin, **{"effective": "true", "user.id": user,
                                     "scope.project.id": project})
            assert {a["role"]["id"] for a in listed} == _token_roles(admin, user, project), (
                user, project)
