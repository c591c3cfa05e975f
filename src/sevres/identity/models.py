"""Users."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class User:
    id: str
    name: str
    domain_id: str
    enabled: bool
    default_project_id: str | None
    password_expires_at: datetime.datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class LoginRecord:
    """What a password check needs: the user (None if unknown), the stored hash and
    whether the user's domain is enabled."""

    user: User | None
    hashed: str | None
    domain_enabled: bool


@dataclass(frozen=True)
class Group:
    id: str
    name: str
    domain_id: str
    description: str | None
    extra: dict[str, Any] = field(default_factory=dict)
