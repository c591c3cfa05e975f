"""/v3/regions, /v3/services and /v3/endpoints."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from starlette.responses import Response
from starlette.routing import Route

from sevres import errors
from sevres.api import paging, schemas, validation, views
from sevres.api.http import Call, created, json_response, no_content, route_table
from sevres.log import emit, events

if TYPE_CHECKING:
    from sevres.app import Services


def _listing(call: Call, key: str, items: Any) -> Response:
    return paging.collection(call, key, key, items)


# -- regions -------------------------------------------------------------------------------
def list_regions(call: Call) -> Response:
    found = call.services.catalog.list_regions(call.tx, call.query)
    return _listing(call, "regions", (views.region(call.base_url, r) for r in found))


def create_region(call: Call) -> Response:
    attrs = validation.wrapped(call.body, "region", schemas.REGION_CREATE)
    region_id = call.params.get("region_id")
    if region_id and attrs.get("id") not in (None, region_id):
        raise errors.ValidationError("Conflicting region IDs specified: "
                                     f"{region_id!r} != {attrs['id']!r}")
    r = call.services.catalog.create_region(call.tx, attrs, region_id)
    emit(events.ENTITY_CREATED, kind="region", entity_id=r.id)
    location = call.url(f"regions/{quote(r.id, safe='')}")  # any string may be a region id
    return created({"region": views.region(call.base_url, r)}, location)


def get_region(call: Call) -> Response:
    r = call.services.catalog.get_region(call.tx, call.params["region_id"])
    return json_response({"region": views.region(call.base_url, r)})


def update_region(call: Call) -> Response:
    attrs = validation.wrapped(call.body, "region", schemas.REGION_UPDATE)
    r = call.services.catalog.update_region(call.tx, call.params["region_id"], attrs)
    emit(events.ENTITY_UPDATED, kind="region", entity_id=r.id)
    return json_response({"region": views.region(call.base_url, r)})


def delete_region(call: Call) -> Response:
    call.services.catalog.delete_region(call.tx, call.params["region_id"])
    emit(events.ENTITY_DELETED, kind="region", entity_id=call.params["region_id"])
    return no_content()


# -- services ------------------------------------------------------------------------------
def list_services(call: Call) -> Response:
    found = call.services.catalog.list_services(call.tx, call.query)
    return _listing(call, "services", (views.service(call.base_url, x) for x in found))


def create_service(call: Call) -> Response:
    attrs = validation.wrapped(call.body, "service", schemas.SERVICE_CREATE)
    x = call.services.catalog.create_service(call.tx, attrs)
    emit(events.ENTITY_CREATED, kind="service", entity_id=x.id)
    return created({"service": views.service(call.base_url, x)}, call.url(f"services/{x.id}"))


def get_service(call: Call) -> Response:
    x = call.services.catalog.get_service(call.tx, call.params["service_id"])
    return json_response({"service": views.service(call.base_url, x)})


def update_service(call: Call) -> Response:
    attrs = validation.wrapped(call.body, "service", schemas.SERVICE_UPDATE)
    x = call.services.catalog.update_service(call.tx, call.params["service_id"], attrs)
    emit(events.ENTITY_UPDATED, kind="service", entity_id=x.id)
    return json_response({"service": views.service(call.base_url, x)})


def delete_service(call: Call) -> Response:
    call.services.catalog.delete_service(call.tx, call.params["service_id"])
    emit(events.ENTITY_DELETED, kind="service", entity_id=call.params["service_id"])
    return no_content()


# -- endpoints -----------------------------------------------------------------------------
def list_endpoints(call: Call) -> Response:
    found = call.services.catalog.list_endpoints(call.tx, call.query)
    return _listing(call, "endpoints", (views.endpoint(call.base_url, e) for e in found))


def create_endpoint(call: Call) -> Response:
    attrs = validation.wrapped(call.body, "endpoint", schemas.ENDPOINT_CREATE)
    e = call.services.catalog.create_endpoint(call.tx, attrs)
    emit(events.ENTITY_CREATED, kind="endpoint", entity_id=e.id)
    return created({"endpoint": views.endpoint(call.base_url, e)}, call.url(f"endpoints/{e.id}"))


def get_endpoint(call: Call) -> Response:
    e = call.services.catalog.get_endpoint(call.tx, call.params["endpoint_id"])
    return json_response({"endpoint": views.endpoint(call.base_url, e)})


def update_endpoint(call: Call) -> Response:
    attrs = validation.wrapped(call.body, "endpoint", schemas.ENDPOINT_UPDATE)
    e = call.services.catalog.update_endpoint(call.tx, call.params["endpoint_id"], attrs)
    emit(events.ENTITY_UPDATED, kind="endpoint", entity_id=e.id)
    return json_response({"endpoint": views.endpoint(call.base_url, e)})


def delete_endpoint(call: Call) -> Response:
    call.services.catalog.delete_endpoint(call.tx, call.params["endpoint_id"])
    emit(events.ENTITY_DELETED, kind="endpoint", entity_id=call.params["endpoint_id"])
    return no_content()


def routes(s: Services) -> list[Route]:
    return route_table(s, [
        ("GET", "/v3/regions", list_regions, "identity:list_regions"),
        ("POST", "/v3/regions", create_region, "identity:create_region"),
        ("PUT", "/v3/regions/{region_id}", create_region, "identity:create_region"),
        ("GET", "/v3/regions/{region_id}", get_region, "identity:get_region"),
        ("PATCH", "/v3/regions/{region_id}", update_region, "identity:update_region"),
        ("DELETE", "/v3/regions/{region_id}", delete_region, "identity:delete_region"),
        ("GET", "/v3/services", list_services, "identity:list_services"),
        ("POST", "/v3/services", create_service, "identity:create_service"),
        ("GET", "/v3/services/{service_id}", get_service, "identity:get_service"),
        ("PATCH", "/v3/services/{service_id}", update_service, "identity:update_service"),
        ("DELETE", "/v3/services/{service_id}", delete_service, "identity:delete_service"),
        ("GET", "/v3/endpoints", list_endpoints, "identity:list_endpoints"),
        ("POST", "/v3/endpoints", create_endpoint, "identity:create_endpoint"),
        ("GET", "/v3/endpoints/{endpoint_id}", get_endpoint, "identity:get_endpoint"),
        ("PATCH", "/v3/endpoints/{endpoint_id}", update_endpoint, "identity:update_endpoint"),
        ("DELETE", "/v3/endpoints/{endpoint_id}", delete_endpoint, "identity:delete_endpoint"),
    ])
