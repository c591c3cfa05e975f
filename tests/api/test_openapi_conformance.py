"""schemathesis over every operation of the API description (docs/openapi.json, which the
server serves): no answer is a 5xx, and every answer conforms to the description
(status, headers, content type, body).

The fuzzer runs with the bootstrap admin's token on a server of its own (it deletes and
updates whatever it reaches), against throwaway entities: half of the generated requests
(chosen from the request itself, so that a failure replays) name real ids instead of
random ones, so that reads, updates, grants and deletes of existing entities are fuzzed
too, not only their 404s.
"""

from __future__ import annotations

import json
import os
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks

from tests.factories import Api, password_auth, project_scope
from tests.server import ADMIN_PASSWORD, Server, own_server

CHECKS = [checks.not_a_server_error, checks.status_code_conformance,
          checks.content_type_conformance, checks.response_headers_conformance,
          checks.response_schema_conformance]
# Examples per operation and phase, the same ones each run (CI fails on a change, not on
# luck); SEVRES_FUZZ_EXAMPLES=300 hunts deeper, with new random cases each time.
MAX_EXAMPLES = int(os.environ.get("SEVRES_FUZZ_EXAMPLES", "15"))
DERANDOMIZE = "SEVRES_FUZZ_EXAMPLES" not in os.environ


@pytest.fixture(scope="module")
def fuzzed(backend_name: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server for this module alone: the fuzzer may change anything it can reach."""
    with own_server(backend_name, tmp_path_factory, "sevres-openapi") as server:
        yield server


@pytest.fixture(scope="module")
def fuzz_admin(fuzzed: Server) -> Iterator[Api]:
    with Api.login(fuzzed.url, "admin", ADMIN_PASSWORD) as api:
        yield api


@pytest.fixture(scope="module")
def real_ids(fuzzed: Server, fuzz_admin: Api) -> dict[str, str]:
    """Throwaway entities of every kind a path names, and a token of a throwaway user."""
    api = fuzz_admin
    domain = api.domain()
    user, project = api.member_of_new_project()
    group = api.make("groups", "group", name=f"g-{user['name']}")
    assert api.put(f"/v3/groups/{group['id']}/users/{user['id']}").status_code == 204
    prior, implied = api.role(), api.role()
    assert api.put(f"/v3/roles/{prior['id']}/implies/{implied['id']}").status_code == 201
    assert api.put(f"/v3/projects/{project['id']}/tags/fuzzed").status_code == 201
    region = api.make("regions", "region", description="fuzzed")
    service = api.make("services", "service", type=f"t-{user['name']}")
    endpoint = api.make("endpoints", "endpoint", interface="public", url="http://x.test/",
                        service_id=service["id"], region_id=region["id"])
    with Api.login(fuzzed.url, user["name"], "member-Pa55word",
                   scope=project_scope(project["name"], project["domain_id"])) as mine:
        cred = mine.app_cred(user["id"], access_rules=[
            {"service": "compute", "path": "/v2.1/servers", "method": "GET"}])
        subject = mine.post("/v3/auth/tokens", json=password_auth(
            user["name"], "member-Pa55word",
            scope=project_scope(project["name"], project["domain_id"])))
        assert subject.status_code == 201, subject.text
    return {
        "domain_id": domain["id"], "project_id": project["id"], "user_id": user["id"],
        "group_id": group["id"], "role_id": prior["id"], "prior_role_id": prior["id"],
        "implied_role_id": implied["id"], "region_id": region["id"],
        "service_id": service["id"], "endpoint_id": endpoint["id"],
        "application_credential_id": cred["id"],
        "access_rule_id": cred["access_rules"][0]["id"], "tag": "fuzzed",
        "X-Subject-Token": subject.headers["X-Subject-Token"],
    }


# The checked-in description (tests/unit/test_api_contract.py: it is what the code
# generates; test_the_served_description_is_the_checked_in_one: what the server serves).
DESCRIPTION = Path(__file__).parents[2] / "docs" / "openapi.json"
schema = schemathesis.openapi.from_path(DESCRIPTION)
# The admin's token goes with every request: no budget spent on requests without one.
schema.config.generation.update(max_examples=MAX_EXAMPLES, with_security_parameters=False)


def test_the_served_description_is_the_checked_in_one(fuzzed: Server) -> None:
    response = httpx.get(f"{fuzzed.url}/v3/sevres/openapi.json")  # no token needed
    assert response.status_code == 200, response.text
    assert response.json() == json.loads(DESCRIPTION.read_text())


def _with_real_ids(case: Any, ids: dict[str, str]) -> None:
    """Name the throwaway entities in the path (and the subject token), for half of the
    cases: the half is chosen from the generated values, so a failing case replays."""
    generated = repr((sorted((case.path_parameters or {}).items()),
                      (case.headers or {}).get("X-Subject-Token")))
    if zlib.crc32(generated.encode()) % 2:
        return
    path = case.operation.path
    for name in list(case.path_parameters or {}):
        if name == "target_id":
            key = "project_id" if "/projects/" in path else "domain_id"
        elif name == "actor_id":
            key = "user_id" if "/users/" in path else "group_id"
        else:
            key = name
        case.path_parameters[name] = ids[key]
    if case.headers and "X-Subject-Token" in case.headers:
        case.headers["X-Subject-Token"] = ids["X-Subject-Token"]


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=DERANDOMIZE,
          suppress_health_check=list(HealthCheck))
def test_every_operation_conforms(case: Any, fuzz_admin: Api, real_ids: dict[str, str]) -> None:
    _with_real_ids(case, real_ids)
    case.call_and_validate(base_url=str(fuzz_admin.base_url), checks=CHECKS,
                           headers={"X-Auth-Token": fuzz_admin.token})
