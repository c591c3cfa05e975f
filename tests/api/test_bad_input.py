"""Bad request bodies: Keystone's 400s naming the field, never a 5xx, 413 for huge bodies,
and failed requests that leave nothing half written."""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.factories import Api, unique

INVALID_JSON = ("Expecting to find valid JSON in request body. The server could not comply "
                "with the request since it is either malformed or otherwise incorrect. The "
                "client is assumed to be in error.")


def _error(response: httpx.Response, status: int = 400) -> str:
    """The error message, after checking status and Keystone's error body shape."""
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"code", "title", "message"}
    assert error["code"] == status
    assert error["title"] == {400: "Bad Request", 409: "Conflict", 413:
                              "Request Entity Too Large", 403: "Forbidden"}[status]
    return str(error["message"])


def _raw(admin: Api, method: str, path: str, content: bytes | str) -> httpx.Response:
    return admin.request(method, path, content=content,
                         headers={"Content-Type": "application/json"})


# -- malformed bodies ----------------------------------------------------------------------
@pytest.mark.parametrize("content", ['{"domain": {"name": "x"', "{'domain': 1}", "nope",
                                     '{"domain": {"name": "x"}} trailing', "\xff\xfe"])
def test_malformed_json_is_400(admin: Api, content: str) -> None:
    """A body that is not JSON is 400 'Expecting to find valid JSON in request body.'"""
    response = _raw(admin, "POST", "/v3/domains", content.encode("latin-1"))
    assert _error(response) == INVALID_JSON


@pytest.mark.parametrize("content", ["[]", '[{"domain": {"name": "x"}}]', "5", '"domain"'])
def test_json_that_is_not_an_object_is_400(admin: Api, content: str) -> None:
    """A JSON array (or any non-object) body is 400 'Expecting to find valid JSON in request
    body.', as in Keystone."""
    response = _raw(admin, "POST", "/v3/domains", content)
    assert _error(response) == INVALID_JSON


@pytest.mark.parametrize(("path", "key"), [
    ("/v3/domains", "domain"), ("/v3/projects", "project"), ("/v3/users", "user"),
    ("/v3/roles", "role"), ("/v3/regions", "region"), ("/v3/services", "service"),
    ("/v3/endpoints", "endpoint"),
])
def test_missing_envelope_key_names_it(admin: Api, path: str, key: str) -> None:
    """A body without the resource's envelope key ({"project": {...}}) is 400 naming it."""
    for body in ({}, {"other": {"name": "x"}}, {key + "s": {"name": "x"}}):
        assert key in _error(admin.post(path, json=body)), body
    assert key in _error(admin.post(path))


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/v3/domains", {"domain": {"name": ""}}, "name"),
    ("/v3/domains", {"domain": {"name": "   "}}, "name"),
    ("/v3/domains", {"domain": {"name": "x" * 65}}, "name"),
    ("/v3/domains", {"domain": {"name": 5}}, "name"),
    ("/v3/domains", {"domain": {"description": "d"}}, "name"),
    ("/v3/domains", {"domain": {"name": "x", "enabled": 1}}, "enabled"),
    ("/v3/domains", {"domain": {"name": "x", "enabled": None}}, "enabled"),
    ("/v3/domains", {"domain": {"name": "x", "enabled": "yes"}}, "enabled"),
    ("/v3/projects", {"project": {"name": "x" * 65}}, "name"),
    ("/v3/projects", {"project": {"name": None}}, "name"),
    ("/v3/projects", {"project": {"name": "x", "tags": "a"}}, "tags"),
    ("/v3/projects", {"project": {"name": "x", "tags": ["a/b"]}}, "tags"),
    ("/v3/projects", {"project": {"name": "x", "is_domain": "no"}}, "is_domain"),
    ("/v3/projects", {"project": {"name": "x", "parent_id": 7}}, "parent_id"),
    ("/v3/users", {"user": {"name": "x" * 256}}, "name"),
    ("/v3/users", {"user": {"name": ""}}, "name"),
    ("/v3/users", {"user": {"name": "x", "password": 5}}, "password"),
    ("/v3/users", {"user": {"name": "x", "domain_id": ["default"]}}, "domain_id"),
    ("/v3/roles", {"role": {"name": ""}}, "name"),
    ("/v3/roles", {"role": {"name": {"a": 1}}}, "name"),
    ("/v3/services", {"service": {"type": ""}}, "type"),
    ("/v3/services", {"service": {"type": "t", "enabled": "true"}}, "enabled"),
    ("/v3/regions", {"region": {"id": ""}}, "id"),
    ("/v3/regions", {"region": {"parent_region_id": 5}}, "parent_region_id"),
    ("/v3/regions", {"region": {"description": "x" * 256}}, "description"),
    ("/v3/endpoints", {"endpoint": {"interface": "bogus", "service_id": "s",
                                    "url": "http://x/"}}, "interface"),
    ("/v3/endpoints", {"endpoint": {"interface": "public", "service_id": "s",
                                    "url": "not a url"}}, "url"),
    ("/v3/endpoints", {"endpoint": {"interface": "public", "url": "http://x/"}},
     "service_id"),
])
def test_invalid_fields_are_400_naming_the_field(admin: Api, path: str, body: dict[str, Any],
                                                 field: str) -> None:
    """Wrong types, empty, blank or over-long names, and unknown enum values are 400 with
    Keystone's error body, the message naming the offending field."""
    message = _error(admin.post(path, json=body))
    assert field in message, message


def test_name_length_limits_are_inclusive(admin: Api) -> None:
    """Domain and project names may be 64 characters, user names 255 (as in Keystone)."""
    assert admin.post("/v3/domains", json={"domain": {"name": unique("d").ljust(64, "x")}}
                      ).status_code == 201
    assert admin.post("/v3/projects", json={"project": {"name": unique("p").ljust(64, "x")}}
                      ).status_code == 201
    assert admin.post("/v3/users", json={"user": {"name": unique("u").ljust(255, "x")}}
                      ).status_code == 201


@pytest.mark.parametrize(("kind", "body", "field"), [
    ("domains", {"domain": {"name": ""}}, "name"),
    ("domains", {"domain": {}}, "domain"),
    ("projects", {"project": {"enabled": "maybe"}}, "enabled"),
    ("users", {"user": {"name": None}}, "name"),
    ("roles", {"role": {"name": "x" * 256}}, "name"),
    ("regions", {"region": {"description": 5}}, "description"),
    ("services", {"service": {"type": None}}, "type"),
    ("endpoints", {"endpoint": {"interface": "sideways"}}, "interface"),
])
def test_invalid_updates_are_400_and_change_nothing(admin: Api, kind: str,
                                                    body: dict[str, Any], field: str) -> None:
    """An invalid PATCH is 400 naming the field and leaves the entity as it was."""
    path = f"/v3/{kind}/{_fresh(admin, kind)}"
    before = admin.get(path).json()
    message = _error(admin.patch(path, json=body))
    assert field in message, message
    assert admin.get(path).json() == before


def test_two_megabyte_body_is_413(admin: Api) -> None:
    """A 2 MB body is refused with 413 in Keystone's error body, and nothing is created."""
    name = unique("big")
    body = json.dumps({"project": {"name": name, "description": "x" * (2 * 1024 * 1024)}})
    _error(_raw(admin, "POST", "/v3/projects", body), 413)
    assert admin.get("/v3/projects", params={"name": name}).json()["projects"] == []


# -- the junk sweep: nothing ever answers 5xx -----------------------------------------------
def _fresh(admin: Api, kind: str) -> str:
    """A new entity of ``kind`` to PATCH; returns its id."""
    if kind == "endpoints":
        service = admin.make("services", "service", type=unique("t"))
        return str(admin.make("endpoints", "endpoint", service_id=service["id"],
                              interface="public", url="http://example.com/")["id"])
    if kind == "services":
        return str(admin.make("services", "service", type=unique("t"))["id"])
    if kind == "regions":
        return str(admin.make("regions", "region", id=unique("R"))["id"])
    makers: dict[str, Callable[[], dict[str, Any]]] = {
        "domains": admin.domain, "projects": admin.project, "users": admin.user,
        "roles": admin.role}
    return str(makers[kind]()["id"])


_ENVELOPES = {"domains": "domain", "projects": "project", "users": "user", "roles": "role",
              "regions": "region", "services": "service", "endpoints": "endpoint"}
_COMMON = ("name", "description", "enabled", "id", "extra", "links")
_FIELDS = {
    "domains": (*_COMMON, "tags", "options", "explicit_domain_id"),
    "projects": (*_COMMON, "domain_id", "parent_id", "is_domain", "tags", "options"),
    "users": (*_COMMON, "domain_id", "password", "default_project_id", "options"),
    "roles": (*_COMMON, "domain_id", "options"),
    "regions": ("id", "description", "parent_region_id", "extra"),
    "services": (*_COMMON, "type"),
    "endpoints": ("interface", "url", "service_id", "region_id", "region", "enabled", "extra"),
    "password": ("password", "original_password"),
}
_VALUES: list[Any] = [
    None, 0, -1, 1.5, 10**40, True, [], [None], {}, {"a": {"b": {"c": [1, {"d": None}]}}},
    "", " ", "x" * 300, "x" * 70000, "ünïcødé-名前-🚀", "a\u0000b", "'; DROP TABLE project;--",
    "default", "%s%(x)s$(project_id)s", "../../etc", 12345,
]
_TOP_LEVEL: list[Any] = [None, 0, "x", [], {}, [{}], {"x": 1}]


def _junk_bodies(kind: str, key: str) -> list[Any]:
    """Bodies that are wrong as a whole, then one junk value in one field at a time (the
    other required fields valid, so the junk is what the server has to deal with)."""
    bodies: list[Any] = [*_TOP_LEVEL, {key: None}, {key: []}, {key: "x"}, {key: 5}, {key: {}}]
    fields = _FIELDS[kind]
    for field in fields:
        for value in _VALUES:
            bodies.append({key: {**_VALID[kind](), field: value}})
    bodies.append({key: dict(zip(fields, _VALUES, strict=False))})
    return bodies


_VALID: dict[str, Callable[[], dict[str, Any]]] = {
    "domains": lambda: {"name": unique("j")},
    "projects": lambda: {"name": unique("j")},
    "users": lambda: {"name": unique("j")},
    "roles": lambda: {"name": unique("j")},
    "regions": lambda: {},
    "services": lambda: {"type": unique("t")},
    "endpoints": lambda: {"interface": "public", "url": "http://example.com/"},
    "password": lambda: {"original_password": "Pa55word-junk", "password": "Pa55word-junk"},
}


def _assert_no_5xx(responses: list[tuple[Any, httpx.Response]]) -> None:
    crashed = [(body if len(repr(body)) < 200 else repr(body)[:200], r.status_code, r.text[:200])
               for body, r in responses if r.status_code >= 500]
    assert crashed == []
    for _, response in responses:
        if response.status_code >= 400:
            assert set(response.json()["error"]) == {"code", "title", "message"}


@pytest.mark.parametrize("kind", sorted(_ENVELOPES))
def test_junk_creates_never_5xx(admin: Api, kind: str) -> None:
    """Hundreds of junk bodies POSTed to a create endpoint (nulls, numbers, nested objects,
    huge and non-ASCII strings, NUL bytes, ...) never make the server answer 5xx; every
    refusal uses Keystone's error body."""
    key = _ENVELOPES[kind]
    bodies = _junk_bodies(kind, key)
    if kind == "endpoints":  # a real service, so the junk reaches past that check
        service_id = admin.make("services", "service", type=unique("t"))["id"]
        for body in bodies:
            if isinstance(body, dict) and isinstance(body.get(key), dict):
                body[key].setdefault("service_id", service_id)
    responses = [(b, admin.post(f"/v3/{kind}", json=b)) for b in bodies]
    _assert_no_5xx(responses)


@pytest.mark.parametrize("kind", sorted(_ENVELOPES))
def test_junk_updates_never_5xx(admin: Api, kind: str) -> None:
    """The same junk PATCHed onto an existing entity never answers 5xx."""
    key = _ENVELOPES[kind]
    path = f"/v3/{kind}/{_fresh(admin, kind)}"
    responses = [(b, admin.patch(path, json=b)) for b in _junk_bodies(kind, key)]
    _assert_no_5xx(responses)


def test_junk_region_put_password_change_and_auth_never_5xx(admin: Api) -> None:
    """PUT /v3/regions/{id}, the password change and POST /v3/auth/tokens answer junk with
    4xx, never 5xx."""
    user = admin.user(password="Pa55word-junk")
    responses = []
    for body in _junk_bodies("regions", "region"):
        responses.append((body, admin.put(f"/v3/regions/{unique('PutJunk')}", json=body)))
    for body in _junk_bodies("password", "user"):
        responses.append((body, admin.post(f"/v3/users/{user['id']}/password", json=body)))
    for value in _VALUES:
        for body in ({"auth": value}, {"auth": {"identity": value}},
                     {"auth": {"identity": {"methods": value}}},
                     {"auth": {"identity": {"methods": ["password"], "password": value}}},
                     {"auth": {"identity": {"methods": ["password"],
                                            "password": {"user": value}}}},
                     {"auth": {"identity": {"methods": ["password"], "password": {"user": {
                         "name": value, "domain": {"name": "Default"}, "password": value}}}}},
                     {"auth": {"identity": {"methods": ["token"], "token": {"id": value}}}},
                     {"auth": {"identity": {"methods": ["password"], "password": {"user": {
                         "id": user["id"], "password": "Pa55word-junk"}}}, "scope": value}},
                     {"auth": {"identity": {"methods": ["password"], "password": {"user": {
                         "id": user["id"], "password": "Pa55word-junk"}}},
                         "scope": {"project": value}}}):
            responses.append((body, admin.post("/v3/auth/tokens", json=body)))
    _assert_no_5xx(responses)


def test_junk_ids_in_paths_and_queries_never_5xx(admin: Api) -> None:
    """Odd ids in paths and odd query filters get 4xx or 200, never 5xx."""
    odd = ["x" * 300, "%00", "ünï", "a%2Fb", "..", "' OR 1=1 --", "%25s"]
    responses = []
    for ident in odd:
        for path in (f"/v3/users/{ident}", f"/v3/projects/{ident}", f"/v3/domains/{ident}",
                     f"/v3/roles/{ident}", f"/v3/regions/{ident}", f"/v3/services/{ident}",
                     f"/v3/endpoints/{ident}", f"/v3/users/{ident}/projects",
                     f"/v3/projects/{ident}/users/{ident}/roles/{ident}"):
            responses.append((path, admin.get(path)))
            responses.append((path, admin.delete(path)))
        for collection in ("users", "projects", "domains", "roles", "regions", "services",
                           "endpoints", "role_assignments"):
            for param in ("name", "enabled", "domain_id", "parent_id", "type", "interface",
                          "user.id", "scope.project.id", "is_domain", "name__contains"):
                responses.append((collection, admin.get(f"/v3/{collection}",
                                                        params={param: ident})))
    _assert_no_5xx(responses)


# -- atomicity -----------------------------------------------------------------------------
def test_delete_of_enabled_domain_leaves_it_intact(admin: Api) -> None:
    """Deleting an enabled domain is 403 and leaves the domain, its projects, users and
    grants exactly as they were."""
    domain = admin.domain()
    project = admin.project(domain_id=domain["id"])
    user = admin.user(domain_id=domain["id"])
    admin.grant(project["id"], user["id"], admin.role_id("member"))
    message = _error(admin.delete(f"/v3/domains/{domain['id']}"), 403)
    assert message == "Cannot delete a domain that is enabled, please disable it first."
    assert admin.get(f"/v3/domains/{domain['id']}").json()["domain"]["enabled"] is True
    assert admin.get(f"/v3/projects/{project['id']}").status_code == 200
    assert admin.get(f"/v3/users/{user['id']}").status_code == 200
    found = admin.get("/v3/role_assignments", params={"user.id": user["id"]})
    assert len(found.json()["role_assignments"]) == 1


def test_domain_delete_removes_everything_in_it(admin: Api) -> None:
    """Deleting a disabled domain removes its projects, users, domain-specific roles and
    every assignment on or by them, and nothing outside it."""
    domain = admin.domain()
    parent = admin.project(domain_id=domain["id"])
    child = admin.project(domain_id=domain["id"], parent_id=parent["id"])
    user = admin.user(domain_id=domain["id"])
    outsider = admin.user()
    local_role = admin.role(domain_id=domain["id"])
    member = admin.role_id("member")
    admin.grant(child["id"], user["id"], member)
    admin.grant(parent["id"], outsider["id"], member)
    assert admin.put(f"/v3/domains/{domain['id']}/users/{outsider['id']}/roles/{member}"
                     ).status_code == 204
    outside_project = admin.project()
    admin.grant(outside_project["id"], user["id"], member)
    admin.grant(outside_project["id"], outsider["id"], member)
    assert admin.patch(f"/v3/domains/{domain['id']}", json={"domain": {"enabled": False}}
                       ).status_code == 200
    assert admin.delete(f"/v3/domains/{domain['id']}").status_code == 204
    for path in (f"/v3/domains/{domain['id']}", f"/v3/projects/{parent['id']}",
                 f"/v3/projects/{child['id']}", f"/v3/users/{user['id']}",
                 f"/v3/roles/{local_role['id']}"):
        assert admin.get(path).status_code == 404, path
    assert admin.get("/v3/role_assignments", params={"user.id": user["id"]}).json()[
        "role_assignments"] == []
    left = admin.get("/v3/role_assignments", params={"user.id": outsider["id"]}).json()
    assert [a["scope"] for a in left["role_assignments"]] == [
        {"project": {"id": outside_project["id"]}}]
    assert admin.get(f"/v3/users/{outsider['id']}").status_code == 200


def test_duplicate_project_create_leaves_no_trace(admin: Api) -> None:
    """A project create that hits a duplicate name is 409 and writes nothing: one project
    by that name, unchanged."""
    first = admin.project(description="first")
    _error(admin.post("/v3/projects", json={"project": {
        "name": first["name"], "description": "second", "tags": ["t"]}}), 409)
    found = admin.get("/v3/projects", params={"name": first["name"]}).json()["projects"]
    assert [(p["id"], p["description"], p["tags"]) for p in found] == [
        (first["id"], "first", [])]


def test_failed_cascade_delete_deletes_nothing(admin: Api) -> None:
    """A cascade delete refused because a project below is enabled deletes nothing."""
    parent = admin.project()
    child = admin.project(parent_id=parent["id"])
    grandchild = admin.project(parent_id=child["id"])
    response = admin.delete(f"/v3/projects/{parent['id']}", params={"cascade": "true"})
    assert response.status_code == 403
    for project in (parent, child, grandchild):
        assert admin.get(f"/v3/projects/{project['id']}").status_code == 200


def test_concurrent_duplicate_creates_store_exactly_one(admin: Api) -> None:
    """Ten simultaneous creates of one project name give one 201 and 409s (never 5xx),
    and exactly one project exists afterwards."""
    name = unique("race")
    token, url = admin.token, str(admin.base_url)

    def create(_: int) -> int:
        with httpx.Client(base_url=url, timeout=60, headers={"X-Auth-Token": token}) as c:
            return c.post("/v3/projects", json={"project": {"name": name}}).status_code

    with ThreadPoolExecutor(max_workers=10) as pool:
        statuses = list(pool.map(create, range(10)))
    assert sorted(statuses) == [201] + [409] * 9, statuses
    found = admin.get("/v3/projects", params={"name": name}).json()["projects"]
    assert len(found) == 1


def test_a_body_that_is_not_json_by_its_content_type_is_refused(admin: Api) -> None:
    """A body sent as text/plain is refused with Keystone's 400 naming the header."""
    response = admin.post("/v3/projects", content=b'{"project": {"name": "x"}}',
                          headers={"Content-Type": "text/plain"})
    assert response.status_code == 400
    assert "Content-Type" in response.json()["error"]["message"]


def test_nul_characters_are_refused_the_same_on_every_backend(admin: Api) -> None:
    """A NUL in any string is a 400 on SQLite as on PostgreSQL and MariaDB."""
    response = admin.post("/v3/projects", json={"project": {"name": "a\x00b"}})
    assert response.status_code == 400
