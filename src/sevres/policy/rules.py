"""The authenticated caller of a request, as handlers see it. Who may do what is decided
by the enforcer (policy/enforcer.py) over the rules in policy/defaults.py."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Caller:
    """The authenticated caller of one request, as its token describes them."""

    user_id: str
    user_domain_id: str
    project_id: str | None
    domain_id: str | None
    system: bool
    roles: frozenset[str]
    audit_id: str

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles
