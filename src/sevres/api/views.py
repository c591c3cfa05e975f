"""Entities rendered as Keystone renders them: attributes, extras, and ``links``."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from sevres.appcreds.models import AccessRule, AppCred
from sevres.assignment.effective import Derivation
from sevres.assignment.models import Assignment, Role, TargetKind, grant_path
from sevres.catalog.models import Endpoint, Region, Service
from sevres.identity.models import Group, User
from sevres.resource.models import Project


def _self(base: str, path: str) -> dict[str, str]:
    return {"self": f"{base}/v3/{path}"}


def domain(base: str, d: Project) -> dict[str, Any]:
    return {
        **d.extra, "id": d.id, "name": d.name, "description": d.description or "",
        "enabled": d.enabled, "tags": list(d.tags), "options": {},
        "links": _self(base, f"domains/{d.id}"),
    }


def project(base: str, p: Project) -> dict[str, Any]:
    return {
        **p.extra, "id": p.id, "name": p.name, "description": p.description or "",
        "enabled": p.enabled, "domain_id": p.domain_id, "parent_id": p.parent_id,
        "is_domain": p.is_domain, "tags": sorted(p.tags), "options": {},
        "links": _self(base, f"projects/{p.id}"),
    }


def password_expires_at(u: User) -> str | None:
    """As Keystone renders it: '2016-11-06T15:32:17.000000', no zone (it is UTC)."""
    moment = u.password_expires_at
    return None if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%S.%f")


def user(base: str, u: User) -> dict[str, Any]:
    body: dict[str, Any] = {
        **u.extra, "id": u.id, "name": u.name, "domain_id": u.domain_id, "enabled": u.enabled,
        "password_expires_at": password_expires_at(u), "options": dict(u.options),
        "links": _self(base, f"users/{u.id}"),
    }
    if u.default_project_id:
        body["default_project_id"] = u.default_project_id
    return body


def group(base: str, g: Group) -> dict[str, Any]:
    return {**g.extra, "id": g.id, "name": g.name, "domain_id": g.domain_id,
            "description": g.description or "", "links": _self(base, f"groups/{g.id}")}


def role(base: str, r: Role) -> dict[str, Any]:
    return {
        **r.extra, "id": r.id, "name": r.name, "domain_id": r.domain_id,
        "description": r.description, "options": {}, "links": _self(base, f"roles/{r.id}"),
    }


def role_ref(base: str, r: Role) -> dict[str, Any]:
    return {"id": r.id, "name": r.name, "links": _self(base, f"roles/{r.id}")}


def region(base: str, r: Region) -> dict[str, Any]:
    return {**r.extra, "id": r.id, "description": r.description,
            "parent_region_id": r.parent_region_id, "links": _self(base, f"regions/{r.id}")}


def service(base: str, s: Service) -> dict[str, Any]:
    return {**s.extra, "id": s.id, "type": s.type, "enabled": s.enabled,
            "links": _self(base, f"services/{s.id}")}


def endpoint(base: str, e: Endpoint) -> dict[str, Any]:
    return {**e.extra, "id": e.id, "interface": e.interface, "region_id": e.region_id,
            "region": e.region_id, "service_id": e.service_id, "url": e.url,
            "enabled": e.enabled, "links": _self(base, f"endpoints/{e.id}")}


def assignment(
    base: str, a: Assignment, names: Callable[[str, str], dict[str, Any]] | None = None,
    derivation: Derivation | None = None,
) -> dict[str, Any]:
    """One entry of GET /v3/role_assignments; ``names`` adds names for include_names, and
    ``derivation`` (effective listings) links the grant, membership and prior role behind
    an entry."""
    if a.target_kind is TargetKind.SYSTEM:
        scope: dict[str, Any] = {"system": {"all": True}}
    else:
        scope = {a.target_kind.value: {"id": a.target_id}}
        if a.inherited:
            scope["OS-INHERIT:inherited_to"] = "projects"
    source = derivation.assignment if derivation else a
    links = {"assignment": f"{base}/v3/{grant_path(source)}"}
    if derivation is not None and derivation.via_group:
        links["membership"] = f"{base}/v3/groups/{derivation.via_group}/users/{a.actor_id}"
    if derivation is not None and derivation.implied_by:
        links["prior_role"] = f"{base}/v3/roles/{derivation.implied_by[-1]}"
    body: dict[str, Any] = {
        "role": {"id": a.role_id},
        "scope": scope,
        a.actor_kind.value: {"id": a.actor_id},
        "links": links,
    }
    if names is not None:
        body["role"].update(names("role", a.role_id))
        body[a.actor_kind.value].update(names(a.actor_kind.value, a.actor_id))
        if a.target_kind is not TargetKind.SYSTEM:
            body["scope"][a.target_kind.value].update(names(a.target_kind.value, a.target_id))
    return body


def access_rule(base: str, a: AccessRule) -> dict[str, Any]:
    """Keystone's access rule; its link leads to the rule under its user."""
    return {"id": a.id, "service": a.service, "path": a.path, "method": a.method,
            "links": _self(base, f"users/{a.user_id}/access_rules/{a.id}")}


def app_cred(base: str, c: AppCred, roles: Iterable[Role]) -> dict[str, Any]:
    """Keystone's application credential (never its secret): its roles in full,
    ``expires_at`` as Keystone prints it (microseconds, no zone: UTC)."""
    body: dict[str, Any] = {
        "id": c.id, "name": c.name, "description": c.description, "user_id": c.user_id,
        "project_id": c.project_id, "system": c.system,
        "expires_at": c.expires_at.strftime("%Y-%m-%dT%H:%M:%S.%f") if c.expires_at else None,
        "unrestricted": c.unrestricted,
        "roles": [role(base, r) for r in roles],  # Keystone shows each role in full
        "links": _self(base, f"users/{c.user_id}/application_credentials/{c.id}"),
    }
    if c.access_rules:  # as Keystone: no key at all without rules
        body["access_rules"] = [{"id": a.id, "service": a.service, "path": a.path,
                                 "method": a.method} for a in c.access_rules]
    return body
