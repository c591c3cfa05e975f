"""Whether an application credential's access rules let its token make a request.

A rule names a service type, an HTTP method and a path pattern in which ``*`` stands for
one path segment and ``**`` for any number of them, as keystonemiddleware matches them.
A credential without rules may make any request; one with rules only those they name.
"""

from __future__ import annotations

from collections.abc import Iterable

from sevres.appcreds.models import AccessRule

# Every token may validate itself, whatever its rules (Keystone allows it too).
ALWAYS = frozenset({("GET", "/v3/auth/tokens"), ("HEAD", "/v3/auth/tokens")})


def _matches(pattern: list[str], path: list[str]) -> bool:
    if not pattern:
        return not path
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        return any(_matches(rest, path[i:]) for i in range(len(path) + 1))
    if not path:
        return False
    return (head == "*" or head == path[0]) and _matches(rest, path[1:])


def path_matches(pattern: str, path: str) -> bool:
    return _matches(pattern.strip("/").split("/"), path.strip("/").split("/"))


def permits(rules: Iterable[AccessRule], service: str, method: str, path: str) -> bool:
    rules = tuple(rules)
    if not rules or (method, path.rstrip("/")) in ALWAYS:
        return True
    return any(r.service == service and r.method == method and path_matches(r.path, path)
               for r in rules)
