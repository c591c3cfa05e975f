"""The catalog of every event sevres logs.

Code never chooses a level or writes a message: it emits one of these events with its
declared fields (``emit(events.TOKEN_ISSUED, user_id=...)``). Names are stable, so an
operator can grep for them, and docs/events.md is generated from this module.

No event may declare a field that could carry a secret (a password, a token, a key); a
token is only ever logged as ``token_hash``, a short digest that cannot be replayed.
"""

from __future__ import annotations

import enum
import functools
import string
from dataclasses import dataclass


class Level(enum.IntEnum):
    DEBUG = 10
    INFO = 20
    WARNING = 30
    ERROR = 40


SECRET_WORDS = ("password", "secret", "token_id", "fernet", "private", "credential")


@dataclass(frozen=True)
class Event:
    name: str
    level: Level
    message: str
    meaning: str

    @property
    def fields(self) -> tuple[str, ...]:
        return _fields(self.message)


@functools.cache
def _fields(message: str) -> tuple[str, ...]:
    return tuple(field for _, field, _, _ in string.Formatter().parse(message) if field)


CATALOG: dict[str, Event] = {}


def _event(name: str, level: Level, message: str, meaning: str) -> Event:
    if name in CATALOG:
        raise ValueError(f"event {name} is declared twice")
    event = Event(name, level, message, meaning)
    CATALOG[name] = event
    return event


DBG, INF, WRN, ERR = Level.DEBUG, Level.INFO, Level.WARNING, Level.ERROR

# -- server life -------------------------------------------------------------------------
SERVER_STARTING = _event(
    "server.starting", INF, "serving Keystone v3 at {url} with {workers} worker(s)",
    "The API server is about to accept connections.")
WORKER_STARTED = _event(
    "server.worker_started", INF, "worker {pid} ready on database {database}",
    "One worker process has built its application and connected its database pool.")
LIBRARY_WARNING = _event(
    "library.warning", WRN, "{logger}: {text}",
    "A third-party library (the HTTP server, the database driver) reported a warning.")
LIBRARY_ERROR = _event(
    "library.error", ERR, "{logger}: {text}",
    "A third-party library reported an error.")

# -- requests ----------------------------------------------------------------------------
REQUEST_HANDLED = _event(
    "http.request", INF, "{method} {path} answered {status} in {duration_ms} ms",
    "One HTTP request was answered.")
REQUEST_REJECTED = _event(
    "http.client_error", INF, "{method} {path} refused with {status}: {reason}",
    "A request was refused because of what the client sent or is allowed to do.")
REQUEST_CRASHED = _event(
    "http.server_error", ERR, "{method} {path} failed with {error_type}: {error}",
    "An unexpected error; the client got a 500. This is a bug: report it with the request id.")
DATABASE_CONFLICT = _event(
    "storage.conflict", WRN, "a write was refused by the database: {error_type}",
    "A concurrent write or a constraint refused the transaction; the client got 409.")

# -- authentication and tokens -----------------------------------------------------------
AUTH_SUCCEEDED = _event(
    "auth.succeeded", INF, "user {user_id} authenticated with {methods} scoped to {scope}",
    "A token was issued.")
AUTH_FAILED = _event(
    "auth.failed", WRN, "authentication failed for {subject}: {reason}",
    "A login was refused; the client was told only that authentication is required.")
TOKEN_VALIDATED = _event(
    "token.validated", DBG, "token {token_hash} of user {user_id} is valid",
    "A subject token was validated.")
TOKEN_REJECTED = _event(
    "token.rejected", INF, "token {token_hash} rejected: {reason}",
    "A presented token was malformed, expired, revoked, or its user or scope is gone.")
TOKEN_REVOKED = _event(
    "token.revoked", INF, "token {token_hash} of user {user_id} revoked (audit id {audit_id})",
    "A token was revoked by DELETE /v3/auth/tokens.")
PASSWORD_CHANGED = _event(
    "identity.password_changed", INF, "user {user_id} changed their password; older tokens revoked",
    "A user changed their own password.")
PASSWORD_CHANGE_FAILED = _event(
    "identity.password_change_failed", WRN, "user {user_id} could not change their password: "
    "{reason}", "A self-service password change was refused: the original password was wrong "
    "(or the account locked or disabled), or the new one broke a [security_compliance] rule.")
ACCOUNT_LOCKED = _event(
    "identity.account_locked", WRN,
    "user {user_id} locked out after {attempts} failed logins ({duration})",
    "[security_compliance] lockout_failure_attempts was reached: logins of the user are "
    "refused until lockout_duration has passed or an administrator updates the user.")

# -- identity data -----------------------------------------------------------------------
ENTITY_CREATED = _event(
    "data.created", INF, "{kind} {entity_id} created",
    "An identity, resource, assignment or catalog entity was created.")
ENTITY_UPDATED = _event(
    "data.updated", INF, "{kind} {entity_id} updated",
    "An entity was changed.")
ENTITY_DELETED = _event(
    "data.deleted", INF, "{kind} {entity_id} deleted",
    "An entity was deleted (with whatever it owned).")
MEMBERSHIP_ADDED = _event(
    "identity.member_added", INF, "user {user_id} added to group {group_id}",
    "A user joined a group (and with it the group's role assignments).")
MEMBERSHIP_REMOVED = _event(
    "identity.member_removed", INF, "user {user_id} removed from group {group_id}",
    "A user left a group.")
GRANT_ADDED = _event(
    "assignment.granted", INF, "role {role_id} granted to {actor_id} on {target_id}",
    "A role assignment was created.")
GRANT_REMOVED = _event(
    "assignment.revoked", INF, "role {role_id} revoked from {actor_id} on {target_id}",
    "A role assignment was removed.")
IMPLICATION_ADDED = _event(
    "role.implication_added", INF, "role {prior_role_id} now implies {implied_role_id}",
    "An implied-role rule was created.")
IMPLICATION_REMOVED = _event(
    "role.implication_removed", INF, "role {prior_role_id} no longer implies {implied_role_id}",
    "An implied-role rule was deleted.")

# -- audit trail -------------------------------------------------------------------------
AUDIT_WRITE_FAILED = _event(
    "audit.write_failed", ERR, "audit record {record_id} ({action}) not written to {path}: {error}",
    "The audit file could not be written (disk full, permissions); the change itself stands.")

# -- administration ----------------------------------------------------------------------
SCHEMA_UPGRADED = _event(
    "db.upgraded", INF, "database schema at revision {revision}",
    "Migrations ran; the schema is current.")
KEYS_CREATED = _event(
    "keys.created", INF, "first staged and primary {provider} keys stored in the database",
    "A provider had no keys; a staged and a primary key were created, wrapped with the "
    "master key.")
KEYS_LOADED = _event(
    "keys.loaded", DBG, "{count} {provider} keys loaded from the database",
    "A process (re)loaded its key ring after a change.")
KEYS_ROTATED = _event(
    "keys.rotated", INF,
    "{provider} keys rotated: {primary} now signs, {staged} staged, {dropped} old keys dropped",
    "A rotation (scheduled or by 'sevres keys rotate'); every node picks it up from the "
    "database.")
KEYS_IMPORTED = _event(
    "keys.imported", INF, "{count} Keystone Fernet keys imported from {path}",
    "'sevres keys import-keystone' made a Keystone key repository this deployment's ring.")
MASTER_KEY_CREATED = _event(
    "keys.master_created", INF, "master key written to {path}",
    "'sevres init' created the master key that wraps every token key; give the same key to "
    "every node.")
STATE_RELOADED = _event(
    "cache.reloaded", DBG, "in-memory state reloaded at revision {authz}/{revocations}",
    "The database revision changed (a write somewhere); caches were dropped or revocations "
    "reloaded.")
STATE_REFRESH_FAILED = _event(
    "cache.refresh_failed", WRN,
    "cannot read the database revision ({error_type}); serving from cached state",
    "The database is unreachable; validation goes on from memory until it is back.")
DATABASE_BREAKER_OPENED = _event(
    "storage.breaker_opened", ERR,
    "database path {path} unreachable ({reason}): requests needing it answer 503 at once; "
    "{abandoned} waiting requests abandoned",
    "The state poll's bounded probe failed or did not answer in time. Until a probe "
    "succeeds, requests that need this database answer 503 without waiting; token "
    "validation goes on from memory.")
DATABASE_BREAKER_CLOSED = _event(
    "storage.breaker_closed", INF, "database path {path} reachable again after {open_ms} ms",
    "A probe succeeded: requests use the database again.")
KEY_ROTATION_FAILED = _event(
    "keys.rotation_failed", WRN, "scheduled key rotation failed ({error_type}); will retry",
    "The scheduled rotation could not run (database unreachable or contended).")
BOOTSTRAPPED = _event(
    "bootstrap.done", INF, "bootstrap complete: admin user {user_id}, project {project_id}",
    "Bootstrap made sure the default domain, admin, roles and identity endpoints exist.")
