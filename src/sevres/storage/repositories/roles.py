"""SQL for roles and implied roles."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from sevres.assignment.models import Role
from sevres.storage import tables
from sevres.storage.repositories import filters, jsoncol

t = tables.role
implied = tables.implied_role


def _to_model(row: sa.Row[Any]) -> Role:
    return Role(
        id=row.id,
        name=row.name,
        domain_id=None if row.domain_id == tables.NULL_DOMAIN else row.domain_id,
        description=row.description,
        extra=jsoncol.load_dict(row.extra),
    )


class RoleRepository:
    def __init__(self, connection: sa.Connection) -> None:
        self._c = connection

    def get(self, role_id: str) -> Role | None:
        row = self._c.execute(sa.select(t).where(t.c.id == role_id)).first()
        return _to_model(row) if row else None

    def get_by_name(self, name: str, domain_id: str | None) -> Role | None:
        row = self._c.execute(sa.select(t).where(
            t.c.name == name, t.c.domain_id == (domain_id or tables.NULL_DOMAIN)
        )).first()
        return _to_model(row) if row else None

    def all(self) -> dict[str, Role]:
        return {r.id: _to_model(r) for r in self._c.execute(sa.select(t))}

    def search(self, query_filters: Mapping[str, str]) -> list[Role]:
        query = sa.select(t)
        wanted = dict(query_filters)
        domain = wanted.pop("domain_id", None)
        query = query.where(t.c.domain_id == (domain or tables.NULL_DOMAIN))
        query = filters.apply(query, t, wanted, strings=("name",), exact=("id",))
        return [_to_model(r) for r in self._c.execute(query.order_by(t.c.name, t.c.id))]

    def insert(self, role: Role) -> None:
        self._c.execute(sa.insert(t).values(
            id=role.id, name=role.name, domain_id=role.domain_id or tables.NULL_DOMAIN,
            description=role.description, extra=jsoncol.dump(role.extra),
        ))

    def update(self, role: Role) -> None:
        self._c.execute(sa.update(t).where(t.c.id == role.id).values(
            name=role.name, description=role.description, extra=jsoncol.dump(role.extra),
        ))

    def delete(self, role_id: str) -> None:
        self._c.execute(sa.delete(implied).where(
            sa.or_(implied.c.prior_role_id == role_id, implied.c.implied_role_id == role_id)
        ))
        self._c.execute(sa.delete(t).where(t.c.id == role_id))

    def ids_in_domain(self, domain_id: str) -> list[str]:
        return list(self._c.execute(sa.select(t.c.id).where(t.c.domain_id == domain_id)).scalars())

    def implications(self) -> list[tuple[str, str]]:
        """Every (prior role id, implied role id) pair."""
        rows = self._c.execute(sa.select(implied.c.prior_role_id, implied.c.implied_role_id))
        return [(r.prior_role_id, r.implied_role_id) for r in rows]

    def add_implication(self, prior_id: str, implied_id: str) -> None:
        self._c.execute(
            sa.insert(implied).values(prior_role_id=prior_id, implied_role_id=implied_id)
        )

    def has_implication(self, prior_id: str, implied_id: str) -> bool:
        return self._c.execute(sa.select(implied.c.prior_role_id).where(
            implied.c.prior_role_id == prior_id, implied.c.implied_role_id == implied_id
        )).first() is not None

    def remove_implication(self, prior_id: str, implied_id: str) -> None:
        self._c.execute(sa.delete(implied).where(
            implied.c.prior_role_id == prior_id, implied.c.implied_role_id == implied_id
        ))
