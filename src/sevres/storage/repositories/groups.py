"""SQL for groups and group membership."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from sevres.identity.models import Group
from sevres.storage import tables
from sevres.storage.repositories import filters, jsoncol

t = tables.group
m = tables.user_group_membership


def _to_model(row: sa.Row[Any]) -> Group:
    return Group(row.id, row.name, row.domain_id, row.description, jsoncol.load_dict(row.extra))


class GroupRepository:
    def __init__(self, connection: sa.Connection) -> None:
        self._c = connection

    def get(self, group_id: str) -> Group | None:
        row = self._c.execute(sa.select(t).where(t.c.id == group_id)).first()
        return _to_model(row) if row else None

    def get_many(self, group_ids: Sequence[str]) -> list[Group]:
        if not group_ids:
            return []
        return [_to_model(r) for r in self._c.execute(sa.select(t).where(t.c.id.in_(group_ids)))]

    def get_by_name(self, domain_id: str, name: str) -> Group | None:
        row = self._c.execute(
            sa.select(t).where(t.c.domain_id == domain_id, t.c.name == name)
        ).first()
        return _to_model(row) if row else None

    def search(self, query_filters: Mapping[str, str]) -> list[Group]:
        query = filters.apply(sa.select(t), t, query_filters, strings=("name",),
                              exact=("domain_id", "id"))
        return [_to_model(r) for r in self._c.execute(query.order_by(t.c.name, t.c.id))]

    def save(self, group: Group, new: bool) -> None:
        values = {"name": group.name, "domain_id": group.domain_id,
                  "description": group.description, "extra": jsoncol.dump(group.extra)}
        if new:
            self._c.execute(sa.insert(t).values(id=group.id, **values))
        else:
            self._c.execute(sa.update(t).where(t.c.id == group.id).values(values))

    def delete(self, group_ids: Sequence[str]) -> None:
        if group_ids:
            ids = list(group_ids)
            self._c.execute(sa.delete(m).where(m.c.group_id.in_(ids)))
            self._c.execute(sa.delete(t).where(t.c.id.in_(ids)))

    def ids_in_domain(self, domain_id: str) -> list[str]:
        return list(self._c.execute(sa.select(t.c.id).where(t.c.domain_id == domain_id)).scalars())

    # membership
    def is_member(self, user_id: str, group_id: str) -> bool:
        return self._c.execute(sa.select(m.c.user_id).where(
            m.c.user_id == user_id, m.c.group_id == group_id)).first() is not None

    def add_member(self, user_id: str, group_id: str) -> None:
        self._c.execute(sa.insert(m).values(user_id=user_id, group_id=group_id))

    def remove_member(self, user_id: str, group_id: str) -> None:
        self._c.execute(sa.delete(m).where(m.c.user_id == user_id, m.c.group_id == group_id))

    def group_ids_of(self, user_id: str) -> list[str]:
        return list(self._c.execute(
            sa.select(m.c.group_id).where(m.c.user_id == user_id).order_by(m.c.group_id)
        ).scalars())

    def member_ids(self, group_id: str) -> list[str]:
        return list(self._c.execute(
            sa.select(m.c.user_id).where(m.c.group_id == group_id).order_by(m.c.user_id)
        ).scalars())

    def remove_memberships_of_users(self, user_ids: Sequence[str]) -> None:
        if user_ids:
            self._c.execute(sa.delete(m).where(m.c.user_id.in_(list(user_ids))))
