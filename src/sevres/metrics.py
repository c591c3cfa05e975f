"""Prometheus metrics, and ``GET /metrics`` that exposes them in the text format 0.0.4.

Every worker process counts into prometheus_client metrics. ``sevres serve`` points
``PROMETHEUS_MULTIPROC_DIR`` at a fresh folder under the state folder before the workers
start; prometheus_client then keeps each process's values in memory-mapped files of its
own there, and a scrape sums the files of every process, so whichever worker answers
``/metrics`` reports the totals of all of them. A process started without that variable
(tests that build the app in-process, or ``sevres run`` with one worker, which imports
the app before ``serve`` prepares the folder) counts in memory, and a scrape reads that.
Which of the two prometheus_client chose is read back from it, never guessed.

HTTP requests are labelled by the matched route's path template
(``/v3/projects/{project_id}``), never by the raw path, so ids cannot multiply the
series; a path no route matches is ``unmatched``. ``/metrics`` itself is not counted.
Counting is in-process arithmetic on values the caller already holds: no database work.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    values,
)
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Scope

from sevres import __version__

if TYPE_CHECKING:
    from sevres.app import Services

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
PATH = "/metrics"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"  # what generate_latest writes
UNMATCHED = "unmatched"
# From 1 ms to 10 s: a cached validation is around the first, an argon2 login the middle.
DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                    5.0, 10.0)
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

# prometheus_client picks memory-mapped files when PROMETHEUS_MULTIPROC_DIR was set as it
# was first imported; the choice is fixed for the process from then on.
MULTIPROCESS = values.ValueClass is not values.MutexValue
# *_created series cannot be summed across processes; multiprocess mode has none either.
disable_created_metrics()  # type: ignore[no-untyped-call]

REGISTRY = CollectorRegistry(auto_describe=True)

HTTP_REQUESTS = Counter(
    "sevres_http_requests", "HTTP requests answered, by method, route template and status.",
    ["method", "route", "status"], registry=REGISTRY)
HTTP_DURATION = Histogram(
    "sevres_http_request_duration_seconds",
    "Time from receiving a request to finishing its answer, by method and route template.",
    ["method", "route"], buckets=DURATION_BUCKETS, registry=REGISTRY)
TOKENS_ISSUED = Counter(
    "sevres_tokens_issued", "Tokens issued (POST /v3/auth/tokens), by authentication "
    "methods (comma-separated, as requested).", ["method"], registry=REGISTRY)
TOKENS_VALIDATED = Counter(
    "sevres_tokens_validated", "Token validations, by outcome: the X-Auth-Token of every "
    "authenticated request, each X-Subject-Token checked, each token re-scoped.",
    ["outcome"], registry=REGISTRY)
TOKENS_REVOKED = Counter(
    "sevres_tokens_revoked", "Tokens revoked through DELETE /v3/auth/tokens.",
    registry=REGISTRY)
AUTH_FAILURES = Counter(
    "sevres_auth_failures", "Failed logins: POST /v3/auth/tokens answered 401 (bad "
    "password, unknown user, invalid token to re-scope, no role on the scope...).",
    registry=REGISTRY)
CACHE_REQUESTS = Counter(
    "sevres_cache_requests", "Cache look-ups by cache and result: token_validation counts "
    "each validation answered from memory (hit) or validated in full (miss).",
    ["cache", "result"], registry=REGISTRY)
DATABASE_TRANSACTIONS = Counter(
    "sevres_database_transactions", "Transactions that took a database connection, by "
    "path (primary, replica), kind (read, write) and origin (request, or upkeep: the "
    "scheduled key rotation and revocation pruning). A request answered from memory takes "
    "none; the state poll's probes are not counted.", ["path", "kind", "origin"],
    registry=REGISTRY)
BUILD_INFO = Gauge(
    "sevres_build_info", "Always 1; the label says which sevres version is running.",
    ["version"], registry=REGISTRY, multiprocess_mode="max")

DATABASE_REACHABLE = Gauge(
    "sevres_database_reachable", "1 while the database path (primary, or the read "
    "replica) answers the state poll's probes, 0 while its circuit breaker is open and "
    "requests needing it answer 503 at once. With several workers: the lowest of them.",
    ["path"], registry=REGISTRY, multiprocess_mode="livemin")

BUILD_INFO.labels(version=__version__).set(1)
# Series that exist from the start, at zero, so that rate() and dashboards see them.
for _outcome in ("valid", "invalid"):
    TOKENS_VALIDATED.labels(outcome=_outcome)
for _method in ("password", "token"):
    TOKENS_ISSUED.labels(method=_method)
for _result in ("hit", "miss"):
    CACHE_REQUESTS.labels(cache="token_validation", result=_result)
for _kind in ("read", "write"):
    DATABASE_TRANSACTIONS.labels(path="primary", kind=_kind, origin="request")


_children: dict[tuple[object, ...], Any] = {}


def _child(metric: Any, *values: str) -> Any:
    """``metric.labels(*values)``, remembered: the lookup costs more than the count on the
    hottest paths. Label values here are few (routes, methods, statuses, outcomes)."""
    key = (id(metric), *values)
    found = _children.get(key)
    if found is None:
        found = _children[key] = metric.labels(*values)
    return found


def count_transaction(path: str, write: bool, origin: str) -> None:
    _child(DATABASE_TRANSACTIONS, path, "write" if write else "read", origin).inc()


def route_template(scope: Scope) -> str:
    """The path template of the route that matched (fully, or by path only for a 405)."""
    path = getattr(scope.get("route"), "path", None)  # set by Starlette's router
    if path is None and "endpoint" in scope:  # Starlette releases that did not set it
        routes: Iterable[Any] = getattr(scope.get("app"), "routes", ())
        path = next((getattr(r, "path", None) for r in routes
                     if getattr(r, "endpoint", None) is scope["endpoint"]), None)
    return path if isinstance(path, str) else UNMATCHED


def observe_request(scope: Scope, status: int, seconds: float) -> None:
    route = route_template(scope)
    if route == PATH:
        return
    method = scope["method"] if scope["method"] in _METHODS else "other"
    _child(HTTP_REQUESTS, method, route, str(status)).inc()
    _child(HTTP_DURATION, method, route).observe(seconds)


class Held:
    """Counts made during an attempt that may be abandoned (a request first tried from
    memory, then run again with the database): applied at the end unless dropped."""

    def __init__(self) -> None:
        self.counts: list[Callable[[], None]] = []
        self.dropped = False

    def drop(self) -> None:
        self.dropped = True


_held: ContextVar[Held | None] = ContextVar("sevres_metrics_held", default=None)


@contextmanager
def held() -> Iterator[Held]:
    attempt = Held()
    reset = _held.set(attempt)
    try:
        yield attempt
    finally:
        _held.reset(reset)
        if not attempt.dropped:
            for count in attempt.counts:
                count()


def _count(count: Callable[[], None]) -> None:
    attempt = _held.get()
    if attempt is None:
        count()
    else:
        attempt.counts.append(count)


def token_issued(methods: Iterable[str]) -> None:
    _count(_child(TOKENS_ISSUED, ",".join(methods)).inc)


def token_validated(valid: bool) -> None:
    _count(_child(TOKENS_VALIDATED, "valid" if valid else "invalid").inc)


def validation_cache(hit: bool) -> None:
    _count(_child(CACHE_REQUESTS, "token_validation", "hit" if hit else "miss").inc)


def token_revoked() -> None:
    _count(TOKENS_REVOKED.inc)


def auth_failed() -> None:
    _count(AUTH_FAILURES.inc)


def exposition() -> bytes:
    """The text format of every metric, summed over all worker processes."""
    if MULTIPROCESS:
        registry = CollectorRegistry()
        MultiProcessCollector(  # type: ignore[no-untyped-call]
            registry, path=os.environ.get(MULTIPROCESS_ENV))
        return generate_latest(registry)
    return generate_latest(REGISTRY)


async def scrape(request: Request) -> Response:
    return Response(await run_in_threadpool(exposition), media_type=CONTENT_TYPE)


def routes(services: Services) -> list[Route]:
    """``GET /metrics`` (no token: restrict it at the load balancer), unless disabled."""
    if not services.settings.metrics_enabled:
        return []
    return [Route(PATH, scrape, methods=["GET"])]
