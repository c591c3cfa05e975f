"""Regions, services and endpoints."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

INTERFACES = ("public", "internal", "admin")


@dataclass(frozen=True)
class Region:
    id: str
    description: str
    parent_region_id: str | None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Service:
    id: str
    type: str
    enabled: bool
    extra: dict[str, Any] = field(default_factory=dict)  # name and description live here


@dataclass(frozen=True)
class Endpoint:
    id: str
    interface: str
    region_id: str | None
    service_id: str
    url: str
    enabled: bool
    extra: dict[str, Any] = field(default_factory=dict)
