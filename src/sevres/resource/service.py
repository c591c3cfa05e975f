"""Rules for domains and projects, as Keystone applies them.

- Names are unique among domains, and among the projects of one domain (not per parent).
- A top-level project's parent is its domain; a child lives in its parent's domain.
- A project may sit at most ``max_depth`` levels below its domain (403 beyond).
- No project is created under a disabled one (400); a project whose subtree holds enabled
  projects cannot be disabled (403), nor one enabled under a disabled parent (403).
- A project with children is deleted only with ``cascade``, and only when every project
  below it is disabled (403 otherwise).
- A domain must be disabled before it is deleted; its projects, users, domain-specific
  roles and every assignment on or by them go with it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from sevres import errors
from sevres.attributes import extra
from sevres.ids import new_id, utcnow
from sevres.resource import tags
from sevres.resource.models import Project
from sevres.storage.repositories import Store
from sevres.storage.repositories.filters import is_true
from sevres.tokens.clock import now_ms


class ResourceService:
    def __init__(self, max_depth: int) -> None:
        self.max_depth = max_depth

    # -- reading -------------------------------------------------------------------------
    def get_domain(self, tx: Store, domain_id: str) -> Project:
        domain = tx.projects.get(domain_id)
        if domain is None or not domain.is_domain:
            raise errors.not_found("domain", domain_id)
        return domain

    def get_project(self, tx: Store, project_id: str) -> Project:
        project = tx.projects.get(project_id)
        if project is None:
            raise errors.not_found("project", project_id)
        return project

    def find_domain_by_name(self, tx: Store, name: str) -> Project:
        domain = tx.projects.get_by_name(None, name)
        if domain is None:
            raise errors.not_found("domain", name)
        return domain

    def list_domains(self, tx: Store, query: Mapping[str, str]) -> list[Project]:
        return tx.projects.search(query, is_domain=True)

    def list_projects(self, tx: Store, query: Mapping[str, str]) -> list[Project]:
        wanted = dict(query)
        is_domain = is_true(wanted.pop("is_domain", "false"))
        found = tx.projects.search(wanted, is_domain=is_domain)
        by_tags = tags.wanted(query)
        return [p for p in found if tags.matches(p.tags, by_tags)] if by_tags else found

    def ancestors(self, tx: Store, project: Project) -> list[Project]:
        """The chain of parents from the nearest up to (and including) the domain: one
        query, whatever the depth, thanks to the materialised ancestry."""
        found = {p.id: p for p in tx.projects.get_many(project.ancestry)}
        return [found[i] for i in reversed(project.ancestry) if i in found]

    def subtree(self, tx: Store, project: Project) -> list[Project]:
        """Every project below ``project``, not the project itself (one query)."""
        return tx.projects.descendants(project)

    def parents_as_ids(self, tx: Store, project: Project) -> dict[str, Any] | None:
        """Keystone's nested form: {parent: {grandparent: {... {domain: None}}}}."""
        nested: dict[str, Any] | None = None
        for ancestor_id in project.ancestry:  # from the domain down to the parent
            nested = {ancestor_id: nested}
        return nested

    def subtree_as_ids(self, tx: Store, project: Project) -> dict[str, Any] | None:
        """Keystone's nested form: {child: {grandchild: None}, leaf: None}; None if leaf."""
        children: dict[str, list[str]] = {}
        for below in tx.projects.descendants(project):
            children.setdefault(below.parent_id or "", []).append(below.id)

        def nest(node: str) -> dict[str, Any] | None:
            kids = children.get(node)
            return {kid: nest(kid) for kid in kids} if kids else None

        return nest(project.id)

    # -- domains -------------------------------------------------------------------------
    def create_domain(
        self, tx: Store, attrs: Mapping[str, Any], domain_id: str | None = None
    ) -> Project:
        name = attrs["name"]
        if tx.projects.get_by_name(None, name) is not None:
            raise _duplicate_domain(name)
        ident = domain_id or attrs.get("explicit_domain_id") or new_id()
        if tx.projects.get(ident) is not None:
            raise errors.Conflict(
                f"Conflict occurred attempting to store domain - Duplicate ID, {ident}."
            )
        domain = Project(
            id=ident, name=name, description=attrs.get("description"),
            enabled=attrs.get("enabled", True), domain_id=None, parent_id=None, is_domain=True,
            tags=tuple(attrs.get("tags") or ()), extra=extra(attrs, _DOMAIN_FIELDS),
        )
        tx.projects.insert(domain)
        return domain

    def update_domain(self, tx: Store, domain_id: str, attrs: Mapping[str, Any]) -> Project:
        domain = self.get_domain(tx, domain_id)
        return self._update(tx, domain, attrs, _DOMAIN_FIELDS)

    def delete_domain(self, tx: Store, domain_id: str) -> None:
        domain = self.get_domain(tx, domain_id)
        if domain.enabled:
            raise errors.Forbidden(
                "Cannot delete a domain that is enabled, please disable it first."
            )
        projects = [p.id for p in tx.projects.in_domain(domain.id)]
        users = tx.users.ids_in_domain(domain.id)
        groups = tx.groups.ids_in_domain(domain.id)
        tx.assignments.remove_for_targets([*projects, domain.id])
        tx.assignments.remove_for_actors([*users, *groups])
        tx.groups.delete(groups)
        for role_id in tx.roles.ids_in_domain(domain.id):
            tx.assignments.remove_for_role(role_id)
            tx.roles.delete(role_id)
        tx.users.delete(users)
        tx.projects.delete(projects)
        tx.projects.delete([domain.id])
        _revoke_tokens_on(tx, domain)

    # -- projects ------------------------------------------------------------------------
    def create_project(
        self, tx: Store, attrs: Mapping[str, Any], default_domain_id: str
    ) -> Project:
        if attrs.get("is_domain"):
            if attrs.get("parent_id"):
                raise errors.ValidationError(
                    "Invalid input for field 'parent_id': a project acting as a domain "
                    "cannot have a parent."
                )
            return self.create_domain(tx, attrs)
        parent_id = attrs.get("parent_id")
        domain_id = attrs.get("domain_id")
        if parent_id:
            parent = tx.projects.get(parent_id)
            if parent is None:
                # Keystone answers 400 (not 404) for a reference inside the body.
                raise errors.ValidationError(f"Could not find project: {parent_id}.")
            parent_domain = parent.id if parent.is_domain else parent.domain_id
            if domain_id and domain_id != parent_domain:
                raise errors.ValidationError(
                    f"Cannot create project, since it specifies its domain_id {domain_id}, "
                    f"but specifies a parent in a different domain ({parent_domain})."
                )
            domain_id = parent_domain
        wanted_domain = domain_id or default_domain_id
        found_domain = tx.projects.get(wanted_domain)
        if found_domain is None or not found_domain.is_domain:
            raise errors.ValidationError(f"Could not find domain: {wanted_domain}.")
        domain = found_domain
        # One hierarchy change per domain at a time (see _move), and the parent's ancestry
        # read after the lock: a child made while its parent moves gets the new ancestry.
        tx.projects.lock(domain.id)
        parent = tx.projects.lock(parent_id) if parent_id else domain
        if parent is None:
            raise errors.ValidationError(f"Could not find project: {parent_id}.")
        chain = [parent, *self.ancestors(tx, parent)]
        disabled = next((p for p in chain if not p.enabled and not p.is_domain), None)
        if disabled is not None:
            raise errors.ValidationError(
                f"cannot create a project in a branch containing a disabled project: {disabled.id}"
            )
        if parent.depth + 1 > self.max_depth:
            raise errors.Forbidden(f"Max hierarchy depth reached for {parent.id} branch.")
        name = attrs["name"]
        ident = new_id()
        if tx.projects.get_by_name(domain.id, name) is not None:
            raise _duplicate_project(name, ident)
        project = Project(
            id=ident, name=name, description=attrs.get("description"),
            enabled=attrs.get("enabled", True), domain_id=domain.id, parent_id=parent.id,
            is_domain=False, tags=tuple(attrs.get("tags") or ()),
            extra=extra(attrs, _PROJECT_FIELDS), ancestry=(*parent.ancestry, parent.id),
        )
        tx.projects.insert(project)
        return project

    def update_project(self, tx: Store, project_id: str, attrs: Mapping[str, Any]) -> Project:
        project = self.get_project(tx, project_id)
        if "domain_id" in attrs and attrs["domain_id"] != project.domain_id:
            raise errors.ValidationError("Cannot change Domain ID")
        if "is_domain" in attrs and attrs["is_domain"] != project.is_domain:
            raise errors.ValidationError("Update of `is_domain` is not allowed.")
        if "parent_id" in attrs and attrs["parent_id"] != project.parent_id:
            if project.is_domain or not attrs["parent_id"]:
                raise errors.ValidationError(
                    "Invalid input for field 'parent_id': a project moves under another "
                    "project or its own domain, and a domain has no parent."
                )
            project = self._move(tx, project, attrs["parent_id"])
        if project.is_domain:
            return self._update(tx, project, attrs, _DOMAIN_FIELDS)
        enabled = attrs.get("enabled")
        if enabled is False and project.enabled and any(
            p.enabled for p in self.subtree(tx, project)
        ):
            raise errors.Forbidden(
                f"Cannot disable project {project.id} since its subtree contains "
                "enabled projects."
            )
        if enabled is True and not project.enabled:
            disabled = [p for p in self.ancestors(tx, project) if not p.enabled and not p.is_domain]
            if disabled:
                raise errors.Forbidden(
                    f"Cannot enable project {project.id} since it has disabled parents."
                )
        return self._update(tx, project, attrs, _PROJECT_FIELDS)

    def delete_project(self, tx: Store, project_id: str, cascade: bool = False) -> list[str]:
        """Delete a project (and with ``cascade`` its subtree); returns the ids deleted."""
        project = self.get_project(tx, project_id)
        if project.is_domain:
            self.delete_domain(tx, project.id)
            return [project.id]
        below = self.subtree(tx, project)
        if below and not cascade:
            raise errors.Forbidden(
                f"Cannot delete the project {project.id} since it is not a leaf in the "
                "hierarchy. Use the cascade option if you want to delete a whole subtree."
            )
        if any(p.enabled for p in below):
            raise errors.Forbidden(
                f"Cannot delete project {project.id} since its subtree contains enabled projects."
            )
        ids = [project.id, *(p.id for p in below)]
        tx.assignments.remove_for_targets(ids)
        tx.projects.delete(ids)
        for deleted in [project, *below]:
            _revoke_tokens_on(tx, deleted)
        return ids

    def _move(self, tx: Store, project: Project, parent_id: str) -> Project:
        """Move ``project`` (with its subtree) under ``parent_id`` in the same domain.

        Refused: a parent that is unknown (400), in another domain (400), the project
        itself or below it (400, a cycle), disabled while the project is enabled (400,
        as at creation), or a move that would push the deepest project of the subtree
        past ``max_depth`` (409). Ancestries of the whole subtree are rewritten in the
        same transaction, so effective roles follow the move at once.
        """
        # Moves and creates in a domain queue on its row, and everything the move reads
        # below is read (locked) after that: two concurrent moves cannot each miss the
        # other and make a cycle, nor a concurrent create leave a stale ancestry.
        tx.projects.lock(project.domain_id or project.id)
        locked = tx.projects.lock(project.id)
        if locked is None:  # deleted meanwhile
            raise errors.not_found("project", project.id)
        project = locked
        parent = tx.projects.lock(parent_id)
        if parent is None:
            raise errors.ValidationError(f"Could not find project: {parent_id}.")
        parent_domain = parent.id if parent.is_domain else parent.domain_id
        if parent_domain != project.domain_id:
            raise errors.ValidationError(
                f"Cannot move project {project.id} under {parent.id}: it is in domain "
                f"{parent_domain}, not in {project.domain_id}."
            )
        if parent.id == project.id or project.id in parent.ancestry:
            raise errors.ValidationError(
                f"Cannot move project {project.id} under {parent.id}: it is the project "
                "itself or lies below it, which would make a cycle."
            )
        below = tx.projects.descendants(project, lock=True)
        height = max((p.depth for p in below), default=project.depth) - project.depth
        if parent.depth + 1 + height > self.max_depth:
            raise errors.Conflict(
                f"Cannot move project {project.id} under {parent.id}: its subtree would "
                f"reach depth {parent.depth + 1 + height}, over the limit of {self.max_depth}."
            )
        if project.enabled:
            chain = [parent, *self.ancestors(tx, parent)]
            disabled = next((p for p in chain if not p.enabled and not p.is_domain), None)
            if disabled is not None:
                raise errors.ValidationError(
                    f"Cannot move enabled project {project.id} into a branch containing a "
                    f"disabled project: {disabled.id}"
                )
        ancestry = (*parent.ancestry, parent.id)
        cut = len(project.ancestry) + 1
        tx.projects.set_ancestry([
            (project.id, ancestry),
            *((p.id, (*ancestry, project.id, *p.ancestry[cut:])) for p in below),
        ])
        return dataclasses.replace(project, parent_id=parent.id, ancestry=ancestry)

    # -- project tags (see sevres.resource.tags) ----------------------------------------
    def has_tag(self, tx: Store, project_id: str, tag: str) -> None:
        """Nothing if the project holds ``tag`` (case-sensitive); 404 otherwise."""
        if tag not in self.get_project(tx, project_id).tags:
            raise errors.not_found("project tag", tag)

    def set_tags(self, tx: Store, project_id: str, wanted: list[str]) -> Project:
        """Replace every tag of a project (none: remove them all)."""
        project = self._locked(tx, project_id)
        return self._store_tags(tx, project, tags.checked_set(wanted))

    def add_tag(self, tx: Store, project_id: str, tag: str) -> str:
        """Add one tag; as Keystone, 400 when the project holds it already or would then
        hold more than the limit. Returns the tag as stored (stripped)."""
        project = self._locked(tx, project_id)
        name = tags.checked(tag)
        self._store_tags(tx, project, tags.checked_set([*project.tags, name]))
        return name

    def remove_tag(self, tx: Store, project_id: str, tag: str) -> None:
        project = self._locked(tx, project_id)
        if tag not in project.tags:
            raise errors.not_found("project tag", tag)
        self._store_tags(tx, project, tuple(t for t in project.tags if t != tag))

    def _locked(self, tx: Store, project_id: str) -> Project:
        """The project's latest row, locked: two tag writes on one project queue."""
        project = tx.projects.lock(project_id)
        if project is None:
            raise errors.not_found("project", project_id)
        return project

    def _store_tags(self, tx: Store, project: Project, wanted: tuple[str, ...]) -> Project:
        updated = dataclasses.replace(project, tags=wanted)
        tx.projects.update(updated)
        return updated

    # -- shared --------------------------------------------------------------------------
    def _update(
        self, tx: Store, entity: Project, attrs: Mapping[str, Any], known: frozenset[str]
    ) -> Project:
        name = attrs.get("name", entity.name)
        if name != entity.name:
            scope = None if entity.is_domain else entity.domain_id
            if tx.projects.get_by_name(scope, name) is not None:
                if entity.is_domain:
                    raise _duplicate_domain(name)
                raise _duplicate_project(name, entity.id)
        updated = dataclasses.replace(
            entity,
            name=name,
            description=attrs.get("description", entity.description),
            enabled=attrs.get("enabled", entity.enabled),
            tags=tuple(attrs["tags"]) if "tags" in attrs else entity.tags,
            extra={**entity.extra, **extra(attrs, known)},
        )
        tx.projects.update(updated)
        if entity.enabled and not updated.enabled:
            _revoke_tokens_on(tx, entity)
        return updated


_PROJECT_FIELDS = frozenset(
    {"id", "name", "description", "enabled", "domain_id", "parent_id", "is_domain", "tags",
     "options", "links"}
)
_DOMAIN_FIELDS = _PROJECT_FIELDS | {"explicit_domain_id"}


def _duplicate_domain(name: str) -> errors.Conflict:
    return errors.Conflict(
        "Conflict occurred attempting to store project - it is not permitted to have two "
        f"projects acting as domains with the same name: {name}."
    )


def _duplicate_project(name: str, project_id: str) -> errors.Conflict:
    return errors.Conflict(
        "Conflict occurred attempting to store project - it is not permitted to have two "
        "projects with either the same name or same id in the same domain: "
        f"name is {name}, project id {project_id}."
    )



def _revoke_tokens_on(tx: Store, entity: Project) -> None:
    """Tokens scoped to a disabled or deleted project or domain (or, for a domain, held by
    its users) stay dead even if it is enabled again or its id is reused."""
    if entity.is_domain:
        tx.revocations.add(issued_before_ms=now_ms(), now=utcnow(), domain_id=entity.id)
    else:
        tx.revocations.add(issued_before_ms=now_ms(), now=utcnow(), project_id=entity.id)
