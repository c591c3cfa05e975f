"""Keystone's default personas against the default rules, evaluated in memory; sevres's
subtree admin; and the Enforcer's policy file overrides, scope checks and errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from sevres import errors
from sevres.policy.defaults import (
    DEFAULTS,
    KEYSTONE_DEFAULTS,
    KEYSTONE_RULES,
    SEVRES_EXTENSIONS,
    SEVRES_REPLACEMENTS,
    RuleDefault,
)
from sevres.policy.enforcer import Enforcer, load_policy_file
from sevres.policy.engine import PolicyError, RuleSet

ALL_ROLES = ["admin", "manager", "member", "reader"]
SUBTREE = frozenset({"p-root", "p-child", "p-grandchild"})  # p-root > p-child > p-grandchild


def _creds(user: str, roles: list[str], *, system: bool = False, domain: str | None = None,
           project: str | None = None, project_domain: str | None = None,
           subtree_admin_of: Callable[[str], bool] | None = None,
           admin_project: bool = False) -> dict[str, object]:
    # sevres: only a token on the admin project (or the system) is a cloud admin's.
    token: dict[str, object] = {"is_admin_project": admin_project}
    if domain is not None:
        token["domain"] = {"id": domain}
    if project is not None:
        token["project"] = {"id": project, "domain": {"id": project_domain}}
    creds: dict[str, object] = {
        "user_id": user, "user_domain_id": "d1", "roles": roles,
        "system_scope": "all" if system else None, "domain_id": domain,
        "project_id": project, "project_domain_id": project_domain, "token": token,
    }
    if subtree_admin_of is not None:
        creds["subtree_admin_of"] = subtree_admin_of
    return creds


PERSONAS: dict[str, dict[str, object]] = {
    "system_admin": _creds("u-sa", ALL_ROLES, system=True),
    "system_reader": _creds("u-sr", ["reader"], system=True),
    "domain_admin": _creds("u-da", ALL_ROLES, domain="d1"),
    "domain_manager": _creds("u-dm", ["manager", "member", "reader"], domain="d1"),
    "domain_reader": _creds("u-dr", ["reader"], domain="d1"),
    # the cloud admin acting through a token on the admin project (as the openstack CLI does)
    "project_admin": _creds("u-pa", ALL_ROLES, project="p1", project_domain="d1",
                            admin_project=True),
    "project_member": _creds("u-pm", ["member", "reader"], project="p1", project_domain="d1"),
    "project_reader": _creds("u-pr", ["reader"], project="p1", project_domain="d1"),
    # admin inherited to the subtree of p-root; on p-root itself they are a member.
    "subtree_admin": _creds("u-st", ["member", "reader"], project="p-root",
                            project_domain="d1", subtree_admin_of=SUBTREE.__contains__),
    "unrelated": _creds("u-un", ["member", "reader"], project="p-other", project_domain="d2"),
}
EVERYONE = frozenset(PERSONAS)
CLOUD_ADMINS = frozenset({"system_admin", "project_admin"})  # admin_required, scope S/P
ADMINS = CLOUD_ADMINS  # sevres: a domain admin is no cloud admin (see admin_required)
DOMAIN_D1_READERS = frozenset({"domain_admin", "domain_manager", "domain_reader"})


def _project(pid: str | None, domain: str | None, parent: str) -> dict[str, object]:
    project: dict[str, object] = {"domain_id": domain, "parent_id": parent}
    if pid is not None:
        project["id"] = pid
    return {"target": {"project": project}}


def _grant(pid: str, domain: str, parent: str, role: str, user_domain: str = "d1"
           ) -> dict[str, object]:
    return {"target": {
        "project": {"id": pid, "domain_id": domain, "parent_id": parent},
        "user": {"id": "u-5", "domain_id": user_domain},
        "role": {"id": f"r-{role}", "name": role, "domain_id": None},
    }}


def _membership(group_domain: str, user_domain: str) -> dict[str, object]:
    return {"target": {"group": {"id": "g1", "domain_id": group_domain},
                       "user": {"id": "u-5", "domain_id": user_domain}}}


P1 = _project("p1", "d1", "d1")
P_OTHER = _project("p-other", "d2", "d2")
P_ROOT = _project("p-root", "d1", "d1")
P_CHILD = _project("p-child", "d1", "p-root")
P_GRANDCHILD = _project("p-grandchild", "d1", "p-child")

PM = "project_member"
OWNED_BY_PM: dict[str, object] = {"user_id": "u-pm", "target": {"user": {"id": "u-pm"}}}

# (action, target, the personas allowed — every other persona is denied)
MATRIX: list[tuple[str, dict[str, object], frozenset[str]]] = [
    # deployment-wide resources: admin_required, and only system or project scope
    ("identity:create_domain", {}, CLOUD_ADMINS),
    ("identity:delete_domain", {"target": {"domain": {"id": "d2"}}}, CLOUD_ADMINS),
    ("identity:create_endpoint", {}, CLOUD_ADMINS),
    ("identity:list_endpoints", {}, CLOUD_ADMINS | {"system_reader"}),
    ("identity:get_service", {}, CLOUD_ADMINS | {"system_reader"}),
    ("identity:create_service", {}, CLOUD_ADMINS),
    ("identity:get_region", {}, EVERYONE),
    ("identity:list_regions", {}, EVERYONE),
    ("identity:create_region", {}, CLOUD_ADMINS),
    ("identity:create_role", {}, CLOUD_ADMINS),
    ("identity:create_implied_role", {}, CLOUD_ADMINS),
    ("identity:list_role_inference_rules", {}, CLOUD_ADMINS | {"system_reader"}),
    ("identity:create_system_grant_for_user", {}, CLOUD_ADMINS),
    ("identity:list_system_grants_for_user", {}, CLOUD_ADMINS | {"system_reader"}),
    # domains
    ("identity:get_domain", {"target": {"domain": {"id": "d1"}}},
     EVERYONE - {"unrelated"}),
    ("identity:get_domain", {"target": {"domain": {"id": "d2"}}},
     ADMINS | {"system_reader", "unrelated"}),
    ("identity:list_domains", {}, ADMINS | {"system_reader"}),
    # projects
    ("identity:get_project", P1,
     ADMINS | DOMAIN_D1_READERS | {"system_reader", "project_member", "project_reader"}),
    ("identity:get_project", P_OTHER, ADMINS | {"system_reader", "unrelated"}),
    ("identity:get_project", P_ROOT, ADMINS | DOMAIN_D1_READERS | {"system_reader",
                                                                    "subtree_admin"}),
    ("identity:get_project", P_CHILD,
     ADMINS | DOMAIN_D1_READERS | {"system_reader", "subtree_admin"}),
    ("identity:list_projects", {"target": {"domain_id": "d1"}},
     ADMINS | DOMAIN_D1_READERS | {"system_reader"}),
    ("identity:list_projects", {}, ADMINS | {"system_reader"}),
    ("identity:create_project", _project(None, "d1", "d1"),
     ADMINS | {"domain_manager", "domain_admin"}),
    ("identity:create_project", _project(None, "d1", "p-child"),
     ADMINS | {"domain_manager", "domain_admin", "subtree_admin"}),
    ("identity:create_project", _project(None, "d2", "d2"), ADMINS),
    ("identity:update_project", P_GRANDCHILD,
     ADMINS | {"domain_manager", "domain_admin", "subtree_admin"}),
    ("identity:update_project", P_OTHER, ADMINS),
    ("identity:delete_project", P_CHILD,
     ADMINS | {"domain_manager", "domain_admin", "subtree_admin"}),
    ("identity:delete_project", P_ROOT, ADMINS | {"domain_manager", "domain_admin"}),
    ("identity:delete_project", P1, ADMINS | {"domain_manager", "domain_admin"}),
    # role grants on projects
    ("identity:create_grant", _grant("p-child", "d1", "p-root", "member"),
     ADMINS | {"domain_manager", "domain_admin", "subtree_admin"}),
    ("identity:create_grant", _grant("p-grandchild", "d1", "p-child", "reader"),
     ADMINS | {"domain_manager", "domain_admin", "subtree_admin"}),
    # Keystone's own domain-admin branch: any global role within the admin's domain
    ("identity:create_grant", _grant("p-child", "d1", "p-root", "admin"),
     ADMINS | {"domain_admin"}),
    ("identity:create_grant", _grant("p-child", "d1", "p-root", "service"),
     ADMINS | {"domain_admin"}),
    ("identity:create_grant", _grant("p-root", "d1", "d1", "member"),
     ADMINS | {"domain_manager", "domain_admin"}),
    ("identity:create_grant", _grant("p-other", "d2", "d2", "member", "d2"), ADMINS),
    ("identity:create_grant", _grant("p1", "d1", "d1", "member", user_domain="d2"), ADMINS),
    ("identity:revoke_grant", _grant("p-grandchild", "d1", "p-child", "member"),
     ADMINS | {"domain_manager", "domain_admin", "subtree_admin"}),
    ("identity:revoke_grant", _grant("p-child", "d1", "p-root", "admin"),
     ADMINS | {"domain_admin"}),
    ("identity:check_grant", _grant("p-child", "d1", "p-root", "member"),
     ADMINS | DOMAIN_D1_READERS | {"system_reader", "subtree_admin"}),
    ("identity:check_grant", _grant("p-other", "d2", "d2", "member", "d2"),
     ADMINS | {"system_reader"}),
    ("identity:list_grants", _grant("p1", "d1", "d1", "member"),
     ADMINS | DOMAIN_D1_READERS | {"system_reader"}),
    ("identity:list_grants", _grant("p-child", "d1", "p-root", "member"),
     ADMINS | DOMAIN_D1_READERS | {"system_reader", "subtree_admin"}),
    # role assignments, users, groups, roles
    ("identity:list_role_assignments", {"target": {"domain_id": "d1"}},
     ADMINS | DOMAIN_D1_READERS | {"system_reader"}),
    ("identity:list_role_assignments", {"target": {"domain_id": "d2"}},
     ADMINS | {"system_reader"}),
    ("identity:list_role_assignments", {}, ADMINS | {"system_reader"}),
    ("identity:list_role_assignments_for_tree", {"target": {"domain_id": "d1"}},
     ADMINS | DOMAIN_D1_READERS | {"system_reader"}),
    ("identity:list_users", {"target": {"domain_id": "d1"}},
     ADMINS | DOMAIN_D1_READERS | {"system_reader"}),
    ("identity:get_user", {"target": {"user": {"id": "u-x", "domain_id": "d1"}}},
     ADMINS | DOMAIN_D1_READERS | {"system_reader"}),
    ("identity:get_user", {"target": {"user": {"id": "u-x", "domain_id": "d2"}}},
     ADMINS | {"system_reader"}),
    ("identity:create_user", {"target": {"user": {"domain_id": "d1"}}},
     ADMINS | {"domain_manager", "domain_admin"}),
    ("identity:create_user", {"target": {"user": {"domain_id": "d2"}}}, ADMINS),
    ("identity:delete_user", {"target": {"user": {"id": "u-x", "domain_id": "d1"}}},
     ADMINS | {"domain_manager", "domain_admin"}),
    ("identity:list_user_projects", {"target": {"user": {"id": "u-x", "domain_id": "d1"}}},
     ADMINS | DOMAIN_D1_READERS | {"system_reader"}),
    ("identity:create_group", {"target": {"group": {"domain_id": "d1"}}},
     ADMINS | {"domain_manager", "domain_admin"}),
    ("identity:get_group", {"target": {"group": {"id": "g1", "domain_id": "d1"}}},
     ADMINS | DOMAIN_D1_READERS | {"system_reader"}),
    ("identity:list_users_in_group", {"target": {"group": {"id": "g1", "domain_id": "d2"}}},
     ADMINS | {"system_reader"}),
    ("identity:add_user_to_group", _membership("d1", "d1"),
     ADMINS | {"domain_manager", "domain_admin"}),
    ("identity:add_user_to_group", _membership("d1", "d2"), ADMINS),
    ("identity:remove_user_from_group", _membership("d1", "d1"),
     ADMINS | {"domain_manager", "domain_admin"}),
    ("identity:check_user_in_group", _membership("d1", "d1"),
     ADMINS | DOMAIN_D1_READERS | {"system_reader"}),
    ("identity:list_groups_for_user", {"user_id": "u-x",
                                       "target": {"user": {"id": "u-x", "domain_id": "d1"}}},
     ADMINS | DOMAIN_D1_READERS | {"system_reader"}),
    ("identity:list_roles", {}, ADMINS | {"system_reader", "domain_manager", "domain_admin"}),
    ("identity:get_role", {"target": {"role": {"name": "member", "domain_id": None}}},
     ADMINS | {"system_reader", "domain_manager", "domain_admin"}),
    ("identity:get_role", {"target": {"role": {"name": "admin", "domain_id": None}}},
     ADMINS | {"system_reader"}),
    # tokens of another user; the auth API; passwords
    ("identity:validate_token", {"target": {"token": {"user_id": "someone"}}},
     ADMINS | {"system_reader"}),
    ("identity:check_token", {"target": {"token": {"user_id": "someone"}}},
     ADMINS | {"system_reader"}),
    ("identity:revoke_token", {"target": {"token": {"user_id": "someone"}}}, ADMINS),
    ("identity:get_auth_catalog", {}, EVERYONE),
    ("identity:get_auth_projects", {}, EVERYONE),
    ("identity:get_auth_domains", {}, EVERYONE),
    ("identity:get_auth_system", {}, EVERYONE),
    ("identity:list_projects_for_user", {}, EVERYONE),
    ("identity:change_password", {}, EVERYONE),
    # application credentials and access rules of the project member (u-pm)
    ("identity:get_application_credential", OWNED_BY_PM, ADMINS | {"system_reader", PM}),
    ("identity:list_application_credentials", OWNED_BY_PM, ADMINS | {"system_reader", PM}),
    ("identity:delete_application_credential", OWNED_BY_PM, ADMINS | {PM}),
    ("identity:create_application_credential", OWNED_BY_PM, frozenset({PM})),
    ("identity:get_access_rule", OWNED_BY_PM, frozenset({"system_admin", "system_reader", PM})),
    ("identity:list_access_rules", OWNED_BY_PM, frozenset({"system_admin", "system_reader", PM})),
    ("identity:delete_access_rule", OWNED_BY_PM, frozenset({"system_admin", PM})),
]


@pytest.fixture(scope="module")
def enforcer() -> Enforcer:
    return Enforcer(DEFAULTS, None)


@pytest.mark.parametrize(("action", "target", "allowed"), MATRIX,
                         ids=[f"{row[0].removeprefix('identity:')}-{i}"
                              for i, row in enumerate(MATRIX)])
def test_persona_matrix(enforcer: Enforcer, action: str, target: dict[str, object],
                        allowed: frozenset[str]) -> None:
    """For each representative action and target, exactly the listed personas are allowed,
    as Keystone's defaults (plus sevres's subtree admin) decide; all others are denied."""
    decided = {name for name, creds in PERSONAS.items()
               if enforcer.enforce(action, creds, target)}
    assert decided == set(allowed), (
        f"{action}: unexpectedly allowed {sorted(decided - allowed)}, "
        f"unexpectedly denied {sorted(allowed - decided)}")


@pytest.mark.parametrize("persona", sorted(PERSONAS))
def test_everyone_may_act_on_their_own_token_and_read_themself(
        enforcer: Enforcer, persona: str) -> None:
    """Any token's subject may validate, check and revoke it, read their own user and list
    their own projects (Keystone's token_subject and owner branches)."""
    creds = PERSONAS[persona]
    own_token = {"target": {"token": {"user_id": creds["user_id"]}}}
    own_user = {"target": {"user": {"id": creds["user_id"], "domain_id": "d1"}}}
    for action in ("identity:validate_token", "identity:check_token",
                   "identity:revoke_token"):
        assert enforcer.enforce(action, creds, own_token), action
    assert enforcer.enforce("identity:get_user", creds, own_user)
    assert enforcer.enforce("identity:list_user_projects", creds, own_user)
    assert enforcer.enforce("identity:list_groups_for_user", creds,
                            {"user_id": creds["user_id"]})


def test_service_role_validates_any_token_but_cannot_revoke(enforcer: Enforcer) -> None:
    """A service user (role service) validates anyone's token; revoking needs admin."""
    service = _creds("u-svc", ["service"], project="p-service", project_domain="d1")
    other = {"target": {"token": {"user_id": "someone"}}}
    assert enforcer.enforce("identity:validate_token", service, other)
    assert not enforcer.enforce("identity:check_token", service, other)
    assert not enforcer.enforce("identity:revoke_token", service, other)


def test_unscoped_token_reaches_only_the_open_apis(enforcer: Enforcer) -> None:
    """An unscoped token lists its projects and domains, changes its password, reads
    regions; it counts as project-scoped (oslo.policy) but holds no role."""
    unscoped = _creds("u-x", [])
    for action in ("identity:get_auth_projects", "identity:get_auth_domains",
                   "identity:list_projects_for_user", "identity:change_password",
                   "identity:get_region"):
        assert enforcer.enforce(action, unscoped, {}), action
    assert not enforcer.enforce("identity:create_project", unscoped, P1)
    assert not enforcer.enforce("identity:list_users", unscoped, {})


def test_project_reader_never_matches_a_project_without_domain(enforcer: Enforcer) -> None:
    """Keystone's 'not None:%(target.project.domain_id)s' guard: a project-scoped token
    (domain_id None) does not become a domain reader of a project whose domain_id is
    None."""
    reader = PERSONAS["project_reader"]
    assert not enforcer.enforce("identity:get_project", reader,
                                _project("p-x", None, "d1"))
    assert not enforcer.enforce("identity:update_project",
                                {**PERSONAS["project_member"], "roles": ["manager"]},
                                _project("p-x", None, "d1"))


def test_admin_on_any_project_is_a_cloud_admin_only_in_keystone(enforcer: Enforcer) -> None:
    """Keystone's admin_required ('role:admin or is_admin:1') makes admin on any project a
    cloud admin; sevres's requires the system scope or the admin project, so a subtree
    admin acting inside their subtree cannot touch other domains' projects."""
    inside_subtree = _creds("u-st", ALL_ROLES, project="p-child", project_domain="d1")
    keystone = Enforcer(KEYSTONE_DEFAULTS, None)
    assert keystone.enforce("identity:delete_project", inside_subtree, P_OTHER)
    assert keystone.enforce("identity:create_domain", inside_subtree, {})
    assert not enforcer.enforce("identity:delete_project", inside_subtree, P_OTHER)
    assert not enforcer.enforce("identity:create_domain", inside_subtree, {})
    on_admin_project = {**inside_subtree, "token": {"is_admin_project": True}}
    assert enforcer.enforce("identity:create_domain", on_admin_project, {})


def test_domain_scoped_admin_is_refused_system_apis_by_scope(enforcer: Enforcer) -> None:
    """create_domain's scope types are system and project: Keystone refuses a
    domain-scoped admin by scope (its rule alone would pass); sevres refuses by both, as
    its admin_required wants the system or the admin project."""
    domain_admin = PERSONAS["domain_admin"]
    assert not enforcer.enforce("identity:create_domain", domain_admin, {})
    assert Enforcer(KEYSTONE_DEFAULTS, None, enforce_scope=False).enforce(
        "identity:create_domain", domain_admin, {})
    assert not Enforcer(DEFAULTS, None, enforce_scope=False).enforce(
        "identity:create_domain", domain_admin, {})


def test_subtree_admin_cannot_grant_a_domain_specific_role(enforcer: Enforcer) -> None:
    """Inside their subtree, a subtree admin grants only global roles named by
    subtree_managed_target_role: a domain's own 'member' role is refused."""
    target = _grant("p-child", "d1", "p-root", "member")
    target["target"]["role"]["domain_id"] = "d1"  # type: ignore[index]
    assert not enforcer.enforce("identity:create_grant", PERSONAS["subtree_admin"], target)


def test_subtree_admin_without_the_callback_is_an_ordinary_member(enforcer: Enforcer) -> None:
    """The subtree branch needs creds['subtree_admin_of']: without it, nothing below
    p-root is theirs."""
    member = {k: v for k, v in PERSONAS["subtree_admin"].items() if k != "subtree_admin_of"}
    assert not enforcer.enforce("identity:delete_project", member, P_CHILD)
    assert not enforcer.enforce("identity:create_grant", member,
                                _grant("p-child", "d1", "p-root", "member"))


def test_authorize_raises_keystones_forbidden(enforcer: Enforcer) -> None:
    """authorize() passes silently when allowed and raises Forbidden with Keystone's
    message otherwise."""
    enforcer.authorize("identity:create_domain", PERSONAS["system_admin"], {})
    with pytest.raises(errors.Forbidden) as caught:
        enforcer.authorize("identity:create_domain", PERSONAS["project_member"], {})
    assert caught.value.message == (
        "You are not authorized to perform the requested action: identity:create_domain.")
    assert caught.value.code == 403


# -- the default rule set itself -------------------------------------------------------

REQUIRED = [
    f"identity:{verb}_{kind}"
    for verb in ("get", "create", "update", "delete")
    for kind in ("domain", "project", "user", "role", "group", "region", "service", "endpoint")
] + [
    "identity:list_domains", "identity:list_projects", "identity:list_users",
    "identity:list_roles", "identity:list_groups", "identity:list_regions",
    "identity:list_services", "identity:list_endpoints",
    "identity:list_user_projects", "identity:list_projects_for_user",
    "identity:check_grant", "identity:list_grants", "identity:create_grant",
    "identity:revoke_grant", "identity:list_system_grants_for_user",
    "identity:check_system_grant_for_user", "identity:create_system_grant_for_user",
    "identity:revoke_system_grant_for_user", "identity:list_system_grants_for_group",
    "identity:check_system_grant_for_group", "identity:create_system_grant_for_group",
    "identity:revoke_system_grant_for_group",
    "identity:list_role_assignments", "identity:list_role_assignments_for_tree",
    "identity:create_implied_role", "identity:get_implied_role",
    "identity:list_implied_roles", "identity:delete_implied_role",
    "identity:list_role_inference_rules", "identity:check_implied_role",
    "identity:add_user_to_group", "identity:remove_user_from_group",
    "identity:check_user_in_group", "identity:list_users_in_group",
    "identity:list_groups_for_user", "identity:change_password",
    "identity:validate_token", "identity:check_token", "identity:revoke_token",
    "identity:get_auth_catalog", "identity:get_auth_projects",
    "identity:get_auth_domains", "identity:get_auth_system",
    "identity:get_application_credential", "identity:list_application_credentials",
    "identity:create_application_credential", "identity:delete_application_credential",
    "identity:get_access_rule", "identity:list_access_rules", "identity:delete_access_rule",
]


def test_defaults_cover_every_api_sevres_serves() -> None:
    """Each action the service protects has a default rule, and names are unique."""
    names = [rule.name for rule in DEFAULTS]
    assert len(names) == len(set(names))
    assert sorted(set(REQUIRED) - set(names)) == []


def test_every_default_compiles_with_its_references() -> None:
    """Keystone's rules alone, and with sevres's additions, form valid rule sets."""
    assert len(RuleSet(dict(KEYSTONE_RULES))) == len(KEYSTONE_DEFAULTS)
    assert len(RuleSet({rule.name: rule.check_str for rule in DEFAULTS})) == len(DEFAULTS)


def test_sevres_only_appends_or_branches_to_keystone_rules() -> None:
    """Every extended rule is Keystone's string, untouched, followed by ' or <branch>';
    every other Keystone rule is unchanged but admin_required, which sevres replaces."""
    extended = {rule.name: rule for rule in DEFAULTS}
    for rule in KEYSTONE_DEFAULTS:
        ours = extended[rule.name]
        branch = SEVRES_EXTENSIONS.get(rule.name)
        expected = rule.check_str if branch is None else f"{rule.check_str} or {branch}"
        if rule.name in SEVRES_REPLACEMENTS:
            expected = SEVRES_REPLACEMENTS[rule.name]
        assert ours.check_str == expected
        assert ours.scope_types == rule.scope_types


def test_keystone_shared_rule_strings() -> None:
    """The base rules every other rule builds on, as Keystone ships them."""
    assert KEYSTONE_RULES["admin_required"] == "role:admin or is_admin:1"
    assert KEYSTONE_RULES["owner"] == "user_id:%(user_id)s"
    assert KEYSTONE_RULES["token_subject"] == "user_id:%(target.token.user_id)s"
    assert KEYSTONE_RULES["identity:get_endpoint"] == (
        "rule:admin_required or (role:reader and system_scope:all)")
    assert KEYSTONE_RULES["identity:create_project"] == (
        "(rule:admin_required) or (role:manager and domain_id:%(target.project.domain_id)s"
        " and not None:%(target.project.domain_id)s)")


# -- policy files ----------------------------------------------------------------------


def test_yaml_file_overrides_only_the_rules_it_names(tmp_path: Path) -> None:
    """A YAML policy file replaces the named rule; every other default stays."""
    path = tmp_path / "policy.yaml"
    path.write_text('"identity:list_regions": "role:admin"\n')
    enforcer = Enforcer(DEFAULTS, path)
    member = PERSONAS["project_member"]
    assert not enforcer.enforce("identity:list_regions", member, {})
    assert enforcer.enforce("identity:get_region", member, {})
    assert enforcer.overrides == {"identity:list_regions": "role:admin"}


def test_json_file_and_helper_rules(tmp_path: Path) -> None:
    """A .json file is read as JSON; it may define helper rules that others refer to, and
    overriding a shared rule changes every rule that refers to it."""
    path = tmp_path / "policy.json"
    path.write_text(json.dumps({
        "is_auditor": "role:auditor",
        "identity:list_services": "rule:is_auditor",
        "admin_required": "role:admin and system_scope:all",
    }))
    enforcer = Enforcer(DEFAULTS, path)
    auditor = _creds("u-au", ["auditor"], project="p1", project_domain="d1")
    assert enforcer.enforce("identity:list_services", auditor, {})
    assert not enforcer.enforce("identity:create_domain", PERSONAS["project_admin"], {})
    assert enforcer.enforce("identity:create_domain", PERSONAS["system_admin"], {})


def test_override_keeps_the_default_scope_types(tmp_path: Path) -> None:
    """Overriding a rule's string does not widen the scopes its default accepts."""
    path = tmp_path / "policy.yaml"
    path.write_text('"identity:create_domain": "@"\n')
    enforcer = Enforcer(DEFAULTS, path)
    assert enforcer.enforce("identity:create_domain", PERSONAS["project_member"], {})
    assert not enforcer.enforce("identity:create_domain", PERSONAS["domain_reader"], {})


def test_subtree_extension_can_be_disabled_by_name(tmp_path: Path) -> None:
    """'subtree_admin_required: !' turns sevres's extension off without touching
    Keystone's rules."""
    path = tmp_path / "policy.yaml"
    path.write_text('subtree_admin_required: "!"\n')
    enforcer = Enforcer(DEFAULTS, path)
    assert not enforcer.enforce("identity:delete_project", PERSONAS["subtree_admin"], P_CHILD)
    assert enforcer.enforce("identity:delete_project", PERSONAS["domain_manager"], P_CHILD)


def test_list_of_lists_form_is_accepted(tmp_path: Path) -> None:
    """oslo.policy's old form: the outer list ORs, the inner lists AND; [] allows."""
    path = tmp_path / "policy.json"
    path.write_text(json.dumps({
        "identity:list_services": [["role:reader", "system_scope:all"], ["role:auditor"]],
        "identity:list_endpoints": [],
    }))
    enforcer = Enforcer(DEFAULTS, path)
    assert enforcer.enforce("identity:list_services", _creds("a", ["auditor"]), {})
    assert enforcer.enforce("identity:list_services", PERSONAS["system_reader"], {})
    assert not enforcer.enforce("identity:list_services", PERSONAS["project_member"], {})
    assert enforcer.enforce("identity:list_endpoints", PERSONAS["project_member"], {})


def test_empty_file_changes_nothing(tmp_path: Path) -> None:
    """An empty policy file (or one with only comments) overrides nothing."""
    path = tmp_path / "policy.yaml"
    path.write_text("# nothing yet\n")
    assert Enforcer(DEFAULTS, path).overrides == {}


@pytest.mark.parametrize(("content", "suffix", "message"), [
    ('"identity:get_user": "role:admin or"\n', ".yaml",
     "policy rule 'identity:get_user': expected a check"),
    ('"identity:get_user": "role:admin and rule:nope"\n', ".yaml",
     "policy rule 'identity:get_user': refers to undefined rule 'nope'"),
    ('"identity:get_user": "http://pdp.example/check"\n', ".yaml",
     "policy rule 'identity:get_user': http: checks are not supported"),
    ('"identity:get_user": 3\n', ".yaml", "policy rule 'identity:get_user': a rule must be"),
    ('"identity:get_user": [1]\n', ".yaml", "policy rule 'identity:get_user': a list rule"),
    ('"a": "rule:b"\n"b": "rule:a"\n', ".yaml", "cycle: a -> b -> a"),
    ("- just\n- a list\n", ".yaml", "must map rule names to rule strings"),
    ('"identity:get_user": [unclosed\n', ".yaml", "is not valid YAML"),
    ('{"identity:get_user": }', ".json", "is not valid JSON"),
])
def test_bad_policy_files_are_refused_naming_the_rule(
        tmp_path: Path, content: str, suffix: str, message: str) -> None:
    """A malformed rule, an unknown reference, an unsupported check or a file of the wrong
    shape stops the load with a PolicyError that says which rule and why."""
    path = tmp_path / f"policy{suffix}"
    path.write_text(content)
    with pytest.raises(PolicyError, match=message.replace("(", r"\(")):
        Enforcer(DEFAULTS, path)


def test_missing_policy_file_is_an_error(tmp_path: Path) -> None:
    """A policy file that was named but cannot be read is an error, not 'no overrides'."""
    with pytest.raises(PolicyError, match="cannot read policy file"):
        load_policy_file(tmp_path / "absent.yaml")


def test_unknown_action_uses_default_rule_or_denies() -> None:
    """An action with no rule is refused, unless the policy defines a 'default' rule."""
    assert not Enforcer(DEFAULTS).enforce("identity:unheard_of", PERSONAS["system_admin"], {})
    with_default = Enforcer([*DEFAULTS, RuleDefault("default", "rule:admin_required")])
    assert with_default.enforce("identity:unheard_of", PERSONAS["system_admin"], {})
    assert not with_default.enforce("identity:unheard_of", PERSONAS["project_member"], {})


def test_plain_mapping_of_rules_needs_no_scope_types() -> None:
    """Enforcer also takes {name: rule string}; such rules carry no scope restriction."""
    enforcer = Enforcer({"identity:x": "role:reader"})
    assert enforcer.enforce("identity:x", PERSONAS["domain_reader"], {})
    assert not enforcer.enforce("identity:x", _creds("u", ["member"]), {})
