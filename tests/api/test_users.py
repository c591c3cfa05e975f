"""/v3/users against a live server: shapes (never a password), defaults, filters,
Keystone's validation and conflict answers, and that a PATCHed password logs in."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.factories import Api, error, password_auth, unique

USER_KEYS = {"id", "name", "domain_id", "enabled", "password_expires_at", "options", "links"}



def names(response: httpx.Response) -> set[str]:
    assert response.status_code == 200, response.text
    return {item["name"] for item in response.json()["users"]}


def login(client: httpx.Client, name: str, password: str, domain: str = "Default") -> int:
    """The status of an unscoped password authentication."""
    return client.post("/v3/auth/tokens", json=password_auth(name, password, domain)).status_code


def test_create_answers_201_with_location_and_no_password(admin: Api) -> None:
    """POST /v3/users is 201 with Keystone's key set, domain_id defaulting to 'default',
    no password and no default_project_id key when unset; Location leads to the user."""
    name = unique("user")
    response = admin.post("/v3/users", json={"user": {"name": name, "password": "s3cret-Pa55"}})
    assert response.status_code == 201, response.text
    user = response.json()["user"]
    assert set(user) == USER_KEYS
    assert user["name"] == name
    assert user["domain_id"] == "default"
    assert user["enabled"] is True
    assert user["password_expires_at"] is None
    assert user["links"]["self"].endswith(f"/v3/users/{user['id']}")
    assert "s3cret-Pa55" not in response.text
    location = response.headers["Location"]
    assert location.endswith(f"/v3/users/{user['id']}")
    shown = admin.get(location)
    assert shown.status_code == 200
    assert shown.json()["user"] == user
    assert "password" not in shown.json()["user"]


def test_password_is_never_echoed(admin: Api) -> None:
    """Neither show, list nor PATCH answers carry the password."""
    secret = "never-Echo-9"
    user = admin.user(password=secret)
    assert secret not in admin.get(f"/v3/users/{user['id']}").text
    assert secret not in admin.get("/v3/users", params={"name": user["name"]}).text
    patched = admin.patch(f"/v3/users/{user['id']}", json={"user": {"password": "other-Pa55"}})
    assert patched.status_code == 200, patched.text
    assert "password" not in patched.json()["user"]
    assert "other-Pa55" not in patched.text


def test_default_project_and_extras_are_shown(admin: Api) -> None:
    """default_project_id appears when set; description, email and other unknown
    attributes are echoed at top level and kept."""
    project = admin.project()
    user = admin.user(default_project_id=project["id"], email="u@example.org",
                      description="a person", shoe_size=44)
    assert set(user) == USER_KEYS | {"default_project_id", "email", "description", "shoe_size"}
    assert user["default_project_id"] == project["id"]
    shown = admin.get(f"/v3/users/{user['id']}").json()["user"]
    assert (shown["email"], shown["description"], shown["shoe_size"]) == (
        "u@example.org", "a person", 44)


def test_create_in_another_domain(admin: Api) -> None:
    """A user may be created in a named domain, and logs in there."""
    domain = admin.domain()
    user = admin.user(domain_id=domain["id"], password="dom-Pa55word")
    assert user["domain_id"] == domain["id"]
    assert login(admin, user["name"], "dom-Pa55word", domain["name"]) == 201


def test_unknown_domain_is_404(admin: Api) -> None:
    """Creating a user in a domain that does not exist is 404 (Keystone's answer)."""
    response = admin.post("/v3/users", json={"user": {"name": unique("u"), "domain_id": "nope"}})
    assert error(response, 404) == "Could not find domain: nope."


def test_duplicate_name_in_a_domain_is_409(admin: Api) -> None:
    """A second user with the same name in the same domain is 409 naming name and
    domain; in another domain the name is free."""
    user = admin.user()
    response = admin.post("/v3/users", json={"user": {"name": user["name"]}})
    assert error(response, 409) == (
        "Conflict occurred attempting to store user - Duplicate entry found with name "
        f"{user['name']} at domain ID default.")
    domain = admin.domain()
    assert admin.user(name=user["name"], domain_id=domain["id"])["domain_id"] == domain["id"]


def test_rename_onto_an_existing_name_is_409(admin: Api) -> None:
    """PATCH to the name of another user of the domain is 409."""
    user = admin.user()
    response = admin.patch(f"/v3/users/{user['id']}", json={"user": {"name": "admin"}})
    assert error(response, 409) == (
        "Conflict occurred attempting to store user - Duplicate entry found with name admin.")


@pytest.mark.parametrize(("body", "field"), [
    ({"name": ""}, "name"),
    ({"name": "   "}, "name"),
    ({"name": "u" * 256}, "name"),
    ({"name": 12}, "name"),
    ({}, "name"),
    ({"email": "no-name@example.org"}, "name"),
    ({"name": "ok-name", "enabled": 1}, "enabled"),
    ({"name": "ok-name", "enabled": "on"}, "enabled"),
    ({"name": "ok-name", "password": 1234}, "password"),
])
def test_invalid_bodies_are_400_naming_the_field(admin: Api, body: dict[str, Any],
                                                 field: str) -> None:
    """Bad names (empty, whitespace-only, 256 long, not a string, missing) and wrongly
    typed attributes are 400 with a message naming the field."""
    response = admin.post("/v3/users", json={"user": body})
    assert field in error(response, 400)


def test_name_of_255_characters_is_accepted(admin: Api) -> None:
    """255 characters is the longest user name allowed."""
    name = unique("u").ljust(255, "x")
    assert admin.user(name=name)["name"] == name


def test_list_and_its_filters(admin: Api) -> None:
    """GET /v3/users filters on name, domain_id, enabled and the inexact name forms."""
    domain = admin.domain()
    stem = unique("flt")
    on = admin.user(name=f"{stem}-alpha", domain_id=domain["id"])
    off = admin.user(name=f"{stem}-beta", domain_id=domain["id"], enabled=False)
    elsewhere = admin.user(name=f"{stem}-gamma")

    listed = admin.get("/v3/users")
    assert {on["name"], off["name"], elsewhere["name"], "admin"} <= names(listed)
    assert set(listed.json()["links"]) == {"self", "previous", "next"}
    by_name = admin.get("/v3/users", params={"name": elsewhere["name"]})
    assert names(by_name) == {elsewhere["name"]}
    assert by_name.json()["links"]["self"].endswith(f"/v3/users?name={elsewhere['name']}")
    assert names(admin.get("/v3/users", params={"domain_id": domain["id"]})) == {
        on["name"], off["name"]}
    assert names(admin.get("/v3/users", params={
        "domain_id": domain["id"], "enabled": "false"})) == {off["name"]}
    assert names(admin.get("/v3/users", params={"name__contains": stem})) == {
        on["name"], off["name"], elsewhere["name"]}
    assert names(admin.get("/v3/users", params={"name__startswith": f"{stem}-a"})) == {
        on["name"]}
    assert names(admin.get("/v3/users", params={"name__iendswith": "-GAMMA",
                                                "name__contains": stem})) == {elsewhere["name"]}


def test_patch_changes_attributes(admin: Api) -> None:
    """PATCH renames, disables and sets extras; GET agrees."""
    user = admin.user()
    new_name = unique("renamed")
    response = admin.patch(f"/v3/users/{user['id']}", json={"user": {
        "name": new_name, "enabled": False, "email": "x@example.org"}})
    assert response.status_code == 200, response.text
    patched = response.json()["user"]
    assert (patched["name"], patched["enabled"], patched["email"]) == (
        new_name, False, "x@example.org")
    shown = admin.get(f"/v3/users/{user['id']}").json()["user"]
    assert (shown["name"], shown["enabled"], shown["email"]) == (
        new_name, False, "x@example.org")


def test_patched_password_logs_in(admin: Api, anonymous: httpx.Client) -> None:
    """After an administrator PATCHes the password, the new one logs in and the old one
    no longer does."""
    user = admin.user(password="first-Pa55word")
    assert login(anonymous, user["name"], "first-Pa55word") == 201
    response = admin.patch(f"/v3/users/{user['id']}",
                           json={"user": {"password": "second-Pa55word"}})
    assert response.status_code == 200, response.text
    assert login(anonymous, user["name"], "second-Pa55word") == 201
    assert login(anonymous, user["name"], "first-Pa55word") == 401


def test_disabled_user_cannot_log_in(admin: Api, anonymous: httpx.Client) -> None:
    """A user disabled by PATCH gets the generic 401; enabled again, it logs in."""
    user = admin.user(password="able-Pa55word")
    admin.patch(f"/v3/users/{user['id']}", json={"user": {"enabled": False}})
    assert login(anonymous, user["name"], "able-Pa55word") == 401
    admin.patch(f"/v3/users/{user['id']}", json={"user": {"enabled": True}})
    assert login(anonymous, user["name"], "able-Pa55word") == 201


def test_delete_then_404(admin: Api, anonymous: httpx.Client) -> None:
    """DELETE is 204 without body; then GET and DELETE are 404 and the user cannot log in."""
    user = admin.user(password="gone-Pa55word")
    response = admin.delete(f"/v3/users/{user['id']}")
    assert response.status_code == 204
    assert response.content == b""
    message = f"Could not find user: {user['id']}."
    assert error(admin.get(f"/v3/users/{user['id']}"), 404) == message
    assert error(admin.delete(f"/v3/users/{user['id']}"), 404) == message
    assert login(anonymous, user["name"], "gone-Pa55word") == 401


def test_unknown_user_is_404(admin: Api) -> None:
    """GET, PATCH and DELETE of an unknown user: 404 'Could not find user: <id>.'"""
    message = "Could not find user: doesnotexist."
    assert error(admin.get("/v3/users/doesnotexist"), 404) == message
    assert error(admin.patch("/v3/users/doesnotexist",
                             json={"user": {"email": "x"}}), 404) == message
    assert error(admin.delete("/v3/users/doesnotexist"), 404) == message


def test_missing_wrapper_is_400(admin: Api) -> None:
    """A body without the 'user' envelope is 400 naming it."""
    response = admin.post("/v3/users", json={"name": unique("u")})
    assert "user" in error(response, 400)
