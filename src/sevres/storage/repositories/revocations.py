"""SQL for revocation events."""

from __future__ import annotations

import datetime

import sqlalchemy as sa

from sevres.storage import tables

t = tables.revocation_event


class RevocationRepository:
    def __init__(self, connection: sa.Connection) -> None:
        self._c = connection

    def add(self, *, issued_before_ms: int, now: datetime.datetime, audit_id: str | None = None,
            user_id: str | None = None, project_id: str | None = None,
            domain_id: str | None = None) -> None:
        self._c.execute(sa.insert(t).values(
            audit_id=audit_id, user_id=user_id, project_id=project_id, domain_id=domain_id,
            issued_before_ms=issued_before_ms, revoked_at=now,
        ))

    def is_revoked(self, *, audit_id: str, user_id: str, project_id: str | None,
                   domain_ids: list[str], issued_at_ms: int) -> bool:
        """True when an event recorded at or after the token's issue names the token's
        audit id, its user, its project, or a domain it depends on (its scope's or its
        user's)."""
        match = sa.or_(t.c.audit_id == audit_id, t.c.user_id == user_id,
                       t.c.domain_id.in_(domain_ids))
        if project_id is not None:
            match = sa.or_(match, t.c.project_id == project_id)
        row = self._c.execute(
            sa.select(t.c.id).where(match, t.c.issued_before_ms >= issued_at_ms).limit(1)
        ).first()
        return row is not None
