"""SQL for the database-wide revision row that tells every process when to reload."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from sevres.storage import tables

t = tables.revision


@dataclass(frozen=True)
class Revision:
    authz: int
    revocations: int


def read(connection: sa.Connection) -> Revision:
    row = connection.execute(sa.select(t.c.authz, t.c.revocations).where(t.c.id == 1)).first()
    return Revision(0, 0) if row is None else Revision(int(row.authz), int(row.revocations))


def bump(connection: sa.Connection, *, authz: bool) -> Revision:
    """Count one more change (of authorization state, or of revocations only)."""
    column = t.c.authz if authz else t.c.revocations
    connection.execute(sa.update(t).where(t.c.id == 1).values({column: column + 1}))
    return read(connection)
