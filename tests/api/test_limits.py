"""Request size limits: a body over 1 MiB is 413, a header section over 32 KiB (or over
100 header fields) is 431, both in Keystone's error body, never a 5xx and never a hang;
requests of ordinary size are untouched. Checked on the live server (uvicorn with sevres's
httptools protocol) and on the ASGI middleware alone (any other server)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from sevres.api.http import MAX_BODY_BYTES
from sevres.api.middleware import MAX_HEADER_BYTES, MAX_HEADER_COUNT, RequestContext
from tests.factories import Api, unique
from tests.server import Server

TITLES = {413: "Request Entity Too Large", 431: "Request Header Fields Too Large"}


def _error(response: httpx.Response, status: int) -> str:
    """The message, after checking the status and Keystone's error body."""
    assert response.status_code == status, response.text[:300]
    error = response.json()["error"]
    assert set(error) == {"code", "title", "message"}
    assert (error["code"], error["title"]) == (status, TITLES[status])
    assert response.headers["X-OpenStack-Request-ID"].startswith("req-")
    return str(error["message"])


def _raw(server: Server, data: bytes, timeout: float = 10) -> bytes:
    """Send raw bytes (tolerating a reset once the server has answered), then read the
    whole answer until the server closes; a hang fails on the timeout."""
    url = urlsplit(server.url)
    with socket.create_connection((url.hostname, url.port), timeout=timeout) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(data)
        answer = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            answer += chunk
    return answer


def _status_and_body(answer: bytes) -> tuple[int, dict[str, Any]]:
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), json.loads(body)


# -- bodies --------------------------------------------------------------------------------
def test_body_over_the_limit_is_413_before_it_is_read(admin: Api) -> None:
    """A Content-Length over 1 MiB is refused with 413; nothing is created, and the same
    connection goes on answering."""
    name = unique("big")
    body = json.dumps({"project": {"name": name, "description": "x" * MAX_BODY_BYTES}})
    response = admin.post("/v3/projects", content=body,
                          headers={"Content-Type": "application/json"})
    assert _error(response, 413) == "Request is too large."
    assert admin.get("/v3/projects", params={"name": name}).json()["projects"] == []


def test_login_body_over_the_limit_is_413(anonymous: httpx.Client) -> None:
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"id": "default"}, "password": "x" * (2 * MAX_BODY_BYTES)}}}}}
    _error(anonymous.post("/v3/auth/tokens", json=body), 413)


def test_chunked_body_over_the_limit_is_413(admin: Api) -> None:
    """A body without Content-Length (chunked) is counted as it arrives."""
    def chunks() -> Iterator[bytes]:
        yield b'{"project": {"name": "chunked", "description": "'
        for _ in range(40):
            yield b"x" * 65536
        yield b'"}}'

    response = admin.post("/v3/projects", content=chunks(),
                          headers={"Content-Type": "application/json"})
    assert response.request.headers.get("Transfer-Encoding") == "chunked"
    _error(response, 413)


def test_body_at_the_limit_is_read(admin: Api) -> None:
    """Just under 1 MiB is parsed as usual: a 400 about the field, not a 413."""
    padding = "x" * (MAX_BODY_BYTES - 200)
    response = admin.post("/v3/domains", json={"domain": {"name": "", "description": padding}})
    assert response.status_code == 400, response.text[:300]


# -- headers -------------------------------------------------------------------------------
def test_huge_token_header_is_431(anonymous: httpx.Client) -> None:
    response = anonymous.get("/v3/auth/tokens", headers={"X-Auth-Token": "a" * 100_000,
                                                         "X-Subject-Token": "b"})
    assert "header" in _error(response, 431)


def test_many_headers_are_431(anonymous: httpx.Client) -> None:
    headers = {f"X-Padding-{i}": "v" for i in range(1000)}
    _error(anonymous.get("/v3", headers=headers), 431)


def test_headers_just_over_the_limit_are_431(anonymous: httpx.Client) -> None:
    _error(anonymous.get("/v3", headers={"X-Padding": "p" * MAX_HEADER_BYTES}), 431)


def test_a_long_url_counts_too(anonymous: httpx.Client) -> None:
    _error(anonymous.get("/v3/projects", params={"name": "n" * (MAX_HEADER_BYTES + 10)}), 431)


def test_header_section_that_never_ends_is_431(server: Server) -> None:
    """A header value that keeps coming (no end of line) is cut off, answered 431 and the
    connection closed: no hang, no unbounded buffering."""
    data = b"GET /v3 HTTP/1.1\r\nHost: x\r\nX-Endless: " + b"e" * (4 * MAX_HEADER_BYTES + 300_000)
    status, body = _status_and_body(_raw(server, data))
    assert status == 431
    assert body["error"]["code"] == 431


def test_raw_huge_header_is_answered_then_closed(server: Server) -> None:
    data = (b"GET /v3 HTTP/1.1\r\nHost: x\r\nX-Auth-Token: " + b"t" * 100_000
            + b"\r\n\r\n")
    status, body = _status_and_body(_raw(server, data))
    assert (status, body["error"]["title"]) == (431, TITLES[431])


def test_after_a_431_the_server_still_answers(anonymous: httpx.Client, admin: Api) -> None:
    for _ in range(3):
        _error(anonymous.get("/v3", headers={"X-Padding": "p" * 50_000}), 431)
    assert admin.get("/v3/auth/tokens", headers={"X-Subject-Token": admin.token}
                     ).status_code == 200


def test_ordinary_headers_are_fine(admin: Api, anonymous: httpx.Client) -> None:
    """A 900-byte token, and a header section close to the limit, are answered as usual."""
    response = anonymous.get("/v3/auth/tokens", headers={"X-Auth-Token": "a" * 900,
                                                         "X-Subject-Token": "b" * 900})
    assert response.status_code == 401, response.text
    near = {f"X-Padding-{i}": "p" * 250 for i in range(MAX_HEADER_COUNT // 2)}
    response = admin.get("/v3/auth/tokens", headers={"X-Subject-Token": admin.token, **near})
    assert response.status_code == 200, response.text[:300]
    assert response.json()["token"]["user"]["name"] == "admin"


# -- the middleware alone (another server, without sevres's protocol) ----------------------
async def _hello(scope: Any, receive: Any, send: Any) -> None:
    while True:  # read the body, as an endpoint does
        message = await receive()
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


def _through_middleware(headers: list[tuple[bytes, bytes]], method: str = "GET",
                        body: list[bytes] | None = None) -> tuple[int, dict[str, Any]]:
    parts = list(body or [b""])
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        chunk = parts.pop(0) if parts else b""
        return {"type": "http.request", "body": chunk, "more_body": bool(parts)}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": "/v3", "raw_path": b"/v3",
             "query_string": b"", "headers": headers, "scheme": "http",
             "server": ("127.0.0.1", 5000), "root_path": "", "http_version": "1.1"}
    asyncio.run(RequestContext(_hello)(scope, receive, send))
    status = sent[0]["status"]
    answer = b"".join(m.get("body", b"") for m in sent[1:])
    return status, json.loads(answer)


@pytest.mark.parametrize("headers", [
    [(b"x-auth-token", b"a" * 100_000)],
    [(b"x-padding-%d" % i, b"v") for i in range(MAX_HEADER_COUNT + 1)],
])
def test_middleware_refuses_large_header_sections(headers: list[tuple[bytes, bytes]]) -> None:
    status, body = _through_middleware(headers)
    assert (status, body["error"]["code"], body["error"]["title"]) == (431, 431, TITLES[431])


def test_middleware_refuses_large_bodies() -> None:
    length = [(b"content-length", str(MAX_BODY_BYTES + 1).encode())]
    assert _through_middleware(length, "POST")[0] == 413
    chunked = [b"x" * 65536] * 20
    status, body = _through_middleware([(b"transfer-encoding", b"chunked")], "POST", chunked)
    assert (status, body["error"]["title"]) == (413, TITLES[413])


def test_middleware_passes_ordinary_requests() -> None:
    assert _through_middleware([(b"x-auth-token", b"a" * 900)]) == (200, {})
    assert _through_middleware([(b"content-length", b"10")], "POST", [b"0123456789"]) == (200, {})


def test_malformed_request_line_is_still_400(server: Server) -> None:
    """What is not HTTP at all keeps uvicorn's answer (400, then the connection closes)."""
    answer = _raw(server, b"GET /v3 HTTP/1.1\r\nBad Header Name: x\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:100]
