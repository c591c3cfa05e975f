"""Keystone's ``[security_compliance]`` rules for local users (PCI-DSS), and their errors.

Every rule is off by default, as in Keystone. What each one does:

- **Lockout** (``lockout_failure_attempts``, ``lockout_duration``): each wrong password
  counts one consecutive failure (``login_state``); at the limit the account is locked
  until ``lockout_duration`` seconds have passed since the last failure (0: until an
  administrator updates the user with it enabled). While locked, no password is even
  judged: the right one is refused too, and failures are not counted. A successful
  login clears the count, and so does any update of the user that leaves it enabled.
  The client always gets the generic 401 (Keystone 30 too), so a lock tells nobody
  that the account exists; the reason is in the log and the audit trail.
- **Inactivity** (``disable_user_account_days_inactive``): a user whose last successful
  login (or, before any, creation) is that many days ago counts as disabled until an
  administrator sets ``enabled: true`` again.
- **Expiry** (``password_expires_days``): a password set from now on expires that many
  days after it was set. After an expired password the answer is Keystone's 401 "The
  password is expired and needs to be changed for user: <id>." (only once the password
  was right), and the user can still change it themselves.
- **Change on first use** (``change_password_upon_first_use``): a password an
  administrator sets (create, or update with a password) is expired at once.
- **Strength** (``password_regex``, ``password_regex_description``): every new password
  (administrator's or the user's own) must match the expression (``re.match``).
- **History** (``unique_last_password_count``): a user's own new password must differ
  from their last N passwords, the current one included.
- **Minimum age** (``minimum_password_age``): a password the user set themselves must be
  that many days old before they may change it again (an administrator may always).

Per-user resource options exempt a user: ``ignore_lockout_failure_attempts``,
``ignore_password_expiry``, ``ignore_change_password_upon_first_use``,
``ignore_user_inactivity``; ``lock_password`` forbids the self-service change.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sevres import errors
from sevres.identity.models import LoginState, Password, User

if TYPE_CHECKING:
    from sevres.config import Settings

# Option names, not passwords (S105).
IGNORE_CHANGE_PASSWORD = "ignore_change_password_upon_first_use"  # noqa: S105
IGNORE_PASSWORD_EXPIRY = "ignore_password_expiry"  # noqa: S105
IGNORE_LOCKOUT = "ignore_lockout_failure_attempts"
LOCK_PASSWORD = "lock_password"  # noqa: S105
IGNORE_INACTIVITY = "ignore_user_inactivity"
# Keystone's boolean user options. Its multi-factor options are not accepted: sevres has
# no multi-factor authentication, and storing rules it would not enforce misleads.
USER_OPTIONS = (IGNORE_CHANGE_PASSWORD, IGNORE_PASSWORD_EXPIRY, IGNORE_LOCKOUT, LOCK_PASSWORD,
                IGNORE_INACTIVITY)


class LoginRefused(errors.Unauthorized):
    """A refused login or self-service change. The client sees ``message`` (the generic
    401 unless Keystone shows more); ``reason`` is for the log and the audit trail."""

    def __init__(self, reason: str, message: str | None = None) -> None:
        super().__init__(*(() if message is None else (message,)))
        self.reason = reason


def password_expired(user_id: str) -> LoginRefused:
    return LoginRefused("password expired", "The password is expired and needs to be changed "
                        f"for user: {user_id}.")


class PasswordRejected(errors.ValidationError):
    """A new password the rules refuse (400, Keystone's wording); ``reason`` names the
    rule for the log and the audit trail."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Compliance:
    lockout_failure_attempts: int | None = None
    lockout_duration: int = 1800
    disable_user_account_days_inactive: int | None = None
    password_expires_days: int | None = None
    unique_last_password_count: int = 0
    minimum_password_age: int = 0
    password_regex: str | None = None
    password_regex_description: str | None = None
    change_password_upon_first_use: bool = False

    @classmethod
    def of(cls, settings: Settings) -> Compliance:
        return cls(
            lockout_failure_attempts=settings.lockout_failure_attempts,
            lockout_duration=settings.lockout_duration,
            disable_user_account_days_inactive=settings.disable_user_account_days_inactive,
            password_expires_days=settings.password_expires_days,
            unique_last_password_count=settings.unique_last_password_count,
            minimum_password_age=settings.minimum_password_age,
            password_regex=settings.password_regex,
            password_regex_description=settings.password_regex_description,
            change_password_upon_first_use=settings.change_password_upon_first_use,
        )

    # -- logins ----------------------------------------------------------------------
    @property
    def tracks_logins(self) -> bool:
        """Whether logins read (and may write) ``login_state``; with lockout and
        inactivity off they never touch it."""
        return bool(self.lockout_failure_attempts or self.disable_user_account_days_inactive)

    def locked(self, user: User, state: LoginState | None, now: datetime.datetime) -> bool:
        limit = self.lockout_failure_attempts
        if not limit or state is None or user.option(IGNORE_LOCKOUT):
            return False
        if state.failed_count < limit:
            return False
        return self.lockout_duration == 0 or state.failed_at is None or (
            now < state.failed_at + datetime.timedelta(seconds=self.lockout_duration))

    def lockout_over_before(self, now: datetime.datetime) -> datetime.datetime | None:
        """A lockout whose last failure is at or before this has ended (None: never)."""
        if self.lockout_duration == 0:
            return None
        return now - datetime.timedelta(seconds=self.lockout_duration)

    def inactive(self, user: User, state: LoginState | None, today: datetime.date) -> bool:
        days = self.disable_user_account_days_inactive
        if not days or user.option(IGNORE_INACTIVITY):
            return False
        last = state.last_active_on if state is not None else None
        if last is None and user.created_at is not None:
            last = user.created_at.date()
        return last is not None and (today - last).days >= days

    def marks_activity(self, state: LoginState | None, today: datetime.date) -> bool:
        """Whether a successful login must record ``today`` as the last active day."""
        return bool(self.disable_user_account_days_inactive) and (
            state is None or state.last_active_on != today)

    def expired(self, user: User, password: Password | None, now: datetime.datetime) -> bool:
        if password is None or password.expires_at is None:
            return False
        return not user.option(IGNORE_PASSWORD_EXPIRY) and now >= password.expires_at

    # -- new passwords ---------------------------------------------------------------
    def expiry_of_new(self, user: User, now: datetime.datetime, *,
                      first_use: bool) -> datetime.datetime | None:
        """When a password set now expires: at once when an administrator set it
        (``first_use``) and the user must change it on first use; else after
        ``password_expires_days``."""
        if (first_use and self.change_password_upon_first_use
                and not user.option(IGNORE_CHANGE_PASSWORD)):
            return now
        if self.password_expires_days and not user.option(IGNORE_PASSWORD_EXPIRY):
            return (now + datetime.timedelta(days=self.password_expires_days)).replace(
                microsecond=0)
        return None

    @property
    def history_kept(self) -> int:
        """How many passwords to keep per user, the current one included."""
        return max(1, self.unique_last_password_count)

    def check_strength(self, password: str | None) -> None:
        """Keystone's check of any new password against ``password_regex``."""
        pattern = self.password_regex
        if pattern is None:
            return
        if not isinstance(password, str):
            raise PasswordRejected("password policy: not a string", "Password validation "
                                   "error: Password must be a string type.")
        if not re.match(pattern, password):
            detail = self.password_regex_description or f"it must match {pattern}"
            raise PasswordRejected("password policy: strength", "The password does not match "
                                   f"the requirements: {detail}.")

    def check_self_service(self, user: User, current: Password | None,
                           now: datetime.datetime) -> None:
        """The rules on a user changing their own password, besides strength and
        history: ``lock_password``, then the minimum age of a self-set password."""
        if user.option(LOCK_PASSWORD):
            raise PasswordRejected(
                "password policy: locked",
                "You cannot change your password at this time due to password policy "
                "disallowing password changes. Please contact your administrator to reset "
                "your password.")
        days = self.minimum_password_age
        if current is None or not current.self_service:
            return
        allowed_from = current.created_at + datetime.timedelta(days=days)
        if now < allowed_from:
            raise PasswordRejected(
                "password policy: minimum age",
                "You cannot change your password at this time due to the minimum password "
                f"age. Once you change your password, it must be used for {days} day(s) "
                "before it can be changed. Please try again in "
                f"{(allowed_from - now).days} day(s) or contact your administrator to reset "
                "your password.")

    def history_error(self) -> PasswordRejected:
        return PasswordRejected(
            "password policy: history",
            "The new password cannot be identical to a previous password. The total number "
            f"which includes the new password must be unique is "
            f"{self.unique_last_password_count}.")
