"""The audit trail: one CADF-style JSON event a line, in its own file (``[audit] file``,
``<state_dir>/audit.log`` by default), never in the operational log.

What is audited: every authentication (POST /v3/auth/tokens with the password or token
method, success or failure), every self-service password change (success or failure),
every token revocation, and every create, update and delete of domains, projects, users,
groups, roles, implied roles, role assignments, group membership, regions, services,
endpoints, application credentials and access rules (the latter with the target type
"unknown": Keystone's CADF map has none for it).

Where records come from: the event catalog already states each of these facts once, where
it happens (``emit(events.ENTITY_CREATED, ...)``). A record is derived from that same event
(``log.observe``), so an endpoint that emits its data events is audited without a second
call to forget. While an endpoint runs, :meth:`AuditTrail.request` (opened by
``api/http.py`` around the transaction) holds the events an auditor needs, and writes
them once the outcome is known:

* the transaction committed: every held record is written; a change is "success" only
  then, so "success" always means "it is in the database";
* the transaction rolled back (any error, a 409 included): the held changes are dropped,
  as nothing changed. Only refusals are written, with outcome "failure": a failed
  authentication and a failed password change are attempts an auditor must see although
  nothing was stored. Other refused requests (400, 403, 404, 409) write nothing here; the
  operational log has them under the same request id. That keeps one simple rule:
  changes wait for the commit, refused credentials are written whatever happens.

Who: the initiator is the caller's token (user, and project or domain scope) with the
client address and user agent. For a login it is the user authenticated or, when the
login failed, the user id, name and domain the request claimed; for a password change,
the user whose original password was the proof. Never a secret: passwords are never read,
a token appears only as the short ``token_hash`` the operational log uses, and a failure
carries a reason category ("invalid credentials", "account locked", "password policy:
history") and the status the client got, not the detail.

Writing: each record is a single ``os.write`` of one line to the file opened with
O_APPEND, so lines from threads and worker processes never interleave and nothing sits in
a buffer; the file is reopened per record, so log rotation needs no signal. A record that
cannot be written is reported in the operational log (``audit.write_failed``); the
request's answer does not change, as its transaction already committed.
"""

from __future__ import annotations

import datetime
import getpass
import json
import os
import socket
import threading
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sevres import log
from sevres.log import emit, events
from sevres.log.events import Event
from sevres.tokens.service import ValidToken, token_hash

if TYPE_CHECKING:
    from starlette.requests import Request

CADF_EVENT = "http://schemas.dmtf.org/cloud/audit/1.0/event"
ACCOUNT_USER = "service/security/account/user"  # the initiator, and a login's target
OBSERVER = "service/security"
UNKNOWN = "unknown"
TARGET_TYPES = {  # pycadf's taxonomy, as Keystone maps its resources
    "domain": "data/security/domain",
    "project": "data/security/project",
    "user": "data/security/account/user",
    "group": "data/security/group",
    "role": "data/security/role",
    "region": "data/security/region",
    "service": "data/security/service",
    "endpoint": "data/security/endpoint",
    "token": "data/security/credential",
    "application_credential": "data/security/credential",
}
MAX_CLAIM = 255  # claimed names and user agents are the client's text: keep them short

# AUTH_FAILED reasons (for the operational log) -> the category the audit record carries.
_AUTH_REASONS = {
    "invalid user or password": "invalid credentials",
    "methods name different users": "invalid credentials",
    "unsupported method": "unsupported method",
    "user unknown or disabled": "user unknown or disabled",
    "user's domain unknown or disabled": "user unknown or disabled",
    "unknown project name": "invalid scope",
    "unknown domain name": "invalid scope",
    "project unknown or disabled": "invalid scope",
    "project's domain disabled": "invalid scope",
    "domain unknown or disabled": "invalid scope",
    "no role on the scope": "invalid scope",
    # [security_compliance]: told apart here, never to the client (the same 401 for all).
    "account locked": "account locked",
    "user inactive": "user unknown or disabled",
    "password expired": "password expired",
}
# PASSWORD_CHANGE_FAILED reasons -> (category, HTTP status the client got).
_PASSWORD_CHANGE_REASONS = {
    "wrong original password": ("invalid credentials", "401"),
    "account locked": ("account locked", "401"),
    "user inactive": ("user unknown or disabled", "401"),
    "password policy: not a string": ("password policy: strength", "400"),
    "password policy: strength": ("password policy: strength", "400"),
    "password policy: locked": ("password policy: locked", "400"),
    "password policy: minimum age": ("password policy: minimum age", "400"),
    "password policy: history": ("password policy: history", "400"),
}

_CHANGES = {
    events.ENTITY_CREATED: "created", events.ENTITY_UPDATED: "updated",
    events.ENTITY_DELETED: "deleted",
}
FAILURES = frozenset({events.AUTH_FAILED, events.PASSWORD_CHANGE_FAILED})
AUDITED = frozenset({
    *_CHANGES, *FAILURES, events.AUTH_SUCCEEDED, events.PASSWORD_CHANGED,
    events.TOKEN_REVOKED, events.MEMBERSHIP_ADDED, events.MEMBERSHIP_REMOVED,
    events.GRANT_ADDED, events.GRANT_REMOVED, events.IMPLICATION_ADDED,
    events.IMPLICATION_REMOVED,
})


@dataclass(frozen=True)
class Seen:
    """One audited catalog event, as emitted during the request."""

    event: Event
    fields: dict[str, Any]
    time: str


@dataclass
class Pending:
    """What one request did that the audit trail records, held until its outcome is known.
    ``token`` is the caller's, set once the X-Auth-Token is validated."""

    request: Request
    body: Any
    token: ValidToken | None = None
    seen: list[Seen] = field(default_factory=list)


_pending: ContextVar[Pending | None] = ContextVar("sevres_audit_pending", default=None)


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat()


def _observe(event: Event, fields: dict[str, Any]) -> None:
    pending = _pending.get()
    if pending is not None and event in AUDITED:
        pending.seen.append(Seen(event, dict(fields), _now()))


class AuditTrail:
    """The audit file of one process; ``path`` None when auditing is disabled."""

    def __init__(self, path: Path | None, rescopes: bool = True) -> None:
        self.path = path
        self.rescopes = rescopes
        self._fd: int | None = None
        self._inode = -1
        self._lock = threading.Lock()
        self.observer = {"typeURI": OBSERVER, "id": f"sevres@{socket.gethostname()}",
                         "name": "identity"}
        log.observe(_observe)

    @contextmanager
    def request(self, request: Request, body: Any) -> Iterator[Pending]:
        """Hold the audited events emitted inside; write them when the block ends."""
        pending = Pending(request, body)
        if self.path is None:
            yield pending
            return
        reset = _pending.set(pending)
        try:
            yield pending
        except BaseException:
            self._write([s for s in pending.seen if s.event in FAILURES], pending)
            raise
        else:
            self._write(pending.seen, pending)
        finally:
            _pending.reset(reset)

    def _write(self, seen: list[Seen], pending: Pending) -> None:
        for one in seen:
            if (not self.rescopes and one.event is events.AUTH_SUCCEEDED
                    and _methods(pending.body) == ["token"]):
                continue  # a successful re-scope, unless [audit] rescopes is on
            record = self.record(one, pending)
            line = json.dumps(record, separators=(", ", ": "), default=str) + "\n"
            try:
                self._append(line.encode())
            except OSError as error:
                emit(events.AUDIT_WRITE_FAILED, record_id=record["id"], action=record["action"],
                     path=str(self.path), error=str(error))

    def _append(self, line: bytes) -> None:
        """One write of one whole line in append mode (atomic between workers). The file
        stays open; it is opened again when it was moved or removed (log rotation)."""
        assert self.path is not None
        with self._lock:
            try:
                same = self._fd is not None and os.stat(self.path).st_ino == self._inode
            except FileNotFoundError:
                same = False
            if not same:
                if self._fd is not None:
                    os.close(self._fd)
                    self._fd = None
                flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
                self._fd = os.open(self.path, flags, 0o600)
                self._inode = os.fstat(self._fd).st_ino
            assert self._fd is not None
            os.write(self._fd, line)

    def record(self, seen: Seen, pending: Pending) -> dict[str, Any]:
        """The CADF event for one audited catalog event of ``pending``'s request."""
        action, target, extra = _describe(seen, pending)
        failed = seen.event in FAILURES
        context = log.current_context()
        record: dict[str, Any] = {
            "typeURI": CADF_EVENT,
            "id": str(uuid.uuid4()),
            "eventType": "activity",
            "eventTime": seen.time,
            "action": action,
            "outcome": "failure" if failed else "success",
            "initiator": _initiator(seen, pending),
            "target": target,
            "observer": self.observer,
        }
        if failed:
            record["reason"] = dict(zip(("reasonType", "reasonCode"), _reason(seen),
                                        strict=True))
        record["requestPath"] = pending.request.url.path
        record["request_id"] = context["request_id"]
        record["global_request_id"] = context["global_request_id"]
        record.update(extra)
        return record


def _describe(seen: Seen, pending: Pending) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """(action, target, extra top-level keys) for one event, in Keystone's vocabulary."""
    event, f = seen.event, seen.fields
    if event in _CHANGES:
        kind = str(f["kind"])
        return (f"{_CHANGES[event]}.{kind}",
                _target(kind, f["entity_id"]), {})
    if event in (events.AUTH_SUCCEEDED, events.AUTH_FAILED):
        claimed = _claim(pending.body)
        user_id = f["user_id"] if event is events.AUTH_SUCCEEDED else claimed.get("id", UNKNOWN)
        extra: dict[str, Any] = {"methods": _methods(pending.body)}
        if event is events.AUTH_SUCCEEDED:
            extra["scope"] = f["scope"]
        return "authenticate", {"typeURI": ACCOUNT_USER, "id": user_id}, extra
    if event in (events.PASSWORD_CHANGED, events.PASSWORD_CHANGE_FAILED):
        return "updated.password", _target("user", f["user_id"]), {}
    if event is events.TOKEN_REVOKED:
        target = _target("token", f["audit_id"])
        target.update(token_hash=f["token_hash"], user_id=f["user_id"])
        return "deleted.token", target, {}
    if event in (events.MEMBERSHIP_ADDED, events.MEMBERSHIP_REMOVED):
        operation = "added" if event is events.MEMBERSHIP_ADDED else "removed"
        return "updated.group", _target("group", f["group_id"]), {
            "actor_id": f["user_id"], "actor_type": "user", "actor_operation": operation}
    if event in (events.GRANT_ADDED, events.GRANT_REMOVED):
        verb = "created" if event is events.GRANT_ADDED else "deleted"
        actor, scope, inherited = _grant_shape(pending.request.url.path)
        return f"{verb}.role_assignment", _target(actor, f["actor_id"]), {
            "role": f["role_id"], actor: f["actor_id"], scope: f["target_id"],
            "inherited_to_projects": inherited}
    if event in (events.IMPLICATION_ADDED, events.IMPLICATION_REMOVED):
        verb = "created" if event is events.IMPLICATION_ADDED else "deleted"
        return f"{verb}.implied_role", _target("role", f["prior_role_id"]), {
            "prior_role": f["prior_role_id"], "implied_role": f["implied_role_id"]}
    raise AssertionError(f"event {event.name} is audited but not described")


def _target(kind: str, ident: Any) -> dict[str, Any]:
    return {"typeURI": TARGET_TYPES.get(kind, UNKNOWN), "id": str(ident)}


def _grant_shape(path: str) -> tuple[str, str, bool]:
    """(actor kind, scope kind, inherited) of a grant path, as api/grants.py routes them:
    [/OS-INHERIT]/{projects|domains}/{id}/{users|groups}/... or /system/{users|groups}/..."""
    parts = path.split("/")[2:]
    inherited = bool(parts) and parts[0] == "OS-INHERIT"
    parts = parts[1:] if inherited else parts
    scope = {"projects": "project", "domains": "domain", "system": "system"}.get(
        parts[0] if parts else "", UNKNOWN)
    actors = parts[1] if scope == "system" else parts[2] if len(parts) > 2 else ""
    actor = {"users": "user", "groups": "group"}.get(actors, UNKNOWN)
    return actor, scope, inherited


def _initiator(seen: Seen, pending: Pending) -> dict[str, Any]:
    event, f = seen.event, seen.fields
    who: dict[str, Any]
    if event in (events.AUTH_SUCCEEDED, events.AUTH_FAILED):
        who = _claim(pending.body)
        if event is events.AUTH_SUCCEEDED:
            who["id"] = f["user_id"]
            who.update(_scope_ids(str(f["scope"])))
    elif pending.token is not None:
        who = _caller(pending.token)
    elif event in (events.PASSWORD_CHANGED, events.PASSWORD_CHANGE_FAILED):
        who = {"id": f["user_id"]}  # no token: the original password is the proof
    else:
        who = {}
    initiator: dict[str, Any] = {"typeURI": ACCOUNT_USER, "id": who.pop("id", UNKNOWN)}
    initiator.update(who)
    initiator["host"] = _host(pending.request)
    return initiator


def _caller(token: ValidToken) -> dict[str, Any]:
    who: dict[str, Any] = {"id": token.user.id, "name": token.user.name,
                           "user_domain_id": token.user.domain_id}
    if token.project is not None:
        who["project_id"] = token.project.id
    elif token.domain is not None:
        who["domain_id"] = token.domain.id
    elif token.is_system:
        who["system_scope"] = "all"
    return who


def _scope_ids(scope: str) -> dict[str, str]:
    """The new token's scope, from AUTH_SUCCEEDED's 'project:<id>' form."""
    kind, _, ident = scope.partition(":")
    key = {"project": "project_id", "domain": "domain_id", "system": "system_scope"}.get(kind)
    return {key: ident} if key and ident and ident != "-" else {}


def _claim(body: Any) -> dict[str, Any]:
    """Who a login request says it is: the password method's user id, name and domain,
    the token method's token as its hash. The password itself is never read."""
    identity = _dig(body, "auth", "identity")
    claimed: dict[str, Any] = {}
    user = _dig(identity, "password", "user")
    if isinstance(user, Mapping):
        for key in ("id", "name"):
            if isinstance(user.get(key), str):
                claimed[key] = user[key][:MAX_CLAIM]
        domain = user.get("domain")
        if isinstance(domain, Mapping):
            for key in ("id", "name"):
                if isinstance(domain.get(key), str):
                    claimed[f"user_domain_{key}"] = domain[key][:MAX_CLAIM]
    token = _dig(identity, "token", "id")
    if isinstance(token, str):
        claimed["credential"] = {"type": "token", "token_hash": token_hash(token)}
    return claimed


def _methods(body: Any) -> list[str]:
    methods = _dig(body, "auth", "identity", "methods")
    if not isinstance(methods, list):
        return []
    return [m[:MAX_CLAIM] for m in methods if isinstance(m, str)]


def _dig(value: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _reason(seen: Seen) -> tuple[str, str]:
    """(category, status code) of a refusal: never the detail."""
    reason = str(seen.fields["reason"])
    if seen.event is events.PASSWORD_CHANGE_FAILED:
        return _PASSWORD_CHANGE_REASONS.get(reason, ("invalid credentials", "401"))
    if str(seen.fields["subject"]).startswith("token "):  # the token did not validate
        return "invalid token", "401"
    return _AUTH_REASONS.get(reason, "unauthorized"), "401"


def _host(request: Request) -> dict[str, str]:
    host: dict[str, str] = {}
    if request.client is not None:
        host["address"] = request.client.host
    agent = request.headers.get("user-agent")
    if agent:
        host["agent"] = agent[:MAX_CLAIM]
    return host


def command_request(command: str) -> Request:
    """A stand-in request for changes made by a ``sevres`` command (bootstrap): the
    record's requestPath names the command, its host the local user running it."""
    try:
        who = getpass.getuser()
    except (KeyError, OSError):
        who = "unknown"
    from starlette.requests import Request  # only this stand-in needs it at run time

    scope = {
        "type": "http", "method": "CLI", "path": command, "query_string": b"",
        "headers": [(b"user-agent", f"sevres-cli (local user {who})".encode())],
        "client": ("local", 0),
    }
    return Request(scope)
