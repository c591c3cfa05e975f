"""sevres.middleware against real sevres servers: a tiny Starlette app and a tiny WSGI app
protected by it. Online validation with its cache (and the revocation window that cache
buys), Keystone's 401, the 503 of an unreachable identity service, the identity headers a
client must not be able to forge, service tokens, and offline JWS validation with the
published keys (no call to /v3/auth/tokens, forged tokens refused, rotation followed)."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from wsgiref.types import StartResponse, WSGIEnvironment
from wsgiref.util import setup_testing_defaults

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Message
from starlette.websockets import WebSocket

from sevres.middleware import Credentials, InvalidToken, RequestContext, TokenValidator
from sevres.middleware.asgi import TokenMiddleware
from sevres.middleware.wsgi import TokenMiddleware as WsgiTokenMiddleware
from tests.factories import Api, password_auth, unique
from tests.server import ADMIN_PASSWORD, Server, free_port, own_server

PASSWORD = "middleware-Pa55word"
TOKENS = "/v3/auth/tokens"
JWKS = "/v3/sevres/jwks"


# The applications under protection


def _describe(context: RequestContext | None) -> dict[str, Any] | None:
    if context is None:
        return None
    return {
        "user_id": context.user_id, "user_name": context.user_name,
        "user_domain_id": context.user_domain_id, "project_id": context.project_id,
        "project_name": context.project_name, "project_domain_id": context.project_domain_id,
        "domain_id": context.domain_id, "system_scope": context.system_scope,
        "roles": sorted(context.roles), "audit_ids": list(context.audit_ids),
        "expires_at": context.expires_at.isoformat(), "token_kind": context.token_kind,
        "is_service": context.is_service, "service_roles": sorted(context.service_roles),
        "is_member": context.has_role("Member"),
    }


def starlette_app(validator: TokenValidator, delay_auth_decision: bool = False) -> Starlette:
    async def whoami(request: Request) -> JSONResponse:
        context = request.state.sevres
        assert context is request.scope["sevres.context"]
        return JSONResponse({"context": _describe(context),
                             "x_roles": request.headers.get("x-roles"),
                             "x_user_id": request.headers.get("x-user-id"),
                             "x_identity_status": request.headers.get("x-identity-status")})

    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_json(_describe(websocket.scope["sevres.context"]))
        await websocket.close()

    return Starlette(routes=[Route("/whoami", whoami), WebSocketRoute("/ws", echo)],
                     middleware=[Middleware(TokenMiddleware, validator=validator,
                                            delay_auth_decision=delay_auth_decision)])


def wsgi_app(environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
    body = json.dumps({
        "context": _describe(environ["sevres.context"]),
        "environ": {k: v for k, v in environ.items() if k.startswith("HTTP_X_")
                    and k not in ("HTTP_X_AUTH_TOKEN", "HTTP_X_SERVICE_TOKEN")},
    }).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]


class AsgiClient:
    """Requests through an ASGI application in memory (httpx's ASGI transport), from
    synchronous tests; each request runs on an event loop of its own."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def __enter__(self) -> AsgiClient:
        return self

    def __exit__(self, *_: object) -> None:
        return None

    def get(self, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport,
                                         base_url="http://testserver") as client:
                return await client.get(path, headers=headers)

        return asyncio.run(send())

    def websocket(self, path: str, headers: dict[str, str] | None = None) -> list[Message]:
        """What the application sends to a WebSocket client that connects and waits."""
        scope = {"type": "websocket", "asgi": {"version": "3.0"}, "scheme": "ws",
                 "http_version": "1.1", "path": path, "raw_path": path.encode(),
                 "root_path": "", "query_string": b"", "server": ("testserver", 80),
                 "client": ("127.0.0.1", 1234), "subprotocols": [],
                 "headers": [(k.lower().encode(), v.encode())
                             for k, v in (headers or {}).items()]}
        sent: list[Message] = []
        events = [{"type": "websocket.connect"}]

        async def receive() -> Message:
            if events:
                return events.pop()
            await asyncio.sleep(0)
            return {"type": "websocket.disconnect", "code": 1000}

        async def send(message: Message) -> None:
            sent.append(message)

        asyncio.run(self.app(scope, receive, send))
        return sent


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: dict[str, Any]


def call_wsgi(app: Callable[..., Any], headers: dict[str, str]) -> Answer:
    """One GET through a WSGI application, as a WSGI server would make it."""
    environ: dict[str, Any] = {"PATH_INFO": "/whoami", "wsgi.input": io.BytesIO()}
    setup_testing_defaults(environ)
    for name, value in headers.items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    started: dict[str, Any] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]],
                       exc_info: object = None) -> Callable[[bytes], object]:
        started.update(status=int(status[:3]), headers=dict(response_headers))
        return lambda _: None

    body = b"".join(app(environ, start_response))
    return Answer(started["status"], started["headers"], json.loads(body))


# Servers, accounts and tokens


def login(url: str, name: str, project_id: str | None = None) -> tuple[str, dict[str, Any]]:
    scope = {"project": {"id": project_id}} if project_id else None
    response = httpx.post(f"{url}{TOKENS}", json=password_auth(name, PASSWORD, scope=scope),
                          timeout=30)
    assert response.status_code == 201, response.text
    return response.headers["X-Subject-Token"], response.json()["token"]


@dataclass
class Accounts:
    """On one server: a service account for the validator (the ``service`` role on a
    project of its own) and a user holding ``member`` (which implies reader) on another."""

    url: str
    service: Credentials
    member_name: str
    member_id: str
    project_id: str
    project_name: str
    service_project_id: str

    def member_token(self) -> tuple[str, dict[str, Any]]:
        return login(self.url, self.member_name, self.project_id)

    def service_token(self) -> str:
        return login(self.url, self.service.username, self.service_project_id)[0]


def accounts(api: Api, url: str) -> Accounts:
    service_project = api.project()
    service_user = api.user(password=PASSWORD)
    api.grant(service_project["id"], service_user["id"], api.role_id("service"))
    member, project = api.member_of_new_project(PASSWORD)
    return Accounts(
        url=url,
        service=Credentials(username=service_user["name"], password=PASSWORD,
                            project_name=service_project["name"]),
        member_name=member["name"], member_id=member["id"],
        project_id=project["id"], project_name=project["name"],
        service_project_id=service_project["id"])


@pytest.fixture(scope="module")
def fernet(server: Server, admin: Api) -> Accounts:
    return accounts(admin, server.url)


@pytest.fixture(scope="module")
def jws_server(backend_name: str, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[Server]:
    with own_server(backend_name, tmp_path_factory, "middleware-jws",
                    SEVRES_TOKEN_PROVIDER="jws", SEVRES_CACHE_STALENESS_MS="200") as server:
        yield server


@pytest.fixture(scope="module")
def jws(jws_server: Server) -> Iterator[Accounts]:
    with Api.login(jws_server.url, "admin", ADMIN_PASSWORD) as api:
        yield accounts(api, jws_server.url)


def online(accounts: Accounts, **options: Any) -> TokenValidator:
    return TokenValidator(f"{accounts.url}/v3", credentials=accounts.service, **options)


def requests_to(url: str, method: str, route: str) -> float:
    """How many requests the server has answered on a route, from its /metrics."""
    text = httpx.get(f"{url}/metrics", timeout=30).text
    return sum(sample.value for family in text_string_to_metric_families(text)
               for sample in family.samples
               if sample.name == "sevres_http_requests_total"
               and sample.labels.get("method") == method and sample.labels.get("route") == route)


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def assert_refused(status: int, headers: Any, body: dict[str, Any], url: str) -> None:
    assert status == 401
    assert body["error"]["code"] == 401 and body["error"]["title"] == "Unauthorized"
    assert headers["WWW-Authenticate"] == f'Keystone uri="{url}/v3"'


# Online validation


def test_a_valid_token_reaches_the_starlette_app_with_ids_names_and_roles(
        fernet: Accounts) -> None:
    """A project-scoped token passes; the app reads the caller from request.state.sevres
    (the same object as scope["sevres.context"]): ids, names, effective roles (member
    implies reader), audit ids and expiry, as the identity service answered them. A
    WebSocket with the token is let through with the same context."""
    token, body = fernet.member_token()
    with AsgiClient(starlette_app(online(fernet))) as client:
        response = client.get("/whoami", headers={"X-Auth-Token": token})
        socket = client.websocket("/ws", headers={"X-Auth-Token": token})
    assert [m["type"] for m in socket] == ["websocket.accept", "websocket.send",
                                           "websocket.close"]
    assert json.loads(socket[1]["text"])["user_id"] == fernet.member_id
    assert response.status_code == 200, response.text
    context = response.json()["context"]
    assert context["user_id"] == fernet.member_id
    assert context["user_name"] == fernet.member_name
    assert context["user_domain_id"] == "default"
    assert (context["project_id"], context["project_name"]) == (fernet.project_id,
                                                                fernet.project_name)
    assert context["project_domain_id"] == "default"
    assert context["domain_id"] is None and context["system_scope"] is False
    assert context["roles"] == ["member", "reader"]
    assert context["is_member"] is True  # has_role compares names case-blind
    assert context["audit_ids"] == body["audit_ids"]
    assert context["expires_at"].startswith(body["expires_at"][:19])
    assert context["token_kind"] == "fernet"
    assert context["is_service"] is False
    assert response.json()["x_identity_status"] == "Confirmed"


def test_a_valid_token_reaches_the_wsgi_app_with_keystonemiddleware_headers(
        fernet: Accounts) -> None:
    """The WSGI middleware puts the context in environ["sevres.context"] and sets the
    headers an application written for keystonemiddleware reads."""
    token, _ = fernet.member_token()
    answer = call_wsgi(WsgiTokenMiddleware(wsgi_app, online(fernet)), {"X-Auth-Token": token})
    assert answer.status == 200
    assert answer.body["context"]["user_id"] == fernet.member_id
    assert answer.body["context"]["roles"] == ["member", "reader"]
    environ = answer.body["environ"]
    assert environ["HTTP_X_IDENTITY_STATUS"] == "Confirmed"
    assert environ["HTTP_X_USER_ID"] == fernet.member_id
    assert environ["HTTP_X_USER_NAME"] == fernet.member_name
    assert environ["HTTP_X_PROJECT_ID"] == fernet.project_id
    assert environ["HTTP_X_PROJECT_NAME"] == fernet.project_name
    assert environ["HTTP_X_ROLES"] == "member,reader"


def test_a_missing_or_garbage_token_is_answered_401_as_keystone_does(
        fernet: Accounts) -> None:
    """No token, an unknown token, and text that cannot be a token at all: 401 with
    Keystone's error body and WWW-Authenticate naming the identity service, from both
    middlewares; the application is never called."""
    validator = online(fernet)
    wsgi = WsgiTokenMiddleware(wsgi_app, validator)
    with AsgiClient(starlette_app(validator)) as client:
        for headers in ({}, {"X-Auth-Token": "gAAAAA-not-a-token"},
                        {"X-Auth-Token": "with spaces\tand tabs"}):
            response = client.get("/whoami", headers=headers)
            assert_refused(response.status_code, response.headers, response.json(), fernet.url)
            answer = call_wsgi(wsgi, headers)
            assert_refused(answer.status, answer.headers, answer.body, fernet.url)
        assert client.websocket("/ws") == [{"type": "websocket.close", "code": 1008}]


def test_identity_headers_sent_by_the_client_are_never_believed(fernet: Accounts) -> None:
    """A client sending X-Roles: admin, X-User-Id and X-Identity-Status along with a
    member's token: the application sees the token's roles and user, from both
    middlewares; without a token (delay_auth_decision) it sees none of the forged ones."""
    token, _ = fernet.member_token()
    forged = {"X-Roles": "admin", "X-User-Id": "0" * 32, "X-Identity-Status": "Confirmed",
              "X-Service-Roles": "service", "X-Project-Id": "1" * 32}
    validator = online(fernet)
    with AsgiClient(starlette_app(validator)) as client:
        seen = client.get("/whoami", headers={**forged, "X-Auth-Token": token}).json()
    assert seen["x_roles"] == "member,reader" and seen["x_user_id"] == fernet.member_id
    assert seen["context"]["roles"] == ["member", "reader"]
    answer = call_wsgi(WsgiTokenMiddleware(wsgi_app, validator),
                       {**forged, "X-Auth-Token": token})
    environ = answer.body["environ"]
    assert environ["HTTP_X_ROLES"] == "member,reader"
    assert environ["HTTP_X_USER_ID"] == fernet.member_id
    assert environ["HTTP_X_PROJECT_ID"] == fernet.project_id
    assert "HTTP_X_SERVICE_ROLES" not in environ
    anonymous = call_wsgi(WsgiTokenMiddleware(wsgi_app, validator, delay_auth_decision=True),
                          forged)
    assert anonymous.status == 200 and anonymous.body["context"] is None
    assert anonymous.body["environ"] == {"HTTP_X_IDENTITY_STATUS": "Invalid"}


def test_delay_auth_decision_passes_unauthenticated_requests_without_a_context(
        fernet: Accounts) -> None:
    """With delay_auth_decision a missing or invalid token reaches the application with a
    context of None (and X-Identity-Status: Invalid); a valid one is still read."""
    token, _ = fernet.member_token()
    with AsgiClient(starlette_app(online(fernet), delay_auth_decision=True)) as client:
        for headers in ({}, {"X-Auth-Token": "not-a-token"}):
            response = client.get("/whoami", headers=headers)
            assert response.status_code == 200
            assert response.json()["context"] is None
            assert response.json()["x_identity_status"] == "Invalid"
        valid = client.get("/whoami", headers={"X-Auth-Token": token}).json()
    assert valid["context"]["user_id"] == fernet.member_id


def test_a_service_token_marks_the_request_as_from_a_service(fernet: Accounts) -> None:
    """A valid X-Service-Token beside the user's token sets is_service and the service's
    roles; an invalid one refuses the request (it was presented, so it must hold)."""
    token, _ = fernet.member_token()
    with AsgiClient(starlette_app(online(fernet))) as client:
        both = client.get("/whoami", headers={"X-Auth-Token": token,
                                              "X-Service-Token": fernet.service_token()})
        assert both.status_code == 200
        context = both.json()["context"]
        assert context["is_service"] is True and "service" in context["service_roles"]
        assert context["user_id"] == fernet.member_id  # the caller is still the user
        bad = client.get("/whoami", headers={"X-Auth-Token": token,
                                             "X-Service-Token": "not-a-token"})
        assert bad.status_code == 401


def test_answers_are_cached_and_a_revoked_token_passes_until_the_cache_window_ends(
        fernet: Accounts, admin: Api) -> None:
    """The documented trade-off, with cache_seconds=1: repeated requests validate once
    on the identity service; after the token is revoked the cached answer still lets it
    through (no call made), and once the window has passed it is refused."""
    token, _ = fernet.member_token()
    validator = online(fernet, cache_seconds=1)
    with AsgiClient(starlette_app(validator)) as client:
        before = requests_to(fernet.url, "GET", TOKENS)
        for _ in range(5):
            assert client.get("/whoami", headers={"X-Auth-Token": token}).status_code == 200
        assert requests_to(fernet.url, "GET", TOKENS) - before == 1
        revoked = admin.delete(TOKENS, headers={"X-Subject-Token": token})
        assert revoked.status_code == 204
        assert admin.get(TOKENS, headers={"X-Subject-Token": token}).status_code == 404
        calls = requests_to(fernet.url, "GET", TOKENS)
        assert client.get("/whoami", headers={"X-Auth-Token": token}).status_code == 200
        assert requests_to(fernet.url, "GET", TOKENS) == calls  # answered from the cache
        time.sleep(1.2)
        refused = client.get("/whoami", headers={"X-Auth-Token": token})
    assert refused.status_code == 401


def test_the_validator_logs_in_again_when_its_own_token_is_refused(
        fernet: Accounts, admin: Api) -> None:
    """The validator's own token revoked under it: the identity service answers 401, the
    validator logs in once more and retries, and the caller never notices."""
    validator = online(fernet)
    first, _ = fernet.member_token()
    assert validator.validate(first).user_id == fernet.member_id
    own = validator._own  # the test reaches in to revoke what the validator holds
    assert own is not None
    assert admin.delete(TOKENS, headers={"X-Subject-Token": own}).status_code == 204
    logins = requests_to(fernet.url, "POST", TOKENS)
    second, _ = fernet.member_token()
    assert validator.validate(second).user_id == fernet.member_id
    assert requests_to(fernet.url, "POST", TOKENS) - logins == 2  # the member's and its own
    assert validator._own not in (None, own)


def test_an_unreachable_identity_service_is_answered_503(fernet: Accounts) -> None:
    """Nothing listening at auth_url: online and offline validators cannot decide, and
    both middlewares answer 503 with Keystone's error body rather than 401 — even with
    delay_auth_decision, so that an outage never turns callers into anonymous ones."""
    token, _ = fernet.member_token()
    down = f"http://127.0.0.1:{free_port()}"
    for validator in (TokenValidator(down, credentials=fernet.service, timeout=2),
                      TokenValidator(down, mode="offline", timeout=2)):
        probe = token if validator.mode == "online" else "eyJhbGciOiJFUzI1NiJ9.e30.AA"
        with AsgiClient(starlette_app(validator, delay_auth_decision=True)) as client:
            response = client.get("/whoami", headers={"X-Auth-Token": probe})
        assert response.status_code == 503
        assert response.json()["error"]["code"] == 503
        answer = call_wsgi(WsgiTokenMiddleware(wsgi_app, validator), {"X-Auth-Token": probe})
        assert answer.status == 503 and answer.body["error"]["code"] == 503


# Offline validation (JWS)


def test_offline_a_jws_token_is_verified_without_asking_for_its_validation(
        jws: Accounts) -> None:
    """Offline mode checks the ES256 signature with the published keys: the app gets the
    ids the claims carry — no names, no roles — and the identity service sees one fetch
    of the key set and no GET /v3/auth/tokens at all."""
    token, body = jws.member_token()
    validator = TokenValidator(f"{jws.url}/v3", mode="offline")
    tokens_before = requests_to(jws.url, "GET", TOKENS)
    keys_before = requests_to(jws.url, "GET", JWKS)
    with AsgiClient(starlette_app(validator)) as client:
        for _ in range(3):
            response = client.get("/whoami", headers={"X-Auth-Token": token})
            assert response.status_code == 200, response.text
    wsgi = call_wsgi(WsgiTokenMiddleware(wsgi_app, validator), {"X-Auth-Token": token})
    assert wsgi.status == 200
    assert requests_to(jws.url, "GET", TOKENS) == tokens_before
    assert requests_to(jws.url, "GET", JWKS) - keys_before == 1
    context = response.json()["context"]
    assert context["user_id"] == jws.member_id and context["project_id"] == jws.project_id
    assert context["token_kind"] == "jws"
    assert context["roles"] == [] and context["user_name"] is None
    assert context["audit_ids"] == body["audit_ids"]
    assert wsgi.body["environ"]["HTTP_X_PROJECT_ID"] == jws.project_id
    assert wsgi.body["environ"]["HTTP_X_ROLES"] == ""


def test_offline_forged_or_foreign_tokens_are_refused(jws: Accounts, fernet: Accounts) -> None:
    """A JWS whose claims were changed after signing, one whose header asks for another
    algorithm, one without a signature, and a Fernet token: each is 401 offline."""
    token, _ = jws.member_token()
    header, claims, signature = token.split(".")
    forged_claims = json.loads(unb64(claims))
    forged_claims["openstack_project_id"] = "0" * 32
    forged = f"{header}.{b64(json.dumps(forged_claims).encode())}.{signature}"
    kid = json.loads(unb64(header))["kid"]
    hs256 = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
    none = b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    validator = TokenValidator(f"{jws.url}/v3", mode="offline")
    with AsgiClient(starlette_app(validator)) as client:
        assert client.get("/whoami", headers={"X-Auth-Token": token}).status_code == 200
        for bad in (forged, f"{hs256}.{claims}.{signature}", f"{none}.{claims}.",
                    f"{none}.{claims}.{signature}", fernet.member_token()[0]):
            response = client.get("/whoami", headers={"X-Auth-Token": bad})
            assert_refused(response.status_code, response.headers, response.json(), jws.url)


def test_offline_an_expired_jws_token_is_refused(
        jws: Accounts, monkeypatch: pytest.MonkeyPatch) -> None:
    """exp is checked offline: the same token, validated with the clock past its
    expiry, is refused."""
    token, _ = jws.member_token()
    expires = json.loads(unb64(token.split(".")[1]))["exp"]
    validator = TokenValidator(f"{jws.url}/v3", mode="offline")
    monkeypatch.setattr(time, "time", lambda: expires + 1.0)
    with pytest.raises(InvalidToken, match="expired"):
        validator.validate(token)


def test_offline_a_token_signed_by_a_key_published_after_the_fetch_still_verifies(
        jws: Accounts, jws_server: Server) -> None:
    """Two rotations make primary a key that did not exist when the validator fetched
    the key set: the unknown kid makes it fetch the set again, once, and the token
    verifies; tokens of the earlier key keep verifying."""
    old_token, _ = jws.member_token()
    validator = TokenValidator(f"{jws.url}/v3", mode="offline", jwks_min_refetch_seconds=0.5)
    with AsgiClient(starlette_app(validator)) as client:
        assert client.get("/whoami", headers={"X-Auth-Token": old_token}).status_code == 200
        for _ in range(2):
            rotated = subprocess.run([str(Path(sys.executable).parent / "sevres"), "keys",
                                      "rotate", "--provider", "jws"], env=jws_server.env,
                                     capture_output=True, text=True, timeout=120, check=False)
            assert rotated.returncode == 0, rotated.stderr
        time.sleep(1.0)
        new_token, _ = jws.member_token()
        assert new_token.split(".")[0] != old_token.split(".")[0]  # another kid
        keys_before = requests_to(jws.url, "GET", JWKS)
        response = client.get("/whoami", headers={"X-Auth-Token": new_token})
        assert response.status_code == 200, response.text
        assert response.json()["context"]["user_id"] == jws.member_id
        assert requests_to(jws.url, "GET", JWKS) - keys_before == 1
        fresh = TokenValidator(f"{jws.url}/v3", mode="offline")
        assert fresh.validate(old_token).user_id == jws.member_id


def test_offline_unknown_kids_refetch_the_key_set_at_most_once_per_interval(
        jws: Accounts) -> None:
    """Tokens naming kids nobody published are refused, and do not make the validator
    fetch the key set again within jwks_min_refetch_seconds."""
    token, _ = jws.member_token()
    _, claims, signature = token.split(".")
    validator = TokenValidator(f"{jws.url}/v3", mode="offline", jwks_min_refetch_seconds=60)
    assert validator.validate(token).user_id == jws.member_id
    keys_before = requests_to(jws.url, "GET", JWKS)
    with AsgiClient(starlette_app(validator)) as client:
        for _ in range(3):
            made_up = b64(json.dumps({"alg": "ES256", "typ": "JWT",
                                      "kid": unique("kid")}).encode())
            response = client.get("/whoami",
                                  headers={"X-Auth-Token": f"{made_up}.{claims}.{signature}"})
            assert response.status_code == 401
    assert requests_to(jws.url, "GET", JWKS) == keys_before


def test_offline_roles_from_server_asks_once_per_token(jws: Accounts) -> None:
    """With offline_roles_from_server the first sight of a token is also validated online,
    which brings names and roles; later requests with it ask nothing more."""
    token, _ = jws.member_token()
    validator = TokenValidator(f"{jws.url}/v3", mode="offline", credentials=jws.service,
                               offline_roles_from_server=True, cache_seconds=0)
    before = requests_to(jws.url, "GET", TOKENS)
    with AsgiClient(starlette_app(validator)) as client:
        for _ in range(3):
            response = client.get("/whoami", headers={"X-Auth-Token": token})
            assert response.status_code == 200
    context = response.json()["context"]
    assert context["roles"] == ["member", "reader"]
    assert context["user_name"] == jws.member_name and context["token_kind"] == "jws"
    assert requests_to(jws.url, "GET", TOKENS) - before == 1


def test_tokens_are_never_kept_as_cache_keys(fernet: Accounts) -> None:
    """The cache holds SHA-256 digests of tokens, never the tokens themselves."""
    token, _ = fernet.member_token()
    validator = online(fernet)
    validator.validate(token)
    keys = list(validator._cache._entries)
    assert keys and all(isinstance(k, bytes) and len(k) == 32 for k in keys)
    assert token.encode() not in keys
