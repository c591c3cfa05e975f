"""SQL for regions, services and endpoints."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from sevres.catalog.models import Endpoint, Region, Service
from sevres.storage import tables
from sevres.storage.repositories import filters, jsoncol

r_t, s_t, e_t = tables.region, tables.service, tables.endpoint


def _region(row: sa.Row[Any]) -> Region:
    return Region(row.id, row.description, row.parent_region_id, jsoncol.load_dict(row.extra))


def _service(row: sa.Row[Any]) -> Service:
    return Service(row.id, row.type, bool(row.enabled), jsoncol.load_dict(row.extra))


def _endpoint(row: sa.Row[Any]) -> Endpoint:
    return Endpoint(row.id, row.interface, row.region_id, row.service_id, row.url,
                    bool(row.enabled), jsoncol.load_dict(row.extra))


class CatalogRepository:
    def __init__(self, connection: sa.Connection) -> None:
        self._c = connection

    # regions
    def get_region(self, region_id: str) -> Region | None:
        row = self._c.execute(sa.select(r_t).where(r_t.c.id == region_id)).first()
        return _region(row) if row else None

    def list_regions(self, query_filters: Mapping[str, str]) -> list[Region]:
        query = filters.apply(sa.select(r_t), r_t, query_filters, exact=("parent_region_id",))
        return [_region(r) for r in self._c.execute(query.order_by(r_t.c.id))]

    def save_region(self, region: Region, new: bool) -> None:
        values = {"description": region.description, "parent_region_id": region.parent_region_id,
                  "extra": jsoncol.dump(region.extra)}
        if new:
            self._c.execute(sa.insert(r_t).values(id=region.id, **values))
        else:
            self._c.execute(sa.update(r_t).where(r_t.c.id == region.id).values(values))

    def delete_region(self, region_id: str) -> None:
        self._c.execute(sa.delete(r_t).where(r_t.c.id == region_id))

    def region_in_use(self, region_id: str) -> bool:
        """Whether any endpoint sits in this region (child regions are the caller's)."""
        used = self._c.execute(sa.select(e_t.c.id).where(e_t.c.region_id == region_id)).first()
        return used is not None

    # services
    def get_service(self, service_id: str) -> Service | None:
        row = self._c.execute(sa.select(s_t).where(s_t.c.id == service_id)).first()
        return _service(row) if row else None

    def list_services(self, query_filters: Mapping[str, str]) -> list[Service]:
        query = filters.apply(sa.select(s_t), s_t, query_filters, exact=("type",),
                              booleans=("enabled",))
        services = [_service(r) for r in self._c.execute(query.order_by(s_t.c.type, s_t.c.id))]
        if "name" in query_filters:  # the name is an extra attribute, as in Keystone
            services = [s for s in services if s.extra.get("name") == query_filters["name"]]
        return services

    def save_service(self, service: Service, new: bool) -> None:
        values = {"type": service.type, "enabled": service.enabled,
                  "extra": jsoncol.dump(service.extra)}
        if new:
            self._c.execute(sa.insert(s_t).values(id=service.id, **values))
        else:
            self._c.execute(sa.update(s_t).where(s_t.c.id == service.id).values(values))

    def delete_service(self, service_id: str) -> None:
        self._c.execute(sa.delete(e_t).where(e_t.c.service_id == service_id))
        self._c.execute(sa.delete(s_t).where(s_t.c.id == service_id))

    # endpoints
    def get_endpoint(self, endpoint_id: str) -> Endpoint | None:
        row = self._c.execute(sa.select(e_t).where(e_t.c.id == endpoint_id)).first()
        return _endpoint(row) if row else None

    def list_endpoints(self, query_filters: Mapping[str, str]) -> list[Endpoint]:
        query = filters.apply(sa.select(e_t), e_t, query_filters,
                              exact=("interface", "service_id", "region_id"), booleans=("enabled",))
        return [_endpoint(r) for r in self._c.execute(query.order_by(e_t.c.id))]

    def save_endpoint(self, endpoint: Endpoint, new: bool) -> None:
        values = {"interface": endpoint.interface, "region_id": endpoint.region_id,
                  "service_id": endpoint.service_id, "url": endpoint.url,
                  "enabled": endpoint.enabled, "extra": jsoncol.dump(endpoint.extra)}
        if new:
            self._c.execute(sa.insert(e_t).values(id=endpoint.id, **values))
        else:
            self._c.execute(sa.update(e_t).where(e_t.c.id == endpoint.id).values(values))

    def delete_endpoint(self, endpoint_id: str) -> None:
        self._c.execute(sa.delete(e_t).where(e_t.c.id == endpoint_id))
