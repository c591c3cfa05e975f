"""Project tags as Keystone keeps them (the API working group's tags guideline).

A tag is a string of 1 to 255 characters holding neither ``/`` nor ``,``, compared
case-sensitively; surrounding blanks are stripped (Keystone strips them too, but keeps
the empty tag a blank string leaves; sevres refuses it). A project holds at most
:data:`MAX_TAGS` distinct tags.

The list filters of ``GET /v3/projects`` take comma-separated tags:

* ``tags``: projects holding every one of them;
* ``tags-any``: projects holding at least one;
* ``not-tags``: projects not holding every one of them;
* ``not-tags-any``: projects holding none of them.

Given together, a project must pass each (Keystone's SQL combines ``not-tags`` with
``not-tags-any`` into a union instead; sevres applies the documented meaning).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sevres import errors

MAX_TAGS = 80
MAX_LENGTH = 255
FILTERS = ("tags", "tags-any", "not-tags", "not-tags-any")


def checked(tag: str) -> str:
    """The tag stripped of surrounding blanks; 400 when it is not a valid tag."""
    name = tag.strip()
    if not name:
        raise _invalid(f"{tag!r:.80} is empty once blanks are removed.")
    if len(name) > MAX_LENGTH:
        raise _invalid(f"{name!r:.80}... is too long (at most {MAX_LENGTH} characters).")
    if "/" in name or "," in name:
        raise _invalid(f"{name!r:.300} does not match '^[^,/]*$'.")
    return name


def _invalid(problem: str) -> errors.ValidationError:
    return errors.ValidationError(f"Invalid input for field 'tags': {problem}")


def checked_set(tags: Iterable[str]) -> tuple[str, ...]:
    """A whole set of tags, each checked, sorted (Keystone lists them sorted); 400 for a
    repeated tag (after stripping) or more than :data:`MAX_TAGS`."""
    found = [checked(t) for t in tags]
    if len(set(found)) != len(found):
        repeated = sorted({t for t in found if found.count(t) > 1})
        raise _invalid(f"{repeated!r:.300} repeated; tags are unique.")
    if len(found) > MAX_TAGS:
        raise _invalid(f"{len(found)} tags, more than the {MAX_TAGS} a project may hold.")
    return tuple(sorted(found))


def wanted(query: Mapping[str, str]) -> dict[str, frozenset[str]]:
    """The tag filters of a list query, each as its set of tags."""
    return {name: frozenset(query[name].split(",")) for name in FILTERS if name in query}


def matches(tags: Iterable[str], filters: Mapping[str, frozenset[str]]) -> bool:
    """Whether a project holding ``tags`` passes every filter of :func:`wanted`."""
    held = frozenset(tags)
    return all(_passes(name, named, held) for name, named in filters.items())


def _passes(name: str, named: frozenset[str], held: frozenset[str]) -> bool:
    if name == "tags":
        return named <= held
    if name == "tags-any":
        return bool(named & held)
    if name == "not-tags":
        return not named <= held
    return not named & held  # not-tags-any
