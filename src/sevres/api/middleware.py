"""Pure ASGI middleware that gives every request an id, logs its outcome, and turns any
escaped exception into Keystone's error body — so every answer, even a crash, carries
``X-OpenStack-Request-ID`` and ``Vary: X-Auth-Token``."""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sevres import errors, metrics
from sevres.api.errors import MethodNotAllowed, error_response, internal_error, not_found_route
from sevres.log import bound, emit, events, new_request_id


class RequestContext:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = new_request_id()
        started = time.perf_counter()
        status: dict[str, Any] = {"code": 500, "sent": False, "reason": None}

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                status["sent"] = True
                headers = list(message.get("headers", []))
                headers.append((b"x-openstack-request-id", request_id.encode()))
                headers.append((b"vary", b"X-Auth-Token"))
                message["headers"] = headers
            await send(message)

        with bound(request_id=request_id):
            try:
                await self.app(scope, receive, send_with_headers)
            except errors.SevresError as error:
                status["reason"] = error.message
                await error_response(Request(scope), error)(scope, receive, send_with_headers)
            except Exception as error:  # the one place a bug becomes a 500
                emit(events.REQUEST_CRASHED, method=scope["method"], path=scope["path"],
                     error_type=type(error).__name__, error=str(error)[:500])
                if status["sent"]:
                    raise
                await error_response(Request(scope), internal_error())(
                    scope, receive, send_with_headers)
            elapsed = time.perf_counter() - started
            metrics.observe_request(scope, status["code"], elapsed)
            duration = round(elapsed * 1000, 2)
            if status["reason"] is not None:
                emit(events.REQUEST_REJECTED, method=scope["method"], path=scope["path"],
                     status=status["code"], reason=status["reason"])
            emit(events.REQUEST_HANDLED, method=scope["method"], path=scope["path"],
                 status=status["code"], duration_ms=duration)


async def http_exception(request: Request, exc: Exception) -> Any:
    """Starlette's own 404 (no route) and 405 (no such method on a route), as Keystone errors."""
    code = getattr(exc, "status_code", 404)
    if code == 405:
        response = error_response(request, MethodNotAllowed(
            f"The method {request.method} is not allowed for the requested URL."))
        allow = (getattr(exc, "headers", None) or {}).get("Allow")
        if allow:
            response.headers["Allow"] = allow
        return response
    return error_response(request, not_found_route())
