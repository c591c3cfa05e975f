"""SQL for application credentials, their roles and their access rules."""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from sevres.appcreds.models import AccessRule, AppCred
from sevres.storage import tables
from sevres.storage.repositories import filters

t = tables.application_credential
roles = tables.application_credential_role
rules = tables.access_rule
links = tables.application_credential_access_rule

_CRED_COLUMNS = [c for c in t.c if c.name != "secret_hash"]


def _rule(row: sa.Row[Any]) -> AccessRule:
    return AccessRule(row.id, row.user_id, row.service, row.path, row.method)


class ApplicationCredentialRepository:
    def __init__(self, connection: sa.Connection) -> None:
        self._c = connection

    # -- application credentials ---------------------------------------------------------
    def get(self, app_cred_id: str) -> AppCred | None:
        found = self._load(sa.select(*_CRED_COLUMNS).where(t.c.id == app_cred_id))
        return found[0] if found else None

    def get_by_name(self, user_id: str, name: str) -> AppCred | None:
        found = self._load(
            sa.select(*_CRED_COLUMNS).where(t.c.user_id == user_id, t.c.name == name))
        return found[0] if found else None

    def list_for_user(self, user_id: str, query_filters: Mapping[str, str]) -> list[AppCred]:
        query = filters.apply(sa.select(*_CRED_COLUMNS).where(t.c.user_id == user_id), t,
                              query_filters, strings=("name",))
        return self._load(query.order_by(t.c.name, t.c.id))

    def owner_of(self, app_cred_id: str) -> str | None:
        row = self._c.execute(sa.select(t.c.user_id).where(t.c.id == app_cred_id)).first()
        return row.user_id if row else None

    def secret_hash(self, app_cred_id: str) -> str | None:
        row = self._c.execute(sa.select(t.c.secret_hash).where(t.c.id == app_cred_id)).first()
        return row.secret_hash if row else None

    def insert(self, cred: AppCred, secret_hash: str, now: datetime.datetime) -> None:
        """Store a credential with its roles and links to access rules already stored."""
        self._c.execute(sa.insert(t).values(
            id=cred.id, name=cred.name, secret_hash=secret_hash, description=cred.description,
            user_id=cred.user_id, project_id=cred.project_id, system=cred.system,
            expires_at=cred.expires_at, unrestricted=cred.unrestricted, created_at=now,
        ))
        if cred.role_ids:
            self._c.execute(sa.insert(roles), [
                {"application_credential_id": cred.id, "role_id": r} for r in cred.role_ids])
        if cred.access_rules:
            self._c.execute(sa.insert(links), [
                {"application_credential_id": cred.id, "access_rule_id": a.id}
                for a in cred.access_rules])

    def delete(self, app_cred_ids: Sequence[str]) -> None:
        if app_cred_ids:
            ids = list(app_cred_ids)
            self._c.execute(sa.delete(roles).where(roles.c.application_credential_id.in_(ids)))
            self._c.execute(sa.delete(links).where(links.c.application_credential_id.in_(ids)))
            self._c.execute(sa.delete(t).where(t.c.id.in_(ids)))

    def ids_of_user(self, user_id: str) -> list[str]:
        return list(self._c.execute(sa.select(t.c.id).where(t.c.user_id == user_id)).scalars())

    def delete_for_user(self, user_id: str) -> list[str]:
        """Delete every credential and access rule of the user; the credentials' ids."""
        ids = self.ids_of_user(user_id)
        self.delete(ids)
        self._c.execute(sa.delete(rules).where(rules.c.user_id == user_id))
        return ids

    def _load(self, query: sa.Select[Any]) -> list[AppCred]:
        rows = list(self._c.execute(query))
        if not rows:
            return []
        ids = [r.id for r in rows]
        role_ids: dict[str, list[str]] = defaultdict(list)
        for link in self._c.execute(
            sa.select(roles.c.application_credential_id, roles.c.role_id)
            .where(roles.c.application_credential_id.in_(ids)).order_by(roles.c.role_id)
        ):
            role_ids[link.application_credential_id].append(link.role_id)
        carried: dict[str, list[AccessRule]] = defaultdict(list)
        for row in self._c.execute(
            sa.select(links.c.application_credential_id, rules)
            .join(rules, rules.c.id == links.c.access_rule_id)
            .where(links.c.application_credential_id.in_(ids))
            .order_by(rules.c.service, rules.c.path, rules.c.method)
        ):
            carried[row.application_credential_id].append(_rule(row))
        return [
            AppCred(
                id=r.id, name=r.name, user_id=r.user_id, project_id=r.project_id,
                description=r.description, expires_at=r.expires_at,
                unrestricted=bool(r.unrestricted), role_ids=tuple(role_ids[r.id]),
                access_rules=tuple(carried[r.id]), system=r.system,
            )
            for r in rows
        ]

    # -- access rules --------------------------------------------------------------------
    def get_access_rule(self, rule_id: str) -> AccessRule | None:
        row = self._c.execute(sa.select(rules).where(rules.c.id == rule_id)).first()
        return _rule(row) if row else None

    def find_access_rule(self, user_id: str, service: str, path: str,
                         method: str) -> AccessRule | None:
        row = self._c.execute(sa.select(rules).where(
            rules.c.user_id == user_id, rules.c.service == service, rules.c.path == path,
            rules.c.method == method)).first()
        return _rule(row) if row else None

    def insert_access_rule(self, rule: AccessRule) -> None:
        self._c.execute(sa.insert(rules).values(
            id=rule.id, user_id=rule.user_id, service=rule.service, path=rule.path,
            method=rule.method))

    def list_access_rules(self, user_id: str,
                          query_filters: Mapping[str, str]) -> list[AccessRule]:
        query = filters.apply(sa.select(rules).where(rules.c.user_id == user_id), rules,
                              query_filters, exact=("service", "path", "method"))
        ordered = query.order_by(rules.c.service, rules.c.path, rules.c.method, rules.c.id)
        return [_rule(r) for r in self._c.execute(ordered)]

    def access_rule_in_use(self, rule_id: str) -> bool:
        return self._c.execute(
            sa.select(links.c.access_rule_id).where(links.c.access_rule_id == rule_id).limit(1)
        ).first() is not None

    def delete_access_rule(self, rule_id: str) -> None:
        self._c.execute(sa.delete(rules).where(rules.c.id == rule_id))
