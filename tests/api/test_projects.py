"""/v3/projects against a live server: shapes, filters, the hierarchy rules (nesting,
depth, disabling, deleting, cascade) and Keystone's validation and conflict answers."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.factories import Api, error, unique

PROJECT_KEYS = {"id", "name", "domain_id", "description", "enabled", "parent_id", "is_domain",
                "tags", "options", "links"}
MAX_DEPTH = 10  # max_project_tree_depth's default



def names(response: httpx.Response) -> set[str]:
    assert response.status_code == 200, response.text
    return {item["name"] for item in response.json()["projects"]}


def disable(api: Api, project_id: str) -> None:
    response = api.patch(f"/v3/projects/{project_id}", json={"project": {"enabled": False}})
    assert response.status_code == 200, response.text


def test_create_answers_201_with_location_of_the_new_project(admin: Api) -> None:
    """POST /v3/projects is 201 with Keystone's key set; a top-level project lands in the
    caller's domain and its parent is that domain; Location and links.self lead to it."""
    name = unique("proj")
    response = admin.post("/v3/projects", json={"project": {"name": name}})
    assert response.status_code == 201, response.text
    project = response.json()["project"]
    assert set(project) == PROJECT_KEYS
    assert project["name"] == name
    assert project["domain_id"] == "default"
    assert project["parent_id"] == "default"
    assert project["is_domain"] is False
    assert project["enabled"] is True
    assert project["description"] == ""
    assert project["tags"] == []
    assert project["links"]["self"].endswith(f"/v3/projects/{project['id']}")
    location = response.headers["Location"]
    assert location.endswith(f"/v3/projects/{project['id']}")
    shown = admin.get(location)
    assert shown.status_code == 200
    assert shown.json()["project"] == project


def test_create_in_another_domain(admin: Api) -> None:
    """With domain_id the project lives in that domain, which is also its parent."""
    domain = admin.domain()
    project = admin.project(domain_id=domain["id"])
    assert project["domain_id"] == domain["id"]
    assert project["parent_id"] == domain["id"]


def test_extra_attributes_and_tags_are_echoed(admin: Api) -> None:
    """Unknown attributes are stored and shown at top level; tags are kept."""
    project = admin.project(flavour="mint", tags=["a", "b"])
    assert project["flavour"] == "mint"
    assert sorted(project["tags"]) == ["a", "b"]
    shown = admin.get(f"/v3/projects/{project['id']}").json()["project"]
    assert set(shown) == PROJECT_KEYS | {"flavour"}
    assert shown["flavour"] == "mint"


def test_child_nests_under_its_parent(admin: Api) -> None:
    """A project created with parent_id is that parent's child, in the parent's domain,
    and ?parent_id lists exactly the children."""
    domain = admin.domain()
    parent = admin.project(domain_id=domain["id"])
    child = admin.project(parent_id=parent["id"])
    grandchild = admin.project(parent_id=child["id"])
    assert child["parent_id"] == parent["id"]
    assert child["domain_id"] == domain["id"]
    assert grandchild["parent_id"] == child["id"]
    assert names(admin.get("/v3/projects", params={"parent_id": parent["id"]})) == {
        child["name"]}
    assert names(admin.get("/v3/projects", params={"parent_id": domain["id"]})) == {
        parent["name"]}


def test_list_and_its_filters(admin: Api) -> None:
    """GET /v3/projects filters on name, enabled, domain_id and the inexact name forms,
    and links.self repeats the query."""
    domain = admin.domain()
    stem = unique("flt")
    on = admin.project(name=f"{stem}-alpha", domain_id=domain["id"])
    off = admin.project(name=f"{stem}-beta", domain_id=domain["id"], enabled=False)
    elsewhere = admin.project(name=f"{stem}-gamma")

    listed = admin.get("/v3/projects")
    assert {on["name"], off["name"], elsewhere["name"]} <= names(listed)
    assert set(listed.json()["links"]) == {"self", "previous", "next"}

    by_name = admin.get("/v3/projects", params={"name": on["name"]})
    assert names(by_name) == {on["name"]}
    assert by_name.json()["links"]["self"].endswith(f"/v3/projects?name={on['name']}")
    assert names(admin.get("/v3/projects", params={"domain_id": domain["id"]})) == {
        on["name"], off["name"]}
    assert names(admin.get("/v3/projects", params={
        "domain_id": domain["id"], "enabled": "false"})) == {off["name"]}
    assert names(admin.get("/v3/projects", params={
        "domain_id": domain["id"], "enabled": "true"})) == {on["name"]}
    assert names(admin.get("/v3/projects", params={"name__contains": stem})) == {
        on["name"], off["name"], elsewhere["name"]}
    assert names(admin.get("/v3/projects", params={"name__startswith": f"{stem}-g"})) == {
        elsewhere["name"]}
    assert names(admin.get("/v3/projects", params={"name__endswith": "-beta",
                                                   "domain_id": domain["id"]})) == {off["name"]}
    assert names(admin.get("/v3/projects", params={"name__icontains": stem.upper()})) == {
        on["name"], off["name"], elsewhere["name"]}


def test_is_domain_filter(admin: Api) -> None:
    """Lists leave domains out unless ?is_domain=true, which lists only domains."""
    domain = admin.domain()
    project = admin.project()
    assert domain["name"] not in names(admin.get("/v3/projects"))
    assert names(admin.get("/v3/projects", params={"name": domain["name"]})) == set()
    domains = names(admin.get("/v3/projects", params={"is_domain": "true"}))
    assert {"Default", domain["name"]} <= domains
    assert project["name"] not in domains
    assert names(admin.get("/v3/projects", params={
        "is_domain": "false", "name": project["name"]})) == {project["name"]}


def test_show_default_domain_as_project(admin: Api) -> None:
    """GET /v3/projects/default is the Default domain seen as a project."""
    response = admin.get("/v3/projects/default")
    assert response.status_code == 200
    project = response.json()["project"]
    assert (project["is_domain"], project["domain_id"], project["parent_id"]) == (
        True, None, None)


def test_create_with_is_domain_makes_a_domain(admin: Api) -> None:
    """A project created with is_domain true has no domain or parent, and is listed and
    shown as a domain."""
    project = admin.project(is_domain=True)
    assert (project["is_domain"], project["domain_id"], project["parent_id"]) == (
        True, None, None)
    shown = admin.get(f"/v3/domains/{project['id']}")
    assert shown.status_code == 200
    assert shown.json()["domain"]["name"] == project["name"]
    listed = admin.get("/v3/domains", params={"name": project["name"]}).json()["domains"]
    assert [d["id"] for d in listed] == [project["id"]]
    # and it can hold projects of its own
    inside = admin.project(domain_id=project["id"])
    assert inside["domain_id"] == project["id"]


def test_patch_renames_describes_and_sets_extras(admin: Api) -> None:
    """PATCH changes name, description and extra attributes; GET agrees."""
    project = admin.project()
    new_name = unique("renamed")
    response = admin.patch(f"/v3/projects/{project['id']}", json={"project": {
        "name": new_name, "description": "described", "colour": "red"}})
    assert response.status_code == 200, response.text
    patched = response.json()["project"]
    assert (patched["name"], patched["description"], patched["colour"]) == (
        new_name, "described", "red")
    shown = admin.get(f"/v3/projects/{project['id']}").json()["project"]
    assert (shown["name"], shown["description"], shown["colour"]) == (
        new_name, "described", "red")


def test_delete_leaf_then_404(admin: Api) -> None:
    """DELETE of a leaf project is 204 without body; afterwards GET and DELETE are 404."""
    project = admin.project()
    response = admin.delete(f"/v3/projects/{project['id']}")
    assert response.status_code == 204
    assert response.content == b""
    message = f"Could not find project: {project['id']}."
    assert error(admin.get(f"/v3/projects/{project['id']}"), 404) == message
    assert error(admin.delete(f"/v3/projects/{project['id']}"), 404) == message


def test_unknown_project_is_404(admin: Api) -> None:
    """GET, PATCH and DELETE of an unknown project: 404 'Could not find project: <id>.'"""
    message = "Could not find project: doesnotexist."
    assert error(admin.get("/v3/projects/doesnotexist"), 404) == message
    assert error(admin.patch("/v3/projects/doesnotexist",
                             json={"project": {"description": "x"}}), 404) == message
    assert error(admin.delete("/v3/projects/doesnotexist"), 404) == message


# -- validation ------------------------------------------------------------------------------
@pytest.mark.parametrize(("body", "field"), [
    ({"name": ""}, "name"),
    ({"name": "  \t "}, "name"),
    ({"name": "p" * 65}, "name"),
    ({"name": ["list"]}, "name"),
    ({}, "name"),
    ({"description": "no name"}, "name"),
    ({"name": "ok-name", "enabled": 0}, "enabled"),
    ({"name": "ok-name", "enabled": "true"}, "enabled"),
    ({"name": "ok-name", "is_domain": "yes"}, "is_domain"),
    ({"name": "ok-name", "description": 7}, "description"),
    ({"name": "ok-name", "tags": "not-a-list"}, "tags"),
])
def test_invalid_bodies_are_400_naming_the_field(admin: Api, body: dict[str, Any],
                                                 field: str) -> None:
    """Bad names (empty, whitespace-only, 65 long, not a string, missing) and wrongly
    typed attributes are 400 with a message naming the field."""
    response = admin.post("/v3/projects", json={"project": body})
    assert field in error(response, 400)


def test_name_of_64_characters_is_accepted(admin: Api) -> None:
    """64 characters is the longest project name allowed."""
    name = unique("p").ljust(64, "x")
    assert admin.project(name=name)["name"] == name


def test_missing_wrapper_is_400(admin: Api) -> None:
    """A body without the 'project' envelope is 400 naming it."""
    response = admin.post("/v3/projects", json={"name": unique("proj")})
    assert "project" in error(response, 400)


# -- uniqueness --------------------------------------------------------------------------------
def _conflict_prefix(name: str) -> str:
    return ("Conflict occurred attempting to store project - it is not permitted to have two "
            "projects with either the same name or same id in the same domain: "
            f"name is {name}, project id ")


def test_duplicate_name_in_a_domain_is_409_whatever_the_parent(admin: Api) -> None:
    """Project names are unique per domain: the same name at top level, under the same
    parent, or under another parent is 409 with Keystone's message."""
    domain = admin.domain()
    parent = admin.project(domain_id=domain["id"])
    other_parent = admin.project(domain_id=domain["id"])
    child = admin.project(parent_id=parent["id"])
    for body in ({"name": child["name"], "parent_id": parent["id"]},
                 {"name": child["name"], "parent_id": other_parent["id"]},
                 {"name": child["name"], "domain_id": domain["id"]},
                 {"name": parent["name"], "domain_id": domain["id"]}):
        response = admin.post("/v3/projects", json={"project": body})
        assert error(response, 409).startswith(_conflict_prefix(body["name"])), body


def test_same_name_in_two_domains_is_fine(admin: Api) -> None:
    """The same project name may be used once in each domain."""
    first, second = admin.domain(), admin.domain()
    name = unique("shared")
    a = admin.project(name=name, domain_id=first["id"])
    b = admin.project(name=name, domain_id=second["id"])
    assert a["id"] != b["id"]


def test_rename_onto_an_existing_name_is_409(admin: Api) -> None:
    """PATCH to a name already used in the domain is 409."""
    taken = admin.project()
    project = admin.project()
    response = admin.patch(f"/v3/projects/{project['id']}",
                           json={"project": {"name": taken["name"]}})
    assert error(response, 409).startswith(_conflict_prefix(taken["name"]))


# -- hierarchy -----------------------------------------------------------------------------------
def test_unknown_parent_or_domain_is_400(admin: Api) -> None:
    """A parent_id or domain_id that does not exist is 400 (not 404), as in Keystone."""
    response = admin.post("/v3/projects", json={"project": {
        "name": unique("orphan"), "parent_id": "nosuchparent"}})
    assert error(response, 400) == "Could not find project: nosuchparent."
    response = admin.post("/v3/projects", json={"project": {
        "name": unique("orphan"), "domain_id": "nosuchdomain"}})
    assert error(response, 400) == "Could not find domain: nosuchdomain."


def test_domain_id_of_an_ordinary_project_is_400(admin: Api) -> None:
    """A domain_id naming a project that is not a domain is 400 'Could not find domain'."""
    project = admin.project()
    response = admin.post("/v3/projects", json={"project": {
        "name": unique("p"), "domain_id": project["id"]}})
    assert error(response, 400) == f"Could not find domain: {project['id']}."


def test_parent_in_another_domain_is_400(admin: Api) -> None:
    """A child whose domain_id differs from its parent's domain is refused."""
    domain = admin.domain()
    parent = admin.project()  # in default
    response = admin.post("/v3/projects", json={"project": {
        "name": unique("p"), "parent_id": parent["id"], "domain_id": domain["id"]}})
    assert error(response, 400) == (
        f"Cannot create project, since it specifies its domain_id {domain['id']}, but "
        f"specifies a parent in a different domain (default).")


def test_no_child_under_a_disabled_project(admin: Api) -> None:
    """Creating under a disabled project is 400, also under a disabled grandparent."""
    parent = admin.project(enabled=False)
    response = admin.post("/v3/projects", json={"project": {
        "name": unique("p"), "parent_id": parent["id"]}})
    assert parent["id"] in error(response, 400)

    top = admin.project()
    middle = admin.project(parent_id=top["id"], enabled=False)
    disable(admin, top["id"])
    response = admin.post("/v3/projects", json={"project": {
        "name": unique("p"), "parent_id": middle["id"]}})
    assert error(response, 400)


def test_disabling_a_project_with_an_enabled_child_is_403(admin: Api) -> None:
    """A project whose subtree holds enabled projects cannot be disabled; once the
    children are disabled it can."""
    parent = admin.project()
    child = admin.project(parent_id=parent["id"])
    response = admin.patch(f"/v3/projects/{parent['id']}",
                           json={"project": {"enabled": False}})
    assert error(response, 403) == (
        f"Cannot disable project {parent['id']} since its subtree contains enabled projects.")
    assert admin.get(f"/v3/projects/{parent['id']}").json()["project"]["enabled"] is True
    disable(admin, child["id"])
    disable(admin, parent["id"])


def test_deleting_a_project_with_children_is_403(admin: Api) -> None:
    """DELETE of a non-leaf without cascade is 403 with Keystone's message."""
    parent = admin.project()
    admin.project(parent_id=parent["id"])
    response = admin.delete(f"/v3/projects/{parent['id']}")
    assert error(response, 403) == (
        f"Cannot delete the project {parent['id']} since it is not a leaf in the hierarchy. "
        "Use the cascade option if you want to delete a whole subtree.")
    assert admin.get(f"/v3/projects/{parent['id']}").status_code == 200


def test_cascade_deletes_a_disabled_subtree(admin: Api) -> None:
    """?cascade deletes the project and everything below it when the subtree is all
    disabled (403 while any of it is enabled), along with the grants on it."""
    top = admin.project()
    child = admin.project(parent_id=top["id"])
    grandchild = admin.project(parent_id=child["id"])
    user = admin.user()
    admin.grant(grandchild["id"], user["id"], admin.role_id("member"))

    refused = admin.delete(f"/v3/projects/{top['id']}", params={"cascade": ""})
    assert refused.status_code == 403, refused.text
    for project in (top, child, grandchild):
        assert admin.get(f"/v3/projects/{project['id']}").status_code == 200

    for project in (grandchild, child, top):
        disable(admin, project["id"])
    deleted = admin.delete(f"/v3/projects/{top['id']}", params={"cascade": ""})
    assert deleted.status_code == 204, deleted.text
    for project in (top, child, grandchild):
        assert admin.get(f"/v3/projects/{project['id']}").status_code == 404
    listed = admin.get("/v3/role_assignments", params={"user.id": user["id"]})
    assert listed.json()["role_assignments"] == []


def test_depth_limit(admin: Api) -> None:
    """Projects nest up to max_project_tree_depth (10) levels below the domain; the
    11th level is 403."""
    domain = admin.domain()
    parent_id = domain["id"]
    for _ in range(MAX_DEPTH):
        parent_id = admin.project(parent_id=parent_id)["id"]
    response = admin.post("/v3/projects", json={"project": {
        "name": unique("too-deep"), "parent_id": parent_id}})
    assert parent_id in error(response, 403)


def test_patch_parent_id_moves_the_project(admin: Api) -> None:
    """Beyond Keystone (which answers 403): PATCH parent_id moves a project, and moving
    it under itself is a 400 naming the cycle (tests/api/test_hierarchy.py covers more)."""
    project = admin.project()
    other = admin.project()
    response = admin.patch(f"/v3/projects/{project['id']}",
                           json={"project": {"parent_id": other["id"]}})
    assert response.status_code == 200, response.text
    assert response.json()["project"]["parent_id"] == other["id"]
    back = admin.patch(f"/v3/projects/{other['id']}",
                       json={"project": {"parent_id": project["id"]}})
    assert "cycle" in error(back, 400)


def test_patch_domain_id_is_400_unless_unchanged(admin: Api) -> None:
    """A different domain_id is 400 'Cannot change Domain ID'; the same value is 200."""
    project = admin.project()
    domain = admin.domain()
    response = admin.patch(f"/v3/projects/{project['id']}",
                           json={"project": {"domain_id": domain["id"]}})
    assert error(response, 400) == "Cannot change Domain ID"
    same = admin.patch(f"/v3/projects/{project['id']}",
                       json={"project": {"domain_id": project["domain_id"]}})
    assert same.status_code == 200, same.text


def test_patch_is_domain_is_400(admin: Api) -> None:
    """Turning a project into a domain by PATCH is refused."""
    project = admin.project()
    response = admin.patch(f"/v3/projects/{project['id']}",
                           json={"project": {"is_domain": True}})
    assert error(response, 400) == "Update of `is_domain` is not allowed."
