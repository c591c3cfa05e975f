"""Application credentials: create, read, delete, and the access rules they carry.

Creating one delegates roles the creating token holds on its project, never more: the
roles asked for (by id or by global role name) must all be in that token, and default to
all of them. The secret is generated when not given (64 random bytes, URL-safe base64),
stored only as an argon2id hash, and shown once, in the answer to the create. A token
issued for a restricted credential may neither create nor delete credentials, so a
leaked credential cannot mint itself successors. Deleting a credential records a
revocation event naming it, so every token issued for it stops working at once.

``authenticate`` and ``roles_of``, which the token layer calls, are explained in
``sevres.appcreds.authentication``.
"""

from __future__ import annotations

import datetime
import secrets
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from sevres import errors
from sevres.appcreds import authentication
from sevres.appcreds.models import AccessRule, AppCred
from sevres.assignment.effective import expand_implied, implication_graph
from sevres.assignment.service import AssignmentService
from sevres.identity.models import User
from sevres.identity.passwords import PasswordHashing
from sevres.ids import new_id, utcnow
from sevres.storage.repositories import Store
from sevres.tokens.clock import now_ms

SECRET_BYTES = 64
UNASSIGNED_ROLE = ("Invalid application credential: Cannot create an application credential "
                   "with unassigned role")
BAD_TIMESTAMP = f"Timestamp not in expected format. {errors.INCORRECT}"
EXPIRED = f"The 'expires_at' must not be before now. {errors.INCORRECT}"
RESTRICTED = ("Using method 'application_credential' is not allowed for managing additional "
              "application credentials.")


def parse_expiry(value: str | None, now: datetime.datetime) -> datetime.datetime | None:
    """``expires_at`` as Keystone takes it: ISO 8601, UTC unless an offset is given (a
    trailing ``Z`` is optional); empty or null means never. Naive UTC, as stored."""
    if not value:
        return None
    text = value[:-1] if value[-1] in "Zz" else value
    try:
        moment = datetime.datetime.fromisoformat(text)
        if moment.tzinfo is not None:
            moment = moment.astimezone(datetime.UTC).replace(tzinfo=None)
    except (ValueError, OverflowError):  # OverflowError: year 9999 moved past its end
        raise errors.ValidationError(BAD_TIMESTAMP) from None
    if moment < now:
        raise errors.ValidationError(EXPIRED)
    return moment


class ApplicationCredentialService:
    def __init__(self, hashing: PasswordHashing, assignments: AssignmentService) -> None:
        self.hashing = hashing
        self.assignments = assignments

    # -- authentication (the token layer's entry points) ---------------------------------
    def authenticate(self, tx: Store, block: Any) -> tuple[User, AppCred]:
        """The owner and the credential an ``application_credential`` auth method block
        names, once its secret is verified; ``errors.Unauthorized`` on any failure."""
        return authentication.authenticate(self.hashing, tx, block)

    def roles_of(self, tx: Store, app_cred: AppCred) -> set[str]:
        """Ids of the credential's roles its owner still holds on its project."""
        return authentication.roles_of(self.assignments, tx, app_cred)

    # -- application credentials ---------------------------------------------------------
    def create(
        self, tx: Store, user_id: str, project_id: str | None,
        token_role_ids: Collection[str], attrs: Mapping[str, Any],
    ) -> tuple[AppCred, str]:
        """Create a credential for ``user_id`` on the creating token's project, with (a
        subset of) the token's roles: ``(credential, secret)``. ``attrs`` passed the
        schema (``api/schemas.APPLICATION_CREDENTIAL_CREATE``)."""
        if project_id is None:
            raise errors.forbidden_action("identity:create_application_credential")
        name = attrs["name"]
        if tx.appcreds.get_by_name(user_id, name) is not None:
            raise errors.duplicate("application_credential", name)
        now = utcnow()
        expires_at = parse_expiry(attrs.get("expires_at"), now)
        role_ids = self._roles(tx, attrs.get("roles") or (), token_role_ids)
        access_rules = self._access_rules(tx, user_id, attrs.get("access_rules") or ())
        secret = attrs.get("secret") or secrets.token_urlsafe(SECRET_BYTES)
        cred = AppCred(
            id=new_id(), name=name, user_id=user_id, project_id=project_id,
            description=attrs.get("description"), expires_at=expires_at,
            unrestricted=bool(attrs.get("unrestricted", False)), role_ids=role_ids,
            access_rules=access_rules,
        )
        for rule in access_rules:
            if tx.appcreds.get_access_rule(rule.id) is None:
                tx.appcreds.insert_access_rule(rule)
        tx.appcreds.insert(cred, self.hashing.hash(secret), now)
        return cred, secret

    def get(self, tx: Store, user_id: str, app_cred_id: str) -> AppCred:
        """The user's credential; 404 for any other id (another user's included)."""
        cred = tx.appcreds.get(app_cred_id)
        if cred is None or cred.user_id != user_id:
            raise errors.not_found("Application Credential", app_cred_id)
        return cred

    def owner_of(self, tx: Store, app_cred_id: str) -> str | None:
        """Whose credential this is (None if none): policy judges the owner, not the
        user named in the URL, as Keystone does."""
        return tx.appcreds.owner_of(app_cred_id)

    def list_for_user(self, tx: Store, user_id: str,
                      query: Mapping[str, str]) -> list[AppCred]:
        return tx.appcreds.list_for_user(user_id, query)

    def delete(self, tx: Store, user_id: str, app_cred_id: str) -> None:
        cred = self.get(tx, user_id, app_cred_id)
        tx.appcreds.delete([cred.id])
        tx.revocations.add(issued_before_ms=now_ms(), now=utcnow(), app_cred_id=cred.id)

    def check_may_manage(self, tx: Store, token_app_cred_id: str | None) -> None:
        """403 when the caller's token came from a restricted credential (or from one
        that no longer exists): such a token may not create or delete credentials."""
        if token_app_cred_id is None:
            return
        cred = tx.appcreds.get(token_app_cred_id)
        if cred is None or not cred.unrestricted:
            raise errors.forbidden_action(RESTRICTED)

    # -- access rules --------------------------------------------------------------------
    def list_access_rules(self, tx: Store, user_id: str,
                          query: Mapping[str, str]) -> list[AccessRule]:
        return tx.appcreds.list_access_rules(user_id, query)

    def get_access_rule(self, tx: Store, user_id: str, rule_id: str) -> AccessRule:
        rule = tx.appcreds.get_access_rule(rule_id)
        if rule is None or rule.user_id != user_id:
            raise errors.not_found("Access Rule", rule_id)
        return rule

    def delete_access_rule(self, tx: Store, user_id: str, rule_id: str) -> None:
        rule = self.get_access_rule(tx, user_id, rule_id)
        if tx.appcreds.access_rule_in_use(rule.id):
            raise errors.Forbidden("May not delete access rule in use")
        tx.appcreds.delete_access_rule(rule.id)

    # -- helpers -------------------------------------------------------------------------
    def _roles(self, tx: Store, requested: Iterable[Mapping[str, str]],
               token_role_ids: Collection[str]) -> tuple[str, ...]:
        """The ids of the roles asked for, each one the token holds; all the token's
        roles when none are asked for."""
        wanted: list[str] = []
        for ref in requested:
            role_id = ref.get("id")
            if not role_id:
                role = tx.roles.get_by_name(ref["name"], None)
                if role is None:
                    raise errors.NotFound(f"Role {ref['name']} is not defined")
                role_id = role.id
            if role_id not in token_role_ids:
                raise errors.ValidationError(UNASSIGNED_ROLE)
            wanted.append(role_id)
        if not wanted:
            return tuple(sorted(token_role_ids))
        # As Keystone: a role brings the roles it implies (the token holds them too).
        graph = implication_graph(tx)
        implied = {found for role_id in wanted for found, _ in expand_implied(role_id, graph)}
        return tuple(sorted(implied & set(token_role_ids) | set(wanted)))

    def _access_rules(self, tx: Store, user_id: str,
                      requested: Iterable[Mapping[str, str]]) -> tuple[AccessRule, ...]:
        """Each rule named by the id of one of the user's rules, or by service, path and
        method: an identical rule of the user's is reused, else a new one is made."""
        found: dict[str, AccessRule] = {}
        for ref in requested:
            if ref.get("id"):
                rule = tx.appcreds.get_access_rule(ref["id"])
                if rule is None or rule.user_id != user_id:
                    raise errors.ValidationError(
                        f"Invalid application credential: Could not find Access Rule: "
                        f"{ref['id']}.")
            elif all(ref.get(k) is not None for k in ("service", "path", "method")):
                known = tx.appcreds.find_access_rule(user_id, ref["service"], ref["path"],
                                                     ref["method"])
                rule = known or AccessRule(new_id(), user_id, ref["service"], ref["path"],
                                           ref["method"])
                for other in found.values():  # the same rule twice in one request
                    if (other.service, other.path, other.method) == (
                            rule.service, rule.path, rule.method):
                        rule = other
            else:
                raise errors.ValidationError(
                    "Invalid input for field 'access_rules': each rule needs an id, or a "
                    "service, a path and a method.")
            found[rule.id] = rule
        return tuple(sorted(found.values(), key=lambda r: (r.service, r.path, r.method)))
