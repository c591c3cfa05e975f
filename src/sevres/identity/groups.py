"""Groups and their members. A group belongs to one domain; its members may come from any
domain (as in Keystone). Adding or removing a member changes that user's effective roles
at once, since tokens recompute roles at validation."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from sevres import errors
from sevres.attributes import extra
from sevres.identity.models import Group, User
from sevres.ids import new_id
from sevres.resource.service import ResourceService
from sevres.storage.repositories import Store

_GROUP_FIELDS = frozenset({"id", "name", "domain_id", "description", "links"})


class GroupService:
    def __init__(self, resources: ResourceService) -> None:
        self.resources = resources

    def get_group(self, tx: Store, group_id: str) -> Group:
        group = tx.groups.get(group_id)
        if group is None:
            raise errors.not_found("group", group_id)
        return group

    def list_groups(self, tx: Store, query: Mapping[str, str]) -> list[Group]:
        return tx.groups.search(query)

    def create_group(self, tx: Store, attrs: Mapping[str, Any], default_domain_id: str) -> Group:
        domain = self.resources.get_domain(tx, attrs.get("domain_id") or default_domain_id)
        name = attrs["name"]
        if tx.groups.get_by_name(domain.id, name) is not None:
            raise errors.Conflict(
                f"Conflict occurred attempting to store group - Duplicate entry found with "
                f"name {name} at domain ID {domain.id}."
            )
        group = Group(new_id(), name, domain.id, attrs.get("description"),
                      extra(attrs, _GROUP_FIELDS))
        tx.groups.save(group, new=True)
        return group

    def update_group(self, tx: Store, group_id: str, attrs: Mapping[str, Any]) -> Group:
        group = self.get_group(tx, group_id)
        if "domain_id" in attrs and attrs["domain_id"] != group.domain_id:
            raise errors.ValidationError("Cannot change Domain ID")
        name = attrs.get("name", group.name)
        if name != group.name and tx.groups.get_by_name(group.domain_id, name) is not None:
            raise errors.duplicate("group", name)
        updated = dataclasses.replace(
            group, name=name, description=attrs.get("description", group.description),
            extra={**group.extra, **extra(attrs, _GROUP_FIELDS)},
        )
        tx.groups.save(updated, new=False)
        return updated

    def delete_group(self, tx: Store, group_id: str) -> None:
        group = self.get_group(tx, group_id)
        tx.assignments.remove_for_actors([group.id])
        tx.groups.delete([group.id])

    # -- membership ----------------------------------------------------------------------
    def _pair(self, tx: Store, group_id: str, user_id: str) -> tuple[Group, User]:
        group = self.get_group(tx, group_id)
        user = tx.users.get(user_id)
        if user is None:
            raise errors.not_found("user", user_id)
        return group, user

    def add_member(self, tx: Store, group_id: str, user_id: str) -> None:
        group, user = self._pair(tx, group_id, user_id)
        if not tx.groups.is_member(user.id, group.id):
            tx.groups.add_member(user.id, group.id)

    def check_member(self, tx: Store, group_id: str, user_id: str) -> None:
        group, user = self._pair(tx, group_id, user_id)
        if not tx.groups.is_member(user.id, group.id):
            raise errors.NotFound(f"User '{user.id}' not found in group '{group.id}'")

    def remove_member(self, tx: Store, group_id: str, user_id: str) -> None:
        self.check_member(tx, group_id, user_id)
        tx.groups.remove_member(user_id, group_id)

    def members(self, tx: Store, group_id: str) -> list[User]:
        group = self.get_group(tx, group_id)
        found = [tx.users.get(i) for i in tx.groups.member_ids(group.id)]
        return sorted((u for u in found if u is not None), key=lambda u: (u.name, u.id))

    def groups_of(self, tx: Store, user_id: str) -> list[Group]:
        if tx.users.get(user_id) is None:
            raise errors.not_found("user", user_id)
        groups = tx.groups.get_many(tx.groups.group_ids_of(user_id))
        return sorted(groups, key=lambda g: (g.name, g.id))
