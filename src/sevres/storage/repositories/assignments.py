"""SQL for role assignments."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from sevres.assignment.models import ActorKind, Assignment, TargetKind
from sevres.storage import tables

t = tables.assignment
_TYPES = {f"{a.value.title()}{k.value.title()}": (a, k) for a in ActorKind for k in TargetKind}


def _to_model(row: sa.Row[Any]) -> Assignment:
    actor, target = _TYPES[row.type]
    return Assignment(actor, row.actor_id, target, row.target_id, row.role_id, bool(row.inherited))


class AssignmentRepository:
    def __init__(self, connection: sa.Connection) -> None:
        self._c = connection

    def _key(self, a: Assignment) -> sa.ColumnElement[bool]:
        return sa.and_(t.c.type == a.type_code, t.c.actor_id == a.actor_id,
                       t.c.target_id == a.target_id, t.c.role_id == a.role_id,
                       t.c.inherited == a.inherited)

    def exists(self, a: Assignment) -> bool:
        return self._c.execute(sa.select(t.c.role_id).where(self._key(a))).first() is not None

    def add(self, a: Assignment) -> None:
        self._c.execute(sa.insert(t).values(
            type=a.type_code, actor_id=a.actor_id, target_id=a.target_id, role_id=a.role_id,
            inherited=a.inherited,
        ))

    def remove(self, a: Assignment) -> None:
        self._c.execute(sa.delete(t).where(self._key(a)))

    def find(
        self,
        actor_ids: Sequence[str] | None = None,
        target_ids: Sequence[str] | None = None,
        role_id: str | None = None,
        types: Sequence[str] | None = None,
        inherited: bool | None = None,
    ) -> list[Assignment]:
        query = sa.select(t)
        if actor_ids is not None:
            query = query.where(t.c.actor_id.in_(list(actor_ids)))
        if target_ids is not None:
            query = query.where(t.c.target_id.in_(list(target_ids)))
        if role_id is not None:
            query = query.where(t.c.role_id == role_id)
        if types is not None:
            query = query.where(t.c.type.in_(list(types)))
        if inherited is not None:
            query = query.where(t.c.inherited == inherited)
        rows = self._c.execute(query.order_by(t.c.type, t.c.actor_id, t.c.target_id, t.c.role_id))
        return [_to_model(r) for r in rows]

    def remove_for_actors(self, actor_ids: Sequence[str]) -> None:
        if actor_ids:
            self._c.execute(sa.delete(t).where(t.c.actor_id.in_(list(actor_ids))))

    def remove_for_targets(self, target_ids: Sequence[str]) -> None:
        if target_ids:
            self._c.execute(sa.delete(t).where(t.c.target_id.in_(list(target_ids))))

    def remove_for_role(self, role_id: str) -> None:
        self._c.execute(sa.delete(t).where(t.c.role_id == role_id))
