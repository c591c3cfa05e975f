"""What policy sees: the caller's credentials and the target of a request, in the keys
Keystone's rules name (see policy/enforcer.py for the full list).

Targets are read from the path (``project_id``, ``target_id`` of a grant, ``user_id``,
``group_id``, ``role_id``...), the query (list filters) and, for creates, the body; the
entities they name are loaded so that rules can compare domains. An id that names nothing
leaves its entry with the id alone: the rule decides (usually 403 for a non-admin, as in
Keystone), and the handler answers 404 to those allowed to know.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sevres.assignment.models import TargetKind
from sevres.config import Settings
from sevres.resource.models import Project
from sevres.storage.repositories import Store
from sevres.tokens.service import ValidToken

if TYPE_CHECKING:
    from sevres.api.http import Call
    from sevres.app import Services


def on_admin_project(settings: Settings, project: Project | None) -> bool:
    """Is this the admin project (``[resource] admin_project_name`` in its domain)?"""
    return (project is not None and project.name == settings.admin_project_name
            and project.domain_id == settings.admin_project_domain_id)


def credentials(services: Services, tx: Store, token: ValidToken) -> dict[str, Any]:
    """The caller as Keystone's rules name them, plus sevres's subtree-admin callback."""
    project, domain = token.project, token.domain
    is_admin_project = on_admin_project(services.settings, project)
    token_view: dict[str, Any] = {
        "is_admin_project": is_admin_project,
        "user": {"id": token.user.id, "domain": {"id": token.user.domain_id}},
    }
    if project is not None:
        token_view["project"] = {"id": project.id, "domain": {"id": project.domain_id}}
    elif domain is not None:
        token_view["domain"] = {"id": domain.id}
    user_id = token.user.id

    def subtree_admin_of(project_id: str) -> bool:
        return services.assignments.holds_inherited_admin(tx, user_id, project_id)

    return {
        "user_id": user_id,
        "user_domain_id": token.user.domain_id,
        "project_id": project.id if project else None,
        "project_domain_id": project.domain_id if project else None,
        "domain_id": domain.id if domain is not None and project is None else None,
        "system_scope": "all" if token.is_system else None,
        "roles": sorted(token.role_names),
        "token": token_view,
        "subtree_admin_of": subtree_admin_of,
    }


def _project_ref(project: Project | None, ident: str) -> dict[str, Any]:
    if project is None:
        return {"id": ident}
    if project.is_domain:
        return {"id": project.id, "domain_id": project.id}
    return {"id": project.id, "domain_id": project.domain_id, "parent_id": project.parent_id}


def target(call: Call) -> dict[str, Any]:
    """The target of this request for its policy rule."""
    tx, params, query = call.tx, call.params, call.query
    found: dict[str, Any] = {}
    flat: dict[str, Any] = {k: v for k, v in {**query, **params}.items() if "." not in k}

    project_id = params.get("project_id")
    if project_id is not None:
        found["project"] = _project_ref(tx.projects.get(project_id), project_id)
    if "domain_id" in params:
        found["domain"] = {"id": params["domain_id"]}
    if "target_id" in params:  # a grant's target: /v3/{projects|domains}/{target_id}/...
        kind = (TargetKind.DOMAIN if "/domains/" in call.request.url.path
                else TargetKind.PROJECT)
        ident = params["target_id"]
        if kind is TargetKind.PROJECT:
            found["project"] = _project_ref(tx.projects.get(ident), ident)
        else:
            found["domain"] = {"id": ident}
    actor_id = params.get("actor_id")
    if actor_id is not None:  # grants name their actor actor_id: a user or a group
        if "/groups/" in call.request.url.path:
            params = {**params, "group_id": actor_id}
        else:
            params = {**params, "user_id": actor_id}
            flat["user_id"] = actor_id
    if "user_id" in params:
        user = tx.users.get(params["user_id"])
        found["user"] = {"id": params["user_id"],
                         **({"domain_id": user.domain_id} if user else {})}
    if "group_id" in params:
        group = tx.groups.get(params["group_id"])
        found["group"] = {"id": params["group_id"],
                          **({"domain_id": group.domain_id} if group else {})}
    for key in ("role_id", "prior_role_id"):
        if key in params:
            role = tx.roles.get(params[key])
            found["role"] = ({"id": role.id, "name": role.name, "domain_id": role.domain_id}
                             if role else {"id": params[key]})
    _from_body(call, found)
    _from_filters(query, found, flat)
    _domain_scoped_list(call, found)
    return {**flat, "target": found}


def scope_domain(call: Call) -> str | None:
    """The domain of a domain-scoped token, else None. Keystone's list APIs (projects,
    users, groups, domains, role assignments) give it to policy as the target's domain
    and answer only what lies in it: handlers filter on it."""
    token = call.token
    if token is None or token.project is not None or token.domain is None:
        return None
    return token.domain.id


_DOMAIN_SCOPED_LISTS = ("/v3/projects", "/v3/users", "/v3/role_assignments")


def _domain_scoped_list(call: Call, found: dict[str, Any]) -> None:
    """As Keystone: a domain-scoped caller listing projects, users, groups, domains or role
    assignments is checked against their own domain, whatever the filters say (the
    handler then drops what lies outside it)."""
    domain = scope_domain(call)
    if domain is None or call.request.method not in ("GET", "HEAD"):
        return
    path = call.request.url.path.rstrip("/")
    if path in _DOMAIN_SCOPED_LISTS:
        found["domain_id"] = domain
    elif path == "/v3/groups":
        found["group"] = {"domain_id": domain}
    elif path == "/v3/domains":
        found["domain"] = {"id": domain}


def _from_body(call: Call, found: dict[str, Any]) -> None:
    """A create names its future entity's domain (and parent) in the body."""
    body = call.body if isinstance(call.body, dict) else {}
    if call.request.method != "POST":
        return
    for key in ("project", "user", "group", "role"):
        entity = body.get(key)
        if not isinstance(entity, dict):
            continue
        domain_id = entity.get("domain_id")
        parent_id = entity.get("parent_id")
        if key == "project" and isinstance(parent_id, str):
            parent = call.tx.projects.get(parent_id)
            if parent is not None:
                domain_id = domain_id or (parent.id if parent.is_domain else parent.domain_id)
        if not isinstance(domain_id, str):
            domain_id = call.token.domain.id if call.token and call.token.domain else "default"
        ref: dict[str, Any] = {"domain_id": domain_id}
        if key == "project":
            ref["parent_id"] = parent_id if isinstance(parent_id, str) else domain_id
        if key == "role":
            ref["name"] = entity.get("name")
        found[key] = ref


def _from_filters(query: dict[str, str], found: dict[str, Any], flat: dict[str, Any]) -> None:
    """List filters Keystone's rules read: domain_id, and role_assignments' user/project."""
    if "domain_id" in query:
        found["domain_id"] = query["domain_id"]
        flat["domain_id"] = query["domain_id"]
    if "scope.domain.id" in query:
        found["domain_id"] = query["scope.domain.id"]
    if "user.id" in query:
        found.setdefault("user", {"id": query["user.id"]})
    if "user_id" in query:  # explain
        found.setdefault("user", {"id": query["user_id"]})
    if "scope.project.id" in query:
        found.setdefault("project", {"id": query["scope.project.id"]})
