"""Pure ASGI middleware that gives every request an id, logs its outcome, and turns any
escaped exception into Keystone's error body — so every answer, even a crash, carries
``X-OpenStack-Request-ID`` and ``Vary: X-Auth-Token``.

It also holds the request size limits, checked before any endpoint runs:

- the header section (request line, header names and values) is at most
  ``MAX_HEADER_BYTES`` and ``MAX_HEADER_COUNT`` headers, else 431. uvicorn's httptools
  protocol has no limit of its own (it buffers a header section of any size), so
  :class:`LimitedHttpToolsProtocol`, the protocol ``sevres serve`` runs, counts while it
  parses and answers 431 before the app sees anything; :class:`RequestContext` checks the
  same limits again for any other server (one pass over the header list);
- a body is at most ``MAX_BODY_BYTES`` (sevres.api.http), else 413: a larger
  Content-Length is refused before a byte of the body is read, and a chunked body is
  counted as it is received, so a huge body is never held in memory.
"""

from __future__ import annotations

import contextvars
import json
import time
from typing import Any

import httptools
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from sevres import errors, metrics
from sevres.api.errors import MethodNotAllowed, error_response, internal_error, not_found_route
from sevres.api.http import MAX_BODY_BYTES
from sevres.log import bound, emit, events, new_request_id

MAX_HEADER_BYTES = 32 * 1024  # request line + every "name: value" line, as received
MAX_HEADER_COUNT = 100  # Apache's LimitRequestFields, in front of most Keystones
_HEADERS_TOO_LARGE = (f"Request header fields too large: at most {MAX_HEADER_BYTES} bytes "
                      f"and {MAX_HEADER_COUNT} header fields are accepted.")
_BODY_TOO_LARGE = "Request is too large."  # Keystone's message (as sevres.api.http's)


class HeadersTooLarge(errors.SevresError):
    code = 431
    title = "Request Header Fields Too Large"


def _size_problem(scope: Scope) -> tuple[errors.SevresError | None, bool]:
    """One pass over the headers: a limit the request breaks, and whether its body must be
    counted as it arrives (no Content-Length: chunked)."""
    headers = scope["headers"]
    total = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"")
    length: bytes | None = None
    for name, value in headers:
        total += len(name) + len(value) + 4  # ": " and CRLF
        if name == b"content-length":
            length = value
    if total > MAX_HEADER_BYTES or len(headers) > MAX_HEADER_COUNT:
        return HeadersTooLarge(_HEADERS_TOO_LARGE), False
    if length is None:
        return None, scope["method"] in ("POST", "PUT", "PATCH")
    if length.isdigit() and (len(length) > 9 or int(length) > MAX_BODY_BYTES):
        return errors.PayloadTooLarge(_BODY_TOO_LARGE), False
    return None, False


def _counted(receive: Receive) -> Receive:
    """``receive`` for a body of unknown length: refused (413) once it passes the limit."""
    received = 0

    async def counting() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > MAX_BODY_BYTES:
                raise errors.PayloadTooLarge(_BODY_TOO_LARGE)
        return message

    return counting


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

        refused, count_body = _size_problem(scope)
        if count_body:
            receive = _counted(receive)
        with bound(request_id=request_id):
            try:
                if refused is not None:
                    raise refused
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


# -- the header section, while it is parsed ------------------------------------------------
_UNTERMINATED_BYTES = 4 * MAX_HEADER_BYTES  # a header section that never ends
_LINGER_SECONDS = 2.0  # reading and dropping what the client still sends after a 431
_LINGER_BYTES = 1024 * 1024


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the header limits (``http=`` of uvicorn.Config).

    The request line and each header are counted as httptools hands them over; a header
    section over ``MAX_HEADER_BYTES`` or ``MAX_HEADER_COUNT`` stops the parser and is
    answered 431 in Keystone's error body. httptools hands a header over only once it is
    complete, so the bytes received while the header section is open are counted too: a
    section that never ends stops at ``_UNTERMINATED_BYTES``. After a 431 the connection
    is half-closed and what the client still sends is read and dropped for a moment (at
    most ``_LINGER_BYTES``), so that its kernel does not reset the connection before it
    has read the answer."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_open = False
        # whole chunks received while the header section was open: an undercount by at
        # most the chunk it began in, so a pipelined request never counts a body before it
        self._head_bytes = 0
        self._field_bytes = 0  # request line and headers, as parsed (exact)
        self._fields = 0
        self._too_large = False  # the parser was stopped for it
        self._rejected = False  # answered 431; dropping what comes
        self._dropped = 0

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_open, self._head_bytes, self._field_bytes, self._fields = True, 0, 0, 0

    def on_url(self, url: bytes) -> None:
        super().on_url(url)  # kept (up to a chunk over the limit) for the log line
        self._field_bytes += len(url)
        self._check()

    def on_header(self, name: bytes, value: bytes) -> None:
        self._field_bytes += len(name) + len(value) + 4
        self._fields += 1
        self._check()
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._head_open = False
        super().on_headers_complete()

    def _check(self) -> None:
        if self._field_bytes > MAX_HEADER_BYTES or self._fields > MAX_HEADER_COUNT:
            self._too_large = True
            raise OverflowError("header section too large")  # stops the parser

    def data_received(self, data: bytes) -> None:
        """HttpToolsProtocol's, but a header section over the limits is answered 431 (not
        400 with a warning in the log)."""
        if self._rejected:
            self._dropped += len(data)
            if self._dropped > _LINGER_BYTES:
                self.transport.abort()
            return
        self._unset_keepalive_if_required()
        was_open = self._head_open
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
        except httptools.HttpParserError:
            if self._too_large:
                self._refuse()
                return
            message = "Invalid HTTP request received."
            emit(events.LIBRARY_WARNING, logger="uvicorn.error", text=message)  # as uvicorn's
            self.send_400_response(message)
            return
        if was_open and self._head_open:  # every byte of it is in the header section
            self._head_bytes += len(data)
            if self._head_bytes > _UNTERMINATED_BYTES:
                self._refuse()

    def _refuse(self) -> None:
        """Answer 431, half-close, and drop what still comes for a moment."""
        self._rejected = True
        if self.cycle is not None and not self.cycle.response_complete:
            self.transport.close()  # pipelined behind a request still being answered
            return
        method, path = self._request_line()
        request_id = new_request_id()

        def log() -> None:
            with bound(request_id=request_id):
                emit(events.REQUEST_REJECTED, method=method, path=path, status=431,
                     reason="header section too large")

        contextvars.Context().run(log)  # not the context the event loop was started in
        body = json.dumps({"error": {"code": 431, "title": HeadersTooLarge.title,
                                     "message": _HEADERS_TOO_LARGE}}).encode()
        content = [b"HTTP/1.1 431 Request Header Fields Too Large\r\n"]
        for name, value in self.server_state.default_headers:
            content += [name, b": ", value, b"\r\n"]
        content += [b"content-type: application/json\r\n",
                    b"content-length: ", str(len(body)).encode(), b"\r\n",
                    b"x-openstack-request-id: ", request_id.encode(), b"\r\n",
                    b"vary: X-Auth-Token\r\n", b"connection: close\r\n\r\n",
                    b"" if method == "HEAD" else body]
        self.transport.write(b"".join(content))
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(_LINGER_SECONDS, self.transport.close)

    def _request_line(self) -> tuple[str, str]:
        try:
            method = self.parser.get_method().decode("ascii", "replace")
        except (httptools.HttpParserError, AttributeError):
            method = "-"
        path = self.url.split(b"?", 1)[0][:200].decode("ascii", "replace") or "-"
        return method, path
