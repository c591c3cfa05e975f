"""Repositories: all SQL lives here. A ``Store`` bundles them over one transaction."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import sqlalchemy as sa

from sevres.storage.repositories.appcreds import ApplicationCredentialRepository
from sevres.storage.repositories.assignments import AssignmentRepository
from sevres.storage.repositories.catalog import CatalogRepository
from sevres.storage.repositories.groups import GroupRepository
from sevres.storage.repositories.keys import KeyRepository
from sevres.storage.repositories.logins import LoginStateRepository
from sevres.storage.repositories.projects import ProjectRepository
from sevres.storage.repositories.revocations import RevocationRepository
from sevres.storage.repositories.roles import RoleRepository
from sevres.storage.repositories.users import UserRepository

R = TypeVar("R")


class Store:
    """The repositories of one transaction; services receive this and nothing else.

    The connection (and so the transaction) is opened only when a repository is first
    used, so a request answered from memory never touches the database.
    """

    def __init__(self, connect: Callable[[], sa.Connection]) -> None:
        self._connect = connect
        self._connection: sa.Connection | None = None
        self._repositories: dict[object, Any] = {}
        self.deferred: list[Callable[[Store], None]] = []

    def afterwards(self, work: Callable[[Store], None]) -> None:
        """Run ``work`` once this transaction is over, committed or rolled back, in a
        writing transaction of its own: bookkeeping that must outlive a refused request
        (a failed login's count) or that a read-only request needs written."""
        self.deferred.append(work)

    @property
    def opened(self) -> bool:
        return self._connection is not None

    @property
    def connection(self) -> sa.Connection:
        if self._connection is None:
            self._connection = self._connect()
        return self._connection

    def _repository(self, kind: Callable[[sa.Connection], R]) -> R:
        # Not functools.cached_property: on Python 3.11 it holds one lock for all
        # instances, so a request waiting on the database would block every other.
        found: R | None = self._repositories.get(kind)
        if found is None:
            found = self._repositories[kind] = kind(self.connection)
        return found

    @property
    def projects(self) -> ProjectRepository:
        return self._repository(ProjectRepository)

    @property
    def users(self) -> UserRepository:
        return self._repository(UserRepository)

    @property
    def groups(self) -> GroupRepository:
        return self._repository(GroupRepository)

    @property
    def roles(self) -> RoleRepository:
        return self._repository(RoleRepository)

    @property
    def assignments(self) -> AssignmentRepository:
        return self._repository(AssignmentRepository)

    @property
    def catalog(self) -> CatalogRepository:
        return self._repository(CatalogRepository)

    @property
    def revocations(self) -> RevocationRepository:
        return self._repository(RevocationRepository)

    @property
    def keys(self) -> KeyRepository:
        return self._repository(KeyRepository)

    @property
    def appcreds(self) -> ApplicationCredentialRepository:
        return self._repository(ApplicationCredentialRepository)

    @property
    def logins(self) -> LoginStateRepository:
        return self._repository(LoginStateRepository)


__all__ = ["Store"]
