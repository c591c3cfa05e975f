"""SQL for users and their passwords."""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from sevres.identity.models import User
from sevres.storage import tables
from sevres.storage.repositories import filters, jsoncol

t = tables.user
pw = tables.password


def _to_model(row: sa.Row[Any]) -> User:
    return User(
        id=row.id,
        name=row.name,
        domain_id=row.domain_id,
        enabled=bool(row.enabled),
        default_project_id=row.default_project_id,
        extra=jsoncol.load_dict(row.extra),
    )


class UserRepository:
    def __init__(self, connection: sa.Connection) -> None:
        self._c = connection

    def get(self, user_id: str) -> User | None:
        row = self._c.execute(sa.select(t).where(t.c.id == user_id)).first()
        return _to_model(row) if row else None

    def get_by_name(self, domain_id: str, name: str) -> User | None:
        row = self._c.execute(
            sa.select(t).where(t.c.domain_id == domain_id, t.c.name == name)
        ).first()
        return _to_model(row) if row else None

    def search(self, query_filters: Mapping[str, str]) -> list[User]:
        query = filters.apply(
            sa.select(t), t, query_filters,
            strings=("name",), booleans=("enabled",), exact=("domain_id", "id"),
        )
        return [_to_model(r) for r in self._c.execute(query.order_by(t.c.name, t.c.id))]

    def insert(self, user: User, now: datetime.datetime) -> None:
        self._c.execute(sa.insert(t).values(
            id=user.id, name=user.name, domain_id=user.domain_id, enabled=user.enabled,
            default_project_id=user.default_project_id, extra=jsoncol.dump(user.extra),
            created_at=now,
        ))

    def update(self, user: User) -> None:
        self._c.execute(sa.update(t).where(t.c.id == user.id).values(
            name=user.name, domain_id=user.domain_id, enabled=user.enabled,
            default_project_id=user.default_project_id, extra=jsoncol.dump(user.extra),
        ))

    def delete(self, user_ids: Sequence[str]) -> None:
        if user_ids:
            ids = list(user_ids)
            membership = tables.user_group_membership
            self._c.execute(sa.delete(membership).where(membership.c.user_id.in_(ids)))
            self._c.execute(sa.delete(pw).where(pw.c.user_id.in_(ids)))
            self._c.execute(sa.delete(t).where(t.c.id.in_(ids)))

    def ids_in_domain(self, domain_id: str) -> list[str]:
        return list(self._c.execute(sa.select(t.c.id).where(t.c.domain_id == domain_id)).scalars())

    def clear_default_project(self, project_ids: Sequence[str]) -> None:
        if project_ids:
            self._c.execute(sa.update(t).where(t.c.default_project_id.in_(list(project_ids)))
                            .values(default_project_id=None))

    def password_hash(self, user_id: str) -> str | None:
        row = self._c.execute(
            sa.select(pw.c.hash).where(pw.c.user_id == user_id)
            .order_by(pw.c.created_at.desc(), pw.c.id.desc()).limit(1)
        ).first()
        return row.hash if row else None

    def set_password(self, user_id: str, hashed: str | None, now: datetime.datetime) -> None:
        """Replace the user's password (None removes it: the user cannot log in)."""
        self._c.execute(sa.delete(pw).where(pw.c.user_id == user_id))
        if hashed is not None:
            self._c.execute(sa.insert(pw).values(user_id=user_id, hash=hashed, created_at=now))
