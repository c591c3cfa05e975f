"""Regions, services, endpoints, the service catalog, and the /v3/auth/* reads."""

from __future__ import annotations

from typing import Any

import httpx

from tests.factories import Api, password_auth, unique
from tests.server import ADMIN_PASSWORD, Server

INCORRECT = ("The server could not comply with the request since it is either malformed "
             "or otherwise incorrect. The client is assumed to be in error.")


def _region(admin: Api, **attrs: Any) -> dict[str, Any]:
    return admin.make("regions", "region", **attrs)


def _service(admin: Api, **attrs: Any) -> dict[str, Any]:
    return admin.make("services", "service", **{"type": unique("type"), **attrs})


def _endpoint(admin: Api, service_id: str, **attrs: Any) -> dict[str, Any]:
    return admin.make("endpoints", "endpoint", **{
        "service_id": service_id, "interface": "public", "url": "http://example.com/",
        **attrs})


def _catalog_entry(catalog: list[dict[str, Any]], service_id: str) -> dict[str, Any]:
    (entry,) = [s for s in catalog if s["id"] == service_id]
    return entry


# -- regions -------------------------------------------------------------------------------
def test_region_create_with_and_without_id(admin: Api) -> None:
    """POST with an id uses it; without one the region gets a 32-hex id; both 201 with a
    Location, description defaulting to "" and parent_region_id null."""
    region_id = unique("Reg")
    response = admin.post("/v3/regions", json={"region": {"id": region_id}})
    assert response.status_code == 201
    body = response.json()["region"]
    assert body["id"] == region_id
    assert body["description"] == "" and body["parent_region_id"] is None
    assert response.headers["Location"].endswith(f"/v3/regions/{region_id}")
    assert body["links"]["self"].endswith(f"/v3/regions/{region_id}")
    auto = admin.post("/v3/regions", json={"region": {"description": "autoid"}})
    assert auto.status_code == 201
    auto_id = auto.json()["region"]["id"]
    assert len(auto_id) == 32 and int(auto_id, 16) >= 0
    assert admin.get(f"/v3/regions/{auto_id}").json()["region"]["description"] == "autoid"


def test_region_put_creates_with_the_path_id(admin: Api) -> None:
    """PUT /v3/regions/{id} creates the region with that id (201)."""
    region_id = unique("RegPut")
    response = admin.put(f"/v3/regions/{region_id}", json={"region": {"description": "put"}})
    assert response.status_code == 201
    assert response.json()["region"]["id"] == region_id
    assert admin.get(f"/v3/regions/{region_id}").status_code == 200


def test_region_duplicate_is_409(admin: Api) -> None:
    """Creating a region whose id exists is 409 Conflict."""
    region = _region(admin, id=unique("Dup"))
    response = admin.post("/v3/regions", json={"region": {"id": region["id"]}})
    assert response.status_code == 409
    assert region["id"] in response.json()["error"]["message"]
    assert admin.put(f"/v3/regions/{region['id']}", json={"region": {}}).status_code == 409


def test_region_parent_list_patch_and_unknown(admin: Api) -> None:
    """A child names its parent; ?parent_region_id filters; PATCH changes the description;
    an unknown region is 404 'Could not find region: <id>.'"""
    parent = _region(admin, id=unique("Parent"))
    child = _region(admin, id=unique("Child"), parent_region_id=parent["id"])
    assert child["parent_region_id"] == parent["id"]
    listed = admin.get("/v3/regions", params={"parent_region_id": parent["id"]}).json()
    assert [r["id"] for r in listed["regions"]] == [child["id"]]
    patched = admin.patch(f"/v3/regions/{child['id']}", json={"region": {"description": "d"}})
    assert patched.status_code == 200 and patched.json()["region"]["description"] == "d"
    missing = admin.get("/v3/regions/nope-region")
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == "Could not find region: nope-region."


def test_region_with_endpoints_cannot_be_deleted(admin: Api) -> None:
    """DELETE of a region holding an endpoint (itself or below it) is 403, and nothing goes."""
    parent = _region(admin, id=unique("Busy"))
    child = _region(admin, id=unique("BusyChild"), parent_region_id=parent["id"])
    _endpoint(admin, _service(admin)["id"], region_id=child["id"])
    for region in (parent, child):
        response = admin.delete(f"/v3/regions/{region['id']}")
        assert response.status_code == 403
        assert response.json()["error"]["message"] == (
            f"Unable to delete region {region['id']} because it or its child regions have "
            "associated endpoints.")
    assert admin.get(f"/v3/regions/{parent['id']}").status_code == 200
    assert admin.get(f"/v3/regions/{child['id']}").status_code == 200


def test_region_delete_takes_child_regions(admin: Api) -> None:
    """Deleting a region with child regions (and no endpoints anywhere below) answers 204
    and deletes the children too, as Keystone does."""
    parent = _region(admin, id=unique("Top"))
    child = _region(admin, id=unique("Mid"), parent_region_id=parent["id"])
    grandchild = _region(admin, id=unique("Low"), parent_region_id=child["id"])
    assert admin.delete(f"/v3/regions/{parent['id']}").status_code == 204
    for region in (parent, child, grandchild):
        assert admin.get(f"/v3/regions/{region['id']}").status_code == 404
    assert admin.delete(f"/v3/regions/{child['id']}").status_code == 404


# -- services ------------------------------------------------------------------------------
def test_service_crud(admin: Api) -> None:
    """A service is created 201 with a Location, shown, patched, listed, deleted 204."""
    kind = unique("compute")
    response = admin.post("/v3/services", json={"service": {"type": kind, "name": "nova"}})
    assert response.status_code == 201
    service = response.json()["service"]
    assert response.headers["Location"].endswith(f"/v3/services/{service['id']}")
    assert (service["type"], service["name"], service["enabled"]) == (kind, "nova", True)
    assert admin.get(f"/v3/services/{service['id']}").json()["service"] == service
    patched = admin.patch(f"/v3/services/{service['id']}", json={"service": {"enabled": False}})
    assert patched.status_code == 200 and patched.json()["service"]["enabled"] is False
    assert service["id"] in {s["id"] for s in admin.get("/v3/services").json()["services"]}
    assert admin.delete(f"/v3/services/{service['id']}").status_code == 204
    assert admin.get(f"/v3/services/{service['id']}").status_code == 404
    assert admin.delete(f"/v3/services/{service['id']}").status_code == 404


def test_service_type_is_required(admin: Api) -> None:
    """A service without a type is 400 naming 'type'."""
    response = admin.post("/v3/services", json={"service": {"name": "x"}})
    assert response.status_code == 400
    assert "'type' is a required property" in response.json()["error"]["message"]


def test_service_duplicates_allowed_and_type_filter(admin: Api) -> None:
    """Two services with the same type and name are both created (as in Keystone), and
    ?type= lists exactly the services of that type."""
    kind = unique("object-store")
    first = _service(admin, type=kind, name="swift")
    second = _service(admin, type=kind, name="swift")
    _service(admin)
    listed = admin.get("/v3/services", params={"type": kind}).json()["services"]
    assert sorted(s["id"] for s in listed) == sorted([first["id"], second["id"]])
    identity = admin.get("/v3/services", params={"type": "identity"}).json()["services"]
    assert [s["type"] for s in identity] == ["identity"]


# -- endpoints -----------------------------------------------------------------------------
def test_endpoint_crud(admin: Api) -> None:
    """An endpoint is created 201 with a Location, echoes region and region_id, is shown,
    patched, filtered by service and interface, and deleted 204."""
    region = _region(admin, id=unique("EpReg"))
    service = _service(admin)
    response = admin.post("/v3/endpoints", json={"endpoint": {
        "service_id": service["id"], "interface": "internal", "url": "http://e.example/",
        "region_id": region["id"]}})
    assert response.status_code == 201
    endpoint = response.json()["endpoint"]
    assert response.headers["Location"].endswith(f"/v3/endpoints/{endpoint['id']}")
    assert endpoint["region_id"] == endpoint["region"] == region["id"]
    assert endpoint["enabled"] is True and endpoint["service_id"] == service["id"]
    legacy = _endpoint(admin, service["id"], region=region["id"])
    assert legacy["region_id"] == region["id"]
    patched = admin.patch(f"/v3/endpoints/{endpoint['id']}",
                          json={"endpoint": {"url": "http://other.example/"}})
    assert patched.status_code == 200
    assert patched.json()["endpoint"]["url"] == "http://other.example/"
    listed = admin.get("/v3/endpoints", params={"service_id": service["id"],
                                                "interface": "internal"}).json()["endpoints"]
    assert [e["id"] for e in listed] == [endpoint["id"]]
    assert admin.delete(f"/v3/endpoints/{endpoint['id']}").status_code == 204
    assert admin.get(f"/v3/endpoints/{endpoint['id']}").status_code == 404


def test_endpoint_bad_interface_is_400(admin: Api) -> None:
    """An interface outside admin/internal/public is 400 naming the field."""
    service = _service(admin)
    response = admin.post("/v3/endpoints", json={"endpoint": {
        "service_id": service["id"], "interface": "bogus", "url": "http://example.com/"}})
    assert response.status_code == 400
    message = response.json()["error"]["message"]
    assert "interface" in message and "bogus" in message


def test_endpoint_unknown_service_or_region_is_400(admin: Api) -> None:
    """An unknown service or region is a 400 with Keystone's 'Expecting to find endpoint
    ... in ... table.' message, not a 404."""
    service = _service(admin)
    response = admin.post("/v3/endpoints", json={"endpoint": {
        "service_id": "nope", "interface": "public", "url": "http://example.com/"}})
    assert response.status_code == 400
    assert response.json()["error"]["message"] == (
        f"Expecting to find endpoint service_id in service table. {INCORRECT}")
    response = admin.post("/v3/endpoints", json={"endpoint": {
        "service_id": service["id"], "interface": "public", "url": "http://example.com/",
        "region_id": "NoRegion"}})
    assert response.status_code == 400
    assert response.json()["error"]["message"] == (
        f"Expecting to find endpoint region_id in region table. {INCORRECT}")
    assert admin.get("/v3/endpoints", params={"service_id": service["id"]}).json()[
        "endpoints"] == []


def test_endpoint_url_is_required(admin: Api) -> None:
    """An endpoint without a url is 400 naming 'url'."""
    service = _service(admin)
    response = admin.post("/v3/endpoints", json={"endpoint": {
        "service_id": service["id"], "interface": "public"}})
    assert response.status_code == 400
    assert "'url' is a required property" in response.json()["error"]["message"]


def test_service_delete_takes_its_endpoints(admin: Api) -> None:
    """Deleting a service deletes its endpoints."""
    service = _service(admin)
    endpoint = _endpoint(admin, service["id"])
    assert admin.delete(f"/v3/services/{service['id']}").status_code == 204
    assert admin.get(f"/v3/endpoints/{endpoint['id']}").status_code == 404


# -- the catalog ---------------------------------------------------------------------------
def test_auth_catalog_lists_identity_with_three_endpoints(admin: Api) -> None:
    """GET /v3/auth/catalog with the admin's project token lists the bootstrap identity
    service with its public, internal and admin endpoints; links has self only."""
    response = admin.get("/v3/auth/catalog")
    assert response.status_code == 200
    body = response.json()
    assert set(body["links"]) == {"self"}
    assert body["links"]["self"].endswith("/v3/auth/catalog")
    identity = [s for s in body["catalog"] if s["type"] == "identity"]
    assert identity and identity[0]["name"] == "keystone"
    endpoints = identity[0]["endpoints"]
    assert sorted(e["interface"] for e in endpoints) == ["admin", "internal", "public"]
    for e in endpoints:
        assert set(e) == {"id", "interface", "region_id", "url", "region"}
        assert e["region"] == e["region_id"] == "RegionOne"
    token_catalog = admin.body["catalog"]
    assert {s["id"] for s in token_catalog} <= {s["id"] for s in body["catalog"]}


def test_auth_catalog_unscoped_token_is_403(anonymous: httpx.Client) -> None:
    """An unscoped token may not read a catalog: 403 with Keystone's bare message."""
    issued = anonymous.post("/v3/auth/tokens", json=password_auth("admin", ADMIN_PASSWORD))
    assert issued.status_code == 201
    assert "catalog" not in issued.json()["token"]
    token = issued.headers["X-Subject-Token"]
    response = anonymous.get("/v3/auth/catalog", headers={"X-Auth-Token": token})
    assert response.status_code == 403
    assert response.json()["error"]["message"] == (
        "You are not authorized to perform the requested action.")


def test_catalog_lists_services_without_enabled_endpoints(admin: Api) -> None:
    """A service whose only endpoint is disabled, and a disabled service, are still in the
    catalog with no endpoints; disabled endpoints never appear."""
    lonely = _service(admin, name="lonely")
    _endpoint(admin, lonely["id"], enabled=False)
    disabled = _service(admin, name="off", enabled=False)
    _endpoint(admin, disabled["id"])
    catalog = admin.get("/v3/auth/catalog").json()["catalog"]
    assert _catalog_entry(catalog, lonely["id"])["endpoints"] == []
    assert _catalog_entry(catalog, disabled["id"])["endpoints"] == []
    assert _catalog_entry(catalog, lonely["id"])["name"] == "lonely"


def test_catalog_substitutes_project_and_user_ids(admin: Api, server: Server) -> None:
    """$(project_id)s, $(tenant_id)s and $(user_id)s in endpoint URLs are filled in with
    the token's project and user in the token catalog and /v3/auth/catalog, and stay raw
    in /v3/endpoints."""
    service = _service(admin)
    raw = {
        "public": "http://example.com/v2.1/$(project_id)s",
        "internal": "http://example.com/v1/AUTH_$(tenant_id)s",
        "admin": "http://example.com/users/$(user_id)s",
    }
    for interface, url in raw.items():
        _endpoint(admin, service["id"], interface=interface, url=url)
    with Api.login(server.url, "admin", ADMIN_PASSWORD) as fresh:
        project_id, user_id = fresh.body["project"]["id"], fresh.body["user"]["id"]
        expected = {
            "public": f"http://example.com/v2.1/{project_id}",
            "internal": f"http://example.com/v1/AUTH_{project_id}",
            "admin": f"http://example.com/users/{user_id}",
        }
        in_token = _catalog_entry(fresh.body["catalog"], service["id"])["endpoints"]
        assert {e["interface"]: e["url"] for e in in_token} == expected
        validated = fresh.get("/v3/auth/tokens", headers={"X-Subject-Token": fresh.token})
        in_validated = _catalog_entry(validated.json()["token"]["catalog"], service["id"])
        assert {e["interface"]: e["url"] for e in in_validated["endpoints"]} == expected
        auth_catalog = fresh.get("/v3/auth/catalog").json()["catalog"]
        in_auth = _catalog_entry(auth_catalog, service["id"])["endpoints"]
        assert {e["interface"]: e["url"] for e in in_auth} == expected
    listed = admin.get("/v3/endpoints", params={"service_id": service["id"]}).json()
    assert {e["interface"]: e["url"] for e in listed["endpoints"]} == raw


# -- /v3/auth/* and a user's projects ------------------------------------------------------
def test_auth_projects_domains_and_system(admin: Api) -> None:
    """/v3/auth/projects lists the admin project, /v3/auth/system says all, and
    /v3/auth/domains lists a domain once the user holds a role on it."""
    projects = admin.get("/v3/auth/projects")
    assert projects.status_code == 200
    assert admin.body["project"]["id"] in {p["id"] for p in projects.json()["projects"]}
    system = admin.get("/v3/auth/system")
    assert system.status_code == 200
    assert system.json()["system"] == [{"all": True}]
    assert system.json()["links"]["self"].endswith("/v3/auth/system")
    domain = admin.domain()
    before = admin.get("/v3/auth/domains").json()["domains"]
    assert domain["id"] not in {d["id"] for d in before}
    role = admin.role_id("reader")
    path = f"/v3/domains/{domain['id']}/users/{admin.body['user']['id']}/roles/{role}"
    assert admin.put(path).status_code == 204
    after = admin.get("/v3/auth/domains").json()["domains"]
    assert domain["id"] in {d["id"] for d in after}
    assert admin.delete(path).status_code == 204


def test_member_sees_only_their_projects(admin: Api, server: Server) -> None:
    """A member's /v3/auth/projects and /v3/users/{id}/projects list exactly the projects
    they hold a role on, as full project objects; /v3/auth/system is empty for them."""
    user, project = admin.member_of_new_project()
    second = admin.project()
    admin.grant(second["id"], user["id"], admin.role_id("reader"))
    expected = sorted([project["id"], second["id"]])
    listed = admin.get(f"/v3/users/{user['id']}/projects")
    assert listed.status_code == 200
    assert sorted(p["id"] for p in listed.json()["projects"]) == expected
    assert all(p["domain_id"] == "default" for p in listed.json()["projects"])
    scope = {"project": {"id": project["id"]}}
    with Api.login(server.url, user["name"], "member-Pa55word", scope=scope) as member:
        mine = member.get("/v3/auth/projects")
        assert mine.status_code == 200
        assert sorted(p["id"] for p in mine.json()["projects"]) == expected
        assert member.get("/v3/auth/system").json()["system"] == []
        assert member.get("/v3/auth/domains").json()["domains"] == []
