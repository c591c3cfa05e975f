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

    def is_revoked(self, *, audit_ids: list[str], user_id: str, issued_at_ms: int) -> bool:
        """True when an event names one of the token's audit ids, or its user, and was
        recorded at or after the moment the token was issued."""
        match = sa.or_(t.c.audit_id.in_(audit_ids), t.c.user_id == user_id)
        row = self._c.execute(
            sa.select(t.c.id).where(match, t.c.issued_before_ms >= issued_at_ms).limit(1)
        ).first()
        return row is not None
