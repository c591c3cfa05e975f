"""SQL for domains and projects (both rows of ``project``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from sevres.resource.models import Project
from sevres.storage import tables
from sevres.storage.repositories import filters, jsoncol

t = tables.project


def _to_model(row: sa.Row[Any]) -> Project:
    return Project(
        id=row.id,
        name=row.name,
        description=row.description,
        enabled=bool(row.enabled),
        domain_id=None if row.domain_id == tables.ROOT_DOMAIN else row.domain_id,
        parent_id=row.parent_id,
        is_domain=bool(row.is_domain),
        tags=jsoncol.load_list(row.tags),
        extra=jsoncol.load_dict(row.extra),
        ancestry=tuple(row.ancestry.split("/")) if row.ancestry else (),
    )


def _to_row(project: Project) -> dict[str, Any]:
    return {
        "id": project.id,
        "name": project.name,
        "description": project.description,
        "enabled": project.enabled,
        "domain_id": project.domain_id or tables.ROOT_DOMAIN,
        "parent_id": project.parent_id,
        "is_domain": project.is_domain,
        "ancestry": "/".join(project.ancestry),
        "tags": jsoncol.dump(list(project.tags)),
        "extra": jsoncol.dump(project.extra),
    }


class ProjectRepository:
    def __init__(self, connection: sa.Connection) -> None:
        self._c = connection

    def get(self, project_id: str) -> Project | None:
        row = self._c.execute(sa.select(t).where(t.c.id == project_id)).first()
        return _to_model(row) if row else None

    def lock(self, project_id: str) -> Project | None:
        """Read a row with a write lock held to the end of the transaction (SELECT ... FOR
        UPDATE; SQLite writers already queue on BEGIN IMMEDIATE). A locking read sees the
        latest committed version, also under MariaDB's repeatable read."""
        row = self._c.execute(sa.select(t).where(t.c.id == project_id).with_for_update()).first()
        return _to_model(row) if row else None

    def get_many(self, project_ids: Sequence[str]) -> list[Project]:
        if not project_ids:
            return []
        rows = self._c.execute(sa.select(t).where(t.c.id.in_(list(project_ids))))
        return [_to_model(r) for r in rows]

    def get_by_name(self, domain_id: str | None, name: str) -> Project | None:
        domain = domain_id or tables.ROOT_DOMAIN
        row = self._c.execute(
            sa.select(t).where(t.c.domain_id == domain, t.c.name == name)
        ).first()
        return _to_model(row) if row else None

    def search(self, query_filters: Mapping[str, str], is_domain: bool | None) -> list[Project]:
        query = sa.select(t)
        if is_domain is not None:
            query = query.where(t.c.is_domain == is_domain)
        query = filters.apply(
            query, t, query_filters,
            strings=("name",), booleans=("enabled",), exact=("domain_id", "parent_id", "id"),
        )
        return [_to_model(r) for r in self._c.execute(query.order_by(t.c.name, t.c.id))]

    def insert(self, project: Project) -> None:
        self._c.execute(sa.insert(t).values(_to_row(project)))

    def update(self, project: Project) -> None:
        row = _to_row(project)
        self._c.execute(sa.update(t).where(t.c.id == project.id).values(row))

    def delete(self, project_ids: Sequence[str]) -> None:
        if project_ids:
            self._c.execute(sa.delete(t).where(t.c.id.in_(list(project_ids))))

    def children(self, parent_id: str) -> list[Project]:
        rows = self._c.execute(
            sa.select(t).where(t.c.parent_id == parent_id, t.c.is_domain.is_(False))
        )
        return [_to_model(r) for r in rows]

    def descendants(self, project: Project, lock: bool = False) -> list[Project]:
        """Every project below ``project``, in one query on the materialised ancestry
        (with ``lock``, a locking read of the latest committed rows, as :meth:`lock`)."""
        prefix = project.subtree_prefix
        query = sa.select(t).where(sa.or_(
            t.c.ancestry == prefix,
            t.c.ancestry.like(filters.escape_like(prefix) + "/%", escape="\\"),
        )).order_by(t.c.ancestry, t.c.name)
        rows = self._c.execute(query.with_for_update() if lock else query)
        return [_to_model(r) for r in rows]

    def set_ancestry(self, changes: Sequence[tuple[str, tuple[str, ...]]]) -> None:
        """Rewrite the ancestry (and parent) of moved projects: (id, new ancestry) pairs."""
        for project_id, ancestry in changes:
            self._c.execute(sa.update(t).where(t.c.id == project_id).values(
                ancestry="/".join(ancestry), parent_id=ancestry[-1] if ancestry else None,
            ))

    def in_domain(self, domain_id: str) -> list[Project]:
        rows = self._c.execute(sa.select(t).where(t.c.domain_id == domain_id))
        return [_to_model(r) for r in rows]
