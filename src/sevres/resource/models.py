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
    # Ids above this project, from its domain down to its parent; () for a domain.
    ancestry: tuple[str, ...] = ()

    @property
    def depth(self) -> int:
        """Levels below the domain: a top-level project is 1, a domain 0."""
        return len(self.ancestry)

    @property
    def subtree_prefix(self) -> str:
        """The ``ancestry`` text that every project below this one starts with."""
        return "/".join((*self.ancestry, self.id))
