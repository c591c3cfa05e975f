"""Issue, validate and revoke Fernet tokens.

Issue: authenticate every method named in ``identity.methods`` (password; token, which
re-scopes an existing token without extending its expiry and keeps its audit chain),
resolve the requested scope (or the user's default project, as Keystone does), require at
least one effective role on it, then encrypt the minimal payload.

Validate: decrypt, check expiry and revocation events, then rebuild everything else from
current data: the user must still exist and be enabled in an enabled domain, the scope
must still exist and be enabled, and the user must still hold a role on it. Any failure
is ``InvalidToken``; the API answers 404 for a subject token and 401 for X-Auth-Token.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.fernet import MultiFernet

from sevres import errors, metrics
from sevres.assignment.models import Role
from sevres.assignment.service import AssignmentService
from sevres.identity.models import User
from sevres.identity.service import IdentityService
from sevres.ids import utcnow
from sevres.log import emit, events
from sevres.resource.models import Project
from sevres.storage.repositories import Store
from sevres.tokens import payload as codec
from sevres.tokens.clock import now_ms
from sevres.tokens.payload import Payload, ScopeKind


class InvalidToken(Exception):
    """The token is not (or no longer) valid; ``reason`` is for the log only."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UnrecognizedToken(InvalidToken):
    """Not a token at all: bad encoding, wrong key, tampered or truncated."""


def token_hash(token: str) -> str:
    """A short digest that identifies a token in logs without being usable as one."""
    return hashlib.sha256(token.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class ValidToken:
    payload: Payload
    user: User
    user_domain: Project
    project: Project | None
    domain: Project | None  # the scoped domain, or the scoped project's domain
    roles: tuple[Role, ...]

    @property
    def role_names(self) -> frozenset[str]:
        return frozenset(r.name for r in self.roles)

    @property
    def is_system(self) -> bool:
        return self.payload.scope is ScopeKind.SYSTEM


class TokenService:
    def __init__(
        self,
        keys: MultiFernet,
        identity: IdentityService,
        assignments: AssignmentService,
        lifetime_s: int,
    ) -> None:
        self.keys = keys
        self.identity = identity
        self.assignments = assignments
        self.lifetime_ms = lifetime_s * 1000

    # -- issue ---------------------------------------------------------------------------
    def issue(self, tx: Store, auth: Mapping[str, Any]) -> tuple[str, ValidToken]:
        identity = auth["identity"]
        methods: list[str] = list(dict.fromkeys(identity["methods"]))
        if not methods:
            raise errors.ValidationError("Invalid input for field 'identity/methods': "
                                         "at least one method is required.")
        user: User | None = None
        expires_ms: int | None = None
        audit_chain: tuple[str, ...] = ()
        carried: tuple[str, ...] = ()
        for method in methods:
            if method not in identity:
                raise errors.missing_attribute(method, "identity")
            if method == "password":
                found = self._password_user(tx, identity["password"])
            elif method == "token":
                prior = self._token_user(tx, identity["token"])
                found = prior.user
                expires_ms = prior.payload.expires_ms
                audit_chain = prior.payload.audit_ids[-1:]
                carried = prior.payload.methods
            else:
                emit(events.AUTH_FAILED, subject=method[:64], reason="unsupported method")
                raise errors.Unauthorized("Attempted to authenticate with an unsupported method.")
            if user is not None and user.id != found.id:
                emit(events.AUTH_FAILED, subject=found.id, reason="methods name different users")
                raise errors.Unauthorized()
            user = found
        assert user is not None
        scope, scope_id = self._requested_scope(tx, user, auth.get("scope"))
        issued = now_ms()
        payload = Payload(
            user_id=user.id,
            methods=tuple(dict.fromkeys([*methods, *carried])),
            scope=scope,
            scope_id=scope_id,
            issued_ms=issued,
            expires_ms=expires_ms if expires_ms is not None else issued + self.lifetime_ms,
            audit_ids=(codec.new_audit_id(), *audit_chain),
        )
        try:
            valid = self._rebuild(tx, payload)
        except InvalidToken as error:
            emit(events.AUTH_FAILED, subject=user.id, reason=error.reason)
            raise errors.Unauthorized() from None
        token = codec.encode(payload, self.keys)
        metrics.token_issued(methods)
        emit(events.AUTH_SUCCEEDED, user_id=user.id, methods=",".join(payload.methods),
             scope=f"{scope.name.lower()}:{scope_id or '-'}")
        return token, valid

    def _password_user(self, tx: Store, block: Mapping[str, Any]) -> User:
        ref = block.get("user")
        if not isinstance(ref, Mapping) or "password" not in ref:
            raise errors.missing_attribute("password", "identity/password/user")
        domain = ref.get("domain") or {}
        if not ref.get("id") and ref.get("name") and not (domain.get("id") or domain.get("name")):
            raise errors.missing_attribute("domain", "user")
        if not ref.get("id") and not (ref.get("name") and (domain.get("id") or domain.get("name"))):
            raise errors.ValidationError(
                "Invalid input for field 'identity/password/user': a user id, or a user name "
                "with a domain id or name, is required."
            )
        try:
            return self.identity.authenticate(
                tx, ref["password"], user_id=ref.get("id"), name=ref.get("name"),
                domain_id=domain.get("id"), domain_name=domain.get("name"),
            )
        except errors.Unauthorized:
            subject = ref.get("id") or f"{ref.get('name')}@{domain.get('id') or domain.get('name')}"
            emit(events.AUTH_FAILED, subject=subject, reason="invalid user or password")
            raise

    def _token_user(self, tx: Store, block: Mapping[str, Any]) -> ValidToken:
        token = block.get("id")
        if not isinstance(token, str):
            raise errors.missing_attribute("id", "identity/token")
        try:
            return self.validate(tx, token)
        except InvalidToken as error:
            emit(events.AUTH_FAILED, subject=f"token {token_hash(token)}", reason=error.reason)
            raise errors.Unauthorized() from None

    def _requested_scope(
        self, tx: Store, user: User, scope: Mapping[str, Any] | str | None
    ) -> tuple[ScopeKind, str | None]:
        if scope == "unscoped":
            return ScopeKind.UNSCOPED, None
        if not scope:
            default = user.default_project_id
            if default and self.assignments.effective_role_ids_on_project(tx, user.id, default):
                project = tx.projects.get(default)
                if project is not None and project.enabled:
                    return ScopeKind.PROJECT, default
            return ScopeKind.UNSCOPED, None
        if isinstance(scope, str) or len(scope) != 1:
            raise errors.ValidationError("Invalid input for field 'scope': specify exactly one "
                                         "of project, domain or system.")
        if "project" in scope:
            ref = scope["project"]
            if ref.get("id"):
                return ScopeKind.PROJECT, ref["id"]
            domain = ref.get("domain") or {}
            domain_id = domain.get("id")
            if domain_id is None and domain.get("name"):
                found = tx.projects.get_by_name(None, domain["name"])
                domain_id = found.id if found else None
            if not ref.get("name") or not (domain.get("id") or domain.get("name")):
                raise errors.ValidationError(
                    "Invalid input for field 'scope/project': a project id, or a project name "
                    "with a domain id or name, is required."
                )
            project = tx.projects.get_by_name(domain_id, ref["name"]) if domain_id else None
            if project is None or project.is_domain:
                emit(events.AUTH_FAILED, subject=user.id, reason="unknown project name")
                raise errors.Unauthorized()
            return ScopeKind.PROJECT, project.id
        if "domain" in scope:
            ref = scope["domain"]
            if ref.get("id"):
                return ScopeKind.DOMAIN, ref["id"]
            if not ref.get("name"):
                raise errors.ValidationError("Invalid input for field 'scope/domain': a domain "
                                             "id or name is required.")
            found = tx.projects.get_by_name(None, ref["name"])
            if found is None:
                emit(events.AUTH_FAILED, subject=user.id, reason="unknown domain name")
                raise errors.Unauthorized()
            return ScopeKind.DOMAIN, found.id
        if "system" in scope:
            if scope["system"] != {"all": True}:
                raise errors.ValidationError("Invalid input for field 'scope/system': only "
                                             "{\"all\": true} is supported.")
            return ScopeKind.SYSTEM, "all"
        raise errors.ValidationError("Invalid input for field 'scope': specify exactly one of "
                                     "project, domain or system.")

    # -- validate ------------------------------------------------------------------------
    def validate(self, tx: Store, token: str) -> ValidToken:
        try:
            valid = self._validate(tx, token)
        except InvalidToken:
            metrics.token_validated(valid=False)
            raise
        metrics.token_validated(valid=True)
        return valid

    def _validate(self, tx: Store, token: str) -> ValidToken:
        try:
            payload = codec.decode(token, self.keys)
        except codec.MalformedToken as error:
            raise UnrecognizedToken(f"malformed: {error}") from None
        if payload.expires_ms <= now_ms():
            raise InvalidToken("expired")
        valid = self._rebuild(tx, payload)
        domains = {valid.user_domain.id, *([valid.domain.id] if valid.domain else [])}
        if tx.revocations.is_revoked(
            audit_id=payload.audit_ids[0], user_id=payload.user_id,
            project_id=valid.project.id if valid.project else None,
            domain_ids=sorted(domains), issued_at_ms=payload.issued_ms,
        ):
            raise InvalidToken("revoked")
        return valid

    def _rebuild(self, tx: Store, payload: Payload) -> ValidToken:
        user = tx.users.get(payload.user_id)
        if user is None or not user.enabled:
            raise InvalidToken("user unknown or disabled")
        user_domain = tx.projects.get(user.domain_id)
        if user_domain is None or not user_domain.enabled:
            raise InvalidToken("user's domain unknown or disabled")
        project: Project | None = None
        domain: Project | None = None
        role_ids: set[str] = set()
        if payload.scope is ScopeKind.PROJECT:
            project = tx.projects.get(payload.scope_id or "")
            if project is None or project.is_domain or not project.enabled:
                raise InvalidToken("project unknown or disabled")
            domain = _same_or_get(tx, user_domain, project.domain_id or "")
            if domain is None or not domain.enabled:
                raise InvalidToken("project's domain disabled")
            role_ids = self.assignments.effective_role_ids_in(tx, user.id, project)
        elif payload.scope is ScopeKind.DOMAIN:
            domain = _same_or_get(tx, user_domain, payload.scope_id or "")
            if domain is None or not domain.is_domain or not domain.enabled:
                raise InvalidToken("domain unknown or disabled")
            role_ids = self.assignments.effective_role_ids_on_domain(tx, user.id, domain.id)
        elif payload.scope is ScopeKind.SYSTEM:
            role_ids = self.assignments.effective_role_ids_on_system(tx, user.id)
        # As Keystone: a domain-specific role never shows in a token, only what it implies.
        roles = tuple(r for r in self.assignments.roles_by_ids(tx, role_ids) if not r.domain_id)
        if payload.scope is not ScopeKind.UNSCOPED and not roles:
            raise InvalidToken("no role on the scope")
        return ValidToken(payload, user, user_domain, project, domain, roles)

    # -- revoke --------------------------------------------------------------------------
    def revoke(self, tx: Store, token: ValidToken) -> None:
        tx.revocations.add(issued_before_ms=now_ms(), now=utcnow(),
                           audit_id=token.payload.audit_ids[0])
        metrics.token_revoked()


def _same_or_get(tx: Store, known: Project, project_id: str) -> Project | None:
    """``known`` when it is the one wanted (a user's own domain, most often), else read."""
    return known if known.id == project_id else tx.projects.get(project_id)
