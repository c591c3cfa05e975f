"""The logging rule: every log line is an event of the catalog, and nothing else logs."""

from __future__ import annotations

import ast
import io
import json
import re
from pathlib import Path

import pytest

from sevres.log import bound, configure, emit, events
from sevres.log.events import CATALOG, SECRET_WORDS

SRC = Path(__file__).resolve().parents[2] / "src" / "sevres"
DIRECT = re.compile(
    r"\bimport logging\b|logging\.getLogger\(|\bprint\(|"
    r"\b(log|logger|LOG|LOGGER)\.(debug|info|warning|warn|error|exception|critical)\("
)


def _sources() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py") if "migrations" not in p.parts)


def test_no_code_outside_the_log_package_logs_directly() -> None:
    """Outside sevres/log/, no module imports logging, makes a logger, or prints."""
    offenders = []
    for path in _sources():
        if path.parent.name == "log":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if DIRECT.search(line):
                offenders.append(f"{path.relative_to(SRC)}:{number}: {line.strip()}")
    assert offenders == []


def test_every_emit_call_passes_exactly_the_declared_fields() -> None:
    """Each emit(events.X, ...) in the code names X from the catalog with its exact fields."""
    problems = []
    for path in _sources():
        if path.parent.name == "log":
            continue  # the pipeline's own bridge passes an event variable
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and getattr(node.func, "id", "") == "emit"):
                continue
            first = node.args[0] if node.args else None
            if not (isinstance(first, ast.Attribute) and isinstance(first.value, ast.Name)):
                problems.append(f"{path.name}:{node.lineno}: event is not events.NAME")
                continue
            event = getattr(events, first.attr, None)
            if event is None:
                problems.append(f"{path.name}:{node.lineno}: no event {first.attr}")
                continue
            given = {k.arg for k in node.keywords}
            if given != set(event.fields):
                problems.append(f"{path.name}:{node.lineno}: {event.name} takes "
                                f"{sorted(event.fields)}, got {sorted(given)}")
    assert problems == []


def test_no_event_declares_a_field_that_could_hold_a_secret() -> None:
    """Passwords, tokens and keys have no field to travel in; tokens only as token_hash."""
    for event in CATALOG.values():
        for field in event.fields:
            assert not any(word in field for word in SECRET_WORDS), (event.name, field)
            assert field == "token_hash" or "token" not in field, (event.name, field)


def test_event_names_are_unique_dotted_and_documented() -> None:
    """Names are stable dotted identifiers and each event says what it means."""
    for name, event in CATALOG.items():
        assert re.fullmatch(r"[a-z]+\.[a-z_]+", name), name
        assert event.meaning.strip(), name


def test_emit_refuses_undeclared_fields() -> None:
    """A wrong field set is a programming error caught at the first call, not a bad line."""
    with pytest.raises(TypeError):
        emit(events.ENTITY_CREATED, kind="user")
    with pytest.raises(TypeError):
        emit(events.ENTITY_CREATED, kind="user", entity_id="x", password="hunter2")


def test_json_lines_carry_the_request_context() -> None:
    """JSON output: time, level, event, message, the bound request id and the fields."""
    stream = io.StringIO()
    configure("json", "debug", stream)
    with bound(request_id="req-1", user_id="u1"):
        emit(events.ENTITY_CREATED, kind="project", entity_id="p1")
    record = json.loads(stream.getvalue())
    assert record["event"] == "data.created" and record["level"] == "INFO"
    assert record["request_id"] == "req-1" and record["user_id"] == "u1"
    assert record["message"] == "project p1 created" and record["entity_id"] == "p1"


def test_text_format_is_one_fixed_line() -> None:
    """Text output: 'time LEVEL event [ids] message', one line per event."""
    stream = io.StringIO()
    configure("text", "info", stream)
    with bound(request_id="req-2"):
        emit(events.ENTITY_DELETED, kind="role", entity_id="r1")
        emit(events.TOKEN_VALIDATED, token_hash="abc", user_id="u")  # debug: filtered out
    (line,) = stream.getvalue().splitlines()
    assert re.fullmatch(r"\S+ INFO    data\.deleted \[request_id=req-2 global_request_id=req-2\] "
                        r"role r1 deleted", line)
    configure("json", "info")


def test_docs_events_md_is_generated_from_the_catalog() -> None:
    """docs/events.md lists every event as the catalog declares it; a stale file fails
    (regenerate with `python -m sevres.log.docs`)."""
    from sevres.log.docs import render

    path = SRC.parents[1] / "docs" / "events.md"
    assert path.read_text() == render(), "run: python -m sevres.log.docs"
    for name in CATALOG:
        assert f"`{name}`" in path.read_text()
