"""What the token layer calls on an application credential, on every database backend:
``authenticate`` (by id, or by name with its user; one 401 for every failure, 400 for a
malformed block), ``roles_of`` (the credential's roles its owner still holds), and the
refusal of tokens from restricted credentials to manage credentials."""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sevres import errors
from sevres.appcreds.models import AppCred
from sevres.appcreds.service import ApplicationCredentialService
from sevres.assignment.models import ActorKind, Assignment, TargetKind
from sevres.assignment.service import AssignmentService
from sevres.identity.models import User
from sevres.identity.passwords import PasswordHashing
from sevres.identity.service import IdentityService
from sevres.ids import new_id, utcnow
from sevres.resource.service import ResourceService
from sevres.storage import migrate
from sevres.storage.database import Database
from sevres.storage.repositories import Store
from tests import backends
from tests.factories import unique


@dataclass
class Env:
    database: Database
    resources: ResourceService
    identity: IdentityService
    assignments: AssignmentService
    appcreds: ApplicationCredentialService
    roles: dict[str, str]  # name -> id: member implies reader


@dataclass
class Owner:
    user: User
    domain: str
    project: str


@pytest.fixture(scope="module")
def env(backend_name: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    state: Path = tmp_path_factory.mktemp(f"appcreds-{backend_name}")
    backend = backends.create(backend_name, state)
    database = Database(backend.url, pool_size=2)
    try:
        migrate.upgrade(database.engine)
        hashing = PasswordHashing(time_cost=1, memory_kib=1024, parallelism=1)
        resources = ResourceService(5)
        assignments = AssignmentService(resources)
        with database.transaction() as tx:
            roles = {name: assignments.create_role(tx, {"name": unique(name)}).id
                     for name in ("member", "reader", "admin")}
            assignments.add_implication(tx, roles["member"], roles["reader"])
        yield Env(database, resources, IdentityService(hashing, resources), assignments,
                  ApplicationCredentialService(hashing, assignments), roles)
    finally:
        database.dispose()
        backend.drop()


@pytest.fixture
def owner(env: Env) -> Owner:
    """A user holding member (so reader) on a project of a domain of their own."""
    with env.database.transaction() as tx:
        domain = env.resources.create_domain(tx, {"name": unique("dom")})
        project = env.resources.create_project(tx, {"name": unique("proj")}, domain.id)
        user = env.identity.create_user(tx, {"name": unique("user")}, domain.id)
        env.assignments.grant(tx, env.assignments.make_grant(
            tx, ActorKind.USER, user.id, TargetKind.PROJECT, project.id, env.roles["member"]))
    return Owner(user, domain.id, project.id)


def _create(env: Env, owner: Owner, **attrs: Any) -> tuple[AppCred, str]:
    token_roles = {env.roles["member"], env.roles["reader"]}
    with env.database.transaction() as tx:
        return env.appcreds.create(tx, owner.user.id, owner.project, token_roles,
                                   {"name": unique("ac"), **attrs})


def _authenticate(env: Env, block: Any) -> tuple[User, AppCred]:
    with env.database.transaction(write=False) as tx:
        return env.appcreds.authenticate(tx, block)


def test_by_id_and_by_name_with_its_user(env: Env, owner: Owner) -> None:
    """The credential is found by id, or by name with its user named by id or by name
    in a domain named by id or name; the answer is the owner and the credential."""
    cred, secret = _create(env, owner)
    user = owner.user
    blocks = [
        {"id": cred.id, "secret": secret},
        {"id": cred.id, "secret": secret, "user": {"id": user.id}},
        {"name": cred.name, "secret": secret, "user": {"id": user.id}},
        {"name": cred.name, "secret": secret,
         "user": {"name": user.name, "domain": {"id": owner.domain}}},
    ]
    with env.database.transaction(write=False) as tx:
        domain_name = env.resources.get_domain(tx, owner.domain).name
    blocks.append({"name": cred.name, "secret": secret,
                   "user": {"name": user.name, "domain": {"name": domain_name}}})
    for block in blocks:
        found_user, found = _authenticate(env, block)
        assert (found_user.id, found) == (user.id, cred)
    assert set(cred.role_ids) == {env.roles["member"], env.roles["reader"]}


def test_every_failure_is_the_same_401(env: Env, owner: Owner) -> None:
    """A wrong, missing or non-string secret, an unknown id or name, a user named beside
    the id who is not the owner, or an unknown domain: the same Unauthorized."""
    cred, secret = _create(env, owner)
    with env.database.transaction() as tx:
        other = env.identity.create_user(tx, {"name": unique("other")}, owner.domain)
    for block in [
        {"id": cred.id, "secret": secret + "x"},
        {"id": cred.id},
        {"id": cred.id, "secret": 12},
        {"id": new_id(), "secret": secret},
        {"id": ["not", "a", "string"], "secret": secret},
        {"id": cred.id, "secret": secret, "user": {"id": other.id}},
        {"name": cred.name, "secret": secret, "user": {"id": other.id}},
        {"name": unique("ac"), "secret": secret, "user": {"id": owner.user.id}},
        {"name": cred.name, "secret": secret,
         "user": {"name": owner.user.name, "domain": {"name": unique("nodomain")}}},
    ]:
        with pytest.raises(errors.Unauthorized) as caught:
            _authenticate(env, block)
        assert caught.value.message == errors.Unauthorized().message


@pytest.mark.parametrize("block", [
    {"secret": "s"},
    "not a mapping",
    {"name": "n", "secret": "s"},
    {"name": "n", "secret": "s", "user": {}},
    {"name": "n", "secret": "s", "user": {"name": "u"}},
    {"name": "n", "secret": "s", "user": {"name": "u", "domain": {}}},
])
def test_a_malformed_block_is_400(env: Env, block: Any) -> None:
    """Neither id nor name, a name without a user, a user without an id or a name and
    domain: Keystone's 400, which says nothing about any credential."""
    with pytest.raises(errors.ValidationError):
        _authenticate(env, block)


def test_expired_credentials_and_disabled_owners_are_refused(env: Env, owner: Owner) -> None:
    """An expired credential (stored directly: the API refuses a past expiry), a
    disabled owner and an owner in a disabled domain are 401."""
    cred, secret = _create(env, owner, expires_at="2999-01-01T00:00:00Z")
    assert cred.expires_at == datetime.datetime(2999, 1, 1)
    _authenticate(env, {"id": cred.id, "secret": secret})
    expired = dataclasses.replace(cred, id=new_id(), name=unique("old"),
                                  expires_at=utcnow() - datetime.timedelta(seconds=1))
    with env.database.transaction() as tx:
        tx.appcreds.insert(expired, env.appcreds.hashing.hash(secret), utcnow())
    with pytest.raises(errors.Unauthorized):
        _authenticate(env, {"id": expired.id, "secret": secret})
    with env.database.transaction() as tx:
        env.resources.update_domain(tx, owner.domain, {"enabled": False})
    with pytest.raises(errors.Unauthorized):
        _authenticate(env, {"id": cred.id, "secret": secret})
    with env.database.transaction() as tx:
        env.resources.update_domain(tx, owner.domain, {"enabled": True})
        tx.users.update(dataclasses.replace(owner.user, enabled=False))
    with pytest.raises(errors.Unauthorized):
        _authenticate(env, {"id": cred.id, "secret": secret})


def test_roles_of_follows_the_owners_current_roles(env: Env, owner: Owner) -> None:
    """A credential confers its roles only while its owner holds them on its project:
    losing member loses the reader it implied too; a direct reader grant brings reader
    back; roles the credential was not given never count."""
    cred, _ = _create(env, owner)
    member, reader = env.roles["member"], env.roles["reader"]
    narrow, _ = _create(env, owner, roles=[{"id": reader}])

    def on_project(tx: Store, role_id: str) -> Assignment:
        return env.assignments.make_grant(tx, ActorKind.USER, owner.user.id,
                                          TargetKind.PROJECT, owner.project, role_id)

    with env.database.transaction() as tx:
        assert env.appcreds.roles_of(tx, cred) == {member, reader}
        assert env.appcreds.roles_of(tx, narrow) == {reader}
        env.assignments.revoke(tx, on_project(tx, member))
    with env.database.transaction() as tx:
        assert env.appcreds.roles_of(tx, cred) == set()
        env.assignments.grant(tx, on_project(tx, reader))
    with env.database.transaction() as tx:
        assert env.appcreds.roles_of(tx, cred) == {reader}
        assert env.appcreds.roles_of(tx, dataclasses.replace(cred, project_id=None)) == set()


def test_tokens_of_restricted_credentials_manage_none(env: Env, owner: Owner) -> None:
    """A token from a restricted credential (or one since deleted) may not create or
    delete credentials; one from an unrestricted credential, or a password, may."""
    restricted, _ = _create(env, owner)
    unrestricted, _ = _create(env, owner, unrestricted=True)
    with env.database.transaction() as tx:
        env.appcreds.check_may_manage(tx, None)
        env.appcreds.check_may_manage(tx, unrestricted.id)
        for token_cred in (restricted.id, new_id()):
            with pytest.raises(errors.Forbidden):
                env.appcreds.check_may_manage(tx, token_cred)


def test_only_a_project_scoped_token_creates(env: Env, owner: Owner) -> None:
    """Without a project (an unscoped token), nothing is created: 403."""
    with env.database.transaction() as tx, pytest.raises(errors.Forbidden):
        env.appcreds.create(tx, owner.user.id, None, set(), {"name": "x"})
