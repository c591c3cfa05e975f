"""The oslo.policy rule language: every syntax form, precedence, substitutions, missing
keys, and the errors a malformed rule or rule set raises at load time."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from sevres.policy.engine import Check, PolicyError, RuleSet, compile_rule

ADMIN = {"user_id": "u1", "roles": ["admin", "member", "reader"], "project_id": "p1",
         "domain_id": None, "system_scope": None}


def ok(rule: str, creds: Mapping[str, object] | None = None,
       target: Mapping[str, object] | None = None) -> bool:
    return compile_rule(rule, "t")(ADMIN if creds is None else creds, target or {})


# -- constants -------------------------------------------------------------------------


@pytest.mark.parametrize("rule", ["", "   ", "@", "(@)", "not !"])
def test_always_forms_pass_for_anyone(rule: str) -> None:
    """An empty or blank rule, '@', and their negation of '!' always allow."""
    assert ok(rule, {}, {})


@pytest.mark.parametrize("rule", ["!", "(!)", "not @", "@ and !"])
def test_never_forms_deny_everyone(rule: str) -> None:
    """'!' never allows, even an administrator."""
    assert not ok(rule)


# -- role checks -----------------------------------------------------------------------


def test_role_check_matches_a_role_of_the_token_case_insensitively() -> None:
    """role:NAME passes when NAME is among creds['roles'], ignoring case (as oslo.policy)."""
    assert ok("role:admin")
    assert ok("role:ADMIN")
    assert ok("role:Admin", {"roles": ["ADMIN"]})
    assert not ok("role:service")


def test_role_check_without_roles_fails_instead_of_raising() -> None:
    """No 'roles' in the credentials, or roles of the wrong type: the check fails."""
    assert not ok("role:admin", {})
    assert not ok("role:admin", {"roles": "admin"})
    assert not ok("role:admin", {"roles": None})


def test_role_check_accepts_a_substitution() -> None:
    """role:%(name)s reads the role name from the target; a missing key fails."""
    assert ok("role:%(wanted)s", target={"wanted": "member"})
    assert not ok("role:%(wanted)s", target={"wanted": "service"})
    assert not ok("role:%(wanted)s", target={})


# -- generic checks --------------------------------------------------------------------


def test_generic_check_compares_a_credential_with_a_target_value() -> None:
    """KEY:%(path)s compares creds[KEY] with the substituted target value."""
    assert ok("user_id:%(user_id)s", target={"user_id": "u1"})
    assert not ok("user_id:%(user_id)s", target={"user_id": "u2"})


def test_substitution_resolves_nested_and_flat_target_keys() -> None:
    """%(target.project.id)s finds the value nested, flat, or partly flattened."""
    rule = "project_id:%(target.project.id)s"
    assert ok(rule, target={"target": {"project": {"id": "p1"}}})
    assert ok(rule, target={"target.project.id": "p1"})
    assert ok(rule, target={"target.project": {"id": "p1"}})
    assert ok(rule, target={"target": {"project.id": "p1"}})
    assert not ok(rule, target={"target": {"project": {"id": "p2"}}})


def test_missing_keys_fail_the_check_and_never_raise() -> None:
    """A missing target key, a missing credential, or a non-mapping on the path: False."""
    assert not ok("project_id:%(target.project.id)s", target={})
    assert not ok("project_id:%(target.project.id)s", target={"target": {"project": "p1"}})
    assert not ok("project_id:%(target.project.id)s", {}, {"target.project.id": "p1"})
    assert not ok("token.is_admin_project:True", {"token": "opaque"})
    assert ok("not project_id:%(target.project.id)s", target={})


def test_dotted_credential_keys_walk_nested_or_flat_credentials() -> None:
    """token.is_admin_project:True reads creds['token']['is_admin_project'] or a flat key."""
    assert ok("token.is_admin_project:True", {"token": {"is_admin_project": True}})
    assert ok("token.is_admin_project:True", {"token.is_admin_project": True})
    assert not ok("token.is_admin_project:True", {"token": {"is_admin_project": False}})
    assert ok("token.project.domain.id:%(target.domain.id)s",
              {"token": {"project": {"domain": {"id": "d1"}}}},
              {"target": {"domain": {"id": "d1"}}})


def test_literal_values_compare_as_strings() -> None:
    """Literal values on the right: bare words, quoted strings, True/False, numbers."""
    assert ok("system_scope:all", {"system_scope": "all"})
    assert not ok("system_scope:all", {"system_scope": None})
    assert ok("project_id:'p1'")
    assert ok('project_id:"p1"')
    assert ok("is_admin:1", {"is_admin": 1})
    assert ok("enabled:False", {"enabled": False})
    assert not ok("enabled:True", {"enabled": False})


def test_quoted_value_may_hold_spaces_and_parentheses() -> None:
    """Quotes protect what the tokenizer would otherwise split on."""
    assert ok("name:'a b (c)'", {"name": "a b (c)"})
    assert ok("(name:'x)' or role:nobody)", {"name": "x)"})


def test_value_mixes_literal_text_and_substitutions() -> None:
    """A value may be a template such as prefix-%(a)s-%(b)s."""
    rule = "user_id:u-%(a)s-%(b)s"
    assert ok(rule, {"user_id": "u-1-2"}, {"a": "1", "b": 2})
    assert not ok(rule, {"user_id": "u-1-2"}, {"a": "1"})


def test_credential_lists_match_when_any_element_does() -> None:
    """A list credential (like oslo.policy's) matches when one of its elements matches."""
    assert ok("groups:g2", {"groups": ["g1", "g2"]})
    assert ok("groups.id:g2", {"groups": [{"id": "g1"}, {"id": "g2"}]})
    assert not ok("groups:g3", {"groups": ["g1", "g2"]})


def test_none_substitutes_as_the_string_none() -> None:
    """As oslo.policy: a None credential or target value reads 'None' — Keystone's
    'not domain_id:None' and 'None:%(target.role.domain_id)s' rely on it."""
    assert ok("not domain_id:None", {"domain_id": "d1"})
    assert not ok("not domain_id:None", {"domain_id": None})
    assert ok("domain_id:%(x)s", {"domain_id": None}, {"x": None})


# -- literal checks (constant on the left) ---------------------------------------------


def test_quoted_literal_on_the_left_compares_with_the_target() -> None:
    """'member':%(target.role.name)s passes when the target role is named member."""
    rule = "'member':%(target.role.name)s"
    assert ok(rule, {}, {"target": {"role": {"name": "member"}}})
    assert not ok(rule, {}, {"target": {"role": {"name": "admin"}}})
    assert not ok(rule, {}, {})


def test_python_literals_on_the_left() -> None:
    """None, True and numbers on the left are constants, not credential keys."""
    assert ok("None:%(target.role.domain_id)s", {}, {"target.role.domain_id": None})
    assert not ok("None:%(target.role.domain_id)s", {}, {"target.role.domain_id": "d1"})
    assert ok("True:%(enabled)s", {}, {"enabled": True})
    assert ok("20:%(n)s", {}, {"n": 20})
    assert ok("1.5:%(n)s", {}, {"n": 1.5})


# -- operators and precedence ----------------------------------------------------------


def test_and_or_not_combine_checks() -> None:
    """and needs both, or needs one, not inverts."""
    assert ok("role:admin and role:member")
    assert not ok("role:admin and role:service")
    assert ok("role:service or role:reader")
    assert not ok("role:service or role:nobody")
    assert ok("not role:service")


def test_keywords_are_case_insensitive() -> None:
    """AND, Or, NOT work as their lower-case forms."""
    assert ok("role:service OR role:admin AND NOT role:nobody")


def test_and_binds_tighter_than_or() -> None:
    """'a or b and c' is 'a or (b and c)', not '(a or b) and c'."""
    assert ok("role:admin or role:service and role:nobody")
    assert not ok("(role:admin or role:service) and role:nobody")


def test_not_binds_tighter_than_and() -> None:
    """'not a and b' is '(not a) and b'."""
    assert ok("not role:service and role:admin")
    assert not ok("not (role:admin and role:member)")
    assert not ok("not role:admin and role:member")


def test_not_can_repeat() -> None:
    """'not not a' is 'a'."""
    assert ok("not not role:admin")


def test_parentheses_nest_and_hug_checks() -> None:
    """Parentheses override precedence, nest, and need no surrounding spaces."""
    assert ok("((role:admin))")
    assert ok("(role:service or (role:admin and (role:member)))")
    assert ok("role:admin and(role:reader)")


def test_substitution_parentheses_do_not_confuse_the_tokenizer() -> None:
    """The parentheses of %(…)s belong to the check, even inside grouping parentheses."""
    assert ok("(user_id:%(user_id)s)", target={"user_id": "u1"})


# -- rule references -------------------------------------------------------------------


def test_rule_references_resolve_in_the_rule_set() -> None:
    """rule:NAME evaluates the named rule of the same set."""
    rules = RuleSet({"admin_required": "role:admin", "a": "rule:admin_required"})
    assert rules.check("a", ADMIN, {})
    assert not rules.check("a", {"roles": ["reader"]}, {})


def test_unknown_rule_name_denies() -> None:
    """Asking for a rule the set lacks denies; a lone compiled rule:x also denies."""
    assert not RuleSet({}).check("identity:anything", ADMIN, {})
    assert not compile_rule("rule:elsewhere")(ADMIN, {})


def test_references_to_undefined_rules_are_refused_at_load() -> None:
    """A typo in a rule name is an error naming the rule, not a silent deny."""
    with pytest.raises(PolicyError, match=r"policy rule 'a': refers to undefined rule 'amdin'"):
        RuleSet({"a": "rule:amdin or role:x"})


def test_cycles_are_refused_at_load() -> None:
    """Rules that refer to each other in a loop cannot be evaluated: refused."""
    with pytest.raises(PolicyError, match="cycle: a -> b -> a"):
        RuleSet({"a": "rule:b", "b": "role:x or rule:a"})
    with pytest.raises(PolicyError, match="cycle"):
        RuleSet({"self": "rule:self"})


def test_ruleset_lists_its_names_and_sources() -> None:
    """The set knows its rule names and the text each was compiled from."""
    rules = RuleSet({"a": "@", "b": "rule:a"})
    assert rules.names() == {"a", "b"}
    assert len(rules) == 2
    assert "a" in rules
    assert rules.sources["b"] == "rule:a"
    assert isinstance(rules.get("a"), Check)


# -- sevres's subtree_admin ------------------------------------------------------------


def test_subtree_admin_asks_the_callback_in_the_credentials() -> None:
    """subtree_admin:%(…)s calls creds['subtree_admin_of'] with the project id."""
    asked: list[str] = []

    def subtree_admin_of(project_id: str) -> bool:
        asked.append(project_id)
        return project_id == "p-root"

    creds = {"subtree_admin_of": subtree_admin_of}
    rule = "subtree_admin:%(target.project.parent_id)s"
    assert ok(rule, creds, {"target": {"project": {"parent_id": "p-root"}}})
    assert not ok(rule, creds, {"target": {"project": {"parent_id": "p-other"}}})
    assert asked == ["p-root", "p-other"]


def test_subtree_admin_fails_without_callback_or_project() -> None:
    """No callable, a missing, None or empty project id: fails without calling."""
    def explode(_project_id: str) -> bool:
        raise AssertionError("must not be called")

    rule = "subtree_admin:%(target.project.parent_id)s"
    assert not ok(rule, {}, {"target.project.parent_id": "p"})
    assert not ok(rule, {"subtree_admin_of": "yes"}, {"target.project.parent_id": "p"})
    for target in ({}, {"target.project.parent_id": None}, {"target.project.parent_id": ""}):
        assert not ok(rule, {"subtree_admin_of": explode}, target)


# -- malformed rules -------------------------------------------------------------------


@pytest.mark.parametrize(("rule", "message", "position"), [
    ("role:admin and", "expected a check, 'not' or '(', found end of rule", 14),
    ("and role:admin", "expected a check, 'not' or '(', found 'and'", 0),
    ("role:a or or role:b", "found 'or'", 10),
    ("(role:admin", "expected ')' to close the '(' at 0, found end of rule", 11),
    ("role:admin)", "unexpected ')'", 10),
    ("role:a role:b", "unexpected 'role:b'", 7),
    ("()", "found ')'", 1),
    ("admin", "expected KIND:VALUE, '@' or '!', found 'admin'", 0),
    (":admin", "empty check kind", 0),
    ("role:", "empty value after 'role:'", 5),
    ("project_id:'p1", "unterminated quoted string", 11),
    ("project_id:%(target.id", "unterminated %(...)s substitution", 11),
    ("project_id:%(target.id)d", "must read %(name)s", 11),
    ("project_id:50%", "'%' must start a %(name)s substitution", 13),
    ("project_id:%()s", "bad substitution key ''", 13),
    ("project_id:%(a..b)s", "bad substitution key 'a..b'", 13),
    ("%(x)s:p1", "substitutions belong on the right", 0),
    ("'member'%(x)s", "expected ':' after the quoted literal", 8),
    ("rule:%(x)s", "rule:NAME takes a plain name", 5),
    ("http://example.com/check", "http: checks are not supported", 0),
    ("name:a'b'", "a quoted value must be the whole value", 6),
])
def test_malformed_rules_name_the_rule_and_the_position(
        rule: str, message: str, position: int) -> None:
    """Each malformed rule raises PolicyError naming the rule, what is wrong, and where."""
    with pytest.raises(PolicyError) as caught:
        compile_rule(rule, "identity:example")
    error = caught.value
    assert message in str(error)
    assert error.rule == "identity:example"
    assert error.position == position
    assert str(error).startswith("policy rule 'identity:example': ")
    assert f"at position {position}" in str(error)


def test_deep_nesting_is_refused_not_a_crash() -> None:
    """Pathological nesting is a PolicyError, not a RecursionError."""
    with pytest.raises(PolicyError, match="nested deeper"):
        compile_rule("(" * 500 + "@" + ")" * 500, "deep")
    with pytest.raises(PolicyError, match="nested deeper"):
        compile_rule("not " * 500 + "@", "deep")


def test_non_string_rule_is_refused() -> None:
    """A rule given as something other than a string is refused with the rule name."""
    with pytest.raises(PolicyError, match="policy rule 'x': a rule must be a string"):
        compile_rule(42, "x")  # type: ignore[arg-type]


# -- speed -----------------------------------------------------------------------------


def test_compiled_rule_is_reusable_and_fast() -> None:
    """Parsed once, a Keystone-sized rule evaluates thousands of times in well under a
    second (a generous bound: it is about microseconds per call)."""
    import time

    rule = compile_rule(
        "(role:admin and system_scope:all) or (role:reader and "
        "domain_id:%(target.project.domain_id)s and not None:%(target.project.domain_id)s)"
        " or project_id:%(target.project.id)s", "bench")
    creds = {"roles": ["reader"], "domain_id": None, "project_id": "p9", "system_scope": None}
    target = {"target": {"project": {"id": "p9", "domain_id": "d1"}}}
    start = time.perf_counter()
    for _ in range(10_000):
        assert rule(creds, target)
    assert time.perf_counter() - start < 1.0
