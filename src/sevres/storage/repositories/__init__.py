"""Repositories: all SQL lives here. A ``Store`` bundles them over one transaction."""

from __future__ import annotations

import sqlalchemy as sa

from sevres.storage.repositories.assignments import AssignmentRepository
from sevres.storage.repositories.catalog import CatalogRepository
from sevres.storage.repositories.groups import GroupRepository
from sevres.storage.repositories.projects import ProjectRepository
from sevres.storage.repositories.revocations import RevocationRepository
from sevres.storage.repositories.roles import RoleRepository
from sevres.storage.repositories.users import UserRepository


class Store:
    """The repositories of one transaction; services receive this and nothing else."""

    def __init__(self, connection: sa.Connection) -> None:
        self.connection = connection
        self.projects = ProjectRepository(connection)
        self.users = UserRepository(connection)
        self.groups = GroupRepository(connection)
        self.roles = RoleRepository(connection)
        self.assignments = AssignmentRepository(connection)
        self.catalog = CatalogRepository(connection)
        self.revocations = RevocationRepository(connection)


__all__ = ["Store"]
