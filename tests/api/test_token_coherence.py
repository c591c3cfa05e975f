"""Two nodes on one database, as two regions' API nodes are: tokens need no replication,
keys travel through the database, and a change made on one node (a revocation, a removed
role, a rotation) is enforced on the other within the staleness bound, and at once on
the node that made it, whichever of its workers answers."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import backends
from tests.factories import Api, password_auth, unique
from tests.server import ADMIN_PASSWORD, Server, start

STALENESS_MS = 300
# The bound the test holds the other node to: the staleness, plus the poll's own period
# and a loaded CI machine's scheduling delays.
BOUND_S = STALENESS_MS / 1000 * 2 + 1.5


@dataclass
class Pair:
    a: Server
    b: Server
    admin_a: Api
    admin_b: Api


@pytest.fixture(scope="module")
def pair(backend_name: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    root = tmp_path_factory.mktemp(f"pair-{backend_name}")
    backend = backends.create(backend_name, root / "a")
    a = start(root / "a", backend.url, workers=2, SEVRES_CACHE_STALENESS_MS=str(STALENESS_MS))
    master_key = (root / "a" / "master.key").read_text().strip()
    b = start(root / "b", backend.url, workers=1, SEVRES_CACHE_STALENESS_MS=str(STALENESS_MS),
              SEVRES_MASTER_KEY=master_key)
    admin_a = Api.login(a.url, "admin", ADMIN_PASSWORD)
    admin_b = Api(base_url=b.url, timeout=30, headers={"X-Auth-Token": admin_a.token})
    admin_b.token = admin_a.token
    try:
        yield Pair(a, b, admin_a, admin_b)
    finally:
        admin_a.close()
        admin_b.close()
        b.stop()
        a.stop()
        backend.drop()


def validate(api: Api, token: str) -> int:
    return api.get("/v3/auth/tokens", headers={"X-Subject-Token": token}).status_code


def issue(url: str, name: str, password: str, project_id: str) -> str:
    with Api(base_url=url, timeout=30) as client:
        response = client.post("/v3/auth/tokens", json=password_auth(
            name, password, scope={"project": {"id": project_id}}))
        assert response.status_code == 201, response.text
        return response.headers["X-Subject-Token"]


def until(check: object, timeout_s: float) -> float:
    """Seconds until ``check()`` is true (polling fast); fails after ``timeout_s``."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if check():  # type: ignore[operator]
            return time.monotonic() - started
        time.sleep(0.01)
    pytest.fail(f"not true within {timeout_s} s")


def member(pair: Pair) -> tuple[dict[str, str], dict[str, str], str]:
    password = "member-Pa55word"
    user, project = pair.admin_a.member_of_new_project(password)
    return user, project, password


def test_a_token_from_one_node_validates_on_the_other(pair: Pair) -> None:
    user, project, password = member(pair)
    token = issue(pair.a.url, user["name"], password, project["id"])
    assert validate(pair.admin_b, token) == 200
    token_b = issue(pair.b.url, user["name"], password, project["id"])
    assert validate(pair.admin_a, token_b) == 200


def test_revocation_is_immediate_here_and_bounded_there(pair: Pair) -> None:
    user, project, password = member(pair)
    token = issue(pair.a.url, user["name"], password, project["id"])
    for api in (pair.admin_a, pair.admin_b):  # both nodes hold it in memory now
        for _ in range(4):
            assert validate(api, token) == 200
    response = pair.admin_a.delete("/v3/auth/tokens", headers={"X-Subject-Token": token})
    assert response.status_code == 204
    # On the node that revoked it, every answer from now on, from either worker.
    assert [validate(pair.admin_a, token) for _ in range(12)] == [404] * 12
    delay = until(lambda: validate(pair.admin_b, token) == 404, BOUND_S)
    print(f"\nrevocation reached the other node after {delay * 1000:.0f} ms "
          f"(staleness {STALENESS_MS} ms)")
    assert [validate(pair.admin_b, token) for _ in range(4)] == [404] * 4


def test_a_removed_role_stops_working_on_both_nodes(pair: Pair) -> None:
    user, project, password = member(pair)
    token = issue(pair.a.url, user["name"], password, project["id"])
    assert validate(pair.admin_b, token) == 200
    member_role = pair.admin_a.role_id("member")
    response = pair.admin_a.delete(
        f"/v3/projects/{project['id']}/users/{user['id']}/roles/{member_role}")
    assert response.status_code == 204
    assert [validate(pair.admin_a, token) for _ in range(6)] == [404] * 6
    until(lambda: validate(pair.admin_b, token) == 404, BOUND_S)


def test_disabling_a_user_revokes_their_tokens_for_good(pair: Pair) -> None:
    """As Keystone: re-enabling the user does not bring back tokens issued before."""
    user, project, password = member(pair)
    token = issue(pair.a.url, user["name"], password, project["id"])
    assert validate(pair.admin_b, token) == 200
    path = f"/v3/users/{user['id']}"
    assert pair.admin_a.patch(path, json={"user": {"enabled": False}}).status_code == 200
    until(lambda: validate(pair.admin_b, token) == 404, BOUND_S)
    assert pair.admin_a.patch(path, json={"user": {"enabled": True}}).status_code == 200
    time.sleep(BOUND_S)
    assert validate(pair.admin_a, token) == 404
    assert validate(pair.admin_b, token) == 404
    assert validate(pair.admin_b, issue(pair.a.url, user["name"], password,
                                        project["id"])) == 200


def sevres_cli(server: Server, *args: str) -> subprocess.CompletedProcess[str]:
    sevres = str(Path(sys.executable).parent / "sevres")
    return subprocess.run([sevres, *args], env=server.env, capture_output=True, text=True,
                          timeout=60, check=False)


def test_a_rotation_reaches_both_nodes_and_rejects_no_token(pair: Pair) -> None:
    user, project, password = member(pair)
    before = [issue(url, user["name"], password, project["id"])
              for url in (pair.a.url, pair.b.url)]
    rotated = sevres_cli(pair.a, "keys", "rotate", "--provider", "fernet")
    assert rotated.returncode == 0, rotated.stderr
    time.sleep(BOUND_S)
    after = [issue(url, user["name"], password, project["id"])
             for url in (pair.a.url, pair.b.url)]
    for api in (pair.admin_a, pair.admin_b):
        for token in before + after:
            assert validate(api, token) == 200
    # Two more rotations: the key that signed `before` is now only a secondary key.
    for _ in range(2):
        assert sevres_cli(pair.a, "keys", "rotate", "--provider", "fernet").returncode == 0
    time.sleep(BOUND_S)
    for api in (pair.admin_a, pair.admin_b):
        for token in before + after:
            assert validate(api, token) == 200


def test_a_node_with_another_master_key_refuses_to_start(
        pair: Pair, tmp_path: Path) -> None:
    url = pair.a.env["SEVRES_DATABASE_URL"]
    with pytest.raises(RuntimeError, match="master key"):
        start(tmp_path / "c", url, SEVRES_MASTER_KEY="A" * 43 + "=")


def test_allow_expired_only_within_the_window(pair: Pair) -> None:
    """Expired tokens (sealed with the deployment's key; the shortest lifetime is a
    minute) validate with ?allow_expired=1 inside the window, never without it."""
    from sevres.tokens import payload as codec
    from tests.api.test_token_fuzz import deployment_ring  # the deployment's own keys

    ring = deployment_ring(pair.a)
    user_id, project_id = pair.admin_a.body["user"]["id"], pair.admin_a.body["project"]["id"]
    now = int(time.time() * 1000)

    def sealed(expired_ago_ms: int) -> str:
        return codec.encode(codec.Payload(
            user_id=user_id, methods=("password",), scope=codec.ScopeKind.PROJECT,
            scope_id=project_id, issued_ms=now - expired_ago_ms - 3_600_000,
            expires_ms=now - expired_ago_ms, audit_ids=(codec.new_audit_id(),)), ring)

    recent, ancient = sealed(60_000), sealed(3 * 24 * 3600 * 1000)
    for api in (pair.admin_a, pair.admin_b):
        assert validate(api, recent) == 404
        allowed = api.get("/v3/auth/tokens", params={"allow_expired": "1"},
                          headers={"X-Subject-Token": recent})
        assert allowed.status_code == 200, allowed.text
        assert allowed.json()["token"]["user"]["id"] == user_id
        assert api.get("/v3/auth/tokens", params={"allow_expired": "1"},
                       headers={"X-Subject-Token": ancient}).status_code == 404
        # An expired token is never accepted to authenticate a request.
        assert api.get("/v3/projects", headers={"X-Auth-Token": recent}).status_code == 401


def test_nocatalog_leaves_out_only_the_catalog(pair: Pair) -> None:
    token = pair.admin_a.token
    full = pair.admin_b.get("/v3/auth/tokens", headers={"X-Subject-Token": token}).json()
    bare = pair.admin_b.get("/v3/auth/tokens", params={"nocatalog": ""},
                            headers={"X-Subject-Token": token}).json()
    assert "catalog" in full["token"]
    assert set(full["token"]) - set(bare["token"]) == {"catalog"}


def test_a_new_project_role_is_seen_by_a_cached_token(pair: Pair) -> None:
    """A token validated (and so held in memory) before a grant shows the new role after
    it, on both nodes."""
    user, project, password = member(pair)
    token = issue(pair.a.url, user["name"], password, project["id"])

    def roles(api: Api) -> set[str]:
        body = api.get("/v3/auth/tokens", headers={"X-Subject-Token": token}).json()
        return {r["name"] for r in body["token"]["roles"]}

    assert "manager" not in roles(pair.admin_b)
    role = pair.admin_a.role(name=unique("extra"))
    pair.admin_a.grant(project["id"], user["id"], role["id"])
    assert role["name"] in roles(pair.admin_a)
    until(lambda: role["name"] in roles(pair.admin_b), BOUND_S)
