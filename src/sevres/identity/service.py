"""Users: create, read, update, delete, authenticate, and change one's own password.

Authentication answers every failure the same way (401, one message) and does the same
hashing work whether or not the user exists, so the answer leaks nothing. A password
change, an administrator's password reset and disabling a user all record a revocation
event for the user, so every token they held stops working at once. Disabling a user
also deletes their application credentials and access rules (as Keystone does); deleting
one does too (the database cascades).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from sevres import errors
from sevres.attributes import extra
from sevres.identity.models import LoginRecord, User
from sevres.identity.passwords import PasswordHashing
from sevres.ids import new_id, utcnow
from sevres.resource.service import ResourceService
from sevres.storage.repositories import Store
from sevres.tokens.clock import now_ms

_USER_FIELDS = frozenset(
    {"id", "name", "domain_id", "enabled", "default_project_id", "password", "options", "links",
     "password_expires_at"}
)


class IdentityService:
    def __init__(self, hashing: PasswordHashing, resources: ResourceService) -> None:
        self.hashing = hashing
        self.resources = resources

    def get_user(self, tx: Store, user_id: str) -> User:
        user = tx.users.get(user_id)
        if user is None:
            raise errors.not_found("user", user_id)
        return user

    def list_users(self, tx: Store, query: Mapping[str, str]) -> list[User]:
        return tx.users.search(query)

    def create_user(self, tx: Store, attrs: Mapping[str, Any], default_domain_id: str) -> User:
        domain = self.resources.get_domain(tx, attrs.get("domain_id") or default_domain_id)
        name = attrs["name"]
        if tx.users.get_by_name(domain.id, name) is not None:
            raise errors.Conflict(
                "Conflict occurred attempting to store user - Duplicate entry found with "
                f"name {name} at domain ID {domain.id}."
            )
        default_project_id = attrs.get("default_project_id")
        if default_project_id:
            self._check_default_project(tx, default_project_id)
        user = User(
            id=new_id(), name=name, domain_id=domain.id, enabled=attrs.get("enabled", True),
            default_project_id=default_project_id,
            extra=extra(attrs, _USER_FIELDS),
        )
        now = utcnow()
        tx.users.insert(user, now)
        password = attrs.get("password")
        if password is not None:
            tx.users.set_password(user.id, self.hashing.hash(password), now)
        return user

    def update_user(self, tx: Store, user_id: str, attrs: Mapping[str, Any]) -> User:
        user = self.get_user(tx, user_id)
        if "domain_id" in attrs and attrs["domain_id"] != user.domain_id:
            raise errors.ValidationError("Update of `domain_id` is not allowed.")
        name = attrs.get("name", user.name)
        if name != user.name and tx.users.get_by_name(user.domain_id, name) is not None:
            raise errors.duplicate("user", name)
        default_project_id = attrs.get("default_project_id", user.default_project_id)
        if default_project_id and default_project_id != user.default_project_id:
            self._check_default_project(tx, default_project_id)
        updated = dataclasses.replace(
            user, name=name, enabled=attrs.get("enabled", user.enabled),
            default_project_id=default_project_id,
            extra={**user.extra, **extra(attrs, _USER_FIELDS)},
        )
        tx.users.update(updated)
        if "password" in attrs:
            password = attrs["password"]
            hashed = None if password is None else self.hashing.hash(password)
            tx.users.set_password(user.id, hashed, utcnow())
            self.revoke_tokens_of(tx, user.id)
        if user.enabled and not updated.enabled:
            self.revoke_tokens_of(tx, user.id)
            tx.appcreds.delete_for_user(user.id)  # as Keystone: disabling deletes them
        return updated

    def delete_user(self, tx: Store, user_id: str) -> None:
        user = self.get_user(tx, user_id)
        tx.assignments.remove_for_actors([user.id])
        tx.users.delete([user.id])
        self.revoke_tokens_of(tx, user.id)

    def change_password(self, tx: Store, user_id: str, original: str, new: str) -> None:
        """Self-service change: the original password is the proof, no token needed."""
        user = tx.users.get(user_id)
        hashed = tx.users.password_hash(user_id) if user is not None else None
        if not self.hashing.verify(hashed, original) or user is None:
            raise errors.Unauthorized()
        tx.users.set_password(user.id, self.hashing.hash(new), utcnow())
        self.revoke_tokens_of(tx, user.id)

    def authenticate(
        self,
        tx: Store,
        password: str,
        user_id: str | None = None,
        name: str | None = None,
        domain_id: str | None = None,
        domain_name: str | None = None,
    ) -> User:
        """Check a password; any failure is the same 401 after the same hashing work."""
        record = self.login(tx, user_id=user_id, name=name, domain_id=domain_id,
                            domain_name=domain_name)
        return self.check_password(record, password)

    def login(self, tx: Store, *, user_id: str | None, name: str | None,
              domain_id: str | None, domain_name: str | None) -> LoginRecord:
        """What checking a password needs from the database (the token layer memoises
        it, so a steady stream of logins does not read the database)."""
        user = self._find(tx, user_id, name, domain_id, domain_name)
        if user is None:
            return LoginRecord(None, None, False)
        domain = tx.projects.get(user.domain_id)
        return LoginRecord(user, tx.users.password_hash(user.id),
                           domain is not None and domain.enabled)

    def check_password(self, record: LoginRecord, password: str) -> User:
        valid = self.hashing.verify(record.hashed, password)
        user = record.user
        if user is None or not valid or not user.enabled or not record.domain_enabled:
            raise errors.Unauthorized()
        return user

    def revoke_tokens_of(self, tx: Store, user_id: str) -> None:
        tx.revocations.add(issued_before_ms=now_ms(), now=utcnow(), user_id=user_id)

    def _find(
        self, tx: Store, user_id: str | None, name: str | None, domain_id: str | None,
        domain_name: str | None,
    ) -> User | None:
        if user_id:
            return tx.users.get(user_id)
        if name is None:
            return None
        if domain_id is None and domain_name is not None:
            domain = tx.projects.get_by_name(None, domain_name)
            domain_id = domain.id if domain is not None else None
        if domain_id is None:
            return None
        return tx.users.get_by_name(domain_id, name)

    def _check_default_project(self, tx: Store, project_id: str) -> None:
        project = tx.projects.get(project_id)
        if project is None:
            raise errors.not_found("project", project_id)
        if project.is_domain:
            raise errors.ValidationError(
                "Invalid input for field 'default_project_id': a domain cannot be a user's "
                "default project."
            )
