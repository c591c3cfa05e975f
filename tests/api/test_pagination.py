"""Pages of every list (the API working group's ``limit`` and ``marker``) against a live
server: walking ``links.next`` collects exactly the whole list, filters are kept from page
to page, ``links.previous`` leads back, and a bad ``limit`` or ``marker`` is 400 in
Keystone's error body. Every list operation the OpenAPI description marks as paged is
walked, so a new list cannot ship unpaged."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from sevres.api import openapi
from tests.factories import Api, error, project_scope, unique
from tests.server import Server

MEMBER_PASSWORD = "paging-Pa55word"


def _key(path: str) -> str:
    """The collection's key in the answer: the last word of the path that is no id."""
    words = [w for w in path.split("/") if w and not w.startswith("{")]
    last = words[-1]
    if last == "events":
        return "events"
    if last in ("roles", "inherited_to_projects"):
        return "roles"
    return last


PAGED = sorted(path for (method, path), op in openapi.OPERATIONS.items()
               if method == "GET" and openapi.paged(op))


@pytest.fixture(scope="module")
def world(admin: Api, server: Server) -> Iterator[dict[str, Any]]:
    """Three or more items in every list: a domain with projects, users and groups, a user
    holding roles (directly, through groups, inherited, on the system), regions, services,
    endpoints, application credentials with access rules, and revoked tokens; and a client
    holding that user's token for the lists about oneself."""
    domain = admin.domain()
    projects = [admin.project(domain_id=domain["id"]) for _ in range(3)]
    user = admin.user(domain_id=domain["id"], password=MEMBER_PASSWORD)
    others = [admin.user(domain_id=domain["id"]) for _ in range(2)]
    groups = [admin.make("groups", "group", name=unique("grp"), domain_id=domain["id"])
              for _ in range(3)]
    roles = [admin.role() for _ in range(3)]
    member = admin.role_id("member")
    for g in groups:
        assert admin.put(f"/v3/groups/{g['id']}/users/{user['id']}").status_code == 204
    for u in others:
        assert admin.put(f"/v3/groups/{groups[0]['id']}/users/{u['id']}").status_code == 204
    for r in [*roles, {"id": member}]:
        for p in projects:
            admin.grant(p["id"], user["id"], r["id"])
        for grants in (f"/v3/domains/{domain['id']}/users/{user['id']}/roles/{r['id']}",
                       f"/v3/domains/{domain['id']}/groups/{groups[0]['id']}/roles/{r['id']}",
                       f"/v3/projects/{projects[0]['id']}/groups/{groups[0]['id']}/roles/"
                       f"{r['id']}",
                       f"/v3/system/users/{user['id']}/roles/{r['id']}",
                       f"/v3/system/groups/{groups[0]['id']}/roles/{r['id']}",
                       f"/v3/OS-INHERIT/domains/{domain['id']}/users/{user['id']}/roles/"
                       f"{r['id']}/inherited_to_projects",
                       f"/v3/OS-INHERIT/domains/{domain['id']}/groups/{groups[0]['id']}/"
                       f"roles/{r['id']}/inherited_to_projects"):
            assert admin.put(grants).status_code == 204, grants
    for _ in range(2):  # three domains the user may scope to
        extra = admin.domain()
        assert admin.put(f"/v3/domains/{extra['id']}/users/{user['id']}/roles/{member}"
                         ).status_code == 204
    for _ in range(3):
        region = admin.make("regions", "region", description="paging")
        service = admin.make("services", "service", type=unique("svc"))
        admin.make("endpoints", "endpoint", interface="public", url="http://paging.test/",
                   service_id=service["id"], region_id=region["id"])
    with Api.login(server.url, user["name"], MEMBER_PASSWORD, domain=domain["name"],
                   scope=project_scope(projects[0]["name"], domain["id"])) as mine:
        for n in range(3):
            mine.app_cred(user["id"], access_rules=[
                {"service": "identity", "method": "GET", "path": f"/v3/paging/{n}"}])
        for _ in range(3):  # three revocation events
            with Api.login(server.url, user["name"], MEMBER_PASSWORD, domain=domain["name"],
                           scope=project_scope(projects[1]["name"], domain["id"])) as spare:
                gone = mine.delete("/v3/auth/tokens", headers={"X-Subject-Token": spare.token})
                assert gone.status_code == 204, gone.text
        yield {"domain": domain, "projects": projects, "user": user, "groups": groups,
               "roles": roles, "mine": mine}


def _concrete(path: str, world: dict[str, Any]) -> tuple[str, str]:
    """The path with ids filled in, and the token to list it with (the user's own for
    /v3/auth/*, where the admin has only the admin project)."""
    group_paths = "/groups/{actor_id}" in path or path.startswith("/v3/groups/{group_id}")
    values = {
        "{target_id}": world["projects"][0]["id"] if "/projects/" in path
        else world["domain"]["id"],
        "{actor_id}": world["groups"][0]["id"] if group_paths else world["user"]["id"],
        "{group_id}": world["groups"][0]["id"],
        "{user_id}": world["user"]["id"],
    }
    for name, value in values.items():
        path = path.replace(name, value)
    who = "mine" if path.startswith(("/v3/auth/", f"/v3/users/{world['user']['id']}/a"))\
        else "admin"
    return path, who


def _identity(item: dict[str, Any]) -> str:
    return str(item["id"]) if "id" in item else json.dumps(item, sort_keys=True)


def _walk(client: httpx.Client, url: str, key: str, limit: int) -> list[dict[str, Any]]:
    """Every item, following links.next from a first page of ``limit``."""
    seen: list[dict[str, Any]] = []
    response = client.get(url, params={"limit": limit})
    first = True
    while True:
        assert response.status_code == 200, response.text
        body = response.json()
        assert len(body[key]) <= limit
        if first:
            assert body["links"]["previous"] is None
            first = False
        seen += body[key]
        following = body["links"]["next"]
        if following is None:
            return seen
        assert parse_qs(urlsplit(following).query)["limit"] == [str(limit)]
        assert body[key], "a page before the last is never empty"
        response = client.get(following)


@pytest.mark.parametrize("path", PAGED)
def test_walking_the_pages_collects_the_whole_list(
        path: str, admin: Api, world: dict[str, Any]) -> None:
    """For every paged list: the pages of 1 and of 2 items, followed through links.next
    to its null, hold exactly the items of the whole list, each once; without limit and
    marker the answer has no next link."""
    url, who = _concrete(path, world)
    client = admin if who == "admin" else world["mine"]
    key = _key(path)
    whole = client.get(url)
    assert whole.status_code == 200, whole.text
    everything = whole.json()[key]
    assert whole.json()["links"]["next"] is None
    assert len(everything) >= 3, (path, everything)
    expected = sorted(_identity(i) for i in everything)
    for limit in (1, 2):
        walked = [_identity(i) for i in _walk(client, url, key, limit)]
        assert len(walked) == len(set(walked)), f"{path}: an item on two pages"
        assert sorted(walked) == expected, path


def test_filters_are_kept_from_page_to_page(admin: Api, world: dict[str, Any]) -> None:
    """GET /v3/projects?domain_id=D&limit=1: each next link keeps domain_id, and the pages
    hold exactly the domain's projects, in id order."""
    domain_id = world["domain"]["id"]
    pages: list[dict[str, Any]] = []
    response = admin.get("/v3/projects", params={"domain_id": domain_id, "limit": 1})
    while True:
        assert response.status_code == 200, response.text
        pages += response.json()["projects"]
        following = response.json()["links"]["next"]
        if following is None:
            break
        assert parse_qs(urlsplit(following).query)["domain_id"] == [domain_id]
        response = admin.get(following)
    ids = [p["id"] for p in pages]
    assert ids == sorted(p["id"] for p in world["projects"])
    assert all(p["domain_id"] == domain_id for p in pages)


@pytest.mark.parametrize("query", ["effective&include_names", "include_names",
                                   "effective&include_subtree"])
def test_role_assignment_pages_with_flags(admin: Api, world: dict[str, Any],
                                          query: str) -> None:
    """Role assignments have no id: their markers are opaque keys, the same with or without
    include_names; pages of effective and named listings collect the whole list, each
    entry once, and the flags are kept from page to page."""
    user = world["user"]["id"]
    if "include_subtree" in query:
        query += f"&scope.project.id={world['projects'][0]['id']}"
    else:
        query += f"&user.id={user}"
    url = f"/v3/role_assignments?{query}"
    whole = admin.get(url).json()["role_assignments"]
    assert len(whole) >= 3
    walked: list[dict[str, Any]] = []
    response = admin.get(f"{url}&limit=2")
    while True:
        assert response.status_code == 200, response.text
        walked += response.json()["role_assignments"]
        following = response.json()["links"]["next"]
        if following is None:
            break
        assert set(parse_qs(urlsplit(following).query, keep_blank_values=True)) >= {
            k.split("=")[0] for k in query.split("&")}
        response = admin.get(following)
    canonical = sorted(json.dumps(e, sort_keys=True) for e in walked)
    assert len(set(canonical)) == len(canonical)
    assert canonical == sorted(json.dumps(e, sort_keys=True) for e in whole)
    if "include_names" in query:
        plain = url.replace("include_names&", "").replace("&include_names", "")
        named, bare = (admin.get(f"{u}&limit=2").json()["links"]["next"] for u in (url, plain))
        assert parse_qs(urlsplit(named).query)["marker"] == \
            parse_qs(urlsplit(bare).query)["marker"]


def test_previous_leads_back(admin: Api, world: dict[str, Any]) -> None:
    """links.previous of the second page is the first page; of the first, null."""
    first = admin.get("/v3/users", params={"domain_id": world["domain"]["id"],
                                           "limit": 1}).json()
    second = admin.get(first["links"]["next"]).json()
    back = admin.get(second["links"]["previous"]).json()
    assert back["users"] == first["users"]
    assert "marker" not in parse_qs(urlsplit(second["links"]["previous"]).query)
    third = admin.get(second["links"]["next"]).json()
    assert admin.get(third["links"]["previous"]).json()["users"] == second["users"]


def test_a_limit_above_the_maximum_is_capped(admin: Api) -> None:
    """A limit over [api] max_limit (default 1000) answers as max_limit: the next links
    carry the capped limit; a limit of many digits is no error."""
    for huge in ("5000", "9" * 40):
        response = admin.get("/v3/roles", params={"limit": huge})
        assert response.status_code == 200, response.text
        assert response.json()["links"]["next"] is None  # fewer than 1000 roles
    marked = admin.get("/v3/roles", params={"limit": 1})
    following = marked.json()["links"]["next"]
    page = admin.get(following.replace("limit=1", "limit=5000"))
    assert page.status_code == 200
    assert page.json()["links"]["previous"] is not None
    assert parse_qs(urlsplit(page.json()["links"]["previous"]).query)["limit"] == ["1000"]


def test_without_limit_or_marker_the_list_is_whole_and_unchanged(admin: Api) -> None:
    """No pagination parameter: the whole list, previous and next null (Keystone)."""
    body = admin.get("/v3/roles").json()
    assert body["links"]["previous"] is None and body["links"]["next"] is None
    assert len(body["roles"]) == len(admin.get("/v3/roles", params={"limit": 1000})
                                     .json()["roles"])


@pytest.mark.parametrize("limit", ["0", "-1", "abc", "1.5", "", " 2", "0x10", "\u0663",
                                   "0000"])
def test_a_limit_that_is_not_a_positive_whole_number_is_400(admin: Api, limit: str) -> None:
    """limit must be a positive whole number (ASCII digits): else 400 naming limit."""
    response = admin.get("/v3/projects", params={"limit": limit})
    assert "limit" in error(response, 400)


@pytest.mark.parametrize("path", ["/v3/projects", "/v3/role_assignments",
                                  "/v3/OS-REVOKE/events", "/v3/regions"])
def test_a_marker_naming_no_item_is_400(admin: Api, path: str) -> None:
    """A marker that is no item of the list (unknown, empty, NUL) is 400 naming marker."""
    for marker in ("no-such-item", "", "\x00", "x" * 2000):
        response = admin.get(path, params={"marker": marker, "limit": 1})
        assert "marker" in error(response, 400), (path, marker)


def test_a_marker_filtered_out_is_400(admin: Api, world: dict[str, Any]) -> None:
    """The marker must be an item of the filtered list: a project of another domain,
    though it exists, is not one of ?domain_id=D's."""
    admin_project = admin.body["project"]["id"]
    response = admin.get("/v3/projects", params={"domain_id": world["domain"]["id"],
                                                 "marker": admin_project})
    assert "marker" in error(response, 400)


def test_a_marker_alone_pages_from_it(admin: Api, world: dict[str, Any]) -> None:
    """marker without limit: the items after the marker (up to max_limit), by id."""
    ids = sorted(p["id"] for p in world["projects"])
    response = admin.get("/v3/projects", params={"domain_id": world["domain"]["id"],
                                                 "marker": ids[0]})
    assert response.status_code == 200, response.text
    assert [p["id"] for p in response.json()["projects"]] == ids[1:]
    assert response.json()["links"]["next"] is None
