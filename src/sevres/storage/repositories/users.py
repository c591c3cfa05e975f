"""SQL for users and their passwords."""

from __future__ import annotations

import datetime
import operator
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from sevres.identity.models import Password, User
from sevres.storage import tables
from sevres.storage.repositories import filters, jsoncol

t = tables.user
pw = tables.password

# The newest password row is the current one; older rows are the history that
# [security_compliance] unique_last_password_count compares a new password with.
_NEWEST_FIRST = (pw.c.created_at.desc(), pw.c.id.desc())
_EXPIRES = (sa.select(pw.c.expires_at).where(pw.c.user_id == t.c.id).order_by(*_NEWEST_FIRST)
            .limit(1).correlate(t).scalar_subquery())
_USERS = sa.select(t, _EXPIRES.label("password_expires_at"))
_COMPARISONS = {"lt": operator.lt, "lte": operator.le, "gt": operator.gt,
                "gte": operator.ge, "eq": operator.eq, "neq": operator.ne}


def _to_model(row: sa.Row[Any]) -> User:
    return User(
        id=row.id,
        name=row.name,
        domain_id=row.domain_id,
        enabled=bool(row.enabled),
        default_project_id=row.default_project_id,
        password_expires_at=row.password_expires_at,
        extra=jsoncol.load_dict(row.extra),
        options=jsoncol.load_dict(row.options),
        created_at=row.created_at,
    )


class UserRepository:
    def __init__(self, connection: sa.Connection) -> None:
        self._c = connection

    def get(self, user_id: str) -> User | None:
        row = self._c.execute(_USERS.where(t.c.id == user_id)).first()
        return _to_model(row) if row else None

    def get_by_name(self, domain_id: str, name: str) -> User | None:
        row = self._c.execute(
            _USERS.where(t.c.domain_id == domain_id, t.c.name == name)
        ).first()
        return _to_model(row) if row else None

    def search(self, query_filters: Mapping[str, str],
               password_expires: tuple[str, datetime.datetime] | None = None) -> list[User]:
        """``password_expires``: (operator, moment), Keystone's ``password_expires_at``
        filter on the current password (lt, lte, gt, gte, eq, neq); a user whose
        password never expires matches no comparison."""
        query = filters.apply(
            _USERS, t, query_filters,
            strings=("name",), booleans=("enabled",), exact=("domain_id", "id"),
        )
        if password_expires is not None:
            op, moment = password_expires
            query = query.where(_COMPARISONS[op](_EXPIRES, moment))
        return [_to_model(r) for r in self._c.execute(query.order_by(t.c.name, t.c.id))]

    def insert(self, user: User, now: datetime.datetime) -> None:
        self._c.execute(sa.insert(t).values(
            id=user.id, name=user.name, domain_id=user.domain_id, enabled=user.enabled,
            default_project_id=user.default_project_id, extra=jsoncol.dump(user.extra),
            options=jsoncol.dump(user.options), created_at=now,
        ))

    def update(self, user: User) -> None:
        self._c.execute(sa.update(t).where(t.c.id == user.id).values(
            name=user.name, domain_id=user.domain_id, enabled=user.enabled,
            default_project_id=user.default_project_id, extra=jsoncol.dump(user.extra),
            options=jsoncol.dump(user.options),
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

    def current_password(self, user_id: str) -> Password | None:
        row = self._c.execute(
            sa.select(pw).where(pw.c.user_id == user_id).order_by(*_NEWEST_FIRST).limit(1)
        ).first()
        if row is None:
            return None
        return Password(row.hash, row.created_at, row.expires_at, bool(row.self_service))

    def password_hashes(self, user_id: str, count: int) -> list[str]:
        """The hashes of the user's ``count`` newest passwords, the current one first."""
        return list(self._c.execute(
            sa.select(pw.c.hash).where(pw.c.user_id == user_id).order_by(*_NEWEST_FIRST)
            .limit(count)).scalars())

    def set_password(self, user_id: str, hashed: str | None, now: datetime.datetime, *,
                     expires_at: datetime.datetime | None = None, self_service: bool = False,
                     keep: int = 1) -> None:
        """Make ``hashed`` the user's password, keeping the ``keep`` newest (it included)
        as history; None removes every password (the user cannot log in)."""
        if hashed is None:
            self._c.execute(sa.delete(pw).where(pw.c.user_id == user_id))
            return
        self._c.execute(sa.insert(pw).values(user_id=user_id, hash=hashed, created_at=now,
                                             expires_at=expires_at, self_service=self_service))
        older = list(self._c.execute(
            sa.select(pw.c.id).where(pw.c.user_id == user_id).order_by(*_NEWEST_FIRST)
            .offset(max(1, keep))).scalars())
        if older:
            self._c.execute(sa.delete(pw).where(pw.c.id.in_(older)))
