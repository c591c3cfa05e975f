"""The policy enforcer: default rules, an operator's overrides, and the yes/no per call.

``Enforcer(DEFAULTS, Path("/etc/sevres/policy.yaml"))`` compiles every rule once. The
policy file, YAML or JSON (by its ``.json`` suffix), is oslo.policy's format — a mapping
``{"rule name": "rule string"}`` — and replaces only the rules it names; it may add rules
of its own for others to refer to (``rule:my_rule``). A rule string may also be given in
oslo.policy's old list-of-lists form (``[["role:a", "role:b"], ["role:c"]]`` reads
``(role:a and role:b) or role:c``). A malformed rule, a ``rule:NAME`` naming no rule, or
rules that refer to each other in a cycle stop the load with a
:class:`~sevres.policy.engine.PolicyError` naming the rule.

Credentials (``creds``) are the caller's token, with Keystone's names:

* ``user_id``, ``user_domain_id``;
* ``project_id``, ``project_domain_id`` — None unless project-scoped;
* ``domain_id`` — None unless domain-scoped (Keystone's ``not domain_id:None`` depends on
  the key being present, with None, when the token is not domain-scoped);
* ``system_scope`` — ``"all"`` for a system-scoped token, else None;
* ``roles`` — the names of the token's (effective, implied-expanded) roles;
* ``is_admin`` — Keystone's admin-token flag (``is_admin:1``); normally absent;
* ``token`` — a mapping for Keystone's ``token.*`` checks: ``{"domain": {"id": …},
  "project": {"domain": {"id": …}}, "is_admin_project": bool}`` (a flat
  ``"token.domain.id"`` key works as well);
* ``subtree_admin_of`` — sevres's ``Callable[[str], bool]``: given a project id, does the
  caller hold ``admin`` inherited to the subtree of that project or of an ancestor of it?

The target (``target``) describes what the request acts on, nested or flat
(``{"target": {"project": {...}}}`` and ``{"target.project.id": ...}`` both serve
``%(target.project.id)s``):

* ``target.project.{id, domain_id, parent_id}`` — the project read or changed (for a
  create: the project to be, with its ``domain_id`` and ``parent_id``; for a grant: the
  project the role is granted on);
* ``target.domain.id`` (``get_domain``, domain grants), ``target.domain_id`` (the domain a
  list is filtered on: ``list_projects``, ``list_users``, ``list_role_assignments``);
* ``target.user.{id, domain_id}``, ``target.group.{id, domain_id}``,
  ``target.role.{id, name, domain_id}`` (``domain_id`` present and None for a global role);
* ``target.token.user_id`` — the subject of a validated, checked or revoked token;
* ``user_id`` (``owner``: the user in the URL), ``domain_id``, ``project_id``.

Leave a key out when it does not apply rather than setting it to None: a substituted None
reads as the string ``"None"``, exactly as in oslo.policy, which is what Keystone's
``None:%(...)s`` checks rely on — and what a careless None would match too.

Scope: each default rule carries Keystone's ``scope_types``; with ``enforce_scope`` (the
default, as in Keystone) a token whose scope is not among them is refused before the rule
is read. The token's scope is ``system`` when ``system_scope`` is ``"all"``, ``domain``
when ``domain_id`` is set, and ``project`` otherwise (oslo.policy's reading, which counts
an unscoped token as project-scoped). Overrides keep the default's scope types.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path

import yaml

from sevres import errors
from sevres.policy.defaults import RuleDefault
from sevres.policy.engine import Creds, PolicyError, RuleSet, Target

__all__ = ["Enforcer", "PolicyError", "load_policy_file"]


def _token_scope(creds: Creds) -> str:
    if creds.get("system_scope") == "all":
        return "system"
    if creds.get("domain_id"):
        return "domain"
    return "project"


def _from_list_of_lists(name: str, value: list[object]) -> str:
    """oslo.policy's old form: the outer list ORs, each inner list ANDs."""
    alternatives: list[str] = []
    for inner in value:
        if not isinstance(inner, list) or not all(isinstance(c, str) for c in inner):
            raise PolicyError("a list rule must be a list of lists of check strings",
                              rule=name)
        checks = [f"({check})" if check.strip() else "@" for check in inner]
        alternatives.append("(" + " and ".join(checks) + ")" if checks else "@")
    return " or ".join(alternatives) if alternatives else "@"


def load_policy_file(path: Path) -> dict[str, str]:
    """Read an oslo.policy file (JSON when it ends in ``.json``, else YAML) into
    ``{"rule name": "rule string"}``; an empty file is no overrides."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"cannot read policy file {path}: {exc.strerror or exc}") from exc
    try:
        data: object = (json.loads(text) if path.suffix.lower() == ".json"
                        else yaml.safe_load(text))
    except (ValueError, yaml.YAMLError) as exc:
        raise PolicyError(f"policy file {path} is not valid "
                          f"{'JSON' if path.suffix.lower() == '.json' else 'YAML'}: {exc}"
                          ) from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise PolicyError(f"policy file {path} must map rule names to rule strings, "
                          f"not be a {type(data).__name__}")
    rules: dict[str, str] = {}
    for name, value in data.items():
        if not isinstance(name, str) or not name:
            raise PolicyError(f"policy file {path}: rule names must be strings, "
                              f"not {name!r}")
        if isinstance(value, str):
            rules[name] = value
        elif isinstance(value, list):
            rules[name] = _from_list_of_lists(name, value)
        else:
            raise PolicyError(f"a rule must be a string, not {type(value).__name__} "
                              f"(in {path})", rule=name)
    return rules


class Enforcer:
    """Decides whether a caller may perform an action on a target."""

    def __init__(self, defaults: Iterable[RuleDefault] | Mapping[str, str],
                 overrides_file: Path | None = None, *, enforce_scope: bool = True) -> None:
        scope_types: dict[str, tuple[str, ...]] = {}
        rules: dict[str, str] = {}
        if isinstance(defaults, Mapping):
            rules.update(defaults)
        else:
            for rule in defaults:
                rules[rule.name] = rule.check_str
                scope_types[rule.name] = rule.scope_types
        self.overrides: dict[str, str] = (
            load_policy_file(overrides_file) if overrides_file is not None else {})
        rules.update(self.overrides)
        self.rules = RuleSet(rules)
        self.scope_types = scope_types
        self.enforce_scope = enforce_scope

    def enforce(self, action: str, creds: Creds, target: Target) -> bool:
        """True when the rule ``action`` allows it. An action with no rule falls back to
        the rule ``default`` when the policy defines one, and is refused otherwise."""
        name = action if action in self.rules else "default"
        if self.enforce_scope:
            allowed_scopes = self.scope_types.get(name)
            if allowed_scopes and _token_scope(creds) not in allowed_scopes:
                return False
        return self.rules.check(name, creds, target)

    def authorize(self, action: str, creds: Creds, target: Target) -> None:
        """Raise :class:`sevres.errors.Forbidden`, with Keystone's message, unless allowed."""
        if not self.enforce(action, creds, target):
            raise errors.forbidden_action(action)
