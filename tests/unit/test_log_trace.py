"""`sevres logs trace`: one request followed across sevres and oslo.log logs, in time order."""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sevres.cli.main import main
from sevres.log import bound, configure, emit, events
from sevres.log.trace import Parser, trace, zone

G = "req-0a1b2c3d-0000-4000-8000-00000000000a"   # the client's global request (e.g. Heat)
N = "req-1d8c5e7f-1111-4111-8111-111111111111"   # the Nova API request, made for G
OTHER = "req-2f4a6b8c-2222-4222-8222-222222222222"   # another, unrelated Nova request
S1 = "req-3b5d7f9a-3333-4333-8333-333333333333"  # sevres request made by Nova for N (JSON log)
S2 = "req-4c6e8a0b-4444-4444-8444-444444444444"  # unrelated sevres request (JSON log)
S3 = "req-5d7f9b1c-5555-4555-8555-555555555555"  # sevres request made for N (text log)
S4 = "req-6e8a0c2d-6666-4666-8666-666666666666"  # unrelated sevres request (text log)
P = "req-7f9b1d3e-7777-4777-8777-777777777777"   # Neutron request made by Nova for N
Q = "req-8a0c2e4f-8888-4888-8888-888888888888"   # unrelated Neutron request
USER, PROJECT, NOVA = "8f1e2d3c4b5a69788796a5b4c3d2e1f0", "6a2b3c4d5e6f70819293a4b5c6d7e8f9", "nv01"

NOVA_LOG = f"""\
2024-05-02 10:00:00.050 4242 INFO nova.osapi_compute.wsgi.server [-] (4242) accepted ('10.0.0.9', 51234)
2024-05-02 10:00:00.100 4242 DEBUG nova.api.openstack.wsgi [{G} {N} {USER} {PROJECT} - default default] Action: 'create', calling method: create _process_stack /usr/lib/python3/dist-packages/nova/api/openstack/wsgi.py:511
2024-05-02 10:00:00.900 4242 ERROR nova.api.openstack.wsgi [{G} {N} {USER} {PROJECT} - default default] Unexpected exception in API method: ValueError: bad flavor
2024-05-02 10:00:00.900 4242 ERROR nova.api.openstack.wsgi Traceback (most recent call last):
2024-05-02 10:00:00.900 4242 ERROR nova.api.openstack.wsgi   File "/usr/lib/python3/dist-packages/nova/api/openstack/wsgi.py", line 658, in wrapped
2024-05-02 10:00:00.900 4242 ERROR nova.api.openstack.wsgi     return f(*args, **kwargs)
2024-05-02 10:00:00.900 4242 ERROR nova.api.openstack.wsgi ValueError: bad flavor
2024-05-02 10:00:00.900 4242 ERROR nova.api.openstack.wsgi\x20
2024-05-02 10:00:00.950 4242 INFO nova.api.openstack.requestlog [{G} {N} {USER} {PROJECT} - default default] 10.0.0.9 "POST /compute/v2.1/servers" status: 500 len: 211 microversion: 2.90 time: 0.850112
2024-05-02 10:00:01.200 4242 INFO nova.api.openstack.requestlog [None {OTHER} {USER} {PROJECT} - default default] 10.0.0.9 "GET /compute/v2.1/servers/detail" status: 200 len: 15 microversion: 2.90 time: 0.040000
"""  # noqa: E501


def _sevres(time: str, level: str, event: str, message: str, request: str, global_: str,
            **fields: str) -> str:
    return json.dumps({"time": f"2024-05-02T{time}+00:00", "level": level, "event": event,
                       "message": message, "request_id": request,
                       "global_request_id": global_, **fields})


SEVRES_JSON_LOG = "\n".join([
    _sevres("10:00:00.300", "INFO", "auth.succeeded",
            f"user {NOVA} authenticated with token scoped to project", S1, S1, user_id=NOVA),
    _sevres("10:00:00.350", "INFO", "http.request",
            "GET /v3/auth/tokens answered 200 in 48 ms", S1, N, user_id=NOVA),
    _sevres("10:00:00.500", "INFO", "http.request",
            "GET /v3/projects answered 200 in 9 ms", S2, S2, user_id=USER),
    "this is not a log line",
    '{"half": "a JSON object of some other program"}',
    '{"time": "2024-05-02T10:00:00.9', "",
]) + "\n"

SEVRES_TEXT_LOG = f"""\
2024-05-02T10:00:00.600+00:00 INFO    http.request [request_id={S3} global_request_id={N} user_id={NOVA} project_id={PROJECT}] GET /v3/auth/tokens answered 200 in 12 ms
2024-05-02T10:00:00.700+00:00 WARNING auth.failed [request_id={S4} global_request_id={S4}] authentication failed for user bob: invalid password
2024-05-02T10:00:00.710+00:00 INFO    server.starting [-] serving Keystone v3 at http://127.0.0.1:5000/v3 with 1 worker(s)
"""  # noqa: E501


def _oslo_json(created: float, request: str, global_: str | None, message: str) -> str:
    return json.dumps({
        "message": message, "asctime": "2024-05-02 10:00:00", "name": "neutron.wsgi",
        "msg": message, "args": [], "levelname": "INFO", "levelno": 20,
        "pathname": "/usr/lib/python3/dist-packages/neutron/wsgi.py", "filename": "wsgi.py",
        "module": "wsgi", "lineno": 198, "funcname": "log_request", "created": created,
        "msecs": round(created % 1 * 1000, 3), "relative_created": 5210.1, "thread": 1401,
        "thread_name": "MainThread", "process_name": "MainProcess", "process": 777,
        "traceback": None, "hostname": "ctl-1", "error_summary": "",
        "context": {"user": USER, "tenant": PROJECT, "project_id": PROJECT, "domain": None,
                    "user_domain": "default", "project_domain": "default",
                    "request_id": request, "global_request_id": global_,
                    "user_identity": f"{USER} {PROJECT} - default default",
                    "auth_token": "***", "roles": ["member"]},
        "extra": {"project": "unknown", "version": "unknown"},
    })


T0 = 1714644000.0  # 2024-05-02T10:00:00Z
NEUTRON_JSON_LOG = "\n".join([
    _oslo_json(T0 + 0.75, P, N, '10.0.0.9 "GET /v2.0/ports?device_id=x" status: 200'),
    _oslo_json(T0 + 0.76, Q, None, '10.0.0.7 "GET /v2.0/networks" status: 200'),
]) + "\n"

EXPECTED_FOR_N = [  # (time, source, request id, start of message)
    ("2024-05-02T10:00:00.100Z", "nova/nova-api.log", N, "Action: 'create'"),
    ("2024-05-02T10:00:00.300Z", "sevres/keystone.json", S1, "user nv01 authenticated"),
    ("2024-05-02T10:00:00.350Z", "sevres/keystone.json", S1, "GET /v3/auth/tokens answered"),
    ("2024-05-02T10:00:00.600Z", "sevres/keystone.txt", S3, "GET /v3/auth/tokens answered"),
    ("2024-05-02T10:00:00.750Z", "neutron/neutron-server.json", P, '10.0.0.9 "GET /v2.0/ports'),
    ("2024-05-02T10:00:00.900Z", "nova/nova-api.log", N, "Unexpected exception in API"),
    ("2024-05-02T10:00:00.950Z", "nova/nova-api.log", N, '10.0.0.9 "POST /compute/v2.1/'),
]


@pytest.fixture
def logs(tmp_path: Path) -> dict[str, Path]:
    files = {"nova": ("nova-api.log", NOVA_LOG), "json": ("keystone.json", SEVRES_JSON_LOG),
             "text": ("keystone.txt", SEVRES_TEXT_LOG),
             "neutron": ("neutron-server.json", NEUTRON_JSON_LOG)}
    paths = {}
    for label, (name, text) in files.items():
        paths[label] = tmp_path / name
        paths[label].write_text(text)
    return paths


def _run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    code = main(["logs", "trace", *(str(a) for a in argv)])
    out, err = capsys.readouterr()
    return code, out, err


def _heads(out: str) -> list[tuple[str, str, str, str]]:
    """(time, service/file, request id, message) of each record; skips '    | ' lines."""
    rows = []
    for line in out.splitlines():
        if not line.startswith("    | "):
            time, source, _level, request, message = line.split(None, 4)
            rows.append((time, source, request, message))
    return rows


def _matches(rows: list[tuple[str, str, str, str]],
             expected: list[tuple[str, str, str, str]]) -> bool:
    return len(rows) == len(expected) and all(
        row[:3] == want[:3] and row[3].startswith(want[3])
        for row, want in zip(rows, expected, strict=True))


def test_a_nova_request_id_finds_the_sevres_and_neutron_lines_it_caused(
        capsys: pytest.CaptureFixture[str], logs: dict[str, Path]) -> None:
    """Tracing Nova's request id merges, in time order, Nova's lines and those of the
    sevres (JSON and text) and Neutron (oslo JSON) requests whose global request id is it,
    including the sevres line logged before its global id was known; unrelated requests,
    lines without context and garbage are left out. Exit code 0."""
    code, out, err = _run(capsys, N, *logs.values())
    assert code == 0 and err == ""
    assert _matches(_heads(out), EXPECTED_FOR_N), out
    for absent in (OTHER, S2, S4, Q, "accepted", "server.starting", "not a log line"):
        assert absent not in out


def test_a_traceback_stays_with_its_record(
        capsys: pytest.CaptureFixture[str], logs: dict[str, Path]) -> None:
    """oslo.log's exception lines (same time, pid and logger, no context bracket) are
    continuations of the ERROR record above them, printed indented right under it."""
    _code, out, _err = _run(capsys, N, logs["nova"])
    lines = out.splitlines()
    error = next(i for i, line in enumerate(lines) if "Unexpected exception" in line)
    assert lines[error + 1:error + 5] == [
        "    | Traceback (most recent call last):",
        '    |   File "/usr/lib/python3/dist-packages/nova/api/openstack/wsgi.py", '
        "line 658, in wrapped",
        "    |     return f(*args, **kwargs)",
        "    | ValueError: bad flavor",
    ]
    assert "status: 500" in lines[error + 5]


def test_a_sevres_request_id_finds_the_nova_request_behind_it_but_not_its_siblings(
        capsys: pytest.CaptureFixture[str], logs: dict[str, Path]) -> None:
    """From sevres's request id: its own lines and those of the Nova request it was made
    for (its global request id), but not the other requests Nova made meanwhile."""
    code, out, _err = _run(capsys, S1, *logs.values())
    assert code == 0
    wanted = [row for row in EXPECTED_FOR_N if row[2] in (S1, N)]
    assert _matches(_heads(out), wanted), out
    assert S3 not in out and P not in out


def test_the_global_id_and_a_bare_uuid_find_the_whole_chain(
        capsys: pytest.CaptureFixture[str], logs: dict[str, Path]) -> None:
    """The client's global id reaches Nova's request and, through it, what Nova caused;
    an id given without 'req-' or in capitals is the same id."""
    _code, out, _err = _run(capsys, G, *logs.values())
    assert _matches(_heads(out), EXPECTED_FOR_N), out
    _code, again, _err = _run(capsys, N.removeprefix("req-").upper(), *logs.values())
    assert again == out


def test_json_output_is_one_normalised_object_per_record(
        capsys: pytest.CaptureFixture[str], logs: dict[str, Path]) -> None:
    """--json prints one object a line with the same records in the same order, ids,
    file, format and the whole message (a traceback included)."""
    code, out, _err = _run(capsys, N, *logs.values(), "--json")
    assert code == 0
    objects = [json.loads(line) for line in out.splitlines()]
    assert [(o["time"], f"{o['service']}/{o['source']}", o["request_id"])
            for o in objects] == [row[:3] for row in EXPECTED_FOR_N]
    assert {o["format"] for o in objects} == {"oslo-text", "oslo-json", "sevres-json",
                                              "sevres-text"}
    error = objects[5]
    assert error["level"] == "ERROR" and error["logger"] == "nova.api.openstack.wsgi"
    assert error["global_request_id"] == G and error["user_id"] == USER
    assert error["project_id"] == PROJECT and error["line"] == 3
    assert error["message"].endswith("Traceback (most recent call last):\n"
                                     '  File "/usr/lib/python3/dist-packages/nova/api/'
                                     'openstack/wsgi.py", line 658, in wrapped\n'
                                     "    return f(*args, **kwargs)\nValueError: bad flavor")
    assert objects[4]["global_request_id"] == N and objects[4]["logger"] == "neutron.wsgi"


def test_verbose_counts_the_lines_it_could_not_read(
        capsys: pytest.CaptureFixture[str], logs: dict[str, Path]) -> None:
    """Unparseable lines are skipped silently; --verbose says how many, file by file,
    on stderr, leaving stdout to the trace."""
    _code, _out, err = _run(capsys, N, *logs.values())
    assert err == ""
    _code, out, err = _run(capsys, N, *logs.values(), "--verbose")
    assert "keystone.json: 3 unparseable line(s) skipped" in err
    assert "nova-api.log: 0 unparseable line(s) skipped" in err
    assert "skipped" not in out


def test_gzip_files_are_read_like_plain_ones(
        capsys: pytest.CaptureFixture[str], logs: dict[str, Path], tmp_path: Path) -> None:
    """A rotated, gzip-compressed log gives the same trace; only the file name differs."""
    compressed = tmp_path / "nova-api.log.1.gz"
    compressed.write_bytes(gzip.compress(NOVA_LOG.encode()))
    _code, plain, _err = _run(capsys, N, *logs.values())
    files = [compressed, logs["json"], logs["text"], logs["neutron"]]
    code, out, _err = _run(capsys, N, *files)
    assert code == 0
    assert out == plain.replace("nova/nova-api.log ", "nova/nova-api.log.1.gz ")


def test_tz_reads_naive_oslo_timestamps_in_that_zone(
        capsys: pytest.CaptureFixture[str], logs: dict[str, Path]) -> None:
    """oslo.log writes local time without a zone: read as UTC by default, and in the zone
    given with --tz (here Paris, UTC+2 in May), which puts Nova's lines back in place."""
    logs["nova"].write_text(NOVA_LOG.replace("2024-05-02 10:", "2024-05-02 12:"))
    _code, out, _err = _run(capsys, N, *logs.values())
    assert [row[1] for row in _heads(out)][-3:] == ["nova/nova-api.log"] * 3  # 12:00Z, last
    _code, out, _err = _run(capsys, N, *logs.values(), "--tz", "Europe/Paris")
    assert _matches(_heads(out), EXPECTED_FOR_N), out
    _code, fixed, _err = _run(capsys, N, *logs.values(), "--tz", "+02:00")
    assert fixed == out
    code, _out, err = _run(capsys, N, *logs.values(), "--tz", "Mars/Olympus")
    assert code == 2 and "unknown time zone" in err


def test_exit_codes_none_found_and_unreadable_files(
        capsys: pytest.CaptureFixture[str], logs: dict[str, Path], tmp_path: Path) -> None:
    """1 and a message when no line matches; 2 naming the file when one is missing, a
    directory, or a broken gzip, before printing anything."""
    code, out, err = _run(capsys, "req-99999999-9999-4999-8999-999999999999", *logs.values())
    assert (code, out) == (1, "") and "no line of request" in err
    broken = tmp_path / "broken.log.gz"
    broken.write_bytes(b"\x1f\x8b\x08\x00garbage")
    for bad in (tmp_path / "missing.log", tmp_path, broken):
        code, out, err = _run(capsys, N, logs["nova"], bad)
        assert (code, out) == (2, ""), bad
        assert err.startswith(f"sevres: cannot read {bad}: "), err


def test_oslo_text_context_variants() -> None:
    """The bracket of every oslo.log generation: '[global request user_identity]' (global
    'None' when unset), the older '[request user_identity]', '[-]' without context; and
    '[instance: ...]' traceback lines continue their record."""
    lines = [
        f"2024-05-02 10:00:00.001 1 INFO cinder.api [None {P} {USER} {PROJECT} - - - -] new",
        f"2024-05-02 10:00:00.002 1 INFO glance.api [{P} - - - - -] old",
        "2024-05-02 10:00:00.003 1 WARNING nova.compute.manager [-] no context",
        f"2024-05-02 10:00:00.004 1 ERROR nova.compute.manager [{G} {N} {USER} - - -] "
        "[instance: 9d3e] Failed to build",
        "2024-05-02 10:00:00.004 1 ERROR nova.compute.manager [instance: 9d3e] Traceback:",
        "2024-05-02 10:00:00.005 1 CRITICAL nova [-] Unhandled error",
    ]
    records = list(Parser("x.log").records(lines))
    assert [(r.request_id, r.global_request_id, r.user_id, r.project_id) for r in records] == [
        (P, None, USER, PROJECT), (P, None, None, None), (None, None, None, None),
        (N, G, USER, None), (None, None, None, None)]
    assert records[3].message == "[instance: 9d3e] Failed to build\n[instance: 9d3e] Traceback:"
    assert [r.level for r in records] == ["INFO", "INFO", "WARNING", "ERROR", "CRITICAL"]
    assert records[0].service == "cinder" and records[0].time.isoformat().endswith("+00:00")


def test_oslo_json_without_created_uses_asctime_in_the_zone_given() -> None:
    """JSONFormatter's 'asctime' is local time without zone; 'created' (epoch) wins when
    present, else asctime is read in the --tz zone. A 'traceback' joins the message."""
    document = {"message": "boom", "asctime": "2024-05-02 12:00:00", "levelname": "ERROR",
                "name": "heat.engine", "traceback": "Traceback\nKeyError: 'x'",
                "context": {"request_id": G, "global_request_id": None, "user": None}}
    (record,) = Parser("h.json", zone("Europe/Paris")).records([json.dumps(document)])
    assert record.time.isoformat() == "2024-05-02T10:00:00+00:00"
    assert record.message == "boom\nTraceback\nKeyError: 'x'" and record.request_id == G
    assert record.global_request_id is None and record.user_id is None
    document["created"] = T0 + 60
    (record,) = Parser("h.json", zone("Europe/Paris")).records([json.dumps(document)])
    assert record.time.isoformat() == "2024-05-02T10:01:00+00:00"


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_lines_written_by_the_real_pipeline_are_read_back(fmt: str) -> None:
    """What sevres's own log pipeline writes today (either format) parses with its
    request id and global request id, so trace keeps up with the pipeline."""
    stream = io.StringIO()
    configure(fmt, "info", stream)
    try:
        with bound(request_id=S1, global_request_id=N, user_id=NOVA):
            emit(events.ENTITY_CREATED, kind="project", entity_id="p1")
    finally:
        configure("json", "info")
    (record,) = Parser("k.log").records(stream.getvalue().splitlines())
    assert (record.request_id, record.global_request_id, record.user_id) == (S1, N, NOVA)
    assert record.form == f"sevres-{fmt}" and record.message == "project p1 created"
    assert record.logger == "data.created" and record.level == "INFO"
    found = trace(N, [("k.log", stream.getvalue().splitlines())])
    assert [r.request_id for r in found.records] == [S1]


def test_the_real_cli_needs_no_state_and_reads_stdin(
        logs: dict[str, Path], tmp_path: Path) -> None:
    """The installed `sevres` command traces from files and '-' (stdin, here gzipped),
    with an invalid configuration around it and without creating any state directory."""
    sevres = str(Path(sys.executable).parent / "sevres")
    state = tmp_path / "state-that-must-not-appear"
    env = {"PATH": os.environ.get("PATH", "/usr/bin"), "SEVRES_PORT": "not-a-port",
           "SEVRES_STATE_DIR": str(state)}
    result = subprocess.run(
        [sevres, "logs", "trace", N, str(logs["nova"]), "-", str(logs["neutron"])],
        input=gzip.compress(SEVRES_JSON_LOG.encode()), capture_output=True, check=False,
        env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = _heads(result.stdout.decode())
    assert [row[1] for row in rows] == [
        "nova/nova-api.log", "sevres/stdin", "sevres/stdin", "neutron/neutron-server.json",
        "nova/nova-api.log", "nova/nova-api.log"]
    assert not state.exists() and not (tmp_path / ".state").exists()
    missing = subprocess.run([sevres, "logs", "trace", N, str(tmp_path / "nope.log")],
                             capture_output=True, text=True, check=False, env=env)
    assert missing.returncode == 2 and "cannot read" in missing.stderr
    assert "Traceback" not in missing.stderr
