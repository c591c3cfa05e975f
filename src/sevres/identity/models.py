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
    password_expires_at: datetime.datetime | None = None  # the current password's
    extra: dict[str, Any] = field(default_factory=dict)
    # Resource options (Keystone's user options: ignore_password_expiry, lock_password...)
    options: dict[str, Any] = field(default_factory=dict)
    created_at: datetime.datetime | None = None

    def option(self, name: str) -> bool:
        """Whether a boolean resource option is set to true (unset means false)."""
        return self.options.get(name) is True


@dataclass(frozen=True)
class Password:
    """A user's current password: its hash and the dates the compliance rules read."""

    hash: str
    created_at: datetime.datetime
    expires_at: datetime.datetime | None
    self_service: bool  # set by the user (POST /v3/users/{id}/password), not an admin


@dataclass(frozen=True)
class LoginState:
    """A user's login bookkeeping (table ``login_state``): consecutive failed logins and
    the day of the last successful one. Read fresh at each login, never memoised."""

    failed_count: int = 0
    failed_at: datetime.datetime | None = None
    last_active_on: datetime.date | None = None


@dataclass(frozen=True)
class LoginRecord:
    """What a password check needs: the user (None if unknown), the current password
    and whether the user's domain is enabled."""

    user: User | None
    password: Password | None
    domain_enabled: bool

    @property
    def hashed(self) -> str | None:
        return self.password.hash if self.password is not None else None


@dataclass(frozen=True)
class Group:
    id: str
    name: str
    domain_id: str
    description: str | None
    extra: dict[str, Any] = field(default_factory=dict)
