"""/v3/auth/tokens (issue, validate, check, revoke) and the /v3/auth/* self-service reads."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.responses import Response
from starlette.routing import Route

from sevres import errors, metrics
from sevres.api import schemas, validation, views
from sevres.api.http import Call, created, json_response, no_content, route_table
from sevres.ids import iso
from sevres.log import emit, events
from sevres.tokens.clock import from_ms
from sevres.tokens.payload import ScopeKind
from sevres.tokens.service import InvalidToken, UnrecognizedToken, ValidToken, token_hash

if TYPE_CHECKING:
    from sevres.app import Services


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
            "password_expires_at": None,
        },
        "audit_ids": list(p.audit_ids),
        # Whole seconds, as Keystone renders them ("...:10.000000Z").
        "expires_at": iso(from_ms(p.expires_ms // 1000 * 1000)),
        "issued_at": iso(from_ms(p.issued_ms // 1000 * 1000)),
    }
    if p.scope is ScopeKind.UNSCOPED:
        return body
    roles = [_ref(r.id, r.name) for r in token.roles]
    if p.scope is ScopeKind.PROJECT and token.project is not None and token.domain is not None:
        body["project"] = {"domain": _ref(token.domain.id, token.domain.name),
                           "id": token.project.id, "name": token.project.name}
        body["is_domain"] = False
    elif p.scope is ScopeKind.DOMAIN and token.domain is not None:
        body["domain"] = _ref(token.domain.id, token.domain.name)
    elif p.scope is ScopeKind.SYSTEM:
        body["roles"] = roles  # Keystone puts roles before system for this scope only
        body["system"] = {"all": True}
    body["roles"] = roles
    if with_catalog:
        body["catalog"] = call.services.catalog.catalog(
            call.tx, token.user.id, token.project.id if token.project else None)
    return body


def issue_token(call: Call) -> Response:
    auth = validation.wrapped(call.body, "auth", schemas.AUTH)
    try:
        token, valid = call.services.tokens.issue(call.tx, auth)
    except errors.Unauthorized:
        metrics.auth_failed()  # every way a login fails ends here, as a 401
        raise
    body = {"token": token_body(call, valid, "nocatalog" not in call.query)}
    return created(body, call.url("auth/tokens"), {"X-Subject-Token": token})


def _subject(call: Call) -> ValidToken:
    subject = call.request.headers.get("x-subject-token")
    if not subject:
        raise errors.NotFound("No token in the request")
    if call.token is not None and subject == call.request.headers.get("x-auth-token"):
        return call.token  # a token validating itself: already validated this request
    try:
        return call.services.tokens.validate(call.tx, subject)
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
    emit(events.TOKEN_VALIDATED, token_hash=token_hash(token), user_id=subject.user.id)
    headers = {"X-Subject-Token": token}
    if call.request.method == "HEAD":
        # Keystone's HEAD carries GET's headers, Content-Type included; only the body goes.
        return Response(status_code=200, headers=headers, media_type="application/json")
    body = {"token": token_body(call, subject, "nocatalog" not in call.query)}
    return json_response(body, headers=headers)


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
    catalog = call.services.catalog.catalog(
        call.tx, token.user.id, token.project.id if token.project else None)
    return json_response({"catalog": catalog,
                          "links": {"self": call.url("auth/catalog")}})


def auth_projects(call: Call) -> Response:
    ids = call.services.assignments.projects_of_user(call.tx, call.me.user_id)
    found = [p for p in call.tx.projects.get_many(ids) if p.enabled]
    return json_response(views.collection(
        call.base_url, "auth/projects", "projects",
        (views.project(call.base_url, p) for p in sorted(found, key=lambda p: p.name))))


def auth_domains(call: Call) -> Response:
    ids = call.services.assignments.domains_of_user(call.tx, call.me.user_id)
    found = [d for d in call.tx.projects.get_many(ids) if d.enabled and d.is_domain]
    return json_response(views.collection(
        call.base_url, "auth/domains", "domains",
        (views.domain(call.base_url, d) for d in sorted(found, key=lambda d: d.name))))


def auth_system(call: Call) -> Response:
    held = call.services.assignments.effective_role_ids_on_system(call.tx, call.me.user_id)
    return json_response({"system": [{"all": True}] if held else [],
                          "links": {"self": call.url("auth/system")}})


def routes(s: Services) -> list[Route]:
    return [
        *route_table(s, [("POST", "/v3/auth/tokens", issue_token, None)], authenticated=False),
        *route_table(s, [
            ("GET", "/v3/auth/tokens", validate_token, None),
            ("DELETE", "/v3/auth/tokens", revoke_token, None),
            ("GET", "/v3/auth/catalog", auth_catalog, "identity:get_auth_catalog"),
            ("GET", "/v3/auth/projects", auth_projects, "identity:get_auth_projects"),
            ("GET", "/v3/auth/domains", auth_domains, "identity:get_auth_domains"),
            ("GET", "/v3/auth/system", auth_system, "identity:get_auth_system"),
        ]),
    ]
