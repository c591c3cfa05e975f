"""WSGI middleware that lets through only requests carrying a valid sevres token.

The same decisions as the ASGI middleware (see ``sevres.middleware.asgi``), for WSGI
applications (Flask, Django, Pyramid, plain WSGI): the ``RequestContext`` goes in
``environ["sevres.context"]``, a missing or invalid token is answered 401 with Keystone's
error body and ``WWW-Authenticate`` (or, with ``delay_auth_decision``, passed on with a
context of None), an unreachable identity service is answered 503.

For applications written for keystonemiddleware the environ also gets its headers —
``HTTP_X_IDENTITY_STATUS``, ``HTTP_X_USER_ID``, ``HTTP_X_PROJECT_ID``, ``HTTP_X_ROLES``
and the rest — after every such header the client sent has been removed: a client that
sends ``X-Roles: admin`` must never be believed.
"""

from __future__ import annotations

from collections.abc import Iterable
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from sevres.middleware.context import IDENTITY_HEADERS, identity_headers, refusal
from sevres.middleware.validator import IdentityUnavailable, InvalidToken, TokenValidator

_STATUS_LINES = {401: "401 Unauthorized", 503: "503 Service Unavailable"}


def _environ_key(header: str) -> str:
    return "HTTP_" + header.upper().replace("-", "_")


_STRIPPED = tuple(_environ_key(name) for name in IDENTITY_HEADERS)


class TokenMiddleware:
    def __init__(self, app: WSGIApplication, validator: TokenValidator, *,
                 delay_auth_decision: bool = False) -> None:
        self.app = app
        self.validator = validator
        self.delay_auth_decision = delay_auth_decision

    def __call__(self, environ: WSGIEnvironment,
                 start_response: StartResponse) -> Iterable[bytes]:
        for key in _STRIPPED:
            environ.pop(key, None)
        user_token = environ.get("HTTP_X_AUTH_TOKEN")
        service_token = environ.get("HTTP_X_SERVICE_TOKEN")
        try:
            context = self.validator.authenticate(user_token, service_token)
        except InvalidToken:
            if not self.delay_auth_decision:
                return self._refuse(start_response, 401)
            context = None
        except IdentityUnavailable:
            return self._refuse(start_response, 503)
        environ["sevres.context"] = context
        for name, value in identity_headers(context).items():
            # WSGI's native strings: the header's UTF-8 bytes, read as Latin-1 (PEP 3333).
            environ[_environ_key(name)] = value.encode("utf-8").decode("latin-1")
        return self.app(environ, start_response)

    def _refuse(self, start_response: StartResponse, status: int) -> list[bytes]:
        headers, body = refusal(status, self.validator.auth_url)
        start_response(_STATUS_LINES[status], headers)
        return [body]
