"""Users: create, read, update, delete, authenticate, and change one's own password.

Authentication answers every failure the same way (401, one message) and does the same
hashing work whether or not the user exists, so the answer leaks nothing; the one
exception, as in Keystone, is an expired password, told only after the right password.
A password change, an administrator's password reset and disabling a user all record a
revocation event for the user, so every token they held stops working at once. Disabling
a user also deletes their application credentials and access rules (as Keystone does);
deleting one does too (the database cascades). The [security_compliance] rules (lockout,
expiry, history...) are in identity/compliance.py; this module applies them.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Iterable, Mapping
from typing import Any

from sevres import errors
from sevres.attributes import extra
from sevres.identity.compliance import Compliance, LoginRefused, password_expired
from sevres.identity.models import LoginRecord, LoginState, Password, User
from sevres.identity.passwords import PasswordHashing
from sevres.ids import new_id, utcnow
from sevres.log import emit, events
from sevres.resource.service import ResourceService
from sevres.storage.repositories import Store
from sevres.tokens.clock import now_ms

_USER_FIELDS = frozenset(
    {"id", "name", "domain_id", "enabled", "default_project_id", "password", "options", "links",
     "password_expires_at"}
)


class IdentityService:
    def __init__(self, hashing: PasswordHashing, resources: ResourceService,
                 compliance: Compliance | None = None) -> None:
        self.hashing = hashing
        self.resources = resources
        self.compliance = compliance or Compliance()

    def get_user(self, tx: Store, user_id: str) -> User:
        user = tx.users.get(user_id)
        if user is None:
            raise errors.not_found("user", user_id)
        return self.as_shown(tx, [user])[0]

    def list_users(self, tx: Store, query: Mapping[str, str]) -> list[User]:
        expires = query.get("password_expires_at")
        found = tx.users.search(query, None if expires is None else _expiry_filter(expires))
        return self.as_shown(tx, found)

    def as_shown(self, tx: Store, users: Iterable[User]) -> list[User]:
        """Users as the API shows them: an inactive user (``disable_user_account_days_
        inactive``) shows ``enabled: false``, as in Keystone, though not stored so."""
        found = list(users)
        if not self.compliance.disable_user_account_days_inactive:
            return found
        today = utcnow().date()
        states = tx.logins.get_many([u.id for u in found if u.enabled])
        return [dataclasses.replace(u, enabled=False)
                if u.enabled and self.compliance.inactive(u, states.get(u.id), today)
                else u for u in found]

    def create_user(self, tx: Store, attrs: Mapping[str, Any], default_domain_id: str,
                    *, bootstrap: bool = False) -> User:
        """``bootstrap``: the operator's own admin password, held neither to the strength
        rule nor to the change on first use (a generated one could fail the former)."""
        if "password" in attrs and not bootstrap:
            self.compliance.check_strength(attrs["password"])
        domain = self.resources.get_domain(tx, attrs.get("domain_id") or default_domain_id)
        name = attrs["name"]
        if tx.users.get_by_name(domain.id, name) is not None:
            raise errors.Conflict(
                "Conflict occurred attempting to store user - Duplicate entry found with "
                f"name {name} at domain ID {domain.id}."
            )
        default_project_id = attrs.get("default_project_id")
        if default_project_id:
            self._check_default_project(tx, default_project_id)
        now = utcnow()
        user = User(
            id=new_id(), name=name, domain_id=domain.id, enabled=attrs.get("enabled", True),
            default_project_id=default_project_id,
            extra=extra(attrs, _USER_FIELDS), options=_options({}, attrs.get("options")),
            created_at=now,
        )
        tx.users.insert(user, now)
        password = attrs.get("password")
        if password is not None:
            expires = self._set_password(tx, user, password, now, first_use=not bootstrap)
            user = dataclasses.replace(user, password_expires_at=expires)
        return user

    def update_user(self, tx: Store, user_id: str, attrs: Mapping[str, Any]) -> User:
        if "password" in attrs:
            self.compliance.check_strength(attrs["password"])
        user = tx.users.get(user_id)
        if user is None:
            raise errors.not_found("user", user_id)
        if "domain_id" in attrs and attrs["domain_id"] != user.domain_id:
            raise errors.ValidationError("Update of `domain_id` is not allowed.")
        name = attrs.get("name", user.name)
        if name != user.name and tx.users.get_by_name(user.domain_id, name) is not None:
            raise errors.duplicate("user", name)
        default_project_id = attrs.get("default_project_id", user.default_project_id)
        if default_project_id and default_project_id != user.default_project_id:
            self._check_default_project(tx, default_project_id)
        updated = dataclasses.replace(
            user, name=name, enabled=attrs.get("enabled", user.enabled),
            default_project_id=default_project_id,
            extra={**user.extra, **extra(attrs, _USER_FIELDS)},
            options=_options(user.options, attrs.get("options")),
        )
        tx.users.update(updated)
        if "password" in attrs:
            password = attrs["password"]
            if password is None:
                tx.users.set_password(user.id, None, utcnow())
                updated = dataclasses.replace(updated, password_expires_at=None)
            else:
                expires = self._set_password(tx, updated, password, utcnow(), first_use=True)
                updated = dataclasses.replace(updated, password_expires_at=expires)
            self.revoke_tokens_of(tx, user.id)
        if user.enabled and not updated.enabled:
            self.revoke_tokens_of(tx, user.id)
            tx.appcreds.delete_for_user(user.id)  # as Keystone: disabling deletes them
        if updated.enabled and self.compliance.tracks_logins:
            # As Keystone: an update that leaves the user enabled ends a lockout, and
            # enabling them explicitly starts their inactivity period again.
            today = utcnow().date() if attrs.get("enabled") is True else None
            if today is not None and self.compliance.disable_user_account_days_inactive:
                tx.logins.succeeded(user.id, today)
            else:
                tx.logins.clear_failures(user.id)
        return self.as_shown(tx, [updated])[0]

    def delete_user(self, tx: Store, user_id: str) -> None:
        user = self.get_user(tx, user_id)
        tx.assignments.remove_for_actors([user.id])
        tx.users.delete([user.id])
        self.revoke_tokens_of(tx, user.id)

    def change_password(self, tx: Store, user_id: str, original: str, new: str) -> None:
        """Self-service change: the original password is the proof, no token needed.

        As Keystone: the original password is checked like a login (a locked account is
        refused, a wrong password counts towards the lockout, an expired one is accepted:
        changing it is the way out), then the new one must pass the strength rule,
        ``lock_password``, the minimum age and the history."""
        user = tx.users.get(user_id)
        current = tx.users.current_password(user_id) if user is not None else None
        state = self._login_state(tx, user)
        valid = self.hashing.verify(current.hash if current else None, original)
        self._judge(tx, user, state, valid, current, domain_enabled=True, expired_ok=True)
        assert user is not None
        now = utcnow()
        self.compliance.check_strength(new)
        self.compliance.check_self_service(user, current, now)
        history = self.compliance.unique_last_password_count
        if history and any(self.hashing.verify(hashed, new)
                           for hashed in tx.users.password_hashes(user.id, history)):
            raise self.compliance.history_error()
        self._set_password(tx, user, new, now, self_service=True)
        self.revoke_tokens_of(tx, user.id)

    def authenticate(
        self,
        tx: Store,
        password: str,
        user_id: str | None = None,
        name: str | None = None,
        domain_id: str | None = None,
        domain_name: str | None = None,
    ) -> User:
        """Check a password; any failure is the same 401 after the same hashing work."""
        record = self.login(tx, user_id=user_id, name=name, domain_id=domain_id,
                            domain_name=domain_name)
        return self.check_password(tx, record, password)

    def login(self, tx: Store, *, user_id: str | None, name: str | None,
              domain_id: str | None, domain_name: str | None) -> LoginRecord:
        """What checking a password needs from the database (the token layer memoises
        it, so a steady stream of logins does not read the database). The lockout and
        activity bookkeeping is not in it: :meth:`check_password` reads that fresh."""
        user = self._find(tx, user_id, name, domain_id, domain_name)
        if user is None:
            return LoginRecord(None, None, False)
        domain = tx.projects.get(user.domain_id)
        return LoginRecord(user, tx.users.current_password(user.id),
                           domain is not None and domain.enabled)

    def check_password(self, tx: Store, record: LoginRecord, password: str) -> User:
        """The password check of a login, with Keystone's order: an unknown or disabled
        user (or domain), an inactive user, a locked account, a wrong password, an
        expired password. Every failure raises :class:`LoginRefused` after the same
        hashing work; only the last one has a message of its own."""
        state = self._login_state(tx, record.user)
        valid = self.hashing.verify(record.hashed, password)
        return self._judge(tx, record.user, state, valid, record.password,
                           domain_enabled=record.domain_enabled)

    def _login_state(self, tx: Store, user: User | None) -> LoginState | None:
        """The user's login bookkeeping, read fresh (it changes without a revision bump),
        only when lockout or inactivity is on. An unknown user costs the same read."""
        if not self.compliance.tracks_logins:
            return None
        return tx.logins.get(user.id if user is not None else "")

    def _judge(self, tx: Store, user: User | None, state: LoginState | None, valid: bool,
               password: Password | None, *, domain_enabled: bool,
               expired_ok: bool = False) -> User:
        """Refuse, or accept and note the success; failures are counted afterwards, in a
        transaction of their own, since the refused request's own is rolled back. An
        expired password (accepted for the self-service change) is not a success: as in
        Keystone it neither clears the failures nor counts as activity."""
        compliance = self.compliance
        now = utcnow()
        counting = bool(compliance.lockout_failure_attempts)
        if user is None or not user.enabled or not domain_enabled:
            self._count_failure(tx, None, counting)
            raise LoginRefused("invalid user or password")
        if compliance.inactive(user, state, now.date()):
            self._count_failure(tx, None, counting)
            raise LoginRefused("user inactive")
        if compliance.locked(user, state, now):
            self._count_failure(tx, None, counting)  # as Keystone: not counted while locked
            raise LoginRefused("account locked")
        if not valid:
            self._count_failure(tx, user.id, counting)
            raise LoginRefused("invalid user or password")
        if compliance.expired(user, password, now):
            if expired_ok:
                return user
            raise password_expired(user.id)
        today = now.date()
        if compliance.marks_activity(state, today) or (state is not None
                                                       and state.failed_count):
            active = today if compliance.disable_user_account_days_inactive else None
            user_id = user.id
            tx.afterwards(lambda again: again.logins.succeeded(user_id, active))
        return user

    def _count_failure(self, tx: Store, user_id: str | None, counting: bool) -> None:
        """With lockout on, count a wrong password of ``user_id``; for any other failure
        (None) do a write of the same cost that changes nothing, so the time an answer
        takes does not tell a wrong password of a real user from an unknown user."""
        if not counting:
            return
        compliance = self.compliance
        limit = compliance.lockout_failure_attempts or 0

        def count(again: Store) -> None:
            if user_id is None:
                again.logins.clear_failures("")
                return
            now = utcnow()
            failures = again.logins.record_failure(
                user_id, now, threshold=limit,
                restart_before=compliance.lockout_over_before(now))
            if failures == limit:
                emit(events.ACCOUNT_LOCKED, user_id=user_id, attempts=failures,
                     duration=_lockout_duration(compliance.lockout_duration))

        tx.afterwards(count)

    def _set_password(self, tx: Store, user: User, password: str, now: datetime.datetime, *,
                      first_use: bool = False, self_service: bool = False,
                      ) -> datetime.datetime | None:
        """Store a new password (hashed), with its expiry; returns the expiry.
        ``first_use``: an administrator's, to change on first use if so configured;
        ``self_service``: the user's own, held to the minimum age."""
        expires = self.compliance.expiry_of_new(user, now, first_use=first_use)
        tx.users.set_password(user.id, self.hashing.hash(password), now, expires_at=expires,
                              self_service=self_service, keep=self.compliance.history_kept)
        return expires

    def revoke_tokens_of(self, tx: Store, user_id: str) -> None:
        tx.revocations.add(issued_before_ms=now_ms(), now=utcnow(), user_id=user_id)

    def _find(
        self, tx: Store, user_id: str | None, name: str | None, domain_id: str | None,
        domain_name: str | None,
    ) -> User | None:
        if user_id:
            return tx.users.get(user_id)
        if name is None:
            return None
        if domain_id is None and domain_name is not None:
            domain = tx.projects.get_by_name(None, domain_name)
            domain_id = domain.id if domain is not None else None
        if domain_id is None:
            return None
        return tx.users.get_by_name(domain_id, name)

    def _check_default_project(self, tx: Store, project_id: str) -> None:
        project = tx.projects.get(project_id)
        if project is None:
            raise errors.not_found("project", project_id)
        if project.is_domain:
            raise errors.ValidationError(
                "Invalid input for field 'default_project_id': a domain cannot be a user's "
                "default project."
            )


def _options(current: Mapping[str, Any], given: Mapping[str, Any] | None) -> dict[str, Any]:
    """Resource options after an update, as Keystone merges them: each option given is
    set, or removed when given as null; the others stay."""
    merged = dict(current)
    for name, value in (given or {}).items():
        if value is None:
            merged.pop(name, None)
        else:
            merged[name] = value
    return merged


def _lockout_duration(seconds: int) -> str:
    return "until enabled again" if seconds == 0 else f"{seconds} s"


_OPERATORS = ("lt", "lte", "gt", "gte", "eq", "neq")


def _expiry_filter(value: str) -> tuple[str, datetime.datetime]:
    """Keystone's ``password_expires_at=[op:]timestamp`` (``lt:2016-11-06T15:32:17Z``;
    no operator means eq), the timestamp in UTC unless it names its zone."""
    op, moment = ("eq", value)
    if ":" in value[2:4]:
        op, moment = value.split(":", 1)
    try:
        parsed = datetime.datetime.fromisoformat(moment)
    except ValueError:
        raise errors.ValidationError(
            f"Timestamp not in expected format. {errors.INCORRECT}") from None
    if op not in _OPERATORS:
        raise errors.ValidationError(
            f"The given operator {op} is not valid. It must be one of the following: 'eq', "
            "'neq', 'lt', 'lte', 'gt', or 'gte'.")
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(datetime.UTC).replace(tzinfo=None)
    return op, parsed
