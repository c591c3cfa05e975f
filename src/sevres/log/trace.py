"""Follow one request across sevres logs and other OpenStack services' oslo.log logs.

Four line formats are read, each line on its own (a file may even mix them):

* sevres JSON lines (``time``, ``level``, ``event``, ``message``, ``request_id``, ...);
* sevres's text format: ``<iso time> <LEVEL> <event> [request_id=.. global_request_id=..
  user_id=..] <message>`` (``[-]`` without context);
* oslo.log's ContextFormatter with its default format strings:
  ``<date> <time>.<ms> <pid> <LEVEL> <logger> [<global_request_id> <request_id>
  <user_identity>] <message>``, where an unset global id shows as ``None``, older
  releases had ``[<request_id> <user_identity>]`` and lines without context ``[-]``.
  Exception lines repeat the prefix ``<date> <time>.<ms> <pid> ERROR <logger>`` without
  the bracket; they continue the record above them;
* oslo.log's JSONFormatter: ``{"message", "asctime", "created", "levelname", "name",
  "context": {"request_id", "global_request_id", "user", "project_id", ...},
  "traceback", ...}`` (and the FluentFormatter's close cousin with ``time``/``level``).

Naive timestamps (oslo text, oslo ``asctime``) are read in the zone given (UTC unless
told); ``created`` (epoch seconds) is preferred when present. Which lines belong to a
request is decided over all files together: see :func:`trace`.
"""

from __future__ import annotations

import datetime
import gzip
import io
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any

UTC = datetime.UTC

_SEVRES_TEXT = re.compile(
    r"(?P<time>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?) "
    r"(?P<level>[A-Z]+) +(?P<event>[a-z]+\.[a-z_]+) \[(?P<context>[^\]]*)\] ?(?P<message>.*)"
)
_OSLO_TEXT = re.compile(
    r"(?P<time>\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(?:[.,]\d+)?) (?P<pid>\d+) "
    r"(?P<level>[A-Z]+) (?P<name>\S+) ?(?P<rest>.*)"
)
_NO_VALUE = ("", "-", "None")


def _id(value: Any) -> str | None:
    """An id as logged, or None for the placeholders oslo.log writes for 'unset'."""
    if value is None:
        return None
    text = str(value).strip()
    return None if text in _NO_VALUE else text


def key(request_id: str) -> str:
    """Comparison key of a request id: case-insensitive, ``req-`` optional."""
    return request_id.strip().lower().removeprefix("req-")


@dataclass(frozen=True)
class Record:
    """One log record, whatever format it came in, with its time in UTC."""

    time: datetime.datetime
    level: str
    service: str
    logger: str
    message: str
    source: str
    line: int
    form: str
    request_id: str | None = None
    global_request_id: str | None = None
    user_id: str | None = None
    project_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "time": iso(self.time),
            "source": self.source,
            "line": self.line,
            "format": self.form,
            "service": self.service,
            "logger": self.logger,
            "level": self.level,
            "request_id": self.request_id,
            "global_request_id": self.global_request_id,
            "user_id": self.user_id,
            "project_id": self.project_id,
            "message": self.message,
        }

    def as_text(self) -> str:
        """``time  service/file  LEVEL  request_id  message``; continuation lines of a
        multi-line record (a traceback) follow, indented."""
        first, *more = self.message.split("\n")
        head = (f"{iso(self.time)}  {self.service}/{self.source}  {self.level:<7}  "
                f"{self.request_id or '-'}  {first}")
        return "\n".join([head, *(f"    | {line}" for line in more)])


def iso(moment: datetime.datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def zone(name: str | None) -> datetime.tzinfo:
    """UTC, an IANA zone name (``Europe/Paris``) or a fixed offset (``+02:00``);
    ValueError when it is none of these."""
    if not name or name.upper() in ("UTC", "Z"):
        return UTC
    offset = re.fullmatch(r"([+-])(\d{2}):?(\d{2})", name)
    if offset:
        sign = -1 if offset[1] == "-" else 1
        delta = datetime.timedelta(hours=int(offset[2]), minutes=int(offset[3]))
        return datetime.timezone(sign * delta)
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (use e.g. UTC, Europe/Paris, +02:00)")\
            from None


def _when(text: str, tz: datetime.tzinfo) -> datetime.datetime:
    moment = datetime.datetime.fromisoformat(text.replace(",", ".").replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment.astimezone(UTC)


@dataclass
class Parser:
    """Turns the lines of one file into records; counts the lines it could not read."""

    source: str
    tz: datetime.tzinfo = UTC
    skipped: int = 0
    _pending: Record | None = field(default=None, repr=False)
    _pending_prefix: tuple[str, str, str] | None = field(default=None, repr=False)

    def records(self, lines: Iterable[str]) -> Iterator[Record]:
        for number, raw in enumerate(lines, 1):
            line = raw.rstrip("\r\n")
            if not line.strip():
                continue
            try:
                done = self._line(line, number)
            except (ValueError, TypeError, KeyError, AttributeError):
                done = self._flush()
                self.skipped += 1
            if done is not None:
                yield done
        last = self._flush()
        if last is not None:
            yield last

    def _flush(self) -> Record | None:
        pending, self._pending, self._pending_prefix = self._pending, None, None
        return pending

    def _line(self, line: str, number: int) -> Record | None:
        """Parse one line; return the record it completes (the previous one), if any."""
        if line.startswith("{"):
            document = json.loads(line)
            if not isinstance(document, dict):
                raise ValueError("not an object")
            record = self._json(document, number)
            previous = self._flush()
            self._pending = record
            return previous
        match = _OSLO_TEXT.fullmatch(line)
        if match:
            return self._oslo_text(match, number)
        match = _SEVRES_TEXT.fullmatch(line)
        if match is None:
            raise ValueError("no known format")
        context = _pairs(match["context"])
        record = Record(
            time=_when(match["time"], self.tz), level=match["level"], service="sevres",
            logger=match["event"], message=match["message"], source=self.source,
            line=number, form="sevres-text", request_id=context.get("request_id"),
            global_request_id=context.get("global_request_id"),
            user_id=context.get("user_id"), project_id=context.get("project_id"))
        previous = self._flush()
        self._pending = record
        return previous

    def _json(self, document: dict[str, Any], number: int) -> Record:
        if "levelname" in document or isinstance(document.get("context"), dict):
            context = document.get("context") or {}
            if not isinstance(context, dict):
                raise ValueError("context is not an object")
            if isinstance(document.get("created"), int | float):
                moment = datetime.datetime.fromtimestamp(document["created"], UTC)
            else:
                moment = _when(str(document.get("asctime") or document["time"]), self.tz)
            message = str(document.get("message", ""))
            if document.get("traceback"):
                message += "\n" + str(document["traceback"])
            name = str(document.get("name") or "-")
            return Record(
                time=moment, level=str(document.get("levelname") or document["level"]),
                service=name.split(".", maxsplit=1)[0], logger=name, message=message,
                source=self.source, line=number, form="oslo-json",
                request_id=_id(context.get("request_id")),
                global_request_id=_id(context.get("global_request_id")),
                user_id=_id(context.get("user") or context.get("user_id")),
                project_id=_id(context.get("project_id") or context.get("project")
                               or context.get("tenant")))
        return Record(
            time=_when(str(document["time"]), self.tz), level=str(document["level"]),
            service="sevres", logger=str(document["event"]),
            message=str(document.get("message", "")), source=self.source, line=number,
            form="sevres-json", request_id=_id(document.get("request_id")),
            global_request_id=_id(document.get("global_request_id")),
            user_id=_id(document.get("user_id")), project_id=_id(document.get("project_id")))

    def _oslo_text(self, match: re.Match[str], number: int) -> Record | None:
        prefix = (match["time"], match["pid"], match["name"])
        rest = match["rest"]
        context = _oslo_context(rest)
        if context is None and self._pending is not None and prefix == self._pending_prefix:
            # A traceback line (logging_exception_prefix): same time, pid and logger.
            if rest.strip():
                message = self._pending.message + "\n" + rest
                self._pending = replace(self._pending, message=message)
            return None
        ids: dict[str, str | None] = {}
        message = rest
        if context is not None:
            ids, message = context
        record = Record(
            time=_when(match["time"], self.tz), level=match["level"],
            service=match["name"].split(".", maxsplit=1)[0], logger=match["name"], message=message,
            source=self.source, line=number, form="oslo-text",
            request_id=ids.get("request_id"), global_request_id=ids.get("global_request_id"),
            user_id=ids.get("user_id"), project_id=ids.get("project_id"))
        previous = self._flush()
        self._pending, self._pending_prefix = record, prefix
        return previous


def _pairs(context: str) -> dict[str, str]:
    if context.strip() == "-":
        return {}
    pairs = dict(item.split("=", 1) for item in context.split())
    return {k: v for k, v in pairs.items() if v}


def _oslo_context(rest: str) -> tuple[dict[str, str | None], str] | None:
    """The ids in ``[...]`` at the start of an oslo.log message, and the message after it;
    None when the line has no such bracket (a traceback line, a custom format)."""
    if not rest.startswith("["):
        return None
    end = rest.find("]")
    if end < 0:
        return None
    inner, message = rest[1:end], rest[end + 1:].removeprefix(" ")
    if inner.startswith("instance:"):
        return None  # '[instance: <uuid>] ' begins messages and exception lines alike
    tokens = inner.split()
    if tokens in ([], ["-"]):
        return {}, message
    if len(tokens) >= 2 and tokens[1].lower().startswith("req-"):
        # Since oslo.log 3.x: [%(global_request_id)s %(request_id)s %(user_identity)s]
        global_id, request_id, identity = _id(tokens[0]), tokens[1], tokens[2:]
    elif tokens[0].lower().startswith("req-"):
        # Before global request ids: [%(request_id)s %(user_identity)s]
        global_id, request_id, identity = None, tokens[0], tokens[1:]
    else:
        return None
    identity += ["-", "-"]  # user_identity starts with '%(user)s %(project)s'
    ids = {"request_id": request_id, "global_request_id": global_id,
           "user_id": _id(identity[0]), "project_id": _id(identity[1])}
    return ids, message


# -- reading -------------------------------------------------------------------------------

def open_lines(path: str, stdin: IO[bytes] | None = None) -> Iterator[str]:
    """The lines of a file (gzip-compressed or not, recognised by its first bytes), or of
    ``stdin`` for ``-``. Raises UnreadableLog when it cannot be read to the end."""
    try:
        raw: IO[bytes] = (
            io.BytesIO(stdin.read()) if path == "-" and stdin is not None
            else Path(path).open("rb"))  # noqa: SIM115 (closed below, the generator may pause)
    except OSError as error:
        raise UnreadableLog(path, error.strerror or str(error)) from None
    try:
        magic = raw.read(2)
        raw.seek(0)
        stream: Iterable[bytes] = gzip.GzipFile(fileobj=raw) if magic == b"\x1f\x8b" else raw
        for chunk in stream:
            yield chunk.decode("utf-8", errors="replace")
    except (OSError, EOFError) as error:
        raise UnreadableLog(path, str(error) or type(error).__name__) from None
    finally:
        raw.close()


class UnreadableLog(Exception):
    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"cannot read {'stdin' if path == '-' else path}: {reason}")
        self.path = path


def short_name(path: str) -> str:
    return "stdin" if path == "-" else Path(path).name


# -- the trace -----------------------------------------------------------------------------

def related_ids(wanted: str, edges: Iterable[tuple[str, str]]) -> tuple[set[str], set[str]]:
    """From (request id, global request id) pairs seen in the logs: the requests caused by
    ``wanted`` (itself, those whose global id is it, and so on down), and the requests
    that caused it (its global id, that one's global id, and so on up). Keys, see key()."""
    children: dict[str, set[str]] = {}
    parents: dict[str, set[str]] = {}
    for request_id, global_id in edges:
        children.setdefault(global_id, set()).add(request_id)
        parents.setdefault(request_id, set()).add(global_id)
    down, todo = {key(wanted)}, [key(wanted)]
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in down:
                down.add(child)
                todo.append(child)
    up: set[str] = set()
    todo = [key(wanted)]
    while todo:
        for parent in parents.get(todo.pop(), ()):
            if parent not in up and parent not in down:
                up.add(parent)
                todo.append(parent)
    return down, up


@dataclass
class Trace:
    records: list[Record]
    skipped: dict[str, int]


def trace(wanted: str, sources: list[tuple[str, list[str] | None]],
          tz: datetime.tzinfo = UTC) -> Trace:
    """The records of request ``wanted`` across all sources, in time order.

    A record belongs to the trace when its request id or its global request id is
    ``wanted``; transitively, also the records of requests whose global request id is
    a request of the trace (a sevres request made on behalf of a Nova request found
    from the Nova request id or from the Nova request's own global id), and the records
    of the requests ``wanted`` was made on behalf of (the Nova request, found from the
    sevres request id). Sources are (path, None) and are read twice, to learn the links
    between requests first; give (path, lines) to read lines already in memory (stdin).
    Raises UnreadableLog when a file cannot be read.
    """
    def lines_of(path: str, lines: list[str] | None) -> Iterable[str]:
        return lines if lines is not None else open_lines(path)

    edges: set[tuple[str, str]] = set()
    for path, lines in sources:
        for record in Parser(short_name(path), tz).records(lines_of(path, lines)):
            if record.request_id and record.global_request_id:
                edges.add((key(record.request_id), key(record.global_request_id)))
    down, up = related_ids(wanted, edges)
    found: list[tuple[datetime.datetime, int, int, Record]] = []
    skipped: dict[str, int] = {}
    for index, (path, lines) in enumerate(sources):
        parser = Parser(short_name(path), tz)
        for record in parser.records(lines_of(path, lines)):
            own = key(record.request_id) if record.request_id else None
            parent = key(record.global_request_id) if record.global_request_id else None
            if own in down or parent in down or own in up:
                found.append((record.time, index, record.line, record))
        skipped[path] = parser.skipped
    found.sort(key=lambda item: item[:3])
    return Trace([item[3] for item in found], skipped)
