"""Application credentials and the access rules they carry."""

from __future__ import annotations

import datetime
from dataclasses import dataclass


@dataclass(frozen=True)
class AccessRule:
    """A request an application credential may make to a service: Keystone's access
    rule, owned by a user and shared by every credential of theirs that names it."""

    id: str
    user_id: str
    service: str
    path: str
    method: str


@dataclass(frozen=True)
class AppCred:
    """An application credential. Its secret is never here: only its hash is stored,
    and the repository hands that out to authentication alone.

    ``role_ids`` are the roles it was created with (a subset of its creator's roles on
    ``project_id`` then); ``unrestricted`` lets a token issued for it create and delete
    application credentials; ``system`` is Keystone's column, always None here (a
    credential is created on the creating token's project)."""

    id: str
    name: str
    user_id: str
    project_id: str | None
    description: str | None
    expires_at: datetime.datetime | None
    unrestricted: bool
    role_ids: tuple[str, ...]
    access_rules: tuple[AccessRule, ...] = ()
    system: str | None = None

    def expired(self, now: datetime.datetime) -> bool:
        return self.expires_at is not None and now >= self.expires_at
