"""Who may call what, as code (one rule per API action, Keystone's rule names).

The starting point is least privilege: every action needs the ``admin`` role in the
caller's token, except the few below that a user needs for themself — reading their own
user, their own role assignments and projects, validating or revoking their own token
(services holding the ``service`` role may validate anyone's), and the ``/v3/auth/*``
reads of their own scope. Changing one's own password needs no token at all: the original
password is the proof (as in Keystone).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sevres import errors


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


Rule = Callable[[Caller, Mapping[str, str]], bool]


def _admin(caller: Caller, _target: Mapping[str, str]) -> bool:
    return caller.is_admin


def _anyone(_caller: Caller, _target: Mapping[str, str]) -> bool:
    return True


def _self(key: str) -> Rule:
    def rule(caller: Caller, target: Mapping[str, str]) -> bool:
        return caller.is_admin or target.get(key) == caller.user_id

    return rule


def _own_project(caller: Caller, target: Mapping[str, str]) -> bool:
    return caller.is_admin or (
        caller.project_id is not None and target.get("project_id") == caller.project_id)


def _token_subject(caller: Caller, target: Mapping[str, str]) -> bool:
    return (caller.is_admin or "service" in caller.roles
            or target.get("subject_user_id") == caller.user_id)


RULES: dict[str, Rule] = {
    "identity:get_user": _self("user_id"),
    "identity:list_role_assignments": _self("user.id"),
    "identity:list_user_projects": _self("user_id"),
    "sevres:explain": _self("user_id"),
    "identity:get_project": _own_project,
    "identity:validate_token": _token_subject,
    "identity:check_token": _token_subject,
    "identity:revoke_token": _token_subject,
    "identity:get_auth_catalog": _anyone,
    "identity:get_auth_projects": _anyone,
    "identity:get_auth_domains": _anyone,
    "identity:get_auth_system": _anyone,
}


def allowed(action: str, caller: Caller, target: Mapping[str, str]) -> bool:
    return RULES.get(action, _admin)(caller, target)


def enforce(action: str, caller: Caller, target: Mapping[str, str]) -> None:
    if not allowed(action, caller, target):
        raise errors.forbidden_action(action)
