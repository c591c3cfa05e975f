"""Roles, implied roles, grants and the effective roles a user holds on a target.

Effective roles of a user on a project are: the roles granted directly on the project,
plus those granted *inherited* on any ancestor or on the project's domain, closed under
role implication (admin implies member implies reader after bootstrap). On a domain:
the roles granted directly on the domain, closed the same way. On the system: the roles
granted on the system, closed the same way.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from sevres import errors
from sevres.assignment import effective
from sevres.assignment.effective import EffectiveRole
from sevres.assignment.models import SYSTEM_TARGET, ActorKind, Assignment, Role, TargetKind
from sevres.attributes import extra
from sevres.ids import new_id
from sevres.resource.models import Project
from sevres.resource.service import ResourceService
from sevres.storage.repositories import Store
from sevres.storage.repositories.filters import flag

_ROLE_FIELDS = frozenset({"id", "name", "domain_id", "description", "options", "links"})


class AssignmentService:
    def __init__(self, resources: ResourceService) -> None:
        self.resources = resources

    # -- roles ---------------------------------------------------------------------------
    def get_role(self, tx: Store, role_id: str) -> Role:
        role = tx.roles.get(role_id)
        if role is None:
            raise errors.not_found("role", role_id)
        return role

    def list_roles(self, tx: Store, query: Mapping[str, str]) -> list[Role]:
        return tx.roles.search(query)

    def create_role(self, tx: Store, attrs: Mapping[str, Any]) -> Role:
        domain_id = attrs.get("domain_id")
        if domain_id:
            self.resources.get_domain(tx, domain_id)
        if tx.roles.get_by_name(attrs["name"], domain_id) is not None:
            raise errors.duplicate("role", attrs["name"])
        role = Role(
            id=new_id(), name=attrs["name"], domain_id=domain_id,
            description=attrs.get("description"),
            extra=extra(attrs, _ROLE_FIELDS),
        )
        tx.roles.insert(role)
        return role

    def update_role(self, tx: Store, role_id: str, attrs: Mapping[str, Any]) -> Role:
        role = self.get_role(tx, role_id)
        if "domain_id" in attrs and attrs["domain_id"] != role.domain_id:
            raise errors.ValidationError("Update of `domain_id` is not allowed.")
        name = attrs.get("name", role.name)
        if name != role.name and tx.roles.get_by_name(name, role.domain_id) is not None:
            raise errors.duplicate("role", name)
        updated = dataclasses.replace(
            role, name=name, description=attrs.get("description", role.description),
            extra={**role.extra, **extra(attrs, _ROLE_FIELDS)},
        )
        tx.roles.update(updated)
        return updated

    def delete_role(self, tx: Store, role_id: str) -> None:
        self.get_role(tx, role_id)
        tx.assignments.remove_for_role(role_id)
        tx.roles.delete(role_id)

    # -- implied roles -------------------------------------------------------------------
    def add_implication(self, tx: Store, prior_id: str, implied_id: str) -> tuple[Role, Role]:
        prior, implied = self.get_role(tx, prior_id), self.get_role(tx, implied_id)
        if prior_id == implied_id or prior_id in self._closure(tx, [implied_id]):
            raise errors.Forbidden(
                f"Implication of role {implied_id} by {prior_id} would create a loop."
            )
        if not tx.roles.has_implication(prior_id, implied_id):
            tx.roles.add_implication(prior_id, implied_id)
        return prior, implied

    def get_implication(self, tx: Store, prior_id: str, implied_id: str) -> tuple[Role, Role]:
        prior, implied = self.get_role(tx, prior_id), self.get_role(tx, implied_id)
        if not tx.roles.has_implication(prior_id, implied_id):
            raise errors.NotFound(f"{prior_id} does not imply {implied_id}.")
        return prior, implied

    def remove_implication(self, tx: Store, prior_id: str, implied_id: str) -> None:
        self.get_implication(tx, prior_id, implied_id)
        tx.roles.remove_implication(prior_id, implied_id)

    def implications(self, tx: Store) -> list[tuple[str, str]]:
        return tx.roles.implications()

    def _closure(self, tx: Store, role_ids: Iterable[str]) -> set[str]:
        """The given roles and every role they imply, transitively."""
        implied: dict[str, list[str]] = {}
        for prior, target in tx.roles.implications():
            implied.setdefault(prior, []).append(target)
        found: set[str] = set()
        stack = list(role_ids)
        while stack:
            role_id = stack.pop()
            if role_id not in found:
                found.add(role_id)
                stack.extend(implied.get(role_id, ()))
        return found

    # -- grants --------------------------------------------------------------------------
    def make_grant(
        self, tx: Store, actor_kind: ActorKind, actor_id: str, target_kind: TargetKind,
        target_id: str, role_id: str, inherited: bool = False,
    ) -> Assignment:
        """Check that every end of a grant exists; returns the assignment it names."""
        if actor_kind is ActorKind.USER and tx.users.get(actor_id) is None:
            raise errors.not_found("user", actor_id)
        if actor_kind is ActorKind.GROUP and tx.groups.get(actor_id) is None:
            raise errors.not_found("group", actor_id)
        if target_kind is TargetKind.PROJECT:
            project = self.resources.get_project(tx, target_id)
            if project.is_domain:
                target_kind = TargetKind.DOMAIN
        elif target_kind is TargetKind.DOMAIN:
            self.resources.get_domain(tx, target_id)
        self.get_role(tx, role_id)
        return Assignment(actor_kind, actor_id, target_kind, target_id, role_id, inherited)

    def grant(self, tx: Store, assignment: Assignment) -> None:
        role = self.get_role(tx, assignment.role_id)
        if role.domain_id is not None and assignment.target_kind is TargetKind.SYSTEM:
            raise errors.ValidationError(
                f"Role {role.id} is a domain-specific role. Unable to use a domain-specific "
                f"role in a system assignment.")
        if role.domain_id is not None and assignment.target_kind is TargetKind.PROJECT:
            project = tx.projects.get(assignment.target_id)
            if project is None or project.domain_id != role.domain_id:
                raise errors.Forbidden(
                    f"Project {assignment.target_id} must be in the same domain as the role "
                    f"{role.id} being assigned.")
        if role.domain_id is not None:
            target_domain = self._domain_of_target(tx, assignment)
            if target_domain != role.domain_id:
                raise errors.Forbidden(
                    f"Domain-specific role {role.id} can only be granted within domain "
                    f"{role.domain_id}."
                )
        if not tx.assignments.exists(assignment):
            tx.assignments.add(assignment)

    def check_grant(self, tx: Store, assignment: Assignment) -> None:
        if not tx.assignments.exists(assignment):
            raise errors.NotFound(
                f"Could not find role assignment with role: {assignment.role_id}, "
                f"user or group: {assignment.actor_id}, project, domain, or system: "
                f"{assignment.target_id}."
            )

    def revoke(self, tx: Store, assignment: Assignment) -> None:
        self.check_grant(tx, assignment)
        tx.assignments.remove(assignment)

    def roles_granted(
        self, tx: Store, actor_id: str, target_id: str, inherited: bool = False
    ) -> list[Role]:
        found = tx.assignments.find(actor_ids=[actor_id], target_ids=[target_id],
                                    inherited=inherited)
        return self.roles_by_ids(tx, {a.role_id for a in found})

    def _domain_of_target(self, tx: Store, assignment: Assignment) -> str | None:
        if assignment.target_kind is TargetKind.DOMAIN:
            return assignment.target_id
        if assignment.target_kind is TargetKind.PROJECT:
            project = tx.projects.get(assignment.target_id)
            return project.domain_id if project else None
        return None

    # -- effective roles (see effective.py for the rules) --------------------------------
    def effective_role_ids_on_project(self, tx: Store, user_id: str, project_id: str) -> set[str]:
        project = tx.projects.get(project_id)
        if project is None or project.is_domain:
            return set()
        return self.effective_role_ids_in(tx, user_id, project)

    def effective_role_ids_in(self, tx: Store, user_id: str, project: Project) -> set[str]:
        """The same for a project already loaded (token validation has it in hand)."""
        return {e.role_id for e in effective.on_project(tx, user_id, project)}

    def effective_role_ids_on_domain(self, tx: Store, user_id: str, domain_id: str) -> set[str]:
        return {e.role_id for e in effective.on_domain(tx, user_id, domain_id)}

    def effective_role_ids_on_system(self, tx: Store, user_id: str) -> set[str]:
        return {e.role_id for e in effective.on_system(tx, user_id)}

    def explain(self, tx: Store, user_id: str, target: Project | None) -> list[EffectiveRole]:
        """Every way the user holds each role on a project, a domain, or (None) the system."""
        graph = effective.implication_graph(tx)
        if target is None:
            return effective.all_derivations(user_id, TargetKind.SYSTEM, SYSTEM_TARGET,
                                             effective.grants_on_system(tx, user_id), graph)
        if target.is_domain:
            return effective.all_derivations(user_id, TargetKind.DOMAIN, target.id,
                                             effective.grants_on_domain(tx, user_id, target.id),
                                             graph)
        return effective.all_derivations(user_id, TargetKind.PROJECT, target.id,
                                         effective.grants_on_project(tx, user_id, target), graph)

    def holds_inherited_admin(self, tx: Store, user_id: str, project_id: str) -> bool:
        """Does the user (directly or through a group) hold a role implying admin,
        inherited, on ``project_id`` or any project or domain above it? That makes them
        the administrator of everything strictly below it (sevres's subtree admin)."""
        project = tx.projects.get(project_id)
        if project is None:
            return False
        admin = tx.roles.get_by_name("admin", None)
        if admin is None:
            return False
        actors = [user_id, *tx.groups.group_ids_of(user_id)]
        rows = tx.assignments.find(actor_ids=actors, target_ids=[project.id, *project.ancestry],
                                   inherited=True)
        graph = effective.implication_graph(tx)
        return any(admin.id in {r for r, _ in effective.expand_implied(a.role_id, graph)}
                   for a in rows)

    def roles_by_ids(self, tx: Store, role_ids: Iterable[str]) -> list[Role]:
        everything = tx.roles.all()
        roles = [everything[i] for i in role_ids if i in everything]
        return sorted(roles, key=lambda r: (r.name, r.id))

    def projects_of_user(self, tx: Store, user_id: str) -> list[str]:
        """Ids of the projects on which the user holds any effective role."""
        actors = [user_id, *tx.groups.group_ids_of(user_id)]
        rows = tx.assignments.find(actor_ids=actors, types=[
            "UserProject", "GroupProject", "UserDomain", "GroupDomain"])
        ids: set[str] = set()
        for a in rows:
            if a.target_kind is TargetKind.PROJECT and not a.inherited:
                ids.add(a.target_id)
            elif a.inherited:
                root = tx.projects.get(a.target_id)
                if root is not None:
                    ids.update(p.id for p in tx.projects.descendants(root) if not p.is_domain)
        return sorted(ids)

    def domains_of_user(self, tx: Store, user_id: str) -> list[str]:
        actors = [user_id, *tx.groups.group_ids_of(user_id)]
        rows = tx.assignments.find(actor_ids=actors, types=["UserDomain", "GroupDomain"],
                                   inherited=False)
        return sorted({a.target_id for a in rows})

    # -- listing -------------------------------------------------------------------------
    def list_assignments(
        self, tx: Store, query: Mapping[str, str], effective_only: bool
    ) -> list[Listed]:
        """GET /v3/role_assignments with Keystone's filters. Without ``effective``: the
        stored grants. With it: what users really hold (groups expanded to members,
        inherited grants to the projects below, implied roles added, system dropped)."""
        user_id = query.get("user.id")
        group_id = query.get("group.id")
        role_id = query.get("role.id")
        project_id = query.get("scope.project.id")
        domain_id = query.get("scope.domain.id")
        system = "scope.system" in query
        # As Keystone: inherited_to=projects keeps inherited grants, any other value the rest.
        inherited_to = query.get("scope.OS-INHERIT:inherited_to")
        include_subtree = flag(query, "include_subtree")
        if user_id and group_id:
            raise errors.ValidationError(
                "Specify either a user or a group in the filters, not both.")
        for one, other, both in ((system, project_id, "system or project"),
                                 (system, domain_id, "system or domain"),
                                 (domain_id, project_id, "a domain or project")):
            if one and other:
                raise errors.ValidationError(f"Specify {both}, not both")
        if include_subtree and not project_id:
            raise errors.ValidationError(
                "scope.project.id must be specified if include_subtree is also specified")
        if effective_only and group_id:
            raise errors.ValidationError(
                "Combining effective and group filter will always result in an empty list.")
        projects: set[str] | None = None
        if project_id:
            projects = {project_id}
            root = tx.projects.get(project_id)
            if include_subtree and root is not None:
                projects.update(p.id for p in tx.projects.descendants(root))

        listed: list[Listed]
        if effective_only:
            actors = ([user_id, *tx.groups.group_ids_of(user_id)] if user_id else None)
            rows = tx.assignments.find(actor_ids=actors)
            graph = effective.implication_graph(tx)
            # Keystone leaves domain-specific roles out (only the roles they imply count).
            domain_roles = {r.id for r in tx.roles.all().values() if r.domain_id}
            listed = [(e.as_assignment(), e.derivation)
                      for e in effective.expand_listing(tx, rows, graph)
                      if e.role_id not in domain_roles]
        else:
            actor = user_id or group_id
            listed = [(a, None) for a in tx.assignments.find(
                actor_ids=[actor] if actor else None)]
            if user_id:
                listed = [x for x in listed if x[0].actor_kind is ActorKind.USER]
            if group_id:
                listed = [x for x in listed if x[0].actor_kind is ActorKind.GROUP]

        def keep(a: Assignment) -> bool:
            if user_id and effective_only and a.actor_id != user_id:
                return False
            if projects is not None and (
                a.target_kind is not TargetKind.PROJECT or a.target_id not in projects
            ):
                return False
            if domain_id and (a.target_kind is not TargetKind.DOMAIN or a.target_id != domain_id):
                return False
            if system and a.target_kind is not TargetKind.SYSTEM:
                return False
            if inherited_to is not None and a.inherited != (inherited_to == "projects"):
                return False
            return not (role_id and a.role_id != role_id)

        return [x for x in listed if keep(x[0])]


Listed = tuple[Assignment, "effective.Derivation | None"]

