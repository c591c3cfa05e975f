"""The logging pipeline: event + fields + request context -> one line of JSON or text.

Steps: (1) ``emit`` checks the fields against the event's declaration, (2) adds the
request context bound in a ``ContextVar`` (request id, global request id, caller ids),
(3) drops the line if the event's level is under the configured minimum, (4) renders
JSON (default) or the one fixed text format, (5) writes it with a lock so lines from
threads never interleave. Library loggers are bridged into two catalog events.
"""

from __future__ import annotations

import contextvars
import datetime
import json
import logging
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, Any

from sevres.log.events import LIBRARY_ERROR, LIBRARY_WARNING, Event, Level

CONTEXT_KEYS = ("request_id", "global_request_id", "user_id", "project_id", "domain_id")

_context: contextvars.ContextVar[dict[str, str]] = contextvars.ContextVar("sevres_log_context")


def new_request_id() -> str:
    """An OpenStack request id: 'req-' and a UUID, as oslo.middleware makes them."""
    return f"req-{uuid.uuid4()}"


class _Sink:
    def __init__(self) -> None:
        # Lines outside any request (start-up, the CLI, background work) carry the id of
        # the process's own activity, so that every line has a request id to grep for.
        self.process_request_id = new_request_id()
        self.stream: IO[str] = sys.stderr
        self.format = "json"
        self.minimum = Level.INFO
        self.lock = threading.Lock()


_sink = _Sink()


def configure(fmt: str = "json", level: str = "info", stream: IO[str] | None = None) -> None:
    _sink.format = fmt
    _sink.minimum = Level[level.upper()]
    _sink.stream = stream or sys.stderr
    _bridge_library_loggers()


@contextmanager
def bound(**values: str | None) -> Iterator[None]:
    """Bind request context (request id, caller ids) to every line emitted inside."""
    merged = dict(_context.get({}))
    merged.update({k: v for k, v in values.items() if v})
    token = _context.set(merged)
    try:
        yield
    finally:
        _context.reset(token)


def bind(**values: str | None) -> None:
    """Add to the context already bound (used once the caller's token is known).

    The request's context dict is updated in place, so ids bound inside the worker thread
    that runs the endpoint also reach the request's closing line in the event loop."""
    current = _context.get(None)
    fresh = {k: v for k, v in values.items() if v}
    if current is None:
        _context.set(fresh)
    else:
        current.update(fresh)


Observer = Callable[[Event, dict[str, Any]], None]
_observers: list[Observer] = []


def observe(observer: Observer) -> None:
    """Also hand every emitted event (whatever the level) to ``observer``: the audit
    trail (sevres.audit) is derived from the same events, never from a second call."""
    if observer not in _observers:
        _observers.append(observer)


def current_context() -> dict[str, str]:
    """The request context bound now, with the ids every line carries."""
    context = dict(_context.get({}))
    context.setdefault("request_id", _sink.process_request_id)
    # A request nobody else started is its own global request (oslo.log leaves it blank).
    context.setdefault("global_request_id", context["request_id"])
    return context


def emit(event: Event, **fields: Any) -> None:
    declared = event.fields
    if len(fields) != len(declared) or not all(name in fields for name in declared):
        raise TypeError(f"event {event.name} takes fields {declared}, got {tuple(fields)}")
    for observer in _observers:
        observer(event, fields)
    if event.level < _sink.minimum:
        return
    line = _render(event, fields)
    with _sink.lock:
        _sink.stream.write(line + "\n")
        _sink.stream.flush()


def _render(event: Event, fields: dict[str, Any]) -> str:
    now = datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds")
    context = current_context()
    message = event.message.format(**fields)
    if _sink.format == "text":
        ids = " ".join(f"{k}={context[k]}" for k in CONTEXT_KEYS if k in context)
        return f"{now} {event.level.name:<7} {event.name} [{ids or '-'}] {message}"
    record: dict[str, Any] = {
        "time": now,
        "level": event.level.name,
        "event": event.name,
        "message": message,
    }
    record.update({k: context[k] for k in CONTEXT_KEYS if k in context})
    record.update(fields)
    return json.dumps(record, default=str)


class _Bridge(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        event = LIBRARY_ERROR if record.levelno >= logging.ERROR else LIBRARY_WARNING
        emit(event, logger=record.name, text=record.getMessage())


def _bridge_library_loggers() -> None:
    for name in ("uvicorn", "uvicorn.error", "sqlalchemy", "alembic", "asyncio"):
        library = logging.getLogger(name)  # bridged into the catalog
        library.handlers = [_Bridge()]
        library.setLevel(logging.WARNING)
        library.propagate = False
    logging.getLogger("uvicorn.access").disabled = True  # requests are logged as events
