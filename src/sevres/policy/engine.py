"""The oslo.policy rule language: parsed once into a tree of small check objects,
then evaluated many times against a caller's credentials and a request's target.

Syntax (as oslo.policy documents it under "Policy Rule Expressions"):

* ``@`` always passes, ``!`` never passes, an empty (or blank) rule always passes;
* ``and``, ``or``, ``not`` (any case) and parentheses; precedence is
  ``not`` > ``and`` > ``or``, so ``a or b and not c`` reads ``a or (b and (not c))``;
* ``rule:NAME`` evaluates another rule of the same rule set;
* ``role:NAME`` passes when NAME (case-insensitive) is in ``creds["roles"]``;
  NAME may be a ``%(...)s`` substitution;
* ``subtree_admin:VALUE`` — sevres's one extension: passes when the callable
  ``creds["subtree_admin_of"]`` returns True for the project id VALUE (normally a
  ``%(target.project.parent_id)s`` substitution), i.e. when the caller holds ``admin``
  inherited to the subtree of that project or of one of its ancestors. The engine never
  looks anything up itself: it only calls what the caller put in the credentials;
* ``KEY:VALUE`` — a generic check. KEY is looked up in the credentials (``a.b.c`` walks
  nested mappings, and a flat ``"a.b"`` key is found too; a list on the way matches when
  any element does); VALUE is a literal (``'quoted'``, ``True``, ``20``, a bare word)
  or a template with ``%(path.in.target)s`` substitutions. Both sides compare as
  strings, as in oslo.policy (``True`` matches a credential ``True``, ``None`` matches
  a value ``None``);
* ``LITERAL:VALUE`` — when KEY is a Python literal (``'member'``, ``None``, ``True``, a
  number) it is compared, as a string, with VALUE instead of being looked up:
  ``'member':%(target.role.name)s``, ``None:%(target.role.domain_id)s``.

A missing credential or target key makes that one check fail — never an exception.
A malformed rule raises :class:`PolicyError` naming the rule and the position, at parse
time. ``http:``/``https:`` checks are refused: sevres never calls out to decide.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Final

__all__ = [
    "Check",
    "PolicyError",
    "RuleSet",
    "compile_rule",
]

Creds = Mapping[str, object]
Target = Mapping[str, object]

_MISSING: Final = object()
_MAX_DEPTH: Final = 64
_SUBTREE_CALLBACK: Final = "subtree_admin_of"
_INT = re.compile(r"-?\d+\Z")
_FLOAT = re.compile(r"-?(\d+\.\d*|\.\d+)([eE][-+]?\d+)?\Z")


class PolicyError(ValueError):
    """A rule that cannot be parsed, or a rule set that cannot be assembled."""

    def __init__(self, message: str, *, rule: str | None = None,
                 position: int | None = None, text: str | None = None) -> None:
        self.rule = rule
        self.position = position
        self.text = text
        where = f"policy rule {rule!r}" if rule is not None else "policy"
        detail = f"{where}: {message}"
        if position is not None:
            detail += f" at position {position}"
        if text is not None:
            detail += f" in {text!r}"
        super().__init__(detail)


# ---------------------------------------------------------------------------------------
# Values: dotted lookups and %(...)s templates
# ---------------------------------------------------------------------------------------


class _Path:
    """A dotted key, resolved longest-flat-key first: ``a.b.c`` finds ``{"a.b.c": v}``,
    ``{"a": {"b.c": v}}`` and ``{"a": {"b": {"c": v}}}`` alike."""

    __slots__ = ("joined", "key", "size")

    def __init__(self, key: str) -> None:
        self.key = key
        segments = key.split(".")
        self.size = len(segments)
        # joined[i] lists (end, "seg[i].….seg[end-1]") from the longest to the shortest.
        self.joined: tuple[tuple[tuple[int, str], ...], ...] = tuple(
            tuple((end, ".".join(segments[i:end])) for end in range(self.size, i, -1))
            for i in range(self.size)
        )

    def resolve(self, obj: object, start: int = 0) -> object:
        """The value at this path, or ``_MISSING``."""
        if start == self.size:
            return obj
        if not isinstance(obj, Mapping):
            return _MISSING
        for end, key in self.joined[start]:
            if key in obj:
                found = self.resolve(obj[key], end)
                if found is not _MISSING:
                    return found
        return _MISSING

    def matches(self, obj: object, match: str, start: int = 0) -> bool:
        """oslo.policy's credential test: the value's string equals ``match``; a list
        anywhere on the path matches when any of its elements does."""
        if isinstance(obj, list | tuple | set | frozenset):
            return any(self.matches(item, match, start) for item in obj)
        if start == self.size:
            return str(obj) == match
        if not isinstance(obj, Mapping):
            return False
        for end, key in self.joined[start]:
            if key in obj and self.matches(obj[key], match, end):
                return True
        return False


@dataclass(frozen=True, slots=True)
class _Template:
    """The right-hand side of a check: literal text with ``%(path)s`` substitutions."""

    parts: tuple[str | _Path, ...]
    source: str

    @property
    def constant(self) -> str | None:
        if all(isinstance(part, str) for part in self.parts):
            return "".join(part for part in self.parts if isinstance(part, str))
        return None

    def render(self, target: Target) -> str | None:
        """The text with every substitution made, or None when a target key is missing."""
        if len(self.parts) == 1:
            part = self.parts[0]
            if isinstance(part, str):
                return part
            value = part.resolve(target)
            return None if value is _MISSING else str(value)
        out: list[str] = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
                continue
            value = part.resolve(target)
            if value is _MISSING:
                return None
            out.append(str(value))
        return "".join(out)

    def raw(self, target: Target) -> object:
        """The substituted value itself (not its string) for a lone ``%(path)s``."""
        if len(self.parts) == 1 and isinstance(self.parts[0], _Path):
            return self.parts[0].resolve(target)
        return self.render(target)


# ---------------------------------------------------------------------------------------
# The check tree
# ---------------------------------------------------------------------------------------


class Check:
    """A compiled rule (or part of one): call it with credentials and a target."""

    __slots__ = ()

    def __call__(self, creds: Creds, target: Target) -> bool:  # pragma: no cover
        raise NotImplementedError

    def references(self) -> frozenset[str]:
        """The names of the rules this check refers to through ``rule:NAME``."""
        return frozenset()


class _Always(Check):
    __slots__ = ()

    def __call__(self, creds: Creds, target: Target) -> bool:
        return True

    def __repr__(self) -> str:
        return "@"


class _Never(Check):
    __slots__ = ()

    def __call__(self, creds: Creds, target: Target) -> bool:
        return False

    def __repr__(self) -> str:
        return "!"


ALWAYS: Final[Check] = _Always()
NEVER: Final[Check] = _Never()


class _Not(Check):
    __slots__ = ("child",)

    def __init__(self, child: Check) -> None:
        self.child = child

    def __call__(self, creds: Creds, target: Target) -> bool:
        return not self.child(creds, target)

    def references(self) -> frozenset[str]:
        return self.child.references()

    def __repr__(self) -> str:
        return f"not {self.child!r}"


class _And(Check):
    __slots__ = ("children",)

    def __init__(self, children: tuple[Check, ...]) -> None:
        self.children = children

    def __call__(self, creds: Creds, target: Target) -> bool:
        return all(child(creds, target) for child in self.children)

    def references(self) -> frozenset[str]:
        return frozenset().union(*(child.references() for child in self.children))

    def __repr__(self) -> str:
        return "(" + " and ".join(repr(child) for child in self.children) + ")"


class _Or(Check):
    __slots__ = ("children",)

    def __init__(self, children: tuple[Check, ...]) -> None:
        self.children = children

    def __call__(self, creds: Creds, target: Target) -> bool:
        return any(child(creds, target) for child in self.children)

    def references(self) -> frozenset[str]:
        return frozenset().union(*(child.references() for child in self.children))

    def __repr__(self) -> str:
        return "(" + " or ".join(repr(child) for child in self.children) + ")"


class _RuleRef(Check):
    """``rule:NAME``: looked up at call time in the rule set's table, so an override of
    NAME changes every rule that refers to it. An unknown name fails."""

    __slots__ = ("name", "table")

    def __init__(self, name: str, table: Mapping[str, Check]) -> None:
        self.name = name
        self.table = table

    def __call__(self, creds: Creds, target: Target) -> bool:
        rule = self.table.get(self.name)
        return rule is not None and rule(creds, target)

    def references(self) -> frozenset[str]:
        return frozenset((self.name,))

    def __repr__(self) -> str:
        return f"rule:{self.name}"


class _Role(Check):
    __slots__ = ("match",)

    def __init__(self, match: _Template) -> None:
        self.match = match

    def __call__(self, creds: Creds, target: Target) -> bool:
        wanted = self.match.render(target)
        roles = creds.get("roles")
        if wanted is None or not isinstance(roles, list | tuple | set | frozenset):
            return False
        wanted = wanted.lower()
        return any(isinstance(role, str) and role.lower() == wanted for role in roles)

    def __repr__(self) -> str:
        return f"role:{self.match.source}"


class _Generic(Check):
    """``KEY:VALUE``: the credential at KEY, as a string, equals VALUE."""

    __slots__ = ("key", "match")

    def __init__(self, key: _Path, match: _Template) -> None:
        self.key = key
        self.match = match

    def __call__(self, creds: Creds, target: Target) -> bool:
        wanted = self.match.render(target)
        return wanted is not None and self.key.matches(creds, wanted)

    def __repr__(self) -> str:
        return f"{self.key.key}:{self.match.source}"


class _Literal(Check):
    """``'member':%(target.role.name)s``, ``None:%(x)s``: a constant against VALUE."""

    __slots__ = ("literal", "match", "source")

    def __init__(self, literal: str, source: str, match: _Template) -> None:
        self.literal = literal
        self.source = source
        self.match = match

    def __call__(self, creds: Creds, target: Target) -> bool:
        return self.match.render(target) == self.literal

    def __repr__(self) -> str:
        return f"{self.source}:{self.match.source}"


class _SubtreeAdmin(Check):
    """``subtree_admin:%(target.project.parent_id)s``: asks ``creds["subtree_admin_of"]``
    (a ``Callable[[str], bool]``) about that project id. No callable, a missing or
    non-string id: the check fails."""

    __slots__ = ("match",)

    def __init__(self, match: _Template) -> None:
        self.match = match

    def __call__(self, creds: Creds, target: Target) -> bool:
        callback = creds.get(_SUBTREE_CALLBACK)
        if not callable(callback):
            return False
        project_id = self.match.raw(target)
        if not isinstance(project_id, str) or not project_id:
            return False
        return bool(callback(project_id))

    def __repr__(self) -> str:
        return f"subtree_admin:{self.match.source}"


# ---------------------------------------------------------------------------------------
# Tokenizer and parser
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "(", ")", "and", "or", "not", "check", "end"
    text: str
    pos: int


_KEYWORDS: Final = frozenset(("and", "or", "not"))


class _Parser:
    def __init__(self, text: str, name: str, table: Mapping[str, Check]) -> None:
        self.text = text
        self.name = name
        self.table = table
        self.tokens = self._tokenize()
        self.index = 0
        self.depth = 0

    def error(self, message: str, pos: int) -> PolicyError:
        return PolicyError(message, rule=self.name, position=pos, text=self.text)

    # -- tokens --------------------------------------------------------------------

    def _tokenize(self) -> list[_Token]:
        text, tokens, i, n = self.text, [], 0, len(self.text)
        while i < n:
            char = text[i]
            if char.isspace():
                i += 1
            elif char in "()":
                tokens.append(_Token(char, char, i))
                i += 1
            else:
                start = i
                i = self._scan_check(i)
                word = text[start:i]
                lowered = word.lower()
                kind = lowered if lowered in _KEYWORDS else "check"
                tokens.append(_Token(kind, word, start))
        tokens.append(_Token("end", "", n))
        return tokens

    def _scan_check(self, i: int) -> int:
        """The end of the check starting at ``i``: it runs to whitespace or a parenthesis,
        except inside quotes and ``%(...)s`` substitutions."""
        text, n = self.text, len(self.text)
        while i < n:
            char = text[i]
            if char.isspace() or char in "()":
                return i
            if char in "'\"":
                close = text.find(char, i + 1)
                if close < 0:
                    raise self.error("unterminated quoted string", i)
                i = close + 1
            elif char == "%" and text.startswith("%(", i):
                close = text.find(")", i + 2)
                if close < 0:
                    raise self.error("unterminated %(...)s substitution", i)
                i = close + 1
                if i < n and text[i] == "s":
                    i += 1
            else:
                i += 1
        return i

    # -- grammar: or_expr := and_expr ("or" and_expr)* ------------------------------

    def parse(self) -> Check:
        if self.tokens[0].kind == "end":
            return ALWAYS
        check = self._or()
        token = self.tokens[self.index]
        if token.kind != "end":
            raise self.error(f"unexpected {token.text!r}", token.pos)
        return check

    def _peek(self) -> _Token:
        return self.tokens[self.index]

    def _next(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def _or(self) -> Check:
        children = [self._and()]
        while self._peek().kind == "or":
            self._next()
            children.append(self._and())
        if len(children) == 1:
            return children[0]
        flat: list[Check] = []
        for child in children:
            flat.extend(child.children if isinstance(child, _Or) else (child,))
        return _Or(tuple(flat))

    def _and(self) -> Check:
        children = [self._not()]
        while self._peek().kind == "and":
            self._next()
            children.append(self._not())
        if len(children) == 1:
            return children[0]
        flat: list[Check] = []
        for child in children:
            flat.extend(child.children if isinstance(child, _And) else (child,))
        return _And(tuple(flat))

    def _not(self) -> Check:
        if self._peek().kind == "not":
            token = self._next()
            self._enter(token)
            try:
                return _Not(self._not())
            finally:
                self.depth -= 1
        return self._atom()

    def _enter(self, token: _Token) -> None:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise self.error(f"nested deeper than {_MAX_DEPTH} levels", token.pos)

    def _atom(self) -> Check:
        token = self._next()
        if token.kind == "(":
            self._enter(token)
            try:
                inner = self._or()
            finally:
                self.depth -= 1
            close = self._next()
            if close.kind != ")":
                what = "end of rule" if close.kind == "end" else repr(close.text)
                raise self.error(f"expected ')' to close the '(' at {token.pos}, "
                                 f"found {what}", close.pos)
            return inner
        if token.kind == "check":
            return self._check(token)
        what = "end of rule" if token.kind == "end" else repr(token.text)
        raise self.error(f"expected a check, 'not' or '(', found {what}", token.pos)

    # -- one check -----------------------------------------------------------------

    def _check(self, token: _Token) -> Check:
        text, pos = token.text, token.pos
        if text == "@":
            return ALWAYS
        if text == "!":
            return NEVER
        if text[0] in "'\"":
            close = text.find(text[0], 1)
            kind_text = text[: close + 1]
            if not text.startswith(":", close + 1):
                raise self.error("expected ':' after the quoted literal", pos + close + 1)
            match_text = text[close + 2:]
            match_pos = pos + close + 2
            literal: str | None = kind_text[1:-1]
        else:
            colon = text.find(":")
            if colon < 0:
                raise self.error(f"expected KIND:VALUE, '@' or '!', found {text!r}", pos)
            kind_text, match_text, match_pos = text[:colon], text[colon + 1:], pos + colon + 1
            literal = _literal(kind_text)
            if not kind_text:
                raise self.error("empty check kind before ':'", pos)
            if "%" in kind_text:
                raise self.error("substitutions belong on the right of ':'", pos)
        if not match_text:
            raise self.error(f"empty value after '{kind_text}:'", match_pos)
        match = self._template(match_text, match_pos)
        if literal is not None:
            return _Literal(literal, kind_text, match)
        if kind_text == "rule":
            name = match.constant
            if name is None:
                raise self.error("rule:NAME takes a plain name", match_pos)
            return _RuleRef(name, self.table)
        if kind_text == "role":
            return _Role(match)
        if kind_text == "subtree_admin":
            return _SubtreeAdmin(match)
        if kind_text in ("http", "https"):
            raise self.error(f"{kind_text}: checks are not supported", pos)
        return _Generic(_Path(kind_text), match)

    def _template(self, text: str, pos: int) -> _Template:
        if len(text) >= 2 and text[0] in "'\"" and text[-1] == text[0]:
            return _Template((text[1:-1],), text)
        parts: list[str | _Path] = []
        i, literal_start, n = 0, 0, len(text)
        while i < n:
            if text[i] in "'\"":
                raise self.error("a quoted value must be the whole value", pos + i)
            if text[i] != "%":
                i += 1
                continue
            if not text.startswith("%(", i):
                raise self.error("'%' must start a %(name)s substitution", pos + i)
            close = text.find(")", i + 2)
            if close + 1 >= n or text[close + 1] != "s":
                raise self.error("a substitution must read %(name)s", pos + i)
            key = text[i + 2: close]
            if not key or any(not segment for segment in key.split(".")):
                raise self.error(f"bad substitution key {key!r}", pos + i + 2)
            if literal_start < i:
                parts.append(text[literal_start:i])
            parts.append(_Path(key))
            i = literal_start = close + 2
        if literal_start < n:
            parts.append(text[literal_start:])
        return _Template(tuple(parts), text)


def _literal(kind: str) -> str | None:
    """The string form of a Python literal on the left of ':' (oslo.policy compares
    ``str(literal)``), or None when KIND is a credential key."""
    if kind in ("True", "False", "None"):
        return kind
    if _INT.match(kind):
        return str(int(kind))
    if _FLOAT.match(kind):
        return str(float(kind))
    return None


def compile_rule(text: str, name: str = "<rule>",
                 table: Mapping[str, Check] | None = None) -> Check:
    """Parse one rule string. ``rule:NAME`` references resolve in ``table`` when the rule
    is called (an empty table when none is given, so they fail)."""
    if not isinstance(text, str):
        raise PolicyError(f"a rule must be a string, not {type(text).__name__}", rule=name)
    return _Parser(text, name, {} if table is None else table).parse()


class RuleSet:
    """Named rules compiled together, so that ``rule:NAME`` finds its sibling.

    Building it checks every reference: a ``rule:NAME`` to a rule that is not in the
    set, or rules that refer to each other in a cycle, raise :class:`PolicyError`.
    """

    def __init__(self, rules: Mapping[str, str]) -> None:
        self._table: MutableMapping[str, Check] = {}
        self.sources: dict[str, str] = {}
        for name, text in rules.items():
            self._table[name] = compile_rule(text, name, self._table)
            self.sources[name] = text
        self._validate()

    def __contains__(self, name: object) -> bool:
        return name in self._table

    def __len__(self) -> int:
        return len(self._table)

    def names(self) -> frozenset[str]:
        return frozenset(self._table)

    def get(self, name: str) -> Check | None:
        return self._table.get(name)

    def check(self, name: str, creds: Creds, target: Target) -> bool:
        """Evaluate the rule ``name``; an unknown name denies."""
        rule = self._table.get(name)
        return rule is not None and rule(creds, target)

    def _validate(self) -> None:
        for name, rule in self._table.items():
            for ref in sorted(rule.references()):
                if ref not in self._table:
                    raise PolicyError(f"refers to undefined rule {ref!r}", rule=name,
                                      text=self.sources[name])
        done: set[str] = set()
        for name in sorted(self._table):
            self._visit(name, [], done)

    def _visit(self, name: str, path: list[str], done: set[str]) -> None:
        if name in done:
            return
        if name in path:
            cycle = " -> ".join([*path[path.index(name):], name])
            raise PolicyError(f"rules refer to each other in a cycle: {cycle}", rule=name)
        path.append(name)
        for ref in sorted(self._table[name].references()):
            self._visit(ref, path, done)
        path.pop()
        done.add(name)


SubtreeAdminOf = Callable[[str], bool]
"""The type of ``creds["subtree_admin_of"]``."""
