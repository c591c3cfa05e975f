"""The audit trail over HTTP: CADF-style records of every authentication and every change
to identity data, in the audit file of the state folder, apart from the operational log."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from sevres.tokens.service import token_hash
from tests import backends
from tests.factories import Api, password_auth, project_scope, unique
from tests.server import ADMIN_PASSWORD, Server, start

CADF_EVENT = "http://schemas.dmtf.org/cloud/audit/1.0/event"


def _audit(server: Server) -> list[dict[str, Any]]:
    path = server.state_dir / "audit.log"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def _of(server: Server, response: httpx.Response) -> list[dict[str, Any]]:
    """The audit records of one request (written before its answer was sent)."""
    request_id = response.headers["X-OpenStack-Request-ID"]
    return [r for r in _audit(server) if r["request_id"] == request_id]


def _one(server: Server, response: httpx.Response) -> dict[str, Any]:
    records = _of(server, response)
    assert len(records) == 1, records
    record = records[0]
    assert record["typeURI"] == CADF_EVENT and record["eventType"] == "activity"
    assert record["observer"]["typeURI"] == "service/security"
    assert record["initiator"]["typeURI"] == "service/security/account/user"
    assert record["initiator"]["host"]["address"] == "127.0.0.1"
    assert record["initiator"]["host"]["agent"].startswith("python-httpx/")
    assert record["requestPath"] == response.request.url.path
    assert record["global_request_id"] == record["request_id"]
    return record


def _assert_by_admin(record: dict[str, Any], admin: Api) -> None:
    initiator = record["initiator"]
    assert initiator["id"] == admin.body["user"]["id"]
    assert initiator["name"] == "admin"
    assert initiator["project_id"] == admin.body["project"]["id"]


def test_a_login_is_audited_with_who_and_what_scope(server: Server, admin: Api) -> None:
    """A successful password login writes one 'authenticate' success record naming the
    user as initiator and target, the new token's project and the methods used."""
    password = unique("pw")
    user, project = admin.member_of_new_project(password)
    response = admin.post("/v3/auth/tokens", headers={"X-Auth-Token": ""}, json=password_auth(
        user["name"], password, scope=project_scope(project["name"])))
    assert response.status_code == 201
    record = _one(server, response)
    assert (record["action"], record["outcome"]) == ("authenticate", "success")
    assert record["initiator"]["id"] == user["id"]
    assert record["initiator"]["name"] == user["name"]
    assert record["initiator"]["user_domain_name"] == "Default"
    assert record["initiator"]["project_id"] == project["id"]
    assert record["target"] == {"typeURI": "service/security/account/user", "id": user["id"]}
    assert record["methods"] == ["password"]
    assert record["scope"] == f"project:{project['id']}"
    assert "reason" not in record


def test_a_failed_login_is_audited_with_the_claimed_user_and_a_reason_category(
    server: Server, anonymous: httpx.Client, admin: Api
) -> None:
    """A wrong password writes one 'authenticate' failure record with the user name and
    domain the request claimed (or the claimed id) and the category 'invalid credentials'."""
    user = admin.user(password=unique("pw"))
    by_name = anonymous.post("/v3/auth/tokens", json=password_auth(user["name"], "wrong-pw"))
    assert by_name.status_code == 401
    record = _one(server, by_name)
    assert (record["action"], record["outcome"]) == ("authenticate", "failure")
    assert record["initiator"]["name"] == user["name"]
    assert record["initiator"]["user_domain_name"] == "Default"
    assert record["initiator"]["id"] == "unknown"
    assert record["reason"] == {"reasonType": "invalid credentials", "reasonCode": "401"}

    by_id = anonymous.post("/v3/auth/tokens", json={"auth": {"identity": {
        "methods": ["password"], "password": {"user": {"id": user["id"], "password": "nope"}}}}})
    assert by_id.status_code == 401
    record = _one(server, by_id)
    assert record["outcome"] == "failure"
    assert record["initiator"]["id"] == record["target"]["id"] == user["id"]


def test_a_token_rescope_is_audited_with_the_token_as_its_hash(
    fresh: backends.Backend, tmp_path: Path
) -> None:
    """With ``[audit] rescopes`` on, the token method is audited too: success names the
    user and carries the presented token only as its hash."""
    server = start(tmp_path, fresh.url, SEVRES_AUDIT_RESCOPES="true")
    try:
        with Api.login(server.url, "admin", ADMIN_PASSWORD) as admin, \
                httpx.Client(base_url=server.url, timeout=30) as anonymous:
            password = unique("pw")
            user, project = admin.member_of_new_project(password)
            unscoped = anonymous.post("/v3/auth/tokens", json=password_auth(
                user["name"], password, scope="unscoped"))
            token = unscoped.headers["X-Subject-Token"]
            rescoped = anonymous.post("/v3/auth/tokens", json={"auth": {
                "identity": {"methods": ["token"], "token": {"id": token}},
                "scope": {"project": {"id": project["id"]}}}})
            assert rescoped.status_code == 201
            record = _one(server, rescoped)
    finally:
        server.stop()
    assert (record["action"], record["outcome"]) == ("authenticate", "success")
    assert record["initiator"]["id"] == user["id"]
    assert record["initiator"]["credential"] == {"type": "token", "token_hash": token_hash(token)}
    assert record["methods"] == ["token"]


def test_a_rescope_is_not_audited_by_default_but_a_failed_one_is(
    server: Server, anonymous: httpx.Client, admin: Api
) -> None:
    """By default a successful re-scope leaves no record (the login it derives from did);
    a token that does not validate is recorded as 'invalid token'."""
    password = unique("pw")
    user, project = admin.member_of_new_project(password)
    unscoped = anonymous.post("/v3/auth/tokens",
                              json=password_auth(user["name"], password, scope="unscoped"))
    assert len(_of(server, unscoped)) == 1
    token = unscoped.headers["X-Subject-Token"]
    rescoped = anonymous.post("/v3/auth/tokens", json={"auth": {
        "identity": {"methods": ["token"], "token": {"id": token}},
        "scope": {"project": {"id": project["id"]}}}})
    assert rescoped.status_code == 201
    assert _of(server, rescoped) == []

    bad = anonymous.post("/v3/auth/tokens", json={"auth": {"identity": {
        "methods": ["token"], "token": {"id": token[:-4] + "AAAA"}}}})
    assert bad.status_code == 401
    record = _one(server, bad)
    assert record["outcome"] == "failure"
    assert record["reason"]["reasonType"] == "invalid token"


def test_project_create_grant_and_user_delete_are_audited(server: Server, admin: Api) -> None:
    """Each change writes one success record: action in Keystone's vocabulary, the caller's
    token as initiator, the changed entity as target, the request id of the answer."""
    created = admin.post("/v3/projects", json={"project": {"name": unique("proj")}})
    assert created.status_code == 201
    project = created.json()["project"]
    record = _one(server, created)
    assert (record["action"], record["outcome"]) == ("created.project", "success")
    assert record["target"] == {"typeURI": "data/security/project", "id": project["id"]}
    _assert_by_admin(record, admin)

    user = admin.user()
    role_id = admin.role_id("member")
    granted = admin.put(f"/v3/projects/{project['id']}/users/{user['id']}/roles/{role_id}")
    assert granted.status_code == 204
    record = _one(server, granted)
    assert (record["action"], record["outcome"]) == ("created.role_assignment", "success")
    assert record["target"] == {"typeURI": "data/security/account/user", "id": user["id"]}
    assert (record["role"], record["user"], record["project"]) == (
        role_id, user["id"], project["id"])
    assert record["inherited_to_projects"] is False
    _assert_by_admin(record, admin)

    deleted = admin.delete(f"/v3/users/{user['id']}")
    assert deleted.status_code == 204
    record = _one(server, deleted)
    assert (record["action"], record["outcome"]) == ("deleted.user", "success")
    assert record["target"] == {"typeURI": "data/security/account/user", "id": user["id"]}
    _assert_by_admin(record, admin)


def test_password_changes_are_audited_success_and_failure(
    server: Server, anonymous: httpx.Client, admin: Api
) -> None:
    """The self-service password change writes 'updated.password' for the user, success
    when it is stored, failure ('invalid credentials') when the original was wrong."""
    first, second = unique("pw-first"), unique("pw-second")
    user = admin.user(password=first)
    wrong = anonymous.post(f"/v3/users/{user['id']}/password", json={
        "user": {"original_password": "not-" + first, "password": second}})
    assert wrong.status_code == 401
    record = _one(server, wrong)
    assert (record["action"], record["outcome"]) == ("updated.password", "failure")
    assert record["initiator"]["id"] == record["target"]["id"] == user["id"]
    assert record["reason"]["reasonType"] == "invalid credentials"

    changed = anonymous.post(f"/v3/users/{user['id']}/password", json={
        "user": {"original_password": first, "password": second}})
    assert changed.status_code == 204
    record = _one(server, changed)
    assert (record["action"], record["outcome"]) == ("updated.password", "success")
    assert record["initiator"]["id"] == user["id"]
    assert record["target"] == {"typeURI": "data/security/account/user", "id": user["id"]}


def test_a_token_revocation_is_audited_by_audit_id(server: Server, admin: Api) -> None:
    """DELETE /v3/auth/tokens writes 'deleted.token' whose target is the token's audit id
    and hash, with the revoker as initiator."""
    password = unique("pw")
    user, _ = admin.member_of_new_project(password)
    issued = admin.post("/v3/auth/tokens", headers={"X-Auth-Token": ""},
                        json=password_auth(user["name"], password, scope="unscoped"))
    token = issued.headers["X-Subject-Token"]
    revoked = admin.delete("/v3/auth/tokens", headers={"X-Subject-Token": token})
    assert revoked.status_code == 204
    record = _one(server, revoked)
    assert (record["action"], record["outcome"]) == ("deleted.token", "success")
    assert record["target"] == {"typeURI": "data/security/credential",
                                "id": issued.json()["token"]["audit_ids"][0],
                                "token_hash": token_hash(token), "user_id": user["id"]}
    _assert_by_admin(record, admin)


def test_every_kind_of_identity_data_change_is_audited(server: Server, admin: Api) -> None:
    """Domains, roles, implied roles, groups and membership, regions, services, endpoints,
    updates and deletes: each request writes its one record with the expected action."""
    domain = admin.domain(enabled=False)
    prior, implied = admin.role(), admin.role()
    group = admin.make("groups", "group", name=unique("group"))
    user = admin.user()
    service = admin.make("services", "service", type=unique("svc"))
    steps = [
        (admin.patch(f"/v3/domains/{domain['id']}", json={"domain": {"description": "x"}}),
         "updated.domain", domain["id"]),
        (admin.put(f"/v3/roles/{prior['id']}/implies/{implied['id']}"),
         "created.implied_role", prior["id"]),
        (admin.delete(f"/v3/roles/{prior['id']}/implies/{implied['id']}"),
         "deleted.implied_role", prior["id"]),
        (admin.put(f"/v3/groups/{group['id']}/users/{user['id']}"), "updated.group", group["id"]),
        (admin.delete(f"/v3/groups/{group['id']}/users/{user['id']}"),
         "updated.group", group["id"]),
        (admin.post("/v3/regions", json={"region": {"description": "r"}}),
         "created.region", None),
        (admin.post("/v3/endpoints", json={"endpoint": {
            "service_id": service["id"], "interface": "public", "url": "http://x.example/"}}),
         "created.endpoint", None),
        (admin.delete(f"/v3/services/{service['id']}"), "deleted.service", service["id"]),
        (admin.patch(f"/v3/roles/{prior['id']}", json={"role": {"description": "y"}}),
         "updated.role", prior["id"]),
        (admin.delete(f"/v3/roles/{implied['id']}"), "deleted.role", implied["id"]),
        (admin.delete(f"/v3/groups/{group['id']}"), "deleted.group", group["id"]),
        (admin.delete(f"/v3/domains/{domain['id']}"), "deleted.domain", domain["id"]),
    ]
    for response, action, target_id in steps:
        assert response.status_code < 300, response.text
        record = _one(server, response)
        assert (record["action"], record["outcome"]) == (action, "success")
        assert target_id is None or record["target"]["id"] == target_id
        _assert_by_admin(record, admin)
    added, removed = (_one(server, r) for r, _, _ in steps[3:5])
    assert (added["actor_id"], added["actor_operation"]) == (user["id"], "added")
    assert (removed["actor_id"], removed["actor_operation"]) == (user["id"], "removed")


def test_a_refused_change_leaves_no_success_record(
    server: Server, admin: Api, anonymous: httpx.Client
) -> None:
    """A change that fails (409 duplicate, 403 by policy, 404) rolls back and writes no
    record at all: 'success' in the audit file always means the change is stored."""
    name = unique("proj")
    admin.project(name=name)
    duplicate = admin.post("/v3/projects", json={"project": {"name": name}})
    assert duplicate.status_code == 409
    assert _of(server, duplicate) == []

    password = unique("pw")
    member, project = admin.member_of_new_project(password)
    with Api.login(server.url, member["name"], password,
                   scope=project_scope(project["name"])) as api:
        denied = api.post("/v3/projects", json={"project": {"name": unique("proj")}})
    assert denied.status_code == 403
    assert _of(server, denied) == []

    missing = admin.delete(f"/v3/users/{'0' * 32}")
    assert missing.status_code == 404
    assert _of(server, missing) == []


def test_no_password_or_token_reaches_the_audit_file(
    server: Server, anonymous: httpx.Client, admin: Api
) -> None:
    """After logins (good and bad), a re-scope, a password change and a revocation, the
    audit file holds none of the passwords or tokens involved."""
    first, second = unique("pw-first"), unique("pw-second")
    user, project = admin.member_of_new_project(first)
    issued = anonymous.post("/v3/auth/tokens", json=password_auth(
        user["name"], first, scope=project_scope(project["name"])))
    token = issued.headers["X-Subject-Token"]
    rescoped = anonymous.post("/v3/auth/tokens", json={"auth": {
        "identity": {"methods": ["token"], "token": {"id": token}}}})
    assert rescoped.status_code == 201
    assert anonymous.post("/v3/auth/tokens",
                          json=password_auth(user["name"], "wrong-" + first)).status_code == 401
    assert admin.delete("/v3/auth/tokens",
                        headers={"X-Subject-Token": token}).status_code == 204
    assert anonymous.post(f"/v3/users/{user['id']}/password", json={"user": {
        "original_password": first, "password": second}}).status_code == 204
    text = (server.state_dir / "audit.log").read_text()
    for secret in (first, second, "wrong-" + first, ADMIN_PASSWORD, token, admin.token,
                   rescoped.headers["X-Subject-Token"]):
        assert secret not in text
    assert "password\": \"" not in text


def test_audit_records_stay_out_of_the_operational_log(server: Server, admin: Api) -> None:
    """The operational log holds catalog events only, never a CADF record; the audit file
    holds CADF records only, never a log line."""
    admin.project()
    assert "schemas.dmtf.org/cloud/audit" not in server.log_text()
    for record in _audit(server):
        assert record["typeURI"] == CADF_EVENT and "event" not in record
        assert record["outcome"] in ("success", "failure")


def test_bootstrap_changes_are_audited_with_the_command_as_their_path(server: Server) -> None:
    """`sevres bootstrap` (run by `sevres run` at start) leaves one record per entity it
    created, with the command as the request path and the local user as the agent."""
    records = [json.loads(line) for line in
               (server.state_dir / "audit.log").read_text().splitlines()]
    booted = [r for r in records if r["requestPath"] == "sevres bootstrap"]
    actions = sorted(r["action"] for r in booted)
    assert actions.count("created.role") == 5
    assert {"created.domain", "created.project", "created.user", "created.region",
            "created.service", "created.implied_role", "created.role_assignment"} <= set(actions)
    assert actions.count("created.endpoint") == 3
    assert all(r["outcome"] == "success" for r in booted)
    assert all("sevres-cli" in r["initiator"]["host"]["agent"] for r in booted)
