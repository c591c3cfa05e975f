"""SQL for token signing keys (stored wrapped; see sevres.tokens.keyring)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

import sqlalchemy as sa

from sevres.storage import tables

t = tables.token_key


@dataclass(frozen=True)
class KeyRow:
    id: int
    provider: str
    state: str
    kid: str
    wrapped: str
    public: str | None
    created_at: datetime.datetime
    promoted_at: datetime.datetime | None
    demoted_at: datetime.datetime | None


class KeyRepository:
    def __init__(self, connection: sa.Connection) -> None:
        self._c = connection

    def fetch(self, provider: str | None = None, *, lock: bool = False) -> list[KeyRow]:
        query = sa.select(t).order_by(t.c.id)
        if provider is not None:
            query = query.where(t.c.provider == provider)
        if lock and self._c.dialect.name != "sqlite":
            query = query.with_for_update()
        return [KeyRow(**row._mapping) for row in self._c.execute(query)]

    def add(self, *, provider: str, state: str, kid: str, wrapped: str, public: str | None,
            now: datetime.datetime) -> None:
        self._c.execute(sa.insert(t).values(
            provider=provider, state=state, kid=kid, wrapped=wrapped, public=public,
            created_at=now, promoted_at=now if state == "primary" else None,
            demoted_at=now if state == "secondary" else None,
        ))

    def set_state(self, key_id: int, state: str, now: datetime.datetime) -> None:
        values: dict[str, object] = {"state": state}
        if state == "primary":
            values["promoted_at"] = now
        elif state == "secondary":
            values["demoted_at"] = now
        self._c.execute(sa.update(t).where(t.c.id == key_id).values(**values))

    def delete(self, key_ids: list[int]) -> None:
        if key_ids:
            self._c.execute(sa.delete(t).where(t.c.id.in_(key_ids)))
