"""GET /v3/OS-REVOKE/events lists revocation events as Keystone's OS-REVOKE API does."""

from __future__ import annotations

import datetime
from typing import Any

from tests.factories import Api, error
from tests.server import ADMIN_PASSWORD, Server

PASSWORD = "member-Pa55word"


def events(admin: Api, **params: str) -> list[dict[str, Any]]:
    response = admin.get("/v3/OS-REVOKE/events", params=params)
    assert response.status_code == 200, response.text
    return list(response.json()["events"])


def test_a_revoked_token_and_a_disabled_user_are_listed(admin: Api, server: Server) -> None:
    start = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=1)
    with Api.login(server.url, "admin", ADMIN_PASSWORD) as other:
        audit_id = other.body["audit_ids"][0]
        assert admin.delete("/v3/auth/tokens", headers={"X-Subject-Token": other.token}
                            ).status_code == 204
    user, _ = admin.member_of_new_project(PASSWORD)
    assert admin.patch(f"/v3/users/{user['id']}", json={"user": {"enabled": False}}
                       ).status_code == 200
    recent = events(admin, since=start.strftime("%Y-%m-%dT%H:%M:%SZ"))
    by_audit = [e for e in recent if e.get("audit_id") == audit_id]
    by_user = [e for e in recent if e.get("user_id") == user["id"]]
    assert len(by_audit) == 1 and len(by_user) == 1
    for event in by_audit + by_user:
        assert event["issued_before"].endswith("Z") and event["revoked_at"].endswith("Z")
    assert all(e["revoked_at"] >= start.strftime("%Y-%m-%dT%H:%M:%S") for e in recent)
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=5)
    assert events(admin, since=later.isoformat()) == []


def test_only_services_and_admins_may_list(admin: Api, server: Server) -> None:
    user, project = admin.member_of_new_project(PASSWORD)
    with Api.login(server.url, user["name"], PASSWORD,
                   scope={"project": {"id": project["id"]}}) as member:
        response = member.get("/v3/OS-REVOKE/events")
        assert error(response, 403)


def test_a_bad_since_is_400(admin: Api) -> None:
    response = admin.get("/v3/OS-REVOKE/events", params={"since": "yesterday"})
    assert "since" in error(response, 400)
