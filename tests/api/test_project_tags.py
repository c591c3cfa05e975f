"""/v3/projects/{id}/tags against a live server, and the tag filters of GET /v3/projects,
with the status codes and bodies Keystone 30 answers (checked against it with curl)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.factories import Api, error, unique
from tests.server import Server

MEMBER_PASSWORD = "member-Pa55word"  # a test user


def tags_of(api: Api, project_id: str) -> list[str]:
    response = api.get(f"/v3/projects/{project_id}/tags")
    assert response.status_code == 200, response.text
    return list(response.json()["tags"])


def test_list_replace_and_remove_all(admin: Api) -> None:
    """GET lists the tags set at creation (sorted, with links.self); PUT replaces them all
    and answers the new list, stripped of blanks; DELETE removes them all (204), which the
    project body shows too."""
    project = admin.project(tags=["zeta", "Alpha"])
    response = admin.get(f"/v3/projects/{project['id']}/tags")
    assert response.status_code == 200, response.text
    assert response.json()["tags"] == ["Alpha", "zeta"]
    assert response.json()["links"]["self"].endswith(f"/v3/projects/{project['id']}/tags")
    replaced = admin.put(f"/v3/projects/{project['id']}/tags", json={"tags": ["x", " y "]})
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["tags"] == ["x", "y"]
    assert admin.get(f"/v3/projects/{project['id']}").json()["project"]["tags"] == ["x", "y"]
    removed = admin.delete(f"/v3/projects/{project['id']}/tags")
    assert removed.status_code == 204
    assert removed.content == b""
    assert tags_of(admin, project["id"]) == []


def test_add_check_and_remove_one(admin: Api) -> None:
    """PUT of one tag is 201 with no body and a Location that checks it; GET and HEAD of a
    held tag are 204, of another (tags are case-sensitive) 404; DELETE is 204, then 404."""
    project = admin.project(tags=["a"])
    base = f"/v3/projects/{project['id']}/tags"
    added = admin.put(f"{base}/Blue tag")
    assert added.status_code == 201, added.text
    assert added.content == b""
    assert added.headers["Location"].endswith(f"{base}/Blue%20tag")
    assert admin.get(added.headers["Location"]).status_code == 204
    assert admin.head(f"{base}/Blue tag").status_code == 204
    assert tags_of(admin, project["id"]) == ["Blue tag", "a"]
    assert error(admin.get(f"{base}/blue tag"), 404) == "Could not find project tag: blue tag."
    assert admin.head(f"{base}/A").status_code == 404
    assert admin.delete(f"{base}/a").status_code == 204
    assert error(admin.delete(f"{base}/a"), 404) == "Could not find project tag: a."
    assert tags_of(admin, project["id"]) == ["Blue tag"]


def test_adding_a_held_tag_is_400(admin: Api) -> None:
    """As Keystone: adding a tag the project holds already is 400, not a no-op."""
    project = admin.project(tags=["dup"])
    response = admin.put(f"/v3/projects/{project['id']}/tags/dup")
    assert "dup" in error(response, 400)
    assert tags_of(admin, project["id"]) == ["dup"]


def test_bad_tags_are_400(admin: Api) -> None:
    """A tag with ',' or '/', empty, blank, over 255 characters, not a string, repeated
    (also once stripped), or a body without a 'tags' list or with other members: 400 in
    Keystone's error body, and the tags are left as they were."""
    project = admin.project(tags=["kept"])
    base = f"/v3/projects/{project['id']}/tags"
    for body in ({"tags": ["a,b"]}, {"tags": ["a/b"]}, {"tags": [""]}, {"tags": ["  "]},
                 {"tags": ["x" * 256]}, {"tags": [1]}, {"tags": ["x", "x"]},
                 {"tags": ["x", " x"]}, {"tags": "x"}, {}, {"tags": ["ok"], "extra": 1}):
        response = admin.put(base, json=body)
        assert error(response, 400), body
    for tag in ("a,b", "x" * 256, "%20%20"):
        assert error(admin.put(f"{base}/{tag}"), 400), tag
    assert admin.put(f"{base}/{'x' * 255}").status_code == 201
    assert admin.put(f"{base}/a%2Fb").status_code in (400, 404)  # a '/' never reaches a tag
    assert tags_of(admin, project["id"]) == ["kept", "x" * 255]


def test_at_most_80_tags(admin: Api) -> None:
    """80 tags are accepted; an 81st, by a PUT of the list or of one tag, is 400."""
    project = admin.project()
    base = f"/v3/projects/{project['id']}/tags"
    eighty = [f"t{i}" for i in range(80)]
    assert admin.put(base, json={"tags": eighty}).status_code == 200
    assert "80" in error(admin.put(f"{base}/t80"), 400)
    assert error(admin.put(base, json={"tags": [*eighty, "t80"]}), 400)
    assert sorted(tags_of(admin, project["id"])) == sorted(eighty)


def test_unknown_project_is_404(admin: Api) -> None:
    """Every tag operation on an unknown project is 404 naming the project."""
    base = "/v3/projects/no-such-project/tags"
    for response in (admin.get(base), admin.put(base, json={"tags": ["a"]}),
                     admin.delete(base), admin.get(f"{base}/a"), admin.put(f"{base}/a"),
                     admin.delete(f"{base}/a")):
        assert error(response, 404) == "Could not find project: no-such-project."


def test_member_reads_but_does_not_write(admin: Api, server: Server) -> None:
    """A member of the project may list and check its tags (Keystone's project reader
    rule) but every write is 403, and the tags are unchanged."""
    user, project = admin.member_of_new_project(MEMBER_PASSWORD)
    admin.put(f"/v3/projects/{project['id']}/tags", json={"tags": ["a"]})
    base = f"/v3/projects/{project['id']}/tags"
    scope = {"project": {"id": project["id"]}}
    with Api.login(server.url, user["name"], MEMBER_PASSWORD, scope=scope) as member:
        assert member.get(base).json()["tags"] == ["a"]
        assert member.get(f"{base}/a").status_code == 204
        writes: list[httpx.Response] = [
            member.put(base, json={"tags": ["b"]}), member.delete(base),
            member.put(f"{base}/b"), member.delete(f"{base}/a")]
        for response in writes:
            error(response, 403)
        other = admin.project(tags=["a"])
        error(member.get(f"/v3/projects/{other['id']}/tags"), 403)
    assert tags_of(admin, project["id"]) == ["a"]


def _tagged(admin: Api) -> tuple[str, dict[str, str]]:
    """Four projects under a new domain: p1 (alpha, zeta), p2 (alpha, beta), p3 (beta,
    gamma), p4 (none); returns the domain id and the names by label."""
    domain = admin.domain()
    tags = {"p1": ["alpha", "zeta"], "p2": ["alpha", "beta"], "p3": ["beta", "gamma"],
            "p4": []}
    named = {label: unique(label) for label in tags}
    for label, held in tags.items():
        admin.project(name=named[label], domain_id=domain["id"], tags=held)
    return domain["id"], named


def listed(admin: Api, **params: Any) -> set[str]:
    response = admin.get("/v3/projects", params=params)
    assert response.status_code == 200, response.text
    return {p["name"] for p in response.json()["projects"]}


def test_filters_alone(admin: Api) -> None:
    """tags: all of them; tags-any: at least one; not-tags: not all of them;
    not-tags-any: none of them. Tags compare case-sensitively."""
    domain_id, n = _tagged(admin)
    cases = {
        ("tags", "alpha"): {"p1", "p2"},
        ("tags", "alpha,beta"): {"p2"},
        ("tags", "Alpha"): set(),
        ("tags-any", "zeta,beta"): {"p1", "p2", "p3"},
        ("not-tags", "alpha,beta"): {"p1", "p3", "p4"},
        ("not-tags-any", "alpha"): {"p3", "p4"},
        ("not-tags-any", "alpha,gamma"): {"p4"},
    }
    for (name, value), expected in cases.items():
        found = listed(admin, domain_id=domain_id, **{name: value})
        assert found == {n[label] for label in expected}, (name, value)


def test_filters_combined(admin: Api) -> None:
    """The tag filters combine with each other (every one must hold), with the other
    filters (name, enabled) and with limit and marker."""
    domain_id, n = _tagged(admin)
    both = {"tags": "beta", "not-tags-any": "alpha"}
    assert listed(admin, domain_id=domain_id, **both) == {n["p3"]}
    assert listed(admin, domain_id=domain_id, **{"tags-any": "alpha,beta",
                                                 "not-tags": "alpha,zeta"}) == {n["p2"], n["p3"]}
    assert listed(admin, domain_id=domain_id, **{"not-tags": "alpha",
                                                 "not-tags-any": "beta"}) == {n["p4"]}
    assert listed(admin, domain_id=domain_id, name=n["p2"], tags="alpha") == {n["p2"]}
    assert listed(admin, domain_id=domain_id, name=n["p3"], tags="alpha") == set()
    assert listed(admin, domain_id=domain_id, enabled="false", tags="alpha") == set()
    seen: list[str] = []
    params: dict[str, Any] = {"domain_id": domain_id, "tags-any": "alpha,beta", "limit": 2}
    while True:
        response = admin.get("/v3/projects", params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        seen += [p["name"] for p in page["projects"]]
        if page["links"]["next"] is None:
            break
        assert "tags-any=alpha%2Cbeta" in page["links"]["next"]
        params = dict(httpx.URL(page["links"]["next"]).params)
    assert sorted(seen) == sorted([n["p1"], n["p2"], n["p3"]])
