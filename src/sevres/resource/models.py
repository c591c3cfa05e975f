"""Domains and projects. A domain is a project that acts as a domain (``is_domain``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DEFAULT_DOMAIN_ID = "default"


@dataclass(frozen=True)
class Project:
    id: str
    name: str
    description: str | None
    enabled: bool
    domain_id: str | None  # None for a project acting as a domain
    parent_id: str | None
    is_domain: bool
    tags: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)
