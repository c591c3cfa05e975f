"""What the middleware hands the application: a typed, immutable view of who is calling.

``TokenInfo`` is one validated token, read either from the body that
``GET /v3/auth/tokens`` answers (online: ids, names and effective roles) or from the
verified claims of a JWS token (offline: ids only — a JWS token carries no names and no
roles, because sevres recomputes roles at every validation). ``RequestContext`` is the
caller's token plus, when the request also carried a valid ``X-Service-Token``, the
calling service's roles: it is what the application reads to make its decisions.

Both are built here from plain mappings, so the middleware for ASGI and for WSGI share
one reading of the token, one set of compatibility headers (``X-Roles``...) and one
refusal (Keystone's error body).
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from sevres.tokens.payload import Payload, ScopeKind

TokenKind = Literal["fernet", "jws"]


@dataclass(frozen=True)
class TokenInfo:
    """One validated token. Names and roles are None / empty when validated offline."""

    user_id: str
    user_name: str | None
    user_domain_id: str | None
    project_id: str | None
    project_name: str | None
    project_domain_id: str | None
    domain_id: str | None
    system_scope: bool
    roles: frozenset[str]
    audit_ids: tuple[str, ...]
    expires_at: datetime.datetime
    token_kind: TokenKind
    app_cred_id: str | None = None

    @classmethod
    def from_body(cls, body: Mapping[str, Any], token_kind: TokenKind) -> TokenInfo:
        """Read the ``token`` object of a validation answer; ValueError if it is not one."""
        try:
            user = body["user"]
            project = body.get("project")
            domain = body.get("domain")
            app_cred = body.get("application_credential")
            return cls(
                user_id=_text(user["id"]),
                user_name=_text(user["name"]),
                user_domain_id=_text(user["domain"]["id"]),
                project_id=_text(project["id"]) if project else None,
                project_name=_text(project["name"]) if project else None,
                project_domain_id=_text(project["domain"]["id"]) if project else None,
                domain_id=_text(domain["id"]) if domain else None,
                system_scope=bool((body.get("system") or {}).get("all")),
                roles=frozenset(_text(role["name"]) for role in body.get("roles", ())),
                audit_ids=tuple(_text(a) for a in body["audit_ids"]),
                expires_at=_timestamp(body["expires_at"]),
                token_kind=token_kind,
                app_cred_id=_text(app_cred["id"]) if app_cred else None,
            )
        except (KeyError, TypeError, AttributeError) as error:
            raise ValueError(f"not a token body: {error!r}") from None

    @classmethod
    def from_payload(cls, payload: Payload) -> TokenInfo:
        """The ids of a verified JWS token: no names, no roles (the claims hold none)."""
        scope = payload.scope
        return cls(
            user_id=payload.user_id,
            user_name=None,
            user_domain_id=None,
            project_id=payload.scope_id if scope is ScopeKind.PROJECT else None,
            project_name=None,
            project_domain_id=None,
            domain_id=payload.scope_id if scope is ScopeKind.DOMAIN else None,
            system_scope=scope is ScopeKind.SYSTEM,
            roles=frozenset(),
            audit_ids=payload.audit_ids,
            expires_at=datetime.datetime.fromtimestamp(payload.expires_ms / 1000, datetime.UTC),
            token_kind="jws",  # noqa: S106 -- a kind of token, not a password
            app_cred_id=payload.app_cred_id,
        )


@dataclass(frozen=True)
class RequestContext:
    """The caller of one request, as the middleware validated it.

    ``roles`` are the effective role names of the caller's token on its scope (empty in
    offline mode unless the validator looks them up: see ``TokenValidator``).
    ``is_service`` says that the request also carried a valid ``X-Service-Token``, whose
    roles are ``service_roles``; what a service may do is the application's decision.
    """

    user_id: str
    user_name: str | None
    user_domain_id: str | None
    project_id: str | None
    project_name: str | None
    project_domain_id: str | None
    domain_id: str | None
    system_scope: bool
    roles: frozenset[str]
    audit_ids: tuple[str, ...]
    expires_at: datetime.datetime
    token_kind: TokenKind
    app_cred_id: str | None = None
    is_service: bool = False
    service_roles: frozenset[str] = frozenset()

    @classmethod
    def of(cls, user: TokenInfo, service: TokenInfo | None = None) -> RequestContext:
        return cls(
            user_id=user.user_id, user_name=user.user_name, user_domain_id=user.user_domain_id,
            project_id=user.project_id, project_name=user.project_name,
            project_domain_id=user.project_domain_id, domain_id=user.domain_id,
            system_scope=user.system_scope, roles=user.roles, audit_ids=user.audit_ids,
            expires_at=user.expires_at, token_kind=user.token_kind,
            app_cred_id=user.app_cred_id, is_service=service is not None,
            service_roles=service.roles if service is not None else frozenset(),
        )

    def has_role(self, name: str) -> bool:
        """Whether the caller's token holds the role (role names compare case-blind, as
        oslo.policy compares them)."""
        wanted = name.lower()
        return any(role.lower() == wanted for role in self.roles)


# Identity headers a keystonemiddleware-era application reads. The middleware removes
# every one of them from the incoming request before setting its own: a client must never
# be able to claim roles or ids by sending them.
IDENTITY_HEADERS = (
    "X-Identity-Status", "X-Service-Identity-Status",
    "X-User-Id", "X-User-Name", "X-User-Domain-Id", "X-User-Domain-Name",
    "X-Project-Id", "X-Project-Name", "X-Project-Domain-Id", "X-Project-Domain-Name",
    "X-Domain-Id", "X-Domain-Name", "X-System-Scope", "X-Is-Admin-Project",
    "X-Roles", "X-Service-Catalog", "X-Service-User-Id", "X-Service-User-Name",
    "X-Service-User-Domain-Id", "X-Service-User-Domain-Name", "X-Service-Project-Id",
    "X-Service-Project-Name", "X-Service-Project-Domain-Id",
    "X-Service-Project-Domain-Name", "X-Service-Roles", "X-Application-Credential-Id",
    # Names deprecated by keystonemiddleware, still read by old applications.
    "X-User", "X-Tenant-Id", "X-Tenant-Name", "X-Tenant", "X-Role",
)


def identity_headers(context: RequestContext | None) -> dict[str, str]:
    """The keystonemiddleware headers for a context (None: a delayed, failed decision)."""
    if context is None:
        return {"X-Identity-Status": "Invalid"}
    headers = {"X-Identity-Status": "Confirmed", "X-User-Id": context.user_id,
               "X-Roles": ",".join(sorted(context.roles))}
    optional = {
        "X-User-Name": context.user_name, "X-User-Domain-Id": context.user_domain_id,
        "X-Project-Id": context.project_id, "X-Project-Name": context.project_name,
        "X-Project-Domain-Id": context.project_domain_id, "X-Domain-Id": context.domain_id,
        "X-System-Scope": "all" if context.system_scope else None,
        "X-Application-Credential-Id": context.app_cred_id,
    }
    headers.update({name: value for name, value in optional.items() if value is not None})
    if context.is_service:
        headers["X-Service-Identity-Status"] = "Confirmed"
        headers["X-Service-Roles"] = ",".join(sorted(context.service_roles))
    return headers


_REFUSALS = {
    401: ("Unauthorized", "The request you have made requires authentication."),
    503: ("Service Unavailable",
          "The identity service could not be reached to validate the token; try again."),
}


def refusal(status: int, auth_url: str) -> tuple[list[tuple[str, str]], bytes]:
    """The headers and Keystone error body of a 401 or 503 answer; a 401 names the
    identity service in ``WWW-Authenticate``, as Keystone and keystonemiddleware do."""
    title, message = _REFUSALS[status]
    body = json.dumps({"error": {"code": status, "title": title, "message": message}}).encode()
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    if status == 401:
        headers.append(("WWW-Authenticate", f'Keystone uri="{auth_url}"'))
    return headers, body


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def _timestamp(value: object) -> datetime.datetime:
    moment = datetime.datetime.fromisoformat(_text(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)
