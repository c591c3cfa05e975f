"""/v3/groups: CRUD, filters, name rules, membership, and what group membership grants."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.factories import Api, password_auth, unique

NOT_AN_ID = "0123456789abcdef0123456789abcdef"
PASSWORD = "group-Pa55word"


def _group(admin: Api, **attrs: Any) -> dict[str, Any]:
    return admin.make("groups", "group", **{"name": unique("grp"), **attrs})


def _names(response: httpx.Response, key: str) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["name"] for item in response.json()[key]]


def _token(admin: Api, user_id: str, scope: dict[str, Any]) -> httpx.Response:
    body = password_auth("", PASSWORD, scope=scope)
    body["auth"]["identity"]["password"]["user"] = {"id": user_id, "password": PASSWORD}
    return admin.post("/v3/auth/tokens", json=body)


def test_group_crud(admin: Api) -> None:
    """POST is 201 with Location and the group (domain_id defaults to default, description
    to "", extra attributes echoed); GET, PATCH and DELETE work; after DELETE the group is
    404 for GET, PATCH and DELETE."""
    name = unique("grp")
    response = admin.post("/v3/groups", json={"group": {"name": name, "color": "blue"}})
    assert response.status_code == 201, response.text
    group = response.json()["group"]
    assert response.headers["Location"].endswith(f"/v3/groups/{group['id']}")
    assert group["name"] == name and group["domain_id"] == "default"
    assert group["description"] == "" and group["color"] == "blue"
    assert group["links"]["self"].endswith(f"/v3/groups/{group['id']}")
    path = f"/v3/groups/{group['id']}"
    assert admin.get(path).json()["group"] == group
    patched = admin.patch(path, json={"group": {"description": "d", "name": name + "-x"}})
    assert patched.status_code == 200, patched.text
    assert patched.json()["group"]["description"] == "d"
    assert admin.get(path).json()["group"]["name"] == name + "-x"
    assert admin.delete(path).status_code == 204
    for method in ("GET", "DELETE"):
        gone = admin.request(method, path)
        assert gone.status_code == 404
        assert gone.json()["error"]["message"] == f"Could not find group: {group['id']}."
    assert admin.patch(path, json={"group": {"description": "x"}}).status_code == 404


def test_group_in_another_domain_and_filters(admin: Api) -> None:
    """The same name may exist in two domains; ?name= and ?domain_id= narrow the list, and
    together they pick one group."""
    domain = admin.domain()
    name = unique("grp")
    mine = _group(admin, name=name, domain_id=domain["id"])
    other = _group(admin, name=name)
    assert mine["domain_id"] == domain["id"]
    by_name = admin.get("/v3/groups", params={"name": name}).json()["groups"]
    assert {g["id"] for g in by_name} == {mine["id"], other["id"]}
    in_domain = admin.get("/v3/groups", params={"domain_id": domain["id"]}).json()["groups"]
    assert [g["id"] for g in in_domain] == [mine["id"]]
    both = admin.get("/v3/groups", params={"name": name, "domain_id": "default"})
    assert [g["id"] for g in both.json()["groups"]] == [other["id"]]
    assert admin.get("/v3/groups", params={"name": unique("none")}).json()["groups"] == []


def test_duplicate_group_name_is_409(admin: Api) -> None:
    """A second group with the same name in the same domain is 409 with Keystone's message;
    renaming onto an existing name is 409 too."""
    first = _group(admin)
    again = admin.post("/v3/groups", json={"group": {"name": first["name"]}})
    assert again.status_code == 409
    assert again.json()["error"]["message"] == (
        f"Conflict occurred attempting to store group - Duplicate entry found with name "
        f"{first['name']} at domain ID default.")
    second = _group(admin)
    rename = admin.patch(f"/v3/groups/{second['id']}", json={"group": {"name": first["name"]}})
    assert rename.status_code == 409


@pytest.mark.parametrize("name", ["", "   ", "x" * 65, 5, None])
def test_bad_group_names_are_400(admin: Api, name: Any) -> None:
    """Empty, blank, over 64 characters, or not a string: 400 on create and on PATCH."""
    assert admin.post("/v3/groups", json={"group": {"name": name}}).status_code == 400
    group = _group(admin)
    assert admin.patch(f"/v3/groups/{group['id']}", json={"group": {"name": name}}
                       ).status_code == 400


def test_group_create_rules(admin: Api) -> None:
    """A 64-character name is fine; a missing name or an empty PATCH is 400; an unknown
    domain is 404; changing domain_id is 400 'Cannot change Domain ID'."""
    _group(admin, name="g" * 54 + unique("")[1:])
    assert admin.post("/v3/groups", json={"group": {}}).status_code == 400
    unknown = admin.post("/v3/groups", json={"group": {"name": unique("g"),
                                                       "domain_id": NOT_AN_ID}})
    assert unknown.status_code == 404
    assert unknown.json()["error"]["message"] == f"Could not find domain: {NOT_AN_ID}."
    group = _group(admin)
    path = f"/v3/groups/{group['id']}"
    assert admin.patch(path, json={"group": {}}).status_code == 400
    moved = admin.patch(path, json={"group": {"domain_id": admin.domain()["id"]}})
    assert moved.status_code == 400
    assert moved.json()["error"]["message"] == "Cannot change Domain ID"
    same = admin.patch(path, json={"group": {"domain_id": "default"}})
    assert same.status_code == 200


def test_membership_put_head_delete(admin: Api) -> None:
    """PUT adds a member (204, again 204); HEAD and GET of the membership are 204; the
    member shows in both listings; DELETE is 204, then HEAD/GET/DELETE are 404 with
    Keystone's message."""
    group, user = _group(admin), admin.user()
    path = f"/v3/groups/{group['id']}/users/{user['id']}"
    missing = admin.get(path)
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == (
        f"User '{user['id']}' not found in group '{group['id']}'")
    assert admin.put(path).status_code == 204
    assert admin.put(path).status_code == 204
    head = admin.head(path)
    assert head.status_code == 204 and head.content == b""
    assert admin.get(path).status_code == 204
    members = admin.get(f"/v3/groups/{group['id']}/users").json()["users"]
    assert [u["id"] for u in members] == [user["id"]]
    assert members[0]["name"] == user["name"] and "password" not in members[0]
    groups = admin.get(f"/v3/users/{user['id']}/groups").json()
    assert [g["id"] for g in groups["groups"]] == [group["id"]]
    assert groups["groups"][0]["membership_expires_at"] is None
    assert groups["links"]["self"].endswith(f"/v3/users/{user['id']}/groups")
    assert admin.delete(path).status_code == 204
    for method in ("HEAD", "GET", "DELETE"):
        assert admin.request(method, path).status_code == 404, method
    assert admin.get(f"/v3/groups/{group['id']}/users").json()["users"] == []
    assert admin.get(f"/v3/users/{user['id']}/groups").json()["groups"] == []


def test_membership_with_unknown_user_or_group_is_404(admin: Api) -> None:
    """Membership calls and listings naming an unknown user or group are 404 naming it."""
    group, user = _group(admin), admin.user()
    for method in ("PUT", "HEAD", "GET", "DELETE"):
        no_user = admin.request(method, f"/v3/groups/{group['id']}/users/{NOT_AN_ID}")
        assert no_user.status_code == 404, method
        no_group = admin.request(method, f"/v3/groups/{NOT_AN_ID}/users/{user['id']}")
        assert no_group.status_code == 404, method
    assert admin.put(f"/v3/groups/{group['id']}/users/{NOT_AN_ID}").json()["error"][
        "message"] == f"Could not find user: {NOT_AN_ID}."
    assert admin.put(f"/v3/groups/{NOT_AN_ID}/users/{user['id']}").json()["error"][
        "message"] == f"Could not find group: {NOT_AN_ID}."
    assert admin.get(f"/v3/groups/{NOT_AN_ID}/users").status_code == 404
    assert admin.get(f"/v3/users/{NOT_AN_ID}/groups").status_code == 404


def test_members_may_come_from_any_domain(admin: Api) -> None:
    """A group in one domain takes members from another; a user in several groups lists
    them all."""
    domain = admin.domain()
    group, other = _group(admin, domain_id=domain["id"]), _group(admin)
    user = admin.user()
    for g in (group, other):
        assert admin.put(f"/v3/groups/{g['id']}/users/{user['id']}").status_code == 204
    found = admin.get(f"/v3/users/{user['id']}/groups").json()["groups"]
    assert {g["id"] for g in found} == {group["id"], other["id"]}


def test_deleting_group_removes_its_grants_and_memberships(admin: Api) -> None:
    """Deleting a group removes its grants (role_assignments no longer show them) and its
    memberships (the user's group list is empty)."""
    group, user, project = _group(admin), admin.user(), admin.project()
    member = admin.role_id("member")
    assert admin.put(f"/v3/groups/{group['id']}/users/{user['id']}").status_code == 204
    for path in (f"/v3/projects/{project['id']}/groups/{group['id']}/roles/{member}",
                 f"/v3/system/groups/{group['id']}/roles/{member}",
                 f"/v3/OS-INHERIT/domains/default/groups/{group['id']}/roles/{member}"
                 "/inherited_to_projects"):
        assert admin.put(path).status_code == 204, path
    listed = admin.get("/v3/role_assignments", params={"group.id": group["id"]})
    assert len(listed.json()["role_assignments"]) == 3
    assert admin.delete(f"/v3/groups/{group['id']}").status_code == 204
    after = admin.get("/v3/role_assignments", params={"group.id": group["id"]})
    assert after.json()["role_assignments"] == []
    assert admin.get(f"/v3/users/{user['id']}/groups").json()["groups"] == []
    effective = admin.get("/v3/role_assignments", params={"user.id": user["id"],
                                                          "effective": "true"})
    assert effective.json()["role_assignments"] == []


def test_deleting_user_removes_memberships(admin: Api) -> None:
    """Deleting a user takes them out of every group."""
    group, user, stays = _group(admin), admin.user(), admin.user()
    for u in (user, stays):
        assert admin.put(f"/v3/groups/{group['id']}/users/{u['id']}").status_code == 204
    assert admin.delete(f"/v3/users/{user['id']}").status_code == 204
    members = admin.get(f"/v3/groups/{group['id']}/users").json()["users"]
    assert [u["id"] for u in members] == [stays["id"]]


def test_deleting_domain_removes_its_groups(admin: Api) -> None:
    """Deleting a (disabled) domain deletes its groups and their grants; a member from
    another domain survives, without the membership."""
    domain = admin.domain()
    group = _group(admin, domain_id=domain["id"])
    outsider, project = admin.user(), admin.project()
    assert admin.put(f"/v3/groups/{group['id']}/users/{outsider['id']}").status_code == 204
    member = admin.role_id("member")
    grant = f"/v3/projects/{project['id']}/groups/{group['id']}/roles/{member}"
    assert admin.put(grant).status_code == 204
    assert admin.patch(f"/v3/domains/{domain['id']}",
                       json={"domain": {"enabled": False}}).status_code == 200
    assert admin.delete(f"/v3/domains/{domain['id']}").status_code == 204
    assert admin.get(f"/v3/groups/{group['id']}").status_code == 404
    assert admin.get("/v3/groups", params={"domain_id": domain["id"]}).json()["groups"] == []
    assert admin.get(f"/v3/users/{outsider['id']}").status_code == 200
    assert admin.get(f"/v3/users/{outsider['id']}/groups").json()["groups"] == []
    assert admin.get("/v3/role_assignments", params={"scope.project.id": project["id"]}
                     ).json()["role_assignments"] == []


def test_role_through_group_comes_and_goes_with_membership(admin: Api) -> None:
    """A user whose only role on a project comes from a group gets a token carrying it
    (with the implied reader); the moment they leave the group that token validates 404
    and a new one is refused; joining again makes a new token work."""
    group, project = _group(admin), admin.project()
    user = admin.user(password=PASSWORD)
    member = admin.role_id("member")
    assert admin.put(f"/v3/projects/{project['id']}/groups/{group['id']}/roles/{member}"
                     ).status_code == 204
    scope = {"project": {"id": project["id"]}}
    assert _token(admin, user["id"], scope).status_code == 401
    membership = f"/v3/groups/{group['id']}/users/{user['id']}"
    assert admin.put(membership).status_code == 204
    issued = _token(admin, user["id"], scope)
    assert issued.status_code == 201, issued.text
    assert sorted(r["name"] for r in issued.json()["token"]["roles"]) == ["member", "reader"]
    token = issued.headers["X-Subject-Token"]
    validated = admin.get("/v3/auth/tokens", headers={"X-Subject-Token": token})
    assert validated.status_code == 200
    assert sorted(r["name"] for r in validated.json()["token"]["roles"]) == [
        "member", "reader"]
    assert admin.delete(membership).status_code == 204
    assert admin.get("/v3/auth/tokens", headers={"X-Subject-Token": token}).status_code == 404
    assert _token(admin, user["id"], scope).status_code == 401
    assert admin.put(membership).status_code == 204
    assert _token(admin, user["id"], scope).status_code == 201


def test_leaving_group_drops_only_the_group_role(admin: Api) -> None:
    """With a direct role too, leaving the group keeps the token valid but its roles lose
    what the group gave."""
    group, project = _group(admin), admin.project()
    user = admin.user(password=PASSWORD)
    admin.grant(project["id"], user["id"], admin.role_id("reader"))
    extra = admin.role()
    assert admin.put(f"/v3/projects/{project['id']}/groups/{group['id']}/roles/{extra['id']}"
                     ).status_code == 204
    membership = f"/v3/groups/{group['id']}/users/{user['id']}"
    assert admin.put(membership).status_code == 204
    issued = _token(admin, user["id"], {"project": {"id": project["id"]}})
    token = issued.headers["X-Subject-Token"]
    assert sorted(r["name"] for r in issued.json()["token"]["roles"]) == sorted(
        ["reader", extra["name"]])
    assert admin.delete(membership).status_code == 204
    validated = admin.get("/v3/auth/tokens", headers={"X-Subject-Token": token})
    assert validated.status_code == 200
    assert [r["name"] for r in validated.json()["token"]["roles"]] == ["reader"]
