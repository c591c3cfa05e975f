"""SQL for users' login bookkeeping (``login_state``): failed logins and last activity.

Writes here do not bump the database revision (storage/database.py exempts the table),
so they never flush another node's caches. Each write is a single upsert, so two nodes
counting failures of the same user at once both count.
"""

from __future__ import annotations

import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql, sqlite

from sevres.identity.models import LoginState
from sevres.storage import tables

t = tables.login_state
_CHUNK = 500  # ids per IN list


class LoginStateRepository:
    def __init__(self, connection: sa.Connection) -> None:
        self._c = connection

    def get(self, user_id: str) -> LoginState | None:
        return self.get_many([user_id]).get(user_id)

    def get_many(self, user_ids: list[str]) -> dict[str, LoginState]:
        found: dict[str, LoginState] = {}
        for start in range(0, len(user_ids), _CHUNK):
            chunk = user_ids[start:start + _CHUNK]
            for row in self._c.execute(sa.select(t).where(t.c.user_id.in_(chunk))):
                found[row.user_id] = LoginState(int(row.failed_count), row.failed_at,
                                                row.last_active_on)
        return found

    def record_failure(self, user_id: str, now: datetime.datetime, *, threshold: int,
                       restart_before: datetime.datetime | None) -> int:
        """Count one more consecutive failure; returns the count. A count that had reached
        ``threshold`` with its last failure at or before ``restart_before`` (a lockout
        that is over) starts again from one."""
        count: sa.ColumnElement[int] = t.c.failed_count + 1
        if restart_before is not None:
            count = sa.case(
                (sa.and_(t.c.failed_count >= threshold, t.c.failed_at <= restart_before), 1),
                else_=t.c.failed_count + 1)
        # The count first: MySQL evaluates the assignments in order, and the case above
        # must see the previous failed_at.
        self._upsert(user_id, {"failed_count": 1, "failed_at": now},
                     [("failed_count", count), ("failed_at", now)])
        return int(self._c.execute(
            sa.select(t.c.failed_count).where(t.c.user_id == user_id)).scalar_one())

    def clear_failures(self, user_id: str) -> None:
        self._c.execute(sa.update(t).where(t.c.user_id == user_id, t.c.failed_count != 0)
                        .values(failed_count=0, failed_at=None))

    def succeeded(self, user_id: str, today: datetime.date | None) -> None:
        """A successful login: no failures any more; active ``today`` when given."""
        if today is None:
            self.clear_failures(user_id)
            return
        self._upsert(user_id, {"failed_count": 0, "failed_at": None, "last_active_on": today},
                     [("failed_count", 0), ("failed_at", None), ("last_active_on", today)])

    def _upsert(self, user_id: str, insert: dict[str, Any],
                update: list[tuple[str, Any]]) -> None:
        values = {"user_id": user_id, **insert}
        dialect = self._c.dialect.name
        statement: Any
        if dialect in ("mysql", "mariadb"):
            statement = mysql.insert(t).values(values).on_duplicate_key_update(update)
        else:
            module = postgresql if dialect == "postgresql" else sqlite
            statement = module.insert(t).values(values).on_conflict_do_update(
                index_elements=[t.c.user_id], set_=dict(update))
        self._c.execute(statement)
