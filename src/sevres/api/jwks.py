"""GET /v3/sevres/jwks: the public keys that sign JWS tokens, as a JSON Web Key Set, so
that services verify tokens offline (a sevres extension; Keystone publishes no JWKS).

Every key a token may be signed with is listed: the staged key (before it signs, so a
service that refreshes the set at least once per rotation interval never meets an
unknown key), the primary, and the secondary keys that still verify live tokens. The set
is public: no token is needed, as with any OpenID Connect provider's jwks_uri.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sevres.tokens import jws

if TYPE_CHECKING:
    from sevres.app import Services

MAX_AGE_S = 300


def routes(s: Services) -> list[Route]:
    async def key_set(request: Request) -> Response:
        document = jws.jwks(s.tokens.state.ring.public_keys)
        return JSONResponse(document, headers={"Cache-Control": f"public, max-age={MAX_AGE_S}"})

    return [Route("/v3/sevres/jwks", key_set, methods=["GET"])]
