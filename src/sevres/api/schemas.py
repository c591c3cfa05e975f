"""JSON Schemas of request bodies, with Keystone's limits (names, ids, booleans, URLs).

Most resources accept attributes beyond their own and echo them back, as Keystone does;
the auth request and the password change are stricter where Keystone is.
"""

from __future__ import annotations

from typing import Any

from sevres.identity import compliance

Schema = dict[str, Any]

BOOLEAN: Schema = {"type": "boolean"}
DESCRIPTION: Schema = {"type": ["string", "null"]}
ID: Schema = {"type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[a-zA-Z0-9-_]+$"}
NULLABLE_ID: Schema = {"type": ["string", "null"], "minLength": 1, "maxLength": 64,
                       "pattern": "^[a-zA-Z0-9-_]+$"}
NAME_64: Schema = {"type": "string", "minLength": 1, "maxLength": 64, "pattern": r"\S"}
NAME_255: Schema = {"type": "string", "minLength": 1, "maxLength": 255, "pattern": r"\S"}
TAGS: Schema = {
    "type": "array", "maxItems": 80, "uniqueItems": True,
    "items": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[^,/]*$"},
}
OPTIONS: Schema = {"type": "object"}
PASSWORD: Schema = {"type": ["string", "null"], "maxLength": 4096}

_project_props: Schema = {
    "name": NAME_64, "description": DESCRIPTION, "enabled": BOOLEAN, "domain_id": NULLABLE_ID,
    "parent_id": NULLABLE_ID, "is_domain": BOOLEAN, "tags": TAGS, "options": OPTIONS,
}
PROJECT_CREATE: Schema = {"type": "object", "properties": _project_props, "required": ["name"],
                          "additionalProperties": True}
PROJECT_UPDATE: Schema = {"type": "object", "properties": _project_props, "minProperties": 1,
                          "additionalProperties": True}

_domain_props: Schema = {
    "name": NAME_64, "description": DESCRIPTION, "enabled": BOOLEAN, "tags": TAGS,
    "options": OPTIONS, "explicit_domain_id": ID,
}
DOMAIN_CREATE: Schema = {"type": "object", "properties": _domain_props, "required": ["name"],
                         "additionalProperties": True}
DOMAIN_UPDATE: Schema = {"type": "object", "properties": _domain_props, "minProperties": 1,
                         "additionalProperties": True}

# Keystone's user resource options: booleans, null removing one (see identity/compliance.py).
USER_OPTIONS: Schema = {
    "type": "object",
    "properties": {name: {"type": ["boolean", "null"]} for name in compliance.USER_OPTIONS},
    "additionalProperties": False,
}
_user_props: Schema = {
    "name": NAME_255, "domain_id": ID, "enabled": BOOLEAN, "default_project_id": NULLABLE_ID,
    "password": PASSWORD, "description": DESCRIPTION, "options": USER_OPTIONS,
}
USER_CREATE: Schema = {"type": "object", "properties": _user_props, "required": ["name"],
                       "additionalProperties": True}
USER_UPDATE: Schema = {"type": "object", "properties": _user_props, "minProperties": 1,
                       "additionalProperties": True}
PASSWORD_CHANGE: Schema = {
    "type": "object",
    "properties": {"password": {"type": "string", "maxLength": 4096},
                   "original_password": {"type": "string", "maxLength": 4096}},
    "required": ["password", "original_password"],
    "additionalProperties": False,
}

_role_props: Schema = {"name": NAME_255, "description": DESCRIPTION, "domain_id": NULLABLE_ID,
                       "options": OPTIONS}
ROLE_CREATE: Schema = {"type": "object", "properties": _role_props, "required": ["name"],
                       "additionalProperties": True}
ROLE_UPDATE: Schema = {"type": "object", "properties": _role_props, "minProperties": 1,
                       "additionalProperties": True}

_region_props: Schema = {
    "id": {"type": "string", "minLength": 1, "maxLength": 255},
    "description": {"type": ["string", "null"], "maxLength": 255},  # the column's size
    "parent_region_id": {"type": ["string", "null"], "minLength": 1, "maxLength": 255},
}
REGION_CREATE: Schema = {"type": "object", "properties": _region_props,
                         "additionalProperties": True}
REGION_UPDATE: Schema = {"type": "object", "properties": _region_props, "minProperties": 1,
                         "additionalProperties": True}

_service_props: Schema = {
    "type": NAME_255, "enabled": BOOLEAN, "name": {"type": "string", "maxLength": 255},
    "description": DESCRIPTION,
}
SERVICE_CREATE: Schema = {"type": "object", "properties": _service_props, "required": ["type"],
                          "additionalProperties": True}
SERVICE_UPDATE: Schema = {"type": "object", "properties": _service_props, "minProperties": 1,
                          "additionalProperties": True}

_endpoint_props: Schema = {
    "enabled": BOOLEAN,
    "interface": {"type": "string", "enum": ["admin", "internal", "public"]},
    "region_id": {"type": ["string", "null"], "minLength": 1, "maxLength": 255},
    "region": {"type": ["string", "null"], "minLength": 1, "maxLength": 255},
    "service_id": ID,
    "url": {"type": "string", "minLength": 1, "maxLength": 225,
            "pattern": "^[a-zA-Z0-9+.-]+:.+"},
}
ENDPOINT_CREATE: Schema = {"type": "object", "properties": _endpoint_props,
                           "required": ["interface", "service_id", "url"],
                           "additionalProperties": True}
ENDPOINT_UPDATE: Schema = {"type": "object", "properties": _endpoint_props, "minProperties": 1,
                           "additionalProperties": True}

_domain_ref: Schema = {
    "type": "object",
    "properties": {"id": {"type": "string", "maxLength": 64},
                   "name": {"type": "string", "maxLength": 255}},
}
AUTH: Schema = {
    "type": "object",
    "properties": {
        "identity": {
            "type": "object",
            "properties": {
                "methods": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                "password": {
                    "type": "object",
                    "properties": {"user": {
                        "type": "object",
                        "properties": {
                            "id": {"type": "string", "maxLength": 64},
                            "name": {"type": "string", "maxLength": 255},
                            "password": {"type": "string", "maxLength": 4096},
                            "domain": _domain_ref,
                        },
                    }},
                },
                "token": {"type": "object", "properties": {"id": {"type": "string"}},
                          "required": ["id"]},
            },
            "required": ["methods"],
        },
        "scope": {
            "type": ["object", "string"],
            "properties": {
                "project": {"type": "object", "properties": {
                    "id": {"type": "string", "maxLength": 64},
                    "name": {"type": "string", "maxLength": 64},
                    "domain": _domain_ref}},
                "domain": _domain_ref,
                "system": {"type": "object", "properties": {"all": {"type": "boolean"}}},
            },
        },
    },
    "required": ["identity"],
}

_group_props: Schema = {"name": NAME_64, "description": DESCRIPTION, "domain_id": ID}
GROUP_CREATE: Schema = {"type": "object", "properties": _group_props, "required": ["name"],
                        "additionalProperties": True}
GROUP_UPDATE: Schema = {"type": "object", "properties": _group_props, "minProperties": 1,
                        "additionalProperties": True}

# Keystone's application credential schema: roles by id or name (exactly one of them),
# access rules by id or by service, path and method.
_app_cred_role: Schema = {
    "type": "object", "properties": {"id": ID, "name": NAME_255},
    "minProperties": 1, "maxProperties": 1, "additionalProperties": False,
}
_access_rule: Schema = {
    "type": "object",
    "properties": {
        "path": {"type": "string", "minLength": 0, "maxLength": 225, "pattern": "^/"},
        "method": {"type": "string", "pattern": "^(POST|GET|HEAD|PATCH|PUT|DELETE)$"},
        "service": ID,
        "id": ID,
    },
    "additionalProperties": False,
}
APPLICATION_CREDENTIAL_CREATE: Schema = {
    "type": "object",
    "properties": {
        "name": NAME_255, "description": DESCRIPTION,
        "secret": {"type": ["string", "null"], "maxLength": 4096},
        "expires_at": {"type": ["string", "null"]},
        "roles": {"type": "array", "items": _app_cred_role},
        "unrestricted": BOOLEAN,
        "access_rules": {"type": "array", "items": _access_rule},
    },
    "required": ["name"],
    "additionalProperties": True,
}


def _str(value: Any, longest: int | None = None) -> bool:
    return isinstance(value, str) and (longest is None or len(value) <= longest)


def _ref_ok(ref: Any) -> bool:
    return isinstance(ref, dict) and set(ref) <= {"id", "name"} and (
        _str(ref.get("id", ""), 64) and _str(ref.get("name", ""), 255))


def _scope_ok(scope: Any) -> bool:
    if isinstance(scope, str):
        return True
    if not isinstance(scope, dict) or len(scope) != 1:
        return False
    kind, ref = next(iter(scope.items()))
    if kind == "project":
        return (isinstance(ref, dict) and set(ref) <= {"id", "name", "domain"}
                and _str(ref.get("id", ""), 64) and _str(ref.get("name", ""), 64)
                and ("domain" not in ref or _ref_ok(ref["domain"])))
    if kind == "domain":
        return _ref_ok(ref)
    return kind == "system" and ref in ({"all": True}, {"all": False})


def _user_ok(user: Any) -> bool:
    return (isinstance(user, dict) and set(user) <= {"id", "name", "password", "domain"}
            and _str(user.get("id", ""), 64) and _str(user.get("name", ""), 255)
            and _str(user.get("password", ""), 4096)
            and ("domain" not in user or _ref_ok(user["domain"])))


def auth_plainly_valid(auth: dict[str, Any]) -> bool:
    """True for the everyday shapes of an ``auth`` block (password or token, scoped by
    id or name), which AUTH accepts: checked in a few microseconds, where the general
    validator takes tens, on the hottest write path. Anything else gets AUTH itself."""
    identity = auth.get("identity")
    if not isinstance(identity, dict) or ("scope" in auth and not _scope_ok(auth["scope"])):
        return False
    methods = identity.get("methods")
    if not isinstance(methods, list) or not methods or not all(_str(m) for m in methods):
        return False
    for name, block in identity.items():
        if name == "token":
            if not (isinstance(block, dict) and set(block) == {"id"} and _str(block["id"])):
                return False
        elif name == "password":
            if not (isinstance(block, dict) and set(block) == {"user"}
                    and _user_ok(block["user"])):
                return False
        elif name != "methods":
            return False
    return True
