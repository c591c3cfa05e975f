"""/v3/users/{user_id}/application_credentials and /access_rules against a live server:
Keystone's shapes (the secret shown once), roles limited to the creating token's, expiry,
names unique per user, who may see and delete whose, access rules shared and protected
while in use, and the credentials' end with their user (deleted or disabled)."""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from tests.factories import Api, error, password_auth, project_scope, unique
from tests.server import Server

# As Keystone: access_rules appears only when the credential has rules.
KEYS = {"id", "name", "description", "user_id", "project_id", "system", "expires_at",
        "unrestricted", "roles", "links"}
RULE = {"service": "compute", "path": "/v2.1/servers", "method": "GET"}
UNASSIGNED = ("Invalid application credential: Cannot create an application credential "
              "with unassigned role")


@dataclass
class Member:
    """A user holding member (so reader too) on a project, with a token scoped to it."""

    api: Api
    user: dict[str, Any]
    project: dict[str, Any]
    password: str

    @property
    def creds(self) -> str:
        return f"/v3/users/{self.user['id']}/application_credentials"

    @property
    def rules(self) -> str:
        return f"/v3/users/{self.user['id']}/access_rules"


def _member(server: Server, admin: Api) -> Member:
    password = unique("Pa55-word")
    user, project = admin.member_of_new_project(password)
    api = Api.login(server.url, user["name"], password, scope=project_scope(project["name"]))
    return Member(api, user, project, password)


@pytest.fixture
def alice(server: Server, admin: Api) -> Iterator[Member]:
    member = _member(server, admin)
    with member.api:
        yield member


@pytest.fixture
def bob(server: Server, admin: Api) -> Iterator[Member]:
    member = _member(server, admin)
    with member.api:
        yield member


def _role_names(cred: dict[str, Any]) -> set[str]:
    return {r["name"] for r in cred["roles"]}


def _create(member: Member, **attrs: Any) -> httpx.Response:
    return member.api.post(member.creds, json={"application_credential": attrs})


def _count(server: Server, table: str, column: str, value: str) -> int:
    """Rows of ``table`` whose ``column`` is ``value``, read from the server's database."""
    engine = sa.create_engine(server.env["SEVRES_DATABASE_URL"])
    try:
        with engine.connect() as connection:
            query = sa.text(f"SELECT COUNT(*) FROM {table} WHERE {column} = :v")  # noqa: S608
            return int(connection.execute(query, {"v": value}).scalar_one())
    finally:
        engine.dispose()


# -- create, show, list ----------------------------------------------------------------
def test_create_shows_the_secret_once(alice: Member) -> None:
    """POST answers 201 with Location and Keystone's keys plus the generated secret (86
    URL-safe characters: 64 random bytes); GET and the list never show it again."""
    response = _create(alice, name="backup")
    assert response.status_code == 201, response.text
    cred = response.json()["application_credential"]
    assert set(cred) == KEYS | {"secret"}
    secret = cred.pop("secret")
    assert len(secret) == 86 and secret.replace("-", "").replace("_", "").isalnum()
    assert cred["user_id"] == alice.user["id"]
    assert cred["project_id"] == alice.project["id"]
    assert cred["links"]["self"].endswith(f"{alice.creds}/{cred['id']}")
    assert response.headers["Location"] == cred["links"]["self"]
    shown = alice.api.get(response.headers["Location"])
    assert shown.status_code == 200, shown.text
    assert shown.json() == {"application_credential": cred}
    listed = alice.api.get(alice.creds)
    assert listed.json()["application_credentials"] == [cred]
    assert secret not in shown.text + listed.text


def test_defaults_and_a_given_secret(alice: Member) -> None:
    """By default a credential carries every role of the creating token (member and the
    reader it implies), never expires, is restricted, and has no access rules; a secret
    given is the one kept and echoed."""
    cred = alice.api.app_cred(alice.user["id"], secret="my-own-secret")
    assert cred["secret"] == "my-own-secret"
    assert _role_names(cred) == {"member", "reader"}
    assert all({"id", "name", "domain_id", "links"} <= set(r) and r["domain_id"] is None
               for r in cred["roles"])
    assert (cred["description"], cred["expires_at"], cred["unrestricted"],
            cred["system"], cred.get("access_rules")) == (None, None, False, None, None)


def test_roles_are_a_subset_of_the_tokens(alice: Member, admin: Api) -> None:
    """Roles may be named by id or by name, only among the token's; a role the token
    lacks is 400 (Keystone's wording), an unknown role name 404."""
    reader = admin.role_id("reader")
    by_name = alice.api.app_cred(alice.user["id"], roles=[{"name": "reader"}])
    assert [r["id"] for r in by_name["roles"]] == [reader]
    by_id = alice.api.app_cred(alice.user["id"], roles=[{"id": reader}, {"name": "reader"}])
    assert [r["id"] for r in by_id["roles"]] == [reader]
    assert error(_create(alice, name=unique("ac"), roles=[{"name": "admin"}]), 400) == UNASSIGNED
    assert error(_create(alice, name=unique("ac"), roles=[{"id": admin.role_id("admin")}]),
                 400) == UNASSIGNED
    assert error(_create(alice, name=unique("ac"), roles=[{"id": "f" * 32}]), 400) == UNASSIGNED
    assert error(_create(alice, name=unique("ac"), roles=[{"name": "no-such-role"}]),
                 404) == "Role no-such-role is not defined"
    both = alice.api.app_cred(alice.user["id"], roles=[{"name": "reader"}, {"name": "member"}],
                              access_rules=[RULE, {**RULE, "method": "DELETE"}])
    shown = alice.api.get(f"{alice.creds}/{both['id']}").json()["application_credential"]
    assert shown == {k: v for k, v in both.items() if k != "secret"}


def test_expiry_must_be_a_future_timestamp(alice: Member) -> None:
    """expires_at is ISO 8601 (Z optional), shown as Keystone shows it; a past or
    unreadable one is 400 with Keystone's messages."""
    cred = alice.api.app_cred(alice.user["id"], expires_at="2999-01-02T03:04:05Z")
    assert cred["expires_at"] == "2999-01-02T03:04:05.000000"
    offset = alice.api.app_cred(alice.user["id"], expires_at="2999-01-02T03:04:05+01:00")
    assert offset["expires_at"] == "2999-01-02T02:04:05.000000"
    past = (datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=1)).isoformat()
    assert error(_create(alice, name=unique("ac"), expires_at=past), 400).startswith(
        "The 'expires_at' must not be before now.")
    for unreadable in ("next tuesday", "9999-12-31T23:59:59-01:00"):
        assert error(_create(alice, name=unique("ac"), expires_at=unreadable),
                     400).startswith("Timestamp not in expected format.")


def test_names_are_unique_per_user(alice: Member, bob: Member) -> None:
    """A second credential of the same name is 409 with Keystone's message; another user
    may use the name."""
    name = unique("ac")
    alice.api.app_cred(alice.user["id"], name=name)
    assert error(_create(alice, name=name), 409) == (
        "Conflict occurred attempting to store application_credential - Duplicate entry "
        f"found with name {name}.")
    bob.api.app_cred(bob.user["id"], name=name)


def test_list_filters_by_name(alice: Member) -> None:
    """GET lists the user's credentials by name; ?name= keeps the exact match."""
    assert alice.api.get(alice.creds).json()["application_credentials"] == []
    first = alice.api.app_cred(alice.user["id"], name="first")
    alice.api.app_cred(alice.user["id"], name="second")
    listed = alice.api.get(alice.creds).json()
    assert [c["name"] for c in listed["application_credentials"]] == ["first", "second"]
    assert listed["links"]["self"].endswith(alice.creds)
    found = alice.api.get(alice.creds, params={"name": "first"}).json()
    assert [c["id"] for c in found["application_credentials"]] == [first["id"]]
    assert alice.api.get(alice.creds, params={"name": "third"}).json()[
        "application_credentials"] == []


def test_get_head_and_delete(alice: Member) -> None:
    """HEAD answers like GET; DELETE is 204, then the credential is 404 for both."""
    cred = alice.api.app_cred(alice.user["id"])
    url = f"{alice.creds}/{cred['id']}"
    assert alice.api.head(url).status_code == 200
    assert alice.api.delete(url).status_code == 204
    assert error(alice.api.get(url), 404) == f"Could not find Application Credential: {cred['id']}."
    assert alice.api.head(url).status_code == 404
    assert error(alice.api.delete(url), 404).startswith("Could not find Application Credential")
    assert alice.api.patch(url, json={"application_credential": {"name": "x"}}
                           ).status_code == 405


def test_delete_records_a_revocation_event(alice: Member, server: Server) -> None:
    """Deleting a credential writes a revocation event naming it, so that tokens issued
    for it stop working at once."""
    cred = alice.api.app_cred(alice.user["id"])
    assert alice.api.delete(f"{alice.creds}/{cred['id']}").status_code == 204
    assert _count(server, "revocation_event", "app_cred_id", cred["id"]) == 1


def test_audited_and_the_secret_never_written(alice: Member, server: Server) -> None:
    """Create and delete are audited (Keystone's CADF target type for a credential); the
    secret appears in neither the audit file nor the operational log."""
    response = _create(alice, name=unique("ac"), secret="very-secret-" + unique("s"))
    assert response.status_code == 201, response.text
    cred = response.json()["application_credential"]
    deleted = alice.api.delete(f"{alice.creds}/{cred['id']}")
    assert deleted.status_code == 204
    audit = (server.state_dir / "audit.log").read_text()
    records = [json.loads(line) for line in audit.splitlines()]
    for answer, action in ((response, "created"), (deleted, "deleted")):
        mine = [r for r in records
                if r["request_id"] == answer.headers["X-OpenStack-Request-ID"]]
        assert [(r["action"], r["target"]) for r in mine] == [
            (f"{action}.application_credential",
             {"typeURI": "data/security/credential", "id": cred["id"]})]
    assert cred["secret"] not in audit
    assert cred["secret"] not in server.log_text()


# -- who may do what -------------------------------------------------------------------
def test_another_users_credentials_are_refused(alice: Member, bob: Member) -> None:
    """Bob may neither list, create, read nor delete Alice's credentials: 403 through
    her URL, and through his own URL with her credential's id (policy judges the owner)."""
    cred = alice.api.app_cred(alice.user["id"])
    mine = f"{alice.creds}/{cred['id']}"
    via_bob = f"{bob.creds}/{cred['id']}"
    assert bob.api.get(alice.creds).status_code == 403
    assert bob.api.post(alice.creds, json={"application_credential": {"name": "x"}}
                        ).status_code == 403
    for url in (mine, via_bob):
        assert bob.api.get(url).status_code == 403
        assert bob.api.delete(url).status_code == 403
    assert alice.api.get(mine).status_code == 200
    # Bob's own URL with an id that names nothing: his to know about, so 404.
    assert bob.api.get(f"{bob.creds}/{'0' * 32}").status_code == 404


def test_admin_reads_and_deletes_but_never_creates_for_others(alice: Member,
                                                              admin: Api) -> None:
    """The cloud admin may list, read and delete anyone's credentials but not create one
    for them (Keystone: only the owner creates: 403); a credential under another user's
    URL is 404."""
    cred = alice.api.app_cred(alice.user["id"])
    url = f"{alice.creds}/{cred['id']}"
    assert [c["id"] for c in admin.get(alice.creds).json()["application_credentials"]] == [
        cred["id"]]
    assert admin.get(url).status_code == 200
    admin_creds = f"/v3/users/{admin.body['user']['id']}/application_credentials"
    assert admin.get(f"{admin_creds}/{cred['id']}").status_code == 404
    assert error(admin.post(alice.creds, json={"application_credential": {"name": "x"}}),
                 403).startswith("You are not authorized to perform the requested action")
    assert admin.delete(url).status_code == 204


def test_system_reader_reads_but_may_not_delete_or_create(
    server: Server, admin: Api, alice: Member
) -> None:
    """A system reader lists and reads any credential and access rule, deletes none, and
    a system-scoped token creates none (create is project-scoped only)."""
    password = unique("Pa55-word")
    reader = admin.user(password=password)
    put = admin.put(f"/v3/system/users/{reader['id']}/roles/{admin.role_id('reader')}")
    assert put.status_code == 204, put.text
    cred = alice.api.app_cred(alice.user["id"], access_rules=[RULE])
    rule_id = cred["access_rules"][0]["id"]
    with Api.login(server.url, reader["name"], password, scope={"system": {"all": True}}) as sr:
        assert sr.get(alice.creds).status_code == 200
        assert sr.get(f"{alice.creds}/{cred['id']}").status_code == 200
        assert sr.get(f"{alice.rules}/{rule_id}").status_code == 200
        assert sr.delete(f"{alice.creds}/{cred['id']}").status_code == 403
        assert sr.delete(f"{alice.rules}/{rule_id}").status_code == 403
        own = f"/v3/users/{reader['id']}/application_credentials"
        assert sr.post(own, json={"application_credential": {"name": "x"}}).status_code == 403


def test_an_unscoped_token_creates_nothing(server: Server, alice: Member) -> None:
    """A credential is bound to the creating token's project: an unscoped token may
    not create one (403)."""
    with httpx.Client(base_url=server.url, timeout=30) as client:
        login = client.post("/v3/auth/tokens", json=password_auth(
            alice.user["name"], alice.password, scope="unscoped"))
        assert login.status_code == 201, login.text
        response = client.post(alice.creds, json={"application_credential": {"name": "x"}},
                               headers={"X-Auth-Token": login.headers["X-Subject-Token"]})
    assert response.status_code == 403


# -- access rules ----------------------------------------------------------------------
def test_access_rules_are_shared_listed_and_kept_while_in_use(alice: Member) -> None:
    """An access rule given by service, path and method is created once and reused by
    later credentials (by the same triplet or by id); the user's rules are listed and
    shown; deleting one in use is 403, and 204 once no credential names it."""
    first = alice.api.app_cred(alice.user["id"], access_rules=[RULE, RULE])
    assert len(first["access_rules"]) == 1
    rule = first["access_rules"][0]
    assert {k: rule[k] for k in RULE} == RULE
    again = alice.api.app_cred(alice.user["id"], access_rules=[RULE])
    by_id = alice.api.app_cred(alice.user["id"], access_rules=[{"id": rule["id"]}])
    assert again["access_rules"] == by_id["access_rules"] == [rule]

    listed = alice.api.get(alice.rules).json()
    assert [r["id"] for r in listed["access_rules"]] == [rule["id"]]
    shown = alice.api.get(f"{alice.rules}/{rule['id']}").json()["access_rule"]
    assert shown == {**rule, "links": shown["links"]}
    assert shown["links"]["self"].endswith(f"{alice.rules}/{rule['id']}")
    assert alice.api.get(alice.rules, params={"service": "image"}).json()["access_rules"] == []

    url = f"{alice.rules}/{rule['id']}"
    assert error(alice.api.delete(url), 403) == "May not delete access rule in use"
    for cred in (first, again, by_id):
        assert alice.api.delete(f"{alice.creds}/{cred['id']}").status_code == 204
    assert alice.api.delete(url).status_code == 204
    assert error(alice.api.get(url), 404) == f"Could not find Access Rule: {rule['id']}."


def test_access_rules_are_the_users_own(alice: Member, bob: Member) -> None:
    """A rule id that is not one of the user's is refused (400) in a create, and Bob
    neither sees nor deletes Alice's rule, through any URL."""
    rule = alice.api.app_cred(alice.user["id"], access_rules=[RULE])["access_rules"][0]
    assert error(_create(bob, name=unique("ac"), access_rules=[{"id": rule["id"]}]),
                 400).startswith("Invalid application credential")
    assert error(_create(bob, name=unique("ac"), access_rules=[{"id": "f" * 32}]),
                 400).startswith("Invalid application credential")
    assert bob.api.get(f"{alice.rules}/{rule['id']}").status_code == 403
    assert bob.api.get(f"{bob.rules}/{rule['id']}").status_code == 404
    assert bob.api.delete(f"{bob.rules}/{rule['id']}").status_code == 404
    assert bob.api.get(alice.rules).status_code == 403


# -- the end of a user -----------------------------------------------------------------
def test_deleting_a_user_deletes_their_credentials(alice: Member, admin: Api,
                                                   server: Server) -> None:
    """With the user go their credentials and access rules (which only a system reader
    or the user could list: the database tells)."""
    cred = alice.api.app_cred(alice.user["id"], access_rules=[RULE])
    assert _count(server, "access_rule", "user_id", alice.user["id"]) == 1
    assert admin.delete(f"/v3/users/{alice.user['id']}").status_code == 204
    assert admin.get(alice.creds).json()["application_credentials"] == []
    assert admin.get(f"{alice.creds}/{cred['id']}").status_code == 404
    assert _count(server, "access_rule", "user_id", alice.user["id"]) == 0
    assert _count(server, "application_credential_role", "application_credential_id",
                  cred["id"]) == 0


def test_disabling_a_user_deletes_their_credentials(alice: Member, admin: Api,
                                                    server: Server) -> None:
    """As in Keystone, disabling a user deletes their credentials and access rules
    (re-enabling does not bring them back)."""
    alice.api.app_cred(alice.user["id"], access_rules=[RULE])
    user_url = f"/v3/users/{alice.user['id']}"
    assert admin.patch(user_url, json={"user": {"enabled": False}}).status_code == 200
    assert admin.patch(user_url, json={"user": {"enabled": True}}).status_code == 200
    assert admin.get(alice.creds).json()["application_credentials"] == []
    assert _count(server, "access_rule", "user_id", alice.user["id"]) == 0


def test_deleting_a_role_or_the_project_cleans_up(server: Server, admin: Api,
                                                  alice: Member) -> None:
    """A deleted role leaves the credentials that carried it; a deleted project takes
    its credentials with it."""
    role = admin.role()
    admin.grant(alice.project["id"], alice.user["id"], role["id"])
    with Api.login(server.url, alice.user["name"], alice.password,
                   scope=project_scope(alice.project["name"])) as fresh:
        cred = fresh.app_cred(alice.user["id"], roles=[{"id": role["id"]}, {"name": "member"}])
    assert _role_names(cred) == {role["name"], "member", "reader"}  # member implies reader
    url = f"{alice.creds}/{cred['id']}"
    assert admin.delete(f"/v3/roles/{role['id']}").status_code == 204
    assert _role_names(admin.get(url).json()["application_credential"]) == {"member", "reader"}
    assert admin.delete(f"/v3/projects/{alice.project['id']}").status_code == 204
    assert admin.get(url).status_code == 404
    assert _count(server, "application_credential", "project_id", alice.project["id"]) == 0


# -- bad requests ----------------------------------------------------------------------
@pytest.mark.parametrize(("body", "message"), [
    ({}, "Expecting to find application_credential in request body."),
    ({"application_credential": "x"}, "Invalid input for field 'application_credential'"),
    ({"application_credential": {}}, "'name' is a required property"),
    ({"application_credential": {"name": ""}}, "Invalid input for field 'name'"),
    ({"application_credential": {"name": "n", "unrestricted": "yes"}},
     "Invalid input for field 'unrestricted'"),
    ({"application_credential": {"name": "n", "roles": [{"id": "a", "name": "b"}]}},
     "Invalid input for field 'roles/0'"),
    ({"application_credential": {"name": "n", "roles": [{}]}},
     "Invalid input for field 'roles/0'"),
    ({"application_credential": {"name": "n", "expires_at": 5}},
     "Invalid input for field 'expires_at'"),
    ({"application_credential": {"name": "n", "access_rules": [{**RULE, "method": "FETCH"}]}},
     "Invalid input for field 'access_rules/0/method'"),
    ({"application_credential": {"name": "n", "access_rules": [{**RULE, "path": "servers"}]}},
     "Invalid input for field 'access_rules/0/path'"),
    ({"application_credential": {"name": "n", "access_rules": [{**RULE, "x": 1}]}},
     "Invalid input for field 'access_rules/0'"),
    ({"application_credential": {"name": "n", "access_rules": [{"service": "compute"}]}},
     "Invalid input for field 'access_rules'"),
])
def test_bad_bodies_are_400(alice: Member, body: dict[str, Any], message: str) -> None:
    """Malformed creates are refused with Keystone's error body, naming the field."""
    assert error(alice.api.post(alice.creds, json=body), 400).startswith(message)
