"""What the live server logs: only catalog events, each request under its id, and never a
password, a token or a key."""

from __future__ import annotations

import json
import time

import httpx

from sevres.log.events import CATALOG
from tests.factories import Api, password_auth, project_scope, unique
from tests.server import ADMIN_PASSWORD, Server


def _records(server: Server) -> list[dict[str, object]]:
    records = []
    for line in server.log_text().splitlines():
        if line.startswith("{"):
            records.append(json.loads(line))
    return records


def test_secrets_never_reach_the_log(server: Server, admin: Api) -> None:
    """After logins, password changes, validations and revocations, the log holds none of
    the passwords, tokens or the master key involved."""
    first, second = unique("pw-first"), unique("pw-second")
    user = admin.user(password=first)
    project = admin.project()
    admin.grant(project["id"], user["id"], admin.role_id("member"))
    issued = admin.post("/v3/auth/tokens", json=password_auth(
        user["name"], first, scope=project_scope(project["name"])))
    token = issued.headers["X-Subject-Token"]
    assert admin.get("/v3/auth/tokens", headers={"X-Subject-Token": token}).status_code == 200
    bad = admin.post("/v3/auth/tokens", json=password_auth(user["name"], "wrong-" + first))
    assert bad.status_code == 401
    change = admin.post(f"/v3/users/{user['id']}/password",
                        json={"user": {"original_password": first, "password": second}})
    assert change.status_code == 204
    assert admin.get("/v3/auth/tokens", headers={"X-Subject-Token": token}).status_code == 404
    time.sleep(0.2)  # let the server flush its last lines
    text = server.log_text()
    master_key = (server.state_dir / "master.key").read_text().strip()
    for secret in (first, second, "wrong-" + first, ADMIN_PASSWORD, token, admin.token,
                   master_key):
        assert secret not in text
    assert any(r["event"] == "auth.failed" for r in _records(server))
    assert any(r["event"] == "identity.password_changed" for r in _records(server))


def test_every_line_is_a_catalog_event_and_requests_carry_their_id(
    server: Server, anonymous: httpx.Client
) -> None:
    """Each JSON line names a catalog event at its declared level; a request's lines carry
    the id returned to the caller in X-OpenStack-Request-ID."""
    response = anonymous.get("/v3/projects")
    request_id = response.headers["X-OpenStack-Request-ID"]
    time.sleep(0.2)
    records = _records(server)
    assert records
    for record in records:
        event = CATALOG[str(record["event"])]
        assert record["level"] == event.level.name
    mine = [r for r in records if r.get("request_id") == request_id]
    assert {r["event"] for r in mine} >= {"http.request", "http.client_error"}
    (handled,) = [r for r in mine if r["event"] == "http.request"]
    assert handled["status"] == 401 and handled["path"] == "/v3/projects"


def test_the_request_line_names_the_authenticated_caller(server: Server, admin: Api) -> None:
    """Once the token is validated, the caller's user and project ids ride the request's
    closing line too."""
    response = admin.get("/v3/domains")
    request_id = response.headers["X-OpenStack-Request-ID"]
    time.sleep(0.2)
    (line,) = [r for r in _records(server)
               if r.get("request_id") == request_id and r["event"] == "http.request"]
    assert line["user_id"] == admin.body["user"]["id"]
    assert line["project_id"] == admin.body["project"]["id"]


def test_global_request_id_is_taken_only_from_trusted_callers(
    server: Server, admin: Api, anonymous: httpx.Client
) -> None:
    """A trusted service (admin or service role) passing X-OpenStack-Request-ID makes it
    the line's global_request_id; sevres still answers with its own request id. The same
    header from an ordinary user is ignored."""
    incoming = "req-11111111-2222-3333-4444-555555555555"
    trusted = admin.get("/v3/domains", headers={"X-OpenStack-Request-ID": incoming})
    own = trusted.headers["X-OpenStack-Request-ID"]
    assert own != incoming and own.startswith("req-")
    user, project = admin.member_of_new_project()
    with Api.login(server.url, user["name"], "member-Pa55word",
                   scope={"project": {"id": project["id"]}}) as member:
        untrusted = member.get(f"/v3/users/{user['id']}",
                               headers={"X-OpenStack-Request-ID": incoming})
    time.sleep(0.2)
    records = {r["request_id"]: r for r in _records(server) if r["event"] == "http.request"}
    assert records[own]["global_request_id"] == incoming
    theirs = untrusted.headers["X-OpenStack-Request-ID"]
    assert records[theirs]["global_request_id"] == theirs


def test_every_line_carries_a_request_id_and_a_global_request_id(server: Server) -> None:
    """Start-up lines and request lines alike carry both ids, so any line can be traced."""
    records = _records(server)
    assert any(r["event"] == "server.worker_started" for r in records)
    for record in records:
        assert str(record["request_id"]).startswith("req-"), record
        assert str(record["global_request_id"]).startswith("req-"), record
