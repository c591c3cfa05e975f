"""Protect a Python service with sevres tokens: ASGI and WSGI middleware, and the
validator behind them (online with a cache, or offline for JWS tokens with the published
keys), handing the application a typed ``RequestContext``.

    from sevres.middleware import Credentials, TokenValidator
    from sevres.middleware.asgi import TokenMiddleware   # or sevres.middleware.wsgi

It needs nothing beyond sevres's own dependencies: the standard library for HTTP and
``cryptography`` for ES256.
"""

from sevres.middleware.context import RequestContext, TokenInfo
from sevres.middleware.validator import (
    Credentials,
    IdentityUnavailable,
    InvalidToken,
    TokenValidator,
)

__all__ = [
    "Credentials",
    "IdentityUnavailable",
    "InvalidToken",
    "RequestContext",
    "TokenInfo",
    "TokenValidator",
]
