"""`sevres doctor` and `sevres bug-report` on every backend: the doctor finds what is
wrong and says how to fix it, and the bug report carries no secret."""

from __future__ import annotations

import base64
import datetime
import json
import os
import secrets
import stat
import tarfile
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from sevres import diagnostics
from sevres.diagnostics import bugreport
from sevres.ids import utcnow
from sevres.storage.database import Database
from sevres.storage.repositories import Store
from sevres.tokens import keyring
from tests import backends
from tests.server import ADMIN_PASSWORD, sevres, start

KEY_CHECKS = ("master_key", "keys.primary", "keys.staged", "keys.unwrap", "keys.age",
              "keys.provider")


def doctor(state: Path, url: str, **env: str) -> tuple[int, dict[str, dict[str, str]]]:
    """Exit status and findings by check name, from `sevres doctor --json`."""
    result = sevres(state, url, "doctor", "--json", **env)
    document = json.loads(result.stdout)
    assert document["exit_code"] == result.returncode
    return result.returncode, {f["check"]: f for f in document["findings"]}


def initialised(state: Path, url: str) -> None:
    for command in ("init", "bootstrap"):
        result = sevres(state, url, command)
        assert result.returncode == 0, result.stderr


def kids(state: Path, url: str) -> dict[tuple[str, str], list[str]]:
    """The key ids by (provider, state), from `sevres keys list --json`."""
    result = sevres(state, url, "keys", "list", "--json")
    assert result.returncode == 0, result.stderr
    found: dict[tuple[str, str], list[str]] = {}
    for row in json.loads(result.stdout):
        found.setdefault((row["provider"], row["state"]), []).append(row["kid"])
    return found


def change_keys(url: str, change: Callable[[Store], None]) -> None:
    """Break the key ring on purpose, through the repository, in one transaction."""
    database = Database(url)
    try:
        with database.transaction() as tx:
            change(tx)
    finally:
        database.dispose()


def test_doctor_passes_every_check_on_a_healthy_state(
    fresh: backends.Backend, tmp_path: Path
) -> None:
    """After init and bootstrap, doctor exits 0: every check is ok, except Galera (only on
    a wsrep node), and the table shows every check."""
    initialised(tmp_path, fresh.url)
    code, findings = doctor(tmp_path, fresh.url)
    assert code == 0, findings
    for check in ("configuration", "database", "schema", "clock", *KEY_CHECKS):
        assert findings[check]["status"] == "ok", findings[check]
        assert findings[check]["remedy"] is None
    assert findings["galera"]["status"] == "info"
    assert "not a Galera node" in findings["galera"]["text"]
    assert "no configuration file" in findings["configuration"]["text"]
    assert str(tmp_path / "master.key") in findings["master_key"]["text"]
    assert "1 d" in findings["keys.age"]["text"]  # the default rotation interval is named
    assert "fernet" in findings["keys.provider"]["text"]
    master = (tmp_path / "master.key").read_text().strip()
    assert master not in json.dumps(findings)

    table = sevres(tmp_path, fresh.url, "doctor")
    assert table.returncode == 0, table.stdout + table.stderr
    for check in findings:
        assert check in table.stdout
    assert "healthy" in table.stdout.splitlines()[-1]


def test_doctor_reports_the_config_file_in_use_and_a_broken_one(
    fresh: backends.Backend, tmp_path: Path
) -> None:
    """The configuration finding names the file in use; a file that does not load is an
    error finding (JSON still valid, exit 2) instead of a crash."""
    initialised(tmp_path, fresh.url)
    good = tmp_path / "good.toml"
    good.write_text("[token]\nexpiration = 7200\n")
    code, findings = doctor(tmp_path, fresh.url, SEVRES_CONFIG=str(good))
    assert code == 0 and f"loaded from {good}" in findings["configuration"]["text"]
    bad = tmp_path / "bad.toml"
    bad.write_text("[token]\nexpiration = 5\n")
    code, findings = doctor(tmp_path, fresh.url, SEVRES_CONFIG=str(bad))
    assert code == 2 and findings["configuration"]["status"] == "error"
    assert "SEVRES_TOKEN_EXPIRATION" in findings["configuration"]["text"]
    assert findings["configuration"]["remedy"]


def test_doctor_on_an_empty_database_says_to_initialise(
    fresh: backends.Backend, tmp_path: Path
) -> None:
    """A reachable database without a schema is an error (exit 2) whose remedy is
    'sevres init' / 'sevres db upgrade'; the missing master key is an error too, and the
    key checks are skipped (informational) until the schema is current."""
    database = Database(fresh.url)  # connecting creates the SQLite file, like a new server
    with database.engine.connect() as connection:
        connection.exec_driver_sql("SELECT 1")
    database.dispose()
    code, findings = doctor(tmp_path, fresh.url)
    assert code == 2
    assert findings["database"]["status"] == "ok"
    assert findings["schema"]["status"] == "error"
    assert "empty" in findings["schema"]["text"]
    assert "sevres init" in findings["schema"]["remedy"]
    assert "sevres db upgrade" in findings["schema"]["remedy"]
    assert findings["keys"]["status"] == "info" and "not checked" in findings["keys"]["text"]
    assert findings["master_key"]["status"] == "error"  # init never ran: no master key
    assert "sevres init" in findings["master_key"]["remedy"]
    table = sevres(tmp_path, fresh.url, "doctor")
    assert table.returncode == 2 and "remedy: run 'sevres init'" in table.stdout


def test_doctor_says_to_run_init_or_copy_the_key_when_the_master_key_is_missing(
    fresh: backends.Backend, tmp_path: Path
) -> None:
    """Without the master key file (and no SEVRES_MASTER_KEY) the master key is an error
    whose remedy is 'sevres init' on the first node and the same key on every other; the
    keys cannot be unwrapped, so that check is skipped."""
    initialised(tmp_path, fresh.url)
    (tmp_path / "master.key").unlink()
    code, findings = doctor(tmp_path, fresh.url)
    assert code == 2
    master = findings["master_key"]
    assert master["status"] == "error" and "no master key" in master["text"]
    assert "sevres init" in master["remedy"] and "every other node" in master["remedy"]
    assert findings["keys.unwrap"]["status"] == "info"
    assert findings["keys.primary"]["status"] == "ok"  # the ring itself is intact


def test_doctor_names_the_keys_another_master_key_cannot_unwrap(
    fresh: backends.Backend, tmp_path: Path
) -> None:
    """A node given a different (well-formed) master key than the one init used: the
    master key itself is fine, but every key is named as not unwrapping, with the remedy
    to give the node the deployment's key; neither key is ever printed. A malformed key
    is an error of its own."""
    initialised(tmp_path, fresh.url)
    other = keyring.new_master_key()
    code, findings = doctor(tmp_path, fresh.url, SEVRES_MASTER_KEY=other)
    assert code == 2
    assert findings["master_key"]["status"] == "ok"
    assert "SEVRES_MASTER_KEY" in findings["master_key"]["text"]
    unwrap = findings["keys.unwrap"]
    assert unwrap["status"] == "error"
    for kid in [k for ids in kids(tmp_path, fresh.url).values() for k in ids]:
        assert kid in unwrap["text"]
    assert "different master key" in unwrap["remedy"]
    assert findings["keys.provider"]["status"] == "error"
    text = json.dumps(findings)
    assert other not in text and (tmp_path / "master.key").read_text().strip() not in text

    code, findings = doctor(tmp_path, fresh.url, SEVRES_MASTER_KEY="not-a-master-key")
    assert code == 2 and findings["master_key"]["status"] == "error"
    assert "not-a-master-key" not in findings["master_key"]["text"]


@pytest.mark.parametrize("mode", [0o644, 0o640])
def test_doctor_flags_a_master_key_file_others_can_read(
    fresh: backends.Backend, tmp_path: Path, mode: int
) -> None:
    """A master key file the group or the world can read is an error (with it, the keys in
    any copy of the database unwrap); the remedy is the chmod that fixes it."""
    initialised(tmp_path, fresh.url)
    path = tmp_path / "master.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    os.chmod(path, mode)
    code, findings = doctor(tmp_path, fresh.url)
    assert code == 2
    assert findings["master_key"]["status"] == "error"
    assert oct(mode) in findings["master_key"]["text"]
    assert f"chmod 600 {path}" in findings["master_key"]["remedy"]
    os.chmod(path, 0o600)
    assert doctor(tmp_path, fresh.url)[0] == 0


def test_doctor_warns_without_a_staged_key_and_fails_without_a_primary(
    fresh: backends.Backend, tmp_path: Path
) -> None:
    """Without a staged key the next rotation would promote a key no node has loaded: a
    warning (exit 1) whose remedy is 'sevres keys rotate' for that provider. Without a
    primary key the provider cannot sign: an error, and an error for the configured
    provider too."""
    initialised(tmp_path, fresh.url)

    def drop(provider: str, state: str) -> Callable[[Store], None]:
        def change(tx: Store) -> None:
            tx.keys.delete([r.id for r in tx.keys.fetch(provider) if r.state == state])
        return change

    change_keys(fresh.url, drop("fernet", keyring.STAGED))
    code, findings = doctor(tmp_path, fresh.url)
    assert code == 1
    staged = findings["keys.staged"]
    assert staged["status"] == "warning" and "fernet" in staged["text"]
    assert "sevres keys rotate --provider fernet" in staged["remedy"]
    assert findings["keys.primary"]["status"] == "ok"

    change_keys(fresh.url, drop("fernet", keyring.PRIMARY))
    code, findings = doctor(tmp_path, fresh.url)
    assert code == 2
    primary = findings["keys.primary"]
    assert primary["status"] == "error" and "no primary fernet key" in primary["text"]
    assert "sevres init" in primary["remedy"]  # fernet has no key left: init makes them
    assert findings["keys.provider"]["status"] == "error"
    code, findings = doctor(tmp_path, fresh.url, SEVRES_TOKEN_PROVIDER="jws")
    assert findings["keys.provider"]["status"] == "ok"

    assert sevres(tmp_path, fresh.url, "init").returncode == 0  # the fernet ring again
    assert doctor(tmp_path, fresh.url)[0] == 0


def test_doctor_warns_when_the_primary_outlived_twice_the_rotation_interval(
    fresh: backends.Backend, tmp_path: Path
) -> None:
    """A primary promoted 3 days ago with the daily default is a warning whose remedy is
    to check that a server is running (servers rotate) or rotate by hand; with rotation
    off (interval 0) the age is informational and names the setting."""
    initialised(tmp_path, fresh.url)
    three_days_ago = utcnow() - datetime.timedelta(days=3)

    def age(tx: Store) -> None:
        for row in tx.keys.fetch("jws"):
            if row.state == keyring.PRIMARY:
                tx.keys.set_state(row.id, keyring.PRIMARY, three_days_ago)

    change_keys(fresh.url, age)
    code, findings = doctor(tmp_path, fresh.url)
    assert code == 1
    aged = findings["keys.age"]
    assert aged["status"] == "warning" and "jws 3 d" in aged["text"]
    assert "server is running" in aged["remedy"] and "sevres keys rotate" in aged["remedy"]

    code, findings = doctor(tmp_path, fresh.url, SEVRES_KEY_ROTATION_INTERVAL="0")
    assert code == 0
    assert findings["keys.age"]["status"] == "info"
    assert "rotation is off" in findings["keys.age"]["text"]
    assert "SEVRES_KEY_ROTATION_INTERVAL" in findings["keys.age"]["text"]

    assert sevres(tmp_path, fresh.url, "keys", "rotate").returncode == 0
    assert doctor(tmp_path, fresh.url)[0] == 0


def test_galera_and_clock_findings_follow_their_thresholds() -> None:
    """Pure rules: a Galera node is ready only when wsrep_ready=ON, Synced and Primary; a
    MariaDB with wsrep_on=OFF is 'not a Galera node'; clock skew warns over 1 s and fails
    over 30 s."""
    synced = {"wsrep_ready": "ON", "wsrep_local_state_comment": "Synced",
              "wsrep_cluster_status": "Primary"}
    assert diagnostics.galera_finding({"wsrep_on": "ON"}, synced).status == "ok"
    donor = dict(synced, wsrep_local_state_comment="Donor/Desynced")
    unready = diagnostics.galera_finding({"wsrep_on": "ON"}, donor)
    assert unready.status == "error" and unready.remedy and "Donor" in unready.text
    plain = diagnostics.galera_finding({"wsrep_on": "OFF"}, {"wsrep_ready": "OFF"})
    assert plain.status == "info" and "not a Galera node" in plain.text
    assert diagnostics.clock_finding(0.4, "postgresql").status == "ok"
    assert diagnostics.clock_finding(-2.5, "mysql").status == "warning"
    late = diagnostics.clock_finding(45, "mysql")
    assert late.status == "error" and late.remedy and "NTP" in late.remedy


def test_the_galera_check_queries_the_server(fresh: backends.Backend, tmp_path: Path) -> None:
    """On the MariaDB under test (a plain server) the Galera check runs the wsrep queries
    and says 'not a Galera node'; on the other backends it is not applicable."""
    initialised(tmp_path, fresh.url)
    _, findings = doctor(tmp_path, fresh.url)
    expected = "wsrep_on is OFF" if fresh.name == "mariadb" else fresh.name
    assert "not a Galera node" in findings["galera"]["text"]
    assert expected in findings["galera"]["text"]


def test_the_bug_report_log_parser_reads_json_and_text_lines(tmp_path: Path) -> None:
    """Both log formats: warning and error lines kept with their request ids, info lines
    and noise dropped, only the last 200 kept."""
    log = tmp_path / "sevres.log"
    lines = [
        "2026-01-01T00:00:00.000+00:00 WARNING auth.failed [request_id=req-t1 user_id=u] "
        "authentication failed for x: bad password",
        "2026-01-01T00:00:00.000+00:00 INFO    data.created [-] user u created",
        json.dumps({"time": "t", "level": "ERROR", "event": "http.server_error",
                    "request_id": "req-j1", "message": "boom"}),
        json.dumps({"time": "t", "level": "INFO", "event": "http.request", "message": "x"}),
        "Traceback (most recent call last):",
    ]
    lines += [json.dumps({"level": "WARNING", "event": "auth.failed", "request_id": f"req-{i}",
                          "message": "m"}) for i in range(250)]
    log.write_text("\n".join(lines) + "\n")
    events = bugreport.recent_events([log])
    assert len(events) == 200 and events[-1]["request_id"] == "req-249"
    first = bugreport.recent_events([log], limit=1000)[:2]
    assert first[0]["request_id"] == "req-t1" and first[0]["user_id"] == "u"
    assert first[0]["event"] == "auth.failed" and first[0]["level"] == "WARNING"
    assert first[1]["request_id"] == "req-j1"


def _password_user(backend: backends.Backend, password: str) -> tuple[str, str]:
    """Make the backend's database reachable only as a new user with ``password``;
    returns the URL with that password and the user name (to drop afterwards)."""
    user = f"sevres_u_{secrets.token_hex(4)}"
    assert backend.admin_url and backend.database
    engine = sa.create_engine(backend.admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        if backend.name == "postgresql":
            connection.exec_driver_sql(f"CREATE ROLE {user} LOGIN PASSWORD '{password}'")
            connection.exec_driver_sql(f'ALTER DATABASE "{backend.database}" OWNER TO {user}')
        else:
            for host in ("%", "localhost"):
                connection.execute(sa.text(f"CREATE USER '{user}'@'{host}' "  # '%' escaped
                                           f"IDENTIFIED BY '{password}'"))
                connection.execute(sa.text(f"GRANT ALL PRIVILEGES ON `{backend.database}`.* "
                                           f"TO '{user}'@'{host}'"))
    engine.dispose()
    url = sa.make_url(backend.url).set(username=user, password=password)
    return url.render_as_string(hide_password=False), user


def _drop_user(backend: backends.Backend, user: str) -> None:
    assert backend.admin_url
    engine = sa.create_engine(backend.admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        if backend.name == "postgresql":
            connection.exec_driver_sql(f"DROP ROLE IF EXISTS {user}")
        else:
            for host in ("%", "localhost"):
                connection.execute(sa.text(f"DROP USER IF EXISTS '{user}'@'{host}'"))
    engine.dispose()


def _failed_logins(url: str, count: int) -> list[str]:
    """Refused logins (auth.failed warnings in the log); returns their request ids."""
    ids = []
    for attempt in range(count):
        response = httpx.post(f"{url}/v3/auth/tokens", json={"auth": {"identity": {
            "methods": ["password"], "password": {"user": {
                "name": "admin", "domain": {"id": "default"},
                "password": f"wrong-{attempt}"}}}}}, timeout=30)
        assert response.status_code == 401
        ids.append(response.headers["x-openstack-request-id"])
    return ids


def _secrets_in_the_database_and_keys(state: Path, url: str) -> tuple[list[str], list[bytes]]:
    """The password hashes (whole, and their digest part), the wrapped token keys, and the
    master key (as its file holds it, and decoded to raw bytes)."""
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        hashes = [str(h) for h in connection.execute(sa.text("SELECT hash FROM password"))]
        wrapped = [str(w) for w in connection.execute(sa.text("SELECT wrapped FROM token_key"))]
    engine.dispose()
    assert hashes and len(wrapped) == 4
    master = (state / "master.key").read_text().strip()
    texts = [*hashes, *(h.rsplit("$", 1)[-1] for h in hashes), *wrapped, master]
    return texts, [base64.urlsafe_b64decode(master)]


def _write_private(config: Path, admin_file: Path, file_url: str) -> str:
    """The config file (0600) naming ``file_url``, and an admin-password file holding a
    secret of its own (SEVRES_ADMIN_PASSWORD wins, so it is never used); returns that."""
    config.write_text(f'[database]\nurl = "{file_url}"\n[token]\nexpiration = 3600\n')
    os.chmod(config, 0o600)
    file_secret = f"admin-file-secret-{secrets.token_hex(8)}"
    admin_file.write_text(file_secret + "\n")
    os.chmod(admin_file, 0o600)
    return file_secret


def test_the_bug_report_carries_no_secret(fresh: backends.Backend, tmp_path: Path) -> None:
    """A real deployment full of secrets: a database password (PostgreSQL/MariaDB: a real
    user with a password; SQLite has none, so the config file names a password-bearing
    PostgreSQL URL that the environment overrides), SEVRES_ADMIN_PASSWORD, an admin-password
    file, the master key (its file, and given again as SEVRES_MASTER_KEY), the wrapped
    token keys and the admin's password hash in the database, and a log whose warnings
    carry request ids (plus one library warning that quotes the database URL). The archive
    has every promised member and the request ids, and no member contains any secret, as
    text or as the master key's raw bytes."""
    db_password = f"Db-Pa55-{secrets.token_hex(8)}"
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    config = state / "sevres.toml"
    user = None
    if fresh.name == "sqlite":
        url = fresh.url
        file_url = f"postgresql+psycopg://sevres:{db_password}@db.example:5432/sevres"
    else:
        url, user = _password_user(fresh, db_password)
        file_url = url
    file_secret = _write_private(config, state / "admin-password", file_url)
    archive = tmp_path / "report.tar.gz"
    log = state / "server.log"
    try:
        server = start(state, url, SEVRES_CONFIG=str(config))  # runs init and bootstrap
        try:
            request_ids = _failed_logins(server.url, 3)
        finally:
            server.stop()
        with log.open("a") as handle:  # a library quoting the URL must not leak it either
            handle.write(json.dumps({
                "time": "t", "level": "WARNING", "event": "library.warning",
                "request_id": "req-library", "message": f"pool: {url} and {file_url}"}) + "\n")
        texts, raw_keys = _secrets_in_the_database_and_keys(state, url)
        result = sevres(state, url, "bug-report", "--output", str(archive), "--log", str(log),
                        SEVRES_CONFIG=str(config), SEVRES_MASTER_KEY=texts[-1])
    finally:
        if user is not None:
            fresh.drop()
            _drop_user(fresh, user)
    assert result.returncode == 0, result.stderr
    assert str(archive) in result.stdout

    with tarfile.open(archive) as tar:
        members = {m.name.split("/", 1)[1]: tar.extractfile(m).read()  # type: ignore[union-attr]
                   for m in tar.getmembers() if m.isfile()}
    assert set(members) == {"README.txt", "version.json", "configuration.json", "doctor.json",
                            "doctor.txt", "events.jsonl"}
    for name, data in members.items():
        for secret in (db_password, ADMIN_PASSWORD, file_secret, *texts):
            assert secret.encode() not in data, f"{name} holds a secret"
        assert not any(raw in data for raw in raw_keys), f"{name} holds key bytes"
        assert name in members["README.txt"].decode()

    configuration = json.loads(members["configuration.json"])
    effective = configuration["settings"]["database_url"]
    assert "***" in effective if user else effective == url  # SQLite's URL has no password
    assert "***" in configuration["config_file_content"]["database"]["url"]
    assert (configuration["environment"]["SEVRES_ADMIN_PASSWORD"],
            configuration["environment"]["SEVRES_MASTER_KEY"],
            configuration["settings"]["master_key"],
            configuration["settings"]["master_key_file"]) == (
        "***", "***", "***", str(state / "master.key"))  # the path is no secret
    assert json.loads(members["version.json"])["sevres"]
    checks = {f["check"] for f in json.loads(members["doctor.json"])["findings"]}
    assert checks >= {"configuration", "database", "schema", "clock", *KEY_CHECKS}
    events = [json.loads(line) for line in members["events.jsonl"].splitlines()]
    assert {*request_ids, "req-library"} <= {e.get("request_id") for e in events}
    assert all(e["level"] in ("WARNING", "ERROR") for e in events)
