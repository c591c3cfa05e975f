"""Hierarchical multitenancy against a live server: nesting up to the configured depth,
Keystone's parent_id / is_domain / parents_as_* / subtree_as_* semantics, enabling,
disabling and deleting projects with children, and (beyond Keystone) moving a project
with PATCH parent_id — with effective roles and issued tokens following the move at once."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import backends
from tests.factories import Api, error, unique
from tests.server import ADMIN_PASSWORD, Server, start

MAX_DEPTH = 10  # SEVRES_MAX_PROJECT_TREE_DEPTH's default
SMALL_DEPTH = 3  # the limit of the second server below
PASSWORD = "hier-user-Pa55word"



def show(api: Api, project_id: str, *flags: str) -> dict[str, Any]:
    """GET a project with the given valueless query flags (?parents_as_ids ...)."""
    query = "&".join(flags)
    response = api.get(f"/v3/projects/{project_id}" + (f"?{query}" if query else ""))
    assert response.status_code == 200, response.text
    return dict(response.json()["project"])


def patch(api: Api, project_id: str, **attrs: Any) -> httpx.Response:
    return api.patch(f"/v3/projects/{project_id}", json={"project": attrs})


def move(api: Api, project_id: str, parent_id: str | None) -> httpx.Response:
    return patch(api, project_id, parent_id=parent_id)


def moved(api: Api, project_id: str, parent_id: str) -> dict[str, Any]:
    response = move(api, project_id, parent_id)
    assert response.status_code == 200, response.text
    return dict(response.json()["project"])


def chain(api: Api, parent_id: str, levels: int) -> list[dict[str, Any]]:
    """``levels`` projects, each the child of the one before, the first under parent_id."""
    made = []
    for _ in range(levels):
        made.append(api.project(parent_id=parent_id))
        parent_id = made[-1]["id"]
    return made


def inherit(api: Api, project_id: str, user_id: str, role_id: str) -> None:
    path = (f"/v3/OS-INHERIT/projects/{project_id}/users/{user_id}/roles/{role_id}"
            "/inherited_to_projects")
    response = api.put(path)
    assert response.status_code == 204, response.text


def effective_projects(api: Api, user_id: str) -> dict[str, set[str]]:
    """project id -> role ids the user effectively holds there (role_assignments?effective)."""
    response = api.get("/v3/role_assignments", params={"effective": "", "user.id": user_id})
    assert response.status_code == 200, response.text
    held: dict[str, set[str]] = {}
    for entry in response.json()["role_assignments"]:
        assert entry["user"]["id"] == user_id
        if "project" in entry["scope"]:
            held.setdefault(entry["scope"]["project"]["id"], set()).add(entry["role"]["id"])
    return held


def validate(api: Api, token: str) -> httpx.Response:
    return api.get("/v3/auth/tokens", headers={"X-Subject-Token": token})


def scoped_token(server: Server, user: dict[str, Any], project_id: str) -> httpx.Response:
    body = {"auth": {
        "identity": {"methods": ["password"],
                     "password": {"user": {"id": user["id"], "password": PASSWORD}}},
        "scope": {"project": {"id": project_id}}}}
    return httpx.post(f"{server.url}/v3/auth/tokens", json=body, timeout=30)


# -- depth -------------------------------------------------------------------------------------
def test_default_depth_is_ten_levels_and_the_eleventh_is_403(admin: Api) -> None:
    """With the default setting projects nest 10 levels below their domain; creating the
    11th level is 403 'Max hierarchy depth reached for <parent> branch.' and creates
    nothing."""
    domain = admin.domain()
    levels = chain(admin, domain["id"], MAX_DEPTH)
    deepest = levels[-1]
    name = unique("too-deep")
    response = admin.post("/v3/projects", json={"project": {
        "name": name, "parent_id": deepest["id"]}})
    assert error(response, 403) == f"Max hierarchy depth reached for {deepest['id']} branch."
    assert admin.get("/v3/projects", params={"name": name}).json()["projects"] == []
    assert show(admin, deepest["id"], "subtree_as_ids")["subtree"] is None


@pytest.fixture(scope="module")
def shallow(backend_name: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """An admin client of a second server started with SEVRES_MAX_PROJECT_TREE_DEPTH=3, on
    a fresh database of the backend under test."""
    state: Path = tmp_path_factory.mktemp(f"sevres-shallow-{backend_name}")
    backend = backends.create(backend_name, state)
    server = start(state, backend.url, SEVRES_MAX_PROJECT_TREE_DEPTH=str(SMALL_DEPTH))
    try:
        with Api.login(server.url, "admin", ADMIN_PASSWORD) as api:
            yield api
    finally:
        server.stop()
        backend.drop()


def test_depth_setting_limits_creation(shallow: Api) -> None:
    """SEVRES_MAX_PROJECT_TREE_DEPTH=3: three levels nest, the fourth is 403 with
    Keystone's message."""
    levels = chain(shallow, "default", SMALL_DEPTH)
    response = shallow.post("/v3/projects", json={"project": {
        "name": unique("too-deep"), "parent_id": levels[-1]["id"]}})
    assert error(response, 403) == f"Max hierarchy depth reached for {levels[-1]['id']} branch."
    # one level up there is still room
    assert shallow.project(parent_id=levels[-2]["id"])["parent_id"] == levels[-2]["id"]


def test_depth_setting_limits_moves(shallow: Api) -> None:
    """SEVRES_MAX_PROJECT_TREE_DEPTH=3: moving a two-level subtree under a level-2 project
    would put its leaf at level 4 — 409, nothing moves; under a level-1 project it fits."""
    upper = chain(shallow, "default", 2)
    subtree = chain(shallow, "default", 2)
    response = move(shallow, subtree[0]["id"], upper[1]["id"])
    assert subtree[0]["id"] in error(response, 409)
    assert show(shallow, subtree[0]["id"])["parent_id"] == "default"
    assert show(shallow, subtree[1]["id"], "parents_as_ids")["parents"] == {
        subtree[0]["id"]: {"default": None}}
    assert moved(shallow, subtree[0]["id"], upper[0]["id"])["parent_id"] == upper[0]["id"]
    assert show(shallow, subtree[1]["id"], "parents_as_ids")["parents"] == {
        subtree[0]["id"]: {upper[0]["id"]: {"default": None}}}


def test_move_past_the_default_depth_is_409(admin: Api) -> None:
    """With the default limit of 10, a subtree of height 3 fits under a level-7 project
    (its deepest project lands on level 10) but not under a level-8 one (409)."""
    domain = admin.domain()
    deep = chain(admin, domain["id"], 8)
    subtree = chain(admin, domain["id"], 3)
    response = move(admin, subtree[0]["id"], deep[7]["id"])
    message = error(response, 409)
    assert subtree[0]["id"] in message and deep[7]["id"] in message
    assert show(admin, subtree[0]["id"])["parent_id"] == domain["id"]
    assert moved(admin, subtree[0]["id"], deep[6]["id"])["parent_id"] == deep[6]["id"]
    parents = show(admin, subtree[2]["id"], "parents_as_ids")["parents"]
    depth = 0
    while parents is not None:
        (parents,) = parents.values()
        depth += 1
    assert depth == MAX_DEPTH  # the leaf's ancestors: 9 projects and the domain
    # and nothing can be created below the leaf now
    response = admin.post("/v3/projects", json={"project": {
        "name": unique("too-deep"), "parent_id": subtree[2]["id"]}})
    assert error(response, 403) == f"Max hierarchy depth reached for {subtree[2]['id']} branch."


# -- parent_id and is_domain -------------------------------------------------------------------
def test_parent_id_is_the_domain_for_a_top_level_project(admin: Api) -> None:
    """A project created with parent_id set to a domain id is a top-level project of that
    domain (domain_id and parent_id both the domain); a child gets its parent's domain."""
    domain = admin.domain()
    top = admin.project(parent_id=domain["id"])
    assert (top["domain_id"], top["parent_id"], top["is_domain"]) == (
        domain["id"], domain["id"], False)
    child = admin.project(parent_id=top["id"])
    assert (child["domain_id"], child["parent_id"]) == (domain["id"], top["id"])


def test_is_domain_project_has_no_parent_and_cannot_be_given_one(admin: Api) -> None:
    """A project created with is_domain true is a domain: no parent, no domain. Giving it
    a parent_id is 400; so is giving one to it by PATCH, or turning it back into a project."""
    as_domain = admin.project(is_domain=True)
    assert (as_domain["parent_id"], as_domain["domain_id"]) == (None, None)
    top = admin.project()
    response = admin.post("/v3/projects", json={"project": {
        "name": unique("dom"), "is_domain": True, "parent_id": top["id"]}})
    assert "parent_id" in error(response, 400)
    assert error(move(admin, as_domain["id"], top["id"]), 400)
    assert error(patch(admin, as_domain["id"], is_domain=False), 400) == (
        "Update of `is_domain` is not allowed.")
    assert show(admin, as_domain["id"])["parent_id"] is None


# -- parents_as_* / subtree_as_* ----------------------------------------------------------------
def test_parents_and_subtree_as_ids_are_nested_dicts(admin: Api) -> None:
    """?parents_as_ids nests from the parent up to and including the domain; ?subtree_as_ids
    nests every project below, leaves as null; a leaf's subtree is null. The key comes
    after links, as in Keystone."""
    domain = admin.domain()
    top = admin.project(domain_id=domain["id"])
    mid = admin.project(parent_id=top["id"])
    leaf = admin.project(parent_id=mid["id"])
    sibling = admin.project(parent_id=top["id"])

    shown = show(admin, leaf["id"], "parents_as_ids")
    assert shown["parents"] == {mid["id"]: {top["id"]: {domain["id"]: None}}}
    assert list(shown)[-1] == "parents"
    assert show(admin, top["id"], "parents_as_ids")["parents"] == {domain["id"]: None}

    subtree = show(admin, top["id"], "subtree_as_ids")
    assert subtree["subtree"] == {mid["id"]: {leaf["id"]: None}, sibling["id"]: None}
    assert list(subtree)[-1] == "subtree"
    assert show(admin, leaf["id"], "subtree_as_ids")["subtree"] is None

    both = show(admin, mid["id"], "parents_as_ids", "subtree_as_ids")
    assert both["parents"] == {top["id"]: {domain["id"]: None}}
    assert both["subtree"] == {leaf["id"]: None}


def test_as_list_forms_only_name_projects_the_caller_has_a_role_on(
    admin: Api, server: Server
) -> None:
    """?parents_as_list and ?subtree_as_list list {"project": {...}} entries, only for the
    projects on which the caller holds a role (never the domain): the admin, with no role
    in this tree, gets []; a user with roles on some of it sees exactly those."""
    domain = admin.domain()
    top = admin.project(domain_id=domain["id"])
    mid = admin.project(parent_id=top["id"])
    leaf = admin.project(parent_id=mid["id"])
    other_leaf = admin.project(parent_id=mid["id"])
    assert show(admin, leaf["id"], "parents_as_list")["parents"] == []
    assert show(admin, top["id"], "subtree_as_list")["subtree"] == []

    user = admin.user(domain_id=domain["id"], password=PASSWORD)
    member = admin.role_id("member")
    for project in (mid, leaf):
        admin.grant(project["id"], user["id"], member)
    scope = {"project": {"id": leaf["id"]}}
    with Api.login(server.url, user["name"], PASSWORD, domain["name"], scope) as api:
        parents = show(api, leaf["id"], "parents_as_list")["parents"]
        assert [p["project"]["id"] for p in parents] == [mid["id"]]
        assert parents[0]["project"]["name"] == mid["name"]
        assert parents[0]["project"]["parent_id"] == top["id"]
    admin.grant(top["id"], user["id"], member)
    scope = {"project": {"id": mid["id"]}}
    with Api.login(server.url, user["name"], PASSWORD, domain["name"], scope) as api:
        subtree = show(api, mid["id"], "subtree_as_list")["subtree"]
        assert [p["project"]["id"] for p in subtree] == [leaf["id"]]
        parents = show(api, mid["id"], "parents_as_list")["parents"]
        assert [p["project"]["id"] for p in parents] == [top["id"]]
    # an inherited grant on top reaches everything below it, so the lists grow
    inherit(admin, top["id"], user["id"], member)
    with Api.login(server.url, user["name"], PASSWORD, domain["name"], scope) as api:
        subtree = show(api, mid["id"], "subtree_as_list")["subtree"]
        assert {p["project"]["id"] for p in subtree} == {leaf["id"], other_leaf["id"]}


@pytest.mark.parametrize("kind", ["parents", "subtree"])
def test_list_and_ids_forms_together_are_400(admin: Api, kind: str) -> None:
    """Asking for <kind>_as_list and <kind>_as_ids at once is 400 with Keystone's message."""
    top = admin.project()
    child = admin.project(parent_id=top["id"])
    response = admin.get(f"/v3/projects/{child['id']}?{kind}_as_list&{kind}_as_ids")
    assert error(response, 400) == (
        f"Cannot use {kind}_as_list and {kind}_as_ids query params at the same time.")


# -- enabling, disabling, deleting ---------------------------------------------------------------
def test_enabling_under_a_disabled_parent_is_403(admin: Api) -> None:
    """A disabled child of a disabled parent cannot be enabled (403) until the parent is;
    a parent cannot be disabled while a child is enabled (403)."""
    top = admin.project()
    child = admin.project(parent_id=top["id"])
    assert error(patch(admin, top["id"], enabled=False), 403) == (
        f"Cannot disable project {top['id']} since its subtree contains enabled projects.")
    assert patch(admin, child["id"], enabled=False).status_code == 200
    assert patch(admin, top["id"], enabled=False).status_code == 200
    assert error(patch(admin, child["id"], enabled=True), 403) == (
        f"Cannot enable project {child['id']} since it has disabled parents.")
    assert show(admin, child["id"])["enabled"] is False
    assert patch(admin, top["id"], enabled=True).status_code == 200
    assert patch(admin, child["id"], enabled=True).status_code == 200
    assert show(admin, child["id"])["enabled"] is True


def test_cascade_delete_needs_the_subtree_disabled_not_the_root(admin: Api) -> None:
    """DELETE ?cascade on an enabled root is 403 while anything below is enabled (Keystone's
    message); with the whole subtree disabled it deletes root and subtree (the root may
    stay enabled, as in Keystone), and their grants."""
    top = admin.project()
    mid = admin.project(parent_id=top["id"])
    leaf = admin.project(parent_id=mid["id"])
    user = admin.user()
    admin.grant(leaf["id"], user["id"], admin.role_id("reader"))
    assert patch(admin, leaf["id"], enabled=False).status_code == 200
    refused = admin.delete(f"/v3/projects/{top['id']}?cascade")
    assert error(refused, 403) == (
        f"Cannot delete project {top['id']} since its subtree contains enabled projects.")
    assert patch(admin, mid["id"], enabled=False).status_code == 200
    assert admin.delete(f"/v3/projects/{mid['id']}").status_code == 403  # not a leaf
    response = admin.delete(f"/v3/projects/{top['id']}?cascade")
    assert response.status_code == 204, response.text
    for project in (top, mid, leaf):
        assert admin.get(f"/v3/projects/{project['id']}").status_code == 404
    listed = admin.get("/v3/role_assignments", params={"user.id": user["id"]})
    assert listed.json()["role_assignments"] == []


def test_cascade_delete_of_a_leaf_and_of_a_middle_project(admin: Api) -> None:
    """?cascade on a leaf deletes just it; on a middle project it deletes that branch and
    leaves the ancestors and siblings, whose subtree no longer names it."""
    top = admin.project()
    mid = admin.project(parent_id=top["id"])
    leaf = admin.project(parent_id=mid["id"], enabled=False)
    sibling = admin.project(parent_id=top["id"])
    lone = admin.project(parent_id=sibling["id"])
    assert admin.delete(f"/v3/projects/{lone['id']}?cascade").status_code == 204
    assert admin.delete(f"/v3/projects/{mid['id']}?cascade").status_code == 204
    assert admin.get(f"/v3/projects/{leaf['id']}").status_code == 404
    assert show(admin, top["id"], "subtree_as_ids")["subtree"] == {sibling["id"]: None}


# -- moving (beyond Keystone) -------------------------------------------------------------------
def test_move_rewrites_the_position_of_the_project_and_its_descendants(admin: Api) -> None:
    """PATCH parent_id moves a project with its subtree: parent_id, parents_as_ids and
    subtree_as_ids of the moved project, its descendants, the old and the new parent all
    reflect the new position at once; domain, name and the rest are unchanged."""
    domain = admin.domain()
    old, new = admin.project(domain_id=domain["id"]), admin.project(domain_id=domain["id"])
    project = admin.project(parent_id=old["id"], description="keeps")
    child = admin.project(parent_id=project["id"])
    grandchild = admin.project(parent_id=child["id"])

    body = moved(admin, project["id"], new["id"])
    assert body["parent_id"] == new["id"]
    assert {k: v for k, v in body.items() if k != "parent_id"} == {
        k: v for k, v in project.items() if k != "parent_id"}

    assert show(admin, project["id"])["parent_id"] == new["id"]
    assert show(admin, project["id"], "parents_as_ids")["parents"] == {
        new["id"]: {domain["id"]: None}}
    assert show(admin, project["id"], "subtree_as_ids")["subtree"] == {
        child["id"]: {grandchild["id"]: None}}
    assert show(admin, child["id"])["parent_id"] == project["id"]
    assert show(admin, grandchild["id"], "parents_as_ids")["parents"] == {
        child["id"]: {project["id"]: {new["id"]: {domain["id"]: None}}}}
    assert show(admin, old["id"], "subtree_as_ids")["subtree"] is None
    assert show(admin, new["id"], "subtree_as_ids")["subtree"] == {
        project["id"]: {child["id"]: {grandchild["id"]: None}}}
    listed = admin.get("/v3/projects", params={"parent_id": new["id"]}).json()["projects"]
    assert [p["id"] for p in listed] == [project["id"]]


def test_move_back_to_the_top_with_the_domain_id(admin: Api) -> None:
    """parent_id = the project's own domain id makes it a top-level project again, its
    descendants following; the same parent_id again is a harmless 200."""
    domain = admin.domain()
    top = admin.project(domain_id=domain["id"])
    project = admin.project(parent_id=top["id"])
    child = admin.project(parent_id=project["id"])
    assert moved(admin, project["id"], domain["id"])["parent_id"] == domain["id"]
    assert show(admin, project["id"], "parents_as_ids")["parents"] == {domain["id"]: None}
    assert show(admin, child["id"], "parents_as_ids")["parents"] == {
        project["id"]: {domain["id"]: None}}
    assert show(admin, top["id"], "subtree_as_ids")["subtree"] is None
    assert moved(admin, project["id"], domain["id"])["parent_id"] == domain["id"]


def test_move_into_own_subtree_is_400_cycle(admin: Api) -> None:
    """Moving a project under itself, its child or its grandchild is 400 naming the
    cycle, and changes nothing."""
    top = admin.project()
    child = admin.project(parent_id=top["id"])
    grandchild = admin.project(parent_id=child["id"])
    for target in (top, child, grandchild):
        assert "cycle" in error(move(admin, top["id"], target["id"]), 400), target
    assert show(admin, top["id"])["parent_id"] == "default"
    assert show(admin, top["id"], "subtree_as_ids")["subtree"] == {
        child["id"]: {grandchild["id"]: None}}


def test_move_into_another_domain_is_400(admin: Api) -> None:
    """A parent in another domain — a project there or the domain itself — is 400; so are
    an unknown parent and a null one. Nothing moves."""
    project = admin.project()
    elsewhere = admin.domain()
    foreign = admin.project(domain_id=elsewhere["id"])
    for parent_id in (foreign["id"], elsewhere["id"]):
        assert elsewhere["id"] in error(move(admin, project["id"], parent_id), 400)
    assert error(move(admin, project["id"], "nosuchproject"), 400) == (
        "Could not find project: nosuchproject.")
    assert "parent_id" in error(move(admin, project["id"], None), 400)
    shown = show(admin, project["id"])
    assert (shown["parent_id"], shown["domain_id"]) == ("default", "default")


def test_move_enabled_project_under_a_disabled_one_is_400(admin: Api) -> None:
    """An enabled project cannot move under a disabled project (also one deeper in a
    disabled branch): 400 naming the disabled project. A disabled project may."""
    disabled = admin.project(enabled=False)
    top = admin.project()
    below_disabled = admin.project(parent_id=top["id"])
    assert patch(admin, below_disabled["id"], enabled=False).status_code == 200
    assert patch(admin, top["id"], enabled=False).status_code == 200
    project = admin.project()
    assert disabled["id"] in error(move(admin, project["id"], disabled["id"]), 400)
    assert below_disabled["id"] in error(move(admin, project["id"], below_disabled["id"]), 400)
    assert show(admin, project["id"])["parent_id"] == "default"
    sleeper = admin.project(enabled=False)
    assert moved(admin, sleeper["id"], disabled["id"])["parent_id"] == disabled["id"]


def test_move_and_other_changes_in_one_patch(admin: Api) -> None:
    """A PATCH may move and rename at once; both land."""
    project, parent = admin.project(), admin.project()
    name = unique("moved")
    response = patch(admin, project["id"], parent_id=parent["id"], name=name)
    assert response.status_code == 200, response.text
    shown = show(admin, project["id"])
    assert (shown["parent_id"], shown["name"]) == (parent["id"], name)


def test_inherited_roles_follow_the_move(admin: Api, server: Server) -> None:
    """A role inherited from the old ancestor is lost on the moved subtree and one
    inherited from the new ancestor is gained, at once: role_assignments?effective shows
    it, a project-scoped token issued before the move through the old ancestor validates
    404 right after it, and the new ancestor's user can now scope to the moved projects."""
    domain = admin.domain()
    old, new = admin.project(domain_id=domain["id"]), admin.project(domain_id=domain["id"])
    project = admin.project(parent_id=old["id"])
    child = admin.project(parent_id=project["id"])
    loser = admin.user(domain_id=domain["id"], password=PASSWORD)
    gainer = admin.user(domain_id=domain["id"], password=PASSWORD)
    member, reader = admin.role_id("member"), admin.role_id("reader")
    inherit(admin, old["id"], loser["id"], member)
    inherit(admin, new["id"], gainer["id"], member)

    held = effective_projects(admin, loser["id"])
    assert held == {project["id"]: {member, reader}, child["id"]: {member, reader}}
    assert effective_projects(admin, gainer["id"]) == {}
    tokens = {}
    for target in (project, child):
        response = scoped_token(server, loser, target["id"])
        assert response.status_code == 201, response.text
        tokens[target["id"]] = response.headers["X-Subject-Token"]
        assert validate(admin, tokens[target["id"]]).status_code == 200
    assert scoped_token(server, gainer, child["id"]).status_code == 401

    moved(admin, project["id"], new["id"])

    assert effective_projects(admin, loser["id"]) == {}
    assert effective_projects(admin, gainer["id"]) == {
        project["id"]: {member, reader}, child["id"]: {member, reader}}
    for token in tokens.values():
        assert error(validate(admin, token), 404) == "Failed to validate token"
    assert scoped_token(server, loser, child["id"]).status_code == 401
    response = scoped_token(server, gainer, child["id"])
    assert response.status_code == 201, response.text
    assert {r["name"] for r in response.json()["token"]["roles"]} == {"member", "reader"}

    # and moving back restores the first user's roles
    moved(admin, project["id"], old["id"])
    assert set(effective_projects(admin, loser["id"])) == {project["id"], child["id"]}
    assert effective_projects(admin, gainer["id"]) == {}


def test_roles_inherited_from_the_domain_or_held_directly_survive_a_move(admin: Api) -> None:
    """A move inside a domain keeps roles inherited from the domain and direct grants on
    the moved projects."""
    domain = admin.domain()
    old, new = admin.project(domain_id=domain["id"]), admin.project(domain_id=domain["id"])
    project = admin.project(parent_id=old["id"])
    user = admin.user(domain_id=domain["id"])
    reader, member = admin.role_id("reader"), admin.role_id("member")
    path = (f"/v3/OS-INHERIT/domains/{domain['id']}/users/{user['id']}/roles/{reader}"
            "/inherited_to_projects")
    assert admin.put(path).status_code == 204
    admin.grant(project["id"], user["id"], member)
    before = effective_projects(admin, user["id"])
    assert before[project["id"]] == {member, reader}
    moved(admin, project["id"], new["id"])
    assert effective_projects(admin, user["id"]) == before


def test_concurrent_moves_and_creates_keep_the_tree_sound(admin: Api, server: Server) -> None:
    """Hierarchy changes in one domain are serialised: of two concurrent opposite moves
    (A under B, B under A) exactly one lands and the other is the 400 cycle, never both; a
    child created while its parent moves gets the parent's new position."""
    def client() -> Api:
        return Api(base_url=server.url, headers={"X-Auth-Token": admin.token}, timeout=30)

    def move_in_own_client(project_id: str, parent_id: str) -> int:
        with client() as api:
            return move(api, project_id, parent_id).status_code

    def create_in_own_client(parent_id: str) -> dict[str, Any]:
        with client() as api:
            return api.project(parent_id=parent_id)

    domain = admin.domain()
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        for _ in range(8):
            a, b = admin.project(domain_id=domain["id"]), admin.project(domain_id=domain["id"])
            first = pool.submit(move_in_own_client, a["id"], b["id"])
            second = pool.submit(move_in_own_client, b["id"], a["id"])
            assert sorted([first.result(), second.result()]) == [200, 400]
            for project in (a, b):
                parents = show(admin, project["id"], "parents_as_ids")["parents"]
                assert domain["id"] in str(parents) and project["id"] not in str(parents)

            parent, target = (admin.project(domain_id=domain["id"]),
                              admin.project(domain_id=domain["id"]))
            moving = pool.submit(move_in_own_client, parent["id"], target["id"])
            creating = pool.submit(create_in_own_client, parent["id"])
            assert moving.result() == 200
            child = creating.result()
            assert show(admin, child["id"], "parents_as_ids")["parents"] == {
                parent["id"]: {target["id"]: {domain["id"]: None}}}
