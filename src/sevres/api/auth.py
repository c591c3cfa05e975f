"""/v3/auth/tokens (issue, validate, check, revoke) and the /v3/auth/* self-service reads."""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from anyio import CapacityLimiter
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sevres import errors, metrics
from sevres.api import paging, schemas, targets, validation, views
from sevres.api.http import (
    Call,
    bind_caller,
    endpoint,
    json_response,
    no_content,
    route_table,
)
from sevres.log import emit, events
from sevres.storage.repositories.filters import flag
from sevres.tokens.payload import ScopeKind
from sevres.tokens.service import InvalidToken, UnrecognizedToken, ValidToken, token_hash

if TYPE_CHECKING:
    from sevres.app import Services


def _whole_seconds(ms: int) -> str:
    """Keystone's rendering of a token time: whole seconds ('...:10.000000Z')."""
    return _rendered_second(ms // 1000)


@functools.lru_cache(maxsize=1024)  # tokens issued in the same second share both times
def _rendered_second(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime(seconds))


def _ref(entity_id: str, name: str) -> dict[str, str]:
    return {"id": entity_id, "name": name}


def token_body(call: Call, token: ValidToken, with_catalog: bool) -> dict[str, Any]:
    """The token as Keystone renders it for the token's scope."""
    p = token.payload
    body: dict[str, Any] = {
        "methods": list(p.methods),
        "user": {
            "domain": _ref(token.user_domain.id, token.user_domain.name),
            "id": token.user.id,
            "name": token.user.name,
            "password_expires_at": views.password_expires_at(token.user),
        },
        "audit_ids": list(p.audit_ids),
        # Whole seconds, as Keystone renders them ("...:10.000000Z").
        "expires_at": _whole_seconds(p.expires_ms),
        "issued_at": _whole_seconds(p.issued_ms),
    }
    if p.scope is ScopeKind.UNSCOPED:
        return body
    roles = [_ref(r.id, r.name) for r in token.roles]
    project_id = token.project.id if token.project else None
    if p.scope is ScopeKind.PROJECT and token.project is not None and token.domain is not None:
        body["project"] = {"domain": _ref(token.domain.id, token.domain.name),
                           "id": token.project.id, "name": token.project.name}
        body["is_domain"] = False
        # As Keystone when an admin project is configured (sevres always has one): a
        # service's policy may then tell a cloud admin's token from a project admin's.
        body["is_admin_project"] = targets.on_admin_project(call.services.settings,
                                                            token.project)
    elif p.scope is ScopeKind.DOMAIN and token.domain is not None:
        body["domain"] = _ref(token.domain.id, token.domain.name)
    elif p.scope is ScopeKind.SYSTEM:
        body["roles"] = roles  # Keystone puts roles before system for this scope only
        body["system"] = {"all": True}
    body["roles"] = roles
    app_cred = token.grant.app_cred
    if app_cred is not None:
        block: dict[str, Any] = {"id": app_cred.id, "name": app_cred.name,
                                 "restricted": not app_cred.unrestricted}
        if app_cred.access_rules:
            block["access_rules"] = [{"id": r.id, "service": r.service, "path": r.path,
                                      "method": r.method} for r in app_cred.access_rules]
        body["application_credential"] = block
    if with_catalog:
        body["catalog"] = catalog_of(call, token.user.id, project_id)
    return body


def rendered_token(call: Call, token: ValidToken, with_catalog: bool) -> bytes:
    """``{"token": ...}`` as JSON, with the catalog spliced in already rendered (it is
    most of the bytes and the same for every token of a user on a project)."""
    head = _render(token_body(call, token, with_catalog=False))
    if not with_catalog or token.payload.scope is ScopeKind.UNSCOPED:  # no catalog unscoped
        return b'{"token":' + head + b"}"
    user_id, project_id = token.user.id, token.project.id if token.project else None
    catalog: bytes = call.services.tokens.state.remembered(
        ("catalog-json", user_id, project_id), call.generation,
        lambda: _render_list(catalog_of(call, user_id, project_id)))
    return b'{"token":' + head[:-1] + b',"catalog":' + catalog + b"}}"


def catalog_of(call: Call, user_id: str, project_id: str | None) -> list[dict[str, Any]]:
    """The catalog as a token shows it, memoised until the next change."""
    state = call.services.tokens.state
    found: list[dict[str, Any]] = state.remembered(
        ("catalog", user_id, project_id), call.generation,
        lambda: call.services.catalog.catalog(call.tx, user_id, project_id))
    return found


def _render(body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False, allow_nan=False, indent=None,
                      separators=(",", ":")).encode()


def _render_list(items: list[dict[str, Any]]) -> bytes:
    return json.dumps(items, ensure_ascii=False, allow_nan=False, indent=None,
                      separators=(",", ":")).encode()


def issue_token(call: Call) -> Response:
    body = call.body
    if (isinstance(body, dict) and isinstance(body.get("auth"), dict)
            and schemas.auth_plainly_valid(body["auth"])):
        auth: dict[str, Any] = body["auth"]
    else:
        auth = validation.wrapped(body, "auth", schemas.AUTH)
    try:
        token, valid = call.services.tokens.issue(call.tx, auth)
    except errors.Unauthorized:
        metrics.auth_failed()  # every way a login fails ends here, as a 401
        raise
    rendered = rendered_token(call, valid, "nocatalog" not in call.query)
    call.services.tokens.issued(valid, list(dict.fromkeys(auth["identity"]["methods"])))
    return Response(rendered, status_code=201, media_type="application/json", headers={
        "Location": call.url("auth/tokens"), "X-Subject-Token": token})


def _subject(call: Call) -> ValidToken:
    subject = call.request.headers.get("x-subject-token")
    if not subject:
        raise errors.NotFound("No token in the request")
    allow_expired = flag(call.query, "allow_expired")
    if (call.token is not None and subject == call.request.headers.get("x-auth-token")
            and not allow_expired):
        return call.token  # a token validating itself: already validated this request
    try:
        return call.services.tokens.validate(call.tx, subject, allow_expired=allow_expired)
    except InvalidToken as error:
        emit(events.TOKEN_REJECTED, token_hash=token_hash(subject), reason=error.reason)
        if isinstance(error, UnrecognizedToken):
            raise errors.NotFound("Could not recognize Fernet token") from None
        raise errors.NotFound("Failed to validate token") from None


def validate_token(call: Call) -> Response:
    subject = _subject(call)
    action = "identity:check_token" if call.request.method == "HEAD" else "identity:validate_token"
    call.authorize(action, {"target": {"token": {"user_id": subject.user.id}}})
    token = call.request.headers["x-subject-token"]
    if token != call.request.headers.get("x-auth-token") and _restricted_for(
            call.request, subject):
        emit(events.TOKEN_REJECTED, token_hash=token_hash(token),
             reason="access rules the validating service does not announce it enforces")
        raise errors.NotFound("Failed to validate token")
    emit(events.TOKEN_VALIDATED, token_hash=token_hash(token), user_id=subject.user.id)
    headers = {"X-Subject-Token": token}
    state = call.services.tokens.state
    auth_token = call.request.headers["x-auth-token"]
    state.keep(state.memo, ("allowed", auth_token, action, subject.user.id), True,
               call.generation)
    if call.request.method == "HEAD":
        # Keystone's HEAD carries GET's headers, Content-Type included; only the body goes.
        return Response(status_code=200, headers=headers, media_type="application/json")
    with_catalog = "nocatalog" not in call.query
    rendered = rendered_token(call, subject, with_catalog)
    if not flag(call.query, "allow_expired"):
        state.keep(state.bodies, (token, with_catalog), rendered, call.generation)
    return Response(rendered, headers=headers, media_type="application/json")


ACCESS_RULES_HEADER = "openstack-identity-access-rules"


def _restricted_for(request: Request, token: ValidToken) -> bool:
    """As Keystone: a token limited by access rules is valid only for a validator that
    says (``OpenStack-Identity-Access-Rules: 1.0`` or later) that it enforces them, so an
    older middleware cannot let it do more than its rules allow."""
    app_cred = token.grant.app_cred
    if app_cred is None or not app_cred.access_rules:
        return False
    announced = request.headers.get(ACCESS_RULES_HEADER, "")
    try:
        major = int(announced.split(".")[0])
    except ValueError:
        return True
    return major < 1


def validate_from_memory(services: Services, request: Request) -> Response | None:
    """GET or HEAD /v3/auth/tokens answered from memory alone, on the event loop: both
    tokens validated before, the same decision made before for this caller, the body
    rendered before, and nothing changed since. None sends the request the long way."""
    query = request.query_params
    if query and any(name != "nocatalog" for name in query):
        return None
    headers = request.headers
    auth_token = headers.get("x-auth-token")
    subject_token = headers.get("x-subject-token")
    if not auth_token or not subject_token:
        return None
    tokens = services.tokens
    caller = tokens.cached(auth_token)
    if caller is None:
        return None
    subject = caller if subject_token == auth_token else tokens.cached(subject_token)
    if subject is None or caller.grant.app_cred is not None or subject.grant.app_cred is not None:
        return None  # application credentials' access rules: the long way checks them
    head = request.method == "HEAD"
    action = "identity:check_token" if head else "identity:validate_token"
    state = tokens.state
    if state.memo.get(("allowed", auth_token, action, subject.user.id)) is None:
        return None
    body = None if head else state.bodies.get((subject_token, "nocatalog" not in query))
    if body is None and not head:
        return None
    bind_caller(request, caller)
    metrics.validation_cache(hit=True)
    metrics.token_validated(valid=True)
    emit(events.TOKEN_VALIDATED, token_hash=token_hash(subject_token), user_id=subject.user.id)
    return Response(body, headers={"X-Subject-Token": subject_token},
                    media_type="application/json")


def revoke_token(call: Call) -> Response:
    subject = _subject(call)
    call.authorize("identity:revoke_token", {"target": {"token": {"user_id": subject.user.id}}})
    call.services.tokens.revoke(call.tx, subject)
    token = call.request.headers["x-subject-token"]
    emit(events.TOKEN_REVOKED, token_hash=token_hash(token), user_id=subject.user.id,
         audit_id=subject.payload.audit_ids[0])
    return no_content()


def auth_catalog(call: Call) -> Response:
    token = call.token
    assert token is not None
    if token.payload.scope is ScopeKind.UNSCOPED:
        raise errors.Forbidden("You are not authorized to perform the requested action.")
    catalog = catalog_of(call, token.user.id, token.project.id if token.project else None)
    return json_response({"catalog": catalog,
                          "links": {"self": call.url("auth/catalog")}})


def auth_projects(call: Call) -> Response:
    ids = call.services.assignments.projects_of_user(call.tx, call.me.user_id)
    found = [p for p in call.tx.projects.get_many(ids) if p.enabled]
    return paging.collection(
        call, "auth/projects", "projects",
        (views.project(call.base_url, p) for p in sorted(found, key=lambda p: p.name)))


def auth_domains(call: Call) -> Response:
    ids = call.services.assignments.domains_of_user(call.tx, call.me.user_id)
    found = [d for d in call.tx.projects.get_many(ids) if d.enabled and d.is_domain]
    return paging.collection(
        call, "auth/domains", "domains",
        (views.domain(call.base_url, d) for d in sorted(found, key=lambda d: d.name)))


def auth_system(call: Call) -> Response:
    held = call.services.assignments.effective_role_ids_on_system(call.tx, call.me.user_id)
    return json_response({"system": [{"all": True}] if held else [],
                          "links": {"self": call.url("auth/system")}})


def _validation_route(s: Services) -> Route:
    """GET (and HEAD) /v3/auth/tokens: from memory when it can, else the usual way."""
    usual = endpoint(s, validate_token, None, from_memory=True)

    async def validate(request: Request) -> Response:
        answer = validate_from_memory(s, request)
        if answer is None:
            return await usual(request)  # which notes the request for the hashing gate
        s.hashing_gate.note_request()
        return answer

    return Route("/v3/auth/tokens", validate, methods=["GET"])


# Logins that hash (password, application credential) wait for one of these threads, so
# that a flood of them queues on the event loop and leaves the shared request threads
# (re-scoping, cache misses, every other API call) free. Hashing itself is bounded and
# run in the idle scheduling class (sevres.identity.passwords).
LOGIN_THREADS = 8
_HASHING_METHODS = frozenset({"password", "application_credential"})


def _login_threads() -> Callable[[Any], CapacityLimiter | None]:
    limiter = CapacityLimiter(LOGIN_THREADS)

    def pick(body: Any) -> CapacityLimiter | None:
        try:
            methods = body["auth"]["identity"]["methods"]
            hashing = bool(_HASHING_METHODS.intersection(methods))
        except (KeyError, TypeError):
            return None
        return limiter if hashing else None

    return pick


def routes(s: Services) -> list[Route]:
    issue = endpoint(s, issue_token, None, write=False, authenticated=False,
                     threads=_login_threads(), from_memory=True)
    return [
        Route("/v3/auth/tokens", issue, methods=["POST"]),
        _validation_route(s),
        *route_table(s, [
            ("DELETE", "/v3/auth/tokens", revoke_token, None),
            ("GET", "/v3/auth/catalog", auth_catalog, "identity:get_auth_catalog"),
            ("GET", "/v3/auth/projects", auth_projects, "identity:get_auth_projects"),
            ("GET", "/v3/auth/domains", auth_domains, "identity:get_auth_domains"),
            ("GET", "/v3/auth/system", auth_system, "identity:get_auth_system"),
        ]),
    ]
