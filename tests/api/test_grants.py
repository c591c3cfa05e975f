"""Role grants on projects, domains and the system, and GET /v3/role_assignments."""

from __future__ import annotations

from typing import Any

import pytest

from tests.factories import Api

NOT_AN_ID = "0123456789abcdef0123456789abcdef"


def _assignments(admin: Api, **params: str) -> list[dict[str, Any]]:
    response = admin.get("/v3/role_assignments", params=params)
    assert response.status_code == 200, response.text
    return list(response.json()["role_assignments"])


def _grant_paths(admin: Api) -> dict[str, tuple[str, str]]:
    """For each kind of target: (grant collection path for a new user, target id)."""
    project = admin.project()
    domain = admin.domain()
    return {
        "projects": (f"/v3/projects/{project['id']}", project["id"]),
        "domains": (f"/v3/domains/{domain['id']}", domain["id"]),
        "system": ("/v3/system", "system"),
    }


@pytest.mark.parametrize("kind", ["projects", "domains", "system"])
def test_grant_lifecycle(admin: Api, kind: str) -> None:
    """PUT grants with 204 (again 204, idempotent), HEAD and GET answer 204 with no body,
    the grant shows in the user's role list, DELETE answers 204 and a second DELETE 404."""
    base, _ = _grant_paths(admin)[kind]
    user, role = admin.user(), admin.role()
    path = f"{base}/users/{user['id']}/roles/{role['id']}"
    assert admin.put(path).status_code == 204
    assert admin.put(path).status_code == 204
    head = admin.head(path)
    assert head.status_code == 204 and head.content == b""
    get = admin.get(path)
    assert get.status_code == 204 and get.content == b""
    listed = admin.get(f"{base}/users/{user['id']}/roles")
    assert listed.status_code == 200
    assert [r["id"] for r in listed.json()["roles"]] == [role["id"]]
    assert listed.json()["roles"][0]["name"] == role["name"]
    assert admin.delete(path).status_code == 204
    again = admin.delete(path)
    assert again.status_code == 404
    assert admin.get(f"{base}/users/{user['id']}/roles").json()["roles"] == []


@pytest.mark.parametrize("kind", ["projects", "domains", "system"])
def test_missing_grant_is_404_with_keystone_message(admin: Api, kind: str) -> None:
    """HEAD, GET and DELETE of a grant that was never made answer 404, naming role,
    user and target as Keystone does."""
    base, target = _grant_paths(admin)[kind]
    user, role = admin.user(), admin.role()
    path = f"{base}/users/{user['id']}/roles/{role['id']}"
    for method in ("GET", "DELETE", "HEAD"):
        response = admin.request(method, path)
        assert response.status_code == 404, (method, response.text)
    error = admin.get(path).json()["error"]
    assert error["message"] == (
        f"Could not find role assignment with role: {role['id']}, user or group: "
        f"{user['id']}, project, domain, or system: {target}.")


def test_grant_list_shows_direct_grants_only(admin: Api) -> None:
    """GET .../users/{u}/roles lists the roles granted directly, as full role objects,
    not the roles they imply."""
    project, user = admin.project(), admin.user()
    member = admin.role_id("member")
    admin.grant(project["id"], user["id"], member)
    roles = admin.get(f"/v3/projects/{project['id']}/users/{user['id']}/roles").json()["roles"]
    assert [r["id"] for r in roles] == [member]
    assert roles[0]["name"] == "member"
    assert roles[0]["links"]["self"].endswith(f"/v3/roles/{member}")


def test_grant_with_unknown_role_user_or_target_is_404(admin: Api) -> None:
    """PUT with an unknown role, user, project or domain is 404 naming what is missing."""
    project, user, role = admin.project(), admin.user(), admin.role()
    cases = {
        f"/v3/projects/{project['id']}/users/{user['id']}/roles/{NOT_AN_ID}":
            f"Could not find role: {NOT_AN_ID}.",
        f"/v3/projects/{project['id']}/users/{NOT_AN_ID}/roles/{role['id']}":
            f"Could not find user: {NOT_AN_ID}.",
        f"/v3/projects/{NOT_AN_ID}/users/{user['id']}/roles/{role['id']}":
            f"Could not find project: {NOT_AN_ID}.",
        f"/v3/domains/{NOT_AN_ID}/users/{user['id']}/roles/{role['id']}":
            f"Could not find domain: {NOT_AN_ID}.",
        f"/v3/system/users/{NOT_AN_ID}/roles/{role['id']}":
            f"Could not find user: {NOT_AN_ID}.",
        f"/v3/system/users/{user['id']}/roles/{NOT_AN_ID}":
            f"Could not find role: {NOT_AN_ID}.",
    }
    for path, message in cases.items():
        response = admin.put(path)
        assert response.status_code == 404, (path, response.text)
        assert response.json()["error"]["message"] == message
    assert _assignments(admin, **{"user.id": user["id"]}) == []


def test_grant_list_of_unknown_user_or_target_is_404(admin: Api) -> None:
    """Listing the grants of an unknown user, or on an unknown project, is 404."""
    project, user = admin.project(), admin.user()
    assert admin.get(f"/v3/projects/{project['id']}/users/{NOT_AN_ID}/roles").status_code == 404
    assert admin.get(f"/v3/projects/{NOT_AN_ID}/users/{user['id']}/roles").status_code == 404
    assert admin.get(f"/v3/domains/{NOT_AN_ID}/users/{user['id']}/roles").status_code == 404


def test_role_assignments_filters(admin: Api) -> None:
    """user.id, role.id, scope.project.id, scope.domain.id and scope.system each narrow
    GET /v3/role_assignments to the matching grants."""
    targets = _grant_paths(admin)
    project_id, domain_id = targets["projects"][1], targets["domains"][1]
    user, other = admin.user(), admin.user()
    role, other_role = admin.role(), admin.role()
    for base, _ in targets.values():
        assert admin.put(f"{base}/users/{user['id']}/roles/{role['id']}").status_code == 204
    admin.grant(project_id, other["id"], other_role["id"])

    mine = _assignments(admin, **{"user.id": user["id"]})
    assert {frozenset(a["scope"]) for a in mine} == {
        frozenset({"project"}), frozenset({"domain"}), frozenset({"system"})}
    assert all(a["user"] == {"id": user["id"]} and a["role"] == {"id": role["id"]} for a in mine)

    on_project = _assignments(admin, **{"scope.project.id": project_id})
    assert {(a["user"]["id"], a["role"]["id"]) for a in on_project} == {
        (user["id"], role["id"]), (other["id"], other_role["id"])}

    by_role = _assignments(admin, **{"role.id": other_role["id"]})
    assert [(a["user"]["id"], a["scope"]) for a in by_role] == [
        (other["id"], {"project": {"id": project_id}})]

    on_domain = _assignments(admin, **{"scope.domain.id": domain_id})
    assert [a["scope"] for a in on_domain] == [{"domain": {"id": domain_id}}]

    system = _assignments(admin, **{"scope.system": "all", "user.id": user["id"]})
    assert [a["scope"] for a in system] == [{"system": {"all": True}}]
    everyone_system = _assignments(admin, **{"scope.system": "all"})
    assert all(a["scope"] == {"system": {"all": True}} for a in everyone_system)
    assert admin.body["user"]["id"] in {
        a["user"]["id"] for a in everyone_system if "user" in a}

    both = _assignments(admin, **{"user.id": user["id"], "scope.project.id": project_id})
    assert len(both) == 1


def test_role_assignment_links_are_the_grant_urls(admin: Api) -> None:
    """Each entry's links.assignment is the URL of the grant it lists, which answers 204."""
    targets = _grant_paths(admin)
    user, role = admin.user(), admin.role()
    expected = set()
    for base, _ in targets.values():
        path = f"{base}/users/{user['id']}/roles/{role['id']}"
        assert admin.put(path).status_code == 204
        expected.add(f"{admin.base_url}{path}".replace("//v3", "/v3"))
    found = _assignments(admin, **{"user.id": user["id"]})
    links = {a["links"]["assignment"] for a in found}
    assert links == expected
    for link in links:
        assert admin.head(link).status_code == 204


def test_role_assignments_include_names(admin: Api) -> None:
    """include_names adds names: user and project with their domain ref, domain and role
    with their name; the system scope is unchanged."""
    targets = _grant_paths(admin)
    user, role = admin.user(), admin.role()
    for base, _ in targets.values():
        assert admin.put(f"{base}/users/{user['id']}/roles/{role['id']}").status_code == 204
    domain = admin.get(f"/v3/domains/{targets['domains'][1]}").json()["domain"]
    project = admin.get(f"/v3/projects/{targets['projects'][1]}").json()["project"]
    found = _assignments(admin, **{"user.id": user["id"], "include_names": "true"})
    assert len(found) == 3
    default = {"id": "default", "name": "Default"}
    for a in found:
        assert a["user"] == {"id": user["id"], "name": user["name"], "domain": default}
        assert a["role"] == {"id": role["id"], "name": role["name"]}
    scopes = [a["scope"] for a in found]
    assert {"project": {"id": project["id"], "name": project["name"], "domain": default}} in scopes
    assert {"domain": {"id": domain["id"], "name": domain["name"]}} in scopes
    assert {"system": {"all": True}} in scopes
    bare = _assignments(admin, **{"user.id": user["id"]})
    assert all("name" not in a["user"] for a in bare)


def test_role_assignments_effective_expands_implied_roles(admin: Api) -> None:
    """effective lists the roles a user really holds: a member grant on a project shows
    member and reader there (reader is implied), and the plain listing shows member only."""
    user, project = admin.member_of_new_project()
    member, reader = admin.role_id("member"), admin.role_id("reader")
    direct = _assignments(admin, **{"user.id": user["id"]})
    assert [a["role"]["id"] for a in direct] == [member]
    effective = _assignments(admin, **{"user.id": user["id"], "effective": "true"})
    assert sorted(a["role"]["id"] for a in effective) == sorted([member, reader])
    assert all(a["scope"] == {"project": {"id": project["id"]}} for a in effective)
    grant_prefix = f"/v3/projects/{project['id']}/users/{user['id']}/roles/"
    assert all(grant_prefix in a["links"]["assignment"] for a in effective)
    bare_flag = admin.get(f"/v3/role_assignments?user.id={user['id']}&effective")
    assert sorted(a["role"]["id"] for a in bare_flag.json()["role_assignments"]) == sorted(
        [member, reader])


def test_role_assignments_effective_drops_system_assignments(admin: Api) -> None:
    """effective leaves system assignments out, as Keystone does, while the plain listing
    shows them."""
    user, project = admin.member_of_new_project()
    reader = admin.role_id("reader")
    assert admin.put(f"/v3/system/users/{user['id']}/roles/{reader}").status_code == 204
    plain = _assignments(admin, **{"user.id": user["id"]})
    assert {"system": {"all": True}} in [a["scope"] for a in plain]
    effective = _assignments(admin, **{"user.id": user["id"], "effective": "true"})
    assert effective
    assert all("system" not in a["scope"] for a in effective)
    assert {a["scope"]["project"]["id"] for a in effective} == {project["id"]}


def test_role_assignments_effective_on_domain_with_names(admin: Api) -> None:
    """effective with include_names on a domain grant names the implied roles too."""
    domain, user = admin.domain(), admin.user()
    member = admin.role_id("member")
    path = f"/v3/domains/{domain['id']}/users/{user['id']}/roles/{member}"
    assert admin.put(path).status_code == 204
    found = _assignments(admin, **{"user.id": user["id"], "effective": "true",
                                   "include_names": "true"})
    assert sorted(a["role"]["name"] for a in found) == ["member", "reader"]
    assert all(a["scope"] == {"domain": {"id": domain["id"], "name": domain["name"]}}
               for a in found)


def test_deleting_user_or_role_removes_their_assignments(admin: Api) -> None:
    """Deleting a role or a user removes the assignments that named it."""
    project, user, role = admin.project(), admin.user(), admin.role()
    admin.grant(project["id"], user["id"], role["id"])
    assert admin.delete(f"/v3/roles/{role['id']}").status_code == 204
    assert _assignments(admin, **{"role.id": role["id"]}) == []
    other_role = admin.role()
    admin.grant(project["id"], user["id"], other_role["id"])
    assert admin.delete(f"/v3/users/{user['id']}").status_code == 204
    assert _assignments(admin, **{"user.id": user["id"]}) == []
