"""The API contract: docs/openapi.json is the OpenAPI 3.1 description generated from the
routes the app serves; every route is described, and the description is valid."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import httpx
import jsonschema
import pytest
from starlette.responses import Response
from starlette.routing import Route

from sevres.api import openapi

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return openapi.build(openapi.offline_app().routes)


def test_the_checked_in_description_is_the_generated_one(document: dict[str, Any]) -> None:
    """Fails when the API surface changed without regenerating docs/openapi.json."""
    checked_in = (ROOT / "docs" / "openapi.json").read_text()
    assert checked_in == openapi.render(document), (
        "docs/openapi.json is stale: run `python -m sevres.api.openapi > docs/openapi.json` "
        "and add a CHANGELOG.md line tagged ApiImpact")


def test_every_operation_the_app_serves_is_described(document: dict[str, Any]) -> None:
    served = openapi.served(openapi.offline_app().routes)
    described = {(method.upper(), path) for path, item in document["paths"].items()
                 for method in item}
    assert described == served
    assert ("HEAD", "/v3/auth/tokens") in described  # HEAD follows every GET
    assert ("GET", "/v3/sevres/openapi.json") in described


def _routes_plus(*extra: Route) -> list[Any]:
    return [*openapi.offline_app().routes, *extra]


async def _nothing(request: object) -> Response:
    return Response()


def test_an_undescribed_route_fails_loudly() -> None:
    with pytest.raises(openapi.Undescribed, match=r"POST /v3/widgets: served but not in"):
        openapi.build(_routes_plus(Route("/v3/widgets", _nothing, methods=["POST"])))


def test_an_entry_naming_no_route_fails_loudly() -> None:
    routes = [r for r in openapi.offline_app().routes
              if not (isinstance(r, Route) and r.path == "/v3/sevres/jwks")]
    with pytest.raises(openapi.Undescribed,
                       match=r"GET /v3/sevres/jwks: described but not served"):
        openapi.build(routes)


def test_the_description_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    definitions = pytest.importorskip("schemathesis.specs.openapi.definitions")
    errors = list(jsonschema.Draft202012Validator(definitions.OPENAPI_31).iter_errors(document))
    assert not errors, [f"{list(e.absolute_path)}: {e.message[:200]}" for e in errors[:5]]
    assert document["openapi"] == "3.1.0"
    for name, schema in document["components"]["schemas"].items():
        try:
            jsonschema.Draft202012Validator.check_schema(schema)
        except jsonschema.SchemaError as error:  # pragma: no cover (the message says which)
            pytest.fail(f"components/schemas/{name}: {error.message}")


def test_operations_say_what_they_answer(document: dict[str, Any]) -> None:
    """201 names the new resource (Location), 204 has no body, errors share one schema,
    tokens come and go in X-Subject-Token, and only public paths drop the token."""
    ids = set()
    for path, item in document["paths"].items():
        for method, operation in item.items():
            ids.add(operation["operationId"])
            responses = operation["responses"]
            if "201" in responses:
                assert "Location" in responses["201"]["headers"], (method, path)
            if "204" in responses:
                assert "content" not in responses["204"], (method, path)
            if method == "head":
                assert all("content" not in r for r in responses.values() if "$ref" not in r)
            for code, response in responses.items():
                if code.startswith("4"):
                    assert response["$ref"].startswith("#/components/responses/"), (method, path)
    assert len(ids) == sum(len(item) for item in document["paths"].values())
    tokens = document["paths"]["/v3/auth/tokens"]
    assert "X-Subject-Token" in tokens["post"]["responses"]["201"]["headers"]
    assert tokens["post"]["security"] == []
    assert any(p["name"] == "X-Subject-Token" and p["in"] == "header" and p["required"]
               for p in tokens["get"]["parameters"])
    assert document["security"] == [{"token": []}]
    assert document["components"]["securitySchemes"]["token"] == {
        "type": "apiKey", "in": "header", "name": "X-Auth-Token",
        "description": document["components"]["securitySchemes"]["token"]["description"]}
    public = {p for p, item in document["paths"].items()
              for op in item.values() if op.get("security") == []}
    assert public == {"/", "/v3", "/v3/", "/v3/auth/tokens", "/v3/users/{user_id}/password",
                      "/v3/sevres/jwks", "/v3/sevres/openapi.json", "/metrics"}
    error = document["components"]["schemas"]["Error"]
    assert error["properties"]["error"]["required"] == ["code", "message", "title"]


def test_request_bodies_are_the_validators_schemas(document: dict[str, Any]) -> None:
    from sevres.api import schemas

    components = document["components"]["schemas"]
    assert components["ProjectCreate"] == schemas.PROJECT_CREATE
    assert components["Auth"] == schemas.AUTH
    create = document["paths"]["/v3/projects"]["post"]["requestBody"]
    assert create["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ProjectCreateRequest"}
    assert components["ProjectCreateRequest"]["required"] == ["project"]


def test_the_service_serves_its_description_without_a_token() -> None:
    async def fetch() -> httpx.Response:
        transport = httpx.ASGITransport(app=openapi.offline_app())
        async with httpx.AsyncClient(transport=transport, base_url="http://sevres") as client:
            return await client.get("/v3/sevres/openapi.json")

    response = anyio.run(fetch)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.text == (ROOT / "docs" / "openapi.json").read_text()
    assert json.loads(response.text)["openapi"] == "3.1.0"


def test_a_server_describes_what_it_serves() -> None:
    """With /metrics switched off, the served description leaves it out."""
    document = openapi.build(openapi.offline_app(metrics=False).routes, complete=False)
    assert "/metrics" not in document["paths"]
    assert "metrics" not in {tag["name"] for tag in document["tags"]}
    assert "/v3/projects" in document["paths"]
    with pytest.raises(openapi.Undescribed, match="GET /metrics: described but not served"):
        openapi.build(openapi.offline_app(metrics=False).routes)


def test_lists_take_pages_and_every_operation_documents_size_limits(
        document: dict[str, Any]) -> None:
    """Every list (an answer with collection links) takes limit and marker and documents
    their 400; every operation documents 413 (body over 1 MiB) and 431 (headers)."""
    lists = 0
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            assert {"413", "431"} <= set(operation["responses"]), (method, path)
            schema = operation["responses"].get("200", {}).get("content", {}).get(
                "application/json", {}).get("schema", {})
            answer = document["components"]["schemas"].get(
                schema.get("$ref", "").rsplit("/", 1)[-1], {})
            if answer.get("properties", {}).get("links") == {
                    "$ref": "#/components/schemas/CollectionLinks"}:
                lists += 1
                names = {p["name"] for p in operation["parameters"] if p["in"] == "query"}
                assert {"limit", "marker"} <= names, path
                assert "400" in operation["responses"], path
    assert lists >= 25
