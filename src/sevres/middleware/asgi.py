"""ASGI middleware that lets through only requests carrying a valid sevres token.

For each HTTP (and WebSocket) request: read ``X-Auth-Token`` and ``X-Service-Token``,
have the ``TokenValidator`` judge them — from its cache on the event loop when it can,
otherwise in a worker thread, because validation may wait on the network — and then:

- valid: call the application with the ``RequestContext`` in ``scope["sevres.context"]``
  and in ``scope["state"]["sevres"]`` (Starlette's ``request.state.sevres``);
- missing or invalid: answer 401 with Keystone's error body and
  ``WWW-Authenticate: Keystone uri="<auth_url>"`` — unless ``delay_auth_decision``, which
  calls the application with a context of None and leaves the decision to it;
- identity service unreachable: answer 503 (even with ``delay_auth_decision``: an outage
  must not turn callers into anonymous ones). A WebSocket is closed instead (1008, 1013).

Whatever the outcome, identity headers the client sent (``X-Roles``, ``X-User-Id``...)
are removed from the request, and the middleware's own are set in their place for
applications written for keystonemiddleware.
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Receive, Scope, Send

from sevres.middleware.context import (
    IDENTITY_HEADERS,
    RequestContext,
    identity_headers,
    refusal,
)
from sevres.middleware.validator import IdentityUnavailable, InvalidToken, TokenValidator

_STRIPPED = frozenset(name.lower().encode("ascii") for name in IDENTITY_HEADERS)
_CLOSE_CODES = {401: 1008, 503: 1013}  # policy violation; try again later


class TokenMiddleware:
    def __init__(self, app: ASGIApp, validator: TokenValidator, *,
                 delay_auth_decision: bool = False) -> None:
        self.app = app
        self.validator = validator
        self.delay_auth_decision = delay_auth_decision

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers: list[tuple[bytes, bytes]] = list(scope.get("headers", ()))
        user_token = _header(headers, b"x-auth-token")
        service_token = _header(headers, b"x-service-token")
        try:
            context = await self._authenticate(user_token, service_token)
        except InvalidToken:
            if not self.delay_auth_decision:
                await self._refuse(scope, send, 401)
                return
            context = None
        except IdentityUnavailable:
            await self._refuse(scope, send, 503)
            return
        kept = [(name, value) for name, value in headers if name.lower() not in _STRIPPED]
        added = [(name.lower().encode("ascii"), value.encode("utf-8"))
                 for name, value in identity_headers(context).items()]
        scope = {**scope, "headers": kept + added, "sevres.context": context,
                 "state": {**scope.get("state", {}), "sevres": context}}
        await self.app(scope, receive, send)

    async def _authenticate(self, user_token: str | None,
                            service_token: str | None) -> RequestContext:
        context = self.validator.authenticate_cached(user_token, service_token)
        if context is not None:
            return context
        return await asyncio.to_thread(self.validator.authenticate, user_token, service_token)

    async def _refuse(self, scope: Scope, send: Send, status: int) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": _CLOSE_CODES[status]})
            return
        headers, body = refusal(status, self.validator.auth_url)
        await send({"type": "http.response.start", "status": status,
                    "headers": [(k.lower().encode("latin-1"), v.encode("latin-1"))
                                for k, v in headers]})
        await send({"type": "http.response.body", "body": body})


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return None
