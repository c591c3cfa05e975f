"""Access-rule path patterns: ``*`` is one segment, ``**`` any number of them."""

from __future__ import annotations

import pytest

from sevres.appcreds.access import path_matches, permits
from sevres.appcreds.models import AccessRule


@pytest.mark.parametrize(("pattern", "path", "expected"), [
    ("/v3/projects", "/v3/projects", True),
    ("/v3/projects", "/v3/projects/", True),
    ("/v3/projects", "/v3/projects/p1", False),
    ("/v3/projects/*", "/v3/projects/p1", True),
    ("/v3/projects/*", "/v3/projects/p1/users", False),
    ("/v3/projects/**", "/v3/projects/p1/users", True),
    ("/v3/projects/**", "/v3/projects", True),
    ("/v3/**/users", "/v3/projects/p1/users", True),
    ("/v3/**/users", "/v3/projects/p1/groups", False),
    ("/v3/*/users", "/v3/users", False),
])
def test_patterns(pattern: str, path: str, expected: bool) -> None:
    assert path_matches(pattern, path) is expected


def rule(service: str, method: str, path: str) -> AccessRule:
    return AccessRule(id="r", user_id="u", service=service, path=path, method=method)


def test_no_rules_means_no_limit_and_a_token_may_always_validate_itself() -> None:
    assert permits([], "identity", "DELETE", "/v3/projects/p")
    only_compute = [rule("compute", "GET", "/v2.1/servers")]
    assert permits(only_compute, "identity", "GET", "/v3/auth/tokens")
    assert not permits(only_compute, "identity", "GET", "/v3/auth/projects")
    assert not permits([rule("identity", "GET", "/v3/auth/projects")], "identity", "POST",
                       "/v3/auth/projects")
    assert permits([rule("identity", "GET", "/v3/auth/*")], "identity", "GET",
                   "/v3/auth/projects")
