"""Regions, services, endpoints, and the service catalog a token carries."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

from sevres import errors
from sevres.attributes import extra
from sevres.catalog.models import Endpoint, Region, Service
from sevres.ids import new_id
from sevres.storage.repositories import Store

_REGION_FIELDS = frozenset({"id", "description", "parent_region_id", "links"})
_SERVICE_FIELDS = frozenset({"id", "type", "enabled", "links"})
_ENDPOINT_FIELDS = frozenset(
    {"id", "interface", "region_id", "region", "service_id", "url", "enabled", "links"}
)
_URL_VARIABLE = re.compile(r"\$\((\w+)\)s")


def _substitute(url: str, values: Mapping[str, str | None]) -> str | None:
    """An endpoint URL with ``$(name)s`` filled in; None (the endpoint is left out of the
    catalog, as Keystone does) when a variable has no value for this token."""
    names = _URL_VARIABLE.findall(url)
    if any(values.get(n) is None for n in names):
        return None
    return _URL_VARIABLE.sub(lambda m: str(values[m.group(1)]), url)



class CatalogService:
    # -- regions -------------------------------------------------------------------------
    def get_region(self, tx: Store, region_id: str) -> Region:
        region = tx.catalog.get_region(region_id)
        if region is None:
            raise errors.not_found("region", region_id)
        return region

    def list_regions(self, tx: Store, query: Mapping[str, str]) -> list[Region]:
        return tx.catalog.list_regions(query)

    def create_region(self, tx: Store, attrs: Mapping[str, Any], region_id: str | None) -> Region:
        ident = region_id or attrs.get("id") or new_id()
        if tx.catalog.get_region(ident) is not None:
            raise errors.Conflict(
                f"Conflict occurred attempting to store region - Duplicate ID, {ident}."
            )
        parent = attrs.get("parent_region_id")
        if parent:
            self._check_parent(tx, ident, parent)
        region = Region(ident, attrs.get("description") or "", parent,
                        extra(attrs, _REGION_FIELDS))
        tx.catalog.save_region(region, new=True)
        return region

    def update_region(self, tx: Store, region_id: str, attrs: Mapping[str, Any]) -> Region:
        region = self.get_region(tx, region_id)
        parent = attrs.get("parent_region_id", region.parent_region_id)
        if parent and parent != region.parent_region_id:
            self._check_parent(tx, region.id, parent)
        updated = dataclasses.replace(
            region, description=attrs.get("description", region.description) or "",
            parent_region_id=parent, extra={**region.extra, **extra(attrs, _REGION_FIELDS)},
        )
        tx.catalog.save_region(updated, new=False)
        return updated

    def delete_region(self, tx: Store, region_id: str) -> None:
        """Delete a region and every region below it (as Keystone does), unless one of
        them still has endpoints."""
        self.get_region(tx, region_id)
        children: dict[str, list[str]] = {}
        for r in tx.catalog.list_regions({}):
            if r.parent_region_id:
                children.setdefault(r.parent_region_id, []).append(r.id)
        tree, frontier = [region_id], [region_id]
        while frontier:
            frontier = [c for f in frontier for c in children.get(f, ()) if c not in tree]
            tree.extend(frontier)
        if any(tx.catalog.region_in_use(ident) for ident in tree):
            raise errors.Forbidden(
                f"Unable to delete region {region_id} because it or its child regions have "
                "associated endpoints."
            )
        for ident in reversed(tree):
            tx.catalog.delete_region(ident)

    def _check_parent(self, tx: Store, region_id: str, parent_id: str) -> None:
        seen = {region_id}
        current: str | None = parent_id
        while current:
            if current in seen:
                raise errors.ValidationError(
                    f"Circular reference or a repeated entry found in region tree - {parent_id}."
                )
            seen.add(current)
            parent = tx.catalog.get_region(current)
            if parent is None:
                raise errors.not_found("region", current)
            current = parent.parent_region_id

    # -- services ------------------------------------------------------------------------
    def get_service(self, tx: Store, service_id: str) -> Service:
        service = tx.catalog.get_service(service_id)
        if service is None:
            raise errors.not_found("service", service_id)
        return service

    def list_services(self, tx: Store, query: Mapping[str, str]) -> list[Service]:
        return tx.catalog.list_services(query)

    def create_service(self, tx: Store, attrs: Mapping[str, Any]) -> Service:
        service = Service(new_id(), attrs["type"], attrs.get("enabled", True),
                          extra(attrs, _SERVICE_FIELDS))
        tx.catalog.save_service(service, new=True)
        return service

    def update_service(self, tx: Store, service_id: str, attrs: Mapping[str, Any]) -> Service:
        service = self.get_service(tx, service_id)
        updated = dataclasses.replace(
            service, type=attrs.get("type", service.type),
            enabled=attrs.get("enabled", service.enabled),
            extra={**service.extra, **extra(attrs, _SERVICE_FIELDS)},
        )
        tx.catalog.save_service(updated, new=False)
        return updated

    def delete_service(self, tx: Store, service_id: str) -> None:
        self.get_service(tx, service_id)
        tx.catalog.delete_service(service_id)

    # -- endpoints -----------------------------------------------------------------------
    def get_endpoint(self, tx: Store, endpoint_id: str) -> Endpoint:
        endpoint = tx.catalog.get_endpoint(endpoint_id)
        if endpoint is None:
            raise errors.not_found("endpoint", endpoint_id)
        return endpoint

    def list_endpoints(self, tx: Store, query: Mapping[str, str]) -> list[Endpoint]:
        return tx.catalog.list_endpoints(query)

    def create_endpoint(self, tx: Store, attrs: Mapping[str, Any]) -> Endpoint:
        if tx.catalog.get_service(attrs["service_id"]) is None:  # 400 here, as in Keystone
            raise errors.missing_attribute("endpoint service_id", "service table")
        region_id = attrs.get("region_id") or attrs.get("region")
        if region_id:
            self._check_endpoint_region(tx, region_id)
        endpoint = Endpoint(new_id(), attrs["interface"], region_id, attrs["service_id"],
                            attrs["url"], attrs.get("enabled", True),
                            extra(attrs, _ENDPOINT_FIELDS))
        tx.catalog.save_endpoint(endpoint, new=True)
        return endpoint

    def update_endpoint(self, tx: Store, endpoint_id: str, attrs: Mapping[str, Any]) -> Endpoint:
        endpoint = self.get_endpoint(tx, endpoint_id)
        if "service_id" in attrs:
            self.get_service(tx, attrs["service_id"])
        region_id = attrs.get("region_id", attrs.get("region", endpoint.region_id))
        if region_id and region_id != endpoint.region_id:
            self._check_endpoint_region(tx, region_id)
        updated = dataclasses.replace(
            endpoint, interface=attrs.get("interface", endpoint.interface), region_id=region_id,
            service_id=attrs.get("service_id", endpoint.service_id),
            url=attrs.get("url", endpoint.url), enabled=attrs.get("enabled", endpoint.enabled),
            extra={**endpoint.extra, **extra(attrs, _ENDPOINT_FIELDS)},
        )
        tx.catalog.save_endpoint(updated, new=False)
        return updated

    def _check_endpoint_region(self, tx: Store, region_id: str) -> None:
        if tx.catalog.get_region(region_id) is None:
            raise errors.missing_attribute("endpoint region_id", "region table")

    def delete_endpoint(self, tx: Store, endpoint_id: str) -> None:
        self.get_endpoint(tx, endpoint_id)
        tx.catalog.delete_endpoint(endpoint_id)

    # -- the catalog ---------------------------------------------------------------------
    def catalog(self, tx: Store, user_id: str | None = None,
                project_id: str | None = None) -> list[dict[str, Any]]:
        """Keystone's v3 catalog: every service (a disabled one with no endpoints), each
        with its enabled endpoints, ``$(project_id)s``-style URL variables filled in."""
        endpoints = [e for e in tx.catalog.list_endpoints({}) if e.enabled]
        values = {"user_id": user_id, "project_id": project_id, "tenant_id": project_id}
        entries = []
        for service in tx.catalog.list_services({}):
            mine = [(e, _substitute(e.url, values)) for e in endpoints
                    if e.service_id == service.id and service.enabled]
            entries.append({
                "endpoints": [
                    {"id": e.id, "interface": e.interface, "region_id": e.region_id,
                     "url": url, "region": e.region_id}
                    for e, url in mine if url is not None
                ],
                "id": service.id,
                "type": service.type,
                "name": service.extra.get("name", ""),
            })
        return entries
