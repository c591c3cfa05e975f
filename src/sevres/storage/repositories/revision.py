"""SQL for the database's revision: the sums of every writer's change counters, which
tell every process when its in-memory state is stale.

Each writing process counts its own changes in its own row (see tables.revision), so
concurrent writers on different Galera nodes never update the same row; the sums only
ever grow, so "newer" stays well defined for the node's shared marker.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql, sqlite

from sevres.storage import tables

t = tables.revision

# This process's row: one per process, so no two processes ever write the same row.
WRITER = secrets.token_hex(16)


@dataclass(frozen=True)
class Revision:
    authz: int
    revocations: int


def read(connection: sa.Connection) -> Revision:
    row = connection.execute(sa.select(sa.func.coalesce(sa.func.sum(t.c.authz), 0),
                                       sa.func.coalesce(sa.func.sum(t.c.revocations), 0))
                             ).first()
    return Revision(0, 0) if row is None else Revision(int(row[0]), int(row[1]))


def bump(connection: sa.Connection, *, authz: bool) -> Revision:
    """Count one more change (of authorization state, or of revocations only) in this
    process's row, creating it on its first write; returns the new sums."""
    column = "authz" if authz else "revocations"
    values = {"writer": WRITER, "authz": int(authz), "revocations": int(not authz)}
    dialect = connection.dialect.name
    statement: sa.Executable
    if dialect in ("mysql", "mariadb"):
        upsert = mysql.insert(t).values(**values)
        statement = upsert.on_duplicate_key_update({column: t.c[column] + 1})
    else:
        insert = (postgresql.insert(t) if dialect == "postgresql" else sqlite.insert(t))
        statement = insert.values(**values).on_conflict_do_update(
            index_elements=[t.c.writer], set_={column: t.c[column] + 1})
    connection.execute(statement)
    return read(connection)
