"""Keystone's [security_compliance] options over HTTP: lockout, inactive users, password
expiry and change on first use, strength, history and minimum age, the per-user options
that exempt a user, Keystone's status codes and messages, and that all of it is off by
default. One server per option group (SEVRES_* variables), on each backend."""

from __future__ import annotations

import datetime
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from sevres import config, diagnostics
from sevres.config import ConfigError
from sevres.storage import tables
from sevres.storage.database import make_engine
from sevres.storage.repositories import revision
from tests.factories import Api, error, password_auth, unique
from tests.server import ADMIN_PASSWORD, Server, own_server

GENERIC_401 = {"error": {"code": 401, "title": "Unauthorized",
                         "message": "The request you have made requires authentication."}}
REGEX = r"^(?=.*\d)(?=.*[a-zA-Z]).{7,}$"
REGEX_HELP = "Passwords must contain at least 1 letter, 1 digit, and be at least 7 long."
LOCKOUT_SECONDS = 3


# -- servers and helpers ---------------------------------------------------------------
def _server(backend_name: str, factory: pytest.TempPathFactory, name: str,
            **env: str) -> Iterator[Server]:
    with own_server(backend_name, factory, name, **env) as server:
        yield server


@pytest.fixture(scope="module")
def logins_server(backend_name: str, tmp_path_factory: pytest.TempPathFactory
                  ) -> Iterator[Server]:
    """Lockout after 3 failures for a few seconds, and inactive users disabled."""
    yield from _server(backend_name, tmp_path_factory, "lockout",
                       SEVRES_LOCKOUT_FAILURE_ATTEMPTS="3",
                       SEVRES_LOCKOUT_DURATION=str(LOCKOUT_SECONDS),
                       SEVRES_DISABLE_USER_ACCOUNT_DAYS_INACTIVE="90")


@pytest.fixture(scope="module")
def passwords_server(backend_name: str, tmp_path_factory: pytest.TempPathFactory
                     ) -> Iterator[Server]:
    """Every password rule at once, as a PCI-DSS deployment sets them."""
    yield from _server(backend_name, tmp_path_factory, "passwords",
                       SEVRES_PASSWORD_REGEX=REGEX, SEVRES_PASSWORD_REGEX_DESCRIPTION=REGEX_HELP,
                       SEVRES_UNIQUE_LAST_PASSWORD_COUNT="2", SEVRES_MINIMUM_PASSWORD_AGE="1",
                       SEVRES_PASSWORD_EXPIRES_DAYS="90",
                       SEVRES_CHANGE_PASSWORD_UPON_FIRST_USE="true")


@pytest.fixture(scope="module")
def logins_admin(logins_server: Server) -> Iterator[Api]:
    with Api.login(logins_server.url, "admin", ADMIN_PASSWORD) as api:
        yield api


@pytest.fixture(scope="module")
def passwords_admin(passwords_server: Server) -> Iterator[Api]:
    with Api.login(passwords_server.url, "admin", ADMIN_PASSWORD) as api:
        yield api


def _login(server: Server, name: str, password: str) -> httpx.Response:
    return httpx.post(f"{server.url}/v3/auth/tokens", json=password_auth(name, password),
                      timeout=30)


def _change(server: Server, user_id: str, original: str, new: str) -> httpx.Response:
    return httpx.post(f"{server.url}/v3/users/{user_id}/password", timeout=30,
                      json={"user": {"original_password": original, "password": new}})


def _refused(response: httpx.Response) -> None:
    """Keystone's generic 401: nothing tells a locked or inactive account from a wrong
    password or an unknown user."""
    assert response.status_code == 401, response.text
    assert response.json() == GENERIC_401


def _expired_message(user_id: str) -> str:
    return f"The password is expired and needs to be changed for user: {user_id}."


def _audit_reason(server: Server, response: httpx.Response) -> dict[str, str]:
    request_id = response.headers["X-OpenStack-Request-ID"]
    path = server.state_dir / "audit.log"
    records = [json.loads(line) for line in path.read_text().splitlines()]
    (record,) = [r for r in records if r["request_id"] == request_id]
    assert record["outcome"] == "failure"
    return dict(record["reason"])


def _engine(server: Server) -> sa.Engine:
    return make_engine(server.env["SEVRES_DATABASE_URL"], pool_size=1)


def _login_state(server: Server, user_id: str) -> Any:
    engine = _engine(server)
    try:
        with engine.connect() as connection:
            t = tables.login_state
            return connection.execute(sa.select(t).where(t.c.user_id == user_id)).first()
    finally:
        engine.dispose()


def _revision(server: Server) -> revision.Revision:
    engine = _engine(server)
    try:
        with engine.connect() as connection:
            return revision.read(connection)
    finally:
        engine.dispose()


def _keystone_time(text: str) -> datetime.datetime:
    """Keystone's password_expires_at: '2027-02-23T01:34:56.000000', UTC, no zone."""
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f")


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)


# -- settings --------------------------------------------------------------------------
def test_the_settings_default_to_keystones_with_every_feature_off(tmp_path: Path) -> None:
    """Without settings, every [security_compliance] option has Keystone's default."""
    s = config.load({"SEVRES_STATE_DIR": str(tmp_path)})
    assert (s.lockout_failure_attempts, s.lockout_duration) == (None, 1800)
    assert (s.disable_user_account_days_inactive, s.password_expires_days) == (None, None)
    assert (s.unique_last_password_count, s.minimum_password_age) == (0, 0)
    assert (s.password_regex, s.password_regex_description) == (None, None)
    assert s.change_password_upon_first_use is False


def test_the_settings_are_read_from_the_security_compliance_table(tmp_path: Path) -> None:
    """The TOML table [security_compliance] takes Keystone's option names."""
    path = tmp_path / "sevres.toml"
    path.write_text('[security_compliance]\nlockout_failure_attempts = 6\n'
                    'lockout_duration = 600\npassword_regex = "^.{8,}$"\n'
                    'change_password_upon_first_use = true\n')
    s = config.load({"SEVRES_STATE_DIR": str(tmp_path)})
    assert (s.lockout_failure_attempts, s.lockout_duration) == (6, 600)
    assert (s.password_regex, s.change_password_upon_first_use) == ("^.{8,}$", True)


@pytest.mark.parametrize(("variable", "value"), [
    ("SEVRES_LOCKOUT_FAILURE_ATTEMPTS", "0"),
    ("SEVRES_LOCKOUT_DURATION", "-1"),
    ("SEVRES_PASSWORD_EXPIRES_DAYS", "0"),
    ("SEVRES_UNIQUE_LAST_PASSWORD_COUNT", "-1"),
    ("SEVRES_MINIMUM_PASSWORD_AGE", "x"),
    ("SEVRES_DISABLE_USER_ACCOUNT_DAYS_INACTIVE", "0"),
    ("SEVRES_PASSWORD_REGEX", "(unclosed"),
    ("SEVRES_CHANGE_PASSWORD_UPON_FIRST_USE", "maybe"),
])
def test_a_bad_security_compliance_value_stops_the_start(
    tmp_path: Path, variable: str, value: str
) -> None:
    """A bad value (a broken regular expression included) is refused at start, naming it."""
    with pytest.raises(ConfigError, match=variable):
        config.load({"SEVRES_STATE_DIR": str(tmp_path), variable: value})


def test_the_doctor_warns_of_rules_that_work_against_each_other(tmp_path: Path) -> None:
    """`sevres doctor` warns, as Keystone's doctor does, of a password_regex without a
    description and of a minimum_password_age not below password_expires_days."""
    base = {"SEVRES_STATE_DIR": str(tmp_path)}
    assert diagnostics.check_configuration(config.load(base)).status == diagnostics.OK
    regex = diagnostics.check_configuration(config.load({**base,
                                                          "SEVRES_PASSWORD_REGEX": "^.{8,}$"}))
    assert regex.status == diagnostics.WARNING and "password_regex_description" in regex.text
    age = diagnostics.check_configuration(config.load({
        **base, "SEVRES_PASSWORD_EXPIRES_DAYS": "7", "SEVRES_MINIMUM_PASSWORD_AGE": "7"}))
    assert age.status == diagnostics.WARNING and "minimum_password_age" in age.text


# -- defaults: nothing changes ---------------------------------------------------------
def test_by_default_no_rule_applies_and_logins_leave_no_bookkeeping(
    server: Server, admin: Api
) -> None:
    """Off by default: many wrong passwords lock nothing, any password is accepted, a
    password never expires and may be changed back at once, and logins neither read nor
    write the login bookkeeping."""
    user = admin.user(password="a")
    assert user["password_expires_at"] is None
    for _ in range(8):
        _refused(_login(server, user["name"], "wrong"))
    assert _login(server, user["name"], "a").status_code == 201
    assert _change(server, user["id"], "a", "b").status_code == 204
    assert _change(server, user["id"], "b", "a").status_code == 204
    assert _login(server, user["name"], "a").status_code == 201
    assert _login_state(server, user["id"]) is None


def test_user_options_are_stored_shown_merged_and_checked(admin: Api) -> None:
    """Keystone's user options: set at create or update, shown in `options`, removed by
    null, others kept; an unknown option or a non-boolean value is 400."""
    user = admin.user(options={"ignore_password_expiry": True, "lock_password": None})
    assert user["options"] == {"ignore_password_expiry": True}
    patched = admin.patch(f"/v3/users/{user['id']}", json={"user": {"options": {
        "lock_password": True, "ignore_password_expiry": None}}})
    assert patched.status_code == 200, patched.text
    assert patched.json()["user"]["options"] == {"lock_password": True}
    shown = admin.get(f"/v3/users/{user['id']}").json()["user"]
    assert shown["options"] == {"lock_password": True}
    for options in ({"multi_factor_auth_enabled": True}, {"nonsense": True},
                    {"lock_password": "yes"}):
        response = admin.post("/v3/users", json={"user": {"name": unique("u"),
                                                          "options": options}})
        assert "options" in error(response, 400)


# -- lockout ---------------------------------------------------------------------------
def test_a_locked_account_refuses_even_the_right_password_like_an_unknown_user(
    logins_server: Server, logins_admin: Api
) -> None:
    """After lockout_failure_attempts wrong passwords the right one is refused with the
    same 401 as an unknown user; the audit record says why, the log says it was locked."""
    user = logins_admin.user(password="right-1")
    for _ in range(3):
        _refused(_login(logins_server, user["name"], "wrong"))
    locked = _login(logins_server, user["name"], "right-1")
    _refused(locked)
    unknown = _login(logins_server, unique("nobody"), "right-1")
    _refused(unknown)
    assert locked.json() == unknown.json()
    assert _audit_reason(logins_server, locked) == {"reasonType": "account locked",
                                                    "reasonCode": "401"}
    assert _audit_reason(logins_server, unknown)["reasonType"] == "invalid credentials"
    assert f"user {user['id']} locked out after 3 failed logins" in logins_server.log_text()
    assert _login_state(logins_server, user["id"]).failed_count == 3  # not counted while locked


def test_a_lockout_ends_after_its_duration_and_a_success_clears_the_count(
    logins_server: Server, logins_admin: Api
) -> None:
    """lockout_duration seconds after the last failure a new failure counts from one,
    the right password works again, and the success clears the count: it takes three new
    failures to lock again."""
    user = logins_admin.user(password="right-2")
    for _ in range(3):
        _refused(_login(logins_server, user["name"], "wrong"))
    _refused(_login(logins_server, user["name"], "right-2"))
    time.sleep(LOCKOUT_SECONDS + 0.5)
    _refused(_login(logins_server, user["name"], "wrong"))
    assert _login_state(logins_server, user["id"]).failed_count == 1
    assert _login(logins_server, user["name"], "right-2").status_code == 201
    for _ in range(2):
        _refused(_login(logins_server, user["name"], "wrong"))
    assert _login(logins_server, user["name"], "right-2").status_code == 201
    assert _login_state(logins_server, user["id"]).failed_count == 0


def test_an_administrator_update_ends_a_lockout(
    logins_server: Server, logins_admin: Api
) -> None:
    """As Keystone: updating a user (leaving it enabled) clears the failed logins."""
    user = logins_admin.user(password="right-3")
    for _ in range(3):
        _refused(_login(logins_server, user["name"], "wrong"))
    _refused(_login(logins_server, user["name"], "right-3"))
    response = logins_admin.patch(f"/v3/users/{user['id']}", json={"user": {"enabled": True}})
    assert response.status_code == 200, response.text
    assert _login(logins_server, user["name"], "right-3").status_code == 201


def test_ignore_lockout_failure_attempts_exempts_a_user(
    logins_server: Server, logins_admin: Api
) -> None:
    """A user with ignore_lockout_failure_attempts is never locked out."""
    user = logins_admin.user(password="right-4",
                             options={"ignore_lockout_failure_attempts": True})
    for _ in range(5):
        _refused(_login(logins_server, user["name"], "wrong"))
    assert _login(logins_server, user["name"], "right-4").status_code == 201


def test_wrong_original_passwords_count_and_a_locked_account_cannot_change_it(
    logins_server: Server, logins_admin: Api
) -> None:
    """The self-service change checks the original password like a login: wrong ones
    count towards the lockout, and a locked account cannot change its password."""
    user = logins_admin.user(password="right-5")
    for _ in range(3):
        _refused(_change(logins_server, user["id"], "wrong", "new-5"))
    locked = _change(logins_server, user["id"], "right-5", "new-5")
    _refused(locked)
    assert _audit_reason(logins_server, locked)["reasonType"] == "account locked"
    _refused(_login(logins_server, user["name"], "right-5"))


def test_failed_logins_do_not_bump_the_revision(
    logins_server: Server, logins_admin: Api
) -> None:
    """Counting failures (and clearing them) writes no revision: a flood of bad logins,
    for real and unknown users, leaves every node's caches alone (the revision row is
    unchanged), and tokens issued before stay valid."""
    user = logins_admin.user(password="right-6")
    token = _login(logins_server, user["name"], "right-6").headers["X-Subject-Token"]
    headers = {"X-Subject-Token": token}
    assert logins_admin.get("/v3/auth/tokens", headers=headers).status_code == 200
    before = _revision(logins_server)
    for name in (user["name"], unique("nobody")) * 5:
        _refused(_login(logins_server, name, "wrong"))
    time.sleep(LOCKOUT_SECONDS + 0.5)
    assert _login(logins_server, user["name"], "right-6").status_code == 201
    assert _revision(logins_server) == before
    assert _login_state(logins_server, user["id"]).failed_count == 0
    assert logins_admin.get("/v3/auth/tokens", headers=headers).status_code == 200


# -- inactive users --------------------------------------------------------------------
def _last_active(server: Server, user_id: str, day: datetime.date) -> None:
    engine = _engine(server)
    try:
        with engine.begin() as connection:
            t = tables.login_state
            connection.execute(sa.update(t).where(t.c.user_id == user_id)
                               .values(last_active_on=day))
    finally:
        engine.dispose()


def test_an_inactive_user_is_refused_and_shown_disabled_until_enabled_again(
    logins_server: Server, logins_admin: Api
) -> None:
    """A login records the day; a user whose last login is disable_user_account_days_
    inactive days ago is refused (the generic 401) and shows enabled: false, until an
    administrator sets enabled: true; ignore_user_inactivity exempts a user."""
    user = logins_admin.user(password="right-7")
    exempt = logins_admin.user(password="right-8", options={"ignore_user_inactivity": True})
    for who, password in ((user, "right-7"), (exempt, "right-8")):
        assert _login(logins_server, who["name"], password).status_code == 201
        assert _login_state(logins_server, who["id"]).last_active_on == _utcnow().date()
        _last_active(logins_server, who["id"], _utcnow().date() - datetime.timedelta(days=91))
    refused = _login(logins_server, user["name"], "right-7")
    _refused(refused)
    assert _audit_reason(logins_server, refused)["reasonType"] == "user unknown or disabled"
    assert logins_admin.get(f"/v3/users/{user['id']}").json()["user"]["enabled"] is False
    assert _login(logins_server, exempt["name"], "right-8").status_code == 201
    enabled = logins_admin.patch(f"/v3/users/{user['id']}", json={"user": {"enabled": True}})
    assert enabled.json()["user"]["enabled"] is True
    assert _login(logins_server, user["name"], "right-7").status_code == 201


# -- passwords -------------------------------------------------------------------------
def test_a_password_must_match_the_regex_with_keystones_message(passwords_admin: Api) -> None:
    """Create and update check password_regex and answer with its description, in
    Keystone's words (its trailing period included); a null password is not a string."""
    message = f"The password does not match the requirements: {REGEX_HELP}."
    weak = passwords_admin.post("/v3/users", json={"user": {"name": unique("u"),
                                                            "password": "short"}})
    assert error(weak, 400) == message
    null = passwords_admin.post("/v3/users", json={"user": {"name": unique("u"),
                                                            "password": None}})
    assert error(null, 400) == "Password validation error: Password must be a string type."
    user = passwords_admin.user(password="strong-1")
    patched = passwords_admin.patch(f"/v3/users/{user['id']}",
                                    json={"user": {"password": "nodigits"}})
    assert error(patched, 400) == message


def test_an_administrators_password_must_be_changed_before_the_first_login(
    passwords_server: Server, passwords_admin: Api
) -> None:
    """change_password_upon_first_use: a new user's password is expired at once; the
    right password gets Keystone's 'expired' 401 (a wrong one the generic 401), the user
    changes it themselves with it, and the new one expires password_expires_days later."""
    user = passwords_admin.user(password="first-1x")
    assert _keystone_time(user["password_expires_at"]) <= _utcnow()
    expired = _login(passwords_server, user["name"], "first-1x")
    assert error(expired, 401) == _expired_message(user["id"])
    assert _audit_reason(passwords_server, expired)["reasonType"] == "password expired"
    _refused(_login(passwords_server, user["name"], "wrong-1x"))
    assert _change(passwords_server, user["id"], "first-1x", "second-2y").status_code == 204
    login = _login(passwords_server, user["name"], "second-2y")
    assert login.status_code == 201, login.text
    expires = login.json()["token"]["user"]["password_expires_at"]
    assert expires.endswith(".000000")
    in_90_days = _utcnow() + datetime.timedelta(days=90)
    assert abs(_keystone_time(expires) - in_90_days) < datetime.timedelta(minutes=5)
    shown = passwords_admin.get(f"/v3/users/{user['id']}").json()["user"]
    assert shown["password_expires_at"] == expires


def test_an_administrators_reset_expires_the_password_again_but_options_exempt(
    passwords_server: Server, passwords_admin: Api
) -> None:
    """An update with a password expires it at once too, unless the same request (or an
    earlier one) sets ignore_change_password_upon_first_use; ignore_password_expiry lets
    an expired password log in. An expired password does not revoke tokens issued
    before (as Keystone), only a change of password does."""
    user = passwords_admin.user(password="first-3z", options={"ignore_password_expiry": True})
    login = _login(passwords_server, user["name"], "first-3z")
    assert login.status_code == 201, login.text
    token = login.headers["X-Subject-Token"]
    dropped = passwords_admin.patch(f"/v3/users/{user['id']}", json={"user": {"options": {
        "ignore_password_expiry": None}}})
    assert dropped.status_code == 200
    assert error(_login(passwords_server, user["name"], "first-3z"), 401) == \
        _expired_message(user["id"])
    headers = {"X-Subject-Token": token}
    assert passwords_admin.get("/v3/auth/tokens", headers=headers).status_code == 200
    reset = passwords_admin.patch(f"/v3/users/{user['id']}", json={"user": {
        "password": "reset-4a", "options": {"ignore_change_password_upon_first_use": True}}})
    assert reset.status_code == 200, reset.text
    assert _login(passwords_server, user["name"], "reset-4a").status_code == 201
    assert passwords_admin.get("/v3/auth/tokens", headers=headers).status_code == 404


def test_history_minimum_age_and_lock_password_refuse_a_self_service_change(
    passwords_server: Server, passwords_admin: Api
) -> None:
    """unique_last_password_count (2): not the current password nor the one before;
    minimum_password_age (1 day) only after the user's own change, not after an
    administrator's; lock_password forbids the change. Each is 400 in Keystone's words,
    audited with its rule."""
    user = passwords_admin.user(password="first-5b",
                                options={"ignore_change_password_upon_first_use": True})
    same = _change(passwords_server, user["id"], "first-5b", "first-5b")
    assert error(same, 400) == (
        "The new password cannot be identical to a previous password. The total number "
        "which includes the new password must be unique is 2.")
    assert _audit_reason(passwords_server, same) == {"reasonType": "password policy: history",
                                                     "reasonCode": "400"}
    assert _change(passwords_server, user["id"], "first-5b", "second-6c").status_code == 204
    too_soon = _change(passwords_server, user["id"], "second-6c", "third-7d")
    assert error(too_soon, 400) == (
        "You cannot change your password at this time due to the minimum password age. "
        "Once you change your password, it must be used for 1 day(s) before it can be "
        "changed. Please try again in 0 day(s) or contact your administrator to reset your "
        "password.")
    reset = passwords_admin.patch(f"/v3/users/{user['id']}",
                                  json={"user": {"password": "reset-8e"}})
    assert reset.status_code == 200
    assert error(_change(passwords_server, user["id"], "reset-8e", "second-6c"), 400) \
        .startswith("The new password cannot be identical to a previous password.")
    assert _change(passwords_server, user["id"], "reset-8e", "first-5b").status_code == 204
    weak = _change(passwords_server, user["id"], "first-5b", "weak")
    assert error(weak, 400) == f"The password does not match the requirements: {REGEX_HELP}."
    locked = passwords_admin.user(password="first-9f", options={"lock_password": True})
    refused = _change(passwords_server, locked["id"], "first-9f", "second-9g")
    assert error(refused, 400) == (
        "You cannot change your password at this time due to password policy disallowing "
        "password changes. Please contact your administrator to reset your password.")


def test_users_can_be_listed_by_when_their_password_expires(passwords_admin: Api) -> None:
    """Keystone's password_expires_at=<op>:<timestamp> filter (lt, lte, gt, gte, eq, neq;
    eq without an operator) on the current password; a bad operator or timestamp is
    400 in Keystone's words."""
    now = passwords_admin.user(password="first-10a")  # expires at once (first use)
    later = passwords_admin.user(password="first-10b",
                                 options={"ignore_change_password_upon_first_use": True})
    tomorrow = (_utcnow() + datetime.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")

    def listed(value: str) -> set[str]:
        response = passwords_admin.get("/v3/users", params={"password_expires_at": value})
        assert response.status_code == 200, response.text
        return {u["id"] for u in response.json()["users"]}

    assert now["id"] in listed(f"lt:{tomorrow}") and later["id"] not in listed(f"lt:{tomorrow}")
    assert later["id"] in listed(f"gt:{tomorrow}") and now["id"] not in listed(f"gt:{tomorrow}")
    assert listed(later["password_expires_at"][:19] + "Z") >= {later["id"]}
    bad_operator = passwords_admin.get("/v3/users", params={"password_expires_at":
                                                            f"xx:{tomorrow}"})
    assert error(bad_operator, 400) == (
        "The given operator xx is not valid. It must be one of the following: 'eq', 'neq', "
        "'lt', 'lte', 'gt', or 'gte'.")
    bad_time = passwords_admin.get("/v3/users", params={"password_expires_at": "lt:soon"})
    assert error(bad_time, 400).startswith("Timestamp not in expected format.")
