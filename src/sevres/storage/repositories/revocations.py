"""SQL for revocation events."""

from __future__ import annotations

import datetime
from typing import Any

import sqlalchemy as sa

from sevres.storage import tables

t = tables.revocation_event


class RevocationRepository:
    def __init__(self, connection: sa.Connection) -> None:
        self._c = connection

    def add(self, *, issued_before_ms: int, now: datetime.datetime, audit_id: str | None = None,
            audit_chain_id: str | None = None, user_id: str | None = None,
            project_id: str | None = None, domain_id: str | None = None,
            app_cred_id: str | None = None) -> None:
        self._c.execute(sa.insert(t).values(
            audit_id=audit_id, audit_chain_id=audit_chain_id, user_id=user_id,
            project_id=project_id, domain_id=domain_id, app_cred_id=app_cred_id,
            issued_before_ms=issued_before_ms, revoked_at=now,
        ))

    def fetch_all(self) -> list[dict[str, Any]]:
        """Every event (they are few: each is dropped once no token it names can live)."""
        return [dict(row._mapping) for row in self._c.execute(sa.select(t))]

    def any_before(self, revoked_before: datetime.datetime) -> bool:
        query = sa.select(t.c.id).where(t.c.revoked_at < revoked_before).limit(1)
        return self._c.execute(query).first() is not None

    def prune(self, revoked_before: datetime.datetime) -> int:
        result = self._c.execute(sa.delete(t).where(t.c.revoked_at < revoked_before))
        return int(result.rowcount or 0)
