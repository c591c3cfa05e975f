"""The one place where exceptions become HTTP answers, in Keystone's error body:
``{"error": {"code": 404, "title": "Not Found", "message": "Could not find ..."}}``.

A 401 carries ``WWW-Authenticate: Keystone uri=...`` as Keystone's does. Anything not a
domain error is a bug: the client gets a plain 500 with the request id to report, and
the details go to the log (never to the client).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from sevres import errors


def error_response(request: Request, error: errors.SevresError) -> JSONResponse:
    body = {"error": {"code": error.code, "title": error.title, "message": error.message}}
    headers = {}
    if error.code == 401:
        base = str(request.base_url).rstrip("/")
        headers["WWW-Authenticate"] = f'Keystone uri="{base}/v3"'
    return JSONResponse(body, status_code=error.code, headers=headers)


def not_found_route() -> errors.SevresError:
    return errors.NotFound("The resource could not be found.")


class MethodNotAllowed(errors.SevresError):
    code = 405
    title = "Method Not Allowed"


def internal_error() -> errors.SevresError:
    error = errors.SevresError(
        "An unexpected error prevented the server from fulfilling your request. Report it "
        "with the X-OpenStack-Request-ID of this response."
    )
    return error
