"""Issue, validate and revoke Fernet tokens.

Issue: authenticate every method named in ``identity.methods`` (password; token, which
re-scopes an existing token without extending its expiry and keeps its audit chain),
resolve the requested scope (or the user's default project, as Keystone does), require at
least one effective role on it, then encrypt the minimal payload.

Validate: decrypt, check expiry and revocation events, then rebuild everything else from
current data: the user must still exist and be enabled in an enabled domain, the scope
must still exist and be enabled, and the user must still hold a role on it. Any failure
is ``InvalidToken``; the API answers 404 for a subject token and 401 for X-Auth-Token.

Both run from memory in the steady state (see sevres.tokens.state): a validated token, a
user's grant on a scope and a login's stored record are memoised until the database's
revision says something changed; the database is read only on a miss.
"""

from __future__ import annotations

import datetime
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sevres import errors, metrics
from sevres.appcreds.models import AppCred
from sevres.appcreds.service import ApplicationCredentialService
from sevres.assignment.models import Role
from sevres.assignment.service import AssignmentService
from sevres.identity.compliance import LoginRefused
from sevres.identity.models import User
from sevres.identity.service import IdentityService
from sevres.ids import utcnow
from sevres.log import emit, events
from sevres.resource.models import Project
from sevres.storage.repositories import Store
from sevres.tokens import payload as codec
from sevres.tokens.clock import now_ms
from sevres.tokens.payload import Payload, ScopeKind
from sevres.tokens.state import TokenState


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
class Grant:
    """What a user holds on a scope now: the same for every token of that user and scope."""

    user: User
    user_domain: Project
    project: Project | None
    domain: Project | None  # the scoped domain, or the scoped project's domain
    roles: tuple[Role, ...]
    role_names: frozenset[str]
    app_cred: AppCred | None = None  # the application credential the token came from

    @property
    def not_after_ms(self) -> int | None:
        """When the grant itself ends: an application credential's expiry."""
        expires = self.app_cred.expires_at if self.app_cred else None
        return None if expires is None else int(
            expires.replace(tzinfo=datetime.UTC).timestamp() * 1000)

    @property
    def domain_ids(self) -> tuple[str, ...]:
        """The domains a token depends on: its user's, and its scope's."""
        if self.domain is None or self.domain.id == self.user_domain.id:
            return (self.user_domain.id,)
        return (self.user_domain.id, self.domain.id)


@dataclass(frozen=True)
class ValidToken:
    payload: Payload
    grant: Grant

    @property
    def user(self) -> User:
        return self.grant.user

    @property
    def user_domain(self) -> Project:
        return self.grant.user_domain

    @property
    def project(self) -> Project | None:
        return self.grant.project

    @property
    def domain(self) -> Project | None:
        return self.grant.domain

    @property
    def roles(self) -> tuple[Role, ...]:
        return self.grant.roles

    @property
    def role_names(self) -> frozenset[str]:
        return self.grant.role_names

    @property
    def is_system(self) -> bool:
        return self.payload.scope is ScopeKind.SYSTEM


class TokenService:
    def __init__(
        self,
        state: TokenState,
        identity: IdentityService,
        assignments: AssignmentService,
        appcreds: ApplicationCredentialService,
        lifetime_s: int,
        allow_expired_window_s: int,
    ) -> None:
        self.state = state
        self.identity = identity
        self.assignments = assignments
        self.appcreds = appcreds
        self.lifetime_ms = lifetime_s * 1000
        self.allow_expired_ms = allow_expired_window_s * 1000

    # -- issue ---------------------------------------------------------------------------
    def issue(self, tx: Store, auth: Mapping[str, Any]) -> tuple[str, ValidToken]:
        self.state.ensure_current(tx)
        identity = auth["identity"]
        methods: list[str] = list(dict.fromkeys(identity["methods"]))
        if not methods:
            raise errors.ValidationError("Invalid input for field 'identity/methods': "
                                         "at least one method is required.")
        user: User | None = None
        expires_ms: int | None = None
        audit_chain: tuple[str, ...] = ()
        carried: tuple[str, ...] = ()
        app_cred: AppCred | None = None
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
                if prior.payload.app_cred_id is not None:
                    # As Keystone: a token from an application credential cannot be
                    # re-scoped; it stays what the credential allows.
                    emit(events.AUTH_FAILED, subject=prior.user.id,
                         reason="re-scoping an application credential's token")
                    raise errors.Unauthorized()
            elif method == "application_credential":
                found, app_cred = self._app_cred_user(tx, identity["application_credential"])
            else:
                emit(events.AUTH_FAILED, subject=method[:64], reason="unsupported method")
                raise errors.Unauthorized("Attempted to authenticate with an unsupported method.")
            if user is not None and user.id != found.id:
                emit(events.AUTH_FAILED, subject=found.id, reason="methods name different users")
                raise errors.Unauthorized()
            user = found
        assert user is not None
        if app_cred is not None:
            if auth.get("scope"):
                emit(events.AUTH_FAILED, subject=user.id,
                     reason="a scope requested with an application credential")
                raise errors.Unauthorized()
            scope, scope_id = ScopeKind.PROJECT, app_cred.project_id
        else:
            scope, scope_id = self._scope_of(tx, user, auth.get("scope"))
        issued = now_ms()
        payload = Payload(
            user_id=user.id,
            methods=tuple(dict.fromkeys([*methods, *carried])),
            scope=scope,
            scope_id=scope_id,
            issued_ms=issued,
            expires_ms=expires_ms if expires_ms is not None else issued + self.lifetime_ms,
            audit_ids=(codec.new_audit_id(), *audit_chain),
            app_cred_id=app_cred.id if app_cred is not None else None,
        )
        try:
            valid = ValidToken(payload, self._grant(tx, payload))
        except InvalidToken as error:
            emit(events.AUTH_FAILED, subject=user.id, reason=error.reason)
            raise errors.Unauthorized() from None
        return self.state.ring.encode(payload), valid

    def issued(self, valid: ValidToken, methods: list[str]) -> None:
        """Count and log a login, once its answer is ready (so that a login first tried
        from memory and then retried with the database is logged once)."""
        payload = valid.payload
        metrics.token_issued(methods)
        emit(events.AUTH_SUCCEEDED, user_id=valid.user.id, methods=",".join(payload.methods),
             scope=f"{payload.scope.name.lower()}:{payload.scope_id or '-'}")

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
            key = ("login", ref.get("id"), ref.get("name"), domain.get("id"), domain.get("name"))
            record = self.state.remembered(key, self.state.generation, lambda: self.identity.login(
                tx, user_id=ref.get("id"), name=ref.get("name"), domain_id=domain.get("id"),
                domain_name=domain.get("name")))
            return self.identity.check_password(tx, record, ref["password"])
        except errors.Unauthorized as error:
            subject = ref.get("id") or f"{ref.get('name')}@{domain.get('id') or domain.get('name')}"
            reason = error.reason if isinstance(error, LoginRefused) else "invalid user or password"
            emit(events.AUTH_FAILED, subject=subject, reason=reason)
            raise

    def _app_cred_user(self, tx: Store, block: Any) -> tuple[User, AppCred]:
        try:
            return self.appcreds.authenticate(tx, block)
        except errors.Unauthorized:
            emit(events.AUTH_FAILED, subject="application credential",
                 reason="invalid application credential")
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

    def _scope_of(
        self, tx: Store, user: User, scope: Mapping[str, Any] | str | None
    ) -> tuple[ScopeKind, str | None]:
        """The requested scope, memoised: names and default projects take reads."""
        if isinstance(scope, Mapping) and len(scope) == 1:
            ref = next(iter(scope.values()))
            if isinstance(ref, Mapping) and isinstance(ref.get("id"), str) and len(ref) == 1:
                kind = {"project": ScopeKind.PROJECT, "domain": ScopeKind.DOMAIN}.get(
                    next(iter(scope)))
                if kind is not None:
                    return kind, ref["id"]
        try:
            key = ("scope", user.id, json.dumps(scope, sort_keys=True))
        except (TypeError, ValueError):
            return self._requested_scope(tx, user, scope)
        found = self.state.memo.get(key)
        if found is None:
            generation = self.state.generation
            found = self._requested_scope(tx, user, scope)
            self.state.keep(self.state.memo, key, found, generation)
        return found  # type: ignore[no-any-return]

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
    def validate(self, tx: Store, token: str, allow_expired: bool = False) -> ValidToken:
        try:
            valid = self._validate(tx, token, allow_expired)
        except InvalidToken:
            metrics.token_validated(valid=False)
            raise
        metrics.token_validated(valid=True)
        return valid

    def cached(self, token: str) -> ValidToken | None:
        """The token from memory alone, if it is there and still valid; None otherwise
        (then :meth:`validate` decides). Never reads the database."""
        state = self.state
        if not state.current():
            return None
        valid: ValidToken | None = state.tokens.get(token)
        if valid is None:
            return None
        now = now_ms()
        not_after = valid.grant.not_after_ms
        if (valid.payload.expires_ms <= now or (not_after is not None and not_after <= now)
                or self._revoked(valid)):
            return None
        return valid

    def _validate(self, tx: Store, token: str, allow_expired: bool) -> ValidToken:
        state = self.state
        state.ensure_current(tx)
        valid: ValidToken | None = state.tokens.get(token)
        metrics.validation_cache(hit=valid is not None)
        if valid is None:
            generation = state.generation
            try:
                payload = state.ring.decode(token)
            except codec.MalformedToken as error:
                raise UnrecognizedToken(f"malformed: {error}") from None
            valid = ValidToken(payload, self._grant(tx, payload))
            state.keep(state.tokens, token, valid, generation)
        expires = valid.payload.expires_ms
        not_after = valid.grant.not_after_ms
        if not_after is not None:
            expires = min(expires, not_after)
        now = now_ms()
        if expires <= now and not (allow_expired and now < expires + self.allow_expired_ms):
            raise InvalidToken("expired")
        if self._revoked(valid):
            raise InvalidToken("revoked")
        return valid

    def _revoked(self, valid: ValidToken) -> bool:
        project = valid.project.id if valid.project else None
        return self.state.revoked.revoked(valid.payload, project, valid.grant.domain_ids)

    def _grant(self, tx: Store, payload: Payload) -> Grant:
        """What the payload's user holds on its scope now (memoised; InvalidToken if the
        user, the scope or every role on it is gone)."""
        key = ("grant", payload.user_id, payload.scope, payload.scope_id, payload.app_cred_id)
        found = self.state.memo.get(key)
        if found is None:
            generation = self.state.generation
            try:
                found = self._rebuild(tx, payload)
            except InvalidToken as error:
                found = error
            self.state.keep(self.state.memo, key, found, generation)
        if isinstance(found, InvalidToken):
            raise InvalidToken(found.reason)
        return found  # type: ignore[no-any-return]

    def _rebuild(self, tx: Store, payload: Payload) -> Grant:
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
        app_cred: AppCred | None = None
        if payload.app_cred_id is not None:
            app_cred = tx.appcreds.get(payload.app_cred_id)
            if (app_cred is None or app_cred.user_id != user.id
                    or app_cred.project_id != payload.scope_id):
                raise InvalidToken("application credential gone")
            role_ids &= set(app_cred.role_ids)
        # As Keystone: a domain-specific role never shows in a token, only what it implies.
        roles = tuple(r for r in self.assignments.roles_by_ids(tx, role_ids) if not r.domain_id)
        if payload.scope is not ScopeKind.UNSCOPED and not roles:
            raise InvalidToken("no role on the scope")
        return Grant(user, user_domain, project, domain, roles,
                     frozenset(r.name for r in roles), app_cred)

    # -- revoke --------------------------------------------------------------------------
    def revoke(self, tx: Store, token: ValidToken) -> None:
        tx.revocations.add(issued_before_ms=now_ms(), now=utcnow(),
                           audit_id=token.payload.audit_ids[0])
        metrics.token_revoked()


def _same_or_get(tx: Store, known: Project, project_id: str) -> Project | None:
    """``known`` when it is the one wanted (a user's own domain, most often), else read."""
    return known if known.id == project_id else tx.projects.get(project_id)
