"""The base URL of links, memoised from the parts Starlette builds it from: the same string
Starlette's ``request.base_url`` gives, for every shape of request."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from starlette.requests import Request

from sevres.api.http import base_url


def request(scheme: str = "http", server: Any = ("127.0.0.1", 5000), root_path: str = "",
            host: bytes | None = None) -> Request:
    headers = [(b"accept", b"*/*")] + ([(b"host", host)] if host is not None else [])
    return Request({"type": "http", "method": "GET", "scheme": scheme, "server": server,
                    "path": "/v3/auth/tokens", "root_path": root_path, "query_string": b"",
                    "headers": headers})


NO_PUBLIC_URL: Any = SimpleNamespace(settings=SimpleNamespace(public_url=None))


@pytest.mark.parametrize("shape", [
    {},
    {"host": b"identity.example.com"},
    {"host": b"identity.example.com:5000"},
    {"host": b"[::1]:5000"},
    {"host": b"bad host:port"},
    {"scheme": "https", "server": ("10.0.0.1", 443)},
    {"scheme": "https", "server": ("10.0.0.1", 8443)},
    {"server": ("::1", 80)},
    {"server": None},
    {"root_path": "/identity", "host": b"example.com"},
    {"root_path": "/identity/"},
])
def test_the_same_as_starlette_s(shape: dict[str, Any]) -> None:
    fresh = request(**shape)
    assert base_url(NO_PUBLIC_URL, fresh) == str(fresh.base_url).rstrip("/")
    assert base_url(NO_PUBLIC_URL, request(**shape)) == str(fresh.base_url).rstrip("/")


def test_the_configured_public_url_wins() -> None:
    services: Any = SimpleNamespace(settings=SimpleNamespace(
        public_url="https://keystone.example.com"))
    assert base_url(services, request(host=b"other")) == "https://keystone.example.com"
