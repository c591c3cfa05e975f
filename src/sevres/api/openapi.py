"""The OpenAPI 3.1 description of the whole API, built from the routes the app serves.

:func:`build` walks the app's routes: every ``(method, path)`` served must have an entry
in :data:`OPERATIONS` (HEAD, which Starlette adds to every GET route, follows its GET), and
every entry must name a served route; either mistake raises :class:`Undescribed`, so a
route cannot ship undescribed. Request bodies are the JSON Schemas of ``api/schemas.py``
(JSON Schema is OpenAPI 3.1's schema language); responses are described below after the
views of ``api/views.py``, with ``additionalProperties`` where Keystone echoes a
resource's extra attributes.

Served at ``GET /v3/sevres/openapi.json`` (no token), and checked in as
``docs/openapi.json``: ``python -m sevres.api.openapi > docs/openapi.json`` regenerates
it; ``tools/check_api.py`` fails CI when it is stale, or changed without an ``ApiImpact``
line in CHANGELOG.md.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from sevres.api import schemas
from sevres.api.discovery import VERSION_ID

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from sevres.app import Services

PATH = "/v3/sevres/openapi.json"
JSON = "application/json"
Schema = dict[str, Any]


class Undescribed(Exception):
    """Routes served without an entry in OPERATIONS, or entries naming no route."""


# -- schema helpers ------------------------------------------------------------------------
STR: Schema = {"type": "string"}
NSTR: Schema = {"type": ["string", "null"]}
BOOL: Schema = {"type": "boolean"}
INT: Schema = {"type": "integer"}
ANY_OBJECT: Schema = {"type": "object"}


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def array(items: Schema) -> Schema:
    return {"type": "array", "items": items}


def obj(props: dict[str, Schema], optional: Iterable[str] = (), extra: bool = False) -> Schema:
    """An object with ``props``, all required but ``optional``; ``extra``: Keystone echoes
    a resource's extra attributes, so other members may appear."""
    left_out = set(optional)
    return {"type": "object", "properties": props,
            "required": sorted(k for k in props if k not in left_out),
            "additionalProperties": extra}


def one(key: str, name: str) -> Schema:
    return obj({key: ref(name)})


def many(key: str, name: str) -> Schema:
    return obj({key: array(ref(name)), "links": ref("CollectionLinks")})


NAMED = obj({"id": STR, "name": STR})
MAYBE_NAMED = obj({"id": NSTR, "name": NSTR})  # include_names: a gone entity has no name
NAMES = {"id": STR, "name": NSTR, "domain": MAYBE_NAMED}  # role_assignments?include_names

# Response bodies, after api/views.py (and the token, catalog and explain renderers).
RESPONSES: dict[str, Schema] = {
    "Error": obj({"error": obj({"code": INT, "title": STR, "message": STR})}),
    "Links": obj({"self": STR}),
    "CollectionLinks": obj({"self": STR, "previous": NSTR, "next": NSTR}),
    "Version": obj({
        "id": STR, "status": STR, "updated": STR,
        "links": array(obj({"rel": STR, "href": STR})),
        "media-types": array(obj({"base": STR, "type": STR})),
    }),
    "Versions": obj({"versions": obj({"values": array(ref("Version"))})}),
    "VersionResponse": one("version", "Version"),
    "Domain": obj({
        "id": STR, "name": STR, "description": STR, "enabled": BOOL, "tags": array(STR),
        "options": ANY_OBJECT, "links": ref("Links"),
    }, extra=True),
    "Project": obj({
        "id": STR, "name": STR, "description": STR, "enabled": BOOL, "domain_id": NSTR,
        "parent_id": NSTR, "is_domain": BOOL, "tags": array(STR), "options": ANY_OBJECT,
        "links": ref("Links"),
        # ?parents_as_ids / ?subtree_as_ids: nested ids; ?..._as_list: [{"project": ...}]
        "parents": {"type": ["object", "array"]}, "subtree": {"type": ["object", "array"]},
    }, optional=("parents", "subtree"), extra=True),
    "User": obj({
        "id": STR, "name": STR, "domain_id": STR, "enabled": BOOL,
        "password_expires_at": NSTR, "options": ANY_OBJECT, "links": ref("Links"),
        "default_project_id": STR,
    }, optional=("default_project_id",), extra=True),
    "Group": obj({
        "id": STR, "name": STR, "domain_id": STR, "description": STR, "links": ref("Links"),
        "membership_expires_at": NSTR,  # in GET /v3/users/{user_id}/groups
    }, optional=("membership_expires_at",), extra=True),
    "Role": obj({
        "id": STR, "name": STR, "domain_id": NSTR, "description": NSTR,
        "options": ANY_OBJECT, "links": ref("Links"),
    }, extra=True),
    "RoleRef": obj({"id": STR, "name": STR, "links": ref("Links")}),
    "Implication": obj({
        "role_inference": obj({"prior_role": ref("RoleRef"), "implies": ref("RoleRef")}),
        "links": ref("Links"),
    }),
    "Inference": obj({"prior_role": ref("RoleRef"), "implies": array(ref("RoleRef"))}),
    "ImpliedRoles": obj({"role_inference": ref("Inference"), "links": ref("Links")}),
    "RoleInferences": obj({"role_inferences": array(ref("Inference"))}),
    "Assignment": obj({
        "role": obj(NAMES, optional=("name", "domain")),
        "scope": {
            "type": "object", "minProperties": 1, "additionalProperties": False,
            "properties": {
                "project": obj(NAMES, optional=("name", "domain")),
                "domain": obj({"id": STR, "name": NSTR}, optional=("name",)),
                "system": obj({"all": BOOL}),
                "OS-INHERIT:inherited_to": {"const": "projects"},
            },
        },
        "user": obj(NAMES, optional=("name", "domain")),
        "group": obj(NAMES, optional=("name", "domain")),
        "links": obj({"assignment": STR, "membership": STR, "prior_role": STR},
                     optional=("membership", "prior_role")),
    }, optional=("user", "group")),
    "Region": obj({
        "id": STR, "description": NSTR, "parent_region_id": NSTR, "links": ref("Links"),
    }, extra=True),
    "Service": obj({
        "id": STR, "type": STR, "enabled": BOOL, "links": ref("Links"),
        "name": STR, "description": NSTR,  # extra attributes in Keystone, as here
    }, optional=("name", "description"), extra=True),
    "Endpoint": obj({
        "id": STR, "interface": {"type": "string", "enum": ["admin", "internal", "public"]},
        "region_id": NSTR, "region": NSTR, "service_id": STR, "url": STR, "enabled": BOOL,
        "links": ref("Links"),
    }, extra=True),
    "CatalogEntry": obj({
        "endpoints": array(obj({"id": STR, "interface": STR, "region_id": NSTR, "url": STR,
                                "region": NSTR})),
        "id": STR, "type": STR, "name": STR,
    }),
    "AuthCatalog": obj({"catalog": array(ref("CatalogEntry")), "links": ref("Links")}),
    "AuthSystem": obj({"system": array(obj({"all": BOOL})), "links": ref("Links")}),
    "Token": obj({
        "methods": array(STR),
        "user": obj({"domain": NAMED, "id": STR, "name": STR, "password_expires_at": NSTR}),
        "audit_ids": array(STR), "expires_at": STR, "issued_at": STR,
        "project": obj({"domain": NAMED, "id": STR, "name": STR}),
        "is_domain": BOOL,
        "is_admin_project": BOOL,
        "domain": NAMED,
        "system": obj({"all": BOOL}),
        "roles": array(NAMED),
        "application_credential": obj({
            "id": STR, "name": STR, "restricted": BOOL,
            "access_rules": array(obj({"id": STR, "service": STR, "path": STR,
                                       "method": STR})),
        }, optional=("access_rules",)),
        "catalog": array(ref("CatalogEntry")),
    }, optional=("project", "is_domain", "is_admin_project", "domain", "system", "roles",
                 "application_credential", "catalog")),
    "TokenResponse": one("token", "Token"),
    "AccessRule": obj({"id": STR, "service": STR, "path": STR, "method": STR,
                       "links": ref("Links")}),
    "ApplicationCredential": obj({
        "id": STR, "name": STR, "description": NSTR, "user_id": STR, "project_id": NSTR,
        "system": NSTR, "expires_at": NSTR, "unrestricted": BOOL,
        "roles": array(obj({"id": STR, "name": STR, "domain_id": NSTR})),
        "access_rules": array(obj({"id": STR, "service": STR, "path": STR, "method": STR})),
        "links": ref("Links"),
        "secret": STR,  # in the answer to its creation only
    }, optional=("secret",)),
    "Explanation": obj({"explanation": obj({
        "user": obj({"id": STR, "name": STR, "domain": obj({"id": STR})}),
        "scope": {
            "type": "object", "minProperties": 1, "maxProperties": 1,
            "additionalProperties": False,
            "properties": {
                "system": obj({"all": BOOL}),
                "domain": NAMED,
                "project": obj({"id": STR, "name": STR, "domain": obj({"id": STR})}),
            },
        },
        "roles": array(obj({"id": STR, "name": STR, "granted_by": array(obj({
            "assignment": STR,
            "via_group": {"oneOf": [{"type": "null"}, NAMED]},
            "inherited_from": {"type": ["object", "null"]},  # {"project"|"domain": {id, name}}
            "implied_by": array(NAMED),
            "text": STR,
        }))})),
    })}),
    "RevokeEvents": obj({
        "events": array(obj({
            "audit_id": STR, "audit_chain_id": STR, "user_id": STR, "project_id": STR,
            "domain_id": STR, "app_cred_id": STR, "issued_before": STR, "revoked_at": STR,
        }, optional=("audit_id", "audit_chain_id", "user_id", "project_id", "domain_id",
                     "app_cred_id"))),
        "links": ref("CollectionLinks"),
    }),
    "KeySet": obj({"keys": array({"type": "object", "additionalProperties": STR,
                                  "properties": {"kty": STR, "kid": STR}})}),
    "OpenAPI": obj({"openapi": STR, "info": ANY_OBJECT, "paths": ANY_OBJECT},
                   extra=True),
}
for _key, _name in (("domain", "Domain"), ("project", "Project"), ("user", "User"),
                    ("group", "Group"), ("role", "Role"), ("region", "Region"),
                    ("service", "Service"), ("endpoint", "Endpoint"),
                    ("access_rule", "AccessRule"),
                    ("application_credential", "ApplicationCredential")):
    RESPONSES[f"{_name}Response"] = one(_key, _name)
    RESPONSES[f"{_name}s"] = many(f"{_key}s", _name)
RESPONSES["Assignments"] = many("role_assignments", "Assignment")
RESPONSES["Tags"] = obj({"tags": array(STR), "links": ref("Links")})
RESPONSES["Metrics"] = {"type": "string", "description": "Prometheus's text format."}

# Request bodies: api/schemas.py's schemas, each in Keystone's envelope.
REQUESTS: dict[str, tuple[str, Schema]] = {
    "DomainCreate": ("domain", schemas.DOMAIN_CREATE),
    "DomainUpdate": ("domain", schemas.DOMAIN_UPDATE),
    "ProjectCreate": ("project", schemas.PROJECT_CREATE),
    "ProjectUpdate": ("project", schemas.PROJECT_UPDATE),
    "TagList": ("tags", schemas.TAGS),
    "UserCreate": ("user", schemas.USER_CREATE),
    "UserUpdate": ("user", schemas.USER_UPDATE),
    "PasswordChange": ("user", schemas.PASSWORD_CHANGE),
    "GroupCreate": ("group", schemas.GROUP_CREATE),
    "GroupUpdate": ("group", schemas.GROUP_UPDATE),
    "RoleCreate": ("role", schemas.ROLE_CREATE),
    "RoleUpdate": ("role", schemas.ROLE_UPDATE),
    "RegionCreate": ("region", schemas.REGION_CREATE),
    "RegionUpdate": ("region", schemas.REGION_UPDATE),
    "ServiceCreate": ("service", schemas.SERVICE_CREATE),
    "ServiceUpdate": ("service", schemas.SERVICE_UPDATE),
    "EndpointCreate": ("endpoint", schemas.ENDPOINT_CREATE),
    "EndpointUpdate": ("endpoint", schemas.ENDPOINT_UPDATE),
    "ApplicationCredentialCreate": ("application_credential",
                                    schemas.APPLICATION_CREDENTIAL_CREATE),
    "Auth": ("auth", schemas.AUTH),
}

# Query parameters, by name; operations list the ones they take.
_FLAG = ("Present and not `0`, `false`, `no` or `off` (any case): on.")
_PRESENT = "Present (any value): on."
QUERY: dict[str, tuple[Schema, str]] = {
    "name": (STR, "Exact name; `name__contains`, `__icontains`, `__startswith`, "
                  "`__istartswith`, `__endswith`, `__iendswith` match inexactly."),
    "enabled": (STR, f"Enabled or not. {_FLAG}"),
    "domain_id": (STR, "The domain's id."),
    "password_expires_at": (STR, "`[lt|lte|gt|gte|eq|neq:]<ISO 8601 time>`: users whose "
                                 "current password expires before, after or at that time."),
    "parent_id": (STR, "The parent project's id."),
    "is_domain": (STR, f"List projects acting as domains. {_FLAG}"),
    "tags": (STR, "Comma-separated tags: projects holding all of them."),
    "tags-any": (STR, "Comma-separated tags: projects holding at least one of them."),
    "not-tags": (STR, "Comma-separated tags: projects not holding all of them."),
    "not-tags-any": (STR, "Comma-separated tags: projects holding none of them."),
    "parent_region_id": (STR, "The parent region's id."),
    "type": (STR, "The service type."),
    "interface": (STR, "The endpoint interface: `admin`, `internal` or `public`."),
    "service_id": (STR, "The service's id."),
    "region_id": (STR, "The region's id."),
    "service": (STR, "The access rule's service type."),
    "path": (STR, "The access rule's path."),
    "method": (STR, "The access rule's HTTP method."),
    "user.id": (STR, "Assignments of this user."),
    "group.id": (STR, "Assignments of this group."),
    "role.id": (STR, "Assignments of this role."),
    "scope.project.id": (STR, "Assignments on this project."),
    "scope.domain.id": (STR, "Assignments on this domain."),
    "scope.system": (STR, "Assignments on the system (`all`)."),
    "scope.OS-INHERIT:inherited_to": (STR, "`projects`: inherited assignments only."),
    "effective": (STR, f"What users effectively hold. {_FLAG}"),
    "include_names": (STR, f"Add names to the ids. {_FLAG}"),
    "include_subtree": (STR, f"Also the projects below scope.project.id. {_FLAG}"),
    "parents_as_ids": (STR, f"Add the ancestors' ids. {_PRESENT}"),
    "parents_as_list": (STR, f"Add the ancestors the caller has a role on. {_PRESENT}"),
    "subtree_as_ids": (STR, f"Add the descendants' ids. {_PRESENT}"),
    "subtree_as_list": (STR, f"Add the descendants the caller has a role on. {_PRESENT}"),
    "cascade": (STR, f"Delete the (disabled) subtree too. {_PRESENT}"),
    "nocatalog": (STR, f"Leave the catalog out of the token. {_PRESENT}"),
    "allow_expired": (STR, f"Validate an expired token (within the window). {_FLAG}"),
    "since": (STR, "Only the events revoked at or after this ISO 8601 time."),
    "user_id": (STR, "The user whose roles are explained (required)."),
    "project_id": (STR, "Explain the roles on this project."),
    "system": (STR, "Explain the roles on the system."),
    "limit": ({"type": "integer", "minimum": 1},
              "Pages: at most this many items, in a stable order (by id; role assignments "
              "and revocation events by an opaque key), `links.next` naming the next page "
              "(null on the last). Capped at `[api] max_limit` (default 1000). Without "
              "`limit` and `marker` the whole list, in Keystone's order."),
    "marker": (STR, "Pages: the items after this one (the last item of the page before, "
                    "as `links.next` names it); 400 when it names no item of the list."),
}
PAGING = ("limit", "marker")


# -- the operations ------------------------------------------------------------------------
@dataclass(frozen=True)
class Op:
    """What the routes cannot say about one operation. ``answer`` and ``body`` name
    schemas of RESPONSES and REQUESTS; ``errors`` are error statuses beyond those every
    operation of its kind may answer (see :func:`_error_statuses`); ``head`` is HEAD's
    status when it is not GET's."""

    summary: str
    tag: str
    ok: int = 200
    answer: str | None = None
    body: str | None = None
    query: tuple[str, ...] = ()
    errors: tuple[int, ...] = ()
    public: bool = False
    database: bool = True
    subject: bool = False
    head: int | None = None
    media: str = JSON


def _crud(tag: str, path: str, key: str, name: str, query: tuple[str, ...] = (),
          list_errors: tuple[int, ...] = ()) -> dict[tuple[str, str], Op]:
    """The five operations of a Keystone collection at ``path`` and ``path/{key_id}``."""
    noun = key.replace("_", " ")
    one_path = f"{path}/{{{key}_id}}"
    return {
        ("GET", path): Op(f"List {noun}s", tag, answer=f"{name}s", query=query,
                          errors=list_errors),
        ("POST", path): Op(f"Create a {noun}", tag, 201, f"{name}Response", f"{name}Create",
                           errors=(404,)),
        ("GET", one_path): Op(f"Show a {noun}", tag, answer=f"{name}Response"),
        ("PATCH", one_path): Op(f"Update a {noun}", tag, answer=f"{name}Response",
                                body=f"{name}Update"),
        ("DELETE", one_path): Op(f"Delete a {noun}", tag, 204),
    }


def _grants() -> dict[tuple[str, str], Op]:
    found: dict[tuple[str, str], Op] = {}
    for actors in ("users", "groups"):
        actor = actors.removesuffix("s")
        for targets in ("projects", "domains"):
            target = targets.removesuffix("s")
            grants = f"/v3/{targets}/{{target_id}}/{actors}/{{actor_id}}/roles"
            inherited = f"/v3/OS-INHERIT/{grants.removeprefix('/v3/')}"
            on = f"a {actor} on a {target}"
            found.update(_role_grants(grants, on))
            found.update({
                ("PUT", inherited + "/{role_id}/inherited_to_projects"): Op(
                    f"Grant a role to {on}, inherited by the projects below", "grants", 204),
                ("GET", inherited + "/{role_id}/inherited_to_projects"): Op(
                    f"Check an inherited role of {on}", "grants", 204),
                ("DELETE", inherited + "/{role_id}/inherited_to_projects"): Op(
                    f"Revoke an inherited role of {on}", "grants", 204),
            })
            if targets == "domains":
                found["GET", inherited + "/inherited_to_projects"] = Op(
                    f"List the inherited roles of {on}", "grants", answer="Roles")
        found.update(_role_grants(f"/v3/system/{actors}/{{actor_id}}/roles",
                                  f"a {actor} on the system"))
    return found


def _role_grants(roles: str, on: str) -> dict[tuple[str, str], Op]:
    """Grant, check and revoke one role at ``roles``/{role_id}, and list them at ``roles``."""
    return {
        ("PUT", roles + "/{role_id}"): Op(f"Grant a role to {on}", "grants", 204),
        ("GET", roles + "/{role_id}"): Op(f"Check a role of {on}", "grants", 204),
        ("DELETE", roles + "/{role_id}"): Op(f"Revoke a role of {on}", "grants", 204),
        ("GET", roles): Op(f"List the roles of {on}", "grants", answer="Roles"),
    }


_CREDS = "/v3/users/{user_id}/application_credentials"
_RULES = "/v3/users/{user_id}/access_rules"
_IMPLIES = "/v3/roles/{prior_role_id}/implies"
_MEMBER = "/v3/groups/{group_id}/users/{user_id}"
_TAGS = "/v3/projects/{project_id}/tags"

OPERATIONS: dict[tuple[str, str], Op] = {
    ("GET", "/"): Op("List the API versions", "discovery", 300, "Versions", public=True,
                     database=False),
    ("GET", "/v3"): Op("Show the v3 API version", "discovery", answer="VersionResponse",
                       public=True, database=False),
    ("GET", "/v3/"): Op("Show the v3 API version", "discovery", answer="VersionResponse",
                        public=True, database=False),
    ("POST", "/v3/auth/tokens"): Op(
        "Issue a token (log in, or re-scope a token)", "auth", 201, "TokenResponse", "Auth",
        query=("nocatalog",), errors=(401, 403, 404), public=True),
    ("GET", "/v3/auth/tokens"): Op("Validate a token", "auth", answer="TokenResponse",
                                   query=("nocatalog", "allow_expired"), subject=True),
    ("DELETE", "/v3/auth/tokens"): Op("Revoke a token", "auth", 204, subject=True),
    ("GET", "/v3/auth/catalog"): Op("The catalog of the token's scope", "auth",
                                    answer="AuthCatalog"),
    ("GET", "/v3/auth/projects"): Op("The projects the token's user may scope to", "auth",
                                     answer="Projects"),
    ("GET", "/v3/auth/domains"): Op("The domains the token's user may scope to", "auth",
                                    answer="Domains"),
    ("GET", "/v3/auth/system"): Op("Whether the token's user may scope to the system",
                                   "auth", answer="AuthSystem"),
    **_crud("domains", "/v3/domains", "domain", "Domain", ("name", "enabled")),
    **_crud("projects", "/v3/projects", "project", "Project",
            ("name", "enabled", "domain_id", "parent_id", "is_domain", "tags", "tags-any",
             "not-tags", "not-tags-any")),
    ("GET", "/v3/projects/{project_id}"): Op(
        "Show a project", "projects", answer="ProjectResponse", errors=(400,),
        query=("parents_as_ids", "parents_as_list", "subtree_as_ids", "subtree_as_list")),
    ("DELETE", "/v3/projects/{project_id}"): Op("Delete a project", "projects", 204,
                                                query=("cascade",)),
    ("GET", _TAGS): Op("List the tags of a project", "projects", answer="Tags"),
    ("PUT", _TAGS): Op("Replace every tag of a project", "projects", answer="Tags",
                       body="TagList"),
    ("DELETE", _TAGS): Op("Remove every tag of a project", "projects", 204),
    ("GET", _TAGS + "/{tag}"): Op("Check that a project holds a tag", "projects", 204),
    ("PUT", _TAGS + "/{tag}"): Op("Add a tag to a project", "projects", 201),
    ("DELETE", _TAGS + "/{tag}"): Op("Remove a tag from a project", "projects", 204),
    **_crud("users", "/v3/users", "user", "User",
            ("name", "enabled", "domain_id", "password_expires_at"), list_errors=(400,)),
    ("POST", "/v3/users/{user_id}/password"): Op(
        "Change one's own password (no token: the original password proves it)", "users",
        204, body="PasswordChange", errors=(401,), public=True),
    ("GET", "/v3/users/{user_id}/projects"): Op("List the projects of a user", "users",
                                                answer="Projects"),
    ("GET", "/v3/users/{user_id}/groups"): Op("List the groups of a user", "users",
                                              answer="Groups"),
    ("GET", _CREDS): Op("List a user's application credentials", "application credentials",
                        answer="ApplicationCredentials", query=("name",)),
    ("POST", _CREDS): Op("Create an application credential (its secret is shown once)",
                         "application credentials", 201, "ApplicationCredentialResponse",
                         "ApplicationCredentialCreate"),
    ("GET", _CREDS + "/{application_credential_id}"): Op(
        "Show an application credential", "application credentials",
        answer="ApplicationCredentialResponse"),
    ("DELETE", _CREDS + "/{application_credential_id}"): Op(
        "Delete an application credential", "application credentials", 204),
    ("GET", _RULES): Op("List a user's access rules", "application credentials",
                        answer="AccessRules", query=("service", "path", "method")),
    ("GET", _RULES + "/{access_rule_id}"): Op("Show an access rule",
                                              "application credentials",
                                              answer="AccessRuleResponse"),
    ("DELETE", _RULES + "/{access_rule_id}"): Op(
        "Delete an access rule (not while a credential uses it)",
        "application credentials", 204),
    **_crud("groups", "/v3/groups", "group", "Group", ("name", "domain_id")),
    ("GET", "/v3/groups/{group_id}/users"): Op("List the members of a group", "groups",
                                               answer="Users"),
    ("PUT", _MEMBER): Op("Add a user to a group", "groups", 204),
    ("GET", _MEMBER): Op("Check that a user is in a group", "groups", 204),
    ("DELETE", _MEMBER): Op("Remove a user from a group", "groups", 204),
    **_crud("roles", "/v3/roles", "role", "Role", ("name", "domain_id")),
    ("GET", _IMPLIES): Op("List the roles a role implies", "roles", answer="ImpliedRoles"),
    ("PUT", _IMPLIES + "/{implied_role_id}"): Op("Make a role imply another", "roles", 201,
                                                 "Implication"),
    ("GET", _IMPLIES + "/{implied_role_id}"): Op("Show an implication", "roles",
                                                 answer="Implication", head=204),
    ("DELETE", _IMPLIES + "/{implied_role_id}"): Op("Remove an implication", "roles", 204),
    ("GET", "/v3/role_inferences"): Op("List every implication", "roles",
                                       answer="RoleInferences"),
    **_grants(),
    ("GET", "/v3/role_assignments"): Op(
        "List role assignments, stored or effective", "role assignments",
        answer="Assignments", errors=(400,),
        query=("user.id", "group.id", "role.id", "scope.project.id", "scope.domain.id",
               "scope.system", "scope.OS-INHERIT:inherited_to", "effective",
               "include_names", "include_subtree")),
    **_crud("regions", "/v3/regions", "region", "Region", ("parent_region_id",)),
    ("PUT", "/v3/regions/{region_id}"): Op("Create a region with the given id", "regions",
                                           201, "RegionResponse", "RegionCreate"),
    **_crud("services", "/v3/services", "service", "Service", ("type", "name")),
    **_crud("endpoints", "/v3/endpoints", "endpoint", "Endpoint",
            ("interface", "service_id", "region_id")),
    ("GET", "/v3/OS-REVOKE/events"): Op(
        "List the revocation events (tokens issued before each are revoked)", "revocations",
        answer="RevokeEvents", query=("since",), errors=(400,)),
    ("GET", "/v3/sevres/explain"): Op(
        "Explain a user's effective roles, chain by chain (a sevres extension)", "sevres",
        answer="Explanation", query=("user_id", "project_id", "domain_id", "system"),
        errors=(400, 404)),
    ("GET", "/v3/sevres/jwks"): Op(
        "The public keys that sign JWS tokens, as a JSON Web Key Set (a sevres extension)",
        "sevres", answer="KeySet", public=True, database=False),
    ("GET", PATH): Op("This description of the API (a sevres extension)", "sevres",
                      answer="OpenAPI", public=True, database=False),
    ("GET", "/metrics"): Op("Prometheus metrics (restrict it at the load balancer)",
                            "metrics", answer="Metrics", public=True, database=False,
                            media="text/plain"),
}

# Extra per-operation facts a table row would drown in.
_DESCRIPTIONS: dict[tuple[str, str], str] = {
    ("POST", "/v3/auth/tokens"): "The token is in the X-Subject-Token header of the answer.",
    ("GET", "/v3/auth/tokens"): "The token to validate is in the X-Subject-Token header.",
    ("DELETE", "/v3/auth/tokens"): "The token to revoke is in the X-Subject-Token header.",
    ("GET", "/v3/projects/{project_id}"): (
        "Cannot combine parents_as_list with parents_as_ids, nor subtree_as_list with "
        "subtree_as_ids (400)."),
    ("DELETE", "/v3/projects/{project_id}"): (
        "Without `cascade`, only a leaf project; with it, a disabled project and its "
        "disabled subtree."),
    ("PUT", _TAGS): (
        "A tag is 1 to 255 characters without `/` or `,`, blanks around it removed; at "
        "most 80 distinct tags (400 otherwise)."),
    ("PUT", _TAGS + "/{tag}"): (
        "No body. 400 when the project holds the tag already, or would hold more than 80."),
    ("GET", "/v3/sevres/explain"): "Give user_id and exactly one of project_id, domain_id "
                                   "or system.",
}

_SUCCESS = {200: "Success.", 201: "Created (Location names it).", 204: "Done; no body.",
            300: "The versions this service answers."}

_ERRORS: dict[int, str] = {
    400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
    409: "Conflict", 413: "TooLarge", 431: "HeadersTooLarge", 503: "Unavailable",
}
_ERROR_TEXT: dict[int, str] = {
    400: "The request is malformed: invalid JSON or Content-Type, a value the schema or "
         "the database refuses, or (lists) a `limit` that is not a positive whole number "
         "or a `marker` naming no item (the message names the field).",
    401: "No token, or an invalid one (or, at login, wrong credentials).",
    403: "The policy refuses the caller this action.",
    404: "No such entity (the message names it), or no such path.",
    409: "A duplicate, an entity still in use, or a concurrent change that won (retry).",
    413: "The body is over 1 MiB (whatever the method).",
    431: "The header fields are over 32 KiB in all, or more than 100.",
    503: "The identity database is unreachable; try again shortly.",
}


def paged(op: Op) -> bool:
    """A list: its answer is a collection with ``links``, which takes limit and marker."""
    answer = RESPONSES.get(op.answer or "", {})
    return bool(answer.get("properties", {}).get("links") == ref("CollectionLinks"))


def _error_statuses(method: str, path: str, op: Op) -> list[int]:
    found = set(op.errors) | {413, 431}  # refused before routing: any request may get them
    if paged(op):
        found.add(400)  # a limit that is not a positive whole number, an unknown marker
    if not op.public:
        found |= {401, 403}
    if "{" in path or op.subject or op.body is not None:
        found.add(404)
    if method in ("POST", "PUT", "PATCH"):  # a body is read (and checked) whatever the route
        found.add(400)
    if op.database and ("{" in path or op.query):
        found.add(400)  # an id or filter the database cannot hold (NUL on PostgreSQL)
    if method in ("POST", "PUT", "PATCH", "DELETE"):
        found.add(409)
    if op.database:
        found.add(503)
    return sorted(found)


def _operation_id(method: str, path: str) -> str:
    words = re.sub(r"[^a-zA-Z0-9]+", "_", path).strip("_") or "root"
    trailing = "_slash" if len(path) > 1 and path.endswith("/") else ""  # /v3/ beside /v3
    return f"{method.lower()}_{words}{trailing}"


def _parameters(path: str, op: Op) -> list[Schema]:
    found: list[Schema] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in re.findall(r"{(\w+)}", path)
    ]
    for name in op.query + (PAGING if paged(op) else ()):
        schema, text = QUERY[name]
        parameter: Schema = {"name": name, "in": "query", "schema": schema,
                             "description": text}
        if text.endswith("(required)."):
            parameter["required"] = True
        found.append(parameter)
    if op.subject:
        found.append({"name": "X-Subject-Token", "in": "header", "required": True,
                      "schema": {"type": "string"},
                      "description": "The token validated, checked or revoked."})
    return found


def _headers(method: str, path: str, op: Op, status: int) -> dict[str, Schema]:
    headers = {"X-OpenStack-Request-ID": {"$ref": "#/components/headers/RequestId"}}
    if status == 201:
        headers["Location"] = {"$ref": "#/components/headers/Location"}
    if path == "/v3/auth/tokens" and method in ("POST", "GET", "HEAD"):
        headers["X-Subject-Token"] = {"$ref": "#/components/headers/SubjectToken"}
    return headers


def _operation(method: str, path: str, op: Op) -> Schema:
    head = method == "HEAD"
    status = (op.head or op.ok) if head else op.ok
    success: Schema = {"description": _SUCCESS.get(status, "Success."),
                       "headers": _headers(method, path, op, status)}
    if op.answer is not None and not head and status != 204:
        success["content"] = {op.media: {"schema": ref(op.answer)}}
    responses: Schema = {str(status): success}
    for code in _error_statuses(method, path, op):
        name = _ERRORS[code]
        responses[str(code)] = {"$ref": f"#/components/responses/{name}{'Head' * head}"}
    summary = op.summary if not head else f"{op.summary} (headers only)"
    found: Schema = {
        "operationId": _operation_id(method, path),
        "summary": summary,
        "tags": [op.tag],
        "responses": responses,
    }
    description = _DESCRIPTIONS.get((method if not head else "GET", path))
    if description:
        found["description"] = description
    parameters = _parameters(path, op)
    if parameters:
        found["parameters"] = parameters
    if op.body is not None:
        found["requestBody"] = {"required": True, "content": {
            JSON: {"schema": ref(f"{op.body}Request")}}}
    if op.public:
        found["security"] = []
    return found



def _components() -> Schema:
    schemas_: dict[str, Schema] = copy.deepcopy(RESPONSES)
    for name, (key, schema) in REQUESTS.items():
        schemas_[name] = copy.deepcopy(schema)
        schemas_[f"{name}Request"] = {"type": "object", "properties": {key: ref(name)},
                                      "required": [key]}
    responses: Schema = {}
    for code, name in _ERRORS.items():
        headers: Schema = {"X-OpenStack-Request-ID": {"$ref": "#/components/headers/RequestId"}}
        if code == 401:
            headers["WWW-Authenticate"] = {"$ref": "#/components/headers/WWWAuthenticate"}
        responses[name] = {"description": _ERROR_TEXT[code], "headers": headers,
                           "content": {JSON: {"schema": ref("Error")}}}
        responses[f"{name}Head"] = {"description": _ERROR_TEXT[code], "headers": headers}
    return {
        "schemas": schemas_,
        "responses": responses,
        "headers": {
            "RequestId": {"description": "This request's id, for logs and bug reports.",
                          "schema": STR},
            "Location": {"description": "The URL of the resource created.", "schema": STR},
            "SubjectToken": {"description": "The token issued or validated.",
                             "schema": STR},
            "WWWAuthenticate": {"description": 'Keystone uri="<base>/v3"', "schema": STR},
        },
        "securitySchemes": {"token": {
            "type": "apiKey", "in": "header", "name": "X-Auth-Token",
            "description": "A token from POST /v3/auth/tokens (its X-Subject-Token).",
        }},
    }


def served(routes: Iterable[BaseRoute]) -> set[tuple[str, str]]:
    """Every (method, path) the routes answer; a route of another kind is refused, since
    its operations could not be listed."""
    found = set()
    for route in routes:
        if not isinstance(route, Route) or route.methods is None:
            raise Undescribed(f"cannot describe {route!r}: only method routes are walked")
        found |= {(method, route.path) for method in route.methods}
    return found


def build(routes: Iterable[BaseRoute], complete: bool = True) -> Schema:
    """The description of exactly the operations ``routes`` serve. ``complete``: every
    entry of OPERATIONS must be served too (the checked-in description, built with every
    route); a running server may leave some out (``/metrics`` when it is disabled)."""
    operations = served(routes)
    described = set(OPERATIONS) | {("HEAD", p) for m, p in OPERATIONS if m == "GET"}
    missing, stale = operations - described, (described - operations) if complete else set()
    if missing or stale:
        lines = [f"  {m} {p}: served but not in sevres.api.openapi.OPERATIONS"
                 for m, p in sorted(missing)]
        lines += [f"  {m} {p}: described but not served" for m, p in sorted(stale)]
        raise Undescribed("the API description does not match the routes:\n"
                          + "\n".join(lines))
    paths: dict[str, Schema] = {}
    for method, path in sorted(operations):
        op = OPERATIONS["GET" if method == "HEAD" else method, path]
        paths.setdefault(path, {})[method.lower()] = _operation(method, path, op)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "sevres identity API",
            "version": VERSION_ID.removeprefix("v"),
            "summary": "The OpenStack Identity (Keystone) v3 API as sevres serves it.",
            "description": "Keystone v3 compatible; docs/compatibility.md lists every "
                           "deliberate difference. Paths under /v3/sevres are sevres "
                           "extensions.",
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
        "security": [{"token": []}],
        "tags": [{"name": t} for t in sorted({OPERATIONS["GET" if m == "HEAD" else m, p].tag
                                              for m, p in operations})],
        "paths": paths,
        "components": _components(),
    }


def render(document: Schema) -> str:
    """The checked-in form: pretty-printed, sorted keys, a trailing newline."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def routes(services: Services) -> list[Route]:
    """``GET /v3/sevres/openapi.json``: the description of the running app's routes."""
    rendered: list[bytes] = []

    async def description(request: Request) -> Response:
        if not rendered:
            app = cast("Starlette", request.app)
            rendered.append(render(build(app.routes, complete=False)).encode())
        return Response(rendered[0], media_type=JSON)

    return [Route(PATH, description, methods=["GET"])]


@dataclass(frozen=True)
class _RoutesOnly:
    """Enough of Services for building the routes, which read only the settings."""

    settings: Any


def offline_app(metrics: bool = True) -> Starlette:
    """The app's routes with default settings (metrics on: every route), no database."""
    from sevres import config
    from sevres.app import build_app

    settings = dataclasses.replace(config.load(environ={}), metrics_enabled=metrics)
    return build_app(cast("Services", _RoutesOnly(settings)))


def main() -> None:
    sys.stdout.write(render(build(offline_app().routes)))


if __name__ == "__main__":
    main()
