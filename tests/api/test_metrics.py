"""GET /metrics over HTTP: the Prometheus text format, counters that rise by exactly what
was done between two scrapes, route templates as labels, cumulative histograms, and the
totals of every worker process in one scrape."""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from sevres import __version__
from sevres.metrics import DURATION_BUCKETS, route_template
from tests import backends
from tests.factories import Api, password_auth, project_scope
from tests.server import ADMIN_PASSWORD, Server, start

Series = tuple[str, frozenset[tuple[str, str]]]


def scrape(url: str) -> tuple[httpx.Response, dict[Series, float]]:
    """One anonymous scrape, parsed into {(sample name, labels): value}."""
    response = httpx.get(f"{url}/metrics", timeout=30)
    assert response.status_code == 200, response.text
    samples: dict[Series, float] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return response, samples


def key(name: str, **labels: str) -> Series:
    return name, frozenset(labels.items())


def delta(before: dict[Series, float], after: dict[Series, float]) -> dict[Series, float]:
    """What rose between two scrapes (histogram buckets and sums left out)."""
    rose = {k: v - before.get(k, 0.0) for k, v in after.items()
            if not k[0].endswith(("_bucket", "_sum"))}
    return {k: v for k, v in rose.items() if v}


def test_metrics_answers_the_text_format_without_a_token(
    server: Server, anonymous: httpx.Client
) -> None:
    """/metrics needs no token, answers text/plain version 0.0.4, and holds every
    documented family: the cache and transaction series exist at zero from the start, and
    sevres_build_info names the running version."""
    response = anonymous.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    _, samples = scrape(server.url)
    names = {name for name, _ in samples}
    for family in ("sevres_http_requests_total", "sevres_http_request_duration_seconds_bucket",
                   "sevres_tokens_issued_total", "sevres_tokens_validated_total",
                   "sevres_tokens_revoked_total", "sevres_auth_failures_total",
                   "sevres_cache_requests_total", "sevres_build_info"):
        assert family in names, family
    for result in ("hit", "miss"):
        assert key("sevres_cache_requests_total", cache="token_validation", result=result) \
            in samples
    assert samples[key("sevres_build_info", version=__version__)] == 1
    assert "# HELP sevres_cache_requests_total" in response.text
    assert "answered from memory (hit)" in response.text
    for kind in ("read", "write"):
        assert key("sevres_database_transactions_total", path="primary", kind=kind,
                   origin="request") in samples


def test_counters_rise_by_exactly_what_was_done(server: Server, admin: Api) -> None:
    """Between two scrapes: one login, one failed login, a validation of a valid and of a
    garbage token, a project GET by id and a 404 on no route raise each counter by exactly
    the expected amount; every authenticated request also counts the validation of its
    X-Auth-Token. The scrapes themselves are not counted, and the project's id never
    appears: the route is labelled by its template."""
    project = admin.project()
    _, before = scrape(server.url)
    with httpx.Client(base_url=server.url, timeout=30) as client:
        login = client.post("/v3/auth/tokens", json=password_auth(
            "admin", ADMIN_PASSWORD, scope=project_scope()))
        assert login.status_code == 201
        failed = client.post("/v3/auth/tokens", json=password_auth("admin", "wrong-password"))
        assert failed.status_code == 401
    valid = admin.get("/v3/auth/tokens",
                      headers={"X-Subject-Token": login.headers["X-Subject-Token"]})
    assert valid.status_code == 200
    garbage = admin.get("/v3/auth/tokens", headers={"X-Subject-Token": "not-a-token"})
    assert garbage.status_code == 404
    assert admin.get(f"/v3/projects/{project['id']}").status_code == 200
    assert admin.get("/v3/no-such-collection/at-all").status_code == 404
    scraped, after = scrape(server.url)

    requests = "sevres_http_requests_total"
    count = "sevres_http_request_duration_seconds_count"
    tokens_route, project_route = "/v3/auth/tokens", "/v3/projects/{project_id}"
    changed = delta(before, after)
    # Every validation looks in the validation cache once: hits and misses add up to the
    # validations (which of them hit depends on what earlier tests left in memory).
    lookups = sum(changed.pop(key("sevres_cache_requests_total", cache="token_validation",
                                  result=result), 0) for result in ("hit", "miss"))
    assert lookups == 5
    # Database transactions: how many depends on what is already in memory too.
    for kind in ("read", "write"):
        for origin in ("request", "upkeep"):
            changed.pop(key("sevres_database_transactions_total", path="primary", kind=kind,
                            origin=origin), 0)
    assert changed == {
        key(requests, method="POST", route=tokens_route, status="201"): 1,
        key(requests, method="POST", route=tokens_route, status="401"): 1,
        key(requests, method="GET", route=tokens_route, status="200"): 1,
        key(requests, method="GET", route=tokens_route, status="404"): 1,
        key(requests, method="GET", route=project_route, status="200"): 1,
        key(requests, method="GET", route="unmatched", status="404"): 1,
        key(count, method="POST", route=tokens_route): 2,
        key(count, method="GET", route=tokens_route): 2,
        key(count, method="GET", route=project_route): 1,
        key(count, method="GET", route="unmatched"): 1,
        key("sevres_tokens_issued_total", method="password"): 1,
        key("sevres_auth_failures_total"): 1,
        # The subject token once, and admin's X-Auth-Token on each of its four requests
        # that reached a route; the garbage subject token is the one invalid.
        key("sevres_tokens_validated_total", outcome="valid"): 4,
        key("sevres_tokens_validated_total", outcome="invalid"): 1,
    }
    assert project["id"] not in scraped.text
    assert "no-such-collection" not in scraped.text
    assert not any(dict(labels).get("route") == "/metrics" for _, labels in after)


def test_database_transactions_are_counted_and_a_warm_validation_takes_none(
        server: Server, admin: Api) -> None:
    """A change takes one write transaction on the primary; validating a token again and
    again, once it is in memory, takes no transaction at all."""
    with httpx.Client(base_url=server.url, timeout=30) as client:
        login = client.post("/v3/auth/tokens", json=password_auth(
            "admin", ADMIN_PASSWORD, scope=project_scope()))
    assert login.status_code == 201
    subject = {"X-Subject-Token": login.headers["X-Subject-Token"]}
    assert admin.get("/v3/auth/tokens", headers=subject).status_code == 200  # now in memory
    written, read = (key("sevres_database_transactions_total", path="primary", kind=kind,
                         origin="request") for kind in ("write", "read"))
    _, before = scrape(server.url)
    admin.project()
    _, after = scrape(server.url)
    assert after[written] - before[written] == 1
    time.sleep(1)  # the write's revision reaches the worker's state poll
    assert admin.get("/v3/auth/tokens", headers=subject).status_code == 200  # reloads once
    _, before = scrape(server.url)
    for _ in range(20):
        assert admin.get("/v3/auth/tokens", headers=subject).status_code == 200
    _, after = scrape(server.url)
    assert after[read] - before[read] == 0
    assert after[written] - before[written] == 0


def test_histograms_are_cumulative_and_count_every_request(server: Server, admin: Api) -> None:
    """For every (method, route), the buckets are the documented ones from 1 ms to 10 s,
    never decrease as ``le`` grows, the +Inf bucket equals ``_count``, and ``_count``
    equals the requests counter summed over statuses: each answered request is observed
    once in each."""
    admin.get("/v3/projects")
    admin.get("/v3/auth/tokens", headers={"X-Subject-Token": "garbage"})
    _, samples = scrape(server.url)
    buckets: dict[frozenset[tuple[str, str]], list[tuple[float, float]]] = {}
    counts: dict[frozenset[tuple[str, str]], float] = {}
    requests: dict[frozenset[tuple[str, str]], float] = {}
    for (name, labels), value in samples.items():
        fields = dict(labels)
        if name == "sevres_http_request_duration_seconds_bucket":
            le = float(fields.pop("le"))
            buckets.setdefault(frozenset(fields.items()), []).append((le, value))
        elif name == "sevres_http_request_duration_seconds_count":
            counts[labels] = value
        elif name == "sevres_http_requests_total":
            fields.pop("status")
            series = frozenset(fields.items())
            requests[series] = requests.get(series, 0.0) + value
    assert key("x", method="GET", route="/v3/projects")[1] in counts
    assert set(buckets) == set(counts) == {s for s, v in requests.items() if v}
    for series, found in buckets.items():
        ordered = [value for _, value in sorted(found)]
        assert [le for le, _ in sorted(found)] == [*DURATION_BUCKETS, float("inf")]
        assert ordered == sorted(ordered), (series, ordered)
        assert ordered[-1] == counts[series] == requests[series], series


def test_route_template_falls_back_to_the_endpoint_without_scope_route() -> None:
    """On Starlette releases whose router does not put the matched route in the scope,
    the template is found from the endpoint it did put there; no match is 'unmatched'."""
    from starlette.applications import Starlette
    from starlette.routing import Route

    async def show(request: object) -> None:
        raise AssertionError("never called")

    app = Starlette(routes=[Route("/v3/users/{user_id}", show)])
    assert route_template({"type": "http", "app": app, "endpoint": show}) == \
        "/v3/users/{user_id}"
    assert route_template({"type": "http", "app": app}) == "unmatched"


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[Server]:
    """Its own two-worker server on SQLite: summing over processes is not a database
    matter, so one backend is enough."""
    backend = backends.create("sqlite", tmp_path)
    server = start(tmp_path, backend.url, workers=2)
    try:
        deadline = time.monotonic() + 30  # a loaded machine may start the second one late
        while time.monotonic() < deadline:
            if server.log_text().count("server.worker_started") >= 2:
                break
            time.sleep(0.2)
        yield server
    finally:
        server.stop()
        backend.drop()


def per_worker_discovery_count(metrics_dir: Path) -> dict[str, float]:
    """GET /v3 as counted by each worker process, read from its own counter file."""
    counted = {}
    for path in sorted(metrics_dir.glob("counter_*.db")):
        total = 0.0
        for family in MultiProcessCollector.merge([str(path)]):
            for sample in family.samples:
                if sample.name == "sevres_http_requests_total" and \
                        sample.labels.get("route") == "/v3":
                    total += sample.value
        counted[path.stem.removeprefix("counter_")] = total
    return counted


def test_one_scrape_sums_every_worker(two_workers: Server) -> None:
    """20 concurrent requests through two worker processes land on both (each counts
    some in its own file under <state>/metrics), and a single scrape, whichever worker
    answers it, reports all 20."""
    url = two_workers.url
    metrics_dir = two_workers.state_dir / "metrics"
    series = key("sevres_http_requests_total", method="GET", route="/v3", status="200")
    _, before = scrape(url)
    per_worker_before = per_worker_discovery_count(metrics_dir)

    def discover(_: int) -> int:
        with httpx.Client(timeout=30) as client:  # a connection each, for either worker
            return client.get(f"{url}/v3").status_code

    sent = 0
    for _ in range(5):  # the kernel picks the worker; a rare batch all lands on one
        with concurrent.futures.ThreadPoolExecutor(10) as pool:
            assert list(pool.map(discover, range(20))) == [200] * 20
        sent += 20
        per_worker = per_worker_discovery_count(metrics_dir)
        rose = {pid: n - per_worker_before.get(pid, 0.0) for pid, n in per_worker.items()}
        if sum(1 for n in rose.values() if n > 0) >= 2:
            break
    assert sum(1 for n in rose.values() if n > 0) == 2, rose
    assert sum(rose.values()) == sent
    for _ in range(4):  # several scrapes, so each worker answers one with high odds
        _, after = scrape(url)
        assert after[series] - before.get(series, 0.0) == sent


def test_the_switch_reads_like_every_setting(tmp_path: Path) -> None:
    """``[metrics] enabled`` / SEVRES_METRICS_ENABLED: on by default, the environment wins
    over the file, and a value that is not a boolean is refused with the variable's name."""
    from sevres import config
    from sevres.config import ConfigError

    assert config.load({"SEVRES_STATE_DIR": str(tmp_path)}).metrics_enabled is True
    (tmp_path / "sevres.toml").write_text("[metrics]\nenabled = false\n")
    assert config.load({"SEVRES_STATE_DIR": str(tmp_path)}).metrics_enabled is False
    assert config.load({"SEVRES_STATE_DIR": str(tmp_path),
                        "SEVRES_METRICS_ENABLED": "true"}).metrics_enabled is True
    with pytest.raises(ConfigError, match="SEVRES_METRICS_ENABLED"):
        config.load({"SEVRES_STATE_DIR": str(tmp_path), "SEVRES_METRICS_ENABLED": "maybe"})


def test_metrics_disabled_answers_404(tmp_path: Path) -> None:
    """With SEVRES_METRICS_ENABLED=false there is no /metrics route (a Keystone 404) and
    no metrics folder is prepared; the API itself is unaffected."""
    backend = backends.create("sqlite", tmp_path)
    server = start(tmp_path, backend.url, SEVRES_METRICS_ENABLED="false")
    try:
        response = httpx.get(f"{server.url}/metrics", timeout=30)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == 404
        assert httpx.get(f"{server.url}/v3", timeout=30).status_code == 200
        assert not (tmp_path / "metrics").exists()
    finally:
        server.stop()
        backend.drop()
