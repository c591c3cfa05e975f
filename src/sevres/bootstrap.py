"""Bootstrap, like ``keystone-manage bootstrap`` and idempotent: run it again and it only
adds what is missing (it never changes an existing user's password).

It makes sure of: the Default domain (id ``default``); project ``admin`` and user
``admin`` in it; roles admin, manager, member, reader and service with admin implying
manager implying member implying reader (Keystone 30's defaults); the admin role for the
admin user on the admin project and on the system; a region; and the identity service
with public, internal and admin endpoints.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from sevres.app import Services
from sevres.assignment.models import SYSTEM_TARGET, ActorKind, Assignment, TargetKind
from sevres.audit import command_request
from sevres.log import emit, events
from sevres.resource.models import DEFAULT_DOMAIN_ID
from sevres.storage.repositories import Store

ROLE_CHAIN = ("admin", "manager", "member", "reader")
OTHER_ROLES = ("service",)


@dataclass(frozen=True)
class BootstrapResult:
    user_id: str
    project_id: str
    created_user: bool


def bootstrap(
    services: Services, password: str, endpoint_url: str, region_id: str = "RegionOne",
    username: str = "admin", project_name: str = "admin",
) -> BootstrapResult:
    # Audited like an API request: each entity it creates is one CADF record, written
    # once the transaction commits, with the command as the request path.
    with (
        services.audit.request(command_request("sevres bootstrap"), None),
        services.database.transaction() as tx,
    ):
        result = _bootstrap(services, tx, password, endpoint_url, region_id, username,
                            project_name)
    emit(events.BOOTSTRAPPED, user_id=result.user_id, project_id=result.project_id)
    return result


def _bootstrap(
    s: Services, tx: Store, password: str, url: str, region_id: str, username: str,
    project_name: str,
) -> BootstrapResult:
    if tx.projects.get(DEFAULT_DOMAIN_ID) is None:
        s.resources.create_domain(tx, {"name": "Default", "description": "The default domain"},
                                  domain_id=DEFAULT_DOMAIN_ID)
        _created("domain", DEFAULT_DOMAIN_ID)
    project = tx.projects.get_by_name(DEFAULT_DOMAIN_ID, project_name)
    if project is None:
        project = s.resources.create_project(tx, {"name": project_name}, DEFAULT_DOMAIN_ID)
        _created("project", project.id)
    user = tx.users.get_by_name(DEFAULT_DOMAIN_ID, username)
    created_user = user is None
    if user is None:
        user = s.identity.create_user(tx, {"name": username, "password": password},
                                      DEFAULT_DOMAIN_ID, bootstrap=True)
        _created("user", user.id)
    role_ids: dict[str, str] = {}
    for name in (*ROLE_CHAIN, *OTHER_ROLES):
        role = tx.roles.get_by_name(name, None)
        if role is None:
            role = s.assignments.create_role(tx, {"name": name})
            _created("role", role.id)
        role_ids[name] = role.id
    for prior, implied in itertools.pairwise(ROLE_CHAIN):
        if not tx.roles.has_implication(role_ids[prior], role_ids[implied]):
            tx.roles.add_implication(role_ids[prior], role_ids[implied])
            emit(events.IMPLICATION_ADDED, prior_role_id=role_ids[prior],
                 implied_role_id=role_ids[implied])
    admin = role_ids["admin"]
    for grant in (
        Assignment(ActorKind.USER, user.id, TargetKind.PROJECT, project.id, admin),
        Assignment(ActorKind.USER, user.id, TargetKind.SYSTEM, SYSTEM_TARGET, admin),
    ):
        if not tx.assignments.exists(grant):
            s.assignments.grant(tx, grant)
            emit(events.GRANT_ADDED, role_id=grant.role_id, actor_id=grant.actor_id,
                 target_id=grant.target_id)
    if tx.catalog.get_region(region_id) is None:
        s.catalog.create_region(tx, {}, region_id)
        _created("region", region_id)
    identity = next((x for x in tx.catalog.list_services({"type": "identity"})), None)
    if identity is None:
        identity = s.catalog.create_service(tx, {"type": "identity", "name": "keystone"})
        _created("service", identity.id)
    existing = {e.interface for e in tx.catalog.list_endpoints(
        {"service_id": identity.id, "region_id": region_id})}
    for interface in ("public", "internal", "admin"):
        if interface not in existing:
            endpoint = s.catalog.create_endpoint(
                tx, {"interface": interface, "service_id": identity.id,
                     "region_id": region_id, "url": url})
            _created("endpoint", endpoint.id)
    return BootstrapResult(user.id, project.id, created_user)


def _created(kind: str, entity_id: str) -> None:
    emit(events.ENTITY_CREATED, kind=kind, entity_id=entity_id)
