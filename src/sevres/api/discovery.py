"""Version discovery at / and /v3, as Keystone answers it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sevres.api.http import base_url

if TYPE_CHECKING:
    from sevres.app import Services

VERSION_ID = "v3.14"
UPDATED = "2020-04-07T00:00:00Z"


def _version(base: str) -> dict[str, Any]:
    return {
        "id": VERSION_ID,
        "status": "stable",
        "updated": UPDATED,
        "links": [{"rel": "self", "href": f"{base}/v3/"}],
        "media-types": [{"base": "application/json",
                         "type": "application/vnd.openstack.identity-v3+json"}],
    }


def routes(s: Services) -> list[Route]:
    async def versions(request: Request) -> Response:
        body = {"versions": {"values": [_version(base_url(s, request))]}}
        return JSONResponse(body, status_code=300)

    async def v3(request: Request) -> Response:
        return JSONResponse({"version": _version(base_url(s, request))})

    return [
        Route("/", versions, methods=["GET"]),
        Route("/v3", v3, methods=["GET"]),
        Route("/v3/", v3, methods=["GET"]),
    ]
