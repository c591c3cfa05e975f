"""Keystone's default policy rules (the "secure RBAC" defaults of the 2023.x and later
releases, with the ``manager`` persona added in 2024.2), for every API sevres serves.

The rule strings are data — the public API of policy, what operators read in Keystone's
``policy.yaml`` sample and override by name — so they are reproduced here exactly as
Keystone renders them, in Keystone's order (its ``keystone/common/policies/*.py``).
``SCOPE_TYPES`` are Keystone's ``scope_types`` of each rule: with scope enforcement (on by
default in :class:`~sevres.policy.enforcer.Enforcer`) a token of another scope is refused
before the rule is read, as oslo.policy does with ``enforce_scope = True``.

Beware one property of these defaults, inherited from Keystone: ``admin_required`` is
``role:admin or is_admin:1``, with no scope condition, so the ``admin`` role on any
project makes a caller an administrator of the whole deployment ("project admin" is
"cloud admin" in Keystone).

sevres adds one thing, as extra ``or`` branches that Keystone does not have
(``SEVRES_EXTENSIONS`` lists them): the *subtree admin*, a caller holding ``admin``
inherited to the projects below some project P. Through the check
``subtree_admin:%(target.project.parent_id)s`` — true when the callable
``creds["subtree_admin_of"]`` says the caller holds such an inherited ``admin`` on that
parent or on one of its ancestors — they may read, create, update and delete projects
strictly inside their subtree, and check, list, grant and revoke roles on them; granting
and revoking are limited to the roles ``subtree_managed_target_role`` names (``manager``,
``member``, ``reader``: never ``admin``, which Keystone's ``admin_required`` would turn
into a deployment-wide administrator) and to global roles (``target.role.domain_id``
None). The branches name two rules of their own, ``subtree_admin_required`` and
``subtree_managed_target_role``, so an operator can widen, narrow or disable them
(``"subtree_admin_required": "!"``) without rewriting Keystone's rules.

``identity:change_password`` is not a Keystone policy (Keystone does not enforce one on
``POST /v3/users/{user_id}/password``: the original password is the proof); it is here,
always allowed, so that an operator can still restrict it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True)
class RuleDefault:
    """One default rule: its name, its check string and the token scopes it accepts
    (empty: any scope, unscoped tokens included)."""

    name: str
    check_str: str
    scope_types: tuple[str, ...] = ()
    description: str = ""


# The shared pieces of keystone/common/policies/base.py.
SYSTEM_READER = "role:reader and system_scope:all"
SYSTEM_ADMIN = "role:admin and system_scope:all"
RULE_ADMIN_REQUIRED = "rule:admin_required"
ADMIN_OR_SYSTEM_READER = f"{RULE_ADMIN_REQUIRED} or ({SYSTEM_READER})"

_SDP = ("system", "domain", "project")
_SP = ("system", "project")

# grant.py: the four (actor, target) combinations of a domain-level persona.
_USER_DOMAIN = "domain_id:%(target.user.domain_id)s"
_GROUP_DOMAIN = "domain_id:%(target.group.domain_id)s"
_PROJECT_DOMAIN = "domain_id:%(target.project.domain_id)s"
_TARGET_DOMAIN = "domain_id:%(target.domain.id)s"
_ROLE_DOMAIN = "domain_id:%(target.role.domain_id)s or None:%(target.role.domain_id)s"


def _grants_domain(role: str) -> str:
    return (f"(role:{role} and {_USER_DOMAIN} and {_PROJECT_DOMAIN}) or "
            f"(role:{role} and {_USER_DOMAIN} and {_TARGET_DOMAIN}) or "
            f"(role:{role} and {_GROUP_DOMAIN} and {_PROJECT_DOMAIN}) or "
            f"(role:{role} and {_GROUP_DOMAIN} and {_TARGET_DOMAIN})")


_CHECK_GRANT = (f"({RULE_ADMIN_REQUIRED}) or (({SYSTEM_READER}) or "
                f"({_grants_domain('reader')}) and ({_ROLE_DOMAIN}))")
_LIST_GRANTS = f"({RULE_ADMIN_REQUIRED}) or (({SYSTEM_READER}) or {_grants_domain('reader')})"
_CHANGE_GRANT = (f"({RULE_ADMIN_REQUIRED}) or ({_grants_domain('admin')}) and ({_ROLE_DOMAIN})"
                 f" or ({_grants_domain('manager')}) and rule:domain_managed_target_role")

# project.py
_PROJECT_READ = (f"({RULE_ADMIN_REQUIRED}) or ({SYSTEM_READER}) or "
                 "(role:reader and domain_id:%(target.project.domain_id)s"
                 " and not None:%(target.project.domain_id)s) or "
                 "project_id:%(target.project.id)s")
_PROJECT_WRITE = (f"({RULE_ADMIN_REQUIRED}) or "
                  "(role:manager and domain_id:%(target.project.domain_id)s"
                  " and not None:%(target.project.domain_id)s)")
_LIST_BY_DOMAIN = (f"({RULE_ADMIN_REQUIRED}) or ({SYSTEM_READER}) or "
                   "(role:reader and domain_id:%(target.domain_id)s)")

# group.py
_GROUP_READ = (f"({RULE_ADMIN_REQUIRED}) or ({SYSTEM_READER}) or "
               "(role:reader and domain_id:%(target.group.domain_id)s)")
_GROUP_WRITE = f"({RULE_ADMIN_REQUIRED}) or (role:manager and domain_id:%(target.group.domain_id)s)"
_GROUP_MEMBER_WRITE = (f"({RULE_ADMIN_REQUIRED}) or (role:manager and "
                       "domain_id:%(target.group.domain_id)s and "
                       "domain_id:%(target.user.domain_id)s)")

# access_rule.py, application_credential.py: the owner is the user in the URL (for a
# credential, its owner: api/appcreds.py puts that in ``user_id``).
_ACCESS_RULE_READ = f"({SYSTEM_READER}) or user_id:%(target.user.id)s"
_APP_CRED_READ = f"({RULE_ADMIN_REQUIRED}) or ({SYSTEM_READER}) or rule:owner"

# user.py
_USER_WRITE = (f"({RULE_ADMIN_REQUIRED}) or "
               "(role:manager and token.domain.id:%(target.user.domain_id)s)")


def _d(name: str, check_str: str, scope_types: tuple[str, ...] = (), description: str = ""
       ) -> RuleDefault:
    return RuleDefault(name, check_str, scope_types, description)


KEYSTONE_DEFAULTS: tuple[RuleDefault, ...] = (
    # base.py
    _d("admin_required", "role:admin or is_admin:1"),
    _d("service_role", "role:service"),
    _d("service_or_admin", "rule:admin_required or rule:service_role"),
    _d("owner", "user_id:%(user_id)s"),
    _d("admin_or_owner", "rule:admin_required or rule:owner"),
    _d("token_subject", "user_id:%(target.token.user_id)s"),
    _d("admin_or_token_subject", "rule:admin_required or rule:token_subject"),
    _d("service_admin_or_token_subject", "rule:service_or_admin or rule:token_subject"),
    _d("domain_managed_target_role",
       "'manager':%(target.role.name)s or 'member':%(target.role.name)s"
       " or 'reader':%(target.role.name)s"),
    # access_rule.py
    _d("identity:get_access_rule", _ACCESS_RULE_READ, _SP, "Show access rule details."),
    _d("identity:list_access_rules", _ACCESS_RULE_READ, _SP, "List access rules for a user."),
    _d("identity:delete_access_rule",
       f"({SYSTEM_ADMIN}) or user_id:%(target.user.id)s", _SP, "Delete an access_rule."),
    # application_credential.py
    _d("identity:get_application_credential", _APP_CRED_READ, _SP,
       "Show application credential details."),
    _d("identity:list_application_credentials", _APP_CRED_READ, _SP,
       "List application credentials for a user."),
    _d("identity:create_application_credential", "user_id:%(user_id)s", ("project",),
       "Create an application credential."),
    _d("identity:delete_application_credential", "rule:admin_or_owner", _SP,
       "Delete an application credential."),
    # auth.py
    _d("identity:get_auth_catalog", "", (), "Get service catalog."),
    _d("identity:get_auth_projects", "", (),
       "List all projects a user has access to via role assignments."),
    _d("identity:get_auth_domains", "", (),
       "List all domains a user has access to via role assignments."),
    _d("identity:get_auth_system", "", (),
       "List systems a user has access to via role assignments."),
    # domain.py
    _d("identity:get_domain",
       f"{ADMIN_OR_SYSTEM_READER} or token.domain.id:%(target.domain.id)s"
       " or token.project.domain.id:%(target.domain.id)s", _SDP, "Show domain details."),
    _d("identity:list_domains",
       f"{ADMIN_OR_SYSTEM_READER} or (role:reader and domain_id:%(target.domain.id)s)",
       _SDP, "List domains."),
    _d("identity:create_domain", RULE_ADMIN_REQUIRED, _SP, "Create domain."),
    _d("identity:update_domain", RULE_ADMIN_REQUIRED, _SP, "Update domain."),
    _d("identity:delete_domain", RULE_ADMIN_REQUIRED, _SP, "Delete domain."),
    # endpoint.py
    _d("identity:get_endpoint", ADMIN_OR_SYSTEM_READER, _SP, "Show endpoint details."),
    _d("identity:list_endpoints", ADMIN_OR_SYSTEM_READER, _SP, "List endpoints."),
    _d("identity:create_endpoint", RULE_ADMIN_REQUIRED, _SP, "Create endpoint."),
    _d("identity:update_endpoint", RULE_ADMIN_REQUIRED, _SP, "Update endpoint."),
    _d("identity:delete_endpoint", RULE_ADMIN_REQUIRED, _SP, "Delete endpoint."),
    # grant.py
    _d("identity:check_grant", _CHECK_GRANT, _SDP,
       "Check a role grant between a target and an actor."),
    _d("identity:list_grants", _LIST_GRANTS, _SDP,
       "List roles granted to an actor on a target."),
    _d("identity:create_grant", _CHANGE_GRANT, _SDP,
       "Create a role grant between a target and an actor."),
    _d("identity:revoke_grant", _CHANGE_GRANT, _SDP,
       "Revoke a role grant between a target and an actor."),
    _d("identity:list_system_grants_for_user", ADMIN_OR_SYSTEM_READER, _SP,
       "List all grants a specific user has on the system."),
    _d("identity:check_system_grant_for_user", ADMIN_OR_SYSTEM_READER, _SP,
       "Check if a user has a role on the system."),
    _d("identity:create_system_grant_for_user", RULE_ADMIN_REQUIRED, _SP,
       "Grant a user a role on the system."),
    _d("identity:revoke_system_grant_for_user", RULE_ADMIN_REQUIRED, _SP,
       "Remove a role from a user on the system."),
    _d("identity:list_system_grants_for_group", ADMIN_OR_SYSTEM_READER, _SP,
       "List all grants a specific group has on the system."),
    _d("identity:check_system_grant_for_group", ADMIN_OR_SYSTEM_READER, _SP,
       "Check if a group has a role on the system."),
    _d("identity:create_system_grant_for_group", RULE_ADMIN_REQUIRED, _SP,
       "Grant a group a role on the system."),
    _d("identity:revoke_system_grant_for_group", RULE_ADMIN_REQUIRED, _SP,
       "Remove a role from a group on the system."),
    # group.py
    _d("identity:get_group", _GROUP_READ, _SDP, "Show group details."),
    _d("identity:list_groups", _GROUP_READ, _SDP, "List groups."),
    _d("identity:list_groups_for_user",
       f"({RULE_ADMIN_REQUIRED}) or ({SYSTEM_READER}) or "
       "(role:reader and domain_id:%(target.user.domain_id)s) or user_id:%(user_id)s",
       _SDP, "List groups to which a user belongs."),
    _d("identity:create_group", _GROUP_WRITE, _SDP, "Create group."),
    _d("identity:update_group", _GROUP_WRITE, _SDP, "Update group."),
    _d("identity:delete_group", _GROUP_WRITE, _SDP, "Delete group."),
    _d("identity:list_users_in_group", _GROUP_READ, _SDP, "List members of a specific group."),
    _d("identity:remove_user_from_group", _GROUP_MEMBER_WRITE, _SDP, "Remove user from group."),
    _d("identity:check_user_in_group",
       f"({RULE_ADMIN_REQUIRED}) or ({SYSTEM_READER}) or (role:reader and "
       "domain_id:%(target.group.domain_id)s and domain_id:%(target.user.domain_id)s)",
       _SDP, "Check whether a user is a member of a group."),
    _d("identity:add_user_to_group", _GROUP_MEMBER_WRITE, _SDP, "Add user to group."),
    # implied_role.py
    _d("identity:get_implied_role", ADMIN_OR_SYSTEM_READER, _SP,
       "Get information about an association between two roles."),
    _d("identity:list_implied_roles", ADMIN_OR_SYSTEM_READER, _SP,
       "List associations between two roles."),
    _d("identity:create_implied_role", RULE_ADMIN_REQUIRED, _SP,
       "Create an association between two roles."),
    _d("identity:delete_implied_role", RULE_ADMIN_REQUIRED, _SP,
       "Delete the association between two roles."),
    _d("identity:list_role_inference_rules", ADMIN_OR_SYSTEM_READER, _SP,
       "List all associations between two roles in the system."),
    _d("identity:check_implied_role", ADMIN_OR_SYSTEM_READER, _SP,
       "Check an association between two roles."),
    # project.py
    _d("identity:get_project", _PROJECT_READ, _SDP, "Show project details."),
    _d("identity:list_projects", _LIST_BY_DOMAIN, _SDP, "List projects."),
    _d("identity:list_user_projects",
       f"({RULE_ADMIN_REQUIRED}) or ({SYSTEM_READER}) or "
       "(role:reader and domain_id:%(target.user.domain_id)s) or user_id:%(target.user.id)s",
       _SDP, "List projects for user."),
    _d("identity:create_project", _PROJECT_WRITE, _SDP, "Create project."),
    _d("identity:update_project", _PROJECT_WRITE, _SDP, "Update project."),
    _d("identity:delete_project", _PROJECT_WRITE, _SDP, "Delete project."),
    _d("identity:list_project_tags", _PROJECT_READ, _SDP, "List tags for a project."),
    _d("identity:get_project_tag", _PROJECT_READ, _SDP, "Check if project contains a tag."),
    _d("identity:update_project_tags", _PROJECT_WRITE, _SDP,
       "Replace all tags on a project with the new set of tags."),
    _d("identity:create_project_tag", _PROJECT_WRITE, _SDP, "Add a single tag to a project."),
    _d("identity:delete_project_tags", _PROJECT_WRITE, _SDP, "Remove all tags from a project."),
    _d("identity:delete_project_tag", _PROJECT_WRITE, _SDP,
       "Delete a specified tag from project."),
    # region.py
    _d("identity:get_region", "", _SDP, "Show region details."),
    _d("identity:list_regions", "", _SDP, "List regions."),
    _d("identity:create_region", RULE_ADMIN_REQUIRED, _SP, "Create region."),
    _d("identity:update_region", RULE_ADMIN_REQUIRED, _SP, "Update region."),
    _d("identity:delete_region", RULE_ADMIN_REQUIRED, _SP, "Delete region."),
    # role.py
    _d("identity:get_role",
       f"({ADMIN_OR_SYSTEM_READER}) or (role:manager and rule:domain_managed_target_role)",
       _SDP, "Show role details."),
    _d("identity:list_roles",
       f"({ADMIN_OR_SYSTEM_READER}) or (role:manager and not domain_id:None)",
       _SDP, "List roles."),
    _d("identity:create_role", RULE_ADMIN_REQUIRED, _SP, "Create role."),
    _d("identity:update_role", RULE_ADMIN_REQUIRED, _SP, "Update role."),
    _d("identity:delete_role", RULE_ADMIN_REQUIRED, _SP, "Delete role."),
    _d("identity:get_domain_role", ADMIN_OR_SYSTEM_READER, _SP, "Show domain role."),
    _d("identity:list_domain_roles", ADMIN_OR_SYSTEM_READER, _SP, "List domain roles."),
    _d("identity:create_domain_role", RULE_ADMIN_REQUIRED, _SP, "Create domain role."),
    _d("identity:update_domain_role", RULE_ADMIN_REQUIRED, _SP, "Update domain role."),
    _d("identity:delete_domain_role", RULE_ADMIN_REQUIRED, _SP, "Delete domain role."),
    # role_assignment.py
    _d("identity:list_role_assignments", _LIST_BY_DOMAIN, _SDP, "List role assignments."),
    _d("identity:list_role_assignments_for_tree", _LIST_BY_DOMAIN, _SDP,
       "List all role assignments for a given tree of hierarchical projects."),
    # revoke_event.py
    _d("identity:list_revoke_events", "rule:service_or_admin", _SP,
       "List revocation events."),
    # service.py
    _d("identity:get_service", ADMIN_OR_SYSTEM_READER, _SP, "Show service details."),
    _d("identity:list_services", ADMIN_OR_SYSTEM_READER, _SP, "List services."),
    _d("identity:create_service", RULE_ADMIN_REQUIRED, _SP, "Create service."),
    _d("identity:update_service", RULE_ADMIN_REQUIRED, _SP, "Update service."),
    _d("identity:delete_service", RULE_ADMIN_REQUIRED, _SP, "Delete service."),
    # token.py
    _d("identity:check_token",
       f"{ADMIN_OR_SYSTEM_READER} or rule:token_subject", _SDP, "Check a token."),
    _d("identity:validate_token",
       f"{ADMIN_OR_SYSTEM_READER} or rule:service_role or rule:token_subject",
       _SDP, "Validate a token."),
    _d("identity:revoke_token", "rule:admin_required or rule:token_subject", _SDP,
       "Revoke a token."),
    # user.py
    _d("identity:get_user",
       f"({RULE_ADMIN_REQUIRED}) or ({SYSTEM_READER}) or "
       "(role:reader and token.domain.id:%(target.user.domain_id)s) or "
       "user_id:%(target.user.id)s", _SDP, "Show user details."),
    _d("identity:list_users", _LIST_BY_DOMAIN, _SDP, "List users."),
    _d("identity:list_projects_for_user", "", (),
       "List all projects a user has access to via role assignments."),
    _d("identity:list_domains_for_user", "", (),
       "List all domains a user has access to via role assignments."),
    _d("identity:create_user", _USER_WRITE, _SDP, "Create a user."),
    _d("identity:update_user", _USER_WRITE, _SDP,
       "Update a user, including administrative password resets."),
    _d("identity:delete_user", _USER_WRITE, _SDP, "Delete a user."),
)

# sevres's additions: the subtree admin, and the unenforced-in-Keystone password change.
SUBTREE_ADMIN = "rule:subtree_admin_required"
SUBTREE_CHANGE_GRANT = (f"({SUBTREE_ADMIN} and rule:subtree_managed_target_role"
                        " and None:%(target.role.domain_id)s)")

SEVRES_RULES: tuple[RuleDefault, ...] = (
    _d("subtree_admin_required", "subtree_admin:%(target.project.parent_id)s", (),
       "The caller holds admin inherited on the target project's parent or an ancestor "
       "of it: the target project lies strictly inside a subtree they administer."),
    _d("subtree_managed_target_role",
       "'manager':%(target.role.name)s or 'member':%(target.role.name)s"
       " or 'reader':%(target.role.name)s", (),
       "The roles a subtree admin may grant and revoke inside their subtree."),
    _d("identity:change_password", "", (),
       "Change one's own password (the original password is the proof)."),
    _d("sevres:explain",
       "rule:admin_required or (role:reader and system_scope:all) or "
       "user_id:%(target.user.id)s", ("system", "domain", "project"),
       "Explain a user's effective roles: administrators, system readers, and the user."),
)

SEVRES_ADMIN_REQUIRED = ("(role:admin and system_scope:all) or "
                         "(role:admin and token.is_admin_project:True) or is_admin:1")
"""sevres's ``admin_required``: the admin role on the system, or on the admin project.

Keystone's is ``role:admin or is_admin:1``: the admin role on *any* project makes a cloud
admin (Keystone bug 968696). That would make every subtree admin — who holds admin,
inherited, on the projects below their root — an administrator of the whole cloud, which
delegated administration cannot allow. The bootstrap admin keeps every power through
tokens on the admin project (``[resource] admin_project_*``) or the system."""

SEVRES_REPLACEMENTS: Mapping[str, str] = MappingProxyType({
    "admin_required": SEVRES_ADMIN_REQUIRED,
})

SEVRES_EXTENSIONS: Mapping[str, str] = MappingProxyType({
    # Users may read their own assignments (the core issue asks it; Keystone refuses).
    "identity:list_role_assignments": "user_id:%(target.user.id)s",
    "identity:get_project": SUBTREE_ADMIN,
    "identity:create_project": SUBTREE_ADMIN,
    "identity:update_project": SUBTREE_ADMIN,
    "identity:delete_project": SUBTREE_ADMIN,
    "identity:check_grant": SUBTREE_ADMIN,
    "identity:list_grants": SUBTREE_ADMIN,
    "identity:create_grant": SUBTREE_CHANGE_GRANT,
    "identity:revoke_grant": SUBTREE_CHANGE_GRANT,
})
"""The ``or`` branch sevres appends to each of these Keystone rules."""


def _extended(rule: RuleDefault) -> RuleDefault:
    if rule.name in SEVRES_REPLACEMENTS:
        return RuleDefault(rule.name, SEVRES_REPLACEMENTS[rule.name], rule.scope_types,
                           rule.description)
    branch = SEVRES_EXTENSIONS.get(rule.name)
    if branch is None:
        return rule
    return RuleDefault(rule.name, f"{rule.check_str} or {branch}", rule.scope_types,
                       rule.description)


DEFAULTS: tuple[RuleDefault, ...] = (
    *(_extended(rule) for rule in KEYSTONE_DEFAULTS), *SEVRES_RULES)
"""What sevres enforces when no policy file overrides it."""

KEYSTONE_RULES: Mapping[str, str] = MappingProxyType(
    {rule.name: rule.check_str for rule in KEYSTONE_DEFAULTS})
"""Keystone's rule strings, untouched, by name."""
