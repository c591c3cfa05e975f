"""keystoneauth1 against a live sevres, run with .venv-compat/bin/python.

Usage: keystoneauth_client.py SCENARIO, with the server in the environment:
SEVRES_URL (the root, no /v3), OS_USERNAME, OS_PASSWORD, OS_PROJECT_NAME,
OS_USER_DOMAIN_NAME, OS_PROJECT_DOMAIN_NAME and, for ``application_credential``,
OS_APPLICATION_CREDENTIAL_ID and OS_APPLICATION_CREDENTIAL_SECRET. Prints one JSON
object of what the library saw; any exception exits non-zero with its traceback.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Any

from keystoneauth1 import discover, exceptions, session
from keystoneauth1.access import AccessInfoV3
from keystoneauth1.identity import generic, v3
from keystoneauth1.identity.base import BaseIdentityPlugin


def env(name: str) -> str:
    return os.environ[name]


def v3_url() -> str:
    return env("SEVRES_URL") + "/v3"


def password_plugin(auth_url: str | None = None) -> v3.Password:
    return v3.Password(
        auth_url=auth_url or v3_url(), username=env("OS_USERNAME"),
        password=env("OS_PASSWORD"), user_domain_name=env("OS_USER_DOMAIN_NAME"),
        project_name=env("OS_PROJECT_NAME"),
        project_domain_name=env("OS_PROJECT_DOMAIN_NAME"))


def describe(sess: session.Session, auth: BaseIdentityPlugin) -> dict[str, Any]:
    """What a service using this session would read from it."""
    access = auth.get_access(sess)
    assert isinstance(access, AccessInfoV3), type(access)
    assert access.expires is not None
    return {
        "token": sess.get_token(),
        "project_id": sess.get_project_id(),
        "user_id": sess.get_user_id(),
        "endpoint": sess.get_endpoint(service_type="identity", interface="public"),
        "internal_endpoint": sess.get_endpoint(service_type="identity",
                                               interface="internal"),
        "roles": sorted(access.role_names or ()),
        "audit_id": access.audit_id,
        "project_name": access.project_name,
        "expires": access.expires.isoformat(),
        "has_catalog": access.has_service_catalog(),
        "application_credential_id": access.application_credential_id,
    }


def scenario_password() -> dict[str, Any]:
    auth = password_plugin()
    sess = session.Session(auth=auth)
    result = describe(sess, auth)
    # The token authenticates a call through the session's adapter-style helpers.
    response = sess.get("/auth/projects",
                        endpoint_filter={"service_type": "identity", "interface": "public"})
    result["auth_projects"] = sorted(p["name"] for p in response.json()["projects"])
    wrong = v3.Password(auth_url=v3_url(), username=env("OS_USERNAME"),
                        password=env("OS_PASSWORD") + "-wrong",
                        user_domain_name=env("OS_USER_DOMAIN_NAME"),
                        project_name=env("OS_PROJECT_NAME"),
                        project_domain_name=env("OS_PROJECT_DOMAIN_NAME"))
    try:
        session.Session(auth=wrong).get_token()
        result["wrong_password"] = "accepted"
    except exceptions.Unauthorized as exc:
        result["wrong_password"] = f"Unauthorized {exc.http_status}"
    return result


def scenario_token() -> dict[str, Any]:
    """A Token plugin from a password session's token, re-scoped to the same project."""
    first = session.Session(auth=password_plugin())
    token = first.get_token()
    assert token is not None
    auth = v3.Token(auth_url=v3_url(), token=token, project_name=env("OS_PROJECT_NAME"),
                    project_domain_name=env("OS_PROJECT_DOMAIN_NAME"))
    sess = session.Session(auth=auth)
    result = describe(sess, auth)
    result["original_token"] = token
    return result


def scenario_application_credential() -> dict[str, Any]:
    auth = v3.ApplicationCredential(
        auth_url=v3_url(), application_credential_id=env("OS_APPLICATION_CREDENTIAL_ID"),
        application_credential_secret=env("OS_APPLICATION_CREDENTIAL_SECRET"))
    sess = session.Session(auth=auth)
    result = describe(sess, auth)
    by_name = v3.ApplicationCredential(
        auth_url=v3_url(), application_credential_name=env("OS_APPLICATION_CREDENTIAL_NAME"),
        application_credential_secret=env("OS_APPLICATION_CREDENTIAL_SECRET"),
        username=env("OS_USERNAME"), user_domain_name=env("OS_USER_DOMAIN_NAME"))
    by_name_session = session.Session(auth=by_name)
    result["by_name_project_id"] = by_name_session.get_project_id()
    return result


def scenario_discovery() -> dict[str, Any]:
    """Version discovery from the root and from /v3, and the generic plugin, which
    discovers the v3 API from an unversioned auth_url."""
    root = env("SEVRES_URL")
    auth = generic.Password(
        auth_url=root, username=env("OS_USERNAME"), password=env("OS_PASSWORD"),
        user_domain_name=env("OS_USER_DOMAIN_NAME"), project_name=env("OS_PROJECT_NAME"),
        project_domain_name=env("OS_PROJECT_DOMAIN_NAME"))
    sess = session.Session(auth=auth)
    plain = session.Session()
    versions: dict[str, Any] = {}
    for label, url in (("root", root), ("v3", root + "/v3")):
        data = discover.get_version_data(plain, url)
        versions[label] = [{"id": v["id"], "status": v["status"],
                            "links": [link["href"] for link in v.get("links", [])]}
                           for v in data]
    found = discover.Discover(plain, root)
    v3_data = found.versioned_data_for(min_version="3", max_version="3.latest")
    return {
        "versions": versions,
        "generic_token": bool(sess.get_token()),
        "generic_project_id": sess.get_project_id(),
        "public_endpoint": sess.get_endpoint(service_type="identity", interface="public"),
        "public_v3_endpoint": sess.get_endpoint(service_type="identity", interface="public",
                                                min_version="3", max_version="3.latest"),
        "api_major_version": list(sess.get_api_major_version(
            service_type="identity", interface="public") or ()),
        "discovered": {"url": v3_data["url"] if v3_data else None,
                       "version": list(v3_data["version"]) if v3_data else None,
                       "max_microversion": (list(v3_data["max_microversion"])
                                            if v3_data and v3_data["max_microversion"]
                                            else None)},
    }


SCENARIOS: dict[str, Callable[[], dict[str, Any]]] = {
    "password": scenario_password,
    "token": scenario_token,
    "application_credential": scenario_application_credential,
    "discovery": scenario_discovery,
}


def main(argv: list[str]) -> int:
    (name,) = argv
    print(json.dumps(SCENARIOS[name](), sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
