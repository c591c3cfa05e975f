"""/v3/roles, implied roles and role inferences against a live server."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.factories import Api, error, unique

ROLE_KEYS = {"id", "name", "domain_id", "description", "options", "links"}
REF_KEYS = {"id", "name", "links"}



def names(response: httpx.Response) -> set[str]:
    assert response.status_code == 200, response.text
    return {item["name"] for item in response.json()["roles"]}


def implied_names(api: Api, prior_id: str) -> set[str]:
    response = api.get(f"/v3/roles/{prior_id}/implies")
    assert response.status_code == 200, response.text
    return {r["name"] for r in response.json()["role_inference"]["implies"]}


def test_create_answers_201_with_location(admin: Api) -> None:
    """POST /v3/roles is 201 with Keystone's key set (domain_id and description null
    when unset); Location and links.self lead to the role."""
    name = unique("role")
    response = admin.post("/v3/roles", json={"role": {"name": name}})
    assert response.status_code == 201, response.text
    role = response.json()["role"]
    assert set(role) == ROLE_KEYS
    assert (role["name"], role["domain_id"], role["description"]) == (name, None, None)
    assert role["links"]["self"].endswith(f"/v3/roles/{role['id']}")
    location = response.headers["Location"]
    assert location.endswith(f"/v3/roles/{role['id']}")
    shown = admin.get(location)
    assert shown.status_code == 200
    assert shown.json()["role"] == role


def test_extra_attributes_are_echoed(admin: Api) -> None:
    """Unknown attributes are stored and shown at top level, and description is kept."""
    role = admin.role(description="does things", weight=3)
    assert set(role) == ROLE_KEYS | {"weight"}
    shown = admin.get(f"/v3/roles/{role['id']}").json()["role"]
    assert (shown["description"], shown["weight"]) == ("does things", 3)


def test_duplicate_name_is_409(admin: Api) -> None:
    """A second global role with the same name is 409 with Keystone's message; so is a
    rename onto it."""
    role = admin.role()
    response = admin.post("/v3/roles", json={"role": {"name": role["name"]}})
    assert error(response, 409) == (
        "Conflict occurred attempting to store role - Duplicate entry found with name "
        f"{role['name']}.")
    other = admin.role()
    renamed = admin.patch(f"/v3/roles/{other['id']}", json={"role": {"name": role["name"]}})
    assert error(renamed, 409).endswith(f"with name {role['name']}.")


def test_domain_specific_role_may_share_a_global_name(admin: Api) -> None:
    """A domain-specific role may carry a global role's name; twice in one domain is 409,
    in another domain it is fine."""
    role = admin.role()
    first, second = admin.domain(), admin.domain()
    specific = admin.role(name=role["name"], domain_id=first["id"])
    assert specific["domain_id"] == first["id"]
    assert specific["id"] != role["id"]
    again = admin.post("/v3/roles", json={"role": {"name": role["name"],
                                                   "domain_id": first["id"]}})
    assert error(again, 409)
    assert admin.role(name=role["name"], domain_id=second["id"])["domain_id"] == second["id"]


def test_domain_specific_role_needs_an_existing_domain(admin: Api) -> None:
    """A role for an unknown domain is refused with 'Could not find domain'."""
    response = admin.post("/v3/roles", json={"role": {"name": unique("r"),
                                                      "domain_id": "nosuchdomain"}})
    assert response.status_code in (400, 404), response.text
    assert "Could not find domain: nosuchdomain." in response.text


@pytest.mark.parametrize(("body", "field"), [
    ({"name": ""}, "name"),
    ({"name": "  "}, "name"),
    ({"name": "r" * 256}, "name"),
    ({"name": True}, "name"),
    ({}, "name"),
    ({"description": "no name"}, "name"),
    ({"name": "ok-name", "description": 5}, "description"),
])
def test_invalid_bodies_are_400_naming_the_field(admin: Api, body: dict[str, Any],
                                                 field: str) -> None:
    """Bad names (empty, whitespace-only, 256 long, not a string, missing) and a wrongly
    typed description are 400 with a message naming the field."""
    response = admin.post("/v3/roles", json={"role": body})
    assert field in error(response, 400)


def test_name_of_255_characters_is_accepted(admin: Api) -> None:
    """255 characters is the longest role name allowed."""
    name = unique("r").ljust(255, "x")
    assert admin.role(name=name)["name"] == name


def test_list_and_its_filters(admin: Api) -> None:
    """GET /v3/roles lists global roles (the bootstrap ones among them); name and the
    inexact forms narrow it; ?domain_id lists that domain's roles only."""
    stem = unique("flt")
    alpha = admin.role(name=f"{stem}-alpha")
    beta = admin.role(name=f"{stem}-beta")
    domain = admin.domain()
    specific = admin.role(name=f"{stem}-local", domain_id=domain["id"])

    listed = admin.get("/v3/roles")
    everything = names(listed)
    assert {"admin", "manager", "member", "reader", "service", alpha["name"],
            beta["name"]} <= everything
    assert specific["name"] not in everything
    assert set(listed.json()["links"]) == {"self", "previous", "next"}
    assert names(admin.get("/v3/roles", params={"name": alpha["name"]})) == {alpha["name"]}
    assert names(admin.get("/v3/roles", params={"name__startswith": stem})) == {
        alpha["name"], beta["name"]}
    assert names(admin.get("/v3/roles", params={"name__contains": f"{stem}-b"})) == {
        beta["name"]}
    assert names(admin.get("/v3/roles", params={"domain_id": domain["id"]})) == {
        specific["name"]}


def test_patch_changes_name_and_description(admin: Api) -> None:
    """PATCH renames and describes a role; GET agrees."""
    role = admin.role()
    new_name = unique("renamed")
    response = admin.patch(f"/v3/roles/{role['id']}", json={"role": {
        "name": new_name, "description": "changed"}})
    assert response.status_code == 200, response.text
    assert (response.json()["role"]["name"], response.json()["role"]["description"]) == (
        new_name, "changed")
    shown = admin.get(f"/v3/roles/{role['id']}").json()["role"]
    assert (shown["name"], shown["description"]) == (new_name, "changed")


def test_delete_then_404(admin: Api) -> None:
    """DELETE is 204; then GET and DELETE are 404 'Could not find role: <id>.'"""
    role = admin.role()
    response = admin.delete(f"/v3/roles/{role['id']}")
    assert response.status_code == 204
    assert response.content == b""
    message = f"Could not find role: {role['id']}."
    assert error(admin.get(f"/v3/roles/{role['id']}"), 404) == message
    assert error(admin.delete(f"/v3/roles/{role['id']}"), 404) == message


def test_unknown_role_is_404(admin: Api) -> None:
    """GET and PATCH of an unknown role: 404 'Could not find role: <id>.'"""
    message = "Could not find role: doesnotexist."
    assert error(admin.get("/v3/roles/doesnotexist"), 404) == message
    assert error(admin.patch("/v3/roles/doesnotexist",
                             json={"role": {"description": "x"}}), 404) == message


# -- implied roles ---------------------------------------------------------------------------
def test_bootstrap_chain_admin_manager_member_reader(admin: Api) -> None:
    """Bootstrap made admin imply manager, manager imply member, member imply reader,
    and reader imply nothing."""
    assert implied_names(admin, admin.role_id("admin")) == {"manager"}
    assert implied_names(admin, admin.role_id("manager")) == {"member"}
    assert implied_names(admin, admin.role_id("member")) == {"reader"}
    assert implied_names(admin, admin.role_id("reader")) == set()
    inferences = admin.get("/v3/role_inferences").json()["role_inferences"]
    pairs = {(i["prior_role"]["name"], r["name"]) for i in inferences for r in i["implies"]}
    assert {("admin", "manager"), ("manager", "member"), ("member", "reader")} <= pairs


def test_implication_lifecycle(admin: Api) -> None:
    """PUT /v3/roles/{prior}/implies/{implied} is 201 with the inference; GET shows it
    (implies an object, links.self the pair URL), HEAD is 204, the prior's implies list
    and /v3/role_inferences include it; DELETE is 204 and then it is 404."""
    prior, implied = admin.role(), admin.role()
    pair = f"/v3/roles/{prior['id']}/implies/{implied['id']}"

    put = admin.put(pair)
    assert put.status_code == 201, put.text
    body = put.json()
    inference = body["role_inference"]
    assert set(inference["prior_role"]) == REF_KEYS
    assert (inference["prior_role"]["id"], inference["prior_role"]["name"]) == (
        prior["id"], prior["name"])
    assert inference["prior_role"]["links"]["self"].endswith(f"/v3/roles/{prior['id']}")
    assert set(inference["implies"]) == REF_KEYS
    assert inference["implies"]["id"] == implied["id"]
    assert body["links"]["self"].endswith(pair)

    shown = admin.get(pair)
    assert shown.status_code == 200
    assert shown.json() == body
    head = admin.head(pair)
    assert head.status_code == 204
    assert head.content == b""

    listed = admin.get(f"/v3/roles/{prior['id']}/implies")
    assert listed.status_code == 200
    assert listed.json()["links"]["self"].endswith(f"/v3/roles/{prior['id']}/implies")
    role_inference = listed.json()["role_inference"]
    assert role_inference["prior_role"]["id"] == prior["id"]
    assert [r["id"] for r in role_inference["implies"]] == [implied["id"]]
    assert set(role_inference["implies"][0]) == REF_KEYS

    inferences = admin.get("/v3/role_inferences")
    assert inferences.status_code == 200
    assert set(inferences.json()) == {"role_inferences"}  # Keystone gives no links here
    mine = [i for i in inferences.json()["role_inferences"]
            if i["prior_role"]["id"] == prior["id"]]
    assert [[r["id"] for r in i["implies"]] for i in mine] == [[implied["id"]]]

    deleted = admin.delete(pair)
    assert deleted.status_code == 204
    missing = f"{prior['id']} does not imply {implied['id']}."
    assert error(admin.get(pair), 404) == missing
    assert error(admin.delete(pair), 404) == missing
    assert admin.head(pair).status_code == 404
    assert implied_names(admin, prior["id"]) == set()


def test_missing_implication_is_404_with_keystones_message(admin: Api) -> None:
    """GET/HEAD of a pair that is not an implication: 404 '<prior> does not imply
    <implied>.' (admin implies manager, but not member directly)."""
    prior, implied = admin.role_id("admin"), admin.role_id("member")
    pair = f"/v3/roles/{prior}/implies/{implied}"
    assert error(admin.get(pair), 404) == f"{prior} does not imply {implied}."
    head = admin.head(pair)
    assert head.status_code == 404
    assert head.content == b""


def test_implication_of_unknown_role_is_404(admin: Api) -> None:
    """PUT with an unknown prior or implied role is 404 naming the role."""
    role = admin.role()
    assert error(admin.put(f"/v3/roles/nosuchrole/implies/{role['id']}"), 404) == (
        "Could not find role: nosuchrole.")
    assert error(admin.put(f"/v3/roles/{role['id']}/implies/nosuchrole"), 404) == (
        "Could not find role: nosuchrole.")
    assert error(admin.get("/v3/roles/nosuchrole/implies"), 404) == (
        "Could not find role: nosuchrole.")


def test_put_is_idempotent_and_multiple_implied_roles_list(admin: Api) -> None:
    """A second PUT of the same pair still succeeds; a prior implying two roles lists
    both."""
    prior, first, second = admin.role(), admin.role(), admin.role()
    for implied in (first, second, first):
        response = admin.put(f"/v3/roles/{prior['id']}/implies/{implied['id']}")
        assert response.status_code == 201, response.text
    assert implied_names(admin, prior["id"]) == {first["name"], second["name"]}


def test_deleting_a_role_removes_its_implications(admin: Api) -> None:
    """When an implied role is deleted, its prior no longer lists it."""
    prior, implied = admin.role(), admin.role()
    assert admin.put(f"/v3/roles/{prior['id']}/implies/{implied['id']}").status_code == 201
    assert admin.delete(f"/v3/roles/{implied['id']}").status_code == 204
    assert implied_names(admin, prior["id"]) == set()
    inferences = admin.get("/v3/role_inferences").json()["role_inferences"]
    assert all(r["id"] != implied["id"] for i in inferences for r in i["implies"])
