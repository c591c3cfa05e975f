"""/v3/domains against a live server: shapes, filters, Keystone's validation and conflict
rules, and that deleting a domain takes everything in it along."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.factories import Api, error, unique

DOMAIN_KEYS = {"id", "name", "description", "enabled", "tags", "options", "links"}



def names(response: httpx.Response, key: str = "domains") -> set[str]:
    assert response.status_code == 200, response.text
    return {item["name"] for item in response.json()[key]}


def test_create_answers_201_with_location_of_the_new_domain(admin: Api) -> None:
    """POST /v3/domains is 201 with Keystone's key set, a Location that GETs the same
    domain, a links.self to it, and description defaulting to the empty string."""
    name = unique("dom")
    response = admin.post("/v3/domains", json={"domain": {"name": name}})
    assert response.status_code == 201, response.text
    domain = response.json()["domain"]
    assert set(domain) == DOMAIN_KEYS
    assert domain["name"] == name
    assert domain["description"] == ""
    assert domain["enabled"] is True
    assert domain["tags"] == []
    assert domain["links"]["self"] == f"{admin.base_url}/v3/domains/{domain['id']}".replace(
        "//v3", "/v3")
    location = response.headers["Location"]
    assert location.endswith(f"/v3/domains/{domain['id']}")
    shown = admin.get(location)
    assert shown.status_code == 200
    assert shown.json()["domain"] == domain


def test_extra_attributes_are_accepted_echoed_and_can_be_nulled(admin: Api) -> None:
    """An unknown attribute is stored and shown at top level; PATCH can set it to null."""
    domain = admin.domain(colour="blue", description="with extras")
    assert domain["colour"] == "blue"
    assert set(domain) == DOMAIN_KEYS | {"colour"}
    assert admin.get(f"/v3/domains/{domain['id']}").json()["domain"]["colour"] == "blue"
    patched = admin.patch(f"/v3/domains/{domain['id']}", json={"domain": {"colour": None}})
    assert patched.status_code == 200, patched.text
    assert patched.json()["domain"]["colour"] is None
    assert admin.get(f"/v3/domains/{domain['id']}").json()["domain"]["colour"] is None


def test_explicit_domain_id_sets_the_id(admin: Api) -> None:
    """explicit_domain_id in the create body becomes the domain's id."""
    wanted = unique("explicit").replace("-", "")
    domain = admin.domain(explicit_domain_id=wanted)
    assert domain["id"] == wanted
    assert "explicit_domain_id" not in domain
    assert admin.get(f"/v3/domains/{wanted}").status_code == 200


def test_default_domain_exists(admin: Api) -> None:
    """Bootstrap made the Default domain with id 'default'."""
    response = admin.get("/v3/domains/default")
    assert response.status_code == 200
    assert response.json()["domain"]["name"] == "Default"


def test_list_and_its_filters(admin: Api) -> None:
    """GET /v3/domains lists domains; name, enabled and the inexact name filters narrow
    it, and links.self repeats the query."""
    stem = unique("flt")
    on = admin.domain(name=f"{stem}-alpha")
    off = admin.domain(name=f"{stem}-beta", enabled=False)

    everything = admin.get("/v3/domains")
    assert {on["name"], off["name"], "Default"} <= names(everything)
    assert set(everything.json()["links"]) == {"self", "previous", "next"}

    by_name = admin.get("/v3/domains", params={"name": on["name"]})
    assert names(by_name) == {on["name"]}
    assert by_name.json()["links"]["self"].endswith(f"/v3/domains?name={on['name']}")

    disabled = names(admin.get("/v3/domains", params={"enabled": "false"}))
    assert off["name"] in disabled and on["name"] not in disabled
    enabled = names(admin.get("/v3/domains", params={"enabled": "true"}))
    assert on["name"] in enabled and off["name"] not in enabled

    assert names(admin.get("/v3/domains", params={"name__contains": stem})) == {
        on["name"], off["name"]}
    assert names(admin.get("/v3/domains", params={"name__startswith": f"{stem}-al"})) == {
        on["name"]}
    assert names(admin.get("/v3/domains", params={"name__endswith": f"{stem}-beta"})) == {
        off["name"]}
    assert names(admin.get("/v3/domains", params={"name__icontains": stem.upper()})) == {
        on["name"], off["name"]}
    assert names(admin.get("/v3/domains", params={"name": unique("nothing")})) == set()


def test_patch_renames_and_disables(admin: Api) -> None:
    """PATCH changes name, description and enabled, and GET shows the change."""
    domain = admin.domain()
    new_name = unique("renamed")
    response = admin.patch(f"/v3/domains/{domain['id']}", json={"domain": {
        "name": new_name, "description": "now described", "enabled": False}})
    assert response.status_code == 200, response.text
    patched = response.json()["domain"]
    assert set(patched) == DOMAIN_KEYS
    assert (patched["name"], patched["description"], patched["enabled"]) == (
        new_name, "now described", False)
    assert admin.get(f"/v3/domains/{domain['id']}").json()["domain"] == patched


def test_patch_of_id_is_ignored(admin: Api) -> None:
    """PATCH with an id in the body is 200 and leaves the id alone, as Keystone does."""
    domain = admin.domain()
    response = admin.patch(f"/v3/domains/{domain['id']}",
                           json={"domain": {"id": "other", "description": "x"}})
    assert response.status_code == 200, response.text
    assert response.json()["domain"]["id"] == domain["id"]
    assert admin.get("/v3/domains/other").status_code == 404


def test_duplicate_name_is_409(admin: Api) -> None:
    """A second domain with the same name is refused with Keystone's conflict message,
    and so is renaming a domain onto another's name."""
    first = admin.domain()
    response = admin.post("/v3/domains", json={"domain": {"name": first["name"]}})
    assert error(response, 409) == (
        "Conflict occurred attempting to store project - it is not permitted to have two "
        f"projects acting as domains with the same name: {first['name']}.")
    second = admin.domain()
    renamed = admin.patch(f"/v3/domains/{second['id']}", json={"domain": {"name": first["name"]}})
    assert error(renamed, 409).endswith(f"same name: {first['name']}.")


@pytest.mark.parametrize(("body", "field"), [
    ({"name": ""}, "name"),
    ({"name": "   "}, "name"),
    ({"name": "x" * 65}, "name"),
    ({"name": 5}, "name"),
    ({}, "name"),
    ({"description": "no name"}, "name"),
    ({"name": "ok-name", "enabled": 1}, "enabled"),
    ({"name": "ok-name", "enabled": "yes"}, "enabled"),
    ({"name": "ok-name", "enabled": None}, "enabled"),
])
def test_invalid_bodies_are_400_naming_the_field(admin: Api, body: dict[str, Any],
                                                 field: str) -> None:
    """Empty, whitespace-only, too long (65), non-string and missing names, and
    non-boolean enabled, are 400 with a message naming the field (Keystone crashes with
    500 on string booleans; a 400 is the proper answer)."""
    response = admin.post("/v3/domains", json={"domain": body})
    assert field in error(response, 400)


def test_name_of_64_characters_is_accepted(admin: Api) -> None:
    """64 characters is the longest domain name allowed."""
    name = unique("d").ljust(64, "x")
    assert admin.domain(name=name)["name"] == name


def test_missing_wrapper_is_400(admin: Api) -> None:
    """A body without the 'domain' envelope is 400 naming it."""
    response = admin.post("/v3/domains", json={"name": unique("dom")})
    assert "domain" in error(response, 400)


def test_patch_validates_too(admin: Api) -> None:
    """PATCH applies the same name rules as create."""
    domain = admin.domain()
    for bad in ("", "   ", "y" * 65):
        response = admin.patch(f"/v3/domains/{domain['id']}", json={"domain": {"name": bad}})
        assert "name" in error(response, 400)


def test_unknown_domain_is_404(admin: Api) -> None:
    """GET, PATCH and DELETE of an unknown domain are 404 'Could not find domain: <id>.'"""
    message = "Could not find domain: doesnotexist."
    assert error(admin.get("/v3/domains/doesnotexist"), 404) == message
    assert error(admin.patch("/v3/domains/doesnotexist",
                             json={"domain": {"description": "x"}}), 404) == message
    assert error(admin.delete("/v3/domains/doesnotexist"), 404) == message


def test_a_project_is_not_a_domain(admin: Api) -> None:
    """/v3/domains/{id} of an ordinary project is 404."""
    project = admin.project()
    assert admin.get(f"/v3/domains/{project['id']}").status_code == 404


def test_enabled_domain_cannot_be_deleted(admin: Api) -> None:
    """DELETE of an enabled domain is 403 with Keystone's message; the domain stays."""
    domain = admin.domain()
    response = admin.delete(f"/v3/domains/{domain['id']}")
    assert error(response, 403) == (
        "Cannot delete a domain that is enabled, please disable it first.")
    assert admin.get(f"/v3/domains/{domain['id']}").status_code == 200


def test_disabled_domain_is_deleted_then_404(admin: Api) -> None:
    """Disable, DELETE (204, no body), then GET and a second DELETE are 404."""
    domain = admin.domain()
    assert admin.patch(f"/v3/domains/{domain['id']}",
                       json={"domain": {"enabled": False}}).status_code == 200
    response = admin.delete(f"/v3/domains/{domain['id']}")
    assert response.status_code == 204
    assert response.content == b""
    assert admin.get(f"/v3/domains/{domain['id']}").status_code == 404
    assert admin.delete(f"/v3/domains/{domain['id']}").status_code == 404
    assert domain["name"] not in names(admin.get("/v3/domains"))


def test_deleting_a_domain_removes_its_projects_users_roles_and_assignments(admin: Api) -> None:
    """A deleted domain takes its projects (nested ones too), its users, its
    domain-specific roles and every assignment on them; its name is free again."""
    domain = admin.domain()
    top = admin.project(domain_id=domain["id"])
    child = admin.project(parent_id=top["id"])
    user = admin.user(domain_id=domain["id"], password="in-domain-Pa55")
    member = admin.role_id("member")
    admin.grant(top["id"], user["id"], member)
    admin.grant(child["id"], user["id"], member)
    domain_role = admin.role(domain_id=domain["id"])
    granted = admin.put(f"/v3/domains/{domain['id']}/users/{user['id']}/roles/{member}")
    assert granted.status_code == 204, granted.text

    admin_user = admin.body["user"]["id"]
    admin.grant(top["id"], admin_user, member)  # an outsider's grant inside the domain

    assert admin.patch(f"/v3/domains/{domain['id']}",
                       json={"domain": {"enabled": False}}).status_code == 200
    assert admin.delete(f"/v3/domains/{domain['id']}").status_code == 204

    for path in (f"/v3/projects/{top['id']}", f"/v3/projects/{child['id']}",
                 f"/v3/users/{user['id']}", f"/v3/roles/{domain_role['id']}",
                 f"/v3/domains/{domain['id']}"):
        assert admin.get(path).status_code == 404, path
    for query in ({"user.id": user["id"]}, {"scope.project.id": top["id"]},
                  {"scope.project.id": child["id"]}, {"scope.domain.id": domain["id"]}):
        listed = admin.get("/v3/role_assignments", params=query)
        assert listed.status_code == 200, listed.text
        assert listed.json()["role_assignments"] == [], query
    assert not [p for p in admin.get("/v3/projects", params={"domain_id": domain["id"]})
                .json()["projects"]]
    assert admin.domain(name=domain["name"])["name"] == domain["name"]


def test_domain_is_also_a_project(admin: Api) -> None:
    """A domain shows under /v3/projects with is_domain true and no domain or parent."""
    domain = admin.domain()
    response = admin.get(f"/v3/projects/{domain['id']}")
    assert response.status_code == 200, response.text
    project = response.json()["project"]
    assert project["is_domain"] is True
    assert project["domain_id"] is None
    assert project["parent_id"] is None
    assert project["name"] == domain["name"]
