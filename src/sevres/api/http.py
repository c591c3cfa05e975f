"""How every API endpoint runs: one place for body parsing, authentication, policy and
the transaction, so resource modules hold only what is particular to them.

An endpoint is a plain function ``(call) -> Response`` declared with :func:`endpoint`:
the wrapper reads the body, then in a worker thread opens one transaction, turns the
X-Auth-Token into a :class:`Caller` (401 when it is missing or invalid), enforces the
named policy rule against the path and query parameters, and runs the function. The
transaction commits only if the function returns; any error rolls everything back. The
audit records of what the function did are written after that (see sevres.audit).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from anyio import CapacityLimiter
from starlette.datastructures import URL
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sevres import errors, metrics
from sevres.api import targets
from sevres.appcreds import access
from sevres.log import bind, emit, events
from sevres.policy.rules import Caller
from sevres.storage.breaker import in_thread
from sevres.storage.database import NeedsDatabase
from sevres.storage.repositories import Store
from sevres.tokens.service import InvalidToken, ValidToken, token_hash

if TYPE_CHECKING:
    from sevres.app import Services

MAX_BODY_BYTES = 1024 * 1024


@dataclass
class Call:
    """Everything an endpoint function may use for one request."""

    services: Services
    request: Request
    tx: Store
    caller: Caller | None
    token: ValidToken | None
    body: Any
    params: dict[str, str]
    query: dict[str, str]
    base_url: str
    extra_target: dict[str, str] = field(default_factory=dict)
    # The in-memory state's generation when the request began: memos made from what this
    # request read are kept only if no reload happened meanwhile.
    generation: int = 0

    def authorize(self, action: str, target: dict[str, Any]) -> None:
        """Enforce ``action`` for this caller on ``target`` (403 unless allowed)."""
        assert self.token is not None
        creds = targets.credentials(self.services, self.tx, self.token)
        self.services.enforcer.authorize(action, creds, target)

    def url(self, path: str) -> str:
        return f"{self.base_url}/v3/{path}"

    @property
    def me(self) -> Caller:
        assert self.caller is not None
        return self.caller


Handler = Callable[[Call], Response]
Endpoint = Callable[[Request], Awaitable[Response]]


def json_response(
    body: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


def created(body: Any, location: str, headers: Mapping[str, str] | None = None) -> Response:
    return json_response(body, 201, {"Location": location, **(headers or {})})


def no_content() -> Response:
    return Response(status_code=204)


def caller_of(token: ValidToken) -> Caller:
    return Caller(
        user_id=token.user.id,
        user_domain_id=token.user.domain_id,
        project_id=token.project.id if token.project else None,
        domain_id=token.domain.id if token.domain and token.project is None else None,
        system=token.is_system,
        roles=token.role_names,
        audit_id=token.payload.audit_ids[0],
    )


def base_url(services: Services, request: Request) -> str:
    if services.settings.public_url:
        return services.settings.public_url
    scope = request.scope
    return _base_url(scope.get("scheme", "http"), scope.get("server"),
                     scope.get("app_root_path", scope.get("root_path", "")),
                     request.headers.get("host"))


@functools.lru_cache(maxsize=256)  # the Host header is the client's: bounded
def _base_url(scheme: str, server: tuple[str, int] | None, root_path: str,
              host: str | None) -> str:
    """Starlette's ``request.base_url``, from the parts it is made of, without the
    trailing slash: built once per distinct parts, not for every request (it was a
    fortieth of a re-scope's CPU)."""
    headers = [] if host is None else [(b"host", host.encode("latin-1"))]
    path = root_path if root_path.endswith("/") else root_path + "/"
    return str(URL(scope={"type": "http", "scheme": scheme, "server": server, "path": path,
                          "query_string": b"", "root_path": root_path,
                          "headers": headers})).rstrip("/")


async def read_json(request: Request) -> Any:
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise errors.PayloadTooLarge("Request is too large.")
    if not raw.strip():
        return None
    content_type = request.headers.get("content-type", "application/json")
    if "json" not in content_type.split(";")[0].lower():
        raise errors.ValidationError(
            f"Expecting to find application/json in Content-Type header. {errors.INCORRECT}")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise errors.invalid_json() from None
    if not isinstance(body, dict):  # Keystone: an array (or any non-object) is invalid too
        raise errors.invalid_json()
    if b"\\u0000" in raw and _holds_nul(body):  # SQLite stores NUL, PostgreSQL refuses it
        raise errors.ValidationError("Invalid input: strings must not contain NUL characters.")
    return body


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_nul(v) for v in value)
    return False


def endpoint(
    services: Services,
    handler: Handler,
    rule: str | None,
    write: bool = False,
    authenticated: bool = True,
    threads: Callable[[Any], CapacityLimiter | None] | None = None,
    from_memory: bool = False,
) -> Endpoint:
    """Wrap ``handler`` with body parsing, authentication, policy and one transaction.
    ``threads`` may pick, from the body, a pool of request threads of its own for the
    request (logins, so that their queue never holds the threads other requests need).
    ``from_memory`` first runs the handler on the event loop with no database at all:
    most token requests are answered from memory, and a thread hop costs more than the
    answer; the first read of the database sends the request to a thread, from scratch.
    Such handlers must do nothing visible (log, count, audit) before their last read."""

    async def run(request: Request) -> Response:
        body = await read_json(request) if request.method in ("POST", "PUT", "PATCH") else None
        limiter = threads(body) if threads is not None else None
        if limiter is None:  # not a login that hashes: the node is serving (hashing_gate)
            services.hashing_gate.note_request()
        if from_memory and limiter is None:
            with metrics.held() as attempt:
                try:
                    return _in_transaction(request, body, database=False)
                except NeedsDatabase:
                    attempt.drop()
        # In a worker thread; answered 503 at once if the database stops answering while
        # the thread waits on it (the circuit breaker, storage/breaker.py).
        return await in_thread(functools.partial(_in_transaction, request, body), limiter)

    def _in_transaction(request: Request, body: Any, database: bool = True) -> Response:
        # The audit trail's records of this request are written when the transaction is
        # over: changes once it committed, refused credentials whatever happened.
        with (
            services.audit.request(request, body) as audited,
            services.database.transaction(write=write, allowed=database) as tx,
        ):
            generation = services.tokens.state.generation
            token = _authenticate(services, tx, request) if authenticated else None
            audited.token = token
            caller = caller_of(token) if token else None
            call = Call(
                services=services, request=request, tx=tx, caller=caller, token=token,
                body=body, params=dict(request.path_params), query=dict(request.query_params),
                base_url=base_url(services, request), generation=generation,
            )
            if rule is not None and token is not None:
                call.authorize(rule, targets.target(call))
            return handler(call)

    return run


def _authenticate(services: Services, tx: Store, request: Request) -> ValidToken:
    token = request.headers.get("x-auth-token")
    if not token:
        raise errors.Unauthorized()
    try:
        valid = services.tokens.validate(tx, token)
    except InvalidToken as error:
        emit(events.TOKEN_REJECTED, token_hash=token_hash(token), reason=error.reason)
        raise errors.Unauthorized() from None
    app_cred = valid.grant.app_cred
    if app_cred is not None and not access.permits(
            app_cred.access_rules, "identity", request.method, request.url.path):
        emit(events.TOKEN_REJECTED, token_hash=token_hash(token),
             reason="outside its application credential's access rules")
        raise errors.Unauthorized()
    bind_caller(request, valid)
    return valid


def bind_caller(request: Request, valid: ValidToken) -> None:
    """The caller's ids on every log line of this request from here on."""
    project_id = valid.project.id if valid.project else None
    domain_id = valid.domain.id if valid.domain else None
    bind(user_id=valid.user.id, project_id=project_id, domain_id=domain_id,
         global_request_id=_trusted_global_request_id(request, valid))


_REQUEST_ID = re.compile(r"req-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
TRUSTED_ROLES = frozenset({"service", "admin"})


def _trusted_global_request_id(request: Request, token: ValidToken) -> str | None:
    """An X-OpenStack-Request-ID sent by a trusted service (a token with the service or
    admin role) names the global request this one belongs to, as oslo.middleware and
    oslo.context use it; anyone else's is ignored, so a client cannot forge the trail.
    The caller always gets sevres's own request id back."""
    incoming = request.headers.get("x-openstack-request-id", "")
    if _REQUEST_ID.fullmatch(incoming) and token.role_names & TRUSTED_ROLES:
        return incoming
    return None


def route_table(
    services: Services,
    rows: list[tuple[str, str, Handler, str | None]],
    authenticated: bool = True,
) -> list[Route]:
    """Routes from ``(method, path, handler, policy rule)`` rows; writes are inferred from
    the method. GET routes answer HEAD too, as Keystone's do."""
    return [
        Route(path, endpoint(services, handler, rule, write=method not in ("GET", "HEAD"),
                             authenticated=authenticated), methods=[method])
        for method, path, handler, rule in rows
    ]
