"""User enumeration by timing: does a login for an unknown user answer like a wrong password?

One run starts a fresh sevres (``sevres init``, ``sevres bootstrap``, ``sevres serve
--workers 1``, in a temporary state folder, SQLite, the argon2id cost of the configuration
defaults, as in production), creates a domain and a user with a password in it, then sends
password logins one after the other on one kept-alive connection, the cases interleaved in
a random order, --samples of each:

- unknown user: a user name that exists nowhere (a new one each time, as an attacker
  probing names sends them), in the Default domain by id;
- wrong password: the user that exists, a wrong password;
- right password (for reference: a token is issued, 201);
- unknown user in an unknown domain, and an unknown user in a known domain, both with the
  domain given by name (that path reads the domain first, so it differs in code).

It prints, per case, count, mean, median, p10, p90, p99 (ms); checks that the answers of
the compared cases are identical (status and body; exit code 1 when not); and for each
pair a difference of medians with a bootstrap 95% confidence interval and a two-sided
permutation test on the medians, with a verdict. It is a measurement: the exit code is 0
whatever the timings.

    .venv/bin/python bench/enumeration.py [--samples 200] [--seed 1]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/tokens.py starts sevres
from tokens import (
    SEVRES_PASSWORD,
    TOKEN_PATH,
    BenchError,
    SevresServer,
    call,
    in_scratch_folder,
    loadavg,
    say,
)

from sevres import config

USER_PASSWORD = "enum-user-Pa55word"  # a throwaway server's user, local only
WRONG_PASSWORD = "enum-wrong-Pa55word"
RESAMPLES = 2000  # bootstrap resamples and permutations
WARMUP = 3  # requests of each case first, not counted


@dataclass
class Case:
    name: str
    body: Callable[[int], dict[str, Any]]  # the request body of sample i
    expected: int
    times_ms: list[float] = field(default_factory=list)
    answers: set[tuple[int, str, str]] = field(default_factory=set)  # status, body, auth hdr


def password_body(user: dict[str, Any], password: str) -> dict[str, Any]:
    return {"auth": {"identity": {"methods": ["password"], "password": {
        "user": {**user, "password": password}}}}}


def percentile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def median_difference(a: Sequence[float], b: Sequence[float]) -> float:
    return statistics.median(a) - statistics.median(b)


def bootstrap_ci(a: Sequence[float], b: Sequence[float], rnd: random.Random,
                 resamples: int = RESAMPLES) -> tuple[float, float]:
    """95% percentile-bootstrap interval of median(a) - median(b), each resampled apart."""
    diffs = sorted(
        statistics.median(rnd.choices(a, k=len(a))) - statistics.median(rnd.choices(b, k=len(b)))
        for _ in range(resamples))
    return percentile(diffs, 0.025), percentile(diffs, 0.975)


def permutation_p(a: Sequence[float], b: Sequence[float], rnd: random.Random,
                  permutations: int = RESAMPLES) -> float:
    """Two-sided permutation test of 'same distribution' on the difference of medians."""
    observed = abs(median_difference(a, b))
    pooled = list(a) + list(b)
    extreme = 0
    for _ in range(permutations):
        rnd.shuffle(pooled)
        if abs(median_difference(pooled[:len(a)], pooled[len(a):])) >= observed - 1e-12:
            extreme += 1
    return (extreme + 1) / (permutations + 1)


def describe(case: Case) -> str:
    t = case.times_ms
    return (f"  {case.name:<36}{len(t):>6}{statistics.fmean(t):>9.2f}{statistics.median(t):>9.2f}"
            f"{percentile(t, 0.10):>9.2f}{percentile(t, 0.90):>9.2f}{percentile(t, 0.99):>9.2f}")


def compare(a: Case, b: Case, rnd: random.Random) -> bool:
    """Print the comparison of two cases; True when indistinguishable."""
    diff = median_difference(a.times_ms, b.times_ms)
    low, high = bootstrap_ci(a.times_ms, b.times_ms, rnd)
    p = permutation_p(a.times_ms, b.times_ms, rnd)
    same = low <= 0 <= high and p > 0.05
    say(f"\n  {a.name}  vs  {b.name}")
    say(f"    median difference {diff:+.3f} ms, bootstrap 95% CI [{low:+.3f}, {high:+.3f}] ms "
        f"({RESAMPLES} resamples); permutation test on the medians p = {p:.3f} "
        f"({RESAMPLES} permutations)")
    say(f"    mean difference {statistics.fmean(a.times_ms) - statistics.fmean(b.times_ms):+.3f} "
        f"ms; median of {a.name} is {diff / statistics.median(b.times_ms) * 100:+.2f}% of "
        f"{b.name}'s")
    if same:
        say(f"    verdict: indistinguishable at this sample size (n = {len(a.times_ms)} and "
            f"{len(b.times_ms)}): the CI contains 0 and p > 0.05")
    else:
        say("    verdict: !!!!! DISTINGUISHABLE !!!!! (the CI excludes 0 or p <= 0.05): a "
            "timing attack could tell these apart at this sample size")
    return same


def same_answers(a: Case, b: Case) -> bool:
    """The answers (status, body, WWW-Authenticate) of two cases: one and the same."""
    one = a.answers | b.answers
    shown = "; ".join(f"{status} {body} (WWW-Authenticate: {auth})"
                      for status, body, auth in sorted(one))
    if len(one) == 1:
        say(f"  answers of {a.name} and {b.name}: identical: {shown}")
        return True
    say(f"  !!!!! answers of {a.name} and {b.name} DIFFER: {shown}")
    return False


def run(options: argparse.Namespace, work: Path, stack: ExitStack) -> int:
    defaults = config.load({"SEVRES_STATE_DIR": str(work / "defaults")})
    say(f"argon2id of the configuration defaults: t={defaults.argon2_time_cost} "
        f"m={defaults.argon2_memory_kib} KiB p={defaults.argon2_parallelism}")
    server = SevresServer.create(work / "sevres", 1)
    server.start()
    stack.callback(server.stop)
    say(f"sevres at {server.url}: 1 uvicorn worker, SQLite, state in {server.state_dir}")

    rnd = random.Random(options.seed)
    tag = f"{rnd.getrandbits(32):08x}"
    with httpx.Client(base_url=server.url, timeout=60) as client:
        admin = call(client, "admin login", "POST", TOKEN_PATH, 201, json={"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": "admin", "domain": {"id": "default"}, "password": SEVRES_PASSWORD}}},
            "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}})
        headers = {"X-Auth-Token": admin.headers["X-Subject-Token"]}
        domain = call(client, "creating a domain", "POST", "/v3/domains", 201, headers=headers,
                      json={"domain": {"name": f"enum-{tag}"}}).json()["domain"]
        call(client, "creating the user", "POST", "/v3/users", 201, headers=headers,
             json={"user": {"name": "alice", "domain_id": domain["id"],
                            "password": USER_PASSWORD}})
        say(f"user alice in domain {domain['name']} ({domain['id']}), with a password")

        known = {"name": "alice", "domain": {"id": domain["id"]}}
        cases = {
            "unknown": Case("unknown user", lambda i: password_body(
                {"name": f"nobody-{tag}-{i}", "domain": {"id": domain["id"]}},
                WRONG_PASSWORD), 401),
            "wrong": Case("known user, wrong password",
                          lambda i: password_body(known, WRONG_PASSWORD), 401),
            "right": Case("known user, right password (ref.)",
                          lambda i: password_body(known, USER_PASSWORD), 201),
            "no-domain": Case("unknown user, unknown domain (name)", lambda i: password_body(
                {"name": f"nobody-{tag}-{i}", "domain": {"name": f"nowhere-{tag}-{i}"}},
                WRONG_PASSWORD), 401),
            "in-domain": Case("unknown user, known domain (name)", lambda i: password_body(
                {"name": f"nobody-{tag}-d{i}", "domain": {"name": domain["name"]}},
                WRONG_PASSWORD), 401),
        }
        order = [(key, i) for key in cases for i in range(options.samples)]
        rnd.shuffle(order)
        warmup = [(key, -1 - i) for i in range(WARMUP) for key in cases]
        say(f"\n{len(order)} logins ({options.samples} of each of {len(cases)} cases, "
            f"+{len(warmup)} warm-up), sequential, one kept-alive connection, random order "
            f"(seed {options.seed}); load average {loadavg()}")
        started = time.perf_counter()
        for position, (key, i) in enumerate(warmup + order):
            case = cases[key]
            body = case.body(i)
            t0 = time.perf_counter()
            response = client.post(TOKEN_PATH, json=body)
            elapsed = (time.perf_counter() - t0) * 1000
            if response.status_code != case.expected:
                raise BenchError(f"{case.name} answered {response.status_code}, expected "
                                 f"{case.expected}: {response.text[:300]}")
            if i < 0:
                continue
            case.times_ms.append(elapsed)
            if case.expected != 201:
                case.answers.add((response.status_code,
                                  json.dumps(response.json(), sort_keys=True),
                                  response.headers.get("WWW-Authenticate", "")))
            if position and position % 200 == 0:
                say(f"  ... {position}/{len(order)}")
        took = time.perf_counter() - started

    say(f"\n== latency per case, ms (took {took:.0f} s; load average at the end {loadavg()})")
    say(f"  {'':<36}{'count':>6}{'mean':>9}{'median':>9}{'p10':>9}{'p90':>9}{'p99':>9}")
    for case in cases.values():
        say(describe(case))

    say("\n== answers")
    answers_ok = same_answers(cases["unknown"], cases["wrong"])
    answers_ok &= same_answers(cases["no-domain"], cases["in-domain"])
    answers_ok &= same_answers(cases["no-domain"], cases["wrong"])

    say("\n== timing: difference of medians (first minus second)")
    verdicts = [compare(cases["unknown"], cases["wrong"], rnd),
                compare(cases["no-domain"], cases["in-domain"], rnd),
                compare(cases["no-domain"], cases["wrong"], rnd)]
    right, wrong = cases["right"], cases["wrong"]
    say(f"\n  for scale: the right password (201, a token issued) takes "
        f"{median_difference(right.times_ms, wrong.times_ms):+.2f} ms at the median vs a wrong "
        "one (not a secret: the answer differs anyway)")

    say("\n== summary")
    say(f"  answers identical (unknown user / wrong password / unknown domain): "
        f"{'yes' if answers_ok else 'NO'}")
    say(f"  timing indistinguishable: unknown user vs wrong password: "
        f"{'yes' if verdicts[0] else 'NO'}; unknown domain vs known domain: "
        f"{'yes' if verdicts[1] else 'NO'}; unknown domain vs wrong password: "
        f"{'yes' if verdicts[2] else 'NO'}")
    return 0 if answers_ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=200,
                        help="logins of each case (default 200)")
    parser.add_argument("--seed", type=int, default=1, help="order and resampling seed")
    options = parser.parse_args(argv)
    if options.samples < 10:
        parser.error("--samples must be at least 10")
    return in_scratch_folder("sevres-bench-enum-",
                             lambda work, stack: run(options, work, stack))


if __name__ == "__main__":
    sys.exit(main())
