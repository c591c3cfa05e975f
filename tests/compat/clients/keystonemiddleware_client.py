"""keystonemiddleware's auth_token protecting a small WSGI app, against a live sevres;
run with .venv-compat/bin/python.

The middleware is configured as a service would in its paste/oslo config: auth_type
password with a service user (SEVRES_URL, SEVRES_SERVICE_USER, SEVRES_SERVICE_PASSWORD,
SEVRES_SERVICE_PROJECT, all in the Default domain), no memcached, no token cache (every
request validates against sevres), the service catalog passed on, and service tokens
required to carry one of SEVRES_SERVICE_TOKEN_ROLES (default ``service``). With
SEVRES_SERVICE_TYPE set, the middleware knows its service type and so enforces the access
rules of application credentials.

Standard input: a JSON list of cases ``{"name": ..., "headers": {...}}``, each with an
optional ``path`` (default ``/``) and ``method`` (default ``GET``). Standard
output: one JSON object, per case name: the status, the WWW-Authenticate header and the
identity headers the app saw (absent when the request never reached it).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterable
from typing import Any

import webtest
from keystonemiddleware import auth_token

StartResponse = Callable[[str, list[tuple[str, str]]], Any]

# The identity headers auth_token sets for the application (and strips from the request).
SEEN = ("X-Identity-Status", "X-Service-Identity-Status", "X-User-Id", "X-User-Name",
        "X-User-Domain-Id", "X-Project-Id", "X-Project-Name", "X-Project-Domain-Id",
        "X-Domain-Id", "X-Roles", "X-Service-Roles", "X-Service-User-Id",
        "X-Service-Project-Id", "X-Is-Admin-Project", "OpenStack-System-Scope",
        "X-Service-Catalog")


def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    """Answers 200 with the identity headers it was given."""
    seen = {}
    for header in SEEN:
        key = "HTTP_" + header.upper().replace("-", "_")
        if key in environ:
            seen[header] = environ[key]
    seen["token_auth_user_valid"] = bool(
        environ.get("keystone.token_auth") and environ["keystone.token_auth"].has_user_token)
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(seen).encode()]


def middleware_conf() -> dict[str, Any]:
    url = os.environ["SEVRES_URL"]
    conf: dict[str, Any] = {
        "www_authenticate_uri": url + "/v3",
        "auth_url": url + "/v3",
        "auth_type": "password",
        "username": os.environ["SEVRES_SERVICE_USER"],
        "password": os.environ["SEVRES_SERVICE_PASSWORD"],
        "project_name": os.environ["SEVRES_SERVICE_PROJECT"],
        "user_domain_name": "Default",
        "project_domain_name": "Default",
        "delay_auth_decision": False,
        "include_service_catalog": True,
        "service_token_roles_required": True,
        "service_token_roles": os.environ.get("SEVRES_SERVICE_TOKEN_ROLES", "service"),
        "token_cache_time": -1,
        "http_connect_timeout": 10,
        "log_name": "sevres-compat",
    }
    if os.environ.get("SEVRES_SERVICE_TYPE"):
        conf["service_type"] = os.environ["SEVRES_SERVICE_TYPE"]
    return conf


def main() -> int:
    cases = json.load(sys.stdin)
    app = webtest.TestApp(auth_token.AuthProtocol(application, middleware_conf()))
    results: dict[str, Any] = {}
    for case in cases:
        response = app.request(case.get("path", "/"), method=case.get("method", "GET"),
                               headers=case["headers"], expect_errors=True)
        result: dict[str, Any] = {
            "status": response.status_int,
            "www_authenticate": response.headers.get("WWW-Authenticate"),
        }
        if response.status_int == 200:
            seen = response.json
            catalog = seen.pop("X-Service-Catalog", None)
            if catalog is not None:
                result["catalog_types"] = sorted(s["type"] for s in json.loads(catalog))
            result["seen"] = seen
        results[case["name"]] = result
    print(json.dumps(results, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
