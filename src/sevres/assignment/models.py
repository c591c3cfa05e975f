"""Roles, implications between roles, and role assignments."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

SYSTEM_TARGET = "system"


@dataclass(frozen=True)
class Role:
    id: str
    name: str
    domain_id: str | None
    description: str | None
    extra: dict[str, Any] = field(default_factory=dict)


class TargetKind(enum.StrEnum):
    PROJECT = "project"
    DOMAIN = "domain"
    SYSTEM = "system"


class ActorKind(enum.StrEnum):
    USER = "user"
    GROUP = "group"


@dataclass(frozen=True)
class Assignment:
    actor_kind: ActorKind
    actor_id: str
    target_kind: TargetKind
    target_id: str
    role_id: str
    inherited: bool = False

    @property
    def type_code(self) -> str:
        return f"{self.actor_kind.value.title()}{self.target_kind.value.title()}"


def grant_path(a: Assignment) -> str:
    """The API path of a stored grant (what ``links.assignment`` points at)."""
    actor = f"{a.actor_kind.value}s/{a.actor_id}"
    if a.target_kind is TargetKind.SYSTEM:
        return f"system/{actor}/roles/{a.role_id}"
    path = f"{a.target_kind.value}s/{a.target_id}/{actor}/roles/{a.role_id}"
    return f"OS-INHERIT/{path}/inherited_to_projects" if a.inherited else path
